# A flood of records that are not events (issue 9): each one's dead letter
# is held in memory until Kafka has it, so it counts in the in-flight budget
# like a delivery and consumption pauses when the budget is full.  Before,
# those dead letters were not counted: while the dead-letter topic was slow
# the bridge kept consuming invalid records and queueing their dead letters
# without bound.  Here Kafka answers the bridge's Produce requests with
# REQUEST_TIMED_OUT (retried) for a while: in_flight must reach the budget
# (16) and stay there, the producer must hold no more records than that (its
# retry list had no bound), consumption must stop short of the 200 records, and
# once Produce works again every record must reach the dead-letter topic.
. tests/e2e/lib.sh
only_on mock "pushes Produce errors through rdkafka_mock.h"

start_cluster $(cluster_topics 1 1s)
cat >"$T/bridge.conf" <<CONF
kafka = { brokers = "$BOOT"; create_topics = false; topics = { attempts = ""; };
          properties = [ "session.timeout.ms=6000", "heartbeat.interval.ms=500" ]; };
delivery = { allow_private_networks = true; max_in_flight = 16; endpoint_max_in_flight = 4; };
admin = { listen = "127.0.0.1:0"; };
endpoints = ( { id = "ep"; account_id = "$ACCOUNT_A"; url = "http://127.0.0.1:9/h"; } );
CONF
i=0
: >"$T/invalid"
while [ $i -lt 200 ]; do
    echo "not an event $i" >>"$T/invalid"
    i=$((i + 1))
done
# Produced before the errors: they hit every client's Produce requests.
produce "$T/invalid"
# Every Produce request of the next ~60 s is answered REQUEST_TIMED_OUT.
mock_cmd request_errors 0 100000 7
start_bridge bridge "$T/bridge.conf"
metric() { curl -sf --max-time 5 "http://$ADMIN/metrics" | sed -n "s/^$1 //p"; }
check "the dead letters waiting for Kafka fill the in-flight budget (16)" \
    wait_until 30 sh -c "[ \"\$(curl -sf http://$ADMIN/metrics | sed -n 's/^webhook_bridge_in_flight //p')\" = 16 ]"
sleep 3
consumed=$(metric webhook_bridge_events_consumed_total)
inflight=$(metric webhook_bridge_in_flight)
queue=$(metric webhook_bridge_producer_queue)
echo "while Produce fails: events_consumed_total=$consumed in_flight=$inflight producer_queue=$queue"
check "consumption stopped short of the 200 invalid records ($consumed consumed)" \
    [ "${consumed:-200}" -lt 200 ]
check "in_flight stays within the budget ($inflight)" [ "${inflight:-99}" -le 16 ]
check "the producer's queue and retry list hold at most the budget ($queue)" \
    sh -c "[ ${queue:-0} -ge 1 ] && [ ${queue:-99} -le 16 ]"
mock_cmd clear_errors 0
check "every invalid record reaches the dead-letter topic once Produce works" \
    wait_until 120 sh -c "[ \$(kcat -C -b $BOOT -t webhook-dead-letter -o beginning -e -q 2>/dev/null | jq -r 'select(.reason == \"invalid_event\") | .source.offset' | sort -u | wc -l) -eq 200 ]"
check "in_flight drains to 0" \
    wait_until 30 sh -c "[ \"\$(curl -sf http://$ADMIN/metrics | sed -n 's/^webhook_bridge_in_flight //p')\" = 0 ]"
check "SIGTERM exits 0" stop_bridge
finish
