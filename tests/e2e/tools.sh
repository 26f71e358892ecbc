# The producers' and operators' tools: `produce` checks events with the
# daemon's own validation, reports invalid lines by number and produces the
# valid ones keyed by accountId (then delivered by a running bridge);
# `send-test` sends a dummy, signed event through the delivery code (SSRF
# guard included) and exits 0 only on 2xx.  Happy and unhappy paths.
. tests/e2e/lib.sh

S1=whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw
start_receiver signed --secret "$S1" --body '{"received":true}'
start_receiver broken --status 500
cat >"$T/bridge.conf" <<CONF
kafka = { brokers = "embedded"; partitions = 1; };
delivery = { allow_private_networks = true; };
endpoints = (
  { id = "signed"; account_id = "$ACCOUNT_A"; url = "http://127.0.0.1:$PORT_signed/h";
    secrets = [ "$S1" ]; }
);
CONF
start_bridge bridge "$T/bridge.conf"
tool() { WEBHOOK_BRIDGE_BROKERS=$BOOT "$BIN" "$@"; }

# produce
good1=$(uuid)
good2=$(uuid)
{
    event "$good1" Subscribe "$ACCOUNT_A"
    echo '{"eventId":"not-a-uuid","eventType":"Subscribe","eventDetails":{"accountId":"'"$ACCOUNT_A"'"}}'
    echo
    echo 'this is not JSON'
    event "$good2" Unsubscribe "$ACCOUNT_A"
} >"$T/events"
tool produce -c "$T/bridge.conf" --file "$T/events" >"$T/produce.out" 2>"$T/produce.err"
rc=$?
check "produce exits 1 when a line is invalid" test "$rc" -eq 1
check "it names each invalid line by number and says why" \
    sh -c "grep -q '^line 2: eventId \"not-a-uuid\" is not a UUID' $T/produce.err &&
           grep -q '^line 4: not valid JSON' $T/produce.err && [ \$(grep -c '^line' $T/produce.err) -eq 2 ]"
check "it produced the valid ones and says so" grep -q '^2 event(s) produced to subscription-events' "$T/produce.out"
check "keyed by accountId, byte for byte" \
    sh -c "[ \"\$(kcat -C -b $BOOT -t subscription-events -o beginning -e -q -f '%k|%s\n' 2>/dev/null | grep -c '^$ACCOUNT_A|{\"eventId\":\"\\($good1\\|$good2\\)\"')\" -eq 2 ]"
check "and the running bridge delivered them" \
    wait_until 30 sh -c "[ \$(jq -r 'select(.status == 200) | .webhookId' $T/signed.out | grep -c -e $good1 -e $good2) -eq 2 ]"
grep -v 'not-a-uuid\|this is not' "$T/events" >"$T/valid-events"
"$BIN" produce -c "$T/bridge.conf" --check <"$T/valid-events" >"$T/check.out" 2>&1
rc=$?
check "produce --check: a valid file exits 0, nothing produced, no Kafka needed" \
    sh -c "[ $rc -eq 0 ] && grep -q '^2 valid event(s), 0 invalid line(s); nothing produced' $T/check.out"
# (On KAFKA=real start_bridge pointed bridge.conf at its broker: the
# embedded form is put back for this one.)
sed 's|brokers = "[^"]*"; create_topics = true;|brokers = "embedded";|' "$T/bridge.conf" >"$T/embedded.conf"
check "produce without brokers (embedded config) exits 2 and says how to point it" \
    sh -c "'$BIN' produce -c '$T/embedded.conf' <'$T/valid-events' 2>$T/nobrokers.err; [ \$? -eq 2 ] && grep -q WEBHOOK_BRIDGE_BROKERS $T/nobrokers.err"

# send-test
tool send-test -c "$T/bridge.conf" --endpoint signed >"$T/st1.out" 2>&1
check "send-test to a healthy endpoint exits 0" test $? -eq 0
check "and prints the status, the time and the answer" \
    sh -c "grep -Eq '^-> 200 in [0-9]+ ms$' $T/st1.out && grep -q '{\"received\":true}' $T/st1.out"
check "the receiver verified its signature; a test event, fake data" \
    wait_until 10 sh -c "jq -e -s 'any(.signature == \"valid\" and (.body | fromjson | .eventDetails.testEvent == true and .eventDetails.accountId == \"$ACCOUNT_A\"))' $T/signed.out >/dev/null"
tool endpoints put -c "$T/bridge.conf" --id from-topic --account "$ACCOUNT_B" \
    --url "http://127.0.0.1:$PORT_signed/t" --secret "$S1" >/dev/null
tool send-test -c "$T/bridge.conf" --endpoint from-topic --type Unsubscribe >"$T/st2.out" 2>&1
rc=$?
check "send-test finds an endpoint on the topic, Unsubscribe, exit 0" \
    sh -c "[ $rc -eq 0 ] && grep -q '^-> 200' $T/st2.out && grep -q 'Unsubscribe test event' $T/st2.out"
tool send-test -c "$T/bridge.conf" --url "http://127.0.0.1:$PORT_broken/x" >"$T/st3.out" 2>&1
check "send-test to an endpoint answering 500 exits 1" test $? -eq 1
check "and says it would be retried" grep -q '^-> 500 in .*the bridge would retry' "$T/st3.out"
tool send-test -c "$T/bridge.conf" --url "http://127.0.0.1:1/x" >"$T/st4.out" 2>&1
check "send-test to a refused port exits 1: connection refused" \
    sh -c "[ $? -eq 1 ] && grep -q '^-> failed after .*connection refused' $T/st4.out"
sed 's/allow_private_networks = true;/allow_private_networks = false;/' "$T/bridge.conf" >"$T/guarded.conf"
tool send-test -c "$T/guarded.conf" --url "http://localhost:$PORT_signed/x" >"$T/st5.out" 2>&1
check "send-test goes through the SSRF guard: blocked_address, exit 1" \
    sh -c "[ $? -eq 1 ] && grep -q 'blocked_address: .* is loopback' $T/st5.out"
tool send-test -c "$T/bridge.conf" --endpoint nobody >"$T/st6.out" 2>&1
check "an unknown endpoint exits 1 and says so" sh -c "[ $? -eq 1 ] && grep -q 'no endpoint \"nobody\"' $T/st6.out"
tool send-test -c "$T/bridge.conf" --endpoint signed --url http://x/ >/dev/null 2>&1
check "--endpoint and --url together: bad usage, exit 2" test $? -eq 2
check "SIGTERM exits 0" stop_bridge
finish
