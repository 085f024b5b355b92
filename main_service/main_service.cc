#include "main_service/main_service.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <deque>
#include <optional>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/synchronization/mutex.h"
#include "common/grpc_status.h"
#include "common/logging/event_log.h"
#include "google/protobuf/arena.h"
#include "google/protobuf/descriptor.h"
#include "google/protobuf/message.h"
#include "grpcpp/support/message_allocator.h"

namespace pieces {
namespace {

// What a call's end is logged with: how many keys, how many results were
// values and how many errors.
struct CallSummary {
  uint64_t keys = 0;
  uint64_t values = 0;
  uint64_t errors = 0;
};

// Counts the call in the metrics and, as --log_calls says, logs its end (one
// line per call). `context` is the call's: the peer is read only for a line.
void EndCall(const MainServiceImpl& service, MainMetrics::Method method,
             int64_t start, const grpc::CallbackServerContext& context,
             const CallSummary& call, const grpc::Status& status) {
  service.metrics()->CallEnded(method, status.error_code(), start);
  if (!service.LogsCallEnd(status)) return;
  const char* name = method == MainMetrics::kRun ? "Run" : "RunStream";
  const char* code = MainMetrics::CodeName(status.error_code());
  const double seconds = static_cast<double>(MainMetrics::Now() - start) / 1e9;
  const std::string peer = context.peer();
  LogEvent("call_end",
           absl::StrCat("main_service: ", name, " from ", peer, ": ", call.keys,
                        " keys, ", call.values, " values, ", call.errors,
                        " errors, ", code, status.ok() ? "" : " (",
                        status.ok() ? "" : status.error_message(),
                        status.ok() ? "" : ")", " in ",
                        absl::StrFormat("%.3f", seconds), "s"),
           {{"method", name},
            {"peer", peer},
            {"keys", call.keys},
            {"values", call.values},
            {"errors", call.errors},
            {"code", code},
            {"status", status.error_message()},
            {"duration_s", seconds}});
}

// A Run call: results gathered in request order, answered all at once.
// Threads: see call.h; Take writes its own element of the reply (made in
// advance), under the call's lock.
class RunCall final : public grpc::ServerUnaryReactor, public Call {
 public:
  RunCall(MainServiceImpl* service, grpc::CallbackServerContext* context,
          const v1::RunRequest* request, v1::RunReply* reply)
      : Call(service->replicas(), service->counters(), service->budget()),
        service_(service),
        context_(context),
        reply_(reply) {
    summary_.keys = static_cast<uint64_t>(request->keys_size());
    if (grpc::Status status = service->Admit(*context, *request, *this);
        !status.ok()) {
      FinishCall(status);
      return;
    }
    const int n = request->keys_size();
    reply_->mutable_results()->Reserve(n);
    for (int i = 0; i < n; ++i) reply_->add_results();
    Start(request->keys());
  }

  void OnCancel() override {
    Abort(grpc::Status(grpc::StatusCode::CANCELLED, "the call was cancelled"));
  }
  void OnDone() override { ReactorDone(); }

 private:
  void Take(ReplicaLink* /*link*/, v1::Result* result) override
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    ++(result->has_error() ? summary_.errors : summary_.values);
    // Copied, not swapped: the reply lives on the call's arena, the result
    // on the heap, and a swap between them would copy both ways.
    reply_->mutable_results(static_cast<int>(result->id()))->CopyFrom(*result);
  }

  void End(const grpc::Status& status) override {
    if (status.ok()) reply_->set_completed(reply_->results_size());
    FinishCall(status);
  }

  // With no lock held.
  void FinishCall(const grpc::Status& status) {
    CallSummary summary;
    {
      absl::MutexLock lock(&mu_);
      summary = summary_;
    }
    EndCall(*service_, MainMetrics::kRun, start_, *context_, summary, status);
    Finish(status);
  }

  const int64_t start_ = MainMetrics::Now();
  const MainServiceImpl* const service_;
  // Valid until OnDone, which comes after Finish.
  const grpc::CallbackServerContext* const context_;
  v1::RunReply* const reply_;
  CallSummary summary_ ABSL_GUARDED_BY(mu_);
};

// A RunStream call: each result is forwarded as it arrives, through a write
// queue with one write in flight, then one Exited. The call finishes once it
// has ended and every queued message is written.
// Threads: as RunCall, plus OnWriteDone on gRPC's threads. The queue is
// guarded by the call's mu_; StartWrite and Finish are called with it
// released, because gRPC may run a reaction inline from them.
class RunStreamCall final : public grpc::ServerWriteReactor<v1::ResultMsg>,
                            public Call {
 public:
  RunStreamCall(MainServiceImpl* service, grpc::CallbackServerContext* context,
                const v1::RunRequest* request)
      : Call(service->replicas(), service->counters(), service->budget()),
        service_(service),
        context_(context),
        keys_(request->keys_size()) {
    summary_.keys = keys_;
    if (grpc::Status status = service->Admit(*context, *request, *this);
        !status.ok()) {
      FinishCall(status);
      return;
    }
    Start(request->keys());
  }

  void OnWriteDone(bool ok) override {
    // out_link_ is touched only by the write path.
    if (ok && out_link_ != nullptr) out_link_->Release(this, 1);
    Step([&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
      writing_ = false;
      if (!ok) {
        // The client is gone: drop what is queued; the work is cancelled.
        write_failed_ = true;
        queue_.clear();
      }
    });
    if (!ok) {
      Abort(grpc::Status(grpc::StatusCode::CANCELLED, "the client went away"));
    }
  }

  void OnCancel() override {
    Abort(grpc::Status(grpc::StatusCode::CANCELLED, "the call was cancelled"));
  }
  void OnDone() override { ReactorDone(); }

 private:
  // Each result keeps its place in the call's share on its replica until it
  // is written: a caller who does not read stops the call's units from being
  // sent, so main holds at most --work_call_share results per replica for it.
  bool HoldsResults() const override { return true; }

  void Take(ReplicaLink* link, v1::Result* result) override
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    // The caller gets one Result per message, as the contract says. After a
    // failed write the call is cancelled, which gives back every place.
    ++(result->has_error() ? summary_.errors : summary_.values);
    if (write_failed_) return;
    Queued& queued = queue_.emplace_back();
    queued.message.mutable_result()->Swap(result);
    queued.link = link;
  }

  void Flush() override {
    Step([]() {});
  }

  void End(const grpc::Status& status) override {
    Step([&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
      if (status.ok() && !write_failed_) {
        queue_.emplace_back().message.mutable_exited()->set_completed(keys_);
      }
      end_status_ = status;
    });
  }

  // Applies `change` under mu_, then starts the write or the Finish that has
  // become possible.
  template <typename Change>
  void Step(Change change) {
    bool write = false;
    std::optional<grpc::Status> finish;
    {
      absl::MutexLock lock(&mu_);
      change();
      if (!writing_ && !queue_.empty()) {
        out_ = std::move(queue_.front().message);
        out_link_ = queue_.front().link;
        queue_.pop_front();
        writing_ = true;
        write = true;
      } else if (!writing_ && end_status_.has_value() && !finished_) {
        finished_ = true;
        finish = *end_status_;
      }
    }
    if (write) StartWrite(&out_);
    if (finish.has_value()) FinishCall(*finish);
  }

  // With no lock held.
  void FinishCall(const grpc::Status& status) {
    CallSummary summary;
    {
      absl::MutexLock lock(&mu_);
      summary = summary_;
    }
    EndCall(*service_, MainMetrics::kRunStream, start_, *context_, summary,
            status);
    Finish(status);
  }

  // A message to write, and the link whose result it carries (null for the
  // Exited).
  struct Queued {
    v1::ResultMsg message;
    ReplicaLink* link = nullptr;
  };

  const int64_t start_ = MainMetrics::Now();
  const MainServiceImpl* const service_;
  // Valid until OnDone, which comes after Finish.
  const grpc::CallbackServerContext* const context_;
  const uint64_t keys_;
  std::deque<Queued> queue_ ABSL_GUARDED_BY(mu_);
  // Touched only while writing_, and by OnWriteDone.
  v1::ResultMsg out_;
  ReplicaLink* out_link_ = nullptr;
  bool writing_ ABSL_GUARDED_BY(mu_) = false;
  bool write_failed_ ABSL_GUARDED_BY(mu_) = false;
  bool finished_ ABSL_GUARDED_BY(mu_) = false;
  std::optional<grpc::Status> end_status_ ABSL_GUARDED_BY(mu_);
  CallSummary summary_ ABSL_GUARDED_BY(mu_);
};

// Adds every (uint64) field of `from` to the same field of `to`.
void AddStats(const v1::Stats& from, v1::Stats* to) {
  const google::protobuf::Descriptor* descriptor = from.GetDescriptor();
  const google::protobuf::Reflection* reflection = from.GetReflection();
  for (int i = 0; i < descriptor->field_count(); ++i) {
    const google::protobuf::FieldDescriptor* field = descriptor->field(i);
    if (field->cpp_type() ==
        google::protobuf::FieldDescriptor::CPPTYPE_UINT64) {
      reflection->SetUInt64(to, field,
                            reflection->GetUInt64(*to, field) +
                                reflection->GetUInt64(from, field));
    }
  }
}

// A GetClusterStats call: one GetStats per replica, in parallel.
// Threads: the constructor on gRPC's thread for the call; each GetStats
// callback on gRPC's threads, concurrently, each writing its own slot; the
// last one (by the atomic count) reads them all and finishes.
class ClusterStatsCall final : public grpc::ServerUnaryReactor {
 public:
  ClusterStatsCall(MainServiceImpl* service,
                   grpc::CallbackServerContext* context,
                   v1::ClusterStats* reply)
      : view_(service->replicas()->View()),
        reply_(reply),
        slots_(view_->replicas.size()),
        pending_(view_->replicas.size()) {
    reply_->set_units_resent(
        service->counters()->units_resent.load(std::memory_order_relaxed));
    reply_->set_keys_in_progress(service->budget()->held());
    if (slots_.empty()) {
      Fill();
      return;
    }
    const auto deadline =
        std::min(context->deadline(),
                 std::chrono::system_clock::now() + std::chrono::seconds(2));
    for (size_t i = 0; i < slots_.size(); ++i) {
      Slot& slot = slots_[i];
      slot.context.set_deadline(deadline);
      view_->replicas[i]->stub->async()->GetStats(
          &slot.context, &request_, &slot.stats, [this, i](grpc::Status s) {
            slots_[i].status = std::move(s);
            if (pending_.fetch_sub(1, std::memory_order_acq_rel) == 1) Fill();
          });
    }
  }

  void OnDone() override { delete this; }

 private:
  struct Slot {
    grpc::ClientContext context;
    v1::Stats stats;
    grpc::Status status;
  };

  void Fill() {
    for (size_t i = 0; i < slots_.size(); ++i) {
      const WorkReplica& replica = *view_->replicas[i];
      v1::ReplicaStats* out = reply_->add_replicas();
      out->set_address(replica.name);
      out->set_target(replica.target);
      out->set_routable(!view_->down[i]);
      if (slots_[i].status.ok()) {
        *out->mutable_stats() = slots_[i].stats;
        AddStats(slots_[i].stats, reply_->mutable_total());
        reply_->set_replicas_answered(reply_->replicas_answered() + 1);
      } else {
        out->mutable_error()->set_code(slots_[i].status.error_code());
        out->mutable_error()->set_message(slots_[i].status.error_message());
      }
    }
    Finish(grpc::Status::OK);
  }

  const std::shared_ptr<const ReplicaView> view_;
  v1::ClusterStats* const reply_;
  const v1::GetStatsRequest request_;
  std::vector<Slot> slots_;
  std::atomic<size_t> pending_;
};

}  // namespace

absl::StatusOr<std::unique_ptr<MainServiceImpl>> MainServiceImpl::Create(
    const Options& options) {
  WorkReplicas::Options replica_options;
  replica_options.targets = options.work_address;
  replica_options.credentials = options.work_credentials;
  replica_options.resolve_interval = options.resolve_interval;
  replica_options.link = options.link;
  replica_options.keepalive_time = options.work_keepalive_time;
  replica_options.keepalive_timeout = options.work_keepalive_timeout;
  absl::StatusOr<std::unique_ptr<WorkReplicas>> replicas =
      WorkReplicas::Create(std::move(replica_options));
  if (!replicas.ok()) return replicas.status();
  return std::unique_ptr<MainServiceImpl>(
      new MainServiceImpl(options, *std::move(replicas)));
}

void MainServiceImpl::CloseLinks(absl::Time deadline) {
  replicas_->CloseLinks(deadline);
}

namespace {

// Each Run's request and reply on a protobuf arena of the call's own, freed
// in one piece when the call is done: a 100-key reply is 100 Result
// messages, which on the heap cost a malloc and a free each.
class RunArenaAllocator final
    : public grpc::MessageAllocator<v1::RunRequest, v1::RunReply> {
 public:
  grpc::MessageHolder<v1::RunRequest, v1::RunReply>* AllocateMessages()
      override {
    return new Holder;
  }

 private:
  class Holder final
      : public grpc::MessageHolder<v1::RunRequest, v1::RunReply> {
   public:
    Holder() {
      set_request(
          google::protobuf::Arena::CreateMessage<v1::RunRequest>(&arena_));
      set_response(
          google::protobuf::Arena::CreateMessage<v1::RunReply>(&arena_));
    }
    void Release() override { delete this; }

   private:
    google::protobuf::Arena arena_;
  };
};

}  // namespace

MainServiceImpl::MainServiceImpl(const Options& options,
                                 std::unique_ptr<WorkReplicas> replicas)
    : options_(options),
      replicas_(std::move(replicas)),
      budget_(options.max_keys_in_progress),
      metrics_(std::make_shared<MainMetrics>(replicas_.get(), &counters_)) {
  // Stateless, and never freed: it outlives every service.
  static RunArenaAllocator* const allocator = new RunArenaAllocator;
  SetMessageAllocatorFor_Run(allocator);
}

bool MainServiceImpl::LogsCallEnd(const grpc::Status& status) const {
  switch (options_.log_calls) {
    case CallLog::kAll:
      return true;
    case CallLog::kFailed:
      return !status.ok();
    case CallLog::kNone:
      return false;
  }
  return true;
}

absl::StatusOr<MainServiceImpl::CallLog> MainServiceImpl::ParseCallLog(
    absl::string_view name) {
  if (name == "all") return CallLog::kAll;
  if (name == "failed") return CallLog::kFailed;
  if (name == "none") return CallLog::kNone;
  return absl::InvalidArgumentError(
      absl::StrCat("--log_calls is '", name, "'; give all, failed or none"));
}

grpc::Status MainServiceImpl::Admit(const grpc::CallbackServerContext& context,
                                    const v1::RunRequest& request, Call& call) {
  if (absl::Status status = Validate(context, request); !status.ok()) {
    return ToGrpcStatus(status);
  }
  return call.Admit(static_cast<size_t>(request.keys_size()));
}

absl::Status MainServiceImpl::Validate(
    const grpc::CallbackServerContext& context,
    const v1::RunRequest& request) const {
  if (context.deadline() <= std::chrono::system_clock::now()) {
    // Nothing is sent to work_service for a caller that no longer waits.
    return absl::DeadlineExceededError(
        "the call's deadline had passed when main_service took it up");
  }
  if (request.keys().empty()) {
    return absl::InvalidArgumentError(
        "'keys' is empty; give at least one key to run");
  }
  if (static_cast<size_t>(request.keys_size()) > options_.max_keys) {
    return absl::InvalidArgumentError(
        absl::StrCat("'keys' has ", request.keys_size(),
                     " keys; this service takes at most ", options_.max_keys,
                     " per request (--max_keys)"));
  }
  return absl::OkStatus();
}

grpc::ServerUnaryReactor* MainServiceImpl::Run(
    grpc::CallbackServerContext* context, const v1::RunRequest* request,
    v1::RunReply* reply) {
  return new RunCall(this, context, request, reply);  // Deletes itself.
}

grpc::ServerWriteReactor<v1::ResultMsg>* MainServiceImpl::RunStream(
    grpc::CallbackServerContext* context, const v1::RunRequest* request) {
  return new RunStreamCall(this, context, request);  // Deletes itself.
}

grpc::ServerUnaryReactor* MainServiceImpl::GetClusterStats(
    grpc::CallbackServerContext* context,
    const v1::GetClusterStatsRequest* /*request*/, v1::ClusterStats* reply) {
  return new ClusterStatsCall(this, context, reply);  // Deletes itself.
}

}  // namespace pieces
