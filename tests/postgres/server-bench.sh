#!/bin/bash
# Not a test: taas-bench against taas-server on a throwaway PostgreSQL
# cluster, with the statements every run sent (pg_stat_statements), for the
# PostgreSQL figures in docs/performance.md and docs/deployment.md.
#
#   tests/postgres/server-bench.sh BUILD_DIR [N [C [REPS [taas-bench options...]]]]
#   tests/postgres/server-bench.sh build 20000 64 3
#   tests/postgres/server-bench.sh build 1000 4 1 --rate 200
#
# Each repetition gets a fresh database and a fresh server (TAAS_WORKERS=2
# unless set, --log-level info as bench/compare); statements per task are
# pg_stat_statements calls / N; the writer's round trips are its BEGINs (one
# pipelined batch each), the readers' one per statement. The cluster runs in
# /tmp/taas-pg-bench and is removed at the end, whatever happens.
set -u
[ $# -ge 1 ] || { echo "usage: $0 BUILD_DIR [N [C [REPS [taas-bench options...]]]]" >&2; exit 2; }
B=$1 N=${2:-20000} C=${3:-64} REPS=${4:-3}
shift $(( $# < 4 ? $# : 4 ))
REPO=$(cd "$(dirname "$0")/../.." && pwd)
CLUSTER="sh $REPO/scripts/pg-test-cluster.sh"
D=/tmp/taas-pg-bench
pid= W=
cleanup() {
    if [ -n "$pid" ]; then kill -TERM "$pid" 2>/dev/null && wait "$pid"; fi
    [ -n "$W" ] && rm -rf "$W"
    $CLUSTER stop $D
}
trap cleanup EXIT
$CLUSTER stop $D >/dev/null 2>&1
URL=$($CLUSTER start $D) || exit 1
psql -X -q -d "$URL" -c "ALTER SYSTEM SET shared_preload_libraries = 'pg_stat_statements'" || exit 1
$CLUSTER down $D && $CLUSTER up $D || exit 1
base=${URL%/*}
for r in $(seq "$REPS"); do
    db=bench_$r
    psql -X -q -d "$URL" -c "CREATE DATABASE $db" || exit 1
    psql -X -q -d "$base/$db" -c "CREATE EXTENSION pg_stat_statements" || exit 1
    W=$(mktemp -d /tmp/taas-pgb.XXXXXX)
    TAAS_WORKERS=${TAAS_WORKERS:-2} "$B/taas-server" --listen 127.0.0.1:0 \
        --database-url "$base/$db" --log-level info 2>"$W/server.log" &
    pid=$!
    addr=
    for _ in $(seq 300); do
        addr=$(grep -m1 server.start "$W/server.log" | grep -o 'listen=[^ ]*' | cut -d= -f2)
        [ -n "$addr" ] && break
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
    done
    [ -n "$addr" ] || { cat "$W/server.log"; exit 1; }
    psql -X -q -d "$base/$db" -c "SELECT pg_stat_statements_reset()" >/dev/null
    "$B/taas-bench" --server "$addr" -n "$N" -c "$C" --label "pg-$r" --no-verify "$@" || exit 1
    sleep 1
    psql -X -A -t -F ' ' -d "$base/$db" -c "
        WITH s AS (SELECT calls, query FROM pg_stat_statements
                   WHERE dbid = (SELECT oid FROM pg_database WHERE datname = '$db')
                   AND query NOT LIKE '%pg_stat_statements%')
        SELECT 'statements/task', round(sum(calls)::numeric / $N, 3) FROM s
        UNION ALL
        SELECT 'round trips/task', round((sum(calls) FILTER (WHERE query = 'BEGIN')
               + sum(calls) FILTER (WHERE query LIKE 'SELECT id, name, %'))::numeric / $N, 4) FROM s
        UNION ALL
        SELECT 'transactions/task', round(sum(calls) FILTER (WHERE query = 'COMMIT')::numeric / $N, 4)
        FROM s"
    psql -X -A -F '	' -d "$base/$db" -c "
        SELECT calls, round(calls::numeric / $N, 4) AS per_task,
               left(regexp_replace(query, '\s+', ' ', 'g'), 60) AS statement
        FROM pg_stat_statements
        WHERE dbid = (SELECT oid FROM pg_database WHERE datname = '$db')
        AND query NOT LIKE '%pg_stat_statements%' ORDER BY calls DESC"
    kill -TERM "$pid"
    wait "$pid"
    pid=
    rm -rf "$W"
    W=
done
