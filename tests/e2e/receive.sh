#!/bin/sh
# End-to-end checks of `webhook-bridge receive`, the scripted local webhook
# receiver: answers, headers, printed lines, attempt counting, --drop,
# --delay, a clean exit on SIGTERM, and hostile clients (idle connections,
# long webhook-ids).  Needs curl, jq and the idleconns helper ($HELPERS,
# default build/release/helpers).
#
#   sh tests/e2e/receive.sh build/webhook-bridge
#
# Prints one "ok: ..." or "FAIL: ..." line per check; exits non-zero when any
# check failed.  Each receiver binds 127.0.0.1:0 and reports its port through
# --port-file; logs stay in $TMP until the end (kept with KEEP_TMP=1).
set -u
# Once: it uses no Kafka (tests/run.sh runs each test on each backend).
if [ "${KAFKA:-mock}" = real ]; then
    echo "skip: receive on real: tests the receive tool, no Kafka"
    exit 0
fi

BIN=${1:?usage: receive.sh PATH/TO/webhook-bridge}
case $BIN in
/*) ;;
*) BIN=$(pwd)/$BIN ;;
esac
HELPERS=${HELPERS:-$(dirname "$BIN")/release/helpers}
# tests/run.sh gives a log directory to keep; otherwise a temporary one.
if [ -n "${TEST_LOG_DIR:-}" ]; then
    TMP=$TEST_LOG_DIR
    mkdir -p "$TMP"
    KEEP_TMP=1
else
    TMP=$(mktemp -d "${TMPDIR:-/tmp}/receive-e2e.XXXXXX")
fi
PIDS=""
FAILS=0
RPID=""
PORT=""
NAME=""
ULIMIT="" # ulimit arguments for the next receiver, e.g. "-S -n 512"

cleanup() {
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

# start NAME [OPTION]...: starts a receiver (under `ulimit $ULIMIT` when
# set); sets RPID, PORT and NAME.
start() {
    NAME=$1
    shift
    rm -f "$TMP/$NAME.port"
    # The subshell execs the receiver, so $! is the receiver's pid.
    (
        if [ -n "$ULIMIT" ]; then
            # shellcheck disable=SC2086 # "-S -n 512" is several words
            ulimit $ULIMIT || exit 1
        fi
        exec "$BIN" receive --listen 127.0.0.1:0 --port-file "$TMP/$NAME.port" "$@"
    ) >"$TMP/$NAME.out" 2>"$TMP/$NAME.err" &
    RPID=$!
    PIDS="$PIDS $RPID"
    PORT=""
    i=0
    while [ $i -lt 50 ]; do
        if [ -s "$TMP/$NAME.port" ]; then
            PORT=$(cat "$TMP/$NAME.port")
            return 0
        fi
        if ! kill -0 "$RPID" 2>/dev/null; then
            break
        fi
        sleep 0.1
        i=$((i + 1))
    done
    fail "$NAME: receiver did not start: $(cat "$TMP/$NAME.err")"
    return 1
}

# stop: SIGTERM to the current receiver; sets STOP_RC to its exit status.
stop() {
    kill -TERM "$RPID" 2>/dev/null
    wait "$RPID"
    STOP_RC=$?
}

# post ID BODY [CURL-OPTION]...: POSTs BODY with webhook headers to the
# current receiver; the answer's headers go to $TMP/$NAME.hdr.  Prints the
# status code; sets CURL_RC.
post() {
    id=$1
    body=$2
    shift 2
    CURL_RC=0
    curl -s -o /dev/null -D "$TMP/$NAME.hdr" -w '%{http_code}' --max-time 20 \
        -H 'Content-Type: application/json' -H "webhook-id: $id" \
        -H 'webhook-timestamp: 1700000000' -H 'User-Agent: receive-e2e/1' \
        --data-binary "$body" "$@" "http://127.0.0.1:$PORT/hook" || CURL_RC=$?
}

# line N: the Nth line the current receiver printed.
line() {
    sed -n "${1}p" "$TMP/$NAME.out"
}

# header_value NAME: the value of header NAME in the last answer (empty when
# absent).
header_value() {
    tr -d '\r' <"$TMP/$NAME.hdr" |
        awk -v h="$1" 'BEGIN { h = tolower(h) ":" } tolower($1) == h { sub(/^[^:]*: */, ""); print }'
}

event() {
    printf '{"eventId":"%s","eventType":"%s","eventDetails":{"accountId":"%s"}}' "$1" "$2" "$3"
}

EV1=$(event e1 Subscribe acc-1)
EV2=$(event e2 Unsubscribe acc-2)

# Default answer, text line, attempt counting, 405.
if start default; then
    check "default status 200" 200 "$(post wh-1 "$EV1")"
    check "default text line" "wh-1 Subscribe acc-1 attempt=1 -> 200" "$(line 1)"
    check "default: no Retry-After" "" "$(header_value Retry-After)"
    post wh-1 "$EV1" >/dev/null
    post wh-2 "$EV2" >/dev/null
    post wh-1 "$EV1" >/dev/null
    check "attempt 2 for a repeated webhook-id" "wh-1 Subscribe acc-1 attempt=2 -> 200" "$(line 2)"
    check "attempt 1 for another webhook-id" "wh-2 Unsubscribe acc-2 attempt=1 -> 200" "$(line 3)"
    check "attempt 3 for a repeated webhook-id" "wh-1 Subscribe acc-1 attempt=3 -> 200" "$(line 4)"
    post wh-3 'not json' >/dev/null
    check "unparsable body prints '-'" "wh-3 - - attempt=1 -> 200" "$(line 5)"
    code=$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$PORT/hook")
    check "GET answered 405" 405 "$code"
    check "GET prints no line" 5 "$(wc -l <"$TMP/$NAME.out" | tr -d ' ')"
    stop
    check "SIGTERM exits 0" 0 "$STOP_RC"
    if grep -q "^receive: listening on 127.0.0.1:$PORT\$" "$TMP/$NAME.err"; then
        ok "listen address on stderr"
    else
        fail "listen address on stderr: $(cat "$TMP/$NAME.err")"
    fi
fi

# --status 500
if start status500 --status 500; then
    check "--status 500 answered" 500 "$(post wh-5 "$EV1")"
    check "--status 500 line" "wh-5 Subscribe acc-1 attempt=1 -> 500" "$(line 1)"
    stop
fi

# --fail-first 2: 503, 503, then --status; --retry-after only on non-2xx.
if start failfirst --fail-first 2 --retry-after 7; then
    check "--fail-first 2: 1st is 503" 503 "$(post wh-f "$EV1")"
    check "--retry-after on a 503" 7 "$(header_value Retry-After)"
    check "--fail-first 2: 2nd is 503" 503 "$(post wh-f "$EV1")"
    check "--fail-first 2: 3rd is 200" 200 "$(post wh-f "$EV1")"
    check "--retry-after not on a 2xx" "" "$(header_value Retry-After)"
    check "--fail-first lines" "wh-f Subscribe acc-1 attempt=1 -> 503|wh-f Subscribe acc-1 attempt=2 -> 503|wh-f Subscribe acc-1 attempt=3 -> 200" \
        "$(paste -sd '|' "$TMP/$NAME.out")"
    stop
fi

# --fail-attempts 1: the first attempt of each webhook-id is 503, the next 200
if start failattempts --fail-attempts 1; then
    check "--fail-attempts 1: id a, 1st is 503" 503 "$(post wh-a "$EV1")"
    check "--fail-attempts 1: id a, 2nd is 200" 200 "$(post wh-a "$EV1")"
    check "--fail-attempts 1: id b, 1st is 503" 503 "$(post wh-b "$EV1")"
    check "--fail-attempts 1: id a, 3rd is 200" 200 "$(post wh-a "$EV1")"
    stop
fi

# --retry-after with a 429, literal value
if start retryafter --status 429 --retry-after 'Wed, 21 Oct 2015 07:28:00 GMT'; then
    check "--status 429 answered" 429 "$(post wh-r "$EV1")"
    check "--retry-after literal value" "Wed, 21 Oct 2015 07:28:00 GMT" "$(header_value Retry-After)"
    stop
fi

# 302 carries a Location header
if start redirect --status 302; then
    check "--status 302 answered" 302 "$(post wh-l "$EV1")"
    loc=$(header_value Location)
    if [ -n "$loc" ]; then
        ok "302 has Location ($loc)"
    else
        fail "302 has Location"
    fi
    stop
fi

# --json: the body round trip and the other fields
if start json --json; then
    BODY='{"eventId":"e9","eventType":"Subscribe","eventDetails":{"accountId":"acc-9","note":"tab\there \"q\" ü"},"x":[1,2]}'
    check "--json answered" 200 "$(post wh-j "$BODY")"
    post wh-j "$BODY" >/dev/null
    out=$(line 1)
    check "--json body round trip" "$BODY" "$(printf '%s' "$out" | jq -j .body)"
    check "--json fields" "wh-j|1700000000|Subscribe|acc-9|1|200|application/json|receive-e2e/1" \
        "$(printf '%s' "$out" | jq -r '[.webhookId,.timestamp,.eventType,.accountId,.attempt,.status,.contentType,.userAgent]|map(tostring)|join("|")')"
    check "--json bytes" "$(printf '%s' "$BODY" | wc -c | tr -d ' ')" "$(printf '%s' "$out" | jq .bytes)"
    check "--json attempt 2" 2 "$(line 2 | jq .attempt)"
    stop
fi

# --drop: no answer at all (curl: 52 empty reply), after --fail-first
if start drop --drop --fail-first 1; then
    check "--drop with --fail-first 1: 1st is 503" 503 "$(post wh-d "$EV1")"
    post wh-d "$EV1" >/dev/null
    check "--drop: curl exit 52 (empty reply)" 52 "$CURL_RC"
    check "--drop line" "wh-d Subscribe acc-1 attempt=2 -> drop" "$(line 2)"
    stop
    check "--drop: SIGTERM exits 0" 0 "$STOP_RC"
fi

# --delay: answers wait, other connections do not, shutdown does not hang
if start delay --delay 1500; then
    t=$(curl -s -o /dev/null -w '%{time_total}' -d "$EV1" "http://127.0.0.1:$PORT/hook")
    if awk -v t="$t" 'BEGIN { exit !(t >= 1.4) }'; then
        ok "--delay 1500: answered after ${t}s"
    else
        fail "--delay 1500: answered after ${t}s"
    fi
    cpids=""
    for c in a b c; do
        curl -s -o /dev/null -w '%{time_total}' -d "$EV1" "http://127.0.0.1:$PORT/$c" \
            >"$TMP/$NAME.time.$c" &
        cpids="$cpids $!"
    done
    wait $cpids
    # One after the other, the last would take 4.5 s.
    slowest=$(cat "$TMP/$NAME.time.a" "$TMP/$NAME.time.b" "$TMP/$NAME.time.c" |
        awk -v RS=' ' 'NF { if ($1 > m) m = $1 } END { print m + 0 }')
    if awk -v t="$slowest" 'BEGIN { exit !(t >= 1.4 && t < 3.0) }'; then
        ok "--delay: 3 concurrent requests answered together (slowest ${slowest}s)"
    else
        fail "--delay: 3 concurrent requests, slowest took ${slowest}s"
    fi
    stop
fi
if start delaystop --delay 30000; then
    curl -s -o /dev/null --max-time 60 -d "$EV1" "http://127.0.0.1:$PORT/hook" &
    PIDS="$PIDS $!"
    i=0
    while [ $i -lt 50 ] && [ ! -s "$TMP/$NAME.out" ]; do
        sleep 0.1
        i=$((i + 1))
    done
    kill -TERM "$RPID"
    i=0
    while [ $i -lt 30 ] && kill -0 "$RPID" 2>/dev/null; do
        sleep 0.1
        i=$((i + 1))
    done
    if kill -0 "$RPID" 2>/dev/null; then
        fail "--delay 30000: SIGTERM did not stop it within 3s"
    else
        wait "$RPID"
        check "--delay 30000: SIGTERM mid-delay exits 0 promptly" 0 "$?"
    fi
fi

# wait_line FILE PATTERN: waits up to 10 s for a line matching PATTERN.
wait_line() {
    i=0
    while [ $i -lt 100 ]; do
        if grep -q "$2" "$1" 2>/dev/null; then
            return 0
        fi
        sleep 0.1
        i=$((i + 1))
    done
    return 1
}

# between N LO HI: N is a number within [LO, HI].
between() {
    case $1 in
    '' | *[!0-9]*) return 1 ;;
    esac
    [ "$1" -ge "$2" ] && [ "$1" -le "$3" ]
}

# Idle connections.  700 of them, held open by one client that sends
# nothing, must not lock a real client out, and the receiver must close them
# after its idle timeout (5 s by default).  The receiver starts with a soft
# open file limit of 512, below the 700 connections: it must make room for
# its connection limit (or lower the limit), not stop accepting.  Without
# that, new clients hung until the idle ones timed out (120 s).
IDLE=$HELPERS/idleconns
HARD_NOFILE=$(ulimit -H -n)
if [ ! -x "$IDLE" ]; then
    fail "idle connections: no helper $IDLE (run make)"
elif [ "$HARD_NOFILE" != unlimited ] && [ "$HARD_NOFILE" -lt 1100 ]; then
    echo "note: idle-connection checks not run: the hard open file limit ($HARD_NOFILE) is below 1100"
else
    ULIMIT="-S -n 512"
    if start idle; then
        "$IDLE" "$PORT" 700 15 >"$TMP/idle.conns" 2>"$TMP/idle.conns.err" &
        ipid=$!
        PIDS="$PIDS $ipid"
        wait_line "$TMP/idle.conns" '^open'
        check "700 idle connections open" "open 700" "$(sed -n 1p "$TMP/idle.conns")"
        check "a POST with 700 idle connections open is answered within 3 s" 200 \
            "$(post wh-idle "$EV1" --max-time 3)"
        check "... and printed" "wh-idle Subscribe acc-1 attempt=1 -> 200" "$(line 1)"
        wait "$ipid"
        # "closed K of N first_ms F last_ms L"
        set -- $(sed -n 2p "$TMP/idle.conns")
        check "all 700 idle connections closed by the receiver within 15 s" "closed 700 of 700" \
            "${1:-} ${2:-} ${3:-} ${4:-}"
        if between "${6:-}" 4000 9000 && between "${8:-}" 4000 9000; then
            ok "idle connections closed after the 5 s idle timeout (${6}..${8} ms)"
        else
            fail "idle connections closed after the 5 s idle timeout: $(sed -n 2p "$TMP/idle.conns")"
        fi
        stop
    fi
    ULIMIT=""
fi

# --max-connections, --idle-timeout: connections past the limit are closed
# at once (a reset, not a hang), the others after the idle timeout.
if [ -x "$IDLE" ] && start limits --max-connections 10 --idle-timeout 1; then
    "$IDLE" "$PORT" 20 10 >"$TMP/limits.conns" 2>"$TMP/limits.conns.err" &
    ipid=$!
    PIDS="$PIDS $ipid"
    wait_line "$TMP/limits.conns" '^open'
    post wh-full "$EV1" --max-time 3 >/dev/null
    if [ "$CURL_RC" -ne 0 ] && [ "$CURL_RC" -ne 28 ]; then
        ok "--max-connections 10: a POST past the limit is refused at once (curl exit $CURL_RC)"
    else
        fail "--max-connections 10: a POST past the limit is refused at once (curl exit $CURL_RC)"
    fi
    wait "$ipid"
    set -- $(sed -n 2p "$TMP/limits.conns")
    check "--max-connections 10: all 20 connections closed" "closed 20 of 20" \
        "${1:-} ${2:-} ${3:-} ${4:-}"
    if between "${6:-}" 0 500 && between "${8:-}" 700 4000; then
        ok "--max-connections 10 --idle-timeout 1: 10 closed at once, 10 after ${8} ms"
    else
        fail "--max-connections 10 --idle-timeout 1: $(sed -n 2p "$TMP/limits.conns")"
    fi
    check "a POST once the idle connections are gone" 200 "$(post wh-after "$EV1" --max-time 3)"
    stop
fi

# A hard open file limit too low for --max-connections: the receiver says
# so, lowers its limit and still serves.
ULIMIT="-n 100"
if start lowfiles; then
    check "open file limit 100: warned" \
        "receive: the open file limit is 100, so at most 68 connections (--max-connections 1000 asked; raise ulimit -n)" \
        "$(grep 'open file limit' "$TMP/$NAME.err")"
    check "open file limit 100: a POST answered" 200 "$(post wh-low "$EV1" --max-time 3)"
    stop
fi
ULIMIT=""

# Long webhook-ids: counted as any other, and remembered by a fixed-size
# digest, so 800 distinct 16000-byte ids (12.8 MB of ids) leave the
# receiver's memory much as it was.  Under AddressSanitizer (make asan)
# freed memory waits in a quarantine before it is reused: turned off for
# this receiver, so its memory is measured as in a release build.
ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}quarantine_size_mb=0"
export ASAN_OPTIONS
if start longids; then
    LONGID=$(head -c 16000 /dev/zero | tr '\0' x)
    post "$LONGID" "$EV1" >/dev/null
    post "$LONGID" "$EV1" >/dev/null
    check "a 16000-byte webhook-id: attempt 2 on its second POST" "attempt=2" \
        "$(line 2 | awk '{ print $4 }')"
    awk -v port="$PORT" 'BEGIN {
        pad = "x"
        while (length(pad) < 16000) pad = pad pad
        pad = substr(pad, 1, 16000)
        for (i = 1; i <= 800; i++) {
            printf "url = \"http://127.0.0.1:%s/hook\"\nheader = \"webhook-id: %d-%s\"\n", port, i, pad
            printf "data = \"{}\"\noutput = /dev/null\n"
            if (i < 800) print "next"
        }
    }' >"$TMP/longids.curlrc"
    rss0=$(awk '/^VmRSS:/ { print $2 }' "/proc/$RPID/status")
    curl -s --max-time 60 -K "$TMP/longids.curlrc"
    rss1=$(awk '/^VmRSS:/ { print $2 }' "/proc/$RPID/status")
    rm -f "$TMP/longids.curlrc"
    check "800 long webhook-ids: 802 lines" 802 "$(wc -l <"$TMP/$NAME.out" | tr -d ' ')"
    if [ -n "$rss0" ] && [ -n "$rss1" ] && [ $((rss1 - rss0)) -lt 4096 ]; then
        ok "800 distinct 16000-byte webhook-ids: memory grew $((rss1 - rss0)) KiB"
    else
        fail "800 distinct 16000-byte webhook-ids: memory grew from ${rss0:-?} to ${rss1:-?} KiB"
    fi
    stop
fi

# Bad usage exits 2
"$BIN" receive --status 99 >/dev/null 2>&1
check "bad --status exits 2" 2 "$?"
"$BIN" receive --listen nonsense >/dev/null 2>&1
check "bad --listen exits 2" 2 "$?"
"$BIN" receive --help >/dev/null 2>&1
check "--help exits 0" 0 "$?"
"$BIN" receive --max-connections 0 >/dev/null 2>"$TMP/badmax.err"
check "--max-connections 0 exits 2" "2 receive: --max-connections 0: must be 1..10000" \
    "$? $(cat "$TMP/badmax.err")"
"$BIN" receive --idle-timeout 0 >/dev/null 2>"$TMP/badidle.err"
check "--idle-timeout 0 exits 2" "2 receive: --idle-timeout 0: must be 1..3600 seconds" \
    "$? $(cat "$TMP/badidle.err")"

if [ "$FAILS" -ne 0 ]; then
    echo "receive: $FAILS check(s) failed"
    exit 1
fi
exit 0
