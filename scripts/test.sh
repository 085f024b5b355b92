#!/usr/bin/env bash
# Checks the formatting of the C++ code (scripts/check-format.sh), builds
# everything and runs every test: the unit and integration tests
# (ctest, against the real binaries), the parse of the deployment manifests
# (tests/docker/manifests_test.sh), then, unless --no-e2e is given, the README's
# TLS and --reflection=false grpcurl commands against the built binaries
# (tests/e2e/tls_grpcurl_test.sh) and the end-to-end suites through the
# containers: the pair (tests/e2e/e2e_test.sh), then three work_service replicas
# with Compose and with docker stack deploy on a single-node Swarm
# (tests/e2e/scale_test.sh). Without Docker, only --no-e2e passes.
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

# Checked first, so that a machine without Docker fails at once, not after the build.
if ((e2e)) && { ! command -v docker >/dev/null 2>&1 || ! docker info >/dev/null 2>&1; }; then
  echo "test.sh: the end-to-end suites need a running Docker engine; give --no-e2e to leave them out" >&2
  exit 1
fi

scripts/install-deps.sh
scripts/check-format.sh

sanitize="${PIECES_SANITIZE:-}"
build_dir="build${sanitize:+-${sanitize//,/-}}"
cmake -S . -B "$build_dir" -G Ninja -DPIECES_SANITIZE="$sanitize" >/dev/null
cmake --build "$build_dir"
# Integration tests start processes on free ports; two at a time fits 2 cores.
ctest --test-dir "$build_dir" --output-on-failure -j 2

tests/docker/manifests_test.sh

if ((e2e)); then
  PIECES_BUILD_DIR="$build_dir" tests/e2e/tls_grpcurl_test.sh
  tests/e2e/e2e_test.sh
  tests/e2e/scale_test.sh
fi
