# One dead endpoint must not starve a healthy one.  The dead endpoint never
# answers within the timeout; after five failed attempts in a row, 10 s after
# its first answer (the breaker's quiet time: no success seen), its circuit
# opens and further deliveries to it are parked without an attempt instead of
# waiting in the in-flight budget (16 here).  Every event still ends delivered
# to the healthy endpoint and dead-lettered for the dead one.
. tests/e2e/lib.sh

start_receiver ok
start_receiver dead --delay 5000
cat >"$T/bridge.conf" <<CONF
kafka = { brokers = "embedded"; partitions = 2; };
delivery = { allow_private_networks = true; workers = 1; max_in_flight = 16;
             endpoint_max_in_flight = 4; connect_timeout = "1s"; timeout = "1s"; };
retry = { schedule = [ "1s" ]; window = "20s"; };
endpoints = (
  { id = "ok"; account_id = "*"; url = "http://127.0.0.1:$PORT_ok/h"; },
  { id = "dead"; account_id = "*"; url = "http://127.0.0.1:$PORT_dead/h"; }
);
CONF
start_bridge bridge "$T/bridge.conf"
: >"$T/events"
events 60 Subscribe "$ACCOUNT_A" >>"$T/events"
produce "$T/events"

check "the healthy endpoint got all 60 events" \
    wait_until 60 sh -c "[ \$(jq -r 'select(.status == 200) | .webhookId' $T/ok.out | sort -u | wc -l) -eq 60 ]"
dead_lettered() {
    kcat -C -b $BOOT -t webhook-dead-letter -o beginning -e -q 2>/dev/null |
        jq -r 'select(.endpointId == "dead") | .eventId' | sort -u | wc -l
}
all_dead_lettered() { [ "$(dead_lettered)" -eq 60 ]; }
stalled=""
if ! wait_until 90 all_dead_lettered; then
    fail "all 60 events to the dead endpoint were dead-lettered after the window"
    # Said at the end (the suite shows a failed test's last lines): where
    # the dead endpoint's deliveries stopped.
    stalled="dead-lettered $(dead_lettered) of 60; last stats: $(grep '"msg":"stats"' "$T/bridge.err" |
        tail -1 | jq -c '{deliveries_retried, deliveries_deferred, deliveries_parked, dead_letters,
        partitions_paused_full, inFlight, partitions}' 2>/dev/null); inFlight every 10 s: $(
        grep '"msg":"stats"' "$T/bridge.err" | jq -r .inFlight | tr '\n' ' '); delay consumer: $(
        grep -c '"partitions assigned","consumer":"delay"' "$T/bridge.err") assignments, $(
        grep -c '"partitions revoked","consumer":"delay"' "$T/bridge.err") revocations; delay lag: $(
        curl -s "http://$ADMIN/metrics" | grep 'consumer_lag{consumer="delay"' |
            sed 's/^webhook_bridge_consumer_lag//' | tr '\n' ' '); last warning: $(
        grep '"level":"\(warn\|error\)"' "$T/bridge.err" | tail -1 | cut -c1-300)"
else
    ok "all 60 events to the dead endpoint were dead-lettered after the window"
fi
check "SIGTERM exits 0" stop_bridge
# Deferrals by the share rule are counted apart (deliveries_isolated_*):
# the rest are the open circuit's.
check "deliveries to the dead endpoint were deferred by its open circuit" \
    sh -c "grep '\"final stats\"' $T/bridge.err | jq -e '.deliveries_deferred - .deliveries_isolated_share - .deliveries_isolated_slow > 0' >/dev/null"
deferred=$(grep '"final stats"' "$T/bridge.err" | jq .deliveries_deferred)
attempts=$(lines "$T/dead.out")
ok "the dead endpoint was tried $attempts times; $deferred deliveries were parked unattempted instead"
if [ -n "$stalled" ]; then
    grep -E 'shutdown: (finishing|flushing)|not acknowledged' "$T/bridge.err" | cut -c1-200
    echo "stalled: $stalled" | tr '\n' ' '
    echo
fi
finish
