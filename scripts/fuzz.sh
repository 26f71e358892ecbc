#!/bin/sh
# The fuzz targets' side of the build (see "Fuzzing" in README.md).
#   fuzz.sh deps                     installs clang and its libFuzzer runtime when
#                                    missing (as scripts/deps.sh does for the rest)
#   fuzz.sh run SECONDS TARGET...    fuzzes each target for SECONDS, one after another
#   fuzz.sh replay SECONDS TARGET... every committed corpus input once, then each
#                                    target for SECONDS: what CI runs
# A target build/fuzz/fuzz_NAME reads tests/fuzz/corpus/NAME/ (committed, never
# written) and tests/fuzz/NAME.dict when there is one; new inputs go to
# build/fuzz/corpus/NAME/, crashes to build/fuzz/crashes/, logs to
# build/fuzz/logs/.  Exits non-zero when any target found a crash, a leak or
# undefined behaviour; the last line sums the executions.
set -u
FUZZ_CC=${FUZZ_CC:-clang-14}
OUT=build/fuzz
# Leaks inside libraries we cannot fix (each one explained in the file).
export LSAN_OPTIONS="suppressions=$(pwd)/tests/fuzz/lsan.supp:print_suppressions=0"
export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1"

deps() {
    probe=$(mktemp -d)
    printf 'int LLVMFuzzerTestOneInput(const char *d, unsigned long n);\nint LLVMFuzzerTestOneInput(const char *d, unsigned long n) { (void)d; (void)n; return 0; }\n' >"$probe/p.c"
    if "$FUZZ_CC" -fsanitize=fuzzer,address,undefined -o "$probe/p" "$probe/p.c" >/dev/null 2>&1; then
        rm -rf "$probe"
        return 0
    fi
    rm -rf "$probe"
    echo "make fuzz: installing clang-14 libclang-rt-14-dev"
    SUDO=""
    [ "$(id -u)" -eq 0 ] || SUDO="sudo"
    export DEBIAN_FRONTEND=noninteractive
    $SUDO apt-get update -qq
    $SUDO apt-get install -y -qq --no-install-recommends clang-14 libclang-rt-14-dev
}

# One libFuzzer run of target $1 with the extra arguments that follow;
# returns libFuzzer's status and adds the executions to the total.
run_target() {
    bin=$1
    shift
    name=${bin##*/fuzz_}
    log=$OUT/logs/$name$phase.log
    mkdir -p "$OUT/corpus/$name" "$OUT/crashes" "$OUT/logs" "tests/fuzz/corpus/$name"
    dict=""
    [ -f "tests/fuzz/$name.dict" ] && dict="-dict=tests/fuzz/$name.dict"
    # shellcheck disable=SC2086
    "$bin" -print_final_stats=1 -timeout=10 -rss_limit_mb=2048 -max_len=8192 $dict \
        -artifact_prefix="$OUT/crashes/$name-" "$@" >"$log" 2>&1
    status=$?
    execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
    execs=${execs:-0}
    total=$((total + execs))
    if [ $status -eq 0 ]; then
        printf '%-20s ok    %10s executions  %s\n' "$name" "$execs" "$log"
    else
        printf '%-20s FAIL  %10s executions  %s\n' "$name" "$execs" "$log"
        grep -E '^(==[0-9]+==ERROR|SUMMARY|.*runtime error|artifact_prefix|Test unit written)' "$log" |
            head -8 | sed 's/^/    /'
        failed="$failed $name"
    fi
    return $status
}

total=0
failed=""
phase=""
cmd=${1:-}
case "$cmd" in
deps)
    deps
    exit $?
    ;;
run | replay)
    seconds=$2
    shift 2
    ;;
*)
    echo "usage: fuzz.sh deps | run SECONDS TARGET... | replay SECONDS TARGET..." >&2
    exit 2
    ;;
esac

for bin in "$@"; do
    name=${bin##*/fuzz_}
    if [ "$cmd" = replay ]; then
        # Each committed input once (a file argument is run, not fuzzed).
        files=$(find "tests/fuzz/corpus/$name" -type f 2>/dev/null | sort)
        if [ -n "$files" ]; then
            phase=-replay
            # shellcheck disable=SC2086
            run_target "$bin" $files || continue
        fi
    fi
    phase=""
    # The scratch corpus first: libFuzzer writes new inputs to the first one.
    run_target "$bin" -max_total_time="$seconds" "$OUT/corpus/$name" "tests/fuzz/corpus/$name"
done
echo "fuzz: $total executions in all${failed:+; FAILED:$failed}"
[ -z "$failed" ]
