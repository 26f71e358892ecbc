# Conformance on a real Apache Kafka broker (issue 8): a single KRaft node
# from tests/kafka/broker.sh with auto.create.topics.enable=false, so every
# topic must come from `topics create` or the bridge's own creation.  Checks,
# one per behaviour the mock cluster cannot show:
#   topics: `topics check` on an empty cluster, `topics create` with the
#     default kafka.replication on one broker, `topics check` reading the
#     real topic configurations;
#   a bridge on the created topics: delivery, a retry on time, a dead letter
#     after a short window;
#   a bridge creating a delay topic itself at start (kafka.create_topics):
#     the delay consumer must see it in time for a short window;
#   a second broker with topic auto-creation on (Kafka's default) and no
#     topics made: nothing auto-creates a topic; what is missing is reported
#     (an error line, /readyz) until topics create makes it, and a delay
#     topic made while the bridge runs is consumed at once.
# It runs on the real backend only (tests/run.sh: KAFKA=real or both).
. tests/e2e/lib.sh
only_on real "it starts its own real brokers; the mock run has nothing to add"

ms() { date +%s%3N; }
t0=$(ms)
start_kafka kafka --no-auto-create
echo "note: broker ready in $(($(ms) - t0)) ms at $BOOT"

start_receiver ok
start_receiver flaky --fail-first 1
start_receiver s500 --status 500
cat >"$T/bridge.conf" <<CONF
kafka = { brokers = "$BOOT"; partitions = 3; };
delivery = { allow_private_networks = true; connect_timeout = "1s"; timeout = "2s"; };
retry = { schedule = [ "1s" ]; window = "3s"; };
endpoints = (
  { id = "ok"; account_id = "$ACCOUNT_A"; url = "http://127.0.0.1:$PORT_ok/h"; },
  { id = "flaky"; account_id = "$ACCOUNT_B"; url = "http://127.0.0.1:$PORT_flaky/h"; },
  { id = "s500"; account_id = "$ACCOUNT_C"; url = "http://127.0.0.1:$PORT_s500/h"; }
);
CONF
topics() { "$BIN" topics "$@"; }

# --- topics -----------------------------------------------------------------
topics check -c "$T/bridge.conf" >"$T/check0.out" 2>&1
rc=$?
check "topics check on an empty cluster: 6 missing, exit 1" \
    sh -c "[ $rc -eq 1 ] && grep -q '^6 topic(s): 6 missing' $T/check0.out"
# Nothing to describe is not the cluster lacking DescribeConfigs.
check "and it does not say the cluster does not answer DescribeConfigs" \
    sh -c "! grep -q 'does not answer DescribeConfigs' $T/check0.out"

topics create -c "$T/bridge.conf" >"$T/create.out" 2>"$T/create.err"
rc=$?
# kafka.replication defaults to -1, the broker's default: a single-broker
# cluster takes it (3 failed: "The target replication factor of 3 cannot be
# reached because only 1 broker(s) are registered").
check "topics create with the default replication works on a one-broker cluster" \
    sh -c "[ $rc -eq 0 ] && [ \$(grep -c '^created ' $T/create.out) -eq 6 ]"
if [ $rc -ne 0 ]; then
    sed 's/^/    create: /' "$T/create.err" | head -3
    echo "note: carrying on with topics create --replication 1"
    topics create -c "$T/bridge.conf" --replication 1 >"$T/create1.out" 2>"$T/create1.err" ||
        { fail "topics create --replication 1"; finish; }
fi

topics check -c "$T/bridge.conf" >"$T/check.out" 2>&1
rc=$?
check "topics check: the 6 topics are there, exit 0" \
    sh -c "[ $rc -eq 0 ] && [ \$(grep -c '^  ok ' $T/check.out) -eq 6 ] && grep -q '^6 topic(s): 0 missing, 0 with a wrong' $T/check.out"
check "it read the real configurations: webhook-endpoints is compacted, no note" \
    sh -c "grep -q '^  ok      webhook-endpoints .*cleanup.policy=compact' $T/check.out && ! grep -q '^note:' $T/check.out"

# --- delivery, retry, dead letter on the created topics -----------------------
t0=$(ms)
start_bridge bridge "$T/bridge.conf"
echo "note: bridge ready with partitions assigned in $(($(ms) - t0)) ms"
id_ok=$(uuid)
id_flaky=$(uuid)
id_dead=$(uuid)
{
    event "$id_ok" Subscribe "$ACCOUNT_A"
    event "$id_flaky" Subscribe "$ACCOUNT_B"
    event "$id_dead" Unsubscribe "$ACCOUNT_C"
} >"$T/events"
produce "$T/events"

check "delivered: 200 at the first attempt" \
    wait_until 20 jqe -s --arg id "$id_ok" 'map(select(.webhookId == $id)) | map(.status) == [200]' "$T/ok.out"
check "retried: 503 then 200" \
    wait_until 20 jqe -s --arg id "$id_flaky" 'map(select(.webhookId == $id)) | map(.status) == [503, 200]' "$T/flaky.out"
# Window 3 s, schedule 1 s: attempts due at 0, 1, 2, 3 s, then the dead-letter topic.
wait_until 30 sh -c "[ \$(kcat -C -b $BOOT -t webhook-dead-letter -o beginning -e -q 2>/dev/null | wc -l) -ge 1 ]"
consume webhook-dead-letter >"$T/dlq"
check "dead-lettered: retry_window_expired after 4 attempts of status 500" sh -c \
    "jq -c 'select(.key == \"s500\") | .payload | fromjson' $T/dlq |
     jq -e '.reason == \"retry_window_expired\" and (.attempts | length) == 4 and
       (.attempts | all(.status == 500)) and .eventId == \"$id_dead\"' >/dev/null"
# Lateness of each retry against its nominal due time (attempt 1 + n s).
atms='(.at | capture("^(?<s>.*T[0-9:]+)\\.(?<ms>[0-9]+)Z$") | ((.s + "Z") | fromdate) * 1000 + (.ms | tonumber))'
jq -c 'select(.key == "s500") | .payload | fromjson' "$T/dlq" |
    jq -r "[.attempts[] | $atms] | . as \$a | [range(1; length) | \$a[.] - \$a[0] - . * 1000] | map(tostring) | join(\" \")" \
        >"$T/lateness" 2>/dev/null
echo "note: dead letter's retries late by (ms): $(cat "$T/lateness")"
check "each retry within 1 s of its nominal due time" \
    sh -c "[ -s $T/lateness ] && for l in \$(cat $T/lateness); do [ \$l -le 1000 ] || exit 1; done"
check "nothing else was dead-lettered" test "$(lines "$T/dlq")" -eq 1
kcat -L -b "$BOOT" -t subscription-events >"$T/events.meta" 2>&1
check "the events topic has the 3 partitions topics create gave it" \
    grep -q 'topic "subscription-events" with 3 partitions' "$T/events.meta"

# --- the operator's tools, the bridge running ---------------------------------
ACCOUNT_D=3c0a5e2f-6b7d-4e1a-9f3c-2d8b7a6e5f41
start_receiver added
WEBHOOK_BRIDGE_BROKERS=$BOOT "$BIN" endpoints put -c "$T/bridge.conf" --id added \
    --account "$ACCOUNT_D" --url "http://127.0.0.1:$PORT_added/h" >"$T/put1.out" 2>&1
check "endpoints put: exit 0" test $? -eq 0
id_added=$(uuid)
event "$id_added" Subscribe "$ACCOUNT_D" >"$T/events-added"
wait_until 60 sh -c "WEBHOOK_BRIDGE_BROKERS=$BOOT '$BIN' endpoints list -c '$T/bridge.conf' 2>/dev/null | grep -q '^added '"
produce "$T/events-added"
check "the running bridge delivers to the endpoint put on the topic" \
    wait_until 20 jqe -s --arg id "$id_added" 'map(select(.webhookId == $id)) | map(.status) == [200]' "$T/added.out"
WEBHOOK_BRIDGE_BROKERS=$BOOT "$BIN" attempts "$id_dead" -c "$T/bridge.conf" >"$T/attempts.txt" 2>"$T/attempts.err"
check "attempts lists the dead letter's four attempts, 500 each" \
    sh -c "[ \$(grep -Ec '^  [0-9]+ .* 500 ' $T/attempts.txt) -eq 4 ] && ! grep -q 'no offset for the start time' $T/attempts.err"
WEBHOOK_BRIDGE_BROKERS=$BOOT "$BIN" dlq replay "$id_dead" --yes -c "$T/bridge.conf" >"$T/replay.out" 2>"$T/replay.err"
check "dlq replay puts the dead letter back" grep -q '^replayed ' "$T/replay.out"
check "and the bridge attempts it again, same webhook-id" \
    wait_until 20 sh -c "[ \$(jq -r --arg id '$id_dead' 'select(.webhookId == \$id) | .status' $T/s500.out | wc -l) -ge 5 ]"

# A stalled broker (SIGSTOP for 5 s, its connections open but silent): the
# bridge waits it out and loses nothing.
: >"$T/events-stall"
for i in 1 2 3 4 5; do event "$(uuid)" Subscribe "$ACCOUNT_A" >>"$T/events-stall"; done
produce "$T/events-stall"
sh tests/kafka/broker.sh pause "$KAFKA_DIR" && sleep 5 && sh tests/kafka/broker.sh resume "$KAFKA_DIR"
jq -r .eventId "$T/events-stall" | sort >"$T/ids-stall"
check "after a 5 s broker stall every event produced before it is delivered" \
    wait_until 60 sh -c "[ \$(jq -r 'select(.status == 200) | .webhookId' $T/ok.out | sort -u | comm -12 - $T/ids-stall | wc -l) -eq 5 ]"
check "the bridge is still running" kill -0 "$BRIDGE_PID"
stop_bridge

# --- a delay topic the bridge creates at start --------------------------------
# A new interval (2 s) means a new delay topic, webhook-delay-2s, which the
# bridge creates itself (kafka.create_topics); the first retry is due 2 s
# after the first attempt, within a 4 s window.
start_receiver flaky2 --fail-first 1
sed -e 's/kafka = { brokers = "\([^"]*\)"; partitions = 3; };/kafka = { brokers = "\1"; partitions = 2; replication = 1; create_topics = true; };/' \
    -e 's/schedule = \[ "1s" \]; window = "3s";/schedule = [ "2s" ]; window = "4s";/' \
    -e "s|url = \"http://127.0.0.1:$PORT_flaky/h\"|url = \"http://127.0.0.1:$PORT_flaky2/h\"|" \
    "$T/bridge.conf" >"$T/bridge2.conf"
t0=$(ms)
start_bridge bridge2 "$T/bridge2.conf"
echo "note: second bridge ready in $(($(ms) - t0)) ms"
check "the bridge created webhook-delay-2s" \
    wait_until 10 sh -c "kcat -L -b $BOOT -t webhook-delay-2s 2>/dev/null | grep -q 'topic \"webhook-delay-2s\" with 2 partitions'"
id2=$(uuid)
event "$id2" Subscribe "$ACCOUNT_B" >"$T/events2"
t_produce=$(ms)
produce "$T/events2"
wait_until 20 jqe -s --arg id "$id2" 'map(select(.webhookId == $id)) | length >= 2' "$T/flaky2.out"
echo "note: second attempt $(($(ms) - t_produce)) ms after producing (due 2000 ms after the first)"
check "the retry parked on the new delay topic is attempted within the window: 503 then 200" \
    jqe -s --arg id "$id2" 'map(select(.webhookId == $id)) | map(.status) == [503, 200]' "$T/flaky2.out"
check "and not dead-lettered" \
    sh -c "! kcat -C -b $BOOT -t webhook-dead-letter -o beginning -e -q 2>/dev/null | grep -q '$id2'"
stop_bridge
sh tests/kafka/broker.sh kill "$KAFKA_DIR"

# --- a broker that auto-creates topics -----------------------------------------
# A second broker, with auto.create.topics.enable=true (Kafka's default),
# and no topics made beforehand: kafka.create_topics is false, as it is by
# default on a real cluster.  No client of the bridge makes the broker
# auto-create a topic (an auto-created endpoints topic is not compacted, a
# delay topic has the broker's partition count): a missing topic is
# reported, and /readyz fails until `topics create` has made it.
start_kafka kafka2
sed "s/brokers = \"[^\"]*\"/brokers = \"$BOOT\"/" "$T/bridge2.conf" |
    sed 's/ replication = 1; create_topics = true;//' >"$T/bridge3.conf"
WEBHOOK_BRIDGE_BROKERS=$BOOT "$BIN" endpoints put -c "$T/bridge3.conf" --id extra \
    --account "$ACCOUNT_C" --url "http://127.0.0.1:1/h" >"$T/put.out" 2>&1
rc=$?
check "endpoints put on a cluster without the endpoints topic fails, naming the topic" \
    sh -c "[ $rc -ne 0 ] && grep -q 'webhook-endpoints' $T/put.out"
WEBHOOK_BRIDGE_BROKERS=$BOOT "$BIN" topics check -c "$T/bridge3.conf" >"$T/check3.out" 2>&1
check "and did not make the broker auto-create it" \
    grep -q '^  MISSING webhook-endpoints ' "$T/check3.out"
# Every topic but the new delay one, as a deploy that ran topics create
# before the retry schedule changed would have left them.
sed 's/schedule = \[ "2s" \]; window = "4s";/schedule = [ "1s" ]; window = "4s";/' \
    "$T/bridge3.conf" >"$T/bridge3-old.conf"
WEBHOOK_BRIDGE_BROKERS=$BOOT "$BIN" topics create -c "$T/bridge3-old.conf" >"$T/create3.out" 2>&1 ||
    fail "topics create (old schedule)"
start_receiver flaky3 --fail-first 1
sed -i "s|url = \"http://127.0.0.1:$PORT_flaky2/h\"|url = \"http://127.0.0.1:$PORT_flaky3/h\"|" "$T/bridge3.conf"
start_bridge bridge3 "$T/bridge3.conf"
check "the bridge names the missing delay topic in an error line" \
    wait_until 10 grep -q '"msg":"topics missing.*"topics":"webhook-delay-2s"' "$T/bridge3.err"
check "/readyz answers 503 and names it" \
    wait_until 10 sh -c "[ \$(curl -s -o $T/readyz3.out -w '%{http_code}' http://$ADMIN/readyz) = 503 ] && grep -q 'webhook-delay-2s' $T/readyz3.out"
WEBHOOK_BRIDGE_BROKERS=$BOOT "$BIN" topics create -c "$T/bridge3.conf" >"$T/create3b.out" 2>&1 ||
    fail "topics create (new schedule)"
kcat -L -b "$BOOT" -t webhook-delay-2s >"$T/delay3.meta" 2>&1
check "topics create made webhook-delay-2s with kafka.partitions (2)" \
    grep -q 'topic "webhook-delay-2s" with 2 partitions' "$T/delay3.meta"
id3=$(uuid)
event "$id3" Subscribe "$ACCOUNT_B" >"$T/events3"
t_produce=$(ms)
produce "$T/events3"
wait_until 30 jqe -s --arg id "$id3" 'map(select(.webhookId == $id)) | length >= 2' "$T/flaky3.out"
echo "note: second attempt $(($(ms) - t_produce)) ms after producing (due 2000 ms after the first)"
late3=$(jq -s --arg id "$id3" 'map(select(.webhookId == $id) | .timestamp | tonumber) | .[1] - .[0]' "$T/flaky3.out")
echo "note: webhook-timestamp of attempt 2 minus attempt 1: ${late3:-none} s (due 2 s)"
# The first record the new delay topic takes makes the delay consumer look
# for it at once (pipeline.c), not at its next metadata refresh (10 s).
check "a retry parked on a delay topic made while the bridge runs is attempted on time" \
    sh -c "[ -n '$late3' ] && [ '$late3' != null ] && [ '$late3' -le 4 ]"
check "and /readyz recovers once the topics are there" \
    wait_until 30 sh -c "[ \$(curl -s -o /dev/null -w '%{http_code}' http://$ADMIN/readyz) = 200 ]"
stop_bridge
for f in "$T"/bridge*.err; do
    grep -E '"level":"(warn|error)"' "$f" | grep -v '"msg":"stats"' | head -5 |
        cut -c1-300 | sed "s|^|    $(basename "$f"): |"
done
finish
