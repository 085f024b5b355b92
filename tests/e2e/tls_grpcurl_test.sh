#!/usr/bin/env bash
# The README's TLS and --reflection=false commands, run as a user would, with
# grpcurl against the locally built binaries (no containers):
#   1. work_service and main_service with mutual TLS (--tls_cert/--tls_key/--tls_ca,
#      main reaching work over TLS); grpcurl -cacert/-cert/-key runs
#      {"keys":[1,2,1]}; without a client certificate, or in plaintext, it cannot.
#   2. both with --reflection=false: `grpcurl list` fails; with
#      -import-path/-proto it lists the service and calls it.
# Certificates are made with openssl, as tests/common/tls_test.cc makes them.
# Prints "N passed, M failed" last; exits non-zero on any failure.
#
# Needs: the binaries (cmake --build "$PIECES_BUILD_DIR", default build), openssl,
# grpcurl (scripts/install-tools.sh installs it when missing), jq.
# Env: PIECES_BUILD_DIR, E2E_START_TIMEOUT (s, default 30).
set -euo pipefail

repo_root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$repo_root"

build_dir=${PIECES_BUILD_DIR:-build}
start_timeout=${E2E_START_TIMEOUT:-30}
work_bin=$build_dir/work_service/work_service
main_bin=$build_dir/main_service/main_service

# lib.sh's Compose setup needs a project name; this script uses its grpcurl,
# jq and pass/fail helpers only.
project=pieces-tls
# shellcheck source=tests/e2e/lib.sh
source tests/e2e/lib.sh

log_dir=$(mktemp -d "${TMPDIR:-/tmp}/pieces-tls.XXXXXX")
passed=0
failed=0
pids=()
declare -A pid_of

finish() {
  local rc=$?
  set +e
  local pid
  for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null; done
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null; done
  if ((failed > 0 || rc != 0)); then
    for f in "$log_dir"/*.log; do [[ -e $f ]] && { log "$f:"; tail -n 20 "$f" | sed 's/^/     | /'; }; done
  fi
  report_and_exit "$rc"
}
trap finish EXIT

for bin in "$work_bin" "$main_bin"; do
  [[ -x $bin ]] || { log "$bin is missing: build first (cmake --build $build_dir)"; exit 1; }
done

# --- certificates ----------------------------------------------------------------
# cert NAME CA EXTENSIONS: an EC key NAME.key and a certificate NAME.pem signed by CA.
ca() {
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \
    -keyout "$log_dir/$1.key" -out "$log_dir/$1.pem" -days 1 -subj "/CN=$2" \
    -addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign,cRLSign
}
cert() {
  openssl req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \
    -keyout "$log_dir/$1.key" -out "$log_dir/$1.csr" -subj "/CN=pieces $1"
  printf '%b' "$3" >"$log_dir/$1.ext"
  openssl x509 -req -in "$log_dir/$1.csr" -CA "$log_dir/$2.pem" -CAkey "$log_dir/$2.key" \
    -CAcreateserial -days 1 -extfile "$log_dir/$1.ext" -out "$log_dir/$1.pem"
}
{
  ca ca "pieces test CA"
  # Servers name localhost (the host grpcurl and main dial); main presents its
  # certificate to work as a client too.
  cert work ca 'subjectAltName=DNS:localhost,IP:127.0.0.1\nextendedKeyUsage=serverAuth\n'
  cert main ca 'subjectAltName=DNS:localhost,IP:127.0.0.1\nextendedKeyUsage=serverAuth,clientAuth\n'
  cert client ca 'extendedKeyUsage=clientAuth\n'
} >"$log_dir/openssl.log" 2>&1
cd "$log_dir"  # the README's commands name the files without a directory

# start NAME BINARY ARGS...: runs BINARY --port=0 ARGS... in the background and
# sets $port from its "listening on" line (bounded by $start_timeout).
start() {
  local name=$1 bin=$2
  shift 2
  "$repo_root/$bin" --port=0 "$@" >"$log_dir/$name.log" 2>&1 &
  pids+=($!)
  pid_of[$name]=$!
  local pid=$! deadline=$((SECONDS + start_timeout))
  port=
  until port=$(sed -n 's/.* listening on 0\.0\.0\.0:\([0-9]*\)$/\1/p' "$log_dir/$name.log" 2>/dev/null) && [[ -n $port ]]; do
    kill -0 "$pid" 2>/dev/null || { log "$name exited at start"; return 1; }
    ((SECONDS >= deadline)) && { log "$name not listening after ${start_timeout}s"; return 1; }
    sleep 0.1
  done
}

# g ARGS...: grpcurl, bounded in time; output in $out, exit code in $rc.
g() {
  rc=0
  out=$(grpcurl -max-time 10 "$@" 2>&1) || rc=$?
}

# --- 1. mutual TLS, the README's commands ------------------------------------------
start work_tls "$work_bin" --tls_cert=work.pem --tls_key=work.key --tls_ca=ca.pem
work_port=$port
start main_tls "$main_bin" --tls_cert=main.pem --tls_key=main.key --tls_ca=ca.pem \
  --work_address="localhost:$work_port"
main_port=$port

g -cacert ca.pem -cert client.pem -key client.key \
  -d '{"keys":[1,2,1]}' "localhost:$main_port" pieces.v1.MainService/Run
if ((rc == 0)); then
  expect "TLS: grpcurl -cacert/-cert/-key runs {\"keys\":[1,2,1]} through main and work" \
    "$(jq -c '[.completed, [.results[] | [(.id // "0"), .key, .value]]]' <<<"$out")" \
    '["3",[["0","1","1"],["1","2","2"],["2","1","1"]]]' "$out"
else fail "TLS: grpcurl -cacert/-cert/-key runs {\"keys\":[1,2,1]}" "exit $rc"$'\n'"$out"; fi

g -cacert ca.pem -d '{"keys":[1]}' "localhost:$main_port" pieces.v1.MainService/Run
# Refused at the handshake, not answered by main with a status of its own.
if ((rc != 0)) && grep -q 'Failed to dial target host' <<<"$out" && ! grep -q 'Code:' <<<"$out"; then
  pass "TLS: without a client certificate the handshake is refused (exit $rc)"
else fail "TLS: without a client certificate the handshake is refused" "exit $rc"$'\n'"$out"; fi

g -plaintext -d '{"keys":[1]}' "localhost:$main_port" pieces.v1.MainService/Run
if ((rc != 0)) && grep -q 'Failed to dial target host' <<<"$out" && ! grep -q 'Code:' <<<"$out"; then
  pass "TLS: a plaintext call is refused (exit $rc)"
else fail "TLS: a plaintext call is refused" "exit $rc"$'\n'"$out"; fi

g -cacert ca.pem -cert client.pem -key client.key -d '{}' "localhost:$work_port" pieces.v1.WorkService/GetStats
if ((rc == 0)) && [[ $(jq -r '.computed' <<<"$out") == 2 ]]; then
  pass "TLS: work_service's own stats show the 2 keys that main sent over mutual TLS"
else fail "TLS: work_service computed the 2 keys main sent" "exit $rc"$'\n'"$out"; fi

# --- 2. --reflection=false -----------------------------------------------------------
start work_noreflect "$work_bin" --reflection=false
work_port=$port
start main_noreflect "$main_bin" --reflection=false --work_address="localhost:$work_port"
main_port=$port
proto=(-import-path "$repo_root/proto")

for target in "main_service $main_port pieces.v1.MainService" "work_service $work_port pieces.v1.WorkService"; do
  read -r name p service <<<"$target"
  g -plaintext "localhost:$p" list
  if ((rc != 0)) && grep -q 'does not support the reflection API' <<<"$out"; then
    pass "--reflection=false: grpcurl list on $name fails"
  else fail "--reflection=false: grpcurl list on $name fails" "exit $rc"$'\n'"$out"; fi

  g -plaintext "${proto[@]}" -proto "pieces/v1/$name.proto" "localhost:$p" list
  if ((rc == 0)) && grep -qx "$service" <<<"$out"; then
    pass "--reflection=false: grpcurl -import-path/-proto list on $name shows $service"
  else fail "--reflection=false: grpcurl -import-path/-proto list on $name" "exit $rc"$'\n'"$out"; fi
done

g -plaintext "${proto[@]}" -proto pieces/v1/main_service.proto -d '{"keys":[1,2,1]}' \
  "localhost:$main_port" pieces.v1.MainService/Run
if ((rc == 0)); then
  expect "--reflection=false: Run with -import-path/-proto answers" \
    "$(jq -c '[.completed, [.results[].value]]' <<<"$out")" '["3",["1","2","1"]]' "$out"
else fail "--reflection=false: Run with -import-path/-proto answers" "exit $rc"$'\n'"$out"; fi

g -plaintext -d '{"keys":[1]}' "localhost:$main_port" pieces.v1.MainService/Run
if ((rc != 0)) && grep -q 'does not support the reflection API' <<<"$out"; then
  pass "--reflection=false: a call without -proto fails for want of reflection"
else fail "--reflection=false: a call without -proto fails for want of reflection" "exit $rc"$'\n'"$out"; fi

# --- shutdown --------------------------------------------------------------------
# main before the work_service it calls.
for name in main_noreflect work_noreflect main_tls work_tls; do
  pid=${pid_of[$name]}
  kill -TERM "$pid"
  code=0
  wait "$pid" || code=$?
  expect "$name exits 0 on SIGTERM" "$code" 0
done
pids=()
