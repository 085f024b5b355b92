#!/usr/bin/env bash
# Instructions per 1-key Run, counted by callgrind in one service at a time.
#
#   scripts/profile-run.sh [main|work] [N1] [N2] [BUILD_DIR]
#   PIECES_PROFILE_KEYS=$(seq -s, 0 99) scripts/profile-run.sh ...   100-key Runs
#
# Starts work_service --work=echo and main_service in front of it on free
# ports, one of them (main_service by default) under
# valgrind --tool=callgrind. After 20 warm-up Runs (the channels connect, key
# 1 is computed and cached), it zeroes the counts, makes N1 (default 500)
# sequential 1-key Runs with bench/run_loop and dumps, then N2 (default
# 2500) and dumps again. Each run_loop opens its own channel, so what does
# not grow with the number of calls cancels out in
#   (Ir of the second dump - Ir of the first) / (N2 - N1).
# The dumps stay in $PIECES_PROFILE_DIR (default /tmp/pieces-profile) as
# cg.<which>.1 and cg.<which>.2, for callgrind_annotate --inclusive=yes.
set -euo pipefail
cd "$(dirname "$0")/.."

which="${1:-main}"
n1="${2:-500}"
n2="${3:-2500}"
build="${4:-build}"
out="${PIECES_PROFILE_DIR:-/tmp/pieces-profile}"
case "$which" in main | work) ;; *) echo "usage: $0 [main|work] [N1] [N2] [BUILD_DIR]" >&2; exit 2 ;; esac
mkdir -p "$out"
rm -f "$out/cg.$which" "$out/cg.$which".*

pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; }
trap cleanup EXIT

# start NAME LOG ARGS...: starts a service (under callgrind if it is $which),
# waits for its "listening on" line and sets `port` and `pid`.
start() {
  local name="$1" log="$2"
  shift 2
  local cmd=("$@")
  if [[ "$name" == "$which" ]]; then
    cmd=(valgrind --tool=callgrind ${PIECES_VALGRIND_OPTIONS:-} --callgrind-out-file="$out/cg.$which" "${cmd[@]}")
  fi
  "${cmd[@]}" 2>"$log" &
  pid=$!
  pids+=("$pid")
  for _ in $(seq 600); do
    port="$(sed -n 's/.*listening on 0\.0\.0\.0:\([0-9]*\).*/\1/p' "$log" | head -1)"
    [[ -n "$port" ]] && return 0
    sleep 0.1
  done
  echo "$name did not start; see $log" >&2
  exit 1
}

start work "$out/work.log" "$build/work_service/work_service" --port=0 --reflection=false --work=echo
work_port="$port"; work_pid="$pid"
start main "$out/main.log" "$build/main_service/main_service" --port=0 --reflection=false \
  --work_address="localhost:$work_port"
main_port="$port"; main_pid="$pid"
if [[ "$which" == main ]]; then vg_pid="$main_pid"; else vg_pid="$work_pid"; fi

loop() { "$build/bench/run_loop" --target="localhost:$main_port" --calls="$1" --keys="${PIECES_PROFILE_KEYS:-1}" >/dev/null; }
# The first calls may fail while a service under valgrind is slow to answer
# the connection's SETTINGS frame.
for attempt in $(seq 10); do
  loop 20 2>/dev/null && break
  (( attempt < 10 )) || { echo "warm-up Runs failed" >&2; exit 1; }
  sleep 1
done
callgrind_control -z "$vg_pid" >/dev/null 2>&1
loop "$n1"
callgrind_control -d "$vg_pid" >/dev/null 2>&1
loop "$n2"
callgrind_control -d "$vg_pid" >/dev/null 2>&1

ir() { sed -n 's/^summary: *\([0-9]*\).*/\1/p' "$1"; }
i1="$(ir "$out/cg.$which.1")"
i2="$(ir "$out/cg.$which.2")"
echo "$which: $n1 Runs $i1 Ir, $n2 Runs $i2 Ir, per Run $(( (i2 - i1) / (n2 - n1) ))"
# The same without absl::Mutex::Lock's own instructions, most of which are
# spinning on a contended lock (gRPC's pollers, under valgrind's one-thread-
# at-a-time scheduling): a steadier figure for small changes.
lock_ir() {
  callgrind_annotate --threshold=100 "$1" 2>/dev/null |
    sed -n 's/^ *\([0-9,]*\) .*absl::[a-z0-9]*::Mutex::Lock() .*/\1/p' | tr -d , | head -1
}
l1="$(lock_ir "$out/cg.$which.1")"
l2="$(lock_ir "$out/cg.$which.2")"
echo "$which: per Run without Mutex::Lock $(( (i2 - l2 - i1 + l1) / (n2 - n1) )), Mutex::Lock $(( (l2 - l1) / (n2 - n1) ))"
