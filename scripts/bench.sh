#!/usr/bin/env bash
# Builds the benchmark and runs it (see BENCHMARKS.md).
#
#   scripts/bench.sh                 every case, Release build in build-release/
#                                    (about 6 minutes; quote the ratios)
#   scripts/bench.sh --quick         every case briefly, in build/ (the tests'
#                                    build, so CI compiles nothing twice)
#   scripts/bench.sh -- --cases=2,3  anything after -- goes to pieces_bench
#
# It fails only if the benchmark cannot run (a build error, the Go peer's
# included, a service that does not start, a call that fails), never on a
# figure: benchmarks report, tests assert. Builds with at most two jobs (the
# machine is shared). The Go peer of case 9 is built into BUILD_DIR/go with
# Go's module proxy (bench/peers/go/build.sh) and given as --go_peer.
set -euo pipefail
cd "$(dirname "$0")/.."

quick=0
bench_args=()
while (($#)); do
  case "$1" in
    --quick) quick=1 ;;
    --) shift; bench_args+=("$@"); break ;;
    *) echo "usage: $0 [--quick] [-- pieces_bench flags...]" >&2; exit 2 ;;
  esac
  shift
done

scripts/install-deps.sh

if ((quick)); then
  build_dir=build
  cmake -S . -B "$build_dir" -G Ninja >/dev/null
  bench_args=(--quick "${bench_args[@]}")
else
  build_dir=build-release
  cmake -S . -B "$build_dir" -G Ninja -DCMAKE_BUILD_TYPE=Release \
    -DPIECES_BUILD_TESTS=OFF -DPIECES_BUILD_BENCH=ON >/dev/null
fi
cmake --build "$build_dir" -j 2 --target pieces_bench

# Case 9's Go peer (bench/peers/go). A failed build fails the run: the case
# must not go missing from CI unnoticed.
if ! bench/peers/go/build.sh "$build_dir/go"; then
  echo "scripts/bench.sh: the Go peer did not build (bench/peers/go/build.sh)" >&2
  exit 1
fi

exec "$build_dir/bench/pieces_bench" --go_peer="$build_dir/go/pieces-go" \
  "${bench_args[@]}"
