#!/bin/sh
# Runs the test suite: every cmocka unit test binary, then every end-to-end
# script.  Usage: tests/run.sh OBJDIR BIN.  TESTS_ONLY=unit|e2e narrows it;
# VALGRIND=1 runs the unit tests under valgrind.  KAFKA=mock|real|both
# (default both) picks the Kafka the end-to-end tests run on: librdkafka's
# mock cluster, a real Apache Kafka broker (tests/kafka/broker.sh), or each
# test on both, the real run named NAME@real.  A test that cannot run on a
# backend says "skip: ..." and is counted as skipped.  TESTS="routing retry"
# runs only those end-to-end tests (names of tests/e2e/NAME.sh; default all).
# A run whose log, or any file its processes wrote in its log directory,
# holds a ThreadSanitizer report fails, even when the process that raced
# was killed (kill -9) or its exit status not checked.  Logs go to
# OBJDIR/test-logs/; the last line is "N passed, N failed, N skipped" (test
# cases: cmocka cases and end-to-end checks; skipped: test runs).
OBJDIR=$1
BIN=$2
LOGS=$OBJDIR/test-logs
rm -rf "$LOGS"
mkdir -p "$LOGS"
pass=0
fail=0
skipped=0
failed=""
whys=""
KAFKA=${KAFKA:-both}
TESTS=${TESTS:-}
for t in $TESTS; do
    if [ ! -f "tests/e2e/$t.sh" ] || [ "$t" = lib ]; then
        echo "TESTS: no end-to-end test tests/e2e/$t.sh" >&2
        exit 2
    fi
done
case $KAFKA in
mock | real | both) ;;
*)
    echo "KAFKA=$KAFKA: expected mock, real or both" >&2
    exit 2
    ;;
esac

count() { # log file; adds its cases to the totals
    p=$(sed -n 's/^\[  PASSED  \] \([0-9]*\) test.*/\1/p; s/^ok: .*/1/p' "$1" | awk '{s+=$1} END {print s+0}')
    f=$(sed -n 's/^\[  FAILED  \] \([0-9]*\) test.*/\1/p; s/^FAIL: .*/1/p' "$1" | awk '{s+=$1} END {print s+0}')
    pass=$((pass + p))
    fail=$((fail + f))
}

# tsan_reports LOG: fails the run when LOG, or a file under the directory
# LOG names without its .log (the end-to-end test's own logs), holds a
# ThreadSanitizer report; says where in LOG, as a failed check.
tsan_reports() {
    found=$(grep -rlE '(WARNING|ERROR): ThreadSanitizer|ThreadSanitizer:DEADLYSIGNAL' \
        "$1" "${1%.log}" 2>/dev/null)
    [ -n "$found" ] || return 0
    for f in $found; do
        echo "FAIL: ThreadSanitizer report in $f" >>"$1"
    done
    return 1
}

run_one() { # name log command...
    name=$1
    log=$2
    shift 2
    start=$(date +%s)
    if "$@" >"$log" 2>&1; then
        status=ok
    else
        status=FAILED
    fi
    tsan_reports "$log" || status=FAILED
    before=$fail
    count "$log"
    # A run that ended cleanly saying "skip: ..." is one skipped run.
    if [ $status = ok ] && [ $fail -eq $before ] && grep -q '^skip: ' "$log"; then
        status=skipped
        skipped=$((skipped + 1))
    fi
    if [ $status = FAILED ] && [ $fail -eq $before ]; then
        fail=$((fail + 1)) # it died without saying which check failed
    fi
    printf '%-28s %s (%ss)\n' "$name" "$status" $(($(date +%s) - start))
    if [ $status = FAILED ]; then
        failed="$failed $name"
        why=$(
            grep -E '^(FAIL|\[  FAILED|\[  ERROR|ERROR|==[0-9]+==)' "$log" | head -20 | sed 's/^/    /'
            tail -5 "$log" | sed 's/^/    | /'
        )
        echo "$why"
        # Said again under the summary: a CI that keeps only the output's
        # tail still shows why a test failed.
        whys="$whys$name:
$why
"
    fi
}

if [ "${TESTS_ONLY:-}" != e2e ]; then
    for t in "$OBJDIR"/tests/test_*; do
        [ -x "$t" ] || continue
        name=$(basename "$t")
        if [ -n "${VALGRIND:-}" ]; then
            run_one "$name" "$LOGS/$name.log" valgrind --quiet --leak-check=full \
                --errors-for-leak-kinds=definite --error-exitcode=99 "$t"
        else
            run_one "$name" "$LOGS/$name.log" "$t"
        fi
    done
fi

if [ "${TESTS_ONLY:-}" != unit ]; then
    backends="mock real"
    [ "$KAFKA" = both ] || backends=$KAFKA
    for t in tests/e2e/*.sh; do
        [ "$(basename "$t")" = lib.sh ] && continue
        if [ -n "$TESTS" ]; then
            case " $TESTS " in
            *" $(basename "$t" .sh) "*) ;;
            *) continue ;;
            esac
        fi
        for backend in $backends; do
            name=e2e/$(basename "$t" .sh)
            [ "$backend" = real ] && name=$name@real
            dir="$LOGS/$name"
            mkdir -p "$dir"
            run_one "$name" "$dir.log" env BIN="$BIN" HELPERS="$OBJDIR/helpers" \
                TEST_LOG_DIR="$dir" KAFKA="$backend" sh "$t" "$BIN"
        done
    done
fi

echo
if [ -n "$failed" ]; then
    printf '%s' "$whys"
    echo "failed:$failed (logs in $LOGS)"
fi
echo "$pass passed, $fail failed, $skipped skipped"
[ $fail -eq 0 ]
