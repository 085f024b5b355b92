#include "main_service/main_service.h"

#include <deque>
#include <optional>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "common/grpc_status.h"
#include "main_service/work_session.h"

namespace pieces {
namespace {

std::shared_ptr<grpc::Channel> MakeWorkChannel(
    const std::string& address,
    std::shared_ptr<grpc::ChannelCredentials> credentials) {
  grpc::ChannelArguments args;
  // Reconnect soon after work_service comes back, instead of gRPC's default
  // backoff of up to two minutes.
  args.SetInt(GRPC_ARG_INITIAL_RECONNECT_BACKOFF_MS, 250);
  args.SetInt(GRPC_ARG_MIN_RECONNECT_BACKOFF_MS, 250);
  args.SetInt(GRPC_ARG_MAX_RECONNECT_BACKOFF_MS, 1000);
  if (credentials == nullptr) credentials = grpc::InsecureChannelCredentials();
  return grpc::CreateCustomChannel(address, credentials, args);
}

std::vector<uint64_t> KeysOf(const v1::RunRequest& request) {
  return {request.keys().begin(), request.keys().end()};
}

// The client context of a call's work session: carries the caller's deadline
// and cancellation over to it. Set once, before the session starts; lives as
// long as the call's reactor, which outlives the session.
class WorkContextHolder {
 protected:
  grpc::ClientContext* SetWorkContext(const grpc::CallbackServerContext& caller)
      ABSL_LOCKS_EXCLUDED(context_mu_) {
    absl::MutexLock lock(&context_mu_);
    context_ = grpc::ClientContext::FromCallbackServerContext(caller);
    return context_.get();
  }

  // Cancels the work session, if there is one. Safe from any thread; called
  // with no lock held, because gRPC may run reactions inline from TryCancel.
  void CancelWork() ABSL_LOCKS_EXCLUDED(context_mu_) {
    grpc::ClientContext* context;
    {
      absl::MutexLock lock(&context_mu_);
      context = context_.get();
    }
    if (context != nullptr) context->TryCancel();
  }

 private:
  // Guards context_ against OnCancel running while the constructor sets it.
  absl::Mutex context_mu_;
  std::unique_ptr<grpc::ClientContext> context_ ABSL_GUARDED_BY(context_mu_);
};

// A Run call: one work session, results gathered in request order.
// Threads: the constructor runs on gRPC's thread for the call; OnMessage and
// OnSessionDone on the work session's (one at a time); OnCancel on any.
class RunCall final : public grpc::ServerUnaryReactor,
                      public WorkSession::Listener,
                      private WorkContextHolder {
 public:
  RunCall(MainServiceImpl* service, grpc::CallbackServerContext* context,
          const v1::RunRequest* request, v1::RunReply* reply)
      : service_(service), reply_(reply) {
    if (absl::Status status = service->Validate(*request); !status.ok()) {
      Finish(ToGrpcStatus(status));
      return;
    }
    const int n = request->keys_size();
    answered_.assign(n, false);
    reply_->mutable_results()->Reserve(n);
    for (int i = 0; i < n; ++i) reply_->add_results();
    grpc::ClientContext* work_context = SetWorkContext(*context);
    // Not under mu_: gRPC may run the session's reactions inline.
    WorkSession::Start(service->work_stub(), work_context, KeysOf(*request),
                       this);
  }

  void OnMessage(const v1::ResultMsg& message) override {
    switch (message.msg_case()) {
      case v1::ResultMsg::kExited:
        exited_ = true;
        reply_->set_completed(message.exited().completed());
        return;
      case v1::ResultMsg::kResult:
        Place(message.result());
        return;
      case v1::ResultMsg::kBatch:
        for (const v1::Result& result : message.batch().results()) {
          Place(result);
        }
        return;
      case v1::ResultMsg::MSG_NOT_SET:
        return;
    }
  }

  void OnSessionDone(const grpc::Status& status) override {
    if (!status.ok()) {
      Finish(service_->WorkError(status));
    } else if (!protocol_error_.empty()) {
      Finish(grpc::Status(grpc::StatusCode::INTERNAL, protocol_error_));
    } else if (!exited_ || answered_count_ != answered_.size()) {
      Finish(grpc::Status(
          grpc::StatusCode::INTERNAL,
          absl::StrCat("work_service ended the session after ",
                       answered_count_, " of ", answered_.size(),
                       " results", exited_ ? "" : " and without Exited")));
    } else {
      Finish(grpc::Status::OK);
    }
  }

  void OnCancel() override { CancelWork(); }

  void OnDone() override { delete this; }

 private:
  // Puts `result` at its place in the reply, by id.
  void Place(const v1::Result& result) {
    if (result.id() >= answered_.size() || answered_[result.id()]) {
      if (protocol_error_.empty()) {
        protocol_error_ = absl::StrCat(
            "work_service answered an unknown or repeated id ", result.id());
      }
      return;
    }
    answered_[result.id()] = true;
    ++answered_count_;
    *reply_->mutable_results(static_cast<int>(result.id())) = result;
  }

  MainServiceImpl* const service_;
  v1::RunReply* const reply_;
  // Used only from OnMessage and OnSessionDone, which never overlap.
  std::vector<bool> answered_;
  size_t answered_count_ = 0;
  bool exited_ = false;
  std::string protocol_error_;
};

// A RunStream call: one work session whose messages are forwarded as they
// arrive, through a write queue with one write in flight. The call finishes
// once the session is over and every queued message is written.
// Threads: as RunCall, plus OnWriteDone on gRPC's threads. State is guarded
// by mu_; StartWrite and Finish are called with mu_ released, because gRPC
// may run a reaction inline from them.
class RunStreamCall final : public grpc::ServerWriteReactor<v1::ResultMsg>,
                            public WorkSession::Listener,
                            private WorkContextHolder {
 public:
  RunStreamCall(MainServiceImpl* service, grpc::CallbackServerContext* context,
                const v1::RunRequest* request)
      : service_(service) {
    if (absl::Status status = service->Validate(*request); !status.ok()) {
      Finish(ToGrpcStatus(status));
      return;
    }
    grpc::ClientContext* work_context = SetWorkContext(*context);
    // Not under mu_: gRPC may run the session's reactions inline.
    WorkSession::Start(service->work_stub(), work_context, KeysOf(*request),
                       this);
  }

  void OnMessage(const v1::ResultMsg& message) override {
    Step([&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
      if (write_failed_) return;
      if (!message.has_batch()) {
        queue_.push_back(message);
        return;
      }
      // The caller gets one Result per message, as the contract says.
      for (const v1::Result& result : message.batch().results()) {
        *queue_.emplace_back().mutable_result() = result;
      }
    });
  }

  void OnSessionDone(const grpc::Status& status) override {
    Step([&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
      session_status_ = status.ok() ? status : service_->WorkError(status);
    });
  }

  void OnWriteDone(bool ok) override {
    Step([&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
      writing_ = false;
      if (!ok) {
        // The client is gone: drop what is queued; the work is cancelled below.
        write_failed_ = true;
        queue_.clear();
      }
    });
    if (!ok) CancelWork();
  }

  void OnCancel() override { CancelWork(); }

  void OnDone() override { delete this; }

 private:
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
        out_ = std::move(queue_.front());
        queue_.pop_front();
        writing_ = true;
        write = true;
      } else if (!writing_ && session_status_.has_value() && !finished_) {
        finished_ = true;
        finish = *session_status_;
      }
    }
    if (write) StartWrite(&out_);
    if (finish.has_value()) Finish(*finish);  // `this` may be gone after it.
  }

  MainServiceImpl* const service_;
  absl::Mutex mu_;
  std::deque<v1::ResultMsg> queue_ ABSL_GUARDED_BY(mu_);
  v1::ResultMsg out_;  // Touched only while writing_.
  bool writing_ ABSL_GUARDED_BY(mu_) = false;
  bool write_failed_ ABSL_GUARDED_BY(mu_) = false;
  bool finished_ ABSL_GUARDED_BY(mu_) = false;
  std::optional<grpc::Status> session_status_ ABSL_GUARDED_BY(mu_);
};

}  // namespace

MainServiceImpl::MainServiceImpl(const Options& options)
    : options_(options),
      channel_(MakeWorkChannel(options.work_address, options.work_credentials)),
      stub_(v1::WorkService::NewStub(channel_)) {}

absl::Status MainServiceImpl::Validate(const v1::RunRequest& request) const {
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

grpc::Status MainServiceImpl::WorkError(const grpc::Status& status) const {
  const std::string& address = options_.work_address;
  switch (status.error_code()) {
    case grpc::StatusCode::UNAVAILABLE:
      return grpc::Status(status.error_code(),
                          absl::StrCat("work_service at ", address,
                                       " is unavailable: ",
                                       status.error_message()));
    case grpc::StatusCode::DEADLINE_EXCEEDED:
      return grpc::Status(status.error_code(),
                          absl::StrCat("the deadline passed before work_service at ",
                                       address, " answered every key"));
    default:
      return grpc::Status(status.error_code(),
                          absl::StrCat("work_service at ", address, ": ",
                                       status.error_message()));
  }
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

}  // namespace pieces
