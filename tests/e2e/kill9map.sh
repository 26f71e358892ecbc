# kill -9 with one slow record ahead of many delivered ones (issue 9): the
# next owner skips the records the last commit's metadata lists as
# resolved, so duplicates are what was in flight at the kill, not all that
# was consumed since the oldest unresolved record.  One partition; its
# first record goes to an endpoint that answers in 20 s, the 300 after it
# to a fast one.  All 300 are delivered and committed (in the map: the
# committed offset stays at the first record) before the kill; after the
# restart the fast endpoint gets none of them again.
. tests/e2e/lib.sh

start_outliving_cluster 1 1s
start_receiver hang --delay 20000
start_receiver fast
cat >"$T/bridge.conf" <<CONF
kafka = { brokers = "$BOOT"; create_topics = false;
          properties = [ "session.timeout.ms=6000", "heartbeat.interval.ms=500" ]; };
delivery = { allow_private_networks = true; timeout = "60s"; };
retry = { schedule = [ "1s" ]; window = "5m"; };
endpoints = (
  { id = "hang"; account_id = "$ACCOUNT_B"; url = "http://127.0.0.1:$PORT_hang/h"; },
  { id = "fast"; account_id = "$ACCOUNT_A"; url = "http://127.0.0.1:$PORT_fast/h"; }
);
CONF
make_topics "$T/bridge.conf"
event "$(uuid)" Subscribe "$ACCOUNT_B" >"$T/events"
events 300 Subscribe "$ACCOUNT_A" >>"$T/events"
jq -r 'select(.eventDetails.accountId == "'"$ACCOUNT_A"'") | .eventId' "$T/events" | sort >"$T/ids"
produce "$T/events"
start_bridge bridge "$T/bridge.conf"

check "the 300 records behind the hanging one were delivered" \
    wait_until 60 sh -c "[ \$(jq -r 'select(.status == 200) | .webhookId' $T/fast.out | sort -u | comm -12 - $T/ids | wc -l) -eq 300 ]"
# The bridge commits every second: a few seconds for the map to be
# committed (the first record hangs 20 s).
sleep 3
kill -9 "$BRIDGE_PID"
wait "$BRIDGE_PID" 2>/dev/null
ok "killed the bridge with -9 while the first record hung"
start_bridge bridge "$T/bridge.conf"
check "the restarted bridge read the map: 300 resolved records to skip" \
    wait_until 30 sh -c "[ \"\$(grep '\"resolved records to skip\"' $T/bridge.err | jq -r 'select(.topic == \"subscription-events\") | .count' | tail -1)\" -ge 300 ]"
check "the first record is delivered again (it was in flight at the kill)" \
    wait_until 60 sh -c "[ \$(wc -l <$T/hang.out) -ge 2 ]"
check "SIGTERM exits 0" stop_bridge
dups=$(($(jq -r 'select(.status == 200) | .webhookId' "$T/fast.out" | wc -l) - 300))
ok "duplicates at the fast endpoint after the kill: $dups (none was in flight there)"
check "no record the map listed was delivered again" test "$dups" -eq 0
skipped=$(grep '"final stats"' "$T/bridge.err" | tail -1 | jq .records_skipped)
check "the second life skipped 300 records (records_skipped $skipped)" test "${skipped:-0}" -eq 300
finish
