#!/bin/sh
# End-to-end checks of tests/helpers/mockkafka, the mock Kafka cluster the
# other end-to-end tests run on: a kcat produce/consume round trip, fault
# commands (broker_down/broker_up, produce_errors), error answers, quit and
# --wait with SIGTERM.  Needs kcat.
#
#   sh tests/e2e/mockkafka.sh build/release/helpers/mockkafka
#   HELPERS=build/release/helpers sh tests/e2e/mockkafka.sh build/webhook-bridge
#
# Prints one "ok: ..." or "FAIL: ..." line per check; exits non-zero when any
# check failed.  Logs stay in $TMP on failure (or with KEEP_TMP=1).
set -u
# Once: it uses no Kafka (tests/run.sh runs each test on each backend).
if [ "${KAFKA:-mock}" = real ]; then
    echo "skip: mockkafka on real: tests the mock-cluster helper itself"
    exit 0
fi

# tests/run.sh passes the webhook-bridge binary as $1 and the helpers
# directory as $HELPERS.
MOCK=${1:?usage: mockkafka.sh PATH/TO/mockkafka}
case $MOCK in
*/mockkafka | mockkafka) ;;
*) MOCK=${HELPERS:?HELPERS must name the helpers directory}/mockkafka ;;
esac
# tests/run.sh gives a log directory to keep; otherwise a temporary one.
if [ -n "${TEST_LOG_DIR:-}" ]; then
    TMP=$TEST_LOG_DIR
    mkdir -p "$TMP"
    KEEP_TMP=1
else
    TMP=$(mktemp -d "${TMPDIR:-/tmp}/mockkafka-e2e.XXXXXX")
fi
PIDS=""
FAILS=0
MPID=""
BOOT=""
NSENT=0

cleanup() {
    exec 7>&- 2>/dev/null
    for p in $PIDS; do
        kill "$p" 2>/dev/null
    done
    wait 2>/dev/null
    if [ "${KEEP_TMP:-0}" = 1 ] || [ "$FAILS" -ne 0 ]; then
        echo "logs kept in $TMP"
    else
        rm -rf "$TMP"
    fi
}
trap cleanup EXIT
trap 'exit 1' INT TERM HUP

ok() {
    echo "ok: $*"
}

fail() {
    echo "FAIL: $*"
    FAILS=$((FAILS + 1))
}

# check WHAT EXPECTED ACTUAL
check() {
    if [ "$2" = "$3" ]; then
        ok "$1"
    else
        fail "$1 (expected '$2', got '$3')"
    fi
}

# wait_lines FILE N: waits up to 10 s until FILE has N lines.
wait_lines() {
    i=0
    while [ $i -lt 100 ]; do
        if [ -f "$1" ] && [ "$(wc -l <"$1" | tr -d ' ')" -ge "$2" ]; then
            return 0
        fi
        sleep 0.1
        i=$((i + 1))
    done
    return 1
}

# cmd LINE: sends one command to the mock on fd 7 and sets ANSWER to its
# answer line.  (Not called inside $(...): NSENT must survive.)
cmd() {
    printf '%s\n' "$1" >&7
    NSENT=$((NSENT + 1))
    # Line 1 is the bootstrap line.
    if wait_lines "$TMP/mock.out" $((NSENT + 1)); then
        ANSWER=$(sed -n "$((NSENT + 1))p" "$TMP/mock.out")
    else
        ANSWER="(no answer)"
    fi
}

# kcat_produce TOPIC MESSAGE [KCAT-OPTION]...
kcat_produce() {
    topic=$1
    msg=$2
    shift 2
    printf '%s\n' "$msg" | timeout 30 kcat -P -b "$BOOT" -t "$topic" -X message.timeout.ms=5000 \
        "$@" 2>>"$TMP/kcat.err"
}

# kcat_consume TOPIC: every message of TOPIC, one per line.
kcat_consume() {
    timeout 30 kcat -C -b "$BOOT" -t "$1" -o beginning -e -q 2>>"$TMP/kcat.err"
}

command -v kcat >/dev/null || {
    echo "FAIL: kcat not installed"
    exit 1
}

# A cluster driven through a fifo on fd 7.
rm -f "$TMP/cmd"
mkfifo "$TMP/cmd"
"$MOCK" --brokers 1 --topic t1:1 <"$TMP/cmd" >"$TMP/mock.out" 2>"$TMP/mock.err" &
MPID=$!
PIDS="$PIDS $MPID"
exec 7>"$TMP/cmd"
if wait_lines "$TMP/mock.out" 1; then
    BOOT=$(sed -n '1s/^bootstrap=//p' "$TMP/mock.out")
fi
case $BOOT in
127.0.0.1:[0-9]*)
    ok "bootstrap line ($BOOT)"
    ;;
*)
    fail "bootstrap line: $(head -n 1 "$TMP/mock.out") $(cat "$TMP/mock.err")"
    exit 1
    ;;
esac

# Produce/consume round trip on a topic made at start and one made by command.
kcat_produce t1 hello-1
check "kcat produce to t1" 0 "$?"
check "kcat consume from t1" "hello-1" "$(kcat_consume t1)"
cmd 'topic t2 3'
check "topic command" ok "$ANSWER"
printf 'a\nb\nc\n' | timeout 30 kcat -P -b "$BOOT" -t t2 2>>"$TMP/kcat.err"
check "kcat round trip on t2 (3 partitions)" "a b c" \
    "$(kcat_consume t2 | sort | tr '\n' ' ' | sed 's/ $//')"
parts=$(timeout 30 kcat -L -b "$BOOT" -t t2 2>>"$TMP/kcat.err" | grep -c 'partition [0-9]')
check "t2 has 3 partitions" 3 "$parts"

# Produce errors: without retries the produce fails, with retries it succeeds.
cmd 'produce_errors 1 7'
check "produce_errors command" ok "$ANSWER"
if printf 'x\n' | timeout 30 kcat -P -b "$BOOT" -t t1 -X message.send.max.retries=0 \
    2>>"$TMP/kcat.err"; then
    fail "produce_errors 1 7: produce without retries should fail"
else
    ok "produce_errors 1 7: produce without retries fails"
fi
cmd 'produce_errors 3 7'
check "produce_errors 3 7" ok "$ANSWER"
kcat_produce t1 hello-2
check "produce_errors 3 7: produce with retries succeeds" 0 "$?"

# Broker down: produce times out; broker up: it works again.
cmd 'broker_down 1'
check "broker_down command" ok "$ANSWER"
if kcat_produce t1 lost -X message.timeout.ms=2000; then
    fail "broker_down 1: produce should fail"
else
    ok "broker_down 1: produce fails"
fi
cmd 'broker_up 1'
check "broker_up command" ok "$ANSWER"
kcat_produce t1 hello-3
check "broker_up 1: produce works again" 0 "$?"
check "t1 holds the delivered messages" "hello-1 hello-2 hello-3" \
    "$(kcat_consume t1 | tr '\n' ' ' | sed 's/ $//')"

# Other commands and error answers.
cmd 'rtt 1 10'
check "rtt command" ok "$ANSWER"
cmd 'request_errors 3 1 6'
check "request_errors command" ok "$ANSWER"
cmd 'clear_errors 3'
check "clear_errors command" ok "$ANSWER"
cmd 'topic_error t1 0'
check "topic_error command" ok "$ANSWER"
cmd 'sleep 10'
check "sleep command" ok "$ANSWER"
cmd 'nope'
check "unknown command answers error" "error: unknown command 'nope'" "$ANSWER"
cmd 'broker_down x'
case $ANSWER in
error:*) ok "bad broker id answers error" ;;
*) fail "bad broker id answers error" ;;
esac
cmd 'quit'
check "quit answers ok" ok "$ANSWER"
wait "$MPID"
check "quit exits 0" 0 "$?"
exec 7>&-

# --wait with stdin at end of file: keeps running until SIGTERM, exits 0.
"$MOCK" --wait </dev/null >"$TMP/wait.out" 2>"$TMP/wait.err" &
WPID=$!
PIDS="$PIDS $WPID"
wait_lines "$TMP/wait.out" 1
sleep 0.5
if kill -0 "$WPID" 2>/dev/null; then
    ok "--wait: alive after end of input"
    kill -TERM "$WPID"
    wait "$WPID"
    check "--wait: SIGTERM exits 0" 0 "$?"
else
    fail "--wait: exited at end of input"
fi

# Without --wait, end of input ends it.
printf 'topic t5 1\n' | "$MOCK" >"$TMP/eof.out" 2>"$TMP/eof.err"
check "end of input exits 0" 0 "$?"
check "end of input: answers" "ok" "$(sed -n 2p "$TMP/eof.out")"

"$MOCK" --brokers 0 </dev/null >/dev/null 2>&1
check "bad --brokers exits 2" 2 "$?"

if [ "$FAILS" -ne 0 ]; then
    echo "mockkafka: $FAILS check(s) failed"
    exit 1
fi
exit 0
