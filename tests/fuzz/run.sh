#!/bin/sh
# Builds the fuzz targets with clang + libFuzzer (ASan + UBSan) and runs each
# for a while. `make fuzz` calls this; see docs/fuzzing.md.
#
#   tests/fuzz/run.sh [-s SECONDS] [-t TARGET] [-b BUILD_DIR] [-d DATA_DIR] [-j JOBS]
#
# Per target, libFuzzer reads the committed corpus (tests/fuzz/corpus/T), the
# regression inputs (tests/fuzz/regressions/T) and the seeds made from the
# public suites, and writes what it finds new into BUILD_DIR/fuzz/work/T
# (kept between runs, never committed). A crash, leak or timeout leaves its
# input in BUILD_DIR/fuzz/artifacts/T/ and makes the script fail; the last
# lines of BUILD_DIR/fuzz/T.log are libFuzzer's statistics.
set -eu

seconds=60
only=""
build=build-fuzz
data=""
jobs=$(nproc 2>/dev/null || echo 2)
while getopts s:t:b:d:j: opt; do
    case $opt in
    s) seconds=$OPTARG ;;
    t) only=$OPTARG ;;
    b) build=$OPTARG ;;
    d) data=$OPTARG ;;
    j) jobs=$OPTARG ;;
    *) echo "usage: $0 [-s SECONDS] [-t TARGET] [-b BUILD_DIR] [-d DATA_DIR] [-j JOBS]" >&2
       exit 2 ;;
    esac
done

src=$(cd "$(dirname "$0")/../.." && pwd)
fz="$src/tests/fuzz"
all="json validators proto request_path safe_path page_token tokens_file idempotency strings"
targets=${only:-$all}
for t in $targets; do
    case " $all " in *" $t "*) ;; *) echo "fuzz: no target '$t' (one of: $all)" >&2; exit 2 ;; esac
done
[ -n "$data" ] || data="$src/../shared/data"
case $build in /*) ;; *) build="$src/$build" ;; esac

command -v clang >/dev/null || { echo "fuzz: clang missing: scripts/deps.sh fuzz" >&2; exit 1; }
if [ ! -f "$build/CMakeCache.txt" ]; then
    cmake -S "$src" -B "$build" -DCMAKE_C_COMPILER=clang -DCMAKE_CXX_COMPILER=clang++ \
        -DCMAKE_BUILD_TYPE=RelWithDebInfo \
        -DTAAS_SANITIZE=ON -DTAAS_FUZZ_LIBFUZZER=ON -DTAAS_DATA_DIR="$data" \
        -DCMAKE_C_FLAGS="-fsanitize=fuzzer-no-link"
fi
names=""
for t in $targets; do names="$names fuzz_$t"; done
# shellcheck disable=SC2086
cmake --build "$build" -j "$jobs" --target $names

python3 "$fz/seeds.py" --data "$data" --out "$build/fuzz/seeds" --specs "$src/task-specs"

status=0
for t in $targets; do
    work="$build/fuzz/work/$t"
    art="$build/fuzz/artifacts/$t"
    mkdir -p "$work" "$art"
    dirs="$work $fz/corpus/$t"
    [ -d "$fz/regressions/$t" ] && dirs="$dirs $fz/regressions/$t"
    [ -d "$build/fuzz/seeds/$t" ] && dirs="$dirs $build/fuzz/seeds/$t"
    # request_path: the engine's threads allocate between inputs, so
    # libFuzzer's per-input leak check would run after nearly every input
    # (a sixth of the speed); its leaks are checked by the ctest replay under
    # ASan, which stops the engine and frees everything first.
    extra=""
    [ "$t" = request_path ] && extra="-detect_leaks=0"
    echo "fuzz: $t for ${seconds}s (log: $build/fuzz/$t.log)"
    # -timeout: request_path waits up to 10 s for an answer on its own.
    # shellcheck disable=SC2086
    if ! "$build/fuzz/fuzz_$t" -max_total_time="$seconds" -timeout=30 -rss_limit_mb=2048 \
            -print_final_stats=1 -artifact_prefix="$art/" $extra $dirs \
            >"$build/fuzz/$t.log" 2>&1; then
        echo "fuzz: $t FOUND A PROBLEM; input(s) in $art/, details in $build/fuzz/$t.log" >&2
        status=1
    fi
    grep -E '^#[0-9]+.*(DONE|INITED)|stat::number_of_executed_units|stat::peak_rss_mb' \
        "$build/fuzz/$t.log" | sed "s/^/fuzz: $t: /" || true
done
exit $status
