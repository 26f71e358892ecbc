# Routing on the embedded cluster: events to several accounts and endpoints
# arrive exactly where they should (no pair missing, none extra), the body is
# the event byte for byte, webhook-id is the eventId, and the headers are the
# documented ones.
. tests/e2e/lib.sh

for r in e1 e2 e3 e4 e5; do start_receiver $r; done
cat >"$T/bridge.conf" <<CONF
kafka = { brokers = "embedded"; partitions = 3; };
delivery = { allow_private_networks = true; timeout = "5s"; };
retry = { schedule = [ "1s" ]; window = "20s"; };
endpoints = (
  { id = "e1"; account_id = "$ACCOUNT_A"; url = "http://127.0.0.1:$PORT_e1/a-sub"; event_types = [ "Subscribe" ]; },
  { id = "e2"; account_id = "$ACCOUNT_A"; url = "http://127.0.0.1:$PORT_e2/a-all"; event_types = [ "*" ]; },
  { id = "e3"; account_id = "*"; url = "http://127.0.0.1:$PORT_e3/any-unsub"; event_types = [ "Unsubscribe" ]; },
  { id = "e4"; account_id = "$ACCOUNT_B"; url = "http://127.0.0.1:$PORT_e4/b"; event_types = [ "Subscribe", "Unsubscribe" ]; },
  { id = "e5"; account_id = "$ACCOUNT_A"; url = "http://127.0.0.1:$PORT_e5/off"; enabled = false; }
);
CONF
start_bridge bridge "$T/bridge.conf"

# 36 events: accounts A, B, C x types Subscribe, Unsubscribe, Renewal.
: >"$T/events"
: >"$T/expected"
i=0
while [ $i -lt 36 ]; do
    case $((i % 3)) in 0) acc=$ACCOUNT_A ;; 1) acc=$ACCOUNT_B ;; *) acc=$ACCOUNT_C ;; esac
    case $((i / 3 % 3)) in 0) typ=Subscribe ;; 1) typ=Unsubscribe ;; *) typ=Renewal ;; esac
    id=$(uuid)
    event "$id" "$typ" "$acc" ",\"n\":$i" >>"$T/events"
    [ $acc = $ACCOUNT_A ] && [ $typ = Subscribe ] && echo "$id e1" >>"$T/expected"
    [ $acc = $ACCOUNT_A ] && echo "$id e2" >>"$T/expected"
    [ $typ = Unsubscribe ] && echo "$id e3" >>"$T/expected"
    [ $acc = $ACCOUNT_B ] && [ $typ != Renewal ] && echo "$id e4" >>"$T/expected"
    i=$((i + 1))
done
sort -o "$T/expected" "$T/expected"
produce "$T/events"

received_pairs() {
    for r in e1 e2 e3 e4 e5; do jq -r --arg r $r '.webhookId + " " + $r' "$T/$r.out"; done | sort
}
total=$(wc -l <"$T/expected")
wait_until 60 sh -c "[ \$(cat $T/e1.out $T/e2.out $T/e3.out $T/e4.out $T/e5.out | wc -l) -ge $total ]"
sleep 2 # anything extra would arrive now
received_pairs >"$T/received"
check "every expected (event, endpoint) pair arrived, none extra ($total pairs)" \
    cmp -s "$T/expected" "$T/received"
check "no pair delivered twice" sh -c "[ \$(sort -u $T/received | wc -l) -eq \$(wc -l <$T/received) ]"
check "the disabled endpoint got nothing" test "$(lines "$T/e5.out")" -eq 0

# Bodies: byte for byte the record; headers: the documented ones.
bad=0
now=$(date +%s)
for r in e1 e2 e3 e4; do
    while IFS= read -r line; do
        id=$(printf '%s' "$line" | jq -r .webhookId)
        body=$(printf '%s' "$line" | jq -r .body)
        want=$(grep "\"eventId\":\"$id\"" "$T/events")
        [ "$body" = "$want" ] || { echo "body differs for $id at $r"; bad=1; }
        printf "%s" "$line" | jqe --argjson now "$now" \
            '.contentType == "application/json" and (.userAgent | startswith("webhook-bridge/"))
             and ((.timestamp | tonumber) - $now | fabs) < 120 and .status == 200' >/dev/null ||
            { echo "headers wrong: $line"; bad=1; }
    done <"$T/$r.out"
done
check "bodies equal the events byte for byte; webhook-id = eventId; headers as documented" test $bad -eq 0
check "nothing was dead-lettered" test "$(consume webhook-dead-letter | wc -l)" -eq 0
check "SIGTERM exits 0" stop_bridge
check "shutdown logged its stages" grep -q '"shutdown: done"' "$T/bridge.err"
finish
