# Invalid records on the embedded cluster: each goes to the dead-letter topic
# with reason invalid_event, its error, its bytes (raw, or rawBase64 when not
# UTF-8) and its source; the bridge keeps running and delivers the valid
# event that follows them.
. tests/e2e/lib.sh

start_receiver ok
cat >"$T/bridge.conf" <<CONF
kafka = { brokers = "embedded"; partitions = 1; };
delivery = { allow_private_networks = true; max_event_bytes = 1024; };
endpoints = ( { id = "ok"; account_id = "*"; url = "http://127.0.0.1:$PORT_ok/h"; } );
CONF
start_bridge bridge "$T/bridge.conf"
good=$(uuid)
big=$(head -c 2000 /dev/zero | tr '\0' 'x')
{
    echo 'not json at all'
    printf '{"eventId":"\377\376"}\n'
    echo '[1,2,3]'
    echo '{"eventType":"Subscribe","eventDetails":{"accountId":"'"$ACCOUNT_A"'"}}'
    echo '{"eventId":"not-a-uuid","eventType":"Subscribe","eventDetails":{"accountId":"'"$ACCOUNT_A"'"}}'
    echo '{"eventId":"'"$(uuid)"'","eventType":7,"eventDetails":{"accountId":"'"$ACCOUNT_A"'"}}'
    echo '{"eventId":"'"$(uuid)"'","eventType":"Subscribe","eventDetails":"x"}'
    event "$(uuid)" Subscribe "$ACCOUNT_A" ",\"pad\":\"$big\""
    event "$good" Subscribe "$ACCOUNT_A"
} >"$T/events"
produce "$T/events"

check "the valid event after eight invalid ones is delivered" \
    wait_until 30 jqe -s --arg id "$good" 'map(select(.webhookId == $id)) | length == 1' "$T/ok.out"
check "nothing else was delivered" test "$(lines "$T/ok.out")" -eq 1
wait_until 20 sh -c "[ \$(kcat -C -b $BOOT -t webhook-dead-letter -o beginning -e -q 2>/dev/null | wc -l) -ge 8 ]"
consume webhook-dead-letter | jq -c '.payload | fromjson' >"$T/dlq"
check "eight invalid_event dead letters" \
    jqe -s 'length == 8 and all(.reason == "invalid_event")' "$T/dlq"
check "each names its source topic, partition and offset" \
    jqe -s '(map(.source.topic == "subscription-events" and .source.partition == 0) | all)
            and (map(.source.offset) | sort == [0,1,2,3,4,5,6,7])' "$T/dlq"
expect() { # OFFSET JQ-CONDITION DESCRIPTION
    check "offset $1: $3" jqe -s --argjson o "$1" "map(select(.source.offset == \$o))[0] | $2" "$T/dlq"
}
expect 0 '(.error | startswith("not valid JSON")) and .raw == "not json at all"' "non-JSON kept as raw text"
expect 1 '(.error | startswith("not valid JSON")) and .raw == null and (.rawBase64 | @base64d | length) > 0' \
    "non-UTF-8 kept as rawBase64"
expect 2 '.error == "record must be a JSON object, got an array"' "an array"
expect 3 '.error == "eventId is missing"' "missing eventId"
expect 4 '(.error | contains("not a UUID"))' "eventId not a UUID"
expect 5 '.error == "eventType must be a string, got a number"' "eventType ill-typed"
expect 6 '.error == "eventDetails must be an object, got a string"' "eventDetails ill-typed"
expect 7 '(.error | contains("over the limit of 1024"))' "oversized"
check "the bridge is still running" kill -0 "$BRIDGE_PID"
check "SIGTERM exits 0" stop_bridge
finish
