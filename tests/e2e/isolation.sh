# A slow endpoint that answers 2xx must not stop a healthy one (issue 9).
# The slow endpoint answers every request 200, but after 9 s: the circuit
# breaker, which counts failures, never opens on it.  Without isolation its
# deliveries wait in the worker and fill the in-flight budget (40 here), the
# consumer pauses, and the healthy endpoint gets about 8 events per 9 s
# (the slow endpoint's cap per answer time): 100 events would take ~2 min.
# With isolation (the defaults: delivery.slow_answer = 5s,
# delivery.slow_max_in_flight = 2) what waits for the slow endpoint beyond
# its share of the budget is parked unattempted on the delay topic once its
# attempts have run long enough to tell, and all of it once an attempt has
# run for 5 s (it is slow: 2 at once, nothing waits); the healthy endpoint
# gets its events within a minute.  Nothing is lost for the slow
# endpoint: each of its deliveries was attempted or parked.
. tests/e2e/lib.sh

start_receiver ok
start_receiver slow --delay 9000
cat >"$T/bridge.conf" <<CONF
kafka = { brokers = "embedded"; partitions = 2; };
delivery = { allow_private_networks = true; workers = 1; max_in_flight = 40;
             endpoint_max_in_flight = 8; timeout = "15s"; drain_timeout = "1s"; };
retry = { schedule = [ "30s" ]; window = "10m"; };
endpoints = (
  { id = "ok"; account_id = "*"; url = "http://127.0.0.1:$PORT_ok/h"; },
  { id = "slow"; account_id = "*"; url = "http://127.0.0.1:$PORT_slow/h"; }
);
CONF
start_bridge bridge "$T/bridge.conf"
# batch FILE N: N events for every endpoint.
batch() {
    : >"$1"
    i=0
    while [ $i -lt "$2" ]; do
        event "$(uuid)" Subscribe "$ACCOUNT_A" >>"$1"
        i=$((i + 1))
    done
}
healthy() { jq -r 'select(.status == 200) | .webhookId' "$T/ok.out" | sort -u | wc -l; }
# isolated REASON: the deliveries_isolated_total counter of that reason.
isolated() {
    curl -sf "http://$ADMIN/metrics" |
        sed -n "s/^webhook_bridge_deliveries_isolated_total{reason=\"$1\"} //p"
}

# First 100 events: the slow endpoint's first 8 attempts run for 9 s; its
# waiting deliveries fill the budget, until the age of its running attempts
# shows a backlog it cannot drain (the share), then it is known slow.
batch "$T/events1" 100
produce "$T/events1"
check "the healthy endpoint got the first 100 events within 60 s while the other answers in 9 s" \
    wait_until 60 sh -c "[ \$(jq -r 'select(.status == 200) | .webhookId' $T/ok.out | sort -u | wc -l) -eq 100 ]"
check "beyond its share of the budget (20 of 40), what waited for it was parked once its attempts had run long enough to tell" \
    wait_until 60 sh -c "[ \"\$(curl -sf http://$ADMIN/metrics | sed -n 's/^webhook_bridge_deliveries_isolated_total{reason=\"share\"} //p')\" -gt 0 ]"
check "the slow endpoint was marked slow (attempts running past 5 s): what waited for it was parked" \
    wait_until 60 sh -c "[ \"\$(curl -sf http://$ADMIN/metrics | sed -n 's/^webhook_bridge_deliveries_isolated_total{reason=\"slow\"} //p')\" -gt 0 ]"

# 100 more while it is known slow: at most 2 attempts at once, nothing waits.
batch "$T/events2" 100
produce "$T/events2"
check "the healthy endpoint got all 200 events within 60 s" \
    wait_until 60 sh -c "[ \$(jq -r 'select(.status == 200) | .webhookId' $T/ok.out | sort -u | wc -l) -eq 200 ]"
ok "the healthy endpoint has $(healthy) events; the slow one was sent $(lines "$T/slow.out")" \
    "requests; deferred to isolate it: $(isolated share) beyond its share, $(isolated slow) for its slow answers"
check "the slow endpoint still got attempts" test "$(lines "$T/slow.out")" -gt 0
cat "$T/events1" "$T/events2" | jq -r .eventId | sort >"$T/ids"
check "every delivery to the slow endpoint was attempted or parked, none lost" \
    wait_until 30 sh -c "
    { jq -r .webhookId $T/slow.out
      kcat -C -b $BOOT -t webhook-delay-30s -o beginning -e -q 2>/dev/null |
          jq -r 'select(.endpointId == \"slow\") | .eventId'; } | sort -u | comm -23 $T/ids - | wc -l | grep -qx 0"
check "nothing for the healthy endpoint was deferred" sh -c "
    [ \$(kcat -C -b $BOOT -t webhook-delay-30s -o beginning -e -q 2>/dev/null |
        jq -r 'select(.endpointId == \"ok\") | .eventId' | wc -l) -eq 0 ]"
check "SIGTERM exits 0" stop_bridge
finish
