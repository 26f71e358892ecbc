# fleet (issue 9): REPLICAS replicas of the real binary in one group on a
# 3-broker mock cluster, events produced throughout, under fire: rolling
# SIGTERM restarts, kill -9 of a random replica at a random instant with an
# immediate restart, a broker down longer than message.timeout.ms, partition
# leader moves, and request errors pushed on Produce, Fetch, OffsetCommit,
# JoinGroup, SyncGroup and Heartbeat.  Then it asserts the guarantees:
#   - lost = 0: every (event, subscribed endpoint) pair is delivered (2xx)
#     or on the dead-letter topic with its reason;
#   - stuck = 0: every parked delivery (a pair with a failed attempt) ends
#     delivered or dead-lettered, checked window + bound after the last fault;
#   - nothing reaches an endpoint that did not subscribe;
#   - every SIGTERM exits 0;
# and prints the duplicates (pairs delivered more than once, overall and per
# kill) and the retry lateness (p50, p99, max): measured end to end at the
# receiver (the retry's arrival minus first attempt + 5 s) across replica
# lives, and by the bridges themselves (retry_lateness in /metrics, scraped
# at the end of each life and merged).
#
# One driver, two sizes: the suite runs the short default (CI: under 3
# minutes); `make chaos` runs the campaign with the knobs below.
#   FLEET_EVENTS   events produced (default 900)
#   FLEET_KILLS    kill -9 (default 3)
#   FLEET_RESTARTS rolling SIGTERM restarts (default 3)
#   FLEET_SECONDS  how long events are produced and faults injected
#                  (default 40; the campaign: 8 s per kill)
#   FLEET_WINDOW   retry window in seconds (default 30; schedule 5s, 10s)
#   FLEET_BOUND    seconds allowed past the window before a parked delivery
#                  not ended counts as stuck (default 45)
#   FLEET_SEED     seeds the fault plan (default: random, printed)
#   FLEET_PARTITIONS  partitions of every topic (default 6)
#   FLEET_DEAD_EVERY  one in N of account C's Unsubscribe events is kept as
#                  such (the others become Subscribe): the dead endpoint's
#                  records pile up on one delay partition each, and the mock
#                  cluster keeps ~5 MiB per partition (default 1)
#   FLEET_RF_EVERY    one in N of account A's Subscribe events is kept as such
#                  (the others become Unsubscribe): rf's parked retries sit
#                  on one delay partition too (default 1)
#   FLEET_STATIC   1: static membership (KIP-345): replica SLOT gets
#                  group.instance.id=fleet-SLOT in its kafka.properties, the
#                  same id across its kill -9 and SIGTERM restarts, one id
#                  for its events and delay consumers (different groups).
#                  A kill -9 restart rejoins under its id within a second
#                  here, well inside the 6 s session, so the session stays
#                  as it is by default (one variable changed).  But a broker
#                  outage longer than the session (the coordinator's node
#                  down 5 s plus its failover) times the session out on the
#                  client's side, and the rejoin under the same id is fenced:
#                  a fatal error of that consumer in librdkafka 2.0.2
#                  (librdkafka #3437; counted in the figures); hence
#                  FLEET_SESSION_MS.  The bridge unsubscribes
#                  before it closes (consumer.c, leave_group), and on an
#                  unsubscribe librdkafka 2.0.2 sends LeaveGroup even for a
#                  static member: a SIGTERM'd replica leaves as a dynamic one
#                  does.  On a real cluster the group coordinator's log is
#                  checked for the ids and its rebalances counted.
#                  librdkafka 2.0.2's mock cluster ignores the id (it is
#                  parsed from JoinGroup and never stored): there a static
#                  run measures nothing of static membership.  Default 0.
#   FLEET_SESSION_MS  session.timeout.ms of every consumer (default 6000)
#
# Endpoints (ids = receiver names):
#   ra  account A, every type
#   rf  account A, Subscribe only; fails the first attempt of every event
#   rb  account B, every type
#   ru  any account, Unsubscribe only
#   rd  account C, Unsubscribe only; always 500 (dead-lettered at window end)
# Account D's Subscribe events match nothing.
. tests/e2e/lib.sh
# librdkafka 2.0.2's mock cluster can die on an assertion of its own
# (rdkafka_mock_cgrp.c, rd_kafka_mock_cgrp_member_add: "!member->resp", a
# member's JoinGroup while one of its earlier JoinGroups is still held),
# seen once in CI under this test's faults.  Then the cluster is gone, not
# a bridge: the checks the bridges fail without a cluster say nothing of
# them, so the run ends skipped and says why (the mock's own message is
# printed); it is not counted as passed.
mock_crashed() { [ -f "$T/mk.err" ] && grep -q 'Assertion' "$T/mk.err"; }
fail() {
    if mock_crashed; then
        echo "after the mock cluster crashed: $*"
    else
        echo "FAIL: $*"
        FAILS=$((FAILS + 1))
    fi
}
finish() {
    if mock_crashed && [ "$FAILS" -eq 0 ]; then
        sed 's/^/    mockkafka: /' "$T/mk.err" | grep -m3 Assertion
        echo "skip: fleet: the mock cluster died on its own assertion (librdkafka 2.0.2's mock, above): this run proves nothing"
        exit 0
    fi
    [ "$FAILS" -eq 0 ] && exit 0
    echo "$FAILS check(s) failed; logs in $T"
    exit 1
}
# KAFKA=real (issue 9 item 7): a three-node Apache Kafka cluster
# (tests/kafka/broker.sh --nodes 3), topics with replication 3; the broker
# outage and the leader moves are a node killed with -9 (the leader of an
# events partition, so that partition elects another) and restarted; the
# request errors, which only the mock can inject, are left out.  Not in
# the suite (a minute of JVM start-up on top): `make chaos KAFKA=real`.
if [ "$BACKEND" = real ] && [ -z "${FLEET_REAL:-}" ]; then
    only_on mock "three JVMs on top of the run: make chaos KAFKA=real runs it (FLEET_REAL=1)"
fi

EVENTS=${FLEET_EVENTS:-900}
KILLS=${FLEET_KILLS:-3}
RESTARTS=${FLEET_RESTARTS:-3}
SECONDS_=${FLEET_SECONDS:-40}
WINDOW=${FLEET_WINDOW:-30}
BOUND=${FLEET_BOUND:-45}
SEED=${FLEET_SEED:-$(od -An -N4 -tu4 /dev/urandom | tr -d ' ')}
DEAD_EVERY=${FLEET_DEAD_EVERY:-1}
RF_EVERY=${FLEET_RF_EVERY:-1}
STATIC=${FLEET_STATIC:-0}
SESSION_MS=${FLEET_SESSION_MS:-6000}
REPLICAS=3
PARTITIONS=${FLEET_PARTITIONS:-6}
ACCOUNT_D=3c7a2e10-6b4f-4d8e-9f21-5a0c8e7d9b42
ok "fleet: $REPLICAS replicas, $EVENTS events over ${SECONDS_}s, $KILLS kill -9, $RESTARTS SIGTERM restarts, window ${WINDOW}s, seed $SEED, $([ "$STATIC" = 1 ] && echo static || echo dynamic) membership, session ${SESSION_MS} ms"

if [ "$BACKEND" = real ]; then
    start_kafka kafka --nodes 3 --no-auto-create
else
    start_cluster --brokers 3 $(cluster_topics $PARTITIONS 5s 10s)
fi
# Each receiver's pid ($! is still its own after start_receiver), to check
# at the end that none died meanwhile: a receiver gone turns every later
# delivery to it into a dead letter, which "lost = 0" alone would accept.
start_receiver ra
RPIDS=$!
start_receiver rf --fail-attempts 1
RPIDS="$RPIDS $!"
start_receiver rb
RPIDS="$RPIDS $!"
start_receiver ru
RPIDS="$RPIDS $!"
start_receiver rd --status 500
RPIDS="$RPIDS $!"
cat >"$T/bridge.conf" <<CONF
kafka = { brokers = "$BOOT"; create_topics = false;
          properties = [ "session.timeout.ms=$SESSION_MS", "heartbeat.interval.ms=500",
                         "message.timeout.ms=3000" ]; };
delivery = { allow_private_networks = true; timeout = "5s"; };
retry = { schedule = [ "5s", "10s" ]; window = "${WINDOW}s"; };
endpoints = (
  { id = "ra"; account_id = "$ACCOUNT_A"; url = "http://127.0.0.1:$PORT_ra/h"; },
  { id = "rf"; account_id = "$ACCOUNT_A"; event_types = [ "Subscribe" ];
    url = "http://127.0.0.1:$PORT_rf/h"; },
  { id = "rb"; account_id = "$ACCOUNT_B"; url = "http://127.0.0.1:$PORT_rb/h"; },
  { id = "ru"; account_id = "*"; event_types = [ "Unsubscribe" ];
    url = "http://127.0.0.1:$PORT_ru/h"; },
  { id = "rd"; account_id = "$ACCOUNT_C"; event_types = [ "Unsubscribe" ];
    url = "http://127.0.0.1:$PORT_rd/h"; }
);
CONF
# Each replica SLOT runs on $T/bridge-SLOT.conf: the same, plus its
# group.instance.id with FLEET_STATIC=1.
for i in $(seq 0 $((REPLICAS - 1))); do
    if [ "$STATIC" = 1 ]; then
        sed "s|\"message.timeout.ms=3000\" \]|\"message.timeout.ms=3000\", \"group.instance.id=fleet-$i\" ]|" \
            "$T/bridge.conf" >"$T/bridge-$i.conf"
        grep -q "\"group.instance.id=fleet-$i\"" "$T/bridge-$i.conf" || { fail "no group.instance.id in bridge-$i.conf"; finish; }
    else
        cp "$T/bridge.conf" "$T/bridge-$i.conf"
    fi
done
if [ "$BACKEND" = real ]; then
    WEBHOOK_BRIDGE_BROKERS=$BOOT "$BIN" topics create -c "$T/bridge.conf" --partitions "$PARTITIONS" \
        --replication 3 >"$T/topics-create.out" 2>&1 || { fail "topics create on the real cluster"; finish; }
fi

# A small deterministic random source: rnd N sets R to 0..N-1 (no
# subshell, so the state moves on).
RND=$((SEED % 2147483648))
rnd() {
    RND=$(((RND * 1103515245 + 12345) % 2147483648))
    R=$(((RND / 65536) % $1))
}

mkdir -p "$T/metrics"
: >"$T/lives"
: >"$T/stops"
LIVES=0
# start_replica I: a new life of replica I (logs appended to $T/rI.*), until
# it logs "ready" (not until it has partitions: the group may be busy).
start_replica() {
    i=$1
    touch "$T/r$i.err"
    n0=$(grep -c '"msg":"ready"' "$T/r$i.err")
    "$BIN" run -c "$T/bridge-$i.conf" >>"$T/r$i.out" 2>>"$T/r$i.err" &
    pid=$!
    PIDS="$PIDS $pid"
    LIVES=$((LIVES + 1))
    eval "PID_$i=$pid LIFE_$i=$LIVES"
    if ! wait_until 90 sh -c "[ \$(grep -c '\"msg\":\"ready\"' $T/r$i.err) -gt $n0 ]"; then
        fail "replica $i (life $LIVES) not ready in 90 s"
        eval "ADMIN_$i="
        return 1
    fi
    a=$(grep '"msg":"ready"' "$T/r$i.err" | tail -1 | sed -n 's/.*"admin":"\([^"]*\)".*/\1/p')
    eval "ADMIN_$i=$a"
    echo "$LIVES replica=$i pid=$pid start=$(date +%s)" >>"$T/lives"
}
# scrape I: replica I's /metrics, kept as the last word of its current life.
scrape() {
    eval "a=\$ADMIN_$1 life=\$LIFE_$1"
    [ -n "$a" ] && curl -s --max-time 5 "http://$a/metrics" >"$T/metrics/life-$life.prom.new" &&
        mv "$T/metrics/life-$life.prom.new" "$T/metrics/life-$life.prom"
}
# sigterm I: SIGTERM, the exit code recorded.  A replica still running
# STOP_LIMIT s later is hung: killed with -9, recorded as rc=hung.
# librdkafka 2.0.2 can abort while a consumer closes, in its own code
# (rd_kafka_cgrp_terminated asserts "!rd_kafka_assignment_in_progress";
# seen in CI when the SIGTERM came just after the group coordinator's
# broker was down: a commit left waiting for the coordinator is served
# after the group handler decided to terminate; the same assertion is
# librdkafka #4792, open upstream).  The bridge has committed on revoke by
# then, so the abort is a crash at close, which the kill -9s here already
# put to the test: such a stop (exit 134 with that line newly in the
# replica's stderr) is recorded as rc=lrk-abort, counted and printed, and
# the guarantees below must hold across it.  Any other exit fails.
LRK_ABORT='rd_kafka_cgrp_terminated: assert: !rd_kafka_assignment_in_progress'
STOP_LIMIT=90
sigterm() {
    scrape "$1"
    eval "pid=\$PID_$1"
    aborts0=$(grep -cF "$LRK_ABORT" "$T/r$1.err")
    kill -TERM "$pid"
    # Its own output closed and its sleep killed with it: nothing outlives
    # the test holding a pipe open.
    (
        trap 'kill $s 2>/dev/null; exit 0' TERM
        sleep $STOP_LIMIT &
        s=$!
        wait $s
        kill -9 "$pid" 2>/dev/null && echo "$pid" >>"$T/hung"
    ) >/dev/null 2>&1 &
    watchdog=$!
    wait "$pid"
    rc=$?
    kill "$watchdog" 2>/dev/null
    wait "$watchdog" 2>/dev/null
    grep -qx "$pid" "$T/hung" 2>/dev/null && rc=hung
    [ "$rc" = 134 ] && [ "$(grep -cF "$LRK_ABORT" "$T/r$1.err")" -gt "$aborts0" ] && rc=lrk-abort
    echo "replica=$1 pid=$pid rc=$rc" >>"$T/stops"
    case $rc in
    0) ;;
    lrk-abort) echo "NOTE: replica $1 (pid $pid) aborted in librdkafka's close on SIGTERM ($LRK_ABORT; see sigterm above)" ;;
    hung) fail "replica $1 (pid $pid) still running ${STOP_LIMIT}s after SIGTERM (killed -9)" ;;
    *) fail "replica $1 (pid $pid) exited $rc on SIGTERM" ;;
    esac
}
kill9() {
    scrape "$1"
    eval "pid=\$PID_$1"
    kill -9 "$pid"
    wait "$pid" 2>/dev/null
}

# Events: account by i % 4 (A, B, C, D), type by i / 4 % 2 (but see
# FLEET_DEAD_EVERY and FLEET_RF_EVERY), ids
# UUID-shaped and unique per run.  Produced in one batch a second.
gen_events() { # FROM COUNT
    awk -v from="$1" -v n="$2" -v seed="$SEED" -v de="$DEAD_EVERY" -v rfe="$RF_EVERY" -v a="$ACCOUNT_A" -v b="$ACCOUNT_B" \
        -v c="$ACCOUNT_C" -v d="$ACCOUNT_D" 'BEGIN {
        acc[0] = a; acc[1] = b; acc[2] = c; acc[3] = d
        for (i = from; i < from + n; i++) {
            type = int(i / 4) % 2 ? "Unsubscribe" : "Subscribe"
            if (i % 4 == 2 && type == "Unsubscribe" && int(i / 8) % de != 0) type = "Subscribe"
            if (i % 4 == 0 && type == "Subscribe" && int(i / 8) % rfe != 0) type = "Unsubscribe"
            printf "{\"eventId\":\"%08x-0000-4000-8000-%012d\",\"eventType\":\"%s\",\"eventDetails\":{\"accountId\":\"%s\",\"accountName\":\"Test\",\"subscription\":{\"calendarId\":\"4a2d4acb-bd05-e511-af43-067f1c947754\",\"emailAddress\":\"someone@example.com\"}}}\n",
                seed, i, type, acc[i % 4]
        }
    }'
}
producer_loop() {
    per=$(((EVENTS + SECONDS_ - 1) / SECONDS_))
    i=0
    while [ $i -lt "$EVENTS" ]; do
        n=$per
        [ $((i + n)) -gt "$EVENTS" ] && n=$((EVENTS - i))
        gen_events $i $n >"$T/batch"
        # Null keys; librdkafka 2.0.2's sticky partitioner (linger 10 ms)
        # puts a burst, and all records queued before kcat's first
        # metadata, on one partition, mostly 0: of 100,000 events, 41 % or more on
        # subscription-events/0, over the mock's ~5 MiB, and it dropped
        # 41,339.  Linger 0: each record a random partition, evenly spread.
        kcat -P -b "$BOOT" -t subscription-events -X sticky.partitioning.linger.ms=0 \
            -l "$T/batch" 2>>"$T/kcat.err" ||
            echo "kcat exited $? at event $i" >>"$T/kcat.err"
        i=$((i + n))
        sleep 1
    done
}

for i in $(seq 0 $((REPLICAS - 1))); do
    start_replica "$i" || finish
done
wait_until 60 sh -c "grep -q 'partitions assigned\",\"consumer\":\"events' $T/r2.err" ||
    fail "the third replica got no events partitions"

# The fault plan: the kills and restarts, one broker outage, leader moves
# and each kind of request error, shuffled by the seed and spread over
# FLEET_SECONDS.
: >"$T/plan"
for _ in $(seq 1 "$KILLS"); do echo kill >>"$T/plan"; done
for _ in $(seq 1 "$RESTARTS"); do echo restart >>"$T/plan"; done
for f in broker_outage leaders leaders errors_produce errors_fetch errors_commit errors_join errors_heartbeat; do
    echo $f >>"$T/plan"
done
awk -v s="$SEED" 'BEGIN { srand(s) } { print rand() "\t" $0 }' "$T/plan" | sort -n | cut -f2 >"$T/plan.shuffled"
NFAULTS=$(lines "$T/plan.shuffled")
GAP_MS=$((SECONDS_ * 1000 / (NFAULTS + 1)))

# real_node_down N / real_node_up N: a node of the real cluster killed with
# -9, then restarted on the same data and ports.
real_node_down() {
    sh tests/kafka/broker.sh kill "$KAFKA_DIR" "$1" >>"$KAFKA_DIR.out" 2>&1
}
real_node_up() {
    sh tests/kafka/broker.sh restart "$KAFKA_DIR" "$1" >>"$KAFKA_DIR.out" 2>&1 ||
        fail "node $1 of the real cluster did not restart"
    PIDS="$PIDS $(tr ',' ' ' 2>/dev/null <"$KAFKA_DIR/pid")"
}

producer_loop &
PRODUCER=$!
PIDS="$PIDS $PRODUCER"
t_start=$(date +%s)
next_restart=0
exec 4<"$T/plan.shuffled"
while read -r f <&4; do
    # A dead mock cluster ends the run (skipped, finish says why): every
    # wait below would only run out its time.
    mock_crashed && finish
    # A random instant within the next gap.
    rnd $((GAP_MS + 1))
    ms=$((GAP_MS / 2 + R))
    sleep "$(printf '%d.%03d' $((ms / 1000)) $((ms % 1000)))"
    case $f in
    kill)
        rnd $REPLICAS
        r=$R
        echo "$(date +%s) kill -9 replica $r" >>"$T/faults"
        kill9 "$r"
        start_replica "$r"
        ;;
    restart)
        r=$next_restart
        next_restart=$(((next_restart + 1) % REPLICAS))
        echo "$(date +%s) SIGTERM replica $r" >>"$T/faults"
        sigterm "$r"
        start_replica "$r"
        ;;
    broker_outage)
        rnd 3
        b=$((1 + R))
        echo "$(date +%s) broker $b down 5 s (message.timeout.ms 3000)" >>"$T/faults"
        if [ "$BACKEND" = real ]; then
            real_node_down "$b"
            sleep 5
            real_node_up "$b"
        else
            mock_cmd broker_down $b
            sleep 5
            mock_cmd broker_up $b
        fi
        ;;
    leaders | errors_*)
        if [ "$BACKEND" = real ]; then
            [ "$f" = leaders ] || continue
            # The leader of a random events partition killed: the partition
            # elects another; the node comes back at once.
            rnd $PARTITIONS
            b=$(kcat -L -b "$BOOT" -t subscription-events 2>/dev/null |
                sed -n "s/^ *partition $R, leader \([0-9]*\),.*/\1/p")
            echo "$(date +%s) leader of subscription-events/$R (node ${b:-?}) killed and restarted" >>"$T/faults"
            if [ -n "$b" ]; then
                real_node_down "$b"
                if wait_until 30 sh -c "kcat -L -b $BOOT -t subscription-events 2>/dev/null |
                        grep -Eq '^ *partition $R, leader [0-9]+,' &&
                        ! kcat -L -b $BOOT -t subscription-events 2>/dev/null |
                        grep -Eq '^ *partition $R, leader $b,'"; then
                    echo "$(date +%s) subscription-events/$R elected $(kcat -L -b "$BOOT" -t subscription-events 2>/dev/null |
                        sed -n "s/^ *partition $R, leader \([0-9]*\),.*/\1/p")" >>"$T/faults"
                else
                    echo "$(date +%s) subscription-events/$R: no other leader in 30 s" >>"$T/faults"
                fi
                real_node_up "$b"
            fi
            continue
        fi
        ;;
    esac
    case $f in
    leaders)
        for topic in subscription-events webhook-delay-5s webhook-delay-10s; do
            rnd $PARTITIONS
            p=$R
            rnd 3
            b=$((1 + R))
            mock_cmd leader $topic $p $b
            echo "$(date +%s) leader of $topic/$p -> broker $b" >>"$T/faults"
        done
        ;;
    errors_produce) # NOT_LEADER_OR_FOLLOWER, REQUEST_TIMED_OUT
        mock_cmd request_errors 0 5 6
        mock_cmd request_errors 0 10 7
        echo "$(date +%s) Produce errors 5x6 10x7" >>"$T/faults"
        ;;
    errors_fetch) # NOT_LEADER_OR_FOLLOWER
        mock_cmd request_errors 1 10 6
        echo "$(date +%s) Fetch errors 10x6" >>"$T/faults"
        ;;
    errors_commit) # NOT_COORDINATOR, REBALANCE_IN_PROGRESS
        mock_cmd request_errors 8 3 16
        mock_cmd request_errors 8 3 27
        echo "$(date +%s) OffsetCommit errors 3x16 3x27" >>"$T/faults"
        ;;
    errors_join) # COORDINATOR_NOT_AVAILABLE on the next joins, REBALANCE_IN_PROGRESS on syncs
        mock_cmd request_errors 11 2 15
        mock_cmd request_errors 14 2 27
        echo "$(date +%s) JoinGroup errors 2x15, SyncGroup 2x27" >>"$T/faults"
        ;;
    errors_heartbeat) # REBALANCE_IN_PROGRESS: the members rejoin
        mock_cmd request_errors 12 3 27
        echo "$(date +%s) Heartbeat errors 3x27" >>"$T/faults"
        ;;
    esac
done
exec 4<&-
wait "$PRODUCER"
mock_crashed && finish
t_last_fault=$(date +%s)
sed 's/^/    /' "$T/faults"
ok "faults done in $((t_last_fault - t_start)) s: $KILLS kill -9, $RESTARTS SIGTERM restarts, $NFAULTS in all"

# What the cluster holds is what was produced.
consume subscription-events | jq -r '.payload | fromjson | [.eventId, .eventType, .eventDetails.accountId] | @tsv' |
    sort -u >"$T/events.tsv"
N_EVENTS=$(lines "$T/events.tsv")
check "every event produced is on the events topic ($N_EVENTS of $EVENTS)" test "$N_EVENTS" -eq "$EVENTS"
# The pairs each event must reach.
awk -F'\t' -v a="$ACCOUNT_A" -v b="$ACCOUNT_B" -v c="$ACCOUNT_C" '{
    if ($3 == a) { print $1 " ra"; if ($2 == "Subscribe") print $1 " rf" }
    if ($3 == b) print $1 " rb"
    if ($2 == "Unsubscribe") print $1 " ru"
    if ($3 == c && $2 == "Unsubscribe") print $1 " rd"
}' "$T/events.tsv" | sort -u >"$T/expected"
N_PAIRS=$(lines "$T/expected")

# delivered: pairs with a 2xx, one line per 2xx (duplicates kept);
# requested: every pair any receiver saw; dead: pairs dead-lettered, "pair reason".
collect() {
    for r in ra rf rb ru rd; do
        jq -r --arg r $r 'select(.status != null and .status >= 200 and .status < 300) | .webhookId + " " + $r' "$T/$r.out"
    done | sort >"$T/delivered.all"
    uniq "$T/delivered.all" >"$T/delivered"
    for r in ra rf rb ru rd; do
        jq -r --arg r $r '.webhookId + " " + $r' "$T/$r.out"
    done | sort -u >"$T/requested"
    consume webhook-dead-letter |
        jq -r '(.headers // []) as $h | (.payload | fromjson? // {}) as $p |
               ([range(0; $h | length; 2) | select($h[.] == "reason") | $h[. + 1]] | last) as $reason |
               "\($p.eventId // "?") \($p.endpointId // "?")\t\($reason // "none")"' |
        sort -u >"$T/dead.reasons"
    cut -f1 "$T/dead.reasons" | sort -u >"$T/dead"
    sort -u "$T/delivered" "$T/dead" >"$T/resolved"
    comm -23 "$T/expected" "$T/resolved" >"$T/lost"
    # parked: pairs with a failed attempt (a non-2xx answer or none)
    for r in ra rf rb ru rd; do
        jq -r --arg r $r 'select(.status == null or .status < 200 or .status >= 300) | .webhookId + " " + $r' "$T/$r.out"
    done | sort -u >"$T/parked"
    comm -23 "$T/parked" "$T/resolved" >"$T/stuck"
}
all_resolved() {
    collect
    [ "$(lines "$T/lost")" -eq 0 ]
}
# Polled every 3 s (collect reads every log and the dead-letter topic).
end=$((t_last_fault + WINDOW + BOUND))
while ! all_resolved; do
    mock_crashed && finish
    [ "$(date +%s)" -ge "$end" ] && break
    sleep $((3 + EVENTS / 10000))
done
[ "$(lines "$T/lost")" -eq 0 ] && ok "every pair ended $(($(date +%s) - t_last_fault)) s after the last fault"
# A parked delivery ends within its window: wait for the window after the
# last fault before counting the stuck ones, even when nothing is lost yet.
while [ "$(lines "$T/stuck")" -gt 0 ] && [ "$(date +%s)" -lt "$end" ]; do
    sleep 3
    collect
done
N_LOST=$(lines "$T/lost")
N_STUCK=$(lines "$T/stuck")
N_PARKED=$(lines "$T/parked")
check "0 pairs lost of $N_PAIRS (delivered with a 2xx or dead-lettered; lost: $N_LOST, in $T/lost)" \
    test "$N_LOST" -eq 0
check "0 parked deliveries stuck of $N_PARKED, window + ${BOUND}s after the last fault (stuck: $N_STUCK, in $T/stuck)" \
    test "$N_STUCK" -eq 0
comm -23 "$T/requested" "$T/expected" >"$T/wrong"
comm -23 "$T/dead" "$T/expected" >>"$T/wrong"
N_WRONG=$(lines "$T/wrong")
check "nothing reached an endpoint that did not subscribe (wrong: $N_WRONG, in $T/wrong)" \
    test "$N_WRONG" -eq 0
# What a lost pair may owe to the environment: the mock cluster keeps ~5 MiB
# per partition and drops the oldest records beyond (a partition whose
# first offset is above 0); and a pair a bridge logged as dead-lettered but
# that is not on the topic.
for topic in webhook-dead-letter webhook-delay-0s webhook-delay-5s webhook-delay-10s subscription-events; do
    for p in $(seq 0 $((PARTITIONS - 1))); do
        first=$(kcat -C -b "$BOOT" -t $topic -p "$p" -o beginning -c 1 -e -q -f '%o\n' 2>/dev/null)
        [ -n "$first" ] && [ "$first" -gt 0 ] &&
            echo "fleet: the mock cluster dropped the first $first records of $topic/$p (~5 MiB a partition)"
    done
done
if [ "$N_LOST" -gt 0 ]; then
    cat "$T"/r*.err | jq -r 'select(.msg == "dead-lettered") | .eventId + " " + .endpointId' 2>/dev/null |
        sort -u >"$T/dead.logged"
    echo "fleet: lost pairs the bridges logged as dead-lettered: $(comm -12 "$T/lost" "$T/dead.logged" | wc -l | tr -d ' ') of $N_LOST; by endpoint: $(awk '{ print $2 }' "$T/lost" | sort | uniq -c | tr -s ' ' | tr '\n' ',')"
fi
check "every dead letter names its reason" sh -c "! grep -q '	none\$' $T/dead.reasons"

gone=""
for p in $RPIDS; do kill -0 "$p" 2>/dev/null || gone="$gone $p"; done
check "every receiver still running (gone:${gone:- none}; their last words in $T/r[abdfu].err)" test -z "$gone"
# The end: each replica stopped with SIGTERM, scraped first.
for i in $(seq 0 $((REPLICAS - 1))); do
    sigterm "$i"
done
N_TERM=$(lines "$T/stops")
N_LRK=$(grep -c ' rc=lrk-abort$' "$T/stops")
N_BAD=$(grep -cvE ' rc=(0|lrk-abort)$' "$T/stops")
check "every SIGTERM exited 0 ($N_TERM, $N_BAD not; librdkafka 2.0.2's close assertion, counted apart: $N_LRK)" \
    test "$N_BAD" -eq 0
echo "fleet: SIGTERM stops that librdkafka 2.0.2 aborted at close: $N_LRK of $N_TERM"

# Figures.
N_DELIV=$(lines "$T/delivered.all")
N_DUP=$((N_DELIV - $(lines "$T/delivered")))
N_DUP_PAIRS=$(uniq -d "$T/delivered.all" | wc -l | tr -d ' ')
N_DEAD=$(lines "$T/dead")
dead_healthy=$(grep -cv ' rd	' "$T/dead.reasons")
# Of those, pairs that never got a 2xx (a retry that never came in time),
# and pairs dead-lettered after they were delivered (a replayed retry).
grep -v ' rd	' "$T/dead.reasons" | cut -f1 | sort -u >"$T/dead.healthy"
dead_undelivered=$(comm -23 "$T/dead.healthy" "$T/delivered" | wc -l | tr -d ' ')
dead_delivered=$(comm -12 "$T/dead.healthy" "$T/delivered" | wc -l | tr -d ' ')
per_kill=$(awk -v d="$N_DUP" -v k="$KILLS" 'BEGIN { printf "%.1f", k ? d / k : d }')
dup_pct=$(awk -v d="$N_DUP_PAIRS" -v p="$N_PAIRS" 'BEGIN { printf "%.2f", p ? 100 * d / p : 0 }')
# Lateness at the receiver: rf fails each event's first attempt; its retry
# is due 5 s after it.  The first arrival 4 s or more after the failure is
# the retry (an earlier one is a replay after a kill, not a retry).
jq -r 'select(.webhookId != null) | [.webhookId, .receivedMs, .status] | @tsv' "$T/rf.out" |
    sort -k1,1 -k2,2n | awk -F'\t' '
    $1 != id { id = $1; t1 = ($3 == 503) ? $2 : -1; done = 0; next }
    t1 > 0 && !done && $2 >= t1 + 4000 { l = $2 - (t1 + 5000); print (l < 0 ? 0 : l); done = 1 }' |
    sort -n >"$T/lateness.receiver"
# Duplicates by the fault before them: each 2xx after a pair's first one
# is counted against the last kill -9 or SIGTERM restart before it (or
# "before any" such fault).  A graceful restart should add none.
for r in ra rf rb ru rd; do
    jq -r --arg r $r 'select(.status != null and .status >= 200 and .status < 300) | "\(.receivedMs) \(.webhookId) \($r)"' "$T/$r.out"
done | sort -n | awk -v faults="$T/faults" '
    BEGIN { while ((getline line < faults) > 0) if (line ~ /kill -9|SIGTERM/) { n++; at[n] = line; t[n] = substr(line, 1, index(line, " ") - 1) * 1000 } }
    { pair = $2 " " $3; if (seen[pair]++) { k = 0; for (i = 1; i <= n; i++) if (t[i] <= $1) k = i; d[k]++ } }
    END { for (i = 0; i <= n; i++) printf "    %s: %d duplicates\n", i ? at[i] : "before any kill or restart", d[i] + 0 }' >"$T/dups.by.fault"
quantiles() { # FILE (sorted ms): "n=N p50=..ms p99=..ms max=..ms"
    awk '{ v[NR] = $1 } END {
        if (NR == 0) { print "n=0"; exit }
        i50 = int(0.5 * NR + 0.999999); i99 = int(0.99 * NR + 0.999999)
        printf "n=%d p50=%dms p99=%dms max=%dms", NR, v[i50], v[i99], v[NR] }' "$1"
}
LAT_RECV=$(quantiles "$T/lateness.receiver")
# The bridges' own histogram: the buckets of each life's last scrape summed.
LAT_BRIDGE=$(cat "$T"/metrics/life-*.prom 2>/dev/null | awk '
    /^webhook_bridge_retry_lateness_seconds_bucket/ {
        le = $1; sub(/.*le="/, "", le); sub(/".*/, "", le); c[le] += $2; if (!(le in seen)) { seen[le] = 1; order[n++] = le } }
    END {
        total = c["+Inf"]; if (total == 0) { print "n=0"; exit }
        p50 = ""; p99 = ""
        for (i = 0; i < n; i++) { le = order[i]
            if (p50 == "" && c[le] >= 0.5 * total) p50 = le
            if (p99 == "" && c[le] >= 0.99 * total) p99 = le }
        printf "n=%d p50<=%ss p99<=%ss", total, p50, p99 }')
LAT_BRIDGE_MAX=$(cat "$T"/r*.err | grep '"msg":"\(final \)\?stats"' | jq -r '.retry_lateness.max // empty' 2>/dev/null |
    sort -n | tail -1)
# The dead endpoint's slots: by the nominal schedule (0, 5 s, then every
# 10 s) a pair gets this many attempts within the window; how many it got
# before its dead letter shows what deferrals and stalls cost it.
slots=$(awk -v w="$WINDOW" 'BEGIN { n = 1; t = 5; while (t <= w) { n++; t += 10 } print n }')
RD_ATTEMPTS=$(jq -r .webhookId "$T/rd.out" | sort | uniq -c | awk '{ print $1 }' | sort -n | uniq -c |
    awk '{ printf "%s%d pairs %d attempts", sep, $1, $2; sep = ", " }')
jq -r .webhookId "$T/rd.out" | sort -u >"$T/rd.ids"
RD_NONE=$(grep ' rd	' "$T/dead.reasons" | cut -d' ' -f1 | sort -u | comm -23 - "$T/rd.ids" | wc -l | tr -d ' ')
lives=$(lines "$T/lives")
echo "fleet: events=$N_EVENTS pairs=$N_PAIRS lost=$N_LOST stuck=$N_STUCK parked=$N_PARKED wrong=$N_WRONG dead_lettered=$N_DEAD"
echo "fleet: dead letters of endpoints that answer 2xx: $dead_healthy ($dead_undelivered never delivered, $dead_delivered delivered before)"
echo "fleet: duplicates=$N_DUP deliveries over $N_DUP_PAIRS pairs ($dup_pct % of pairs), kills=$KILLS, per kill=$per_kill"
echo "fleet: duplicates by the last kill -9 or SIGTERM restart before them:"
cat "$T/dups.by.fault"
echo "fleet: retry lateness at the receiver: $LAT_RECV"
echo "fleet: dead endpoint (rd): $RD_ATTEMPTS (the schedule allows $slots in ${WINDOW}s); dead letters with no attempt at all: $RD_NONE"
echo "fleet: retry lateness in the bridges (retry_lateness, $lives lives): $LAT_BRIDGE max=${LAT_BRIDGE_MAX:-?}ms (max from the stats lines)"
for i in $(seq 0 $((REPLICAS - 1))); do
    echo "fleet: replica $i, last life: $(grep '"msg":"final stats"' "$T/r$i.err" | tail -1 |
        jq -r '"deliveries_retried=\(.deliveries_retried) events_consumed=\(.events_consumed) attempts=\(.attempts)"')"
done
# Rebalances as the bridges saw them: their assignment and revocation log
# lines, over every life.
for cons in events delay; do
    na=$(cat "$T"/r*.err | grep -c "\"partitions assigned\",\"consumer\":\"$cons\"")
    nr=$(cat "$T"/r*.err | grep -c "\"partitions revoked\",\"consumer\":\"$cons\"")
    echo "fleet: $cons consumers, all lives: $na assignments, $nr revocations"
done
# Fatal consumer errors: librdkafka 2.0.2 makes a static member fenced by
# its own id (FENCED_INSTANCE_ID, e.g. rejoining after a session timed out
# on its side: librdkafka #3437) a fatal error of that consumer, which then
# consumes nothing until the process restarts.
echo "fleet: fatal consumer errors: $(cat "$T"/r*.err | grep '"msg":"consumer error"' | grep -c 'Fatal error') (static member fenced: $(cat "$T"/r*.err | grep '"msg":"consumer error"' | grep -c 'fenced'))"
# And as the real cluster's group coordinator saw them (its server.log,
# kafka.coordinator.group.GroupCoordinator): rebalances begun, static
# members back under their id (none needed when the group is stable),
# explicit leaves, members expelled at their session timeout.
if [ "$BACKEND" = real ]; then
    for g in webhook-bridge webhook-bridge-delay; do
        gl() { cat "$KAFKA_DIR"/node*/server.log | grep -c "$1"; }
        echo "fleet: broker, group $g: $(gl "Preparing to rebalance group $g in") rebalances," \
            "$(gl "joins group $g in [A-Za-z]* state. Replacing previously") static rejoins under their id," \
            "$(gl "has left group $g through explicit") LeaveGroups, $(gl "in group '\?$g'\? has failed, removing it") session timeouts"
    done
    if [ "$STATIC" = 1 ]; then
        for i in $(seq 0 $((REPLICAS - 1))); do
            for g in webhook-bridge webhook-bridge-delay; do
                check "the broker saw group.instance.id fleet-$i in group $g" \
                    grep -q "groupInstanceId=fleet-$i and .* joins group $g in" $KAFKA_DIR/node1/server.log \
                    $KAFKA_DIR/node2/server.log $KAFKA_DIR/node3/server.log
            done
        done
    fi
fi
ok "figures printed (logs in $T)"
finish
