// The TLS flags of both services, --tls_cert, --tls_key and --tls_ca, and
// their reading into TlsFiles (common/tls.h).
//
// PIECES_DEFINE_TLS_FLAGS(cert_help, ca_help) defines the three flags, with
// the program's own help for --tls_cert and --tls_ca (what its certificate and
// its CA serve for differs between the services), and a function
// `pieces::TlsFiles TlsFilesFromFlags()` that reads them. Expand it once, at
// namespace scope in the program's main.cc: flags are listed (--helpfull)
// under the file that defines them, which should be the program's own.
//
//   PIECES_DEFINE_TLS_FLAGS("PEM certificate chain of this server; ...",
//                           "PEM CA bundle: ...");
//
//   int main(int argc, char** argv) {
//     absl::ParseCommandLine(argc, argv);
//     absl::StatusOr<pieces::TlsCredentials> credentials =
//         pieces::MakeTlsCredentials(TlsFilesFromFlags(), /*with_channel=*/false);
//
// A macro because absl flags take their help as a constant, and record the
// file they are defined in.
#ifndef PIECES_COMMON_TLS_FLAGS_H_
#define PIECES_COMMON_TLS_FLAGS_H_

#include <string>

#include "absl/flags/flag.h"
#include "common/tls.h"

#define PIECES_DEFINE_TLS_FLAGS(cert_help, ca_help)                   \
  ABSL_FLAG(std::string, tls_cert, "", cert_help);                    \
  ABSL_FLAG(std::string, tls_key, "", "PEM private key of --tls_cert"); \
  ABSL_FLAG(std::string, tls_ca, "", ca_help);                        \
  static ::pieces::TlsFiles TlsFilesFromFlags() {                     \
    return {absl::GetFlag(FLAGS_tls_cert), absl::GetFlag(FLAGS_tls_key), \
            absl::GetFlag(FLAGS_tls_ca)};                             \
  }                                                                   \
  static_assert(true, "PIECES_DEFINE_TLS_FLAGS ends with a semicolon")

#endif  // PIECES_COMMON_TLS_FLAGS_H_
