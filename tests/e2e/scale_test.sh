#!/usr/bin/env bash
# End-to-end test of scale-out: three work_service replicas behind main_service,
# driven with grpcurl from the host.
#   1. docker-compose up --scale work_service=3
#   2. docker stack deploy (docker/stack.yml) on a single-node Swarm, when this
#      engine can start one and is not in a swarm already (it leaves it after)
# Each deployment gets the same checks: 10,000 keys each requested three times
# through main_service -> every result in request order with its value, the
# sum of `computed` over the replicas exactly 10,000, the busiest replica at
# most 10% above the mean; then `docker kill` of one replica in the middle of a
# 20,000-key Run -> the Run still answers every key, in order.
# Prints "N passed, M failed" last; exits non-zero on any failure.
#
# Needs what e2e_test.sh needs; uses host ports 50051 and 50052-50059.
# Env: E2E_SWARM=0 skips the Swarm part; E2E_HEALTH_TIMEOUT (s), E2E_COMPOSE.
set -euo pipefail

repo_root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$repo_root"

project=pieces-scale
health_timeout=${E2E_HEALTH_TIMEOUT:-60}
main_addr=localhost:50051
stack=pieces-swarm

# shellcheck source=tests/e2e/lib.sh
source tests/e2e/lib.sh

log_dir=$(mktemp -d "${TMPDIR:-/tmp}/pieces-scale.XXXXXX")
passed=0
failed=0
compose_up=false
stack_up=false
swarm_ours=false

finish() {
  local rc=$?
  set +e
  if $compose_up; then
    ((failed > 0 || rc != 0)) && "${compose[@]}" logs --no-color --tail=30 2>&1 | sed 's/^/     | /'
    "${compose[@]}" down -v --remove-orphans >>"$log_dir/compose.log" 2>&1
  fi
  if $stack_up; then
    ((failed > 0 || rc != 0)) && docker service logs --tail 30 "${stack}_main_service" 2>&1 | sed 's/^/     | /'
    docker stack rm "$stack" >>"$log_dir/swarm.log" 2>&1
  fi
  if $swarm_ours; then
    # Wait for the stack's containers and network to go before leaving.
    for _ in $(seq 60); do
      [[ -z $(docker ps -aq --filter "label=com.docker.stack.namespace=$stack") ]] && break
      sleep 0.5
    done
    docker swarm leave --force >>"$log_dir/swarm.log" 2>&1
  fi
  report_and_exit "$rc"
}
trap finish EXIT

# Request files: 10,000 keys; 20,000 other keys for the kill.
jq -nc '{keys: [range(0; 10000)]}' >"$log_dir/keys.json"
jq -nc '{keys: [range(0; 10000)] | reverse}' >"$log_dir/keys_reversed.json"
jq -nc '{keys: [range(0; 10000)] | map((. * 7919) % 10000)}' >"$log_dir/keys_shuffled.json"
jq -nc '{keys: [range(100000; 120000)]}' >"$log_dir/keys_kill.json"

# run_keys FILE OUT: Run with the request in FILE; the reply in OUT, exit code in $rc.
run_keys() {
  rc=0
  grpcurl -plaintext -max-time 60 -max-msg-sz 67108864 -d @ "$main_addr" \
    pieces.v1.MainService/Run <"$1" >"$2" 2>&1 || rc=$?
}

# check_reply NAME REQUEST REPLY: every key answered in request order with
# value = key (echo and sleep work), and nothing else.
check_reply() {
  if ((rc != 0)); then fail "$1" "exit $rc"$'\n'"$(head -c 2000 "$3")"; return; fi
  # grpcurl prints uint64 as strings and leaves out zeros (id 0, key 0, value 0).
  local bad
  bad=$(jq -n --slurpfile req "$2" --slurpfile rep "$3" '
    ($req[0].keys | map(tostring)) as $keys |
    ($rep[0].results) as $res |
    if ($res | length) != ($keys | length) then "\($res | length) results for \($keys | length) keys"
    else [range(0; $keys | length) as $i | $res[$i] |
          select(((.id // "0") != ($i | tostring)) or ((.key // "0") != $keys[$i]) or
                 ((.value // "0") != $keys[$i]) or has("error"))] |
         if length == 0 then "ok" else "\(length) wrong, first: \(.[0])" end end')
  expect "$1" "$bad" '"ok"'
}

cluster_stats() { call "$main_addr" pieces.v1.MainService/GetClusterStats '{}'; }

# wait_replicas N: until main_service sees N replicas and all of them answer.
wait_replicas() {
  local deadline=$((SECONDS + health_timeout)) n
  while :; do
    cluster_stats
    n=$(jq -r '.replicas_answered // "0"' <<<"$out" 2>/dev/null || echo 0)
    [[ $rc == 0 && $n == "$1" && $(jq '.replicas | length' <<<"$out") == "$1" ]] && return 0
    ((SECONDS >= deadline)) && { log "main_service sees: $out"; return 1; }
    sleep 0.5
  done
}

# checks WHERE KILL_COMMAND...: the checks above on the running deployment;
# KILL_COMMAND kills one work_service replica.
checks() {
  local where=$1
  shift
  if wait_replicas 3; then pass "$where: main_service routes over 3 replicas"; else
    fail "$where: main_service routes over 3 replicas"; return; fi

  cluster_stats
  local computed_before
  computed_before=$(jq -r '.total.computed // "0"' <<<"$out")
  run_keys "$log_dir/keys.json" "$log_dir/reply1.json"
  check_reply "$where: Run of 10,000 keys answers each in order" "$log_dir/keys.json" "$log_dir/reply1.json"
  run_keys "$log_dir/keys_reversed.json" "$log_dir/reply2.json"
  check_reply "$where: the same keys reversed" "$log_dir/keys_reversed.json" "$log_dir/reply2.json"
  run_keys "$log_dir/keys_shuffled.json" "$log_dir/reply3.json"
  check_reply "$where: the same keys shuffled" "$log_dir/keys_shuffled.json" "$log_dir/reply3.json"

  cluster_stats
  expect "$where: computed over the cluster is exactly 10,000" \
    "$(($(jq -r '.total.computed // "0"' <<<"$out") - computed_before))" 10000 "$out"
  expect "$where: the sum of the replicas' computed is the total" \
    "$(jq -r '[.replicas[].stats.computed // "0" | tonumber] | add | tostring' <<<"$out")" \
    "$(jq -r '.total.computed // "0"' <<<"$out")"
  # Spread: cache entries per replica (all keys of this test, each held once).
  local spread
  spread=$(jq -r '[.replicas[].stats.cache_entries // "0" | tonumber] as $e |
    ($e | add / length) as $mean |
    if ($e | max) <= $mean * 1.10 then "ok" else "busiest \($e | max), mean \($mean)" end' <<<"$out")
  expect "$where: the busiest replica holds at most 10% more keys than the mean ($(jq -c '[.replicas[].stats.cache_entries]' <<<"$out"))" \
    "$spread" ok "$out"

  # Kill one replica while a 20,000-key Run is in progress.
  rc=0
  grpcurl -plaintext -max-time 120 -max-msg-sz 67108864 -d @ "$main_addr" \
    pieces.v1.MainService/Run <"$log_dir/keys_kill.json" >"$log_dir/reply_kill.json" 2>&1 &
  local run_pid=$! deadline=$((SECONDS + 30)) now
  # Once about a tenth of the keys are done (the Run takes a few seconds).
  while now=$(cluster_stats; jq -r '.total.computed // "0"' <<<"$out"); \
        ((now - computed_before - 10000 < 2000)); do
    ((SECONDS >= deadline)) && break
    sleep 0.1
  done
  # The Run must still be going, or the kill proves nothing.
  local running_at_kill=1
  kill -0 "$run_pid" 2>/dev/null || running_at_kill=0
  "$@" >>"$log_dir/kill.log" 2>&1
  log "$where: killed one replica after $((now - computed_before - 10000)) of 20,000 keys"
  expect "$where: the replica was killed while the Run was in progress" "$running_at_kill" 1
  rc=0
  wait "$run_pid" || rc=$?
  check_reply "$where: a replica killed mid-Run: every key still answered, in order" \
    "$log_dir/keys_kill.json" "$log_dir/reply_kill.json"
  cluster_stats
  local resent
  resent=$(jq -r '.units_resent // "0"' <<<"$out")
  if ((resent > 0)); then pass "$where: main_service re-sent $resent units of the killed replica"; else
    fail "$where: units of the killed replica were re-sent" "$out"; fi
}

# --- Compose ---------------------------------------------------------------------
t0=$SECONDS
build_images
"${compose[@]}" down -v --remove-orphans >>"$log_dir/compose.log" 2>&1 || true
compose_up=true
# sleep:4ms: the kill Run lasts several seconds (20,000 keys on 3 replicas of 4
# threads), long after the kill lands; the 10,000 keys about three.
PIECES_WORK=sleep:4ms PIECES_WORK_PORTS=50052-50059 "${compose[@]}" up -d --scale work_service=3 >>"$log_dir/compose.log" 2>&1 ||
  { cat "$log_dir/compose.log"; exit 1; }
replicas=$(cid work_service | wc -l)
expect "compose: three work_service containers" "$replicas" 3
# Chosen now: docker-compose itself takes a second or more to answer, which
# would delay the kill.
victim=$(cid work_service | sed -n 2p)
kill_compose_replica() { docker kill "$victim"; }
checks compose kill_compose_replica
"${compose[@]}" down -v --remove-orphans >>"$log_dir/compose.log" 2>&1
compose_up=false
log "compose part took $((SECONDS - t0))s"

# --- Swarm -----------------------------------------------------------------------
if [[ ${E2E_SWARM:-1} == 0 ]]; then
  log "swarm part skipped (E2E_SWARM=0)"
  exit 0
fi
state=$(docker info -f '{{.Swarm.LocalNodeState}}')
if [[ $state != inactive ]]; then
  log "swarm part skipped: this engine is already in a swarm ($state); not touching it"
  exit 0
fi
t0=$SECONDS
if ! docker swarm init --advertise-addr 127.0.0.1 >>"$log_dir/swarm.log" 2>&1; then
  log "swarm part skipped: docker swarm init failed: $(tail -n 3 "$log_dir/swarm.log")"
  exit 0
fi
swarm_ours=true
stack_up=true
PIECES_WORK=sleep:4ms docker stack deploy -c docker/stack.yml "$stack" >>"$log_dir/swarm.log" 2>&1 ||
  { cat "$log_dir/swarm.log"; exit 1; }
kill_swarm_replica() {
  docker kill "$(docker ps -q --filter "label=com.docker.swarm.service.name=${stack}_work_service" | head -n 1)"
}
checks swarm kill_swarm_replica
log "swarm part took $((SECONDS - t0))s"
