// Rendezvous (highest-random-weight) hashing: which replica owns a key.
//
// Every (key, replica) pair gets a pseudo-random weight; a key belongs to the
// replica with the highest weight. The weights depend only on the key and the
// replica's name, so every main_service process routes a key the same way,
// and a key changes owner only when its owner leaves (its keys spread over the
// others) or a newcomer outweighs it (the newcomer takes about 1/N of all
// keys). Nothing else moves.
//
// Thread safety: pure functions.
#ifndef PIECES_MAIN_SERVICE_RENDEZVOUS_H_
#define PIECES_MAIN_SERVICE_RENDEZVOUS_H_

#include <cstddef>
#include <cstdint>

#include "absl/strings/string_view.h"
#include "absl/types/span.h"

namespace pieces {

// A stable 64-bit hash of a replica's name (its "ip:port"): the same in
// every process and every run, unlike absl::Hash.
uint64_t ReplicaNameHash(absl::string_view name);

// The weight of `key` on the replica whose name hashes to `replica_hash`.
uint64_t RendezvousWeight(uint64_t key, uint64_t replica_hash);

// The index in `replica_hashes` of the replica that owns `key`: the one with
// the highest weight (ties, which need equal hashes, go to the lower index).
// `replica_hashes` must not be empty.
size_t RendezvousOwner(uint64_t key, absl::Span<const uint64_t> replica_hashes);

}  // namespace pieces

#endif  // PIECES_MAIN_SERVICE_RENDEZVOUS_H_
