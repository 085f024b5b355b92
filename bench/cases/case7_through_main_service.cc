// Case 7, through main_service: work_service --work=echo behind main_service;
// Run with 1 key ([0]) and with 100 keys ([0..99], cached first), 16 and 64
// callers, by the suite's own client and by ghz, each paired with the bare
// unary echo of the same request shape and the same client. With 1 key, the
// bare two-hop ceiling (hop_proxy.h, hop_backend.h: a Process-like stream per
// call, and a plain unary call per call) runs in the same alternating rounds.
// When ghz is missing, its rows are skipped.
#include <unistd.h>

#include <functional>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "bench/cases/cases.h"
#include "bench/figure_text.h"
#include "bench/ghz.h"
#include "bench/hop_proxy.h"
#include "pieces/v1/main_service.grpc.pb.h"
#include "two_hop.grpc.pb.h"

namespace pieces::bench {
namespace {

constexpr char kCase[] = "7 main_service";

// The servers a Run goes through, and the bare two hops beside them. Members
// are stopped in the reverse order of their start.
struct Targets {
  ServiceProcess work;
  Connected<v1::MainService> main;
  ServiceProcess hop_backend;
  Connected<HopProxy> hop_proxy;
  // A Run's server side is both services; a two-hop call's, both hops.
  std::vector<const ChildProcess*> run_servers;
  std::vector<const ChildProcess*> hop_servers;
};

absl::StatusOr<Targets> StartTargets(const Suite& suite) {
  Targets targets;
  absl::StatusOr<ServiceProcess> work = suite.StartWork({"--work=echo"});
  if (!work.ok()) return work.status();
  targets.work = *std::move(work);
  absl::StatusOr<Connected<v1::MainService>> main =
      Connect<v1::MainService>(suite.StartServer(
          PIECES_MAIN_SERVICE_BIN,
          {absl::StrCat("--work_address=", targets.work.address)}));
  if (!main.ok()) return main.status();
  targets.main = *std::move(main);
  targets.run_servers = {targets.main.service.process.get(),
                         targets.work.process.get()};

  // The bare two-hop ceiling: processes of their own, like main_service and
  // work_service.
  absl::StatusOr<ServiceProcess> hop_backend =
      suite.StartSelf({"--serve_hop_backend"});
  if (!hop_backend.ok()) return hop_backend.status();
  targets.hop_backend = *std::move(hop_backend);
  absl::StatusOr<Connected<HopProxy>> hop_proxy =
      Connect<HopProxy>(suite.StartSelf(
          {absl::StrCat("--serve_hop_proxy=", targets.hop_backend.address)}));
  if (!hop_proxy.ok()) return hop_proxy.status();
  targets.hop_proxy = *std::move(hop_proxy);
  targets.hop_servers = {targets.hop_proxy.service.process.get(),
                         targets.hop_backend.process.get()};
  return targets;
}

// The same keys [0, keys) as a Run, an echo Unary and ghz's JSON.
struct Requests {
  v1::RunRequest run;
  EchoKeysRequest echo;
  std::string json;
};

Requests RequestsFor(int keys) {
  Requests requests;
  std::vector<std::string> json_keys;
  for (int k = 0; k < keys; ++k) {
    requests.run.add_keys(k);
    requests.echo.add_keys(k);
    json_keys.push_back(absl::StrCat(k));
  }
  requests.json =
      absl::StrCat("{\"keys\":[", absl::StrJoin(json_keys, ","), "]}");
  return requests;
}

// The Run and unary echo rows of one client, from a pair {unary echo, Run}.
void AddUnaryFigures(Suite& suite, const std::string& client,
                     const std::string& shape, int keys, const Paired& paired) {
  suite.report().Add(
      Figure(kCase, absl::StrCat("bare unary echo, ", shape, ", ", client),
             LatencyText(paired.ceiling)));
  Figure run(kCase, absl::StrCat("Run, ", shape, ", ", client),
             LatencyText(paired.subject));
  run.Ratio(paired.ratio, "of unary echo");
  // Issue 12's goal for a 1-key Run (it was 0.5 before the shared sessions).
  if (keys == 1) run.Goal("ratio >= 0.80", paired.ratio >= 0.8);
  suite.report().Add(std::move(run));
  if (paired.subject.samples.size() > 1) {
    suite.report().Note(RatioRange(paired));
  }
  suite.NoteIfAny(
      PairUsage(paired, "echo server", "main_service + work_service", "call"));
}

// The bare two-hop rows of one client, from one MeasureAlternating run of
// {unary echo, Run, two-hop via stream, two-hop via unary}.
void AddTwoHopFigures(Suite& suite, const std::string& client,
                      const std::string& shape,
                      const std::vector<Summary>& all) {
  Report& report = suite.report();
  const Summary& echo = all[0];
  const Summary& run = all[1];
  const Summary& via_stream = all[2];
  const Summary& via_unary = all[3];
  auto add = [&](const std::string& what, const Summary& subject,
                 const Summary& ceiling, const std::string& of) {
    const Paired paired = PairOf(ceiling, subject);
    report.Add(Figure(kCase, absl::StrCat(what, ", ", shape, ", ", client),
                      LatencyText(subject))
                   .Ratio(paired.ratio, of));
    if (subject.samples.size() > 1) report.Note(RatioRange(paired));
    suite.NoteIfAny(
        UsageText("server side: hop proxy + backend", subject, "call"));
  };
  add("bare two-hop ceiling, a Process-like stream per call", via_stream, echo,
      "of unary echo");
  add("bare two-hop, a unary call per call", via_unary, echo, "of unary echo");
  const Paired run_of_hop = PairOf(via_stream, run);
  report.Add(Figure(kCase,
                    absl::StrCat("Run / bare two-hop ceiling (stream), ", shape,
                                 ", ", client),
                    TwoDecimals(run_of_hop.ratio))
                 .Ratio(run_of_hop.ratio, "of bare two-hop (stream)"));
  if (run.samples.size() > 1) report.Note(RatioRange(run_of_hop));
  const Paired stream_of_unary = PairOf(via_unary, via_stream);
  report.Add(Figure(kCase,
                    absl::StrCat("bare two-hop, stream / unary per call, ",
                                 shape, ", ", client),
                    TwoDecimals(stream_of_unary.ratio))
                 .Ratio(stream_of_unary.ratio, "of bare two-hop (unary)"));
  if (via_stream.samples.size() > 1) report.Note(RatioRange(stream_of_unary));
}

// The rows of one client from its alternating rounds of {unary echo, Run}
// and, with 1 key, {two-hop via stream, two-hop via unary}.
absl::Status MeasureAndAdd(Suite& suite, const std::string& client,
                           const std::string& shape, int keys,
                           const std::vector<MeasureFn>& loads) {
  absl::StatusOr<std::vector<Summary>> all =
      MeasureAlternating(suite.settings().rounds, loads);
  if (!all.ok()) return all.status();
  AddUnaryFigures(suite, client, shape, keys, PairOf((*all)[0], (*all)[1]));
  if (keys == 1) AddTwoHopFigures(suite, client, shape, *all);
  return absl::OkStatus();
}

// The suite's own client: `callers` callers, each with one call in flight.
absl::Status MeasureSuiteClient(Suite& suite, const Targets& targets,
                                const Requests& requests, int keys, int callers,
                                const std::string& shape) {
  Echo::Stub* echo_stub = suite.echo_stub();
  v1::MainService::Stub* main_stub = targets.main.stub.get();
  HopProxy::Stub* hop_stub = targets.hop_proxy.stub.get();
  std::vector<EchoKeysReply> echo_replies(callers);
  auto echo_load = [&]() {
    return suite.MeasureUnary(
        callers, suite.EchoServers(),
        [&](int caller, grpc::ClientContext* context,
            std::function<void(grpc::Status)> done) {
          echo_stub->async()->Unary(context, &requests.echo,
                                    &echo_replies[caller], std::move(done));
        },
        "echo Unary");
  };
  std::vector<v1::RunReply> run_replies(callers);
  auto run_load = [&]() {
    return suite.MeasureUnary(
        callers, targets.run_servers,
        [&](int caller, grpc::ClientContext* context,
            std::function<void(grpc::Status)> done) {
          main_stub->async()->Run(context, &requests.run, &run_replies[caller],
                                  std::move(done));
        },
        "Run");
  };
  std::vector<EchoKeysReply> hop_replies(callers);
  auto hop_load = [&](bool via_stream) {
    return [&, via_stream]() {
      return suite.MeasureUnary(
          callers, targets.hop_servers,
          [&, via_stream](int caller, grpc::ClientContext* context,
                          std::function<void(grpc::Status)> done) {
            if (via_stream) {
              hop_stub->async()->RunViaStream(context, &requests.echo,
                                              &hop_replies[caller],
                                              std::move(done));
            } else {
              hop_stub->async()->RunViaUnary(context, &requests.echo,
                                             &hop_replies[caller],
                                             std::move(done));
            }
          },
          via_stream ? "two-hop RunViaStream" : "two-hop RunViaUnary");
    };
  };
  std::vector<MeasureFn> loads = {echo_load, run_load};
  if (keys == 1) {
    loads.push_back(hop_load(true));
    loads.push_back(hop_load(false));
  }
  return MeasureAndAdd(suite, "suite client", shape, keys, loads);
}

// The same loads as MeasureSuiteClient, by ghz --concurrency=`callers`.
absl::Status MeasureGhz(Suite& suite, const Targets& targets,
                        const Requests& requests, int keys, int callers,
                        const std::string& shape) {
  GhzOptions echo_ghz;
  echo_ghz.ghz = suite.settings().ghz;
  echo_ghz.data = requests.json;
  echo_ghz.concurrency = callers;
  echo_ghz.duration = suite.settings().measure;
  echo_ghz.proto = PIECES_SOURCE_DIR "/bench/echo.proto";
  echo_ghz.import_path = PIECES_SOURCE_DIR "/bench";
  echo_ghz.call = "pieces.bench.Echo.Unary";
  echo_ghz.address = suite.echo_address();
  GhzOptions hop_stream_ghz = echo_ghz;
  hop_stream_ghz.proto = PIECES_SOURCE_DIR "/bench/two_hop.proto";
  // It imports echo.proto and pieces/v1/work.proto.
  hop_stream_ghz.import_path =
      PIECES_SOURCE_DIR "/bench," PIECES_SOURCE_DIR "/proto";
  hop_stream_ghz.call = "pieces.bench.HopProxy.RunViaStream";
  hop_stream_ghz.address = targets.hop_proxy.service.address;
  GhzOptions hop_unary_ghz = hop_stream_ghz;
  hop_unary_ghz.call = "pieces.bench.HopProxy.RunViaUnary";
  GhzOptions run_ghz = echo_ghz;
  run_ghz.proto = PIECES_SOURCE_DIR "/proto/pieces/v1/main_service.proto";
  run_ghz.import_path = PIECES_SOURCE_DIR "/proto";
  run_ghz.call = "pieces.v1.MainService.Run";
  run_ghz.address = targets.main.service.address;
  std::vector<MeasureFn> loads = {GhzLoad(echo_ghz, suite.EchoServers()),
                                  GhzLoad(run_ghz, targets.run_servers)};
  if (keys == 1) {
    loads.push_back(GhzLoad(hop_stream_ghz, targets.hop_servers));
    loads.push_back(GhzLoad(hop_unary_ghz, targets.hop_servers));
  }
  return MeasureAndAdd(suite, "ghz", shape, keys, loads);
}

}  // namespace

absl::Status RunThroughMainService(Suite& suite) {
  if (absl::Status s = suite.EnsureEcho(); !s.ok()) return s;
  absl::StatusOr<Targets> targets = StartTargets(suite);
  if (!targets.ok()) return targets.status();

  const std::string& ghz = suite.settings().ghz;
  const bool have_ghz = access(ghz.c_str(), X_OK) == 0;
  if (!have_ghz) {
    suite.report().Note(
        absl::StrCat("no ghz at ", ghz, ": its rows are skipped"));
  }

  for (int keys : {1, 100}) {
    const Requests requests = RequestsFor(keys);
    {
      // Caches the keys first: the figures are of the cache-hit path.
      grpc::ClientContext context;
      v1::RunReply reply;
      grpc::Status status =
          targets->main.stub->Run(&context, requests.run, &reply);
      if (!status.ok()) {
        return absl::InternalError(
            absl::StrCat("Run: ", status.error_message()));
      }
    }
    for (int callers : {16, 64}) {
      const std::string shape =
          absl::StrCat(Plural(keys, "key", "keys"), ", ", callers, " callers");
      if (absl::Status s = MeasureSuiteClient(suite, *targets, requests, keys,
                                              callers, shape);
          !s.ok()) {
        return s;
      }
      if (!have_ghz) continue;
      if (absl::Status s =
              MeasureGhz(suite, *targets, requests, keys, callers, shape);
          !s.ok()) {
        return s;
      }
    }
  }
  return absl::OkStatus();
}

}  // namespace pieces::bench
