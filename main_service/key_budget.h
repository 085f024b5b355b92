// A bound on the keys main_service holds for calls in progress, over every
// call: what keeps its memory bounded whatever its callers do. A call takes
// its keys from the budget when it starts and gives them back when it is
// freed (its request, its units and the results it holds for its caller are
// gone by then); a call that does not fit is refused, never queued, since a
// queued call would hold its request all the same.
//
// Thread safety: every method may be called from any thread.
#ifndef PIECES_MAIN_SERVICE_KEY_BUDGET_H_
#define PIECES_MAIN_SERVICE_KEY_BUDGET_H_

#include <atomic>
#include <cstddef>

namespace pieces {

class KeyBudget {
 public:
  // `capacity` is the most keys held at once; 0 means no bound.
  explicit KeyBudget(size_t capacity) : capacity_(capacity) {}
  KeyBudget(const KeyBudget&) = delete;
  KeyBudget& operator=(const KeyBudget&) = delete;

  // Takes `n` keys if they fit with those held; returns whether it did. A
  // call of more keys than the whole capacity never fits.
  bool TryTake(size_t n) {
    size_t held = held_.load(std::memory_order_relaxed);
    do {
      if (capacity_ != 0 && (n > capacity_ || held > capacity_ - n)) {
        return false;
      }
    } while (!held_.compare_exchange_weak(held, held + n,
                                          std::memory_order_relaxed));
    return true;
  }

  // Gives back `n` keys taken by TryTake.
  void Give(size_t n) { held_.fetch_sub(n, std::memory_order_relaxed); }

  size_t held() const { return held_.load(std::memory_order_relaxed); }
  size_t capacity() const { return capacity_; }

 private:
  const size_t capacity_;
  std::atomic<size_t> held_{0};
};

}  // namespace pieces

#endif  // PIECES_MAIN_SERVICE_KEY_BUDGET_H_
