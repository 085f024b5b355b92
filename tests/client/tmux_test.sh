#!/usr/bin/env bash
# The pieces client on a terminal, as a person sees it, under tmux:
#   1. `pieces run` of enough slow keys shows one progress line
#      (done/total, rate, ETA) updated in place, then the summary, exit 0;
#   2. `pieces watch --interval=200ms` shows the table, refreshes it (the
#      counters move when a run goes by), and Ctrl-C ends it with exit 0.
# Polls tmux capture-pane rather than sleeping blindly. ctest runs it with
# the three programs' paths:
#   tmux_test.sh PIECES WORK_SERVICE MAIN_SERVICE
# Prints "N passed, M failed" last; exits non-zero on any failure.
set -euo pipefail

if (($# != 3)); then
  echo "usage: $0 PIECES WORK_SERVICE MAIN_SERVICE" >&2
  exit 2
fi
pieces_bin=$(realpath "$1")
work_bin=$(realpath "$2")
main_bin=$(realpath "$3")
command -v tmux >/dev/null || { echo "tmux is missing: scripts/install-deps.sh installs it" >&2; exit 1; }

dir=$(mktemp -d "${TMPDIR:-/tmp}/pieces-tmux.XXXXXX")
# A tmux server of this test's own (-L), so that no user's session is touched.
socket="pieces-test-$$"
tmux_() { tmux -L "$socket" "$@"; }
pids=()
passed=0
failed=0

finish() {
  local rc=$?
  set +e
  tmux_ kill-server 2>/dev/null
  local pid
  for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null; done
  for pid in "${pids[@]}"; do
    wait "$pid"
    local code=$?
    ((code == 0)) || { echo "FAIL: a service (pid $pid) exited with $code"; failed=$((failed + 1)); }
  done
  if ((failed > 0 || rc != 0)); then
    for f in "$dir"/*.log; do [[ -e $f ]] && { echo "$f:"; tail -n 20 "$f" | sed 's/^/  | /'; }; done
  fi
  rm -rf "$dir"
  echo "$passed passed, $failed failed"
  ((failed == 0 && rc == 0))
}
trap finish EXIT

pass() { echo "ok: $1"; passed=$((passed + 1)); }
fail() { echo "FAIL: $1"; failed=$((failed + 1)); }

# start NAME BINARY ARGS...: runs BINARY --port=0 ARGS... in the background and
# sets $port from its "listening on 0.0.0.0:PORT" line.
start() {
  local name=$1 bin=$2
  shift 2
  # Made here: the background shell may open it after the first sed below.
  : >"$dir/$name.log"
  "$bin" --port=0 "$@" 2>>"$dir/$name.log" &
  pids+=($!)
  local i
  for ((i = 0; i < 200; i++)); do
    port=$(sed -n 's/.*listening on 0\.0\.0\.0:\([0-9]*\).*/\1/p' "$dir/$name.log")
    [[ -n $port ]] && return 0
    sleep 0.1
  done
  echo "$name did not start:" >&2
  cat "$dir/$name.log" >&2
  exit 1
}

# await_pane SESSION REGEX [SECONDS]: polls the pane until its text matches
# REGEX (extended); the pane's text in $pane. False on timeout.
await_pane() {
  local session=$1 regex=$2 seconds=${3:-20} i
  for ((i = 0; i < seconds * 20; i++)); do
    pane=$(tmux_ capture-pane -p -t "$session")
    grep -Eq -- "$regex" <<<"$pane" && return 0
    sleep 0.05
  done
  return 1
}

start work "$work_bin" --work=sleep:1ms --threads=4
work_port=$port
start main "$main_bin" --work_address=localhost:$work_port
address=localhost:$port

# The panes are wide, so that the tables do not wrap.
tmux_ new-session -d -s run -x 160 -y 40 \
  "'$pieces_bin' run 1-8000 --address=$address; echo EXIT=\$?; sleep 600"

# 1. The progress line: done/total, percent, rate and ETA, on one line.
progress='^ *[0-9]+/8000 +[0-9]+% +[0-9.]+/s +ETA [0-9.hms]+ *$'
if await_pane run "$progress"; then
  first=$(grep -E -- "$progress" <<<"$pane")
  pass "a progress line appears: $first"
  # Updated in place: the one line changes (or the run ends), and the pane
  # never holds two progress lines.
  changed=""
  for ((i = 0; i < 400; i++)); do
    pane=$(tmux_ capture-pane -p -t run)
    if (($(grep -Ec -- "$progress" <<<"$pane") > 1)); then
      fail "more than one progress line: $pane"
      break
    fi
    now=$(grep -E -- "$progress" <<<"$pane" || true)
    if [[ $now != "$first" ]]; then
      changed=${now:-"(gone: the run ended)"}
      break
    fi
    sleep 0.05
  done
  if [[ -n $changed ]]; then
    pass "the progress line is redrawn in place, now: $changed"
  else
    fail "the progress line did not change: $first"
  fi
else
  fail "no progress line appeared; the pane shows: $pane"
fi

if await_pane run '^EXIT=' 60; then
  if grep -Eq '^8000 results in [0-9.]+s \([0-9.]+/s\): 8000 new, 0 cached, 0 waited, 0 failed$' <<<"$pane" &&
    grep -q '^EXIT=0$' <<<"$pane"; then
    pass "the summary replaces the progress line; exit 0"
  else
    fail "summary or exit code wrong: $pane"
  fi
  if grep -Eq -- "$progress" <<<"$pane"; then
    fail "a progress line was left behind: $pane"
  else
    pass "no progress line is left behind"
  fi
else
  fail "the run did not end: $pane"
fi

# 2. watch: the table appears, refreshes, Ctrl-C ends it with exit 0.
tmux_ new-session -d -s watch -x 160 -y 40 \
  "'$pieces_bin' watch --interval=200ms --address=$address; echo EXIT=\$?; sleep 600"
row="^total +[0-9]+ +8000 +0 +0 +0 +8000 +(-|[0-9.]+/s) +(-|[0-9.]+/s)"
if await_pane watch "computed/s +from_cache/s" && await_pane watch "$row"; then
  pass "watch shows the table with rate columns"
else
  fail "watch shows no table: $pane"
fi
# A run of cached keys moves the from_cache counter; the next refresh shows it.
"$pieces_bin" run 1-8000 --address="$address" >"$dir/cached-run.log" 2>&1 ||
  fail "the cached run failed: $(cat "$dir/cached-run.log")"
if await_pane watch "^total +[0-9]+ +8000 +8000 +0 +0 +8000 "; then
  pass "watch refreshes: from_cache went to 8000"
else
  fail "watch did not refresh: $pane"
fi
if [[ $(grep -c '^address ' <<<"$pane") == 1 ]]; then
  pass "watch redraws in place (one table on the screen)"
else
  fail "watch drew more than one table on the screen: $pane"
fi
tmux_ send-keys -t watch C-c
if await_pane watch '^EXIT=' 10; then
  if grep -q '^EXIT=0$' <<<"$pane"; then
    pass "Ctrl-C ends watch with exit 0"
  else
    fail "watch ended with: $(grep '^EXIT=' <<<"$pane")"
  fi
else
  fail "watch did not end on Ctrl-C: $pane"
fi
