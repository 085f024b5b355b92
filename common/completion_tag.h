// What a completion-queue event's tag points to, for the services that serve
// methods through gRPC's async API (work_service's Process and GetStats, the
// health service of common/health): the one thread that takes the queue's
// events calls Complete with the event's `ok`.
#ifndef PIECES_COMMON_COMPLETION_TAG_H_
#define PIECES_COMMON_COMPLETION_TAG_H_

namespace pieces {

class CompletionTag {
 public:
  virtual void Complete(bool ok) = 0;

 protected:
  ~CompletionTag() = default;
};

}  // namespace pieces

#endif  // PIECES_COMMON_COMPLETION_TAG_H_
