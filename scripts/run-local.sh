#!/usr/bin/env bash
# Builds and runs the pair on this machine, in the foreground: work_service on
# port 50052, main_service on 50051. Ctrl-C stops both (they drain first).
# Extra arguments go to work_service, e.g. --work=sleep:200ms.
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/install-deps.sh
cmake -S . -B build -G Ninja >/dev/null
cmake --build build --target work_service main_service pieces

build/work_service/work_service --port=50052 "$@" &
work=$!
build/main_service/main_service --port=50051 --work_address=localhost:50052 &
main=$!
trap 'kill -TERM $work $main 2>/dev/null' INT TERM
wait $main
kill -TERM $work 2>/dev/null || true
wait $work
