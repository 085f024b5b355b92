#include "common/thread_pool.h"

#include <atomic>
#include <cstddef>
#include <deque>
#include <set>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "absl/time/time.h"
#include "gtest/gtest.h"

namespace pieces {
namespace {

// How long a test waits for something that should happen promptly. Generous,
// so that a slow (e.g. sanitized) build never fails a correct pool; a wrong
// pool makes the awaited condition never hold, and the test fails after it.
constexpr absl::Duration kTimeout = absl::Seconds(30);

// Counts down from `n`. Unlike absl::BlockingCounter, waiting is bounded, so
// that a broken pool fails the test instead of hanging it.
class Latch {
 public:
  explicit Latch(int n) : left_(n) {}

  void CountDown() ABSL_LOCKS_EXCLUDED(mu_) {
    absl::MutexLock lock(&mu_);
    --left_;
  }

  // Returns whether the count reached zero within `timeout`.
  bool Wait(absl::Duration timeout) ABSL_LOCKS_EXCLUDED(mu_) {
    absl::MutexLock lock(&mu_);
    auto done = [this]()
                    ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return left_ <= 0; };
    return mu_.AwaitWithTimeout(absl::Condition(&done), timeout);
  }

  // A rendezvous: counts down, then waits for everyone else.
  bool ArriveAndWait(absl::Duration timeout) ABSL_LOCKS_EXCLUDED(mu_) {
    CountDown();
    return Wait(timeout);
  }

 private:
  absl::Mutex mu_;
  int left_ ABSL_GUARDED_BY(mu_);
};

TEST(ThreadPoolTest, RunsEverySubmittedTaskBeforeDestruction) {
  constexpr int kTasks = 10000;
  std::atomic<int> ran{0};
  {
    ThreadPool pool(4);
    for (int i = 0; i < kTasks; ++i) {
      pool.Submit([&ran] { ran.fetch_add(1); });
    }
  }  // The destructor runs what is queued, then joins.
  EXPECT_EQ(ran.load(), kTasks);
}

TEST(ThreadPoolTest, TasksSubmittedFromTasksRun) {
  constexpr int kFanOut = 10;
  constexpr int kChain = 500;
  std::atomic<int> children{0};
  std::atomic<int> chain{0};
  Latch children_done(kFanOut * kFanOut);
  absl::Notification chain_done;
  {
    ThreadPool pool(3);
    // Fan out: each of kFanOut tasks submits kFanOut more.
    for (int i = 0; i < kFanOut; ++i) {
      pool.Submit([&] {
        for (int j = 0; j < kFanOut; ++j) {
          pool.Submit([&] {
            children.fetch_add(1);
            children_done.CountDown();
          });
        }
      });
    }
    // A chain: each link submits the next.
    struct Link {
      static void Run(ThreadPool& pool, std::atomic<int>& count,
                      absl::Notification& done) {
        if (count.fetch_add(1) + 1 == kChain) {
          done.Notify();
          return;
        }
        pool.Submit([&pool, &count, &done] { Run(pool, count, done); });
      }
    };
    pool.Submit([&] { Link::Run(pool, chain, chain_done); });

    EXPECT_TRUE(children_done.Wait(kTimeout));
    EXPECT_TRUE(chain_done.WaitForNotificationWithTimeout(kTimeout));
  }
  EXPECT_EQ(children.load(), kFanOut * kFanOut);
  EXPECT_EQ(chain.load(), kChain);
}

TEST(ThreadPoolTest, RunsEachTaskWithoutWaitingForDestruction) {
  // Ping-pong: each task must run while the pool lives and its threads have
  // gone idle in between, so a Submit() that does not wake a thread shows.
  constexpr int kRounds = 200;
  for (size_t threads : {1, 4}) {
    // Outlives the pool, which may still run a late task at destruction.
    std::deque<absl::Notification> ran_flags;
    ThreadPool pool(threads);
    for (int round = 0; round < kRounds; ++round) {
      absl::Notification& ran = ran_flags.emplace_back();
      pool.Submit([&ran] { ran.Notify(); });
      if (!ran.WaitForNotificationWithTimeout(kTimeout)) {
        ADD_FAILURE() << "task of round " << round << " on a " << threads
                      << "-thread pool did not run";
        break;
      }
    }
  }
}

TEST(ThreadPoolTest, NumThreadsIsWhatWasAskedFor) {
  ThreadPool one(1);
  ThreadPool three(3);
  EXPECT_EQ(one.num_threads(), 1u);
  EXPECT_EQ(three.num_threads(), 3u);
}

TEST(ThreadPoolTest, ZeroThreadsGetsOne) {
  absl::Notification ran;
  {
    ThreadPool pool(0);
    EXPECT_EQ(pool.num_threads(), 1u);
    pool.Submit([&ran] { ran.Notify(); });
    EXPECT_TRUE(ran.WaitForNotificationWithTimeout(kTimeout));
  }
}

TEST(ThreadPoolTest, TasksRunOnPoolThreadsNotOnTheSubmitter) {
  constexpr int kTasks = 200;
  absl::Mutex mu;
  std::set<std::thread::id> ids;  // Guarded by mu.
  {
    ThreadPool pool(3);
    for (int i = 0; i < kTasks; ++i) {
      pool.Submit([&] {
        absl::MutexLock lock(&mu);
        ids.insert(std::this_thread::get_id());
      });
    }
  }
  absl::MutexLock lock(&mu);
  EXPECT_EQ(ids.count(std::this_thread::get_id()), 0u);
  EXPECT_GE(ids.size(), 1u);
  EXPECT_LE(ids.size(), 3u);
}

TEST(ThreadPoolTest, TasksRunInParallel) {
  constexpr int kThreads = 4;
  // Every task waits for all the others to arrive: they can only all pass if
  // they run at the same time, one per thread.
  Latch rendezvous(kThreads);
  std::atomic<int> passed{0};
  {
    ThreadPool pool(kThreads);
    for (int i = 0; i < kThreads; ++i) {
      pool.Submit([&] {
        if (rendezvous.ArriveAndWait(kTimeout)) passed.fetch_add(1);
      });
    }
  }
  EXPECT_EQ(passed.load(), kThreads);
}

TEST(ThreadPoolTest, RunsTasksInSubmissionOrderOnOneThread) {
  constexpr int kTasks = 1000;
  std::vector<int> order;  // Only touched by the pool's single thread.
  {
    ThreadPool pool(1);
    for (int i = 0; i < kTasks; ++i) {
      pool.Submit([&order, i] { order.push_back(i); });
    }
  }
  ASSERT_EQ(order.size(), static_cast<size_t>(kTasks));
  for (int i = 0; i < kTasks; ++i) EXPECT_EQ(order[i], i);
}

TEST(ThreadPoolTest, DestructorRunsTasksStillQueued) {
  constexpr int kThreads = 2;
  constexpr int kQueued = 1000;
  Latch blockers_started(kThreads);
  absl::Notification release;
  std::atomic<int> blockers_released{0};
  std::atomic<int> ran{0};
  {
    ThreadPool pool(kThreads);
    // Occupy every thread, so that what follows stays queued.
    for (int i = 0; i < kThreads; ++i) {
      pool.Submit([&] {
        blockers_started.CountDown();
        if (release.WaitForNotificationWithTimeout(kTimeout)) {
          blockers_released.fetch_add(1);
        }
      });
    }
    EXPECT_TRUE(blockers_started.Wait(kTimeout));
    for (int i = 0; i < kQueued; ++i) {
      pool.Submit([&ran] { ran.fetch_add(1); });
    }
    EXPECT_EQ(pool.queued(), static_cast<size_t>(kQueued));
    EXPECT_EQ(ran.load(), 0);
    release.Notify();
  }  // Destroyed at once, most likely with tasks still queued.
  EXPECT_EQ(blockers_released.load(), kThreads);
  EXPECT_EQ(ran.load(), kQueued);
}

}  // namespace
}  // namespace pieces
