#include "main_service/rendezvous.h"

namespace pieces {
namespace {

// The splitmix64 finalizer: a bijective mix in which every input bit affects
// every output bit.
uint64_t Mix(uint64_t x) {
  x ^= x >> 30;
  x *= 0xbf58476d1ce4e5b9ULL;
  x ^= x >> 27;
  x *= 0x94d049bb133111ebULL;
  x ^= x >> 31;
  return x;
}

}  // namespace

uint64_t ReplicaNameHash(absl::string_view name) {
  // FNV-1a, then a final mix so that names differing in one digit (ports,
  // addresses) get unrelated hashes.
  uint64_t hash = 0xcbf29ce484222325ULL;
  for (unsigned char c : name) {
    hash ^= c;
    hash *= 0x100000001b3ULL;
  }
  return Mix(hash);
}

uint64_t RendezvousWeight(uint64_t key, uint64_t replica_hash) {
  return Mix(Mix(key + 0x9e3779b97f4a7c15ULL) ^ replica_hash);
}

size_t RendezvousOwner(uint64_t key,
                       absl::Span<const uint64_t> replica_hashes) {
  const uint64_t mixed_key = Mix(key + 0x9e3779b97f4a7c15ULL);
  size_t owner = 0;
  uint64_t best = Mix(mixed_key ^ replica_hashes[0]);
  for (size_t i = 1; i < replica_hashes.size(); ++i) {
    const uint64_t weight = Mix(mixed_key ^ replica_hashes[i]);
    if (weight > best) {
      best = weight;
      owner = i;
    }
  }
  return owner;
}

}  // namespace pieces
