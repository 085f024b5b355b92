// The set of unit ids a session has seen, to refuse a repeated id (and a
// Cancel of an id never sent).
//
// Memory stays small for the usual clients, which number their units 0, 1,
// 2, ... (main_service does): every id below `dense_end_` has been seen, and
// only ids seen above it are stored, so counting ids cost O(1) memory
// however long the session. Ids in any other order cost one set entry each
// until the ids below them arrive.
//
// Thread safety: none; the owner guards it.
#ifndef PIECES_WORK_SERVICE_SEEN_IDS_H_
#define PIECES_WORK_SERVICE_SEEN_IDS_H_

#include <cstddef>
#include <cstdint>

#include "absl/container/flat_hash_set.h"

namespace pieces {

class SeenIds {
 public:
  // Records `id`; returns false if it was seen before.
  bool Insert(uint64_t id) {
    if (id < dense_end_) return false;
    if (id != dense_end_) return sparse_.insert(id).second;
    // The next id of the prefix (the usual case) touches no set; then fold
    // the ids that now continue the prefix into it.
    ++dense_end_;
    while (!sparse_.empty()) {
      auto it = sparse_.find(dense_end_);
      if (it == sparse_.end()) break;
      sparse_.erase(it);
      ++dense_end_;
    }
    return true;
  }

  // Whether `id` has been recorded.
  bool Contains(uint64_t id) const {
    return id < dense_end_ || sparse_.contains(id);
  }

  // Ids stored one by one (above the dense prefix).
  size_t sparse_size() const { return sparse_.size(); }

 private:
  uint64_t dense_end_ = 0;  // Every id below it has been seen.
  absl::flat_hash_set<uint64_t> sparse_;
};

}  // namespace pieces

#endif  // PIECES_WORK_SERVICE_SEEN_IDS_H_
