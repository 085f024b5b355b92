#include "common/health/async_health_service.h"

#include <utility>

#include "common/async_unary_call.h"
#include "common/completion_tag.h"

namespace pieces {
namespace {

using grpc::health::v1::HealthCheckRequest;
using grpc::health::v1::HealthCheckResponse;

// What the server owns: forwards to the service, which outlives it.
class Forwarder final : public grpc::HealthCheckServiceInterface {
 public:
  explicit Forwarder(AsyncHealthService* service) : service_(service) {}
  void SetServingStatus(const std::string& service_name,
                        bool serving) override {
    service_->SetServingStatus(service_name, serving);
  }
  void SetServingStatus(bool serving) override {
    service_->SetServingStatus(serving);
  }
  void Shutdown() override { service_->Shutdown(); }

 private:
  AsyncHealthService* const service_;
};

}  // namespace

// One Check: requested, then answered once it arrives.
class AsyncHealthService::CheckCall final
    : public AsyncUnaryCall<HealthCheckRequest, HealthCheckResponse> {
 public:
  explicit CheckCall(AsyncHealthService* service) : service_(service) {
    service_->RequestCheck(&context_, &request_, responder(), service_->cq_,
                           service_->cq_, tag());
  }

 private:
  void Arrived() override {
    service_->AwaitCheck();
    Status status;
    {
      absl::MutexLock lock(&service_->mu_);
      status = service_->StatusOf(request_.service());
    }
    HealthCheckResponse response;
    if (status == HealthCheckResponse::SERVICE_UNKNOWN) {
      Answer(response,
             grpc::Status(grpc::StatusCode::NOT_FOUND,
                          "unknown service \"" + request_.service() + "\""));
      return;
    }
    response.set_status(status);
    Answer(response, grpc::Status::OK);
  }

  AsyncHealthService* const service_;
};

// One Watch: writes the status when it arrives and whenever it changes (one
// write in flight), until the call is over (the done notification). Freed
// once it is over and no write is in flight. Its state is guarded by the
// service's mu_, as SetServingStatus writes from other threads.
class AsyncHealthService::WatchCall final : public CompletionTag {
 public:
  explicit WatchCall(AsyncHealthService* service) : service_(service) {
    context_.AsyncNotifyWhenDone(&done_);
    service_->RequestWatch(&context_, &request_, &writer_, service_->cq_,
                           service_->cq_, this);
  }

  // The call arrived (ok), or the server shuts down and none came (then no
  // done notification comes either).
  void Complete(bool ok) override {
    if (!ok) {
      delete this;
      return;
    }
    service_->AwaitWatch();
    absl::MutexLock lock(&service_->mu_);
    service_->watchers_.insert(this);
    WriteIfChanged();
  }

  // For NotifyWatchers, which holds the service's lock (the analysis cannot
  // tell that this watcher's service is that one).
  void WriteIfChangedLocked() {
    service_->mu_.AssertHeld();
    WriteIfChanged();
  }

  // Writes the status if no write is in flight and it is not the one last
  // written.
  void WriteIfChanged() ABSL_EXCLUSIVE_LOCKS_REQUIRED(service_->mu_) {
    if (writing_ || over_) return;
    const Status status = service_->StatusOf(request_.service());
    if (written_ && status == response_.status()) return;
    response_.set_status(status);
    written_ = true;
    writing_ = true;
    writer_.Write(response_, &write_);
  }

 private:
  void WriteCame(bool ok) {
    bool free;
    {
      absl::MutexLock lock(&service_->mu_);
      writing_ = false;
      if (ok) WriteIfChanged();
      free = done_came_ && !writing_;
    }
    if (free) delete this;
  }

  void DoneCame(bool /*ok*/) {
    bool free;
    {
      absl::MutexLock lock(&service_->mu_);
      over_ = true;
      done_came_ = true;
      service_->watchers_.erase(this);
      free = !writing_;
    }
    if (free) delete this;
  }

  AsyncHealthService* const service_;
  grpc::ServerContext context_;
  HealthCheckRequest request_;
  grpc::ServerAsyncWriter<HealthCheckResponse> writer_{&context_};
  MemberTag<WatchCall> write_{this, &WatchCall::WriteCame};
  MemberTag<WatchCall> done_{this, &WatchCall::DoneCame};
  HealthCheckResponse response_ ABSL_GUARDED_BY(service_->mu_);
  bool written_ ABSL_GUARDED_BY(service_->mu_) = false;
  bool writing_ ABSL_GUARDED_BY(service_->mu_) = false;
  bool over_ ABSL_GUARDED_BY(service_->mu_) = false;
  bool done_came_ ABSL_GUARDED_BY(service_->mu_) = false;
};

AsyncHealthService::AsyncHealthService() { serving_[""] = true; }

AsyncHealthService::~AsyncHealthService() = default;

void AsyncHealthService::StartServing(grpc::ServerCompletionQueue* cq) {
  cq_ = cq;
  AwaitCheck();
  AwaitWatch();
}

void AsyncHealthService::AwaitCheck() { new CheckCall(this); }

void AsyncHealthService::AwaitWatch() { new WatchCall(this); }

void AsyncHealthService::SetServingStatus(const std::string& service_name,
                                          bool serving) {
  absl::MutexLock lock(&mu_);
  if (shut_down_) return;
  serving_[service_name] = serving;
  NotifyWatchers();
}

void AsyncHealthService::SetServingStatus(bool serving) {
  absl::MutexLock lock(&mu_);
  if (shut_down_) return;
  for (auto& [name, status] : serving_) status = serving;
  NotifyWatchers();
}

void AsyncHealthService::Shutdown() {
  absl::MutexLock lock(&mu_);
  if (shut_down_) return;
  shut_down_ = true;
  for (auto& [name, status] : serving_) status = false;
  NotifyWatchers();
}

AsyncHealthService::Status AsyncHealthService::StatusOf(
    const std::string& name) const {
  auto it = serving_.find(name);
  if (it == serving_.end()) return HealthCheckResponse::SERVICE_UNKNOWN;
  return it->second ? HealthCheckResponse::SERVING
                    : HealthCheckResponse::NOT_SERVING;
}

void AsyncHealthService::NotifyWatchers() {
  for (WatchCall* watcher : watchers_) watcher->WriteIfChangedLocked();
}

std::unique_ptr<grpc::HealthCheckServiceInterface>
AsyncHealthService::ForwardingHealthCheck(AsyncHealthService* service) {
  return std::make_unique<Forwarder>(service);
}

}  // namespace pieces
