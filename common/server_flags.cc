#include "common/server_flags.h"

#include <cstdint>
#include <optional>
#include <string>

#include "absl/flags/flag.h"
#include "absl/flags/usage_config.h"
#include "absl/status/status.h"
#include "absl/strings/match.h"
#include "absl/time/time.h"

ABSL_FLAG(std::optional<int32_t>, port, std::nullopt,
          "TCP port to listen on, on all interfaces; 0 picks a free one. "
          "Default: 50051 for main_service, 50052 for work_service");
ABSL_FLAG(absl::Duration, grace_period, absl::Seconds(10),
          "After SIGTERM/SIGINT, how long calls (sessions) in progress may "
          "take to finish");
ABSL_FLAG(int32_t, max_message_bytes, 4 << 20,
          "The largest message accepted; larger ones end the call with "
          "RESOURCE_EXHAUSTED");
ABSL_FLAG(std::string, tls_cert, "",
          "PEM certificate chain of this server; with --tls_key it serves TLS. "
          "In main_service, with --tls_ca it is also the client certificate "
          "shown to work_service");
ABSL_FLAG(std::string, tls_key, "", "PEM private key of --tls_cert");
ABSL_FLAG(std::string, tls_ca, "",
          "PEM CA bundle: clients must present a certificate signed by it "
          "(mutual TLS). main_service also reaches work_service over TLS, "
          "verified against it, with --tls_cert as client certificate");
ABSL_FLAG(absl::Duration, keepalive_time, absl::Seconds(30),
          "After this long without hearing from a client, send it an HTTP/2 "
          "ping; inf sends none");
ABSL_FLAG(absl::Duration, keepalive_timeout, absl::Seconds(20),
          "A client that does not answer a ping within this long is taken for "
          "gone: its connection is closed and its calls cancelled");
ABSL_FLAG(bool, reflection, true,
          "Serve gRPC server reflection, which lets any client list and "
          "describe the services (grpcurl list); false switches it off");

namespace pieces {

absl::StatusOr<ServerFlags> ReadServerFlags(const std::string& name,
                                            int default_port) {
  ServerFlags flags;
  flags.server.name = name;
  flags.server.port = absl::GetFlag(FLAGS_port).value_or(default_port);
  flags.server.grace_period = absl::GetFlag(FLAGS_grace_period);
  flags.server.max_message_bytes = absl::GetFlag(FLAGS_max_message_bytes);
  flags.server.reflection = absl::GetFlag(FLAGS_reflection);
  flags.server.keepalive_time = absl::GetFlag(FLAGS_keepalive_time);
  flags.server.keepalive_timeout = absl::GetFlag(FLAGS_keepalive_timeout);
  if (flags.server.keepalive_time <= absl::ZeroDuration() ||
      flags.server.keepalive_timeout <= absl::ZeroDuration()) {
    return absl::InvalidArgumentError(
        "--keepalive_time and --keepalive_timeout must be more than 0");
  }
  flags.tls = {absl::GetFlag(FLAGS_tls_cert), absl::GetFlag(FLAGS_tls_key),
               absl::GetFlag(FLAGS_tls_ca)};
  return flags;
}

void ListServerFlagsInHelp(absl::string_view main_file) {
  // Kept for the lambda, which absl stores.
  static std::string* const own = new std::string(main_file);
  absl::FlagsUsageConfig usage;
  usage.contains_help_flags = [](absl::string_view file) {
    return absl::EndsWith(file, *own) ||
           absl::EndsWith(file, "common/server_flags.cc");
  };
  usage.contains_helpshort_flags = usage.contains_help_flags;
  absl::SetFlagsUsageConfig(usage);
}

}  // namespace pieces
