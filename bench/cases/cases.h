// The cases of the performance issue, one function each, in the issue's
// numbering (BENCHMARKS.md, "The cases"). Each measures its figures against
// the servers it starts (and the shared echo server), adds them and their
// notes to suite.report(), and returns an error only when it cannot measure:
// a server does not start, a call fails, or one of its own checks fails. A
// figure that misses its goal is not an error.
//
// Thread safety: run them one after another on the main thread (suite.h).
#ifndef PIECES_BENCH_CASES_CASES_H_
#define PIECES_BENCH_CASES_CASES_H_

#include "absl/status/status.h"
#include "bench/suite.h"

namespace pieces::bench {

// 1: the bare echo stream, 1 and 8 streams: the transport ceiling.
absl::Status RunTransportCeiling(Suite& suite);
// 2: Process sessions on cached keys, each paired with echo.
absl::Status RunCacheHitPath(Suite& suite);
// 3: fresh keys through --work=cpu:N with 1 and 2 threads, beside the bare
// computation on 1 and 2 threads.
absl::Status RunComputePath(Suite& suite);
// 4: 1,000 requests for one fresh, slow key compute it once.
absl::Status RunCoalescing(Suite& suite);
// 5: 16 units per message, for reference.
absl::Status RunBatchingReference(Suite& suite);
// 6: cached keys' rate while requests wait on one slow key.
absl::Status RunHotKey(Suite& suite);
// 7: MainService.Run against the bare unary echo and the bare two hops.
absl::Status RunThroughMainService(Suite& suite);
// 8: work_service's VmRSS per cached entry.
absl::Status RunMemory(Suite& suite);
// 9: pieces beside the Go peer (--go_peer) on each path of issue 12's table:
// throughput and server CPU per unit or call, and VmRSS per cached entry.
absl::Status RunAgainstGoPeer(Suite& suite);

}  // namespace pieces::bench

#endif  // PIECES_BENCH_CASES_CASES_H_
