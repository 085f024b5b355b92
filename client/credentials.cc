#include "client/credentials.h"

#include <string>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "common/tls.h"

namespace pieces::client {

absl::StatusOr<std::shared_ptr<grpc::ChannelCredentials>> MakeClientCredentials(
    const TlsFiles& files) {
  if (files.cert.empty() != files.key.empty()) {
    return absl::InvalidArgumentError(
        files.cert.empty() ? "--tls_key needs --tls_cert, the client "
                             "certificate that goes with the key"
                           : "--tls_cert needs --tls_key, the private key of "
                             "the client certificate");
  }
  if (files.ca.empty()) {
    if (!files.cert.empty()) {
      return absl::InvalidArgumentError(
          "--tls_cert and --tls_key need --tls_ca, the CA that signed "
          "main_service's certificate");
    }
    return grpc::InsecureChannelCredentials();
  }
  grpc::SslCredentialsOptions options;
  absl::StatusOr<std::string> ca = ReadPemFile("--tls_ca", files.ca);
  if (!ca.ok()) return ca.status();
  options.pem_root_certs = *std::move(ca);
  if (!files.cert.empty()) {
    absl::StatusOr<std::string> cert = ReadPemFile("--tls_cert", files.cert);
    if (!cert.ok()) return cert.status();
    options.pem_cert_chain = *std::move(cert);
    absl::StatusOr<std::string> key = ReadPemFile("--tls_key", files.key);
    if (!key.ok()) return key.status();
    options.pem_private_key = *std::move(key);
  }
  return grpc::SslCredentials(options);
}

}  // namespace pieces::client
