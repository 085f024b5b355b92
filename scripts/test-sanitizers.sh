#!/usr/bin/env bash
# Runs the unit and integration tests under the sanitizers, then checks the
# lock annotations with clang; fails on the first failure. Any sanitizer report
# fails its test (the services a test starts included):
#
#   1. AddressSanitizer + UndefinedBehaviorSanitizer, with LeakSanitizer
#      (build-address-undefined; leaks not ours are named in tests/lsan.supp)
#   2. ThreadSanitizer (build-thread; see common/tsan/ and tests/tsan.supp)
#   3. a clang build, where -Wthread-safety checks ABSL_GUARDED_BY and the
#      other lock annotations, warnings as errors (build-clang)
#
# Each build takes a few minutes on two cores; the tests under each sanitizer
# take well under a minute.
set -euo pipefail
cd "$(dirname "$0")/.."

if (($#)); then
  echo "usage: $0" >&2
  exit 2
fi

scripts/install-deps.sh --clang

for sanitize in address,undefined thread; do
  echo "test-sanitizers: the tests under ${sanitize}"
  PIECES_SANITIZE="$sanitize" scripts/test.sh --no-e2e
done

echo "test-sanitizers: clang build with -Wthread-safety"
CXX=clang++ cmake -S . -B build-clang -G Ninja >/dev/null
cmake --build build-clang

echo "test-sanitizers: all passed"
