#include "common/server_runner.h"

#include <pthread.h>
#include <signal.h>

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <limits>
#include <memory>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "common/logging/event_log.h"
#include "grpcpp/ext/health_check_service_server_builder_option.h"
#include "grpcpp/ext/proto_server_reflection_plugin.h"
#include "grpcpp/health_check_service_interface.h"
#include "grpcpp/impl/server_builder_option.h"
#include "grpcpp/impl/server_builder_plugin.h"

namespace pieces {
namespace {

// A duration as a gRPC channel argument in milliseconds; INT_MAX (gRPC's
// "never") for an infinite or too long one.
int ToMillisecondsArgument(absl::Duration duration) {
  const int64_t ms = absl::ToInt64Milliseconds(duration);
  return static_cast<int>(
      std::clamp<int64_t>(ms, 0, std::numeric_limits<int>::max()));
}

sigset_t TerminationSignals() {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGINT);
  return set;
}

// Takes the reflection plugin out of one ServerBuilder. The plugin cannot
// simply be left unregistered: linking grpc++_reflection registers it for
// every ServerBuilder at static initialization.
class WithoutReflection final : public grpc::ServerBuilderOption {
 public:
  void UpdateArguments(grpc::ChannelArguments* /*args*/) override {}
  void UpdatePlugins(std::vector<std::unique_ptr<grpc::ServerBuilderPlugin>>*
                         plugins) override {
    // The name ProtoServerReflectionPlugin::name() gives.
    constexpr char kReflection[] = "proto_server_reflection";
    auto is_reflection =
        [&](const std::unique_ptr<grpc::ServerBuilderPlugin>& plugin) {
          return plugin->name() == kReflection;
        };
    plugins->erase(
        std::remove_if(plugins->begin(), plugins->end(), is_reflection),
        plugins->end());
  }
};

}  // namespace

void BlockTerminationSignals() {
  sigset_t set = TerminationSignals();
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
}

void SkipMutexDeadlockDetection() {
#ifdef NDEBUG
  absl::SetMutexDeadlockDetectionMode(absl::OnDeadlockCycle::kIgnore);
#endif
}

absl::Status RunServer(const ServerOptions& options,
                       const std::vector<grpc::Service*>& services) {
  grpc::reflection::InitProtoReflectionServerBuilderPlugin();

  grpc::ServerBuilder builder;
  AsyncHealthService* health = nullptr;
  for (AsyncServing* service : options.async_services) {
    if (service->health() != nullptr) health = service->health();
  }
  if (health == nullptr) {
    grpc::EnableDefaultHealthCheckService(true);
  } else {
    // Takes the place of gRPC's default health service.
    builder.RegisterService(health);
    builder.SetOption(
        std::make_unique<grpc::HealthCheckServiceServerBuilderOption>(
            AsyncHealthService::ForwardingHealthCheck(health)));
  }
  int selected_port = 0;
  builder.AddListeningPort(absl::StrCat("0.0.0.0:", options.port),
                           options.credentials != nullptr
                               ? options.credentials
                               : grpc::InsecureServerCredentials(),
                           &selected_port);
  if (!options.reflection) {
    builder.SetOption(std::make_unique<WithoutReflection>());
  }
  builder.SetMaxReceiveMessageSize(options.max_message_bytes);
  // gRPC listens with SO_REUSEPORT by default: a second server on the same
  // port (a forgotten one, or another started on a port just freed) would
  // silently take a share of the connections. Without it, that second server
  // fails to start, loudly.
  builder.AddChannelArgument(GRPC_ARG_ALLOW_REUSEPORT, 0);
  // Pings this server sends, to find clients that stopped answering. With
  // a limit on pings without data (gRPC's default is 2), a connection whose
  // calls were idle for a while would stop being pinged, and a client that
  // froze then would never be found out.
  builder.AddChannelArgument(GRPC_ARG_KEEPALIVE_TIME_MS,
                             ToMillisecondsArgument(options.keepalive_time));
  builder.AddChannelArgument(GRPC_ARG_KEEPALIVE_TIMEOUT_MS,
                             ToMillisecondsArgument(options.keepalive_timeout));
  builder.AddChannelArgument(GRPC_ARG_HTTP2_MAX_PINGS_WITHOUT_DATA, 0);
  // Pings clients send (main_service pings work_service every second, with
  // or without calls open): accepted at this rate, rather than answered with
  // GOAWAY "too_many_pings" at gRPC's default of one per 5 minutes, or per
  // 2 hours on a connection without calls. Also lets this server ping a
  // connection that has no call open.
  builder.AddChannelArgument(GRPC_ARG_KEEPALIVE_PERMIT_WITHOUT_CALLS, 1);
  builder.AddChannelArgument(
      GRPC_ARG_HTTP2_MIN_RECV_PING_INTERVAL_WITHOUT_DATA_MS,
      ToMillisecondsArgument(kMinClientPingInterval));
  for (grpc::Service* service : services) builder.RegisterService(service);
  for (AsyncServing* service : options.async_services) {
    service->AddCompletionQueues(builder);
  }
  std::unique_ptr<grpc::Server> server = builder.BuildAndStart();
  if (server == nullptr || selected_port == 0) {
    // Nothing was requested on the queues: stopping only shuts them down,
    // after the server.
    if (server != nullptr) server->Shutdown();
    for (AsyncServing* service : options.async_services) {
      service->StopServing();
    }
    return absl::UnavailableError(
        absl::StrCat(options.name, ": cannot listen on port ", options.port));
  }
  for (AsyncServing* service : options.async_services) {
    service->StartServing();
  }
  LogEvent("listening",
           absl::StrFormat("%s listening on 0.0.0.0:%d", options.name,
                           selected_port),
           {{"port", selected_port}});

  sigset_t set = TerminationSignals();
  int signal_number = 0;
  sigwait(&set, &signal_number);
  const char* signal_name = signal_number == SIGTERM ? "SIGTERM" : "SIGINT";
  const absl::Time drain_start = absl::Now();
  LogEvent(
      "drain_start",
      absl::StrFormat("%s: got %s, draining for up to %s", options.name,
                      signal_name, absl::FormatDuration(options.grace_period)),
      {{"signal", signal_name},
       {"grace_period_s", absl::ToDoubleSeconds(options.grace_period)}});

  if (options.on_stop) options.on_stop();
  server->GetHealthCheckService()->SetServingStatus(false);
  // Refuses new calls at once; cancels the calls still running at the deadline.
  server->Shutdown(std::chrono::system_clock::now() +
                   absl::ToChronoNanoseconds(options.grace_period));
  server->Wait();
  // Every call is over: the async services' queues have no more work.
  for (AsyncServing* service : options.async_services) {
    service->StopServing();
  }
  const double drained_s = absl::ToDoubleSeconds(absl::Now() - drain_start);
  LogEvent("drain_end",
           absl::StrFormat("%s: stopped (drained in %.3fs)", options.name,
                           drained_s),
           {{"drain_s", drained_s}});
  return absl::OkStatus();
}

}  // namespace pieces
