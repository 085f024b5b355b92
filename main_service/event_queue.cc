#include "main_service/event_queue.h"

#include <utility>

#include "common/completion_tag.h"

namespace pieces {
namespace {

// The most events taken while writes are held: about as many as the calls
// one read of a busy connection brings.
constexpr int kMaxHeldEvents = 256;

}  // namespace

void EventQueue::TakeEvents() {
  taker_.store(std::this_thread::get_id(), std::memory_order_relaxed);
  grpc::CompletionQueue* const queue = cq();
  void* tag;
  bool ok;
  std::vector<std::shared_ptr<Held>> flushing;
  // Events taken since the last flush while something was held.
  int taken = 0;
  while (true) {
    if (held_.empty()) {
      taken = 0;
      if (!queue->Next(&tag, &ok)) break;
    } else {
      // Held writes wait until no event is ready, or kMaxHeldEvents have
      // been taken (a thread that is never idle still writes).
      const grpc::CompletionQueue::NextStatus status =
          taken >= kMaxHeldEvents
              ? grpc::CompletionQueue::TIMEOUT
              : queue->AsyncNext(&tag, &ok, gpr_inf_past(GPR_CLOCK_MONOTONIC));
      if (status != grpc::CompletionQueue::GOT_EVENT) {
        taken = 0;
        flushing.swap(held_);
        for (const std::shared_ptr<Held>& held : flushing) held->Flush();
        flushing.clear();
        continue;
      }
      ++taken;
    }
    static_cast<CompletionTag*>(tag)->Complete(ok);
  }
  taker_.store(std::thread::id(), std::memory_order_relaxed);
}

}  // namespace pieces
