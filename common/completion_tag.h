// What a completion-queue event's tag points to, for the services that serve
// methods through gRPC's async API (work_service's Process and GetStats,
// main_service's methods and its sessions to work_service, the health service
// of common/health): the one thread that takes the queue's events calls
// Complete with the event's `ok`.
#ifndef PIECES_COMMON_COMPLETION_TAG_H_
#define PIECES_COMMON_COMPLETION_TAG_H_

namespace pieces {

class CompletionTag {
 public:
  virtual void Complete(bool ok) = 0;

 protected:
  ~CompletionTag() = default;
};

// A tag that calls one member function of its owner: an object with several
// kinds of events (a read, a write, the call's end) has one of these each.
//
//   MemberTag<Session> read_{this, &Session::ReadCame};
//   stream->Read(&message, &read_);
template <typename Owner>
class MemberTag final : public CompletionTag {
 public:
  MemberTag(Owner* owner, void (Owner::*handler)(bool))
      : owner_(owner), handler_(handler) {}
  void Complete(bool ok) override { (owner_->*handler_)(ok); }

 private:
  Owner* const owner_;
  void (Owner::*const handler_)(bool);
};

}  // namespace pieces

#endif  // PIECES_COMMON_COMPLETION_TAG_H_
