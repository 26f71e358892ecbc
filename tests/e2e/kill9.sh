# kill -9 in the middle of a run, then a restart: no (event, endpoint) pair is
# left undelivered.  The cluster is external (mockkafka, or a real broker) so it
# outlives the bridge; a short session timeout lets the restarted member take
# the partitions over quickly.
. tests/e2e/lib.sh

start_outliving_cluster 4 1s
start_receiver slow --delay 30
start_receiver flaky --fail-first 150
cat >"$T/bridge.conf" <<CONF
kafka = { brokers = "$BOOT"; create_topics = false;
          properties = [ "session.timeout.ms=6000", "heartbeat.interval.ms=500" ]; };
delivery = { allow_private_networks = true; timeout = "5s"; };
retry = { schedule = [ "1s" ]; window = "5m"; };
endpoints = (
  { id = "slow"; account_id = "*"; url = "http://127.0.0.1:$PORT_slow/h"; },
  { id = "flaky"; account_id = "*"; url = "http://127.0.0.1:$PORT_flaky/h"; }
);
CONF
make_topics "$T/bridge.conf"
: >"$T/events"
: >"$T/expected"
i=0
while [ $i -lt 300 ]; do
    id=$(uuid)
    event "$id" Subscribe "$ACCOUNT_A" >>"$T/events"
    printf '%s slow\n%s flaky\n' "$id" "$id" >>"$T/expected"
    i=$((i + 1))
done
sort -o "$T/expected" "$T/expected"
produce "$T/events"
start_bridge bridge "$T/bridge.conf"

wait_until 60 sh -c "[ \$(wc -l <$T/slow.out) -ge 60 ]"
kill -9 "$BRIDGE_PID"
wait "$BRIDGE_PID" 2>/dev/null
killed_at=$(lines "$T/slow.out")
ok "killed the bridge with -9 after $killed_at deliveries to slow (of 300)"
start_bridge bridge "$T/bridge.conf"

delivered() {
    for r in slow flaky; do
        jq -r --arg r $r 'select(.status == 200) | .webhookId + " " + $r' "$T/$r.out"
    done | sort -u
}
check "after the restart every (event, endpoint) pair is delivered (600 pairs)" \
    wait_until 120 sh -c "[ \$(for r in slow flaky; do jq -r --arg r \$r 'select(.status == 200) | .webhookId + \" \" + \$r' $T/\$r.out; done | sort -u | comm -12 - $T/expected | wc -l) -eq 600 ]"
delivered >"$T/delivered"
check "nothing was delivered that was not expected" sh -c "[ \$(comm -23 $T/delivered $T/expected | wc -l) -eq 0 ]"
dups=$(($(jq -r 'select(.status == 200) | .webhookId' "$T/slow.out" | wc -l) - 300))
ok "duplicates at slow after the kill: $dups (at-least-once; bounded by what was in flight)"
check "duplicates are bounded by the in-flight limit" test "$dups" -le 1024
check "nothing was dead-lettered" test "$(consume webhook-dead-letter | wc -l)" -eq 0
check "SIGTERM exits 0" stop_bridge
finish
