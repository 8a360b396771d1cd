#!/bin/sh
# A throwaway PostgreSQL cluster for the tests and benchmarks, on loopback only.
#
#   scripts/pg-test-cluster.sh start DIR   initdb into DIR, start it, create taas_test, print its URL
#   scripts/pg-test-cluster.sh url DIR     print the URL of the cluster in DIR
#   scripts/pg-test-cluster.sh down DIR    stop the server but keep DIR (to test a lost database)
#   scripts/pg-test-cluster.sh up DIR      start a stopped cluster again on the same port
#   scripts/pg-test-cluster.sh stop DIR    stop the server and remove DIR
#
# The cluster is durable like a production one (fsync=on, synchronous_commit=on,
# full_page_writes=on), listens only on 127.0.0.1 on a port found free by
# trying, keeps its unix socket inside DIR and requires a password over TCP
# (scram-sha-256, a random one kept in DIR/password), so URLs carry a password
# as real ones do. As root, the server runs as the `postgres` system user
# (runuser); otherwise as the calling user. PG_BINDIR overrides the binaries,
# which default to the newest /usr/lib/postgresql/*/bin.
#
# Every wait is bounded (pg_ctl -t); every failure says what to do.
set -eu

prog=pg-test-cluster
die() { echo "$prog: $*" >&2; exit 1; }

[ $# -eq 2 ] || die "usage: $0 start|url|down|up|stop DIR"
cmd=$1
case $2 in
    /*) dir=$2 ;;
    *) dir=$(pwd)/$2 ;;
esac
data=$dir/data
marker=$dir/.taas-pg-test-cluster
wait_s=${PG_TEST_WAIT_S:-60}

find_bindir() {
    if [ -n "${PG_BINDIR:-}" ]; then
        [ -x "$PG_BINDIR/initdb" ] || die "PG_BINDIR=$PG_BINDIR has no initdb"
        echo "$PG_BINDIR"
        return
    fi
    best=""
    for d in /usr/lib/postgresql/*/bin; do
        [ -x "$d/initdb" ] && [ -x "$d/pg_ctl" ] && [ -x "$d/postgres" ] || continue
        best="$best$d
"
    done
    best=$(printf '%s' "$best" | sort -V | tail -n 1)
    [ -n "$best" ] || die "no PostgreSQL server binaries under /usr/lib/postgresql/*/bin: \
install them with 'scripts/deps.sh test' (Debian package postgresql) or set PG_BINDIR"
    echo "$best"
}

# Run a command as the owner of the cluster.
as_owner() {
    if [ "$(id -u)" -eq 0 ]; then
        runuser -u postgres -- "$@"
    else
        "$@"
    fi
}

port_in_use() {
    if command -v ss >/dev/null 2>&1; then
        ss -Htln "sport = :$1" 2>/dev/null | grep -q .
    else
        return 1 # the server's own bind failure tells us
    fi
}

write_url() {
    pw=$(cat "$dir/password")
    port=$(cat "$dir/port")
    echo "postgresql://$(cat "$dir/user"):$pw@127.0.0.1:$port/taas_test" >"$dir/url"
    chmod 600 "$dir/url"
}

# pg_ctl start on $port; returns non-zero if the server did not come up.
pg_start() {
    as_owner "$bindir/pg_ctl" -D "$data" -l "$dir/postgres.log" -w -t "$wait_s" \
        -o "-p $1" start >/dev/null 2>&1
}

start() {
    bindir=$(find_bindir)
    if [ -e "$data/postmaster.pid" ]; then
        die "a cluster is already running in $dir: run '$0 stop $dir' first"
    fi
    if [ -e "$dir" ] && [ ! -e "$marker" ] && [ -n "$(ls -A "$dir" 2>/dev/null)" ]; then
        die "$dir exists, is not empty and is not a test cluster: choose another directory"
    fi
    rm -rf "$dir"
    mkdir -p "$dir"
    : >"$marker"
    user=$(id -un)
    if [ "$(id -u)" -eq 0 ]; then
        id postgres >/dev/null 2>&1 ||
            die "no 'postgres' system user: install the Debian package postgresql (scripts/deps.sh test)"
        user=postgres
        chown postgres: "$dir"
        runuser -u postgres -- test -w "$dir" ||
            die "user postgres cannot write $dir (a parent directory is not searchable): use a DIR under /tmp"
    fi
    echo "$user" >"$dir/user"
    umask 077
    head -c 18 /dev/urandom | od -An -tx1 | tr -d ' \n' >"$dir/password"
    umask 022
    chmod 600 "$dir/password"
    pwfile=$dir/pwfile
    cp "$dir/password" "$pwfile"
    [ "$(id -u)" -eq 0 ] && chown postgres: "$pwfile"
    if ! as_owner "$bindir/initdb" -D "$data" -U "$user" --pwfile="$pwfile" -E UTF8 \
        --locale=C --auth-local=trust --auth-host=scram-sha-256 >"$dir/initdb.log" 2>&1; then
        rm -f "$pwfile"
        die "initdb failed; see $dir/initdb.log: $(tail -n 3 "$dir/initdb.log" | tr '\n' ' ')"
    fi
    rm -f "$pwfile"
    # Only loopback; durability settings stated explicitly, whatever the defaults.
    cat >>"$data/postgresql.conf" <<EOF

# --- taas test cluster ---
listen_addresses = '127.0.0.1'
unix_socket_directories = '$dir'
fsync = on
synchronous_commit = on
full_page_writes = on
max_connections = 100
EOF
    tries=0
    while :; do
        tries=$((tries + 1))
        [ $tries -le 20 ] || die "no free port found in 20 tries; see $dir/postgres.log"
        port=$(( $(od -An -N2 -tu2 /dev/urandom | tr -d ' ') % 20000 + 20000 ))
        port_in_use "$port" && continue
        if pg_start "$port"; then
            break
        fi
        if grep -q -e "could not bind" -e "Address already in use" "$dir/postgres.log" 2>/dev/null; then
            : >"$dir/postgres.log"
            continue
        fi
        die "the server did not start within ${wait_s}s; see $dir/postgres.log: \
$(tail -n 3 "$dir/postgres.log" 2>/dev/null | tr '\n' ' ')"
    done
    echo "$port" >"$dir/port"
    if ! as_owner "$bindir/psql" -X -q -h "$dir" -p "$port" -U "$user" -d postgres \
        -c "CREATE DATABASE taas_test" >"$dir/createdb.log" 2>&1; then
        as_owner "$bindir/pg_ctl" -D "$data" -m immediate -w -t "$wait_s" stop >/dev/null 2>&1 || true
        die "cannot create database taas_test: $(cat "$dir/createdb.log")"
    fi
    write_url
    cat "$dir/url"
}

url() {
    [ -f "$dir/url" ] || die "no test cluster in $dir: run '$0 start $dir'"
    cat "$dir/url"
}

down() {
    [ -e "$marker" ] || die "no test cluster in $dir"
    bindir=$(find_bindir)
    [ -e "$data/postmaster.pid" ] || return 0
    as_owner "$bindir/pg_ctl" -D "$data" -m fast -w -t "$wait_s" stop >/dev/null 2>&1 ||
        as_owner "$bindir/pg_ctl" -D "$data" -m immediate -w -t "$wait_s" stop >/dev/null 2>&1 ||
        die "cannot stop the server in $dir; see $dir/postgres.log"
}

up() {
    [ -e "$marker" ] && [ -f "$dir/port" ] || die "no test cluster in $dir: run '$0 start $dir'"
    bindir=$(find_bindir)
    [ -e "$data/postmaster.pid" ] && return 0
    pg_start "$(cat "$dir/port")" ||
        die "the server in $dir did not start within ${wait_s}s (port $(cat "$dir/port") taken?); \
see $dir/postgres.log"
}

stop() {
    if [ ! -e "$dir" ]; then
        return 0
    fi
    [ -e "$marker" ] || die "$dir is not a test cluster; not removing it"
    if [ -e "$data/postmaster.pid" ]; then
        down
    fi
    rm -rf "$dir"
}

case $cmd in
    start) start ;;
    url) url ;;
    down) down ;;
    up) up ;;
    stop) stop ;;
    *) die "unknown command '$cmd': use start, url, down, up or stop" ;;
esac
