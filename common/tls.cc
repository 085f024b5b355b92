#include "common/tls.h"

#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>

#include "absl/status/status.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"

namespace pieces {
namespace {

// OK when the combination of files is one of the table in tls.h.
absl::Status CheckCombination(const TlsFiles& files) {
  if (files.cert.empty() != files.key.empty()) {
    return absl::InvalidArgumentError(
        files.cert.empty() ? "--tls_key needs --tls_cert, the certificate "
                             "chain that goes with the key"
                           : "--tls_cert needs --tls_key, the private key of "
                             "the certificate");
  }
  if (!files.ca.empty() && files.cert.empty()) {
    return absl::InvalidArgumentError(
        "--tls_ca (verify peers' certificates) needs --tls_cert and "
        "--tls_key too: mutual TLS runs only over TLS");
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<std::string> ReadPemFile(const char* flag,
                                        const std::string& path) {
  std::ifstream file(path, std::ios::binary);
  if (!file) {
    return absl::InvalidArgumentError(
        absl::StrCat(flag, ": cannot read ", path, ": ", std::strerror(errno)));
  }
  std::ostringstream contents;
  contents << file.rdbuf();
  if (file.bad()) {
    return absl::InvalidArgumentError(
        absl::StrCat(flag, ": error while reading ", path));
  }
  std::string pem = contents.str();
  if (!absl::StrContains(pem, "-----BEGIN ")) {
    return absl::InvalidArgumentError(
        absl::StrCat(flag, ": ", path, " holds no PEM block (-----BEGIN ...)"));
  }
  return pem;
}

std::string DescribeServerSecurity(const TlsFiles& files) {
  if (files.cert.empty()) return "plaintext";
  return files.ca.empty() ? "TLS" : "mutual TLS";
}

absl::StatusOr<std::shared_ptr<grpc::ServerCredentials>> MakeServerCredentials(
    const TlsFiles& files) {
  if (absl::Status status = CheckCombination(files); !status.ok()) {
    return status;
  }
  if (files.cert.empty()) return grpc::InsecureServerCredentials();

  absl::StatusOr<std::string> cert = ReadPemFile("--tls_cert", files.cert);
  if (!cert.ok()) return cert.status();
  absl::StatusOr<std::string> key = ReadPemFile("--tls_key", files.key);
  if (!key.ok()) return key.status();
  grpc::SslServerCredentialsOptions options;
  options.pem_key_cert_pairs.push_back({*std::move(key), *std::move(cert)});
  if (!files.ca.empty()) {
    absl::StatusOr<std::string> ca = ReadPemFile("--tls_ca", files.ca);
    if (!ca.ok()) return ca.status();
    options.pem_root_certs = *std::move(ca);
    options.client_certificate_request =
        GRPC_SSL_REQUEST_AND_REQUIRE_CLIENT_CERTIFICATE_AND_VERIFY;
  }
  return grpc::SslServerCredentials(options);
}

absl::StatusOr<std::shared_ptr<grpc::ChannelCredentials>>
MakeChannelCredentials(const TlsFiles& files) {
  if (absl::Status status = CheckCombination(files); !status.ok()) {
    return status;
  }
  if (files.ca.empty()) return grpc::InsecureChannelCredentials();

  grpc::SslCredentialsOptions options;
  // Never empty here: an empty pem_root_certs would make gRPC trust the
  // system's public roots instead of our CA.
  absl::StatusOr<std::string> ca = ReadPemFile("--tls_ca", files.ca);
  if (!ca.ok()) return ca.status();
  options.pem_root_certs = *std::move(ca);
  absl::StatusOr<std::string> cert = ReadPemFile("--tls_cert", files.cert);
  if (!cert.ok()) return cert.status();
  options.pem_cert_chain = *std::move(cert);
  absl::StatusOr<std::string> key = ReadPemFile("--tls_key", files.key);
  if (!key.ok()) return key.status();
  options.pem_private_key = *std::move(key);
  return grpc::SslCredentials(options);
}

}  // namespace pieces
