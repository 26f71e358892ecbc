# Graceful rebalances deliver no (event, endpoint) pair twice (issue 9).
# Three replicas on a slow endpoint (2 s an answer): a starts, b joins, c
# joins, then a leaves by SIGTERM, each while deliveries are in flight.  A
# member giving partitions up waits for their records in flight to resolve
# and commits them before they go, so the next owner starts after them.
# Small fetches (max.partition.fetch.bytes, one record a batch) interleave
# the partitions' records, so that every partition has deliveries in
# flight when it moves.
#
# The bridge's default protocol is librdkafka's eager one: a member revokes
# everything as soon as a rebalance starts, with deliveries in flight, and
# without the revoke's wait the next owners deliver them again (98 pairs of
# 600 here).  graceful_coop.sh runs the same under cooperative-sticky
# (ASSIGNMENT), whose librdkafka 2.0.2 implementation pauses the fetchers
# for the whole rebalance and revokes only the partitions that move.
. tests/e2e/lib.sh
ASSIGNMENT=${ASSIGNMENT:-}
STRATEGY=
[ -n "$ASSIGNMENT" ] && STRATEGY=", \"partition.assignment.strategy=$ASSIGNMENT\""

start_outliving_cluster 4 1s
start_receiver slow --delay 2000
cat >"$T/bridge.conf" <<CONF
kafka = { brokers = "$BOOT"; create_topics = false;
          properties = [ "session.timeout.ms=6000", "heartbeat.interval.ms=500",
                         "max.partition.fetch.bytes=1024"$STRATEGY ]; };
delivery = { allow_private_networks = true; max_in_flight = 16; endpoint_max_in_flight = 16;
             timeout = "10s"; };
retry = { schedule = [ "1s" ]; window = "5m"; };
endpoints = (
  { id = "slow"; account_id = "*"; url = "http://127.0.0.1:$PORT_slow/h"; }
);
CONF
make_topics "$T/bridge.conf"
: >"$T/events"
events 600 Subscribe "$ACCOUNT_A" >>"$T/events"
jq -r .eventId "$T/events" | sort >"$T/ids"
# One record a batch (fetches return whole batches), spread at random over
# the partitions (not stuck to one for a while).
kcat -P -b "$BOOT" -t subscription-events -X batch.num.messages=1 \
    -X sticky.partitioning.linger.ms=0 -l "$T/events" 2>>"$T/kcat.err"

got() { jq -r 'select(.status == 200) | .webhookId' "$T/slow.out" | sort -u | wc -l; }
more_than() { [ "$(got)" -gt "$1" ]; }

start_bridge a "$T/bridge.conf"
A_PID=$BRIDGE_PID
wait_until 60 more_than 40
start_bridge b "$T/bridge.conf"
B_PID=$BRIDGE_PID
n=$(got)
ok "b joined after $n deliveries"
wait_until 60 more_than $((n + 40))
start_bridge c "$T/bridge.conf"
C_PID=$BRIDGE_PID
n=$(got)
ok "c joined after $n deliveries"
wait_until 60 more_than $((n + 40))
n=$(got)
BRIDGE_PID=$A_PID
check "SIGTERM of a with deliveries in flight exits 0 (after $n deliveries)" stop_bridge
check "every event is delivered (600)" \
    wait_until 180 sh -c "[ \$(jq -r 'select(.status == 200) | .webhookId' $T/slow.out | sort -u | comm -12 - $T/ids | wc -l) -eq 600 ]"
BRIDGE_PID=$B_PID
check "SIGTERM exits 0 (b)" stop_bridge
BRIDGE_PID=$C_PID
check "SIGTERM exits 0 (c)" stop_bridge
jq -r '.webhookId' "$T/slow.out" | sort | uniq -d >"$T/dups"
ok "requests: $(lines "$T/slow.out"), pairs delivered more than once: $(lines "$T/dups")"
check "no pair was delivered twice" test "$(lines "$T/dups")" -eq 0
check "the members logged no revoke with records unresolved" \
    sh -c "! grep -q 'revoked with records unresolved' $T/a.err $T/b.err $T/c.err"
finish
