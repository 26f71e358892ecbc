# SIGTERM with deliveries queued and running, then a restart: the running
# ones finish, the queued ones are parked due at once on webhook-delay-0s
# (not abandoned), the bridge exits 0, and after the restart every event
# has reached the endpoint, with no duplicate beyond what was running.
. tests/e2e/lib.sh

start_outliving_cluster 2 1s
start_receiver slow --delay 400
cat >"$T/bridge.conf" <<CONF
kafka = { brokers = "$BOOT"; create_topics = false;
          properties = [ "session.timeout.ms=6000", "heartbeat.interval.ms=500" ]; };
delivery = { allow_private_networks = true; workers = 1; endpoint_max_in_flight = 2;
             timeout = "5s"; };
retry = { schedule = [ "1s" ]; window = "5m"; };
endpoints = (
  { id = "slow"; account_id = "*"; url = "http://127.0.0.1:$PORT_slow/h"; }
);
CONF
make_topics "$T/bridge.conf"
: >"$T/events"
events 40 Subscribe "$ACCOUNT_A" >>"$T/events"
jq -r .eventId "$T/events" | sort >"$T/ids"
produce "$T/events"
start_bridge bridge "$T/bridge.conf"

wait_until 60 sh -c "[ \$(wc -l <$T/slow.out) -ge 4 ]"
check "SIGTERM with deliveries in flight exits 0" stop_bridge
stopped_at=$(lines "$T/slow.out")
parked=$(grep '"final stats"' "$T/bridge.err" | jq .deliveries_parked_at_stop)
ok "stopped after $stopped_at deliveries of 40; $parked parked at stop"
check "the deliveries not yet started were parked, not abandoned" test "${parked:-0}" -gt 0
check "they are on webhook-delay-0s, due at once" \
    test "$(consume webhook-delay-0s | jq -r '.payload | fromjson | .eventId' | sort -u | wc -l)" -eq "$parked"
check "the stop was logged stage by stage" \
    sh -c "grep -c '\"msg\":\"shutdown: ' $T/bridge.err | grep -qx 6"

start_bridge bridge "$T/bridge.conf"
check "after the restart every event reached the endpoint (40)" \
    wait_until 60 sh -c "[ \$(jq -r 'select(.status == 200) | .webhookId' $T/slow.out | sort -u | comm -12 - $T/ids | wc -l) -eq 40 ]"
dups=$(($(lines "$T/slow.out") - 40))
ok "duplicates: $dups"
check "duplicates are bounded by what was running at the stop (2)" test "$dups" -le 2
check "nothing was dead-lettered" test "$(consume webhook-dead-letter | wc -l)" -eq 0
check "SIGTERM exits 0 again" stop_bridge
finish
