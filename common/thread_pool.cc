#include "common/thread_pool.h"

#include <utility>

namespace pieces {

ThreadPool::ThreadPool(size_t num_threads) {
  if (num_threads == 0) num_threads = 1;
  threads_.reserve(num_threads);
  for (size_t i = 0; i < num_threads; ++i) {
    threads_.emplace_back([this] { WorkLoop(); });
  }
}

ThreadPool::~ThreadPool() {
  {
    absl::MutexLock lock(&mu_);
    stopping_ = true;
  }
  work_or_stop_.SignalAll();
  for (std::thread& thread : threads_) thread.join();
}

void ThreadPool::Submit(absl::AnyInvocable<void() &&> task) {
  {
    absl::MutexLock lock(&mu_);
    queue_.push_back(std::move(task));
  }
  work_or_stop_.Signal();
}

size_t ThreadPool::queued() const {
  absl::MutexLock lock(&mu_);
  return queue_.size();
}

void ThreadPool::WorkLoop() {
  while (true) {
    absl::AnyInvocable<void() &&> task;
    {
      absl::MutexLock lock(&mu_);
      // The loop makes a spurious wake-up go back to waiting.
      while (queue_.empty() && !stopping_) work_or_stop_.Wait(&mu_);
      // Drain before stopping: every submitted task runs.
      if (queue_.empty()) return;
      task = std::move(queue_.front());
      queue_.pop_front();
    }
    std::move(task)();  // Runs unlocked.
  }
}

}  // namespace pieces
