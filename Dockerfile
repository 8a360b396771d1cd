# syntax=docker/dockerfile:1
#
# taas-server in a container: Debian 12 packages only, built with `make`,
# run as a non-root user. See docs/deployment.md ("Containers").
#
#   docker build -t taas .
#   docker run -v taas-data:/var/lib/taas -p 127.0.0.1:50051:50051 \
#              -p 127.0.0.1:8080:8080 taas --insecure
#
# The image serves gRPC on 0.0.0.0:50051 and HTTP (JSON API, /metrics,
# /readyz, the dashboard) on 0.0.0.0:8080. taas-server refuses a
# non-loopback address without TLS and bearer tokens unless given
# --insecure: mount a certificate, key and tokens file and set
# TAAS_TLS_CERT, TAAS_TLS_KEY and TAAS_TOKENS_FILE for anything but ports
# published on the host's loopback.
#
# Data: /var/lib/taas is a volume. The SQLite default database (and task
# output) lives there, so it survives a new image; without -v, Docker makes
# an anonymous volume that `docker rm -v` or `compose down -v` deletes.

# ---- build: the packages of scripts/deps.sh's build list, then make ----
FROM debian:12 AS build
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
      build-essential cmake pkg-config python3 python3-yaml libgrpc-dev libabsl-dev \
      libprotobuf-c-dev protobuf-c-compiler protobuf-compiler libsqlite3-dev libpq-dev \
      libjsmn-dev libpcre2-dev libcurl4-openssl-dev libmicrohttpd-dev \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY . .
# make = scripts/deps.sh build (finds everything installed) + cmake + build.
# The test suite is not built: `make test` runs on a development machine.
RUN make WERROR=1 CMAKE_FLAGS="-DTAAS_TESTS=OFF" \
 && ./build/taas-server --help >/dev/null

# ---- runtime: the shared libraries taas-server and taas link, nothing else ----
FROM debian:12-slim
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
      libgrpc29 libprotobuf-c1 libsqlite3-0 libpq5 libpcre2-8-0 libcurl4 libmicrohttpd12 \
      ca-certificates curl \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --system --uid 10001 --user-group --home-dir /var/lib/taas --create-home taas
COPY --from=build /src/build/taas-server /src/build/taas /usr/local/bin/
USER taas
WORKDIR /var/lib/taas
# The SQLite default (sqlite:///taas.db) lands in /var/lib/taas; set
# DATABASE_URL=postgresql://... to share the work between many servers.
ENV TAAS_LISTEN=0.0.0.0:50051 \
    TAAS_HTTP=0.0.0.0:8080 \
    TAAS_OUTPUT_ROOT=/var/lib/taas/output \
    TAAS_SERVER=127.0.0.1:50051
VOLUME ["/var/lib/taas"]
EXPOSE 50051 8080
# /readyz: 200 only while the engine accepts work and the store answers a
# read, so a container whose database is unreachable is reported unhealthy
# (a bare gRPC health check would still pass). Open without a token; with
# TLS the port speaks HTTPS: set TAAS_HEALTH_URL=https://127.0.0.1:8080/readyz.
HEALTHCHECK --interval=10s --timeout=5s --start-period=20s --retries=3 \
    CMD curl -fsS -k --max-time 3 "${TAAS_HEALTH_URL:-http://127.0.0.1:8080/readyz}" || exit 1
STOPSIGNAL SIGTERM
ENTRYPOINT ["taas-server"]
