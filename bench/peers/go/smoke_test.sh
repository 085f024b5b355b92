#!/usr/bin/env bash
# Smoke test of the Go peer: bench/peers/go/smoke_test.sh BUILD_OUT_DIR
#
# Starts `pieces-go work --work=sleep:200ms` and `pieces-go main` on free
# ports, calls them with grpcurl (by reflection) and checks:
#   1. Run {keys: [1, 2, 1]}: results in request order (ids 0, 1, 2), key 2
#      and one of the two key-1 units PERFORMED_NEW, the other
#      PERFORMED_FROM_CACHE with waited true; completed 3.
#   2. RunStream {keys: [5, 6, 5]}: three results (each id once, one computed
#      per key, the other key-5 unit waited), then one Exited{completed: 3}, last.
#   3. Process straight to work: two Work with key 9, then Exit: one NEW, one
#      FROM_CACHE (waited), then Exited{completed: 2}, last.
#   4. Run {keys: []}: InvalidArgument, "'keys' is empty; give at least one key to run".
#   5. GetStats on work: computed 5 (keys 1, 2, 5, 6, 9), from_cache 3, waited 3.
#   6. Both exit 0 on SIGTERM.
# Which of two equal keys computes is up to the scheduler (the contract names
# no unit), so 1-3 check that exactly one did and the other waited for it.
# Exits non-zero on the first failure; stops what it started.
set -uo pipefail

if [[ $# -ne 1 ]]; then
  echo "usage: $0 BUILD_OUT_DIR" >&2
  exit 2
fi
bin=$1/pieces-go
[[ -x $bin ]] || { echo "smoke: no $bin; run build.sh first" >&2; exit 2; }
command -v grpcurl >/dev/null || { echo "smoke: grpcurl not found; run scripts/install-tools.sh" >&2; exit 2; }
command -v jq >/dev/null || { echo "smoke: jq not found" >&2; exit 2; }

tmp=$(mktemp -d)
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill -KILL "$pid" 2>/dev/null; done
  rm -rf "$tmp"
}
trap cleanup EXIT

failures=0
pass() { echo "ok   $1"; }
fail() { echo "FAIL $1"; failures=$((failures + 1)); }

# start NAME ARGS...: starts the program, waits for its "listening on" line
# and sets PORT.
start() {
  local name=$1
  shift
  "$bin" "$@" 2>"$tmp/$name.log" &
  pids+=($!)
  for _ in $(seq 100); do
    PORT=$(sed -n 's/.* listening on 0\.0\.0\.0:\([0-9][0-9]*\)$/\1/p' "$tmp/$name.log")
    [[ -n $PORT ]] && return 0
    sleep 0.1
  done
  echo "smoke: $name did not start listening; it printed:" >&2
  cat "$tmp/$name.log" >&2
  exit 1
}

# check NAME JQ_FILTER FILE: passes when the filter gives true on FILE's
# JSON messages, slurped into one array.
check() {
  if jq -e -s "$2" "$3" >/dev/null 2>&1; then
    pass "$1"
  else
    fail "$1"
    echo "  got:"
    jq -c -s . "$3" 2>/dev/null || cat "$3"
  fi
}

start work work --port=0 --work=sleep:200ms
work=127.0.0.1:$PORT
start main main --port=0 --work_address="$work"
main=127.0.0.1:$PORT
call() { grpcurl -plaintext -max-time 10 "$@"; }

# jq: one of two equal-key results computed, the other waited for it.
one_new_one_waited='(map(.performed) | sort) == ["PERFORMED_FROM_CACHE", "PERFORMED_NEW"]
  and (map(select(.performed == "PERFORMED_FROM_CACHE")) | .[0].waited == true)
  and (map(select(.performed == "PERFORMED_NEW")) | .[0].waited != true)'

call -d '{"keys": [1, 2, 1]}' "$main" pieces.v1.MainService/Run >"$tmp/run.json" 2>&1
check "Run [1,2,1]: request order, key 2 and one key-1 unit NEW, the other FROM_CACHE waited, completed 3" "
  .[0] as \$r | (\$r.results | length) == 3
  and ([\$r.results[] | (.id // \"0\")] == [\"0\", \"1\", \"2\"])
  and ([\$r.results[] | .key] == [\"1\", \"2\", \"1\"])
  and ([\$r.results[] | .value] == [\"1\", \"2\", \"1\"])
  and \$r.results[1].performed == \"PERFORMED_NEW\"
  and ([\$r.results[0], \$r.results[2]] | $one_new_one_waited)
  and \$r.completed == \"3\"" "$tmp/run.json"

call -d '{"keys": [5, 6, 5]}' "$main" pieces.v1.MainService/RunStream >"$tmp/stream.json" 2>&1
check "RunStream [5,6,5]: three results, one computed per key, then Exited{3} last" "
  length == 4
  and (.[:3] | all(has(\"result\")))
  and ([.[:3][] | .result.id // \"0\"] | sort) == [\"0\", \"1\", \"2\"]
  and ([.[:3][] | .result | select(.key == \"6\")] | length == 1 and .[0].performed == \"PERFORMED_NEW\")
  and ([.[:3][] | .result | select(.key == \"5\")] | $one_new_one_waited)
  and .[3] == {\"exited\": {\"completed\": \"3\"}}" "$tmp/stream.json"

call -d '{"work": {"id": 1, "key": 9}} {"work": {"id": 2, "key": 9}} {"exit": {}}' \
  "$work" pieces.v1.WorkService/Process >"$tmp/process.json" 2>&1
check "Process two Work with key 9, Exit: one NEW, one FROM_CACHE waited, Exited{2} last" "
  length == 3
  and ([.[:2][] | .result.id] | sort) == [\"1\", \"2\"]
  and ([.[:2][] | .result] | $one_new_one_waited)
  and .[2] == {\"exited\": {\"completed\": \"2\"}}" "$tmp/process.json"

if call -d '{"keys": []}' "$main" pieces.v1.MainService/Run >"$tmp/empty.txt" 2>&1; then
  fail "Run []: InvalidArgument (the call succeeded)"
elif grep -q "Code: InvalidArgument" "$tmp/empty.txt" &&
  grep -qF "Message: 'keys' is empty; give at least one key to run" "$tmp/empty.txt"; then
  pass "Run []: InvalidArgument \"'keys' is empty; give at least one key to run\""
else
  fail "Run []: InvalidArgument with the message"
  cat "$tmp/empty.txt"
fi

call "$work" pieces.v1.WorkService/GetStats >"$tmp/stats.json" 2>&1
check "GetStats: computed 5, from_cache 3, waited 3, work_received 8, in_flight 0" '
  .[0] | .computed == "5" and .fromCache == "3" and .waited == "3"
  and .workReceived == "8" and (.inFlight // "0") == "0"' "$tmp/stats.json"

for i in 1 0; do
  pid=${pids[$i]}
  kill -TERM "$pid"
  wait "$pid"
  code=$?
  if [[ $code -eq 0 ]]; then pass "pid $pid exits 0 on SIGTERM"; else fail "pid $pid exits 0 on SIGTERM (got $code)"; fi
done
pids=()

if [[ $failures -gt 0 ]]; then
  echo "smoke: $failures check(s) failed"
  exit 1
fi
echo "smoke: all checks passed"
