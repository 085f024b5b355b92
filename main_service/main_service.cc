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
#include "common/async_unary_call.h"
#include "common/completion_tag.h"
#include "common/grpc_status.h"
#include "common/logging/event_log.h"
#include "google/protobuf/arena.h"
#include "google/protobuf/descriptor.h"
#include "google/protobuf/message.h"

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
             int64_t start, const grpc::ServerContextBase& context,
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

// What Run and RunStream share as async calls on the service's queue: the
// call's context, its arrival (the object is its request's tag), gRPC's done
// notification (a call the caller cancelled, or whose deadline passed, is
// aborted), and its end: it is counted and perhaps logged (EndCall), and gRPC
// is done with it once its Finish and the done notification have both come.
// Threads: its events on the queue's thread; Take and End as call.h says.
class ServedCall : public Call, public CompletionTag {
 protected:
  ServedCall(MainServiceImpl* service, MainMetrics::Method method)
      : Call(service->replicas(), service->counters(), service->budget()),
        service_(service),
        method_(method) {
    context_.AsyncNotifyWhenDone(&done_);
  }

  // The request's tag: the queue's thread casts each tag to CompletionTag,
  // which is not this object's first base.
  CompletionTag* tag() { return this; }

  // The call has arrived: take it up. The next call is requested already.
  virtual void Arrived() = 0;
  // The next call of the method, to be requested.
  virtual void AwaitNext() = 0;

  // The request's event: the call came, or the server shuts down and none
  // did (then no done notification comes either).
  void Complete(bool ok) override {
    if (!ok) {
      ReactorDone();
      return;
    }
    AwaitNext();
    start_ = MainMetrics::Now();
    Arrived();
  }

  // Counts and logs the call's end; the subclass then finishes it, with
  // finished_ as the Finish's tag. With no lock held.
  void Record(const grpc::Status& status) {
    CallSummary summary;
    {
      absl::MutexLock lock(&mu_);
      summary = summary_;
    }
    EndCall(*service_, method_, start_, context_, summary, status);
  }

  grpc::ServerContext context_;
  MemberTag<ServedCall> finished_{this, &ServedCall::FinishCame};
  CallSummary summary_ ABSL_GUARDED_BY(mu_);
  MainServiceImpl* const service_;

 private:
  void FinishCame(bool /*ok*/) {
    finish_came_ = true;
    if (done_came_) ReactorDone();
  }
  void DoneCame(bool /*ok*/) {
    done_came_ = true;
    if (context_.IsCancelled()) {
      Abort(
          grpc::Status(grpc::StatusCode::CANCELLED, "the call was cancelled"));
    }
    if (finish_came_) ReactorDone();
  }

  const MainMetrics::Method method_;
  int64_t start_ = 0;
  MemberTag<ServedCall> done_{this, &ServedCall::DoneCame};
  // Set on the queue's thread only.
  bool finish_came_ = false;
  bool done_came_ = false;
};

// A Run call: results gathered in request order, answered all at once. The
// request and the reply live on a protobuf arena of the call's own, freed in
// one piece: a 100-key reply is 100 Result messages, which on the heap cost
// a malloc and a free each.
// Threads: see ServedCall; Take writes its own element of the reply (made in
// advance), under the call's lock.
class RunCall final : public ServedCall {
 public:
  explicit RunCall(MainServiceImpl* service)
      : ServedCall(service, MainMetrics::kRun),
        request_(
            google::protobuf::Arena::CreateMessage<v1::RunRequest>(&arena_)),
        reply_(google::protobuf::Arena::CreateMessage<v1::RunReply>(&arena_)) {
    service->RequestRun(&context_, request_, &responder_, service->cq(),
                        service->cq(), tag());
  }

 private:
  void AwaitNext() override { service_->AwaitRun(); }

  void Arrived() override {
    {
      absl::MutexLock lock(&mu_);
      summary_.keys = static_cast<uint64_t>(request_->keys_size());
    }
    if (grpc::Status status = service_->Admit(context_, *request_, *this);
        !status.ok()) {
      FinishCall(status);
      return;
    }
    const int n = request_->keys_size();
    reply_->mutable_results()->Reserve(n);
    for (int i = 0; i < n; ++i) reply_->add_results();
    Start(request_->keys());
  }

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

  // With no lock held. The reply is sent only with OK.
  void FinishCall(const grpc::Status& status) {
    Record(status);
    responder_.Finish(*reply_, status, &finished_);
  }

  google::protobuf::Arena arena_;
  v1::RunRequest* const request_;
  v1::RunReply* const reply_;
  grpc::ServerAsyncResponseWriter<v1::RunReply> responder_{&context_};
};

// A RunStream call: each result is forwarded as it arrives, through a write
// queue with one write in flight, then one Exited. The call finishes once it
// has ended and every queued message is written.
// Threads: as ServedCall, plus the writes' events on the queue's thread. The
// write queue is guarded by the call's mu_; Write and Finish are started
// with it released.
class RunStreamCall final : public ServedCall {
 public:
  explicit RunStreamCall(MainServiceImpl* service)
      : ServedCall(service, MainMetrics::kRunStream) {
    service->RequestRunStream(&context_, &request_, &writer_, service->cq(),
                              service->cq(), tag());
  }

 private:
  void AwaitNext() override { service_->AwaitRunStream(); }

  void Arrived() override {
    keys_ = static_cast<uint64_t>(request_.keys_size());
    {
      absl::MutexLock lock(&mu_);
      summary_.keys = keys_;
    }
    if (grpc::Status status = service_->Admit(context_, request_, *this);
        !status.ok()) {
      FinishCall(status);
      return;
    }
    Start(request_.keys());
  }

  void WriteCame(bool ok) {
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
      } else if (!writing_ && end_status_.has_value() && !finished_call_) {
        finished_call_ = true;
        finish = *end_status_;
      }
    }
    if (write) writer_.Write(out_, &written_);
    if (finish.has_value()) FinishCall(*finish);
  }

  // With no lock held, and no write in flight.
  void FinishCall(const grpc::Status& status) {
    Record(status);
    writer_.Finish(status, &finished_);
  }

  // A message to write, and the link whose result it carries (null for the
  // Exited).
  struct Queued {
    v1::ResultMsg message;
    ReplicaLink* link = nullptr;
  };

  v1::RunRequest request_;
  grpc::ServerAsyncWriter<v1::ResultMsg> writer_{&context_};
  MemberTag<RunStreamCall> written_{this, &RunStreamCall::WriteCame};
  uint64_t keys_ = 0;  // Set when the call arrives.
  std::deque<Queued> queue_ ABSL_GUARDED_BY(mu_);
  // Touched only while writing_, and by WriteCame.
  v1::ResultMsg out_;
  ReplicaLink* out_link_ = nullptr;
  bool writing_ ABSL_GUARDED_BY(mu_) = false;
  bool write_failed_ ABSL_GUARDED_BY(mu_) = false;
  bool finished_call_ ABSL_GUARDED_BY(mu_) = false;
  std::optional<grpc::Status> end_status_ ABSL_GUARDED_BY(mu_);
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

// A GetClusterStats call: one GetStats per replica, in parallel, on the
// service's queue; answered when the last has come; freed when the answer
// has gone (or no call came: the server shuts down).
// Threads: every event on the queue's thread.
class ClusterStatsCall final
    : public AsyncUnaryCall<v1::GetClusterStatsRequest, v1::ClusterStats> {
 public:
  explicit ClusterStatsCall(MainServiceImpl* service) : service_(service) {
    service->RequestGetClusterStats(&context_, &request_, responder(),
                                    service->cq(), service->cq(), tag());
  }

 private:
  void Arrived() override {
    service_->AwaitClusterStats();
    view_ = service_->replicas()->View();
    reply_.set_units_resent(
        service_->counters()->units_resent.load(std::memory_order_relaxed));
    reply_.set_keys_in_progress(service_->budget()->held());
    slots_ = std::vector<Slot>(view_->replicas.size());
    pending_ = slots_.size();
    if (slots_.empty()) {
      Fill();
      return;
    }
    const auto deadline =
        std::min(context_.deadline(),
                 std::chrono::system_clock::now() + std::chrono::seconds(2));
    for (size_t i = 0; i < slots_.size(); ++i) {
      Slot& slot = slots_[i];
      slot.call = this;
      slot.context.set_deadline(deadline);
      slot.reader = view_->replicas[i]->stub->PrepareAsyncGetStats(
          &slot.context, v1::GetStatsRequest(), service_->cq());
      slot.reader->StartCall();
      slot.reader->Finish(&slot.stats, &slot.status,
                          static_cast<CompletionTag*>(&slot));
    }
  }

  // One replica's GetStats; its tag.
  struct Slot final : CompletionTag {
    void Complete(bool /*ok*/) override {
      if (--call->pending_ == 0) call->Fill();
    }
    ClusterStatsCall* call = nullptr;
    grpc::ClientContext context;
    std::unique_ptr<grpc::ClientAsyncResponseReader<v1::Stats>> reader;
    v1::Stats stats;
    grpc::Status status;
  };

  // Answers with what every replica said.
  void Fill() {
    for (size_t i = 0; i < slots_.size(); ++i) {
      const WorkReplica& replica = *view_->replicas[i];
      v1::ReplicaStats* out = reply_.add_replicas();
      out->set_address(replica.name);
      out->set_target(replica.target);
      out->set_routable(!view_->down[i]);
      if (slots_[i].status.ok()) {
        *out->mutable_stats() = slots_[i].stats;
        AddStats(slots_[i].stats, reply_.mutable_total());
        reply_.set_replicas_answered(reply_.replicas_answered() + 1);
      } else {
        out->mutable_error()->set_code(slots_[i].status.error_code());
        out->mutable_error()->set_message(slots_[i].status.error_message());
      }
    }
    Answer(reply_, grpc::Status::OK);
  }

  MainServiceImpl* const service_;
  v1::ClusterStats reply_;
  std::shared_ptr<const ReplicaView> view_;
  std::vector<Slot> slots_;
  size_t pending_ = 0;
};

}  // namespace

absl::StatusOr<std::unique_ptr<MainServiceImpl>> MainServiceImpl::Create(
    const Options& options) {
  WorkReplicas::Options replica_options;
  replica_options.targets = options.work_address;
  replica_options.credentials = options.work_credentials;
  replica_options.resolve_interval = options.resolve_interval;
  replica_options.link = options.link;
  // The sessions complete on the server's queue, made when the server is
  // built (AddCompletionQueues), before any call can send a unit.
  auto queue = std::make_shared<EventQueue>();
  replica_options.link.queue = queue;
  replica_options.keepalive_time = options.work_keepalive_time;
  replica_options.keepalive_timeout = options.work_keepalive_timeout;
  absl::StatusOr<std::unique_ptr<WorkReplicas>> replicas =
      WorkReplicas::Create(std::move(replica_options));
  if (!replicas.ok()) return replicas.status();
  return std::unique_ptr<MainServiceImpl>(
      new MainServiceImpl(options, *std::move(replicas), std::move(queue)));
}

MainServiceImpl::MainServiceImpl(const Options& options,
                                 std::unique_ptr<WorkReplicas> replicas,
                                 std::shared_ptr<EventQueue> queue)
    : options_(options),
      queue_(std::move(queue)),
      replicas_(std::move(replicas)),
      budget_(options.max_keys_in_progress),
      metrics_(std::make_shared<MainMetrics>(replicas_.get(), &counters_)) {}

MainServiceImpl::~MainServiceImpl() { StopServing(); }

void MainServiceImpl::AddCompletionQueues(grpc::ServerBuilder& builder) {
  cq_ = builder.AddCompletionQueue();
  queue_->Set(cq_.get());
}

void MainServiceImpl::StartServing() {
  AwaitRun();
  AwaitRunStream();
  AwaitClusterStats();
  health_.StartServing(cq_.get());
  cq_thread_ = std::thread([this] { queue_->TakeEvents(); });
}

void MainServiceImpl::AwaitRun() { new RunCall(this); }
void MainServiceImpl::AwaitRunStream() { new RunStreamCall(this); }
void MainServiceImpl::AwaitClusterStats() { new ClusterStatsCall(this); }

void MainServiceImpl::StopServing() {
  if (cq_ == nullptr || stopped_) return;
  stopped_ = true;
  // Every call is over; their units may still be out. Exit on each shared
  // session, once its units are answered, and each replica's Exited: every
  // session is over when this returns, so nothing starts on the queue after.
  replicas_->CloseLinks(absl::Now() + options_.close_timeout);
  cq_->Shutdown();
  if (cq_thread_.joinable()) {
    cq_thread_.join();
  } else {
    queue_->TakeEvents();  // The server did not start: nothing was asked.
  }
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

grpc::Status MainServiceImpl::Admit(const grpc::ServerContextBase& context,
                                    const v1::RunRequest& request, Call& call) {
  if (absl::Status status = Validate(context, request); !status.ok()) {
    return ToGrpcStatus(status);
  }
  return call.Admit(static_cast<size_t>(request.keys_size()));
}

absl::Status MainServiceImpl::Validate(const grpc::ServerContextBase& context,
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

}  // namespace pieces
