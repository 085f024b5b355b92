#include "main_service/work_session.h"

#include <utility>

namespace pieces {

void WorkSession::Start(v1::WorkService::Stub* stub,
                        grpc::ClientContext* context,
                        std::vector<uint64_t> keys, Listener* listener) {
  auto* session = new WorkSession(std::move(keys), listener);
  stub->async()->Process(context, session);
  session->StartRead(&session->in_);
  session->WriteNext();
  session->StartCall();
}

WorkSession::WorkSession(std::vector<uint64_t> keys, Listener* listener)
    : keys_(std::move(keys)), listener_(listener) {}

void WorkSession::WriteNext() {
  if (next_ < keys_.size()) {
    v1::Work* work = out_.mutable_work();
    work->set_id(next_);
    work->set_key(keys_[next_]);
    ++next_;
    StartWrite(&out_);
  } else {
    out_.mutable_exit();
    StartWriteLast(&out_, grpc::WriteOptions());
  }
}

void WorkSession::OnWriteDone(bool ok) {
  // A failed write means the call is over; OnDone reports why.
  if (ok && !out_.has_exit()) WriteNext();
}

void WorkSession::OnReadDone(bool ok) {
  if (!ok) return;  // The stream ended; OnDone follows.
  listener_->OnMessage(in_);
  StartRead(&in_);
}

void WorkSession::OnDone(const grpc::Status& status) {
  Listener* listener = listener_;
  grpc::Status final_status = status;
  delete this;
  listener->OnSessionDone(final_status);
}

}  // namespace pieces
