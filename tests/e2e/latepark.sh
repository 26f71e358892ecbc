# A failed attempt whose next slot has already passed (the answer took
# longer than the interval) is parked on <prefix>-0s, due at once, not on
# its interval's topic (issue 9, no stall).  There it would wait behind
# the records parked just before it, due up to a whole interval later, and
# be late by that much at every retry.  Schedule [2s]: endpoint "slow"
# answers 503 after 3 s, so each of its failures is due 1 s in the past
# when it is parked; endpoint "fast" answers 503 at once and parks due 2 s
# later on webhook-delay-2s, ahead of slow's in the same partition.
. tests/e2e/lib.sh
only_on mock "the routing of past-due parks is the bridge's alone: the mock shows it (the real run cost a minute of CI)"

start_outliving_cluster 1 2s
start_receiver slow --status 503 --delay 3000
start_receiver fast --status 503
cat >"$T/bridge.conf" <<CONF
kafka = { brokers = "$BOOT"; create_topics = false; topics = { attempts = ""; };
          properties = [ "session.timeout.ms=6000", "heartbeat.interval.ms=500" ]; };
delivery = { allow_private_networks = true; timeout = "10s"; };
retry = { schedule = [ "2s" ]; window = "12s"; };
admin = { listen = "127.0.0.1:0"; };
endpoints = (
  { id = "slow"; account_id = "$ACCOUNT_A"; url = "http://127.0.0.1:$PORT_slow/h"; },
  { id = "fast"; account_id = "$ACCOUNT_A"; url = "http://127.0.0.1:$PORT_fast/h"; }
);
CONF
make_topics "$T/bridge.conf"
start_bridge bridge "$T/bridge.conf"
: >"$T/events"
for i in 1 2 3 4; do event "$(uuid)" Subscribe "$ACCOUNT_A" >>"$T/events"; done
produce "$T/events"
check "every delivery ends dead-lettered after its window" \
    wait_until 90 sh -c "[ \$(kcat -C -b $BOOT -t webhook-dead-letter -o beginning -e -q 2>/dev/null | jq -r '.endpointId' | wc -l) -eq 8 ]"
kcat -C -b "$BOOT" -t webhook-delay-0s -o beginning -e -q 2>/dev/null | jq -r .endpointId | sort | uniq -c >"$T/on0s"
kcat -C -b "$BOOT" -t webhook-delay-2s -o beginning -e -q 2>/dev/null >"$T/delay2s"
jq -r .endpointId "$T/delay2s" | sort | uniq -c >"$T/on2s"
echo "on webhook-delay-0s:"; cat "$T/on0s"
echo "on webhook-delay-2s:"; cat "$T/on2s"
check "slow's retries, due when parked, went to webhook-delay-0s" grep -q ' slow$' "$T/on0s"
# Slow's circuit opens after 5 failures in a row: a deferral is parked at
# the next slot still ahead, on webhook-delay-2s; nothing else of slow's is.
check "slow's records on webhook-delay-2s are circuit-breaker deferrals only" \
    sh -c "[ \$(jq -r 'select(.endpointId == \"slow\" and .deferred == 0) | .deliveryId' $T/delay2s | wc -l) -eq 0 ]"
check "fast's retries, due 2 s after their failure, went to webhook-delay-2s" grep -q ' fast$' "$T/on2s"
check "slow got every attempt its window has (at 0, 3, 6, 9 s or so: 3 or more each)" \
    sh -c "[ \$(jq -r 'select(.status == 503) | .webhookId' $T/slow.out | sort | uniq -c | awk '\$1 < 3' | wc -l) -eq 0 ]"
check "SIGTERM exits 0" stop_bridge
finish
