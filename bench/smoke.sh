#!/bin/bash
# bench_smoke: start taas-server on a free loopback port with a temporary
# database, run taas-bench with a tiny N (as fast as possible, then paced),
# and stop the server. Checks the tool works, not speed.
# usage: smoke.sh TAAS_SERVER_BINARY TAAS_BENCH_BINARY
set -u
server_bin=$1
bench_bin=$2
dir=$(mktemp -d /tmp/taas-bench-smoke.XXXXXX)
pid=
cleanup() {
    if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
        kill -TERM "$pid"
        for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
        kill -KILL "$pid" 2>/dev/null
    fi
    rm -rf "$dir"
}
trap cleanup EXIT

TAAS_WORKERS=2 "$server_bin" --listen 127.0.0.1:0 --database-url "sqlite:///$dir/taas.db" \
    --log-level info 2>"$dir/server.log" &
pid=$!
addr=
for _ in $(seq 100); do
    addr=$(grep -m1 'server.start' "$dir/server.log" | grep -o 'listen=[^ ]*' | cut -d= -f2)
    [ -n "$addr" ] && break
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
done
if [ -z "$addr" ]; then
    echo "bench_smoke: the server did not start:" >&2
    cat "$dir/server.log" >&2
    exit 1
fi

"$bench_bin" --server "$addr" -n 200 -c 8 --max-seconds 20 || exit 1
"$bench_bin" --server "$addr" -n 20 -c 4 --rate 200 --max-seconds 20 --json >"$dir/out.json" || exit 1
grep -q '"ok":true' "$dir/out.json" || { cat "$dir/out.json"; exit 1; }
echo "bench_smoke: ok"
