# Produce errors that retrying cannot fix (issue 11), injected as
# TOPIC_AUTHORIZATION_FAILED answers to Produce requests (the attempts log
# is off, so the bridge's one producer takes them all):
#   - a delay topic that refuses: the parked deliveries are dead-lettered
#     (reason park_refused) instead of retried every second forever, and the
#     events' offsets move on;
#   - the dead-letter topic refusing too: the bridge says so (an error line,
#     dead_letters_refused_total, dead_letters_held, /readyz 503), holds the
#     dead letters and keeps the events' offsets uncommitted; a SIGTERM
#     meanwhile exits 0 and the next start consumes them again; once the
#     refusal ends the held dead letters are produced, without a restart,
#     and the offsets move on: nothing lost, nothing stuck.
. tests/e2e/lib.sh
only_on mock "injects TOPIC_AUTHORIZATION_FAILED answers through rdkafka_mock.h"

start_cluster $(cluster_topics 1 1s)
start_receiver dead --status 500
cat >"$T/bridge.conf" <<CONF
kafka = { brokers = "$BOOT"; create_topics = false; topics = { attempts = ""; };
          properties = [ "session.timeout.ms=6000", "heartbeat.interval.ms=500",
                         "topic.metadata.refresh.interval.ms=1000" ]; };
delivery = { allow_private_networks = true; timeout = "5s"; };
retry = { schedule = [ "1s" ]; window = "60s"; };
endpoints = ( { id = "dead"; account_id = "$ACCOUNT_A"; url = "http://127.0.0.1:$PORT_dead/h"; } );
CONF
# The errors hit every client's Produce requests, kcat's too: events are
# produced before the errors are injected, and the bridge started after.
event "$(uuid)" Subscribe "$ACCOUNT_A" >"$T/events1"
produce "$T/events1"
# One refused Produce request: the park it carried.
mock_cmd request_errors 0 1 29 # Produce, TOPIC_AUTHORIZATION_FAILED
start_bridge bridge "$T/bridge.conf"
check "a delivery the delay topic refused is dead-lettered as park_refused" \
    wait_until 60 sh -c "[ \$(kcat -C -b $BOOT -t webhook-dead-letter -o beginning -e -q 2>/dev/null | jq -r 'select(.reason == \"park_refused\") | .eventId' | sort -u | wc -l) -eq 1 ]"
check "its event's offset is committed" \
    wait_until 30 sh -c "curl -sf http://$ADMIN/metrics | grep -q '^webhook_bridge_consumer_lag{consumer=\"events\",topic=\"subscription-events\",partition=\"0\"} 0'"
check "no produce error was retried for it" \
    sh -c "! grep -q 'retrying every second' '$T/bridge.err'"
check "SIGTERM exits 0" stop_bridge

# Every Produce request refused: the parks, then their dead letters.
: >"$T/events2"
for i in 1 2 3; do event "$(uuid)" Subscribe "$ACCOUNT_A" >>"$T/events2"; done
produce "$T/events2"
mock_cmd request_errors 0 1000 29
start_bridge bridge "$T/bridge.conf"
check "a refused dead letter is an error line" \
    wait_until 60 grep -q '"level":"error","msg":"the dead-letter topic refused a record' "$T/bridge.err"
check "dead_letters_refused_total counts it" \
    wait_until 20 sh -c "curl -sf http://$ADMIN/metrics | grep -qE '^webhook_bridge_dead_letters_refused_total [1-9]'"
check "/readyz answers 503 and says why" \
    sh -c "[ \$(curl -s -o $T/readyz.out -w '%{http_code}' http://$ADMIN/readyz) = 503 ] && grep -q 'dead-letter topic refuses' $T/readyz.out"
check "the three dead letters are held (dead_letters_held 3)" \
    wait_until 60 sh -c "curl -sf http://$ADMIN/metrics | grep -q '^webhook_bridge_dead_letters_held 3\$'"
sleep 3
check "the refused events' offsets stay uncommitted (lag 3)" \
    sh -c "curl -sf http://$ADMIN/metrics | grep -q '^webhook_bridge_consumer_lag{consumer=\"events\",topic=\"subscription-events\",partition=\"0\"} 3'"

# Stopped while it holds them: the next start consumes the events again.
check "SIGTERM exits 0 while dead letters are held" stop_bridge
dead_before=$(lines "$T/dead.out")
start_bridge bridge "$T/bridge.conf"
check "after the restart the three events are attempted again" \
    wait_until 60 sh -c "[ \$(wc -l <$T/dead.out) -ge $((dead_before + 3)) ]"
check "and their dead letters held again" \
    wait_until 60 sh -c "curl -sf http://$ADMIN/metrics | grep -q '^webhook_bridge_dead_letters_held 3\$'"

# The refusal ends: the held dead letters go, without a restart.
mock_cmd clear_errors 0
jq -r .eventId "$T/events2" | sort >"$T/ids2"
check "the held dead letters are on the topic once it takes them" \
    wait_until 60 sh -c "[ \$(kcat -C -b $BOOT -t webhook-dead-letter -o beginning -e -q 2>/dev/null | jq -r 'select(.reason == \"park_refused\") | .eventId' | sort -u | comm -12 - $T/ids2 | wc -l) -eq 3 ]"
check "nothing is held any more" \
    wait_until 30 sh -c "curl -sf http://$ADMIN/metrics | grep -q '^webhook_bridge_dead_letters_held 0\$'"
check "the events' offsets are committed (lag 0)" \
    wait_until 30 sh -c "curl -sf http://$ADMIN/metrics | grep -q '^webhook_bridge_consumer_lag{consumer=\"events\",topic=\"subscription-events\",partition=\"0\"} 0'"
check "/readyz answers 200 again" \
    wait_until 30 sh -c "[ \$(curl -s -o /dev/null -w '%{http_code}' http://$ADMIN/readyz) = 200 ]"
check "the bridge is still running" kill -0 "$BRIDGE_PID"
check "SIGTERM exits 0 again" stop_bridge
finish
