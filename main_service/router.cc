#include "main_service/router.h"

#include <algorithm>

#include "main_service/rendezvous.h"

namespace pieces {

Router::Router(const ReplicaView& view,
               absl::Span<const std::string> excluded) {
  for (int pass = 0; pass < 2 && candidates_.empty(); ++pass) {
    for (size_t i = 0; i < view.replicas.size(); ++i) {
      const std::string& name = view.replicas[i]->name;
      const bool failed =
          std::find(excluded.begin(), excluded.end(), name) != excluded.end();
      if (!failed && (pass == 1 || !view.down[i])) {
        candidates_.push_back(i);
        hashes_.push_back(view.replicas[i]->hash);
      }
    }
  }
}

size_t Router::Owner(uint64_t key) const {
  if (candidates_.size() == 1) return candidates_[0];
  return candidates_[RendezvousOwner(key, hashes_)];
}

}  // namespace pieces
