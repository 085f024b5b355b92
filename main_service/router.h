// Which replica runs each key: rendezvous hashing (rendezvous.h) over the
// replicas a call may use.
//
// A call may use the replicas of a view that it has not seen fail: those up,
// or, when every one of those is down, the down ones too (a replica that has
// just come back is then used at once instead of after the next check).
//
// Router router(*view, failed_in_this_call);
// if (router.empty()) { ... no replica left ... }
// const WorkReplica& owner = *view->replicas[router.Owner(key)];
//
// Thread safety: immutable after construction; pure, no gRPC.
#ifndef PIECES_MAIN_SERVICE_ROUTER_H_
#define PIECES_MAIN_SERVICE_ROUTER_H_

#include <cstddef>
#include <cstdint>
#include <string>

#include "absl/container/inlined_vector.h"
#include "absl/types/span.h"
#include "main_service/work_replicas.h"

namespace pieces {

class Router {
 public:
  // Routes among the replicas of `view` whose names are not in `excluded`.
  // `view` must outlive the router.
  Router(const ReplicaView& view, absl::Span<const std::string> excluded);

  // No replica may be used.
  bool empty() const { return candidates_.empty(); }

  // The index in the view's replicas of the replica that owns `key`. Only
  // when !empty().
  size_t Owner(uint64_t key) const;

 private:
  // Indexes in the view of the replicas that may be used, and their hashes.
  absl::InlinedVector<size_t, 8> candidates_;
  absl::InlinedVector<uint64_t, 8> hashes_;
};

}  // namespace pieces

#endif  // PIECES_MAIN_SERVICE_ROUTER_H_
