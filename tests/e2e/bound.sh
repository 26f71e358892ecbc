# The offset tracker is bounded per partition (issue 9): records resolved
# behind an unresolved one pile up to 4 x delivery.max_in_flight and no
# further.  One partition; its first record goes to an endpoint that
# answers in 30 s, the 100 after it to a fast one.  With max_in_flight = 4
# (a bound of 16 records) the partition pauses after 16 records: the fast
# endpoint gets at most 15 while the first hangs, then the rest once it has
# answered (the partition resumes).
. tests/e2e/lib.sh
only_on mock "the tracker's bound is the bridge's alone: the mock shows it (the real run cost a minute of CI)"

start_outliving_cluster 1 1s
start_receiver hang --delay 30000
start_receiver fast
cat >"$T/bridge.conf" <<CONF
kafka = { brokers = "$BOOT"; create_topics = false; };
delivery = { allow_private_networks = true; max_in_flight = 4; endpoint_max_in_flight = 4;
             timeout = "60s"; };
retry = { schedule = [ "1s" ]; window = "5m"; };
endpoints = (
  { id = "hang"; account_id = "$ACCOUNT_B"; url = "http://127.0.0.1:$PORT_hang/h"; },
  { id = "fast"; account_id = "$ACCOUNT_A"; url = "http://127.0.0.1:$PORT_fast/h"; }
);
CONF
make_topics "$T/bridge.conf"
event "$(uuid)" Subscribe "$ACCOUNT_B" >"$T/events"
events 100 Subscribe "$ACCOUNT_A" >>"$T/events"
jq -r 'select(.eventDetails.accountId == "'"$ACCOUNT_A"'") | .eventId' "$T/events" | sort >"$T/ids"
produce "$T/events"
start_bridge bridge "$T/bridge.conf"

fast() { jq -r 'select(.status == 200) | .webhookId' "$T/fast.out" | sort -u | wc -l; }
wait_until 60 sh -c "[ \$(wc -l <$T/fast.out) -ge 15 ]"
# A moment for more to come if nothing stopped them (all 100 come in well
# under a second when nothing does), far less than the 30 s the first
# record hangs (the receiver logs a request when it comes, not when it
# answers).
sleep 3
during=$(fast)
ok "the fast endpoint got $during deliveries while the first record hung"
check "the first record reached its endpoint" test "$(lines "$T/hang.out")" -eq 1
check "at most 15 records behind the unresolved one were consumed (bound 16)" test "$during" -le 15
check "/metrics shows the partition paused at the bound" \
    wait_until 10 sh -c "curl -sf http://$ADMIN/metrics | grep -qx 'webhook_bridge_partitions{consumer=\"events\",state=\"full\"} 1'"
check "after it answered every record was delivered (the partition resumed)" \
    wait_until 90 sh -c "[ \$(jq -r 'select(.status == 200) | .webhookId' $T/fast.out | sort -u | comm -12 - $T/ids | wc -l) -eq 100 ]"
check "SIGTERM exits 0" stop_bridge
paused=$(grep '"final stats"' "$T/bridge.err" | jq .partitions_paused_full)
ok "partitions paused at the bound: $paused"
check "the pause was counted" test "${paused:-0}" -ge 1
finish
