#!/usr/bin/env bash
# End-to-end test of the docker-compose deployment: builds the images, starts both
# services and Prometheus, drives the services with grpcurl from the host, checks
# what Prometheus scraped of them against the calls made, stops and restarts
# work_service, and checks that both programs exit 0 on SIGTERM. Always tears the
# stack down.
# Prints "N passed, M failed" last; exits non-zero on any failure.
#
# Needs: docker, docker-compose (or `docker compose`), grpcurl (scripts/install-tools.sh
# installs it when missing), jq (installed with apt-get when missing), curl. Uses host
# ports 50051, 50052 and 9090. Env: E2E_PROJECT (compose project name), E2E_HEALTH_TIMEOUT (s),
# E2E_COMPOSE (the Compose command).
set -euo pipefail

repo_root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$repo_root"

project=${E2E_PROJECT:-pieces-e2e}
health_timeout=${E2E_HEALTH_TIMEOUT:-60}
main_addr=localhost:50051
work_addr=localhost:50052

# shellcheck source=tests/e2e/lib.sh
source tests/e2e/lib.sh

log_dir=$(mktemp -d "${TMPDIR:-/tmp}/pieces-e2e.XXXXXX")
passed=0
failed=0
stack_up=false

finish() {
  local rc=$?
  set +e
  if $stack_up; then
    if ((failed > 0 || rc != 0)); then
      log "logs of the failed run:"
      "${compose[@]}" logs --no-color --tail=40 2>&1 | sed 's/^/     | /'
    fi
    "${compose[@]}" down -v --remove-orphans >>"$log_dir/compose.log" 2>&1
  fi
  report_and_exit "$rc"
}
trap finish EXIT

# --- build and start -------------------------------------------------------------
t0=$SECONDS
build_images
log "built in $((SECONDS - t0))s; image size $(docker image inspect -f '{{.Size}}' pieces:latest | numfmt --to=iec)"

# Leftovers of an interrupted earlier run would hold the ports.
"${compose[@]}" down -v --remove-orphans >>"$log_dir/compose.log" 2>&1 || true
stack_up=true
up_since=$(date +%s.%N)
"${compose[@]}" up -d >>"$log_dir/compose.log" 2>&1 || { cat "$log_dir/compose.log"; exit 1; }
t1=$SECONDS
if wait_healthy work_service main_service; then
  pass "both services healthy in $((SECONDS - t1))s"
else
  fail "both services healthy"
  exit 1
fi
main_started=$(docker inspect -f '{{.State.StartedAt}}' "$(cid main_service)")
# depends_on condition: service_healthy: main_service's container starts only after
# Docker has seen work_service healthy. From the engine's own events, so that a slow
# start-up alone cannot pass it: work_service's first "healthy" precedes main's start.
work_cid=$(cid work_service)
main_cid=$(cid main_service)
docker events --since "$up_since" --until "$(date +%s.%N)" --filter type=container \
  --filter "container=$work_cid" --filter "container=$main_cid" \
  --format '{{.TimeNano}} {{.ID}} {{.Status}}' >"$log_dir/events.log"
work_healthy_ns=$(awk -v id="$work_cid" 'index($2, id) == 1 && $3 == "health_status:" && $4 == "healthy" { print $1; exit }' "$log_dir/events.log")
main_start_ns=$(awk -v id="$main_cid" 'index($2, id) == 1 && $3 == "start" { print $1; exit }' "$log_dir/events.log")
if [[ -n $work_healthy_ns && -n $main_start_ns ]] && ((main_start_ns > work_healthy_ns)); then
  pass "main_service started $(((main_start_ns - work_healthy_ns) / 1000000))ms after work_service was healthy"
else
  fail "main_service started only after work_service was healthy" "$(cat "$log_dir/events.log")"
fi

# --- reflection ------------------------------------------------------------------
grpc $main_addr list
if ((rc == 0)) && grep -qx pieces.v1.MainService <<<"$out" && grep -qx grpc.health.v1.Health <<<"$out"; then
  pass "list on :50051 shows MainService and Health"
else fail "list on :50051 shows MainService and Health" "$out"; fi

grpc $work_addr list
if ((rc == 0)) && grep -qx pieces.v1.WorkService <<<"$out"; then
  pass "list on :50052 shows WorkService"
else fail "list on :50052 shows WorkService" "$out"; fi

grpc $main_addr describe pieces.v1.MainService
if ((rc == 0)) && grep -q 'rpc Run (' <<<"$out" && grep -q 'rpc RunStream (' <<<"$out" &&
  grep -q 'rpc GetClusterStats (' <<<"$out"; then
  pass "describe pieces.v1.MainService"
else fail "describe pieces.v1.MainService" "$out"; fi

grpc $work_addr describe pieces.v1.WorkService
if ((rc == 0)) && grep -q 'rpc Process (' <<<"$out" && grep -q 'rpc GetStats (' <<<"$out"; then
  pass "describe pieces.v1.WorkService"
else fail "describe pieces.v1.WorkService" "$out"; fi

# --- MainService -----------------------------------------------------------------
call $main_addr pieces.v1.MainService/Run '{"keys":[1,2,1]}'
if ((rc == 0)); then
  # grpcurl prints uint64 as strings and omits default values (id 0, waited false).
  # As the README shows it: two NEW, and the second 1 waited for the first (the
  # work sleeps 200 ms per key, and this stack's cache starts empty).
  expect "Run [1,2,1]: results in request order, two NEW, the repeat FROM_CACHE after waiting" \
    "$(jq -c '[.results[] | [(.id // "0"), .key, .value, .performed, (.waited // false)]]' <<<"$out")" \
    '[["0","1","1","PERFORMED_NEW",false],["1","2","2","PERFORMED_NEW",false],["2","1","1","PERFORMED_FROM_CACHE",true]]' "$out"
  expect "Run [1,2,1]: completed 3" "$(jq -r '.completed' <<<"$out")" 3 "$out"
else fail "Run [1,2,1]" "$out"; fi

# Equal keys in one run are computed once (coalescing), whatever the order.
call $main_addr pieces.v1.MainService/Run '{"keys":[10,10,10,10]}'
if ((rc == 0)); then
  expect "Run [10,10,10,10]: computed once" \
    "$(jq -c '[.results[].performed] | group_by(.) | map([.[0], length])' <<<"$out")" \
    '[["PERFORMED_FROM_CACHE",3],["PERFORMED_NEW",1]]' "$out"
else fail "Run [10,10,10,10]" "$out"; fi

call $main_addr pieces.v1.MainService/RunStream '{"keys":[3,4,3]}'
if ((rc == 0)); then
  expect "RunStream [3,4,3]: three results then exited" \
    "$(jq -sc '[.[] | keys[0]]' <<<"$out")" '["result","result","result","exited"]' "$out"
  expect "RunStream [3,4,3]: every key answered" \
    "$(jq -sc '[.[] | select(.result) | .result.key] | sort' <<<"$out")" '["3","3","4"]' "$out"
  expect "RunStream [3,4,3]: exited.completed 3" \
    "$(jq -sr 'last | .exited.completed' <<<"$out")" 3 "$out"
else fail "RunStream [3,4,3]" "$out"; fi

# expect_status NAME CODE MESSAGE: the last grpc call failed with status CODE
# (grpcurl exits 64 + its number) and exactly MESSAGE, as grpcurl prints them.
expect_status() {
  local -A number=([InvalidArgument]=3 [FailedPrecondition]=9 [ResourceExhausted]=8 [Unavailable]=14)
  local want="exit $((64 + number[$2]))"$'\n'"ERROR:"$'\n'"  Code: $2"$'\n'"  Message: $3"
  expect "$1" "exit $rc"$'\n'"$out" "$want"
}

# The README's example error, word for word.
call $main_addr pieces.v1.MainService/Run '{"keys":[]}'
expect_status "Run with empty keys: InvalidArgument with the README's message" InvalidArgument \
  "'keys' is empty; give at least one key to run"

# A well-formed request the service refuses: more keys than --max_keys (100000).
jq -nc '{keys: [range(0; 100001)]}' >"$log_dir/too_many_keys.json"
rc=0
out=$(grpcurl -plaintext -max-time 30 -d @ $main_addr pieces.v1.MainService/Run <"$log_dir/too_many_keys.json" 2>&1) || rc=$?
expect_status "Run with 100,001 keys: InvalidArgument naming --max_keys" InvalidArgument \
  "'keys' has 100001 keys; this service takes at most 100000 per request (--max_keys)"

# A malformed message that reaches the server: a WorkMsg with no field set.
grpc -d '{}' $work_addr pieces.v1.WorkService/Process
expect_status "Process with an empty WorkMsg: InvalidArgument, saying what is missing" InvalidArgument \
  "a WorkMsg must set exactly one of 'work', 'batch', 'exit' or 'cancel'; this one set none (or only a field this service does not know)"

# The same id twice in one session: refused by the session, not by grpcurl (keys
# not cached yet, so no result comes before the error).
grpc -d '{"work":{"id":1,"key":9001}} {"work":{"id":1,"key":9002}}' $work_addr pieces.v1.WorkService/Process
expect_status "Process with a repeated id: InvalidArgument naming the id" InvalidArgument \
  "Work id=1 was already used in this session; ids must be unique within a session"

call $main_addr pieces.v1.MainService/Run '{"keys":[5]}'
if ((rc == 0)) && [[ $(health main_service)/$(health work_service) == healthy/healthy ]]; then
  pass "services still up after bad requests"
else fail "services still up after bad requests" "exit $rc"$'\n'"$out"; fi

# --- WorkService -----------------------------------------------------------------
# A Process session typed as JSON lines on stdin, as a person would with grpcurl.
rc=0
out=$(printf '%s\n' '{"work":{"id":1,"key":7}}' '{"work":{"id":2,"key":7}}' '{"exit":{}}' |
  grpcurl -plaintext -max-time 10 -d @ $work_addr pieces.v1.WorkService/Process 2>&1) || rc=$?
if ((rc == 0)); then
  expect "Process session: two results then exited" \
    "$(jq -sc '[.[] | keys[0]]' <<<"$out")" '["result","result","exited"]' "$out"
  # Which of the two computes depends on thread timing; exactly one must.
  expect "Process session: ids 1 and 2, key 7, one computed and one from cache" \
    "$(jq -sc '[.[] | select(.result) | .result] |
      [(map(.id) | sort), (map(.key) | unique), (map(.performed) | sort)]' <<<"$out")" \
    '[["1","2"],["7"],["PERFORMED_FROM_CACHE","PERFORMED_NEW"]]' "$out"
  expect "Process session: exited.completed 2" "$(jq -sr 'last | .exited.completed' <<<"$out")" 2 "$out"
else fail "Process session" "exit $rc"$'\n'"$out"; fi

call $work_addr pieces.v1.WorkService/GetStats '{}'
work_stats=$out
if ((rc == 0)); then
  expect "GetStats: --threads=4 from compose" "$(jq -r '.threads' <<<"$out")" 4 "$out"
else fail "GetStats" "$out"; fi

call $main_addr pieces.v1.MainService/GetClusterStats '{}'
if ((rc == 0)); then
  # One replica: the address Docker's DNS gives for work_service, and main's sum
  # equals that replica's own stats.
  expect "GetClusterStats: one replica, answering, routable" \
    "$(jq -c '[(.replicas | length), .replicas_answered, .replicas[0].routable, .replicas[0].target]' <<<"$out")" \
    '[1,"1",true,"work_service:50052"]' "$out"
  # Nothing ran since work_service's own GetStats above: main's view of the
  # work done must be what work_service itself reported.
  expect "GetClusterStats: total is what work_service reports of itself" \
    "$(jq -c --argjson work "$work_stats" \
      '[.total.computed, .total.from_cache, .total.work_received, .total.cache_entries] ==
       [$work.computed, $work.from_cache, $work.work_received, $work.cache_entries]' <<<"$out")" \
    true "$out"$'\n'"work_service: $work_stats"
else fail "GetClusterStats" "$out"; fi

# --- Prometheus --------------------------------------------------------------------
# Prometheus (docker/prometheus.yml) scrapes both services every 5 s; each check
# polls its HTTP API until the answer is the expected one, bounded by 90 s.
prom=http://localhost:9090
# prom_query QUERY: an instant query; the JSON answer in $out, curl's exit in $rc.
prom_query() {
  rc=0
  out=$(curl -sS --max-time 5 -G "$prom/api/v1/query" --data-urlencode "query=$1" 2>&1) || rc=$?
}
# await_prom NAME QUERY JQ EXPECTED: polls QUERY until JQ of its answer is EXPECTED.
await_prom() {
  local deadline=$((SECONDS + 90)) got=""
  while :; do
    prom_query "$2"
    if ((rc == 0)) && got=$(jq -cS "$3" <<<"$out" 2>/dev/null) && [[ $got == "$4" ]]; then break; fi
    ((SECONDS >= deadline)) && break
    sleep 1
  done
  expect "$1" "$got" "$4" "$out"
}
# {"label/label": "value", ...} of a vector answer.
by_labels() { printf '[.data.result[] | {(%s): .value[1]}] | add' "$1"; }

await_prom "Prometheus scrapes main_service and work_service (found by DNS)" \
  'sum by (job) (up)' "$(by_labels .metric.job)" '{"main_service":"1","work_service":"1"}'
# The calls made above: Run [1,2,1], [10,10,10,10] and [5]; RunStream [3,4,3]; Run
# with no key and with 100,001 keys (InvalidArgument).
await_prom "Prometheus: pieces_main_calls_total counts the Runs made, by method and code" \
  'sum by (method, code) (pieces_main_calls_total)' "$(by_labels '.metric.method + "/" + .metric.code')" \
  '{"Run/INVALID_ARGUMENT":"2","Run/OK":"3","RunStream/OK":"1"}'
# Nothing ran since work_service's GetStats above: what Prometheus scraped of the
# units must be what work_service reported of itself.
expected_units=$(jq -cS '{new: (.computed // "0"), cached: (.from_cache // "0"), waited: (.waited // "0"),
  failed: (.failed // "0"), cancelled: (.cancelled // "0")}' <<<"$work_stats")
await_prom "Prometheus: pieces_work_units_total by outcome is work_service's GetStats" \
  'sum by (outcome) (pieces_work_units_total)' "$(by_labels .metric.outcome)" "$expected_units"
# readme_queries: the README's "Three useful queries", one per line (comments
# dropped, a query's lines joined).
readme_queries() {
  awk '/^Three useful queries:/ { f = 1; next }
       f && /^```/ { if (++n == 2) exit; next }
       f && n == 1' README.md |
    awk 'BEGIN { RS = "" } { q = ""; m = split($0, lines, "\n");
         for (i = 1; i <= m; i++) if (lines[i] !~ /^#/) q = q " " lines[i];
         sub(/^ +/, "", q); gsub(/ +/, " ", q); print q }'
}
# The README's three useful queries: Prometheus takes each (PromQL it cannot
# parse answers "status":"error") and answers a vector.
n_queries=0
while IFS= read -r query; do
  n_queries=$((n_queries + 1))
  prom_query "$query"
  answer=""
  ((rc == 0)) && answer=$(jq -r '.status + "/" + .data.resultType' <<<"$out" 2>/dev/null)
  expect "Prometheus answers the README's query $n_queries: $query" "$answer" success/vector "$out"
done < <(readme_queries)
expect "the README gives three Prometheus queries" "$n_queries" 3
# The 11 keys of main's Runs, the 2 of the Process session and the 1 unit of the
# session refused for its repeated id.
expect "work_service received the units of the calls made" "$(jq -r '.work_received' <<<"$work_stats")" 14 "$work_stats"

# --- work_service down and back ----------------------------------------------------
"${compose[@]}" stop work_service >>"$log_dir/compose.log" 2>&1
start_ms=$(now_ms)
grpc -max-time 60 -d '{"keys":[1]}' $main_addr pieces.v1.MainService/Run
elapsed=$(($(now_ms) - start_ms))
# grpcurl exits 64 + 14 for Unavailable.
# Does not hang: at once in practice; 50 s is 10x the old window, far from a
# timeout of the call.
if ((rc == 78 && elapsed < 50000)) && grep -q 'work_service:50052' <<<"$out"; then
  pass "work_service stopped: Run answers Unavailable in ${elapsed}ms, naming the address"
else fail "work_service stopped: Run answers Unavailable within 50s" "exit $rc after ${elapsed}ms"$'\n'"$out"; fi

"${compose[@]}" start work_service >>"$log_dir/compose.log" 2>&1
t1=$SECONDS
if wait_healthy work_service; then pass "work_service healthy again in $((SECONDS - t1))s"; else
  fail "work_service healthy again"; fi
# main reconnects on its own (backoff, --resolve_interval=2s): retry until a
# generous bound rather than expecting the first Run after the restart to succeed.
deadline=$((SECONDS + 60)) attempts=0
while :; do
  attempts=$((attempts + 1))
  call $main_addr pieces.v1.MainService/Run '{"keys":[1,2]}'
  ((rc == 0)) && break
  ((SECONDS >= deadline)) && break
  sleep 0.5
done
if ((rc == 0)) && [[ $(jq -c '[.completed, [.results[].value]]' <<<"$out") == '["2",["1","2"]]' ]]; then
  pass "Run succeeds again after work_service restart (attempt $attempts)"
else fail "Run succeeds again after work_service restart, within 60s" "exit $rc after $attempts attempts"$'\n'"$out"; fi
expect "main_service was not restarted" \
  "$(docker inspect -f '{{.State.StartedAt}} {{.RestartCount}}' "$(cid main_service)")" "$main_started 0"

# --- shutdown ----------------------------------------------------------------------
t1=$SECONDS
"${compose[@]}" stop >>"$log_dir/compose.log" 2>&1
log "stopped both in $((SECONDS - t1))s"
for svc in work_service main_service; do
  expect "$svc exits 0 on SIGTERM" \
    "$(docker inspect -f '{{.State.Status}} {{.State.ExitCode}} oom={{.State.OOMKilled}}' "$(cid "$svc")")" \
    "exited 0 oom=false" "$(docker logs --tail 5 "$(cid "$svc")" 2>&1)"
done
log "total $((SECONDS - t0))s"
