# syntax=docker/dockerfile:1
#
# taas-server in a container: Debian 12 packages only, built with `make`,
# run as a non-root user. See docs/deployment.md ("Containers").
#
#   docker build -t taas .
#   docker run -p 50051:50051 -e DATABASE_URL=postgresql://... taas --insecure
#
# The image listens on 0.0.0.0:50051. taas-server refuses a non-loopback
# address without TLS and bearer tokens unless given --insecure: mount a
# certificate, key and tokens file and set TAAS_TLS_CERT, TAAS_TLS_KEY and
# TAAS_TOKENS_FILE for anything but a private network.

# ---- build: the packages of scripts/deps.sh's build list, then make ----
FROM debian:12 AS build
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
      build-essential cmake pkg-config python3 python3-yaml libgrpc-dev libabsl-dev \
      libprotobuf-c-dev protobuf-c-compiler protobuf-compiler libsqlite3-dev libpq-dev \
      libjsmn-dev libpcre2-dev \
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
      libgrpc29 libprotobuf-c1 libsqlite3-0 libpq5 libpcre2-8-0 ca-certificates \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --system --uid 10001 --user-group --home-dir /var/lib/taas --create-home taas
COPY --from=build /src/build/taas-server /src/build/taas /usr/local/bin/
USER taas
WORKDIR /var/lib/taas
# The SQLite default (sqlite:///taas.db) lands in /var/lib/taas; set
# DATABASE_URL=postgresql://... to share the work between many servers.
ENV TAAS_LISTEN=0.0.0.0:50051 \
    TAAS_OUTPUT_ROOT=/var/lib/taas/output \
    TAAS_SERVER=127.0.0.1:50051
EXPOSE 50051
# grpc.health.v1.Health/Check through the CLI: exit 0 only when SERVING.
# With TLS or tokens, TAAS_TLS_CA / TAAS_TOKEN_FILE in the environment reach it too.
HEALTHCHECK --interval=10s --timeout=5s --start-period=20s --retries=3 \
    CMD ["taas", "--deadline", "3", "health"]
STOPSIGNAL SIGTERM
ENTRYPOINT ["taas-server"]
