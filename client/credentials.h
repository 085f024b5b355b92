// The credentials of the pieces client's channel to main_service, from its
// --tls_ca, --tls_cert and --tls_key flags.
//
//   files          | channel
//   ---------------+-----------------------------------------------------
//   none           | plaintext
//   ca             | TLS: main_service's certificate must chain to the CA
//                  | and name the host of --address
//   ca + cert+key  | mutual TLS: as above, and the client shows cert+key
//                  | (for a main_service started with --tls_ca)
//
// Anything else (cert+key without a CA, a cert without its key, a file that
// cannot be read or holds no PEM block) is INVALID_ARGUMENT naming the flag:
// the client never falls back to less protection than asked for, nor to the
// system's public roots. Keeps no state; any thread.
#ifndef PIECES_CLIENT_CREDENTIALS_H_
#define PIECES_CLIENT_CREDENTIALS_H_

#include <memory>

#include "absl/status/statusor.h"
#include "common/tls.h"
#include "grpcpp/grpcpp.h"

namespace pieces::client {

absl::StatusOr<std::shared_ptr<grpc::ChannelCredentials>> MakeClientCredentials(
    const TlsFiles& files);

}  // namespace pieces::client

#endif  // PIECES_CLIENT_CREDENTIALS_H_
