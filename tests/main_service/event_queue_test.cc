// main_service's event queue (main_service/event_queue.h): what is held is
// flushed on the queue's thread, after the event that held it, even when no
// other event comes, and even while events never stop coming.
#include "main_service/event_queue.h"

#include <functional>
#include <memory>
#include <thread>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "absl/time/time.h"
#include "common/completion_tag.h"
#include "grpcpp/alarm.h"
#include "gtest/gtest.h"

namespace pieces {
namespace {

// A queue and the thread that takes its events, until the test ends.
class Taker {
 public:
  Taker() {
    queue_.Set(&cq_);
    thread_ = std::thread([this] { queue_.TakeEvents(); });
  }
  ~Taker() {
    cq_.Shutdown();
    thread_.join();
  }
  EventQueue& queue() { return queue_; }
  grpc::CompletionQueue* cq() { return &cq_; }

 private:
  grpc::CompletionQueue cq_;
  EventQueue queue_;
  std::thread thread_;
};

// Records its flushes and whether each ran on the queue's thread.
class Recorder final : public EventQueue::Held {
 public:
  explicit Recorder(EventQueue* queue) : queue_(queue) {}
  void Flush() override {
    absl::MutexLock lock(&mu_);
    flushes_.push_back(queue_->OnItsThread());
    flushed_.Notify();
  }
  std::vector<bool> flushes() {
    absl::MutexLock lock(&mu_);
    return flushes_;
  }
  absl::Notification& flushed() { return flushed_; }

 private:
  EventQueue* const queue_;
  absl::Mutex mu_;
  std::vector<bool> flushes_ ABSL_GUARDED_BY(mu_);
  absl::Notification flushed_;
};

// An event that fires at once; its handler runs on the queue's thread.
class Event final : public CompletionTag {
 public:
  template <typename Handler>
  Event(grpc::CompletionQueue* cq, Handler handler) : handler_(handler) {
    alarm_.Set(cq, gpr_inf_past(GPR_CLOCK_MONOTONIC),
               static_cast<CompletionTag*>(this));
  }
  void Complete(bool /*ok*/) override { handler_(); }

 private:
  std::function<void()> handler_;
  grpc::Alarm alarm_;
};

TEST(EventQueueTest, WhatAnEventHoldsIsFlushedOnceOnItsThreadAfterIt) {
  Taker taker;
  auto recorder = std::make_shared<Recorder>(&taker.queue());
  EXPECT_FALSE(taker.queue().OnItsThread());
  bool on_its_thread = false;
  bool flushed_before_return = true;
  Event event(taker.cq(), [&] {
    on_its_thread = taker.queue().OnItsThread();
    taker.queue().Hold(recorder);
    flushed_before_return = !recorder->flushes().empty();
  });
  // No other event comes: the flush must not wait for one.
  ASSERT_TRUE(
      recorder->flushed().WaitForNotificationWithTimeout(absl::Seconds(30)));
  EXPECT_TRUE(on_its_thread);
  EXPECT_FALSE(flushed_before_return);
  EXPECT_EQ(recorder->flushes(), std::vector<bool>{true});
}

// Each event sets the next one off at once, 2,000 in all, so that the queue
// has an event ready nearly all the time; the first holds. The flush must come
// within the bound of events taken while something is held (256), not after
// the whole chain.
TEST(EventQueueTest, AThreadThatIsNeverIdleStillFlushes) {
  constexpr int kChain = 2000;
  // Before the taker: freed after its thread has ended.
  std::vector<std::unique_ptr<Event>> events;
  events.reserve(kChain);
  Taker taker;
  auto recorder = std::make_shared<Recorder>(&taker.queue());
  int taken = 0;
  int taken_at_flush = -1;
  absl::Notification chain_done;
  std::function<void()> next = [&] {
    ++taken;
    if (taken == 1) taker.queue().Hold(recorder);
    if (taken_at_flush < 0 && !recorder->flushes().empty()) {
      taken_at_flush = taken;
    }
    if (taken == kChain) {
      chain_done.Notify();
      return;
    }
    events.push_back(std::make_unique<Event>(taker.cq(), next));
  };
  events.push_back(std::make_unique<Event>(taker.cq(), next));
  ASSERT_TRUE(chain_done.WaitForNotificationWithTimeout(absl::Seconds(60)));
  ASSERT_TRUE(
      recorder->flushed().WaitForNotificationWithTimeout(absl::Seconds(30)));
  EXPECT_GT(taken_at_flush, 0) << "flushed only after the whole chain";
  EXPECT_LE(taken_at_flush, 258);
}

}  // namespace
}  // namespace pieces
