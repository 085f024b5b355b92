// The command-line flags both services share, defined once: --port,
// --grace_period, --max_message_bytes, --tls_cert, --tls_key, --tls_ca,
// --reflection, --keepalive_time, --keepalive_timeout, and turned into the
// ServerOptions and TlsFiles that RunServer (common/server_runner.h) and
// common/tls.h take.
//
// Each program has its own default port (main_service 50051, work_service
// 50052), so --port holds no number by default: the program passes its own
// to ServerFlags(), which uses it unless --port was given.
//
//   int main(int argc, char** argv) {
//     absl::ParseCommandLine(argc, argv);
//     absl::StatusOr<pieces::ServerFlags> flags =
//         pieces::ReadServerFlags("my_service", 50053);
//     if (!flags.ok()) { print flags.status(); return 2; }
//     ... MakeServerCredentials(flags->tls) ...
//     flags->server.credentials = ...;
//     return pieces::RunServer(flags->server, {&service}).ok() ? 0 : 1;
//   }
//
// A separate library (pieces::server_flags) from pieces::common, so that only
// the programs that link it define these flags (the pieces client defines
// its own --tls_* flags).
//
// Thread safety: call ReadServerFlags after absl::ParseCommandLine; it only
// reads the flags.
#ifndef PIECES_COMMON_SERVER_FLAGS_H_
#define PIECES_COMMON_SERVER_FLAGS_H_

#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "common/server_runner.h"
#include "common/tls.h"

namespace pieces {

// What the shared flags say.
struct ServerFlags {
  // Every field but credentials and on_stop, which the program fills.
  ServerOptions server;
  // --tls_cert, --tls_key, --tls_ca, for MakeServerCredentials (and, in
  // main_service, MakeChannelCredentials towards work_service).
  TlsFiles tls;
};

// Reads the shared flags; `name` is the program's (for log lines) and
// `default_port` its port when --port is not given. INVALID_ARGUMENT, naming
// the flag, for a value no server can use (a keepalive time of 0).
absl::StatusOr<ServerFlags> ReadServerFlags(const std::string& name,
                                            int default_port);

// Has --help list the program's own flags (those of `main_file`, a path
// suffix such as "work_service/main.cc") and the shared ones above. absl's
// default lists only flags of a file named after the program, which neither
// service has. Call it before absl::ParseCommandLine.
void ListServerFlagsInHelp(absl::string_view main_file);

}  // namespace pieces

#endif  // PIECES_COMMON_SERVER_FLAGS_H_
