#!/usr/bin/env bash
# Runs the system in containers: docker-compose up --build (work_service,
# main_service and Prometheus on http://localhost:9090), after making the
# Debian base image locally if the engine has none (machines with no registry).
# Arguments go to `up`, e.g. -d to run in the background.
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/docker-base-image.sh
if command -v docker-compose >/dev/null 2>&1; then
  exec docker-compose up --build "$@"
fi
exec docker compose up --build "$@"
