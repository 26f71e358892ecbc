# Hostile records (issue 11), produced byte for byte between valid events
# onto the events topic, a delay topic and the endpoints topic: the bridge
# stays up, delivers every valid event, puts every poison record of the
# events and delay topics on the dead-letter topic with its reason and
# source, skips and counts the endpoints-topic ones, and `dlq list` and
# `dlq stats` count exactly what is there.
. tests/e2e/lib.sh

start_receiver ok
cat >"$T/bridge.conf" <<CONF
kafka = { brokers = "embedded"; partitions = 1; };
delivery = { allow_private_networks = true; max_event_bytes = 4096; };
retry = { schedule = [ "1s" ]; window = "6s"; };
endpoints = ( { id = "ok"; account_id = "$ACCOUNT_A"; url = "http://127.0.0.1:$PORT_ok/h"; } );
admin = { listen = "127.0.0.1:0"; };
CONF
start_bridge bridge "$T/bridge.conf"

hex() { od -An -v -tx1 | tr -d ' \n'; }
now_rfc() { date -u +%Y-%m-%dT%H:%M:%S.000Z; }
v1=$(uuid) v2=$(uuid) v3=$(uuid) v4=$(uuid) v5=$(uuid)
long_id="$(head -c 63 /dev/zero | tr '\0' 'a')é"
big=$(head -c 5000 /dev/zero | tr '\0' 'x')

# The events topic: eleven poison records (offsets 1..11), valid events at
# offsets 0, 12 and 13.
head -c 900000 /dev/zero | tr '\0' '\001' >"$T/control.bin"
head -c 950000 /dev/zero | tr '\0' '\377' >"$T/binary.bin"
head -c 20000 /dev/zero | tr '\0' 'k' >"$T/bigkey"
{
    printf 'subscription-events 0 - %s\n' "$(event "$v1" Subscribe "$ACCOUNT_A" | hex)"
    printf 'subscription-events 0 - 225cc3a922\n' # the 5-byte crash of issue 11
    printf 'subscription-events 0 - %s\n' "$(printf '{"eventId":"%s","eventType":"Subscribe","eventDetails":{"accountId":"%s"}}' "$long_id" "$ACCOUNT_A" | hex)"
    printf 'subscription-events 0 - %s\n' "$(printf '{"eventId":"%s","eventType":"Subscribe","eventDetails":{"accountId":"%s"}}' "$(uuid)" "$long_id" | hex)"
    printf 'subscription-events 0 - fffe0001c0af\n'
    printf 'subscription-events 0 - %s00%s\n' "$(printf '{"a":1}' | hex)" "$(printf 'tail' | hex)"
    printf 'subscription-events 0 - -\n' # a NULL value
    printf 'subscription-events 0 - %s\n' "$(event "$(uuid)" Subscribe "$ACCOUNT_A" ",\"pad\":\"$big\"" | hex)"
    printf 'subscription-events 0 - %s\n' "$(head -c 5000 /dev/zero | tr '\0' '[' | hex)"
    printf 'subscription-events 0 6b0078 %s\n' "$(printf 'k\0' | hex)7b" # a key with a NUL byte
    # 900 KB of control bytes: six times that once escaped as "raw" text,
    # over the producer's limit, so the dead letter is the compact form
    printf 'subscription-events 0 - @%s\n' "$T/control.bin"
    # 950 KB that is not UTF-8 under a 20 KB key: the dead letter's value
    # fills the limit, so its key must be cut for the record to fit
    printf 'subscription-events 0 @%s @%s\n' "$T/bigkey" "$T/binary.bin"
    printf 'subscription-events 0 - %s\n' "$(event "$v2" Subscribe "$ACCOUNT_A" | hex)"
    printf 'subscription-events 0 - %s\n' "$(event "$v3" Unsubscribe "$ACCOUNT_A" | hex)"
} >"$T/events.spec"
"$HELPERS/rawproduce" "$BOOT" <"$T/events.spec" >"$T/rawproduce.out" 2>&1 ||
    fail "rawproduce (events): $(cat "$T/rawproduce.out")"

# A delay topic: delivery records as the bridge writes them, some forged.
record() { # EVENT-JSON ACCOUNT FIRST-ATTEMPT ATTEMPT-AT
    ev=$(printf '%s' "$1" | jq -c .)
    id=$(printf '%s' "$ev" | jq -r .eventId)
    printf '{"version":1,"deliveryId":"%s","eventId":"%s","eventType":"Subscribe","accountId":"%s","endpointId":"ok","endpointUrl":"http://127.0.0.1:%s/h","firstAttemptAt":"%s","nextAttemptAt":"%s","attempts":[{"attempt":1,"at":"%s","durationMs":3,"status":503,"error":null}],"deferred":0,"source":{"topic":"subscription-events","partition":0,"offset":99},"event":%s}' \
        "$(uuid)" "$id" "$2" "$PORT_ok" "$3" "$3" "$4" "$ev"
}
ev_a() { event "$1" Subscribe "$ACCOUNT_A"; }
ev_b() { event "$1" Subscribe "$ACCOUNT_B"; }
now=$(now_rfc)
now_ms=$(($(date +%s) * 1000))
far=$((now_ms + 10 * 365 * 24 * 3600 * 1000))
DELAY=webhook-delay-1s
{
    # 0: not a record at all
    printf '%s 0 6f6b %s due-at=0\n' $DELAY "$(printf 'not a delivery record' | hex)"
    # 1: its event is not a valid event
    printf '%s 0 6f6b %s due-at=0\n' $DELAY "$(record '{"eventId":"nope","eventType":"Subscribe","eventDetails":{"accountId":"'$ACCOUNT_A'"}}' "$ACCOUNT_A" "$now" "$now" | hex)"
    # 2: the record says account A, its event says B
    printf '%s 0 6f6b %s due-at=0\n' $DELAY "$(record "$(ev_b "$(uuid)")" "$ACCOUNT_A" "$now" "$now" | hex)"
    # 3: account B's event parked for endpoint ok, which is account A's
    printf '%s 0 6f6b %s due-at=0\n' $DELAY "$(record "$(ev_b "$(uuid)")" "$ACCOUNT_B" "$now" "$now" | hex)"
    # 4: due ten years from now: past its window, never re-parked forever
    printf '%s 0 6f6b %s due-at=%s\n' $DELAY "$(record "$(ev_a "$(uuid)")" "$ACCOUNT_A" "$now" "$now" | hex)" "$far"
    # 5: an attempt made before 1970
    printf '%s 0 6f6b %s due-at=0\n' $DELAY "$(record "$(ev_a "$(uuid)")" "$ACCOUNT_A" "$now" "1969-12-31T23:59:59.000Z" | hex)"
    # 6: a valid parked delivery, due now: delivered
    printf '%s 0 6f6b %s due-at=%s\n' $DELAY "$(record "$(ev_a "$v4")" "$ACCOUNT_A" "$now" "$now" | hex)" "$now_ms"
} >"$T/delay.spec"
"$HELPERS/rawproduce" "$BOOT" <"$T/delay.spec" >>"$T/rawproduce.out" 2>&1 ||
    fail "rawproduce (delay): $(cat "$T/rawproduce.out")"

# The endpoints topic: records that are not endpoints are skipped, logged
# and counted (every replica reads this topic: dead-lettering them would
# write one dead letter per replica).
{
    printf 'webhook-endpoints 0 %s %s\n' "$(printf 'bad1' | hex)" "$(printf '{{{' | hex)"
    printf 'webhook-endpoints 0 %s fffe\n' "$(printf 'bad2' | hex)"
} >"$T/endpoints.spec"
"$HELPERS/rawproduce" "$BOOT" <"$T/endpoints.spec" >>"$T/rawproduce.out" 2>&1 ||
    fail "rawproduce (endpoints): $(cat "$T/rawproduce.out")"
# and a valid event after all of it
printf 'subscription-events 0 - %s\n' "$(event "$v5" Subscribe "$ACCOUNT_A" | hex)" |
    "$HELPERS/rawproduce" "$BOOT" >>"$T/rawproduce.out" 2>&1

for id in "$v1" "$v2" "$v3" "$v4" "$v5"; do
    check "valid event $id delivered once" \
        wait_until 30 jqe -s --arg id "$id" 'map(select(.webhookId == $id)) | length == 1' "$T/ok.out"
done
check "nothing else was delivered" test "$(lines "$T/ok.out")" -eq 5
wait_until 30 sh -c "[ \$(kcat -C -b $BOOT -t webhook-dead-letter -o beginning -e -q 2>/dev/null | wc -l) -ge 17 ]"
consume webhook-dead-letter >"$T/dlq-raw" 2>"$T/dlq.err"
jq -c '.payload | fromjson' "$T/dlq-raw" >"$T/dlq" 2>>"$T/dlq.err"
check "seventeen dead letters, each readable JSON" test "$(lines "$T/dlq")" -eq 17
expect() { # TOPIC OFFSET REASON DESCRIPTION
    check "$1:$2 $3: $4" jqe -s --arg t "$1" --argjson o "$2" --arg r "$3" \
        'map(select(.source.topic == $t and .source.offset == $o)) | length == 1 and .[0].reason == $r' "$T/dlq"
}
expect subscription-events 1 invalid_event "the 5-byte JSON string"
check "its raw bytes are kept as text" \
    jqe -s 'map(select(.source.offset == 1 and .source.topic == "subscription-events"))[0].raw == "\"\\é\""' "$T/dlq"
expect subscription-events 2 invalid_event "an eventId of 63 bytes and é"
expect subscription-events 3 invalid_event "an accountId of 63 bytes and é"
expect subscription-events 4 invalid_event "bytes that are not UTF-8"
expect subscription-events 5 invalid_event "a NUL byte inside"
expect subscription-events 6 invalid_event "a NULL value"
expect subscription-events 7 invalid_event "over max_event_bytes"
expect subscription-events 8 invalid_event "5000 nested arrays"
expect subscription-events 9 invalid_event "a key with a NUL byte"
expect subscription-events 10 invalid_event "900 KB of control bytes"
sha=$(sha256sum "$T/control.bin" | cut -d' ' -f1)
expect subscription-events 11 invalid_event "950 KB of non-UTF-8 under a 20 KB key"
check "that dead letter was produced with its key cut to 1 KiB, and is compact" \
    jqe -s 'map(select(.key != null and (.key | startswith("kkkk")))) | length == 1 and (.[0].key | length) == 1024 and (.[0].payload | fromjson | .rawSize == 950000)' "$T/dlq-raw"
check "its dead letter is the compact form: first bytes, size, SHA-256, under 1 MB" \
    jqe -s --arg sha "$sha" 'map(select(.source.offset == 10 and .source.topic == "subscription-events"))[0]
        | .rawTruncated == true and .rawSize == 900000 and .rawSha256 == $sha and .raw == null
          and (.rawBase64 | @base64d | length) > 500000 and (tostring | length) < 1000000' "$T/dlq"
expect $DELAY 0 invalid_event "not a delivery record"
expect $DELAY 1 invalid_event "an invalid embedded event"
expect $DELAY 2 invalid_event "a record that disagrees with its event"
# A parked delivery's dead letter keeps the source of its event (here the
# forged records say subscription-events:99).
check "endpoint_changed: account B's event parked for endpoint ok (account A)" \
    jqe -s --arg b "$ACCOUNT_B" 'map(select(.reason == "endpoint_changed")) | length == 1 and .[0].accountId == $b and .[0].source.offset == 99' "$T/dlq"
check "retry_window_expired: a due-at ten years away ends, not re-parked forever" \
    jqe -s 'map(select(.reason == "retry_window_expired")) | length == 1 and .[0].source.offset == 99' "$T/dlq"
expect $DELAY 5 invalid_event "an attempt before 1970"
check "the NUL byte is kept in raw" \
    jqe -s 'map(select(.source.offset == 5 and .source.topic == "subscription-events"))[0].raw | test("tail$")' "$T/dlq"
check "the endpoint-changed delivery was never posted" \
    sh -c "! grep -q '$ACCOUNT_B' '$T/ok.out'"
check "the endpoints-topic records were skipped and counted" \
    wait_until 20 sh -c "curl -sf http://$ADMIN/metrics | grep -q '^webhook_bridge_registry_records_invalid_total 2'"

dlq() { WEBHOOK_BRIDGE_BROKERS=$BOOT "$BIN" dlq "$@" -c "$T/bridge.conf"; }
dlq list --json >"$T/list.json" 2>"$T/list.err"
check "dlq list --json lists all seventeen" test "$(lines "$T/list.json")" -eq 17
dlq list >"$T/list.txt" 2>"$T/list.err2"
check "dlq list says seventeen" grep -q '17 record' "$T/list.txt" "$T/list.err2"
dlq stats >"$T/stats.txt" 2>"$T/stats.err"
check "dlq stats counts seventeen" grep -qE '(^|[^0-9])17([^0-9]|$)' "$T/stats.txt"
check "dlq stats: 15 invalid_event" grep -qE 'invalid_event.*15|15.*invalid_event' "$T/stats.txt"

compact_ref=$(jq -r 'select(.rawTruncated == true) | "webhook-dead-letter:" + (.deadLetter.partition | tostring) + ":" + (.deadLetter.offset | tostring)' "$T/list.json" 2>/dev/null | head -1)
dlq replay "$compact_ref" --yes >"$T/replay.out" 2>"$T/replay.err"
check "dlq replay refuses the compact dead letter and says where the record is" \
    grep -q 'holds only the first bytes of its record (rawTruncated); take the record from subscription-events:0:10' "$T/replay.err"
check "no dead letter was refused (offsets move on)" \
    sh -c "! grep -q 'dead-letter topic refused a record' '$T/bridge.err'"
check "the bridge is still running" kill -0 "$BRIDGE_PID"
check "/healthz answers" curl -sf "http://$ADMIN/healthz" -o /dev/null
check "SIGTERM exits 0" stop_bridge
finish
