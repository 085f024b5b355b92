// The completion queue that main_service's calls and its sessions to the
// replicas complete on, the one thread that takes its events, and the
// writes that thread holds back until it has taken every event ready.
//
// Why hold writes: a burst of Run calls read from one connection arrives as
// a burst of events; if each call's units were written to work_service as
// the call is taken up, each would be a message (and a sendmsg) of its own.
// A link that has something to write while the thread takes events asks to
// be flushed instead (Hold); once no event is ready, the thread flushes
// every link that asked, and the units of the whole burst go out together.
// No timer: the thread flushes the moment it would otherwise wait.
//
// Threads: Set once, before TakeEvents runs. TakeEvents on the service's
// thread; Hold and OnItsThread on that thread only (the link checks).
#ifndef PIECES_MAIN_SERVICE_EVENT_QUEUE_H_
#define PIECES_MAIN_SERVICE_EVENT_QUEUE_H_

#include <atomic>
#include <memory>
#include <thread>
#include <vector>

#include "grpcpp/grpcpp.h"

namespace pieces {

class EventQueue {
 public:
  // Something with writes to start once the thread has no event ready.
  class Held {
   public:
    virtual ~Held() = default;
    virtual void Flush() = 0;
  };

  void Set(grpc::CompletionQueue* cq) {
    cq_.store(cq, std::memory_order_release);
  }
  grpc::CompletionQueue* cq() const {
    return cq_.load(std::memory_order_acquire);
  }

  // Takes the queue's events (each tag a CompletionTag) until it is shut
  // down and drained, flushing what is held whenever no event is ready.
  void TakeEvents();

  // Whether the calling thread is the one in TakeEvents.
  bool OnItsThread() const {
    return taker_.load(std::memory_order_relaxed) == std::this_thread::get_id();
  }

  // Has `held` flushed once the thread has no event ready. On that thread.
  void Hold(std::shared_ptr<Held> held) { held_.push_back(std::move(held)); }

 private:
  std::atomic<grpc::CompletionQueue*> cq_{nullptr};
  std::atomic<std::thread::id> taker_{};
  // Touched only by the thread in TakeEvents.
  std::vector<std::shared_ptr<Held>> held_;
};

}  // namespace pieces

#endif  // PIECES_MAIN_SERVICE_EVENT_QUEUE_H_
