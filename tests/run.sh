#!/bin/sh
# Runs the test suite: every cmocka unit test binary, then every end-to-end
# script.  Usage: tests/run.sh OBJDIR BIN.  TESTS_ONLY=unit|e2e narrows it;
# VALGRIND=1 runs the unit tests under valgrind.  Logs go to
# OBJDIR/test-logs/; the last line is "N passed, N failed" (test cases:
# cmocka cases and end-to-end checks).
OBJDIR=$1
BIN=$2
LOGS=$OBJDIR/test-logs
rm -rf "$LOGS"
mkdir -p "$LOGS"
pass=0
fail=0
failed=""

count() { # log file; adds its cases to the totals
    p=$(sed -n 's/^\[  PASSED  \] \([0-9]*\) test.*/\1/p; s/^ok: .*/1/p' "$1" | awk '{s+=$1} END {print s+0}')
    f=$(sed -n 's/^\[  FAILED  \] \([0-9]*\) test.*/\1/p; s/^FAIL: .*/1/p' "$1" | awk '{s+=$1} END {print s+0}')
    pass=$((pass + p))
    fail=$((fail + f))
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
    before=$fail
    count "$log"
    if [ $status = FAILED ] && [ $fail -eq $before ]; then
        fail=$((fail + 1)) # it died without saying which check failed
    fi
    printf '%-28s %s (%ss)\n' "$name" "$status" $(($(date +%s) - start))
    if [ $status = FAILED ]; then
        failed="$failed $name"
        grep -E '^(FAIL|\[  FAILED|\[  ERROR|ERROR|==[0-9]+==)' "$log" | head -20 | sed 's/^/    /'
        tail -5 "$log" | sed 's/^/    | /'
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
    for t in tests/e2e/*.sh; do
        [ "$(basename "$t")" = lib.sh ] && continue
        name=e2e/$(basename "$t" .sh)
        dir="$LOGS/$name"
        mkdir -p "$dir"
        run_one "$name" "$dir.log" env BIN="$BIN" HELPERS="$OBJDIR/helpers" TEST_LOG_DIR="$dir" \
            sh "$t" "$BIN"
    done
fi

echo
[ -n "$failed" ] && echo "failed:$failed (logs in $LOGS)"
echo "$pass passed, $fail failed"
[ $fail -eq 0 ]
