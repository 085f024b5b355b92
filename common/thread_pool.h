// A fixed-size pool of threads that runs submitted tasks in submission order.
//
// ThreadPool pool(4);
// pool.Submit([] { DoWork(); });
//
// Thread safety: Submit() may be called from any thread, including from a task
// running on the pool. The destructor runs every task submitted before it,
// then joins the threads; it must not be called from a pool thread.
#ifndef PIECES_COMMON_THREAD_POOL_H_
#define PIECES_COMMON_THREAD_POOL_H_

#include <cstddef>
#include <deque>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/functional/any_invocable.h"
#include "absl/synchronization/mutex.h"

namespace pieces {

class ThreadPool {
 public:
  // Starts `num_threads` threads (at least one).
  explicit ThreadPool(size_t num_threads);
  ThreadPool(const ThreadPool&) = delete;
  ThreadPool& operator=(const ThreadPool&) = delete;

  // Runs every task submitted so far, then joins the threads.
  ~ThreadPool();

  // Queues `task` to run on one of the pool's threads.
  void Submit(absl::AnyInvocable<void() &&> task) ABSL_LOCKS_EXCLUDED(mu_);

  size_t num_threads() const { return threads_.size(); }

  // Tasks queued and not yet started.
  size_t queued() const ABSL_LOCKS_EXCLUDED(mu_);

 private:
  void WorkLoop() ABSL_LOCKS_EXCLUDED(mu_);

  mutable absl::Mutex mu_;
  // Signalled when a task is queued or the pool stops.
  absl::CondVar work_or_stop_;
  std::deque<absl::AnyInvocable<void() &&>> queue_ ABSL_GUARDED_BY(mu_);
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;

  // Constant after construction.
  std::vector<std::thread> threads_;
};

}  // namespace pieces

#endif  // PIECES_COMMON_THREAD_POOL_H_
