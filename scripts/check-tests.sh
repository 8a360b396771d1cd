#!/bin/sh
# scripts/check-tests.sh BUILD_DIR - the tests ctest has registered, against
# the list the tree declares (tests/TESTS, one name a line).
#
# A configure step that lacks a dependency (cmocka, protoc, libpq, Python
# gRPC) builds fewer tests and says so only in a warning; this check makes
# `make test` fail instead, naming every declared test that is not
# registered. A registered test missing from the list fails too: add its
# name to tests/TESTS in the change that adds the test.
set -eu
build=${1:-build}
list="$(cd "$(dirname "$0")/.." && pwd)/tests/TESTS"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
(cd "$build" && ctest -N) | sed -n 's/^ *Test *#[0-9]*: //p' | sort -u > "$tmp/registered"
grep -v '^#' "$list" | sed '/^[[:space:]]*$/d' | sort -u > "$tmp/declared"
comm -23 "$tmp/declared" "$tmp/registered" > "$tmp/missing"
comm -13 "$tmp/declared" "$tmp/registered" > "$tmp/extra"
echo "tests: $(wc -l < "$tmp/registered") registered, $(wc -l < "$tmp/declared") declared in tests/TESTS"
status=0
if [ -s "$tmp/missing" ]; then
    echo "declared in tests/TESTS but not registered (a missing dependency? see the configure" >&2
    echo "warnings; scripts/deps.sh test installs the test packages):" >&2
    sed 's/^/  /' "$tmp/missing" >&2
    status=1
fi
if [ -s "$tmp/extra" ]; then
    echo "registered but not declared: add these names to tests/TESTS:" >&2
    sed 's/^/  /' "$tmp/extra" >&2
    status=1
fi
exit $status
