#!/usr/bin/env bash
# Builds everything and runs every test: the unit and integration tests
# (ctest, against the real binaries), then, unless --no-e2e is given or Docker
# is missing, the end-to-end suites through the containers: the pair
# (tests/e2e/e2e_test.sh), then three work_service replicas with Compose and,
# where a single-node Swarm can be started, with docker stack deploy
# (tests/e2e/scale_test.sh).
#
#   scripts/test.sh              all tests
#   scripts/test.sh --no-e2e     without the containers
#   PIECES_SANITIZE=thread scripts/test.sh --no-e2e   under ThreadSanitizer
set -euo pipefail
cd "$(dirname "$0")/.."

e2e=1
for arg in "$@"; do
  case "$arg" in
    --no-e2e) e2e=0 ;;
    *) echo "usage: $0 [--no-e2e]" >&2; exit 2 ;;
  esac
done

scripts/install-deps.sh

sanitize="${PIECES_SANITIZE:-}"
build_dir="build${sanitize:+-${sanitize//,/-}}"
cmake -S . -B "$build_dir" -G Ninja -DPIECES_SANITIZE="$sanitize" >/dev/null
cmake --build "$build_dir"
# Integration tests start processes on free ports; two at a time fits 2 cores.
ctest --test-dir "$build_dir" --output-on-failure -j 2

if ((e2e)); then
  if [[ -x tests/e2e/e2e_test.sh ]] && command -v docker >/dev/null 2>&1; then
    tests/e2e/e2e_test.sh
    tests/e2e/scale_test.sh
  else
    echo "test.sh: skipping the end-to-end suite (no Docker or no tests/e2e)"
  fi
fi
