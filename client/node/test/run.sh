#!/bin/sh
# ctest's node_client: install the locked dependencies when they are missing
# (npm ci, from package-lock.json; skipped when present, so an offline
# machine that has them still runs), then node's own test runner.
set -eu
cd "$(dirname "$0")/.."
if [ ! -d node_modules/@grpc/grpc-js ] || [ ! -d node_modules/@grpc/proto-loader ] ||
   [ ! -d node_modules/protobufjs ]; then
    npm ci --no-audit --no-fund --loglevel=error
fi
exec node --test test/client.test.mjs test/secure.test.mjs test/retry.test.mjs
