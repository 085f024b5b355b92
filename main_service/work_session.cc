#include "main_service/work_session.h"

#include <algorithm>
#include <utility>

namespace pieces {

void WorkSession::Start(v1::WorkService::Stub* stub,
                        grpc::ClientContext* context, std::vector<Unit> units,
                        Listener* listener) {
  auto* session = new WorkSession(std::move(units), listener);
  // The initial metadata leaves with the first WorkBatch (there always is
  // one, written below) instead of in an operation of its own.
  context->set_initial_metadata_corked(true);
  stub->async()->Process(context, session);
  session->StartRead(&session->in_);
  session->WriteNext();
  session->StartCall();
}

WorkSession::WorkSession(std::vector<Unit> units, Listener* listener)
    : units_(std::move(units)), listener_(listener) {}

void WorkSession::WriteNext() {
  // Batches: far fewer messages, and the results come back batched too.
  out_.Clear();
  v1::WorkBatch* batch = out_.mutable_batch();
  const size_t end = std::min(units_.size(), next_ + kWorksPerBatch);
  batch->mutable_works()->Reserve(static_cast<int>(end - next_));
  for (; next_ < end; ++next_) {
    v1::Work* work = batch->add_works();
    work->set_id(units_[next_].id);
    work->set_key(units_[next_].key);
  }
  if (next_ < units_.size()) {
    StartWrite(&out_);
  } else {
    // The last batch goes with the half-close, which is the session's Exit:
    // one message for a short request instead of two.
    StartWriteLast(&out_, grpc::WriteOptions());
  }
}

void WorkSession::OnWriteDone(bool ok) {
  // A failed write means the call is over; OnDone reports why.
  if (ok && next_ < units_.size()) WriteNext();
}

void WorkSession::OnReadDone(bool ok) {
  if (!ok) return;  // The stream ended; OnDone follows.
  listener_->OnMessage(&in_);
  StartRead(&in_);
}

void WorkSession::OnDone(const grpc::Status& status) {
  Listener* listener = listener_;
  grpc::Status final_status = status;
  delete this;
  listener->OnSessionDone(final_status);
}

}  // namespace pieces
