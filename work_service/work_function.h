// The work that work_service runs for a key, chosen by the --work flag.
//
//   echo            value = key, at once (the seed's work).
//   sleep:DURATION  sleeps DURATION (e.g. 100ms, 1.5s), then value = key: a
//                   stand-in for I/O such as a fetch.
//   cpu:N           a deterministic CPU-bound function of the key: N rounds of
//                   the splitmix64 mixing step (one round is two multiplies,
//                   three xor-shifts and an add, a couple of nanoseconds).
//   fail_odd:DURATION
//                   for tests: sleeps DURATION, then fails with INTERNAL for
//                   odd keys and returns value = key for even keys.
//   block:PATH      for tests: waits until the file PATH exists, then
//                   value = key, so that a test decides when work ends instead
//                   of guessing how long it takes. A unit that finds PATH
//                   absent prints "block work: key KEY waits for PATH" to
//                   stderr first, so that a test knows which units are
//                   computing (and not queued). After 30 s without PATH it
//                   fails with DEADLINE_EXCEEDED, so that a test that forgets
//                   to release it cannot keep the service from exiting.
//   key_ms          sleeps (key mod 10000) milliseconds, then value = key: each
//                   key chooses its own duration, so that one workload can
//                   mix a slow key with fast ones (tests, scripts/tour.sh).
//
// Thread safety: Compute() is const and may run on many threads at once.
#ifndef PIECES_WORK_SERVICE_WORK_FUNCTION_H_
#define PIECES_WORK_SERVICE_WORK_FUNCTION_H_

#include <cstdint>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace pieces {

class WorkFunction {
 public:
  virtual ~WorkFunction() = default;

  // Computes the value of `key`. May block (sleep) or burn CPU; never called
  // with a lock held.
  virtual absl::StatusOr<uint64_t> Compute(uint64_t key) const = 0;

  // The spec this function was made from, e.g. "sleep:100ms".
  virtual std::string Describe() const = 0;
};

// Makes the work function named by `spec` (see the list above). Returns
// INVALID_ARGUMENT, saying what is accepted, for anything else.
absl::StatusOr<std::unique_ptr<WorkFunction>> MakeWorkFunction(
    absl::string_view spec);

// The cpu:N function itself, exposed for tests.
uint64_t MixRounds(uint64_t key, uint64_t rounds);

}  // namespace pieces

#endif  // PIECES_WORK_SERVICE_WORK_FUNCTION_H_
