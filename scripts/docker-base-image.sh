#!/usr/bin/env bash
# Makes sure the base image that docker/Dockerfile builds FROM exists in the local engine.
#
# This machine reaches no container registry, so `docker pull debian:bookworm-slim` is
# impossible. When the tag is missing we build an equivalent image with debootstrap
# (variant minbase, suite bookworm, debootstrap's default mirror) and `docker import` it
# under the same tag, so the Dockerfile stays the one a user with a registry would use.
#
# Usage: scripts/docker-base-image.sh [IMAGE_TAG]
#   IMAGE_TAG defaults to the BASE_IMAGE build ARG default in docker/Dockerfile.
# Idempotent: returns at once when the tag already exists.
set -euo pipefail

repo_root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
dockerfile="$repo_root/docker/Dockerfile"

# Read the tag from the Dockerfile so the two never drift apart.
tag=${1:-}
if [[ -z $tag && -f $dockerfile ]]; then
  tag=$(sed -n 's/^ARG[[:space:]]\+BASE_IMAGE=\([^[:space:]]\+\).*/\1/p' "$dockerfile" | head -n1)
fi
tag=${tag:-debian:bookworm-slim}

if docker image inspect "$tag" >/dev/null 2>&1; then
  echo "docker-base-image: $tag already present"
  exit 0
fi

suite=bookworm
case $tag in
  debian:bookworm | debian:bookworm-slim | debian:12 | debian:12-slim) ;;
  *) echo "docker-base-image: don't know how to build '$tag' (only debian bookworm tags)" >&2; exit 1 ;;
esac

if [[ $(id -u) -ne 0 ]]; then
  echo "docker-base-image: debootstrap needs root" >&2
  exit 1
fi

if ! command -v debootstrap >/dev/null 2>&1; then
  echo "docker-base-image: installing debootstrap"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
    debootstrap debian-archive-keyring >/dev/null
fi

workdir=$(mktemp -d "${TMPDIR:-/var/tmp}/base-image.XXXXXX")
rootfs="$workdir/rootfs"

cleanup() {
  # debootstrap may leave /proc, /sys or a bind-mounted /dev behind when it fails:
  # unmount them (deepest first) before deleting, and never cross into another fs.
  if [[ -d $rootfs ]]; then
    awk -v r="$rootfs" '$2 == r || index($2, r "/") == 1 { print $2 }' /proc/mounts |
      sort -r | while read -r m; do umount -l "$m" || true; done
  fi
  rm -rf --one-file-system "$workdir"
}
trap cleanup EXIT

start=$SECONDS
echo "docker-base-image: building $tag with debootstrap (minbase, $suite); takes a few minutes"
debootstrap --variant=minbase "$suite" "$rootfs" >"$workdir/debootstrap.log" 2>&1 || {
  tail -n 30 "$workdir/debootstrap.log" >&2
  [[ -f $rootfs/debootstrap/debootstrap.log ]] && tail -n 30 "$rootfs/debootstrap/debootstrap.log" >&2
  exit 1
}

# Same container tweaks as the official image: no services started by apt, no kept
# .debs or translations, and (slim) no docs, man pages or locales.
cat >"$rootfs/usr/sbin/policy-rc.d" <<'EOF'
#!/bin/sh
exit 101
EOF
chmod 0755 "$rootfs/usr/sbin/policy-rc.d"
cat >"$rootfs/etc/apt/apt.conf.d/docker-clean" <<'EOF'
DPkg::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };
APT::Update::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };
Dir::Cache::pkgcache "";
Dir::Cache::srcpkgcache "";
EOF
cat >"$rootfs/etc/apt/apt.conf.d/docker-no-languages" <<'EOF'
Acquire::Languages "none";
EOF
cat >"$rootfs/etc/apt/apt.conf.d/docker-autoremove-suggests" <<'EOF'
Apt::AutoRemove::SuggestsImportant "false";
EOF
if [[ $tag == *-slim ]]; then
  cat >"$rootfs/etc/dpkg/dpkg.cfg.d/docker" <<'EOF'
path-exclude /usr/share/doc/*
path-include /usr/share/doc/*/copyright
path-exclude /usr/share/info/*
path-exclude /usr/share/man/*
path-exclude /usr/share/locale/*
path-exclude /usr/share/linda/*
path-exclude /usr/share/lintian/*
EOF
  find "$rootfs/usr/share/doc" -mindepth 1 -not -name copyright -not -type d -delete
  find "$rootfs/usr/share/doc" -mindepth 1 -type d -empty -delete
  rm -rf "$rootfs/usr/share/man/"* "$rootfs/usr/share/info/"* "$rootfs/usr/share/locale/"*
fi
rm -rf "$rootfs/var/lib/apt/lists/"* "$rootfs/var/cache/apt/"*.bin "$rootfs/var/cache/apt/archives/"*.deb \
  "$rootfs/var/log/"*.log "$rootfs/debootstrap"
: >"$rootfs/etc/hostname"
: >"$rootfs/etc/resolv.conf"

# The engine provides /dev, /proc and /sys at run time: ship them empty.
tar --numeric-owner --xattrs -C "$rootfs" \
  --exclude=./dev/* --exclude=./proc/* --exclude=./sys/* -c . |
  docker import \
    --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
    --change 'CMD ["bash"]' \
    --change 'LABEL org.opencontainers.image.description="debian bookworm minbase, built locally by scripts/docker-base-image.sh"' \
    --message "debootstrap --variant=minbase $suite" \
    - "$tag" >/dev/null

echo "docker-base-image: imported $tag in $((SECONDS - start))s ($(docker image inspect -f '{{.Size}}' "$tag" | numfmt --to=iec))"
