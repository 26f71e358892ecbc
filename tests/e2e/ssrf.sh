# The SSRF guard on (allow_private_networks = false, the default): a URL
# whose hostname resolves to loopback (localhost) is refused at connect time
# with error "blocked_address", retried like any failure and dead-lettered
# after the window, and the receiver behind it never sees a request; a
# literal 127.0.0.1 likewise.  A range named in allow_networks (127.0.0.2/32
# here, standing for an in-cluster receiver) is delivered to.
. tests/e2e/lib.sh

start_receiver internal
rm -f "$T/allowed.port"
"$BIN" receive --listen 127.0.0.2:0 --port-file "$T/allowed.port" --json >"$T/allowed.out" 2>"$T/allowed.err" &
PIDS="$PIDS $!"
wait_until 10 test -s "$T/allowed.port" || { fail "receiver on 127.0.0.2 did not start"; finish; }
PORT_allowed=$(cat "$T/allowed.port")
cat >"$T/bridge.conf" <<CONF
kafka = { brokers = "embedded"; partitions = 1; };
delivery = { allow_networks = [ "127.0.0.2/32" ]; };
retry = { schedule = [ "1s" ]; window = "2s"; };
endpoints = (
  { id = "byname"; account_id = "$ACCOUNT_A"; url = "http://localhost:$PORT_internal/h"; },
  { id = "byip"; account_id = "$ACCOUNT_A"; url = "http://127.0.0.1:$PORT_internal/h"; },
  { id = "allowed"; account_id = "$ACCOUNT_A"; url = "http://127.0.0.2:$PORT_allowed/h"; }
);
CONF
check "check-config shows the guard" sh -c "'$BIN' check-config -c '$T/bridge.conf' | grep -q 'allow_networks 127.0.0.2/32'"
start_bridge bridge "$T/bridge.conf"
: >"$T/events"
for i in 1 2 3; do event "$(uuid)" Subscribe "$ACCOUNT_A" >>"$T/events"; done
produce "$T/events"

check "the range named in allow_networks is delivered to (3)" \
    wait_until 30 sh -c "[ \$(jq -r 'select(.status == 200) | .webhookId' $T/allowed.out | sort -u | wc -l) -eq 3 ]"
check "both blocked endpoints end on the dead-letter topic (6)" \
    wait_until 30 sh -c "[ \$(kcat -C -b $BOOT -t webhook-dead-letter -o beginning -e -q 2>/dev/null | jq -r 'select(.endpointId == \"byname\" or .endpointId == \"byip\") | .deliveryId' | sort -u | wc -l) -eq 6 ]"
consume webhook-dead-letter | jq -c '.payload | fromjson' >"$T/dead"
check "every attempt of theirs failed with blocked_address, no status" \
    sh -c "[ \$(jq -r '.attempts[] | select((.error | startswith(\"blocked_address: \")) and .status == null) | .at' $T/dead | wc -l) -eq \$(jq -r '.attempts[] | .at' $T/dead | wc -l) ]"
check "they were retried (more than one attempt each)" \
    sh -c "[ \$(jq -r 'select((.attempts | length) < 2) | .deliveryId' $T/dead | wc -l) -eq 0 ]"
check "the error names the loopback address of localhost" \
    sh -c "jq -r 'select(.endpointId == \"byname\") | .attempts[0].error' $T/dead | grep -Eq '^blocked_address: (127\\.0\\.0\\.1|::1) is loopback$'"
check "the receiver behind them never saw a request" test "$(lines "$T/internal.out")" -eq 0
check "SIGTERM exits 0" stop_bridge
finish
