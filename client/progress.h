// The progress line of `pieces run` on a terminal: results done of the total,
// the rate so far and the time left at that rate, redrawn in place.
//
//     4213/10000  42%  2104/s  ETA 2.75s
//
// FormatProgressLine builds the text; ProgressLine draws it.
#ifndef PIECES_CLIENT_PROGRESS_H_
#define PIECES_CLIENT_PROGRESS_H_

#include <atomic>
#include <cstdint>
#include <cstdio>
#include <string>
#include <thread>

#include "absl/synchronization/notification.h"
#include "absl/time/time.h"

namespace pieces::client {

// The text of the progress line after `done` of `total` results in
// `elapsed`. Rate and ETA are "-" until the first result. Keeps no state;
// any thread.
std::string FormatProgressLine(uint64_t done, uint64_t total,
                               absl::Duration elapsed);

// Draws the progress line on `terminal` every kRedrawInterval from a thread
// of its own, starting kRedrawInterval after construction (a run that ends
// sooner draws nothing), with "\r" and erase-to-end-of-line, so the line is
// rewritten in place. The caller counts results with Add, from any thread;
// Stop (or the destructor) stops the thread and erases the line, so that
// what follows starts on a clean line. The caller must not write to
// `terminal` between construction and Stop.
class ProgressLine {
 public:
  static constexpr absl::Duration kRedrawInterval = absl::Milliseconds(100);

  ProgressLine(FILE* terminal, uint64_t total);
  ~ProgressLine();

  ProgressLine(const ProgressLine&) = delete;
  ProgressLine& operator=(const ProgressLine&) = delete;

  // Counts `results` more results done. Any thread.
  void Add(uint64_t results) {
    done_.fetch_add(results, std::memory_order_relaxed);
  }

  // Stops redrawing and erases the line. Idempotent; the owner's thread.
  void Stop();

 private:
  void Draw();

  // Constant after construction.
  FILE* const terminal_;
  const uint64_t total_;
  const absl::Time start_;

  std::atomic<uint64_t> done_{0};
  absl::Notification stop_;
  // Set once the line has been drawn: only then is there one to erase.
  bool drawn_ = false;  // Touched by thread_ only, until it is joined.
  std::thread thread_;
};

}  // namespace pieces::client

#endif  // PIECES_CLIENT_PROGRESS_H_
