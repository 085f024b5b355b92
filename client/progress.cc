#include "client/progress.h"

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/time/clock.h"
#include "client/format.h"

namespace pieces::client {

std::string FormatProgressLine(uint64_t done, uint64_t total,
                               absl::Duration elapsed) {
  const double percent =
      total == 0 ? 100.0 : 100.0 * static_cast<double>(done) / total;
  const int width = static_cast<int>(absl::StrCat(total).size());
  std::string line =
      absl::StrFormat("%*d/%d  %3.0f%%", width, done, total, percent);
  const double seconds = absl::ToDoubleSeconds(elapsed);
  if (done == 0 || seconds <= 0) {
    absl::StrAppend(&line, "  -/s  ETA -");
    return line;
  }
  const double rate = static_cast<double>(done) / seconds;
  const uint64_t left = done < total ? total - done : 0;
  absl::StrAppend(&line, "  ", PerSecond(rate), "  ETA ",
                  ShortDuration(absl::Seconds(left / rate)));
  return line;
}

ProgressLine::ProgressLine(FILE* terminal, uint64_t total)
    : terminal_(terminal), total_(total), start_(absl::Now()) {
  thread_ = std::thread([this] {
    while (!stop_.WaitForNotificationWithTimeout(kRedrawInterval)) Draw();
    if (drawn_) {
      std::fputs("\r\033[K", terminal_);
      std::fflush(terminal_);
    }
  });
}

ProgressLine::~ProgressLine() { Stop(); }

void ProgressLine::Stop() {
  if (!thread_.joinable()) return;
  stop_.Notify();
  thread_.join();
}

void ProgressLine::Draw() {
  const std::string line = FormatProgressLine(
      done_.load(std::memory_order_relaxed), total_, absl::Now() - start_);
  std::fprintf(terminal_, "\r%s\033[K", line.c_str());
  std::fflush(terminal_);
  drawn_ = true;
}

}  // namespace pieces::client
