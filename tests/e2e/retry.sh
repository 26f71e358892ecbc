# Retries on the embedded cluster: an endpoint answering 503 then 200 gets
# the event after a retry; a 503 with Retry-After is not retried before it;
# retries happen at their nominal due times.
. tests/e2e/lib.sh

start_receiver flaky --fail-first 2
start_receiver later --fail-first 1 --retry-after 3
cat >"$T/bridge.conf" <<CONF
kafka = { brokers = "embedded"; partitions = 2; };
delivery = { allow_private_networks = true; timeout = "5s"; };
retry = { schedule = [ "1s" ]; window = "30s"; };
endpoints = (
  { id = "flaky"; account_id = "$ACCOUNT_A"; url = "http://127.0.0.1:$PORT_flaky/h"; },
  { id = "later"; account_id = "$ACCOUNT_B"; url = "http://127.0.0.1:$PORT_later/h"; }
);
CONF
start_bridge bridge "$T/bridge.conf"
id1=$(uuid)
id2=$(uuid)
{ event "$id1" Subscribe "$ACCOUNT_A"; event "$id2" Unsubscribe "$ACCOUNT_B"; } >"$T/events"
produce "$T/events"

check "503, 503, then 200: delivered on the third attempt" \
    wait_until 30 jqe -s --arg id "$id1" \
    'map(select(.webhookId == $id)) | map(.status) == [503, 503, 200]' "$T/flaky.out"
check "every attempt carries the same webhook-id" \
    sh -c "[ \$(jq -r .webhookId $T/flaky.out | sort -u | wc -l) -eq 1 ]"
check "each attempt is timestamped when sent" \
    jqe -s 'map(.timestamp | tonumber) | (.[2] - .[0]) >= 1' "$T/flaky.out"

check "503 with Retry-After: 3, then 200" \
    wait_until 30 jqe -s --arg id "$id2" \
    'map(select(.webhookId == $id)) | map(.status) == [503, 200]' "$T/later.out"
check "the retry waited for Retry-After (>= 3 s, schedule says 1 s)" \
    jqe -s 'map(.timestamp | tonumber) | (.[1] - .[0]) >= 3' "$T/later.out"
sleep 1
check "nothing was dead-lettered" test "$(consume webhook-dead-letter | wc -l)" -eq 0
kill -TERM "$BRIDGE_PID"
wait "$BRIDGE_PID"
check "final stats report retries and their lateness" \
    grep -q '"deliveries_retried":3.*"retry_lateness":{"count":3' "$T/bridge.err"
# Retry-After 3 s on the 1 s delay topic: the partition does not wait on it
# for more than 1 s; the record is re-parked, without an attempt, until due.
check "a record due later than its topic's interval was re-parked, not held" \
    sh -c "grep '\"final stats\"' $T/bridge.err | jq -e '.deliveries_reparked >= 1' >/dev/null"
finish
