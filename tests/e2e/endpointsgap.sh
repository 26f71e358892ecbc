# The registry does not call itself caught up on an UNKNOWN_TOPIC answer
# for the endpoints topic (issue 9).  A broker may say that of a topic that
# exists (one that has not learnt of it yet, a topic being created); before,
# the registry then counted as caught up with no endpoints, the events
# consumed meanwhile were unrouted and their offsets committed: lost.  Here
# the mock cluster answers UNKNOWN_TOPIC_OR_PART for the endpoints topic,
# which holds the only endpoint, while an event waits on the events topic:
# nothing may be consumed (and /readyz says why) until the answer clears,
# then the event is delivered.
. tests/e2e/lib.sh
only_on mock "sets a topic error in Metadata answers through rdkafka_mock.h"

start_cluster $(cluster_topics 1 1s)
start_receiver ok
cat >"$T/bridge.conf" <<CONF
kafka = { brokers = "$BOOT"; create_topics = false; topics = { attempts = ""; };
          properties = [ "session.timeout.ms=6000", "heartbeat.interval.ms=500" ]; };
delivery = { allow_private_networks = true; };
admin = { listen = "127.0.0.1:0"; };
CONF
WEBHOOK_BRIDGE_BROKERS=$BOOT "$BIN" endpoints put -c "$T/bridge.conf" --id ep-reg \
    --account "$ACCOUNT_A" --url "http://127.0.0.1:$PORT_ok/h" >"$T/put.out" 2>&1 ||
    fail "endpoints put"
id=$(uuid)
event "$id" Subscribe "$ACCOUNT_A" >"$T/events"
produce "$T/events"
mock_cmd topic_error webhook-endpoints 3 # UNKNOWN_TOPIC_OR_PART
"$BIN" run -c "$T/bridge.conf" >"$T/bridge.out" 2>"$T/bridge.err" &
BRIDGE_PID=$!
PIDS="$PIDS $BRIDGE_PID"
check "the bridge says the endpoints topic is not found" \
    wait_until 30 grep -q 'endpoints topic not found' "$T/bridge.err"
ADMIN=$(sed -n 's/.*"admin server listening","address":"\([^"]*\)".*/\1/p' "$T/bridge.err" | head -1)
sleep 5
check "no event consumed while the endpoints topic is said missing" \
    sh -c "! grep -q '\"registry caught up\"' $T/bridge.err && ! grep -q '\"partitions assigned\",\"consumer\":\"events\"' $T/bridge.err"
check "/readyz is 503 meanwhile" \
    sh -c "[ \$(curl -s -o /dev/null -w '%{http_code}' http://$ADMIN/readyz) = 503 ]"
mock_cmd topic_error webhook-endpoints 0
check "once the topic is found, the registry reads it and the bridge is ready" \
    wait_until 60 grep -q '"msg":"ready"' "$T/bridge.err"
check "the event is delivered to the endpoint of the endpoints topic" \
    wait_until 60 sh -c "jq -r 'select(.status == 200) | .webhookId' $T/ok.out | grep -qx $id"
check "SIGTERM exits 0" stop_bridge
finish
