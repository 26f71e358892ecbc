# Standard Webhooks signatures end to end.  An endpoint with two secrets
# (rotation) gets two "v1," entries; `receive --secret` verifies them with
# the bridge's own code, and the openssl command line recomputes each one
# independently from the raw headers and body.  A retry carries the same
# webhook-id with a fresh timestamp and signature.  A receiver expecting
# another secret answers 401 (the delivery is retried, then dead-lettered).
# No secret appears in the bridge's log or on the dead-letter topic.
. tests/e2e/lib.sh

S1=whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw
S2=whsec_$(printf 'second-key-for-rotation-test' | base64)
S3=whsec_$(printf 'a-key-the-bridge-never-uses!' | base64)
start_receiver signed --secret "$S1" --fail-first 1
start_receiver rotated --secret "$S2"
start_receiver wrong --secret "$S3"
cat >"$T/bridge.conf" <<CONF
kafka = { brokers = "embedded"; partitions = 2; };
delivery = { allow_private_networks = true; };
retry = { schedule = [ "1s" ]; window = "3s"; };
endpoints = (
  { id = "signed"; account_id = "$ACCOUNT_A"; url = "http://127.0.0.1:$PORT_signed/h";
    secrets = [ "$S1", "$S2" ]; },
  { id = "rotated"; account_id = "$ACCOUNT_A"; url = "http://127.0.0.1:$PORT_rotated/h";
    secrets = [ "$S1", "$S2" ]; },
  { id = "wrong"; account_id = "$ACCOUNT_A"; url = "http://127.0.0.1:$PORT_wrong/h";
    secrets = [ "$S1" ]; }
);
CONF
start_bridge bridge "$T/bridge.conf"
: >"$T/events"
for i in 1 2 3 4 5; do
    event "$(uuid)" Subscribe "$ACCOUNT_A" ',"note":"café ✓"' >>"$T/events"
done
produce "$T/events"

check "every event reached the signed endpoint with a 200 (5)" \
    wait_until 30 sh -c "[ \$(jq -r 'select(.status == 200) | .webhookId' $T/signed.out | sort -u | wc -l) -eq 5 ]"
check "and the rotated one (5)" \
    wait_until 30 sh -c "[ \$(jq -r 'select(.status == 200) | .webhookId' $T/rotated.out | sort -u | wc -l) -eq 5 ]"
check "receive --secret found every signature valid (first secret)" \
    test "$(jq -r .signature "$T/signed.out" | sort -u)" = valid
check "receive --secret found every signature valid (second secret of the rotation)" \
    test "$(jq -r .signature "$T/rotated.out" | sort -u)" = valid
check "two v1 entries per delivery" \
    test "$(jq -r '.signatureHeader | split(" ") | length' "$T/signed.out" | sort -u)" = 2

# Independent check: openssl recomputes HMAC-SHA256(key, id.ts.body) for
# each line and each secret, from what the receiver saw on the wire.
hexkey() { printf '%s' "${1#whsec_}" | base64 -d | od -An -tx1 | tr -d ' \n'; }
K1=$(hexkey "$S1")
K2=$(hexkey "$S2")
n=0
bad=0
while IFS= read -r line; do
    id=$(printf '%s' "$line" | jq -r .webhookId)
    ts=$(printf '%s' "$line" | jq -r .timestamp)
    printf '%s' "$line" | jq -j .body >"$T/body"
    printf '%s.%s.' "$id" "$ts" | cat - "$T/body" >"$T/signed-content"
    e1=v1,$(openssl dgst -sha256 -mac HMAC -macopt "hexkey:$K1" -binary <"$T/signed-content" | base64)
    e2=v1,$(openssl dgst -sha256 -mac HMAC -macopt "hexkey:$K2" -binary <"$T/signed-content" | base64)
    [ "$(printf '%s' "$line" | jq -r .signatureHeader)" = "$e1 $e2" ] || bad=$((bad + 1))
    n=$((n + 1))
done <"$T/signed.out"
ok "openssl recomputed $n signature headers"
check "openssl agrees with every signature header" test "$bad" -eq 0 -a "$n" -ge 6

first=$(jq -r 'select(.attempt == 1 and .status == 503) | .webhookId' "$T/signed.out" | head -1)
check "the first POST was answered 503 and retried" test -n "$first"
a1=$(jq -r --arg id "$first" 'select(.webhookId == $id and .attempt == 1)' "$T/signed.out")
a2=$(jq -r --arg id "$first" 'select(.webhookId == $id and .attempt == 2)' "$T/signed.out")
check "the retry has the same webhook-id, a later timestamp and its own signature" \
    sh -c "[ -n '$a2' ] && [ \$(echo '$a2' | jq -r .timestamp) -gt \$(echo '$a1' | jq -r .timestamp) ] &&
           [ \"\$(echo '$a2' | jq -r .signatureHeader)\" != \"\$(echo '$a1' | jq -r .signatureHeader)\" ]"

check "the receiver with another secret answered 401, signature invalid" \
    wait_until 30 sh -c "[ \$(jq -r 'select(.status == 401 and .signature == \"invalid\") | .webhookId' $T/wrong.out | sort -u | wc -l) -eq 5 ]"
check "those deliveries were dead-lettered after the window, status 401" \
    wait_until 30 sh -c "[ \$(kcat -C -b $BOOT -t webhook-dead-letter -o beginning -e -q 2>/dev/null | jq -r 'select(.endpointId == \"wrong\" and .attempts[-1].status == 401) | .eventId' | sort -u | wc -l) -eq 5 ]"
consume webhook-dead-letter >"$T/dead-letters"
check "SIGTERM exits 0" stop_bridge
for s in "$S1" "$S2" "$S3"; do
    check "no secret in the bridge's log or on the dead-letter topic" \
        sh -c "! grep -qF -- '${s#whsec_}' $T/bridge.err $T/bridge.out $T/dead-letters"
done
finish
