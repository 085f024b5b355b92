# Prometheus for docker-compose.yml: Debian's prometheus package on the
# project's Debian base image (no registry needed; scripts/docker-base-image.sh
# makes the base image on offline machines), with docker/prometheus.yml.
# Build from the repository root:
#   docker build -f docker/prometheus.Dockerfile -t pieces-prometheus .
ARG BASE_IMAGE=debian:bookworm-slim
FROM ${BASE_IMAGE}
ENV DEBIAN_FRONTEND=noninteractive
RUN apt-get update \
 && apt-get install -y --no-install-recommends prometheus \
 && rm -rf /var/lib/apt/lists/* \
 && mkdir -p /prometheus && chown prometheus:prometheus /prometheus
COPY docker/prometheus.yml /etc/prometheus/prometheus.yml
# Fail the build here if the configuration does not load.
RUN promtool check config /etc/prometheus/prometheus.yml
USER prometheus
EXPOSE 9090
ENTRYPOINT ["/usr/bin/prometheus"]
CMD ["--config.file=/etc/prometheus/prometheus.yml", \
     "--storage.tsdb.path=/prometheus", \
     "--web.listen-address=:9090"]
