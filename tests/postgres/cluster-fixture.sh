#!/bin/sh
# ctest fixture around scripts/pg-test-cluster.sh:
#   cluster-fixture.sh start|stop CLUSTER_SCRIPT DIR URL_FILE
# start: a fresh cluster in DIR (one left over by an interrupted run is
# removed first) and its URL in URL_FILE. stop: the cluster and the file go.
set -eu
cmd=$1 script=$2 dir=$3 urlfile=$4
case $cmd in
start)
    rm -f "$urlfile"
    sh "$script" stop "$dir"
    url=$(sh "$script" start "$dir")
    printf '%s\n' "$url" >"$urlfile"
    chmod 600 "$urlfile"
    echo "PostgreSQL test cluster in $dir is up"
    ;;
stop)
    rm -f "$urlfile"
    sh "$script" stop "$dir"
    echo "PostgreSQL test cluster in $dir is stopped and removed"
    ;;
*)
    echo "usage: $0 start|stop CLUSTER_SCRIPT DIR URL_FILE" >&2
    exit 2
    ;;
esac
