// Checks a command line's flags before absl::ParseCommandLine sees them.
//
// ParseCommandLine exits with code 1 on an unknown flag or a bad value, and
// 1 means "some results failed" to the pieces client's callers; so main.cc
// calls CheckFlags first and exits 2 (bad usage) on its error. Each
// "--name=value", "--name value" (for flags other than bool) or "--[no]name"
// (bool) is looked up among the program's flags and its value parsed the
// way ParseCommandLine will parse it; arguments after "--" are positional.
// absl's own flags (--help, --helpfull, --version, --flagfile, ...) are left
// to ParseCommandLine.
//
// Call from the main thread before ParseCommandLine (it sets the flags it
// checks; ParseCommandLine then sets them again to the same values).
#ifndef PIECES_CLIENT_FLAG_CHECK_H_
#define PIECES_CLIENT_FLAG_CHECK_H_

#include <string>
#include <vector>

#include "absl/status/status.h"

namespace pieces::client {

// `args` is the command line without argv[0]. INVALID_ARGUMENT naming the
// flag when one is unknown, lacks its value, or has a value it cannot take.
absl::Status CheckFlags(const std::vector<std::string>& args);

}  // namespace pieces::client

#endif  // PIECES_CLIENT_FLAG_CHECK_H_
