#!/usr/bin/env bash
# Builds the Go peer: bench/peers/go/build.sh OUT_DIR
#
# Leaves in OUT_DIR:
#   pieces-go   the program (pieces-go work ..., pieces-go main ...)
#   tools/      protoc-gen-go and protoc-gen-go-grpc, at the versions go.mod pins
#   src/        this module with the code generated from proto/pieces/v1
#
# Needs protoc (Debian's protobuf-compiler) and Go (on PATH, or
# /usr/local/go/bin/go, or $GO). Modules come through the module proxy and are
# checked against go.sum; nothing generated is written to the source tree.
set -euo pipefail

if [[ $# -ne 1 ]]; then
  echo "usage: $0 OUT_DIR" >&2
  exit 2
fi
here=$(cd "$(dirname "$0")" && pwd)
proto_root=$(cd "$here/../../../proto" && pwd)
mkdir -p "$1"
out=$(cd "$1" && pwd)

go=${GO:-$(command -v go || echo /usr/local/go/bin/go)}
# The sources are copied under OUT_DIR, which may sit inside the git checkout:
# no VCS stamping, and go.mod/go.sum must already be complete.
export GOFLAGS="${GOFLAGS:-} -buildvcs=false -mod=readonly"

src=$out/src
rm -rf "$src"
mkdir -p "$src/gen"
cp "$here"/go.mod "$here"/go.sum "$here"/*.go "$src/"
cd "$src"

# The code generators, at the versions of go.mod's tool directives.
GOBIN=$out/tools "$go" install tool

# The .proto files have no go_package option: map each to the Go package.
gen_pkg=pieces-go/gen/pieces/v1
mappings=()
for file in "$proto_root"/pieces/v1/*.proto; do
  mappings+=("M${file#"$proto_root"/}=$gen_pkg;piecesv1")
done
go_opts=$(IFS=,; echo "paths=source_relative,${mappings[*]}")
protoc -I "$proto_root" \
  --plugin=protoc-gen-go="$out/tools/protoc-gen-go" \
  --plugin=protoc-gen-go-grpc="$out/tools/protoc-gen-go-grpc" \
  --go_out="$src/gen" --go_opt="$go_opts" \
  --go-grpc_out="$src/gen" --go-grpc_opt="$go_opts" \
  "$proto_root"/pieces/v1/*.proto

"$go" build -o "$out/pieces-go" .
echo "built $out/pieces-go" >&2
