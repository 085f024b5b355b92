#!/usr/bin/env bash
# Parses the deployment manifests as YAML and checks what the README says of them:
#   docker/kubernetes.yaml  a headless Service work-service (clusterIP: None) on
#                           50052, a Deployment of three work_service pods with
#                           gRPC readiness and liveness probes, a Deployment of
#                           main_service routing to work-service:50052, and a
#                           Service main-service on 50051; selectors match pods
#   docker/stack.yml        three work_service replicas with endpoint_mode dnsrr,
#                           main_service on tasks.work_service:50052, publishing 50051
#   docker-compose.yml      main_service waits for work_service to be healthy;
#                           ports 50051 and 50052; a prometheus service built from
#                           docker/prometheus.Dockerfile (Debian's prometheus),
#                           UI on 9090, scraping main_service:9451 and every
#                           work_service replica (DNS A records) on 9452
# kubectl cannot validate without an API server; this is the syntax and structure
# check. Needs python3 with PyYAML (python3-yaml, scripts/install-deps.sh).
# Prints "N passed, M failed" last; exits non-zero on any failure.
# Env: MANIFESTS_DIR (default: the repository root), to check other copies.
set -euo pipefail

repo_root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
dir=${MANIFESTS_DIR:-$repo_root}
# Debian's python3, which python3-yaml installs into (not whatever python3 is first on PATH).
python=${PYTHON3:-/usr/bin/python3}

"$python" - "$dir" <<'EOF'
import sys

import yaml

root = sys.argv[1]
passed = failed = 0


def check(name, ok, detail=""):
    global passed, failed
    if ok:
        passed += 1
        print(f"PASS {name}")
    else:
        failed += 1
        print(f"FAIL {name}" + (f"\n     | {detail}" if detail else ""))


def load(path, many=False):
    try:
        with open(f"{root}/{path}") as f:
            docs = list(yaml.safe_load_all(f)) if many else yaml.safe_load(f)
        check(f"{path} parses as YAML", True)
        return docs
    except (OSError, yaml.YAMLError) as e:
        check(f"{path} parses as YAML", False, str(e).replace("\n", "\n     | "))
        return None


def dig(obj, *path):
    """obj[path[0]][path[1]]..., or None where a step is missing."""
    for step in path:
        try:
            obj = obj[step]
        except (KeyError, IndexError, TypeError):
            return None
    return obj


def has_flag(args, flag):
    return isinstance(args, list) and flag in args


# --- docker/kubernetes.yaml ------------------------------------------------------
docs = load("docker/kubernetes.yaml", many=True)
if docs is not None:
    docs = [d for d in docs if d is not None]
    by_kind_name = {(d.get("kind"), dig(d, "metadata", "name")): d for d in docs}
    check("kubernetes.yaml: two Services and two Deployments, named as the README says",
          sorted(by_kind_name) == [("Deployment", "main-service"), ("Deployment", "work-service"),
                                   ("Service", "main-service"), ("Service", "work-service")],
          sorted(map(str, by_kind_name)))
    api = {"Service": "v1", "Deployment": "apps/v1"}
    check("kubernetes.yaml: apiVersion v1 for Services, apps/v1 for Deployments",
          all(d.get("apiVersion") == api.get(d.get("kind")) for d in docs))

    work_svc = by_kind_name.get(("Service", "work-service"), {})
    main_svc = by_kind_name.get(("Service", "main-service"), {})
    work_dep = by_kind_name.get(("Deployment", "work-service"), {})
    main_dep = by_kind_name.get(("Deployment", "main-service"), {})
    check("kubernetes.yaml: work-service is headless (clusterIP: None)",
          dig(work_svc, "spec", "clusterIP") == "None", dig(work_svc, "spec", "clusterIP"))
    check("kubernetes.yaml: work-service Service port 50052 -> 50052",
          [(p.get("port"), p.get("targetPort")) for p in dig(work_svc, "spec", "ports") or []]
          == [(50052, 50052)], dig(work_svc, "spec", "ports"))
    check("kubernetes.yaml: main-service Service port 50051 -> 50051",
          [(p.get("port"), p.get("targetPort")) for p in dig(main_svc, "spec", "ports") or []]
          == [(50051, 50051)], dig(main_svc, "spec", "ports"))
    check("kubernetes.yaml: three work_service pods, one main_service",
          (dig(work_dep, "spec", "replicas"), dig(main_dep, "spec", "replicas")) == (3, 1))

    for dep, svc, program, port in ((work_dep, work_svc, "work_service", 50052),
                                    (main_dep, main_svc, "main_service", 50051)):
        name = dig(dep, "metadata", "name")
        labels = dig(dep, "spec", "template", "metadata", "labels") or {}
        selector = dig(svc, "spec", "selector") or {}
        match = dig(dep, "spec", "selector", "matchLabels") or {}
        check(f"kubernetes.yaml: {name}: the Service and the Deployment select its pods",
              bool(selector) and bool(match) and
              selector.items() <= labels.items() and match.items() <= labels.items(),
              f"pods {labels}, Service {selector}, Deployment {match}")
        containers = dig(dep, "spec", "template", "spec", "containers") or []
        c = containers[0] if len(containers) == 1 else {}
        args = c.get("args")
        check(f"kubernetes.yaml: {name} runs {program} --port={port}",
              isinstance(args, list) and args[:1] == [program] and has_flag(args, f"--port={port}"),
              args)
        check(f"kubernetes.yaml: {name} exposes containerPort {port}",
              [p.get("containerPort") for p in c.get("ports") or []] == [port], c.get("ports"))
        for probe in ("readinessProbe", "livenessProbe"):
            check(f"kubernetes.yaml: {name} has a gRPC {probe} on {port}",
                  dig(c, probe, "grpc", "port") == port, c.get(probe))
        grace = dig(dep, "spec", "template", "spec", "terminationGracePeriodSeconds")
        check(f"kubernetes.yaml: {name} gives more than --grace_period=10s to drain",
              has_flag(args, "--grace_period=10s") and isinstance(grace, int) and grace > 10, grace)
    main_args = dig(main_dep, "spec", "template", "spec", "containers", 0, "args")
    check("kubernetes.yaml: main_service routes to the headless Service, work-service:50052",
          has_flag(main_args, "--work_address=work-service:50052"), main_args)

# --- docker/stack.yml ------------------------------------------------------------
stack = load("docker/stack.yml")
if stack is not None:
    work = dig(stack, "services", "work_service") or {}
    main = dig(stack, "services", "main_service") or {}
    check("stack.yml: services work_service and main_service",
          sorted(dig(stack, "services") or {}) == ["main_service", "work_service"])
    check("stack.yml: three work_service replicas with endpoint_mode dnsrr",
          (dig(work, "deploy", "replicas"), dig(work, "deploy", "endpoint_mode")) == (3, "dnsrr"))
    check("stack.yml: work_service listens on 50052",
          has_flag(work.get("command"), "--port=50052"), work.get("command"))
    check("stack.yml: main_service on 50051 routes to tasks.work_service:50052",
          has_flag(main.get("command"), "--port=50051") and
          has_flag(main.get("command"), "--work_address=tasks.work_service:50052"), main.get("command"))
    check("stack.yml: main_service publishes 50051",
          [(p.get("target"), p.get("published")) for p in main.get("ports") or [] if isinstance(p, dict)]
          == [(50051, 50051)], main.get("ports"))

# --- docker-compose.yml ----------------------------------------------------------
compose = load("docker-compose.yml")
if compose is not None:
    work = dig(compose, "services", "work_service") or {}
    main = dig(compose, "services", "main_service") or {}
    prom = dig(compose, "services", "prometheus") or {}
    check("docker-compose.yml: services work_service, main_service and prometheus",
          sorted(dig(compose, "services") or {}) == ["main_service", "prometheus", "work_service"])
    check("docker-compose.yml: prometheus built from docker/prometheus.Dockerfile, UI on 9090",
          dig(prom, "build", "dockerfile") == "docker/prometheus.Dockerfile" and
          prom.get("ports") == ["${PIECES_PROMETHEUS_PORT:-9090}:9090"], (prom.get("build"), prom.get("ports")))
    scrape = load("docker/prometheus.yml")
    jobs = {j.get("job_name"): j for j in (dig(scrape, "scrape_configs") or [])} if scrape else {}
    check("docker/prometheus.yml: main_service:9451 and work_service's A records on 9452",
          dig(jobs, "main_service", "static_configs") == [{"targets": ["main_service:9451"]}] and
          dig(jobs, "work_service", "dns_sd_configs") ==
          [{"names": ["work_service"], "type": "A", "port": 9452, "refresh_interval": "5s"}], jobs)
    check("docker-compose.yml: main_service starts once work_service is healthy",
          dig(main, "depends_on", "work_service", "condition") == "service_healthy", main.get("depends_on"))
    check("docker-compose.yml: work_service on 50052 (PIECES_WORK_PORTS on the host)",
          has_flag(work.get("command"), "--port=50052") and
          work.get("ports") == ["${PIECES_WORK_PORTS:-50052}:50052"], (work.get("command"), work.get("ports")))
    check("docker-compose.yml: main_service on 50051, routing to work_service:50052",
          has_flag(main.get("command"), "--port=50051") and
          has_flag(main.get("command"), "--work_address=work_service:50052") and
          main.get("ports") == ["50051:50051"], (main.get("command"), main.get("ports")))
    check("docker-compose.yml: both build docker/Dockerfile into pieces:latest",
          all(dig(s, "build", "dockerfile") == "docker/Dockerfile" and s.get("image") == "pieces:latest"
              for s in (work, main)))

print(f"{passed} passed, {failed} failed")
sys.exit(1 if failed else 0)
EOF
