#!/usr/bin/env bash
# Installs the command-line gRPC tools used by the e2e tests and by hand, at pinned
# versions, through `go install` (the Go module proxy is the only source reachable here):
#   grpcurl            call services by reflection, JSON in/out
#   grpc-health-probe  grpc.health.v1 check from the host
#   ghz                load generator
# Binaries go to $TOOLS_BIN (default /usr/local/bin, already on PATH).
# A tool already installed at its pinned version is skipped (checked with `go version -m`).
set -euo pipefail

TOOLS_BIN=${TOOLS_BIN:-/usr/local/bin}

# name|package|version
tools=(
  "grpcurl|github.com/fullstorydev/grpcurl/cmd/grpcurl|v1.9.3"
  "grpc-health-probe|github.com/grpc-ecosystem/grpc-health-probe|v0.4.62"
  "ghz|github.com/bojand/ghz/cmd/ghz|v0.120.0"
)

if ! command -v go >/dev/null 2>&1; then
  [[ -x /usr/local/go/bin/go ]] && PATH=$PATH:/usr/local/go/bin
fi
command -v go >/dev/null 2>&1 || { echo "install-tools: go not found" >&2; exit 1; }

mkdir -p "$TOOLS_BIN"
# GOFLAGS from the environment (e.g. -mod=vendor) must not leak into these installs.
export GOBIN=$TOOLS_BIN GOFLAGS=-buildvcs=false CGO_ENABLED=0

for entry in "${tools[@]}"; do
  IFS='|' read -r name pkg version <<<"$entry"
  bin="$TOOLS_BIN/$name"
  # `go version -m` prints the module version the binary was built from ("mod <path> <ver>").
  have=$( (go version -m "$bin" 2>/dev/null || true) | awk '$1 == "mod" { print $3; exit }')
  if [[ $have == "$version" ]]; then
    echo "install-tools: $name $version already installed"
    continue
  fi
  echo "install-tools: installing $name $version${have:+ (had $have)}"
  go install "$pkg@$version"
done
