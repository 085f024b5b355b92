# Shared by the end-to-end scripts (e2e_test.sh, scale_test.sh): the Compose
# command, pass/fail bookkeeping, grpcurl and Docker helpers. The sourcing
# script sets `project` (the Compose project name) and `health_timeout` (s)
# first, and keeps `passed`/`failed`.

# E2E_COMPOSE picks the Compose tool, e.g. "docker compose"; else docker-compose (v1), else v2.
if [[ -n ${E2E_COMPOSE:-} ]]; then
  read -r -a compose <<<"$E2E_COMPOSE"
elif command -v docker-compose >/dev/null 2>&1; then
  compose=(docker-compose)
else
  compose=(docker compose)
fi
compose+=(-p "$project" -f docker-compose.yml)

log() { printf 'e2e: %s\n' "$*"; }
pass() { passed=$((passed + 1)); printf 'PASS %s\n' "$1"; }
fail() {
  failed=$((failed + 1))
  printf 'FAIL %s\n' "$1"
  [[ -n ${2:-} ]] && printf '%s\n' "$2" | sed 's/^/     | /' | head -n 30
  return 0
}
# report_and_exit RC: for the EXIT trap, after the stack is down. Prints
# "N passed, M failed" and exits non-zero on any failure; RC is the script's
# exit status (an abort outside a check, such as a failed build or a stack
# never healthy, is a failure too). Keeps $log_dir only when something failed.
report_and_exit() {
  if (($1 != 0 && failed == 0)); then
    failed=1
    printf 'FAIL setup (exit %d; see above and %s)\n' "$1" "$log_dir"
  fi
  ((failed == 0)) && rm -rf "$log_dir"
  printf '%d passed, %d failed\n' "$passed" "$failed"
  ((failed == 0)) || exit 1
  exit 0
}

# build_images: the base image when missing, then the project's image.
build_images() {
  scripts/docker-base-image.sh
  log "building images (log: $log_dir/build.log)"
  "${compose[@]}" build >"$log_dir/build.log" 2>&1 || { tail -n 40 "$log_dir/build.log"; return 1; }
}

# expect NAME ACTUAL EXPECTED [CONTEXT]: string equality check.
expect() {
  if [[ $2 == "$3" ]]; then pass "$1"; else fail "$1" "want: $3"$'\n'"got:  $2${4:+$'\n'$4}"; fi
}

# --- tools -------------------------------------------------------------------
command -v grpcurl >/dev/null 2>&1 || scripts/install-tools.sh
if ! command -v jq >/dev/null 2>&1; then
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq jq >/dev/null
fi

# grpc ARGS...: grpcurl with a bounded time; stdout+stderr in $out, exit code in $rc.
grpc() {
  rc=0
  out=$(grpcurl -plaintext -max-time 10 "$@" 2>&1) || rc=$?
}
# call ADDR METHOD JSON: unary or server-streaming call with request JSON.
call() { grpc -d "$3" "$1" "$2"; }

# -a: `docker compose` (v2) lists stopped containers only with it.
cid() { "${compose[@]}" ps -a -q "$1"; }
health() { docker inspect -f '{{if .State.Health}}{{.State.Health.Status}}{{else}}none{{end}}' "$(cid "$1")"; }

# wait_healthy SERVICE...: poll Docker's health status, bounded by $health_timeout.
wait_healthy() {
  local deadline=$((SECONDS + health_timeout)) s svc
  for svc in "$@"; do
    while s=$(health "$svc"); [[ $s != healthy ]]; do
      if ((SECONDS >= deadline)); then
        log "$svc not healthy after ${health_timeout}s (status: $s)"
        return 1
      fi
      sleep 0.5
    done
  done
}

now_ms() { date +%s%3N; }
