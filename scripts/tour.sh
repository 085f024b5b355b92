#!/usr/bin/env bash
# The article's five stages side by side: starts this build's work_service
# once per piece (--piece=0, the service's own design, then 1 to 5), runs the
# same workloads against each with build/tools/tour/piece_tour, and prints a
# table (README.md, "The five pieces, measured", shows one and what each row
# means). Takes about a minute, most of it stage 1 serving 200 units of a
# 100 ms key one at a time.
#
#   scripts/tour.sh              builds work_service and piece_tour in build/
#   scripts/tour.sh --no-build   uses what build/ has
#   THREADS=4 scripts/tour.sh    the services' --threads (default 4)
set -euo pipefail
cd "$(dirname "$0")/.."

build=1
for arg in "$@"; do
  case "$arg" in
    --no-build) build=0 ;;
    *) echo "usage: $0 [--no-build]" >&2; exit 2 ;;
  esac
done
threads="${THREADS:-4}"

if ((build)); then
  cmake -S . -B build -G Ninja >/dev/null
  cmake --build build -j 2 --target work_service piece_tour >/dev/null
fi

logs="$(mktemp -d)"
service=""
stop_service() {
  if [[ -n "$service" ]]; then
    kill -TERM "$service" 2>/dev/null || true
    wait "$service" 2>/dev/null || true
    service=""
  fi
}
trap 'stop_service; rm -rf "$logs"' EXIT

echo "| piece | results in request order? | Exited last? | results lost | computations per key (seen over trials) | unrelated throughput with a hot key (ratio) | pool threads tied up by the hot key |"
echo "|---|---|---|---|---|---|---|"
for piece in 0 1 2 3 4 5; do
  log="$logs/work_service_$piece.log"
  build/work_service/work_service --port=0 --piece="$piece" --work=key_ms \
    --threads="$threads" 2>"$log" &
  service=$!
  port=""
  for _ in $(seq 100); do
    port="$(sed -n 's/^work_service listening on 0\.0\.0\.0:\([0-9]*\)$/\1/p' "$log")"
    [[ -n "$port" ]] && break
    if ! kill -0 "$service" 2>/dev/null; then break; fi
    sleep 0.1
  done
  if [[ -z "$port" ]]; then
    echo "tour.sh: work_service --piece=$piece did not start:" >&2
    cat "$log" >&2
    exit 1
  fi
  build/tools/tour/piece_tour --target="localhost:$port"
  stop_service
done
