#!/usr/bin/env bash
# Installs the Debian packages needed to build and test pieces, when they are missing.
# Safe to run again: it only installs what is not there yet.
#
#   scripts/install-deps.sh           what the build and tests need
#   scripts/install-deps.sh --clang   and Debian's clang, for the thread-safety
#                                     analysis build of scripts/test-sanitizers.sh
set -euo pipefail

packages=(
  build-essential cmake ninja-build pkg-config
  protobuf-compiler libprotobuf-dev
  libgrpc++-dev protobuf-compiler-grpc
  libabsl-dev libgtest-dev libgmock-dev libbenchmark-dev
  openssl  # tests make their TLS certificates with it
  python3-yaml  # tests/docker/manifests_test.sh parses the manifests
  clang-format  # scripts/check-format.sh
  tmux  # tests/client/tmux_test.sh runs the pieces client on a terminal
  prometheus-cpp-dev  # /metrics (its pull Exposer)
  prometheus  # promtool, for the tests of /metrics
  libspdlog-dev  # the event log (common/logging)
)
for arg in "$@"; do
  case "$arg" in
    --clang) packages+=(clang) ;;  # clang 14 in bookworm
    *) echo "usage: $0 [--clang]" >&2; exit 2 ;;
  esac
done

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done

if ((${#missing[@]})); then
  echo "install-deps: installing ${missing[*]}"
  sudo_cmd=()
  [[ $(id -u) -eq 0 ]] || sudo_cmd=(sudo)
  "${sudo_cmd[@]}" apt-get update -qq
  DEBIAN_FRONTEND=noninteractive "${sudo_cmd[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi
