# Broker faults injected with rdkafka_mock.h (through tests/helpers/mockkafka):
# produce errors while deliveries are being parked, then the broker down for
# a few seconds, longer than message.timeout.ms, so that parked and
# dead-lettered records fail in librdkafka and the bridge produces them
# again.  Nothing is lost: every event ends delivered to the flaky
# endpoint (60 failures, then 200s) and dead-lettered for the dead one.
# The window (40 s) leaves the flaky endpoint time to recover even when the
# outage costs the delay consumer its group membership (a rejoin takes
# ~10 s on the mock cluster): a shorter one makes its recovery a race.
. tests/e2e/lib.sh
only_on mock "injects produce errors and a broker outage through rdkafka_mock.h"

start_cluster $(cluster_topics 2 1s)
start_receiver flaky --fail-first 60
start_receiver dead --status 500
cat >"$T/bridge.conf" <<CONF
kafka = { brokers = "$BOOT"; create_topics = false;
          # The attempts log off: its own producer would take the injected
          # produce errors this test means for the delay and dead-letter one.
          topics = { attempts = ""; };
          properties = [ "session.timeout.ms=6000", "heartbeat.interval.ms=500",
                         "message.timeout.ms=1500" ]; };
delivery = { allow_private_networks = true; timeout = "5s"; };
retry = { schedule = [ "1s" ]; window = "40s"; };
endpoints = (
  { id = "flaky"; account_id = "$ACCOUNT_A"; url = "http://127.0.0.1:$PORT_flaky/h"; },
  { id = "dead"; account_id = "$ACCOUNT_A"; url = "http://127.0.0.1:$PORT_dead/h"; }
);
CONF
: >"$T/events"
events 40 Subscribe "$ACCOUNT_A" >>"$T/events"
jq -r .eventId "$T/events" | sort >"$T/ids"
produce "$T/events"
start_bridge bridge "$T/bridge.conf"

# Produce requests fail (retriable errors) while the first failures are parked.
wait_until 30 sh -c "[ \$(wc -l <$T/dead.out) -ge 10 ]"
# 30 retriable errors in a row take librdkafka's retries (100 ms apart)
# past message.timeout.ms (1.5 s): the records fail and the bridge itself
# produces them again.
mock_cmd produce_errors 6 6   # NOT_LEADER_OR_FOLLOWER
mock_cmd produce_errors 30 7  # REQUEST_TIMED_OUT
ok "injected 36 produce errors"
sleep 2
mock_cmd broker_down 1
ok "broker down"
sleep 4
mock_cmd broker_up 1
ok "broker up"

check "every event reached the flaky endpoint with a 200 (40)" \
    wait_until 90 sh -c "[ \$(jq -r 'select(.status == 200) | .webhookId' $T/flaky.out | sort -u | wc -l) -eq 40 ]"
check "every event to the dead endpoint was dead-lettered (40)" \
    wait_until 90 sh -c "[ \$(kcat -C -b $BOOT -t webhook-dead-letter -o beginning -e -q 2>/dev/null | jq -r 'select(.endpointId == \"dead\") | .eventId' | sort -u | wc -l) -eq 40 ]"
consume webhook-dead-letter | jq -r '.payload | fromjson | select(.endpointId == "dead") | .eventId' | sort -u >"$T/dead-ids"
check "the dead letters are exactly the events produced" cmp -s "$T/ids" "$T/dead-ids"
check "no dead letter for the flaky endpoint" \
    test "$(consume webhook-dead-letter | jq -r '.payload | fromjson | select(.endpointId == "flaky")' | wc -l)" -eq 0
check "the bridge survived the faults and exits 0 on SIGTERM" stop_bridge
check "records that timed out during the outage were produced again by the bridge" \
    sh -c "grep '\"final stats\"' $T/bridge.err | jq -e '.produce_retries > 0' >/dev/null"
finish
