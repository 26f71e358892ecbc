# The backpressure pause of a partition the bridge has not polled from since
# its assignment loses none of its prefetched records (docs/pause.md).
# Two partitions.  Partition 0 gets 4 events for an endpoint that answers
# in 8 s: with max_in_flight = 4 they saturate the pipeline, and the bridge
# stops polling.  Right then partition 1 (never polled from: it was empty)
# gets 200 events for a fast endpoint, which librdkafka fetches into the
# consumer queue; after 1 s of saturation the bridge pauses every
# partition, dropping them.  librdkafka's debug log shows partition 1's
# fetch position going back to offset 0 from a later one (the records were
# prefetched, never handed over); once the slow endpoint answers, all 200
# must be delivered.  The loss suspected (the resume fetching past the
# dropped records) would leave the first ones out.
. tests/e2e/lib.sh
only_on mock "the path is librdkafka's own, the same on either backend: the mock shows it (a real broker costs a JVM)"

start_cluster $(cluster_topics 2 1s)
start_receiver hang --delay 8000
start_receiver fast
cat >"$T/bridge.conf" <<CONF
kafka = { brokers = "$BOOT"; create_topics = false;
          properties = [ "session.timeout.ms=6000", "heartbeat.interval.ms=500",
                         "fetch.wait.max.ms=50", "debug=topic,fetch" ]; };
log = { level = "debug"; };
delivery = { allow_private_networks = true; max_in_flight = 4; endpoint_max_in_flight = 4;
             timeout = "60s"; };
retry = { schedule = [ "1s" ]; window = "5m"; };
endpoints = (
  { id = "hang"; account_id = "$ACCOUNT_B"; url = "http://127.0.0.1:$PORT_hang/h"; },
  { id = "fast"; account_id = "$ACCOUNT_A"; url = "http://127.0.0.1:$PORT_fast/h"; }
);
CONF
events 4 Subscribe "$ACCOUNT_B" >"$T/p0"
events 200 Subscribe "$ACCOUNT_A" >"$T/p1"
jq -r .eventId "$T/p1" | sort >"$T/ids"
start_bridge bridge "$T/bridge.conf"
# Partition 1 fetching (its start offset found) before anything is produced.
check "partition 1 fetches from offset 0" \
    wait_until 30 grep -q 'subscription-events \[1\] start fetching at offset 0' "$T/bridge.err"
kcat -P -b "$BOOT" -t subscription-events -p 0 -l "$T/p0" 2>>"$T/kcat.err"
# The 4 records are taken (the pipeline saturated) before the first request
# reaches the slow endpoint (3 reach it at once in practice: the 4th waits
# for a slot), and the
# pause comes 1 s later: produce to partition 1 at once (a tight loop, not
# wait_until's 0.2 s).
n=0
while [ "$(lines "$T/hang.out")" -lt 1 ] && [ $n -lt 3000 ]; do
    sleep 0.01
    n=$((n + 1))
done
kcat -P -b "$BOOT" -t subscription-events -p 1 -l "$T/p1" 2>>"$T/kcat.err"
check "the pipeline saturated on partition 0 and every partition was paused" \
    wait_until 60 grep -q 'partitions paused' "$T/bridge.err"
check "no record of partition 1 was delivered before the pause" test "$(lines "$T/fast.out")" -eq 0
check "after the slow endpoint answered every record of partition 1 was delivered" \
    wait_until 90 sh -c "[ \$(jq -r 'select(.status == 200) | .webhookId' $T/fast.out | sort -u | comm -12 - $T/ids | wc -l) -eq 200 ]"
# librdkafka's line when the pause's version reaches the fetcher: "fetch
# decide: updating to version V at offset 0 (was K)": K > 0 is records
# fetched past, dropped, and to be fetched again from 0.
was=$(grep 'fetch decide' "$T/bridge.err" | grep 'subscription-events \[1\]' |
    sed -n 's/.*at offset 0 (was \([0-9]*\)).*/\1/p' | sort -n | tail -1)
# Whether the case happened depends on partition 1's fetch landing within
# the second before the pause: on a machine that stalls longer it did not,
# and that is said, not failed (test_pauseresume pins the same librdkafka
# behaviour without timing).
if [ "${was:-0}" -gt 0 ]; then
    ok "partition 1 had records prefetched, never polled, when it was paused: fetched again from offset 0 after reaching offset $was"
else
    ok "NOTE: partition 1's records were not prefetched before the pause this time (a slow machine): the no-loss check above held, the case itself was not exercised"
fi
check "the 4 slow ones were delivered" \
    wait_until 30 sh -c "[ \$(jq -r 'select(.status == 200) | .webhookId' $T/hang.out | sort -u | wc -l) -eq 4 ]"
check "SIGTERM exits 0" stop_bridge
finish
