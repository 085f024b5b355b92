// Optional TLS for both services: turns the --tls_cert, --tls_key and --tls_ca
// flags into gRPC credentials, or into an error a user can act on.
//
//   files   | server                          | channel (main → work)
//   --------+---------------------------------+-------------------------------
//   none    | plaintext                       | plaintext
//   cert+key| TLS                             | plaintext
//   all 3   | TLS, requires a client          | TLS, verifies the server
//           | certificate signed by the CA    | against the CA and presents
//           | (mutual TLS)                    | cert+key as client certificate
//
// Anything else (a cert without its key, a CA without cert and key, a file
// that cannot be read or holds no PEM block) is INVALID_ARGUMENT, so that a
// program stops at start instead of serving with less protection than asked.
//
//   absl::StatusOr<std::shared_ptr<grpc::ServerCredentials>> credentials =
//       pieces::MakeServerCredentials(files);
//   if (!credentials.ok()) { print credentials.status(); return 2; }
//
// Certificates are read once, at start; replacing the files needs a restart.
// The functions keep no state and may be called from any thread.
#ifndef PIECES_COMMON_TLS_H_
#define PIECES_COMMON_TLS_H_

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "grpcpp/grpcpp.h"

namespace pieces {

// Paths of PEM files, as given on the command line; empty means not given.
struct TlsFiles {
  // This program's certificate chain: its server certificate, and the client
  // certificate main_service presents to work_service.
  std::string cert;
  // The private key of `cert`.
  std::string key;
  // The CA bundle that peers' certificates must chain to: clients' (the
  // server then requires one) and, for main_service, work_service's.
  std::string ca;
};

// The contents of the PEM file at `path`, given by the flag `flag` (named in
// the errors). Checks only that it holds a PEM block: gRPC itself parses it,
// and its errors come late (when the server starts, or at each handshake) and
// name no file.
absl::StatusOr<std::string> ReadPemFile(const char* flag,
                                        const std::string& path);

// "plaintext", "TLS" or "mutual TLS": what MakeServerCredentials builds for
// `files`, for log lines. Assumes `files` is a valid combination.
std::string DescribeServerSecurity(const TlsFiles& files);

// The credentials a server listens with (see the table above).
absl::StatusOr<std::shared_ptr<grpc::ServerCredentials>> MakeServerCredentials(
    const TlsFiles& files);

// The credentials of a channel to another service of this project: TLS
// against files.ca with files.cert/files.key as client certificate when
// files.ca is given, otherwise plaintext. The server's certificate must name
// the host of the channel's target (e.g. DNS:localhost for
// "localhost:50052").
absl::StatusOr<std::shared_ptr<grpc::ChannelCredentials>>
MakeChannelCredentials(const TlsFiles& files);

}  // namespace pieces

#endif  // PIECES_COMMON_TLS_H_
