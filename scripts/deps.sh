#!/bin/sh
# Installs the Debian packages TaaS needs, if any is missing.
#
#   scripts/deps.sh build   what `make` needs (compilers, libraries, generators)
#   scripts/deps.sh test    also what `make test` needs (cmocka, Python gRPC, PostgreSQL)
#   scripts/deps.sh fuzz    also what `make fuzz` needs (clang and its libFuzzer runtime)
#
# As root it runs apt-get itself; otherwise it prints the exact command and fails,
# so that nothing half-configured is built.
set -eu

# python3-grpcio: the README's first call after `make run` is the Python
# client (examples/simple_task.py).
# libabsl-dev comes with libgrpc-dev; it is named because runtime/server/absl_mutex.cc
# includes its headers (and build-essential brings the C++ compiler for that file).
BUILD_PKGS="build-essential cmake pkg-config python3 python3-yaml libgrpc-dev libabsl-dev \
libprotobuf-c-dev protobuf-c-compiler protobuf-compiler libsqlite3-dev libpq-dev \
libjsmn-dev libpcre2-dev libcurl4-openssl-dev libmicrohttpd-dev python3-grpcio"
TEST_PKGS="libcmocka-dev python3-grpcio python3-protobuf protobuf-compiler-grpc openssl python3-pytest mypy \
postgresql sqlite3 chromium prometheus"
# libFuzzer ships in the clang runtime package (Debian 12: clang 14).
FUZZ_PKGS="clang libclang-rt-14-dev"

want="$BUILD_PKGS"
[ "${1:-build}" = "test" ] && want="$want $TEST_PKGS"
[ "${1:-build}" = "fuzz" ] && want="$want $FUZZ_PKGS"

missing=""
for p in $want; do
    if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
        missing="$missing $p"
    fi
done
# node and npm (tests/mcp runs the MCP SDK's client): any install will do,
# Debian's or one that bundles npm, so only a missing command adds them.
if [ "${1:-build}" = "test" ] && ! command -v npm >/dev/null 2>&1; then
    missing="$missing nodejs npm"
fi
[ -z "$missing" ] && exit 0

if [ "$(id -u)" -ne 0 ]; then
    echo "taas: missing Debian packages:$missing" >&2
    echo "taas: install them with:  sudo apt-get update && sudo apt-get install -y$missing" >&2
    exit 1
fi
echo "taas: installing Debian packages:$missing" >&2
export DEBIAN_FRONTEND=noninteractive
# Refresh the package lists at most once a day: a fresh machine has none.
stamp=/var/lib/apt/periodic/taas-update-stamp
if [ ! -f "$stamp" ] || [ -n "$(find "$stamp" -mmin +1440 2>/dev/null)" ]; then
    apt-get update -qq
    mkdir -p "$(dirname "$stamp")" && touch "$stamp"
fi
apt-get install -y -qq --no-install-recommends $missing >/dev/null
