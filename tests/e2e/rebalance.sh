# A partition assigned back to a member is fetched again (issue 9).
# librdkafka keeps the application's pause flag across revoke and re-assign:
# a delay partition the bridge held paused (its head not yet due) and got
# back in a rebalance stayed paused for good, its parked deliveries never
# retried.  Here every delivery fails once and is parked 5 s on
# webhook-delay-5s, whose two partitions both get records (endpoint ids
# ep-c and ep-d hash to partitions 0 and 1); a second replica then joins,
# and whichever partition the first keeps, it must go on with it.
. tests/e2e/lib.sh

start_outliving_cluster 2 5s
start_receiver fc --fail-first 3
start_receiver fd --fail-first 3
cat >"$T/bridge.conf" <<CONF
kafka = { brokers = "$BOOT"; create_topics = false; topics = { attempts = ""; };
          properties = [ "session.timeout.ms=6000", "heartbeat.interval.ms=500" ]; };
delivery = { allow_private_networks = true; };
retry = { schedule = [ "5s" ]; window = "2m"; };
endpoints = (
  { id = "ep-c"; account_id = "$ACCOUNT_A"; url = "http://127.0.0.1:$PORT_fc/h"; },
  { id = "ep-d"; account_id = "$ACCOUNT_A"; url = "http://127.0.0.1:$PORT_fd/h"; }
);
CONF
make_topics "$T/bridge.conf"
start_bridge a "$T/bridge.conf"
A_PID=$BRIDGE_PID
: >"$T/events"
for i in 1 2 3; do event "$(uuid)" Subscribe "$ACCOUNT_A" >>"$T/events"; done
jq -r .eventId "$T/events" | sort >"$T/ids"
produce "$T/events"
check "six first attempts failed and were parked" \
    wait_until 30 sh -c "[ \$(cat $T/fc.out $T/fd.out | jq -r 'select(.status == 503) | .webhookId' | wc -l) -eq 6 ] && [ \$(kcat -C -b $BOOT -t webhook-delay-5s -o beginning -e -q -f '%p\n' 2>/dev/null | sort -u | wc -l) -eq 2 ]"
# A second replica joins while the first holds the delay partitions paused
# on heads due in 5 s: the groups rebalance.
start_bridge b "$T/bridge.conf"
check "both replicas were assigned partitions of the delay topic" \
    wait_until 30 sh -c "grep -q '\"partitions assigned\",\"consumer\":\"delay\"' $T/b.err"
check "every parked delivery is retried and delivered (6 of 6)" \
    wait_until 60 sh -c "[ \$(jq -r 'select(.status == 200) | .webhookId' $T/fc.out | sort -u | comm -12 - $T/ids | wc -l) -eq 3 ] && [ \$(jq -r 'select(.status == 200) | .webhookId' $T/fd.out | sort -u | comm -12 - $T/ids | wc -l) -eq 3 ]"
check "replica a is still running" kill -0 "$A_PID"
n_a=$(grep -c '"partitions assigned","consumer":"delay"' "$T/a.err")
check "SIGTERM exits 0 (b)" stop_bridge
# a takes every partition back before it is stopped in turn (stopping a
# member in the middle of a rebalance is issue 9's next part).
wait_until 30 sh -c "[ \$(grep -c '\"partitions assigned\",\"consumer\":\"delay\"' $T/a.err) -gt $n_a ]"
BRIDGE_PID=$A_PID
check "SIGTERM exits 0 (a)" stop_bridge
finish
