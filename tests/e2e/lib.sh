# Shared helpers for the end-to-end tests (sourced).  Each test starts its own
# Kafka (the bridge's embedded cluster, or tests/helpers/mockkafka when the
# cluster must outlive the bridge or take fault commands) and its own
# receivers (webhook-bridge receive) on 127.0.0.1, and prints "ok: ..." or
# "FAIL: ..." per check.  Logs stay in $T.
set -u
BIN=${BIN:?BIN must name the webhook-bridge binary}
HELPERS=${HELPERS:?HELPERS must name the helpers directory}
T=${TEST_LOG_DIR:-$(mktemp -d)}
rm -rf "$T"
mkdir -p "$T"
PIDS=""
FAILS=0
# Every bridge's admin server on a free port (its address is in the ready
# line: start_bridge sets ADMIN), so tests never clash on 8080.
export WEBHOOK_BRIDGE_ADMIN_LISTEN=127.0.0.1:0
ACCOUNT_A=0b98ef2c-f739-45f1-81e3-b2def2bb868f
ACCOUNT_B=5d1f0c38-3a1e-4f53-9a0b-2a47c0e4f7a1
ACCOUNT_C=9e3c1b7a-0d4f-4c2e-8a61-7f2b5c9d0e13

cleanup() {
    for p in $PIDS; do kill "$p" 2>/dev/null; done
    sleep 0.3
    for p in $PIDS; do kill -9 "$p" 2>/dev/null; done
}
trap cleanup EXIT
trap 'exit 1' INT TERM

# The Kafka this run is on (tests/run.sh sets KAFKA=mock or real): tests
# written for the embedded cluster run on a real broker too, start_bridge
# swapping "embedded" for one it starts (see there).
BACKEND=${KAFKA:-mock}
# only_on BACKEND REASON: the test runs on that backend only; on the other
# it ends at once, counted as skipped, saying why.
only_on() {
    [ "$BACKEND" = "$1" ] && return 0
    echo "skip: $(basename "$0" .sh) on $BACKEND: $2"
    exit 0
}

ok() { echo "ok: $*"; }
fail() { echo "FAIL: $*"; FAILS=$((FAILS + 1)); }
# check DESCRIPTION COMMAND...: ok when the command succeeds
check() {
    desc=$1
    shift
    if "$@"; then ok "$desc"; else fail "$desc"; fi
}
finish() {
    [ "$FAILS" -eq 0 ] && exit 0
    echo "$FAILS check(s) failed; logs in $T"
    exit 1
}

# wait_until SECONDS COMMAND...: polls until the command succeeds.
wait_until() {
    limit=$1
    shift
    end=$(($(date +%s) + limit))
    while ! "$@" 2>/dev/null; do
        [ "$(date +%s)" -ge "$end" ] && return 1
        sleep 0.2
    done
    return 0
}

uuid() { cat /proc/sys/kernel/random/uuid; }

# event ID TYPE ACCOUNT [EXTRA-JSON-FIELDS]: one event on one line
event() {
    printf '{"eventId":"%s","eventType":"%s","eventDetails":{"accountId":"%s","accountName":"Test","subscription":{"calendarId":"4a2d4acb-bd05-e511-af43-067f1c947754","emailAddress":"someone@example.com"}%s}}\n' \
        "$1" "$2" "$3" "${4:-}"
}

# events N TYPE ACCOUNT: N events of one type and account, fresh ids, one a line
events() {
    _n=0
    while [ "$_n" -lt "$1" ]; do
        event "$(uuid)" "$2" "$3"
        _n=$((_n + 1))
    done
}

# start_receiver NAME [receive options]: sets PORT_<NAME>; output in $T/NAME.out
start_receiver() {
    name=$1
    shift
    rm -f "$T/$name.port"
    "$BIN" receive --listen 127.0.0.1:0 --port-file "$T/$name.port" --json "$@" \
        >"$T/$name.out" 2>"$T/$name.err" &
    PIDS="$PIDS $!"
    wait_until 10 test -s "$T/$name.port" || { fail "receiver $name did not start"; finish; }
    eval "PORT_$name=$(cat "$T/$name.port")"
}

# start_cluster [mockkafka options]: an external mock cluster taking commands
# from mock_cmd; sets BOOT.
start_cluster() {
    rm -f "$T/mk.in"
    mkfifo "$T/mk.in"
    "$HELPERS/mockkafka" "$@" <"$T/mk.in" >"$T/mk.out" 2>"$T/mk.err" &
    PIDS="$PIDS $!"
    exec 3>"$T/mk.in"
    wait_until 10 grep -q '^bootstrap=' "$T/mk.out" || { fail "mockkafka did not start"; finish; }
    BOOT=$(sed -n 's/^bootstrap=//p' "$T/mk.out")
}
mock_cmd() {
    n=$(grep -cE '^(ok|error)' "$T/mk.out")
    echo "$*" >&3
    wait_until 10 sh -c "[ \$(grep -cE '^(ok|error)' '$T/mk.out') -gt $n ]"
}

# start_outliving_cluster PARTITIONS DELAY-INTERVALS...: a cluster in a
# process of its own, so that it outlives the bridge (kill -9, restarts):
# tests/helpers/mockkafka with the topics made, or on KAFKA=real a real
# broker, whose topics make_topics CONF makes once the config is written.
# Sets BOOT.
start_outliving_cluster() {
    if [ "$BACKEND" = real ]; then
        TOPIC_PARTITIONS=$1
        start_kafka kafka --no-auto-create
    else
        start_cluster $(cluster_topics "$@")
    fi
}
# broker_crash / broker_back: the cluster's broker down and back, on the
# mock by rdkafka_mock.h's broker_down/up, on a real broker by its own
# process: kill -9, then a restart on the same data and ports.
broker_crash() {
    if [ "$BACKEND" = real ]; then
        gone=$(tr ',' ' ' 2>/dev/null <"$KAFKA_DIR/pid")
        sh tests/kafka/broker.sh kill "$KAFKA_DIR" >>"$KAFKA_DIR.out" 2>&1
        for p in $gone; do # not killed again at cleanup: the pid may be reused
            PIDS=$(echo " $PIDS " | sed "s/ $p / /")
        done
    else
        mock_cmd broker_down 1
    fi
}
broker_back() {
    if [ "$BACKEND" = real ]; then
        sh tests/kafka/broker.sh restart "$KAFKA_DIR" >>"$KAFKA_DIR.out" 2>&1 ||
            fail "the Kafka broker did not restart"
        PIDS="$PIDS $(tr ',' ' ' 2>/dev/null <"$KAFKA_DIR/pid")"
    else
        mock_cmd broker_up 1
    fi
}

make_topics() { # CONF: on a real broker, the topics of CONF (no-op on the mock)
    [ "$BACKEND" = real ] || return 0
    WEBHOOK_BRIDGE_BROKERS=$BOOT "$BIN" topics create -c "$1" --partitions "$TOPIC_PARTITIONS" \
        >"$T/topics-create.out" 2>&1 || { fail "topics create on the real broker"; finish; }
}

# The topics a bridge with the test schedule needs, for mockkafka.
cluster_topics() { # PARTITIONS DELAY-INTERVALS...
    p=$1
    shift
    echo "--topic subscription-events:$p --topic webhook-endpoints:1 --topic webhook-dead-letter:$p --topic webhook-attempts:$p --topic webhook-delay-0s:$p"
    for i in "$@"; do echo "--topic webhook-delay-$i:$p"; done
}

# start_bridge NAME CONF: runs the bridge until it logs "ready"; sets
# BRIDGE_PID, ADMIN (its admin server's host:port) and, in embedded mode,
# BOOT.
start_bridge() {
    name=$1
    # On a real broker, a config written for the embedded cluster gets a
    # single-node Apache Kafka of the test's own, the bridge creating its
    # topics there (kafka.create_topics) as it does on the embedded one.
    if [ "$BACKEND" = real ] && grep -q 'brokers = "embedded"' "$2"; then
        [ -n "${KAFKA_DIR:-}" ] || start_kafka kafka --no-auto-create
        sed -i "s|brokers = \"embedded\";|brokers = \"$BOOT\"; create_topics = true;|" "$2"
    fi
    touch "$T/$name.err"
    r0=$(grep -c '"msg":"ready"' "$T/$name.err")
    a0=$(grep -c '"partitions assigned","consumer":"events"' "$T/$name.err")
    "$BIN" run -c "$2" >>"$T/$name.out" 2>>"$T/$name.err" &
    BRIDGE_PID=$!
    PIDS="$PIDS $BRIDGE_PID"
    wait_until 30 sh -c "[ \$(grep -c '\"msg\":\"ready\"' $T/$name.err) -gt $r0 ]" ||
        { fail "bridge $name not ready"; finish; }
    b=$(grep '"msg":"ready"' "$T/$name.err" | tail -1 | sed -n 's/.*"bootstrap":"\([^"]*\)".*/\1/p')
    [ -n "$b" ] && BOOT=$b
    ADMIN=$(grep '"msg":"ready"' "$T/$name.err" | tail -1 | sed -n 's/.*"admin":"\([^"]*\)".*/\1/p')
    # The group needs its first assignment before records flow.
    wait_until 60 sh -c "[ \$(grep -c 'partitions assigned\",\"consumer\":\"events' $T/$name.err) -gt $a0 ]" ||
        { fail "bridge $name got no partitions"; finish; }
}

# start_kafka NAME [broker.sh start options]: a real Apache Kafka cluster
# (tests/kafka/broker.sh, KRaft on 127.0.0.1) in $T/NAME; sets BOOT and
# KAFKA_DIR.  Its JVMs are in PIDS, so cleanup kills them with the rest.
start_kafka() {
    KAFKA_DIR=$T/$1
    shift
    sh tests/kafka/broker.sh start --dir "$KAFKA_DIR" "$@" >"$KAFKA_DIR.out" 2>"$KAFKA_DIR.err"
    rc=$?
    PIDS="$PIDS $(tr ',' ' ' 2>/dev/null <"$KAFKA_DIR/pid")"
    if [ $rc -ne 0 ]; then
        sed 's/^/    /' "$KAFKA_DIR.err"
        fail "the Kafka broker did not start"
        finish
    fi
    BOOT=$(sed -n 's/^bootstrap=//p' "$KAFKA_DIR.out")
}

stop_bridge() { # sends SIGTERM, waits, returns the exit code
    kill -TERM "$BRIDGE_PID"
    wait "$BRIDGE_PID"
}

produce() { # FILE [TOPIC]: one record per line, keyed by nothing
    kcat -P -b "$BOOT" -t "${2:-subscription-events}" -l "$1" 2>>"$T/kcat.err"
}

# consume TOPIC: every record as a kcat JSON envelope per line
consume() {
    kcat -C -b "$BOOT" -t "$1" -o beginning -e -q -J 2>>"$T/kcat.err"
}

# lines FILE: number of lines (0 when missing)
lines() { if [ -f "$1" ]; then wc -l <"$1" | tr -d ' '; else echo 0; fi; }

# jqe ARGS...: jq -e without its output (a condition)
jqe() { jq -e "$@" >/dev/null; }
