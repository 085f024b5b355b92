// A std::thread that joins when it goes, so that a test that stops early (a
// failed ASSERT returns from the test body) waits for its helper thread
// instead of ending the program in std::terminate.
//
//   JoiningThread caller([&] { status = CallRun(...); });
//   ASSERT_TRUE(...);  // On failure, the destructor joins the caller.
//   caller.Join();
#ifndef PIECES_TESTS_TESTING_JOINING_THREAD_H_
#define PIECES_TESTS_TESTING_JOINING_THREAD_H_

#include <thread>
#include <utility>

namespace pieces::testing {

class JoiningThread {
 public:
  template <typename F>
  explicit JoiningThread(F&& f) : thread_(std::forward<F>(f)) {}
  ~JoiningThread() { Join(); }

  JoiningThread(const JoiningThread&) = delete;
  JoiningThread& operator=(const JoiningThread&) = delete;

  // Waits for the thread; does nothing the second time.
  void Join() {
    if (thread_.joinable()) thread_.join();
  }

 private:
  std::thread thread_;
};

}  // namespace pieces::testing

#endif  // PIECES_TESTS_TESTING_JOINING_THREAD_H_
