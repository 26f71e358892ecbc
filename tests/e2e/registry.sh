# The live registry on the endpoints topic, driven by `webhook-bridge
# endpoints`.  A fresh bridge with a pre-filled topic delivers the very
# first event (it reads the topic to its end before consuming); puts,
# URL changes, disabling and deletes reach the running bridge; a parked
# delivery is retried with the endpoint's current URL, dead-lettered as
# endpoint_removed once its endpoint is deleted and as endpoint_disabled
# when it stays disabled to the end of the window; an invalid record is
# skipped and changes nothing; list shows fingerprints, never secrets.
. tests/e2e/lib.sh
only_on mock "holds a partition leaderless through rdkafka_mock.h"

start_cluster --topic subscription-events:1 --topic webhook-endpoints:2 \
    --topic webhook-dead-letter:1 --topic webhook-attempts:1 --topic webhook-delay-0s:1 \
    --topic webhook-delay-1s:1
for r in pre live moved parked sleepy; do start_receiver $r; done
start_receiver flaky --fail-first 1000
cat >"$T/bridge.conf" <<CONF
kafka = { brokers = "$BOOT"; create_topics = false;
          properties = [ "session.timeout.ms=6000", "heartbeat.interval.ms=500" ]; };
delivery = { allow_private_networks = true; };
retry = { schedule = [ "1s" ]; window = "6s"; };
CONF
ep() { WEBHOOK_BRIDGE_BROKERS=$BOOT "$BIN" endpoints "$@" -c "$T/bridge.conf"; }
S1=whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw
ACCOUNT_D=2f6c9d0e-5b1a-4c3f-9e7d-8a1b2c3d4e5f

# Before any bridge runs: an endpoint on the topic and an event for it.
check "endpoints put from flags" ep put --id pre --account "$ACCOUNT_A" \
    --url "http://127.0.0.1:$PORT_pre/h" --event-type Subscribe --secret "$S1"
first=$(uuid)
event "$first" Subscribe "$ACCOUNT_A" >"$T/first"
produce "$T/first"
# Hold the registry's first read back for 6 s (the endpoints topic has no
# leader in the metadata) while the events topic is fine: without the
# catch-up rule the events consumer would join its group (~3 s here) and
# route the first event before the registry knew its endpoint.
mock_cmd topic_error webhook-endpoints 5 # LEADER_NOT_AVAILABLE
(sleep 6; echo "topic_error webhook-endpoints 0" >&3) &
# At debug level, so the check that URLs in log lines carry no credentials
# covers the per-attempt line too.
export WEBHOOK_BRIDGE_LOG_LEVEL=debug
start_bridge bridge "$T/bridge.conf"
unset WEBHOOK_BRIDGE_LOG_LEVEL
check "the bridge read the topic to its end before consuming" \
    sh -c "grep '\"msg\":\"registry caught up\"' $T/bridge.err | jq -e '.endpoints == 1' >/dev/null &&
           grep -n -e '\"msg\":\"registry caught up\"' -e '\"msg\":\"ready\"' $T/bridge.err | head -1 | grep -q 'registry caught up'"
t_start=$(date -d "$(grep '"msg":"starting"' "$T/bridge.err" | head -1 | jq -r .time)" +%s%3N)
t_caught=$(date -d "$(grep '"msg":"registry caught up"' "$T/bridge.err" | head -1 | jq -r .time)" +%s%3N)
ok "the registry caught up $((t_caught - t_start)) ms after start (its topic had no leader for 6 s)"
check "a fresh replica delivers the very first event to the topic's endpoint" \
    wait_until 30 sh -c "jq -r 'select(.status == 200) | .webhookId' $T/pre.out | grep -qx $first"

# put: a new endpoint takes effect on the running bridge.
t0=$(date +%s%3N)
check "endpoints put from a JSON document on stdin" sh -c "echo '{\"id\":\"live\",\"accountId\":\"$ACCOUNT_B\",\"url\":\"http://127.0.0.1:$PORT_live/h\",\"eventTypes\":[\"*\"],\"description\":\"from stdin\"}' |
    WEBHOOK_BRIDGE_BROKERS=$BOOT '$BIN' endpoints put -c '$T/bridge.conf'"
applied() { # ID N: the Nth "added/updated/removed" line for ID is logged
    [ "$(grep -E '"msg":"endpoint (added|updated|removed)"' "$T/bridge.err" | grep -c "\"endpointId\":\"$1\"")" -ge "$2" ]
}
check "the running bridge applied the put" wait_until 10 applied live 1
t1=$(date -d "$(grep '"msg":"endpoint added"' "$T/bridge.err" | grep '"endpointId":"live"' | jq -r .time)" +%s%3N)
ok "put to applied: $((t1 - t0)) ms (the put command's start to the bridge's log line)"
e=$(uuid)
event "$e" Subscribe "$ACCOUNT_B" >"$T/e1"
produce "$T/e1"
check "an event for the new endpoint's account is delivered to it" \
    wait_until 30 sh -c "jq -r 'select(.status == 200) | .webhookId' $T/live.out | grep -qx $e"

# A URL change: the next event goes to the new URL only.
ep put --id live --account "$ACCOUNT_B" --url "http://127.0.0.1:$PORT_moved/h" >/dev/null
check "the URL change was applied" wait_until 10 applied live 2
e=$(uuid)
event "$e" Subscribe "$ACCOUNT_B" >"$T/e2"
produce "$T/e2"
check "after a URL change the event goes to the new URL" \
    wait_until 30 sh -c "jq -r 'select(.status == 200) | .webhookId' $T/moved.out | grep -qx $e"
check "and not to the old one" sh -c "! jq -r .webhookId $T/live.out | grep -qx $e"

# Disabled: not routed to; enabled again: routed to (one partition, so the
# second event is consumed after the first).
ep put --id live --account "$ACCOUNT_B" --url "http://127.0.0.1:$PORT_moved/h" --disabled >/dev/null
check "disabling was applied" wait_until 10 applied live 3
off=$(uuid)
marker=$(uuid)
event "$off" Subscribe "$ACCOUNT_B" >"$T/e3"
event "$marker" Subscribe "$ACCOUNT_A" >>"$T/e3"
produce "$T/e3"
# One partition: once the marker (behind it) is delivered, the event for the
# disabled endpoint has been routed.
wait_until 30 sh -c "jq -r .webhookId $T/pre.out | grep -qx $marker"
ep put --id live --account "$ACCOUNT_B" --url "http://127.0.0.1:$PORT_moved/h" >/dev/null
check "enabling again was applied" wait_until 10 applied live 4
on=$(uuid)
event "$on" Subscribe "$ACCOUNT_B" >"$T/e4"
produce "$T/e4"
check "the event after re-enabling is delivered" \
    wait_until 30 sh -c "jq -r 'select(.status == 200) | .webhookId' $T/moved.out | grep -qx $on"
check "the event while disabled was not" sh -c "! jq -r .webhookId $T/moved.out | grep -qx $off"

# An invalid record for an existing id is skipped and changes nothing.
printf 'live|{"id":"live","accountId":"not-a-uuid","url":"http://x/","eventTypes":["*"]}\n' |
    kcat -P -b "$BOOT" -t webhook-endpoints -K '|' 2>>"$T/kcat.err"
check "an invalid endpoints record is skipped with a log line" \
    wait_until 10 grep -q '"msg":"registry: endpoints record skipped".*"key":"live".*accountId' "$T/bridge.err"
e=$(uuid)
event "$e" Subscribe "$ACCOUNT_B" >"$T/e5"
produce "$T/e5"
check "and the endpoint it named still works" \
    wait_until 30 sh -c "jq -r 'select(.status == 200) | .webhookId' $T/moved.out | grep -qx $e"

# A parked delivery is retried with the endpoint's current URL.
ep put --id flaky --account "$ACCOUNT_C" --url "http://127.0.0.1:$PORT_flaky/h" >/dev/null
check "flaky was applied" wait_until 10 applied flaky 1
p1=$(uuid)
event "$p1" Subscribe "$ACCOUNT_C" >"$T/e6"
produce "$T/e6"
wait_until 30 sh -c "[ \$(wc -l <$T/flaky.out) -ge 1 ]"
ep put --id flaky --account "$ACCOUNT_C" --url "http://127.0.0.1:$PORT_parked/h" >/dev/null
check "a parked delivery is retried at the endpoint's new URL" \
    wait_until 30 sh -c "jq -r 'select(.status == 200) | .webhookId' $T/parked.out | grep -qx $p1"

# Deleted while parked: endpoint_removed.  Disabled while parked: re-parked
# without an attempt until the window ends, then endpoint_disabled.
# Both fail (a closed port), so their first attempt parks them.
ep put --id doomed --account "$ACCOUNT_D" --url "http://127.0.0.1:1/h" >/dev/null
ep put --id sleepy --account "$ACCOUNT_D" --url "http://127.0.0.1:1/h" >/dev/null
check "doomed and sleepy were applied" wait_until 10 applied sleepy 1
d1=$(uuid)
event "$d1" Subscribe "$ACCOUNT_D" >"$T/e7"
produce "$T/e7"
check "both failed their first attempt and were parked" \
    wait_until 30 sh -c "[ \$(kcat -C -b $BOOT -t webhook-delay-1s -o beginning -e -q 2>/dev/null | jq -r 'select(.eventId == \"$d1\") | .endpointId' | sort -u | wc -l) -eq 2 ]"
check "endpoints delete" ep delete doomed
ep put --id sleepy --account "$ACCOUNT_D" --url "http://127.0.0.1:$PORT_sleepy/h" --disabled >/dev/null
check "a parked delivery whose endpoint was deleted is dead-lettered as endpoint_removed" \
    wait_until 30 sh -c "kcat -C -b $BOOT -t webhook-dead-letter -o beginning -e -q 2>/dev/null | jq -e -s 'any(.eventId == \"$d1\" and .endpointId == \"doomed\" and .reason == \"endpoint_removed\")' >/dev/null"
check "one whose endpoint stayed disabled, as endpoint_disabled after the window" \
    wait_until 30 sh -c "kcat -C -b $BOOT -t webhook-dead-letter -o beginning -e -q 2>/dev/null | jq -e -s 'any(.eventId == \"$d1\" and .endpointId == \"sleepy\" and .reason == \"endpoint_disabled\")' >/dev/null"
check "the disabled endpoint's receiver never got it" sh -c "! jq -r .webhookId $T/sleepy.out | grep -qx $d1"

# list: table and JSON, fingerprints only.
ep list >"$T/list.txt"
check "list shows the endpoints, one line each, with a header" \
    sh -c "[ \$(wc -l <$T/list.txt) -eq 5 ] && grep -q '^pre ' $T/list.txt && grep -q '^live ' $T/list.txt"
ep list --json >"$T/list.json"
check "list --json: one JSON object per endpoint" \
    sh -c "[ \"\$(jq -r .id $T/list.json | sort | tr '\n' ' ')\" = 'flaky live pre sleepy ' ]"
check "a secret shows as its fingerprint only" \
    sh -c "jq -e -s 'any(.id == \"pre\" and (.secretFingerprints[0] | startswith(\"sha256:\")))' $T/list.json >/dev/null &&
           ! grep -qF '${S1#whsec_}' $T/list.txt $T/list.json $T/bridge.err"
check "an invalid put is refused with the reason, exit 2" \
    sh -c "ep() { WEBHOOK_BRIDGE_BROKERS=$BOOT '$BIN' endpoints \"\$@\" -c '$T/bridge.conf'; };
           ep put --id bad --account nope --url http://x/ 2>$T/bad.err; [ \$? -eq 2 ] && grep -q 'accountId' $T/bad.err"
# Hostile keys (issue 11): a key is bytes, not a C string.  Records keyed
# "tep\0evil" (an update pointing elsewhere, then a tombstone) and "tep\377"
# (not UTF-8) are skipped, counted, logged with the key escaped; tep stays.
ACCOUNT_E=7c1d2e3f-4a5b-4c6d-8e7f-901a2b3c4d5e
start_receiver tep
start_receiver evil
ep put --id tep --account "$ACCOUNT_E" --url "http://127.0.0.1:$PORT_tep/h" >/dev/null
check "tep was applied" wait_until 10 applied tep 1
skipped0=$(grep -c '"msg":"registry: endpoints record skipped"' "$T/bridge.err")
printf 'tep\000evil|{"accountId":"%s","url":"http://127.0.0.1:%s/h","eventTypes":["*"]}\n' \
    "$ACCOUNT_E" "$PORT_evil" | kcat -P -b "$BOOT" -t webhook-endpoints -K '|' 2>>"$T/kcat.err"
printf 'tep\000evil|\n' | kcat -P -Z -b "$BOOT" -t webhook-endpoints -K '|' 2>>"$T/kcat.err"
printf 'tep\377|\n' | kcat -P -Z -b "$BOOT" -t webhook-endpoints -K '|' 2>>"$T/kcat.err"
check "records keyed tep<NUL>evil (update, tombstone) and tep<0xff> are all skipped" \
    wait_until 10 sh -c "[ \$(grep -c '\"msg\":\"registry: endpoints record skipped\"' $T/bridge.err) -ge $((skipped0 + 3)) ]"
check "the skip line shows the key escaped and says why" \
    sh -c "grep '\"msg\":\"registry: endpoints record skipped\"' $T/bridge.err |
           jq -e -s 'any(.key == \"tep\\\\x00evil\" and (.error | contains(\"NUL byte\")))' >/dev/null &&
           grep '\"msg\":\"registry: endpoints record skipped\"' $T/bridge.err |
           jq -e -s 'any(.key == \"tep\\\\xff\" and (.error | contains(\"UTF-8\")))' >/dev/null"
check "no endpoint was updated or removed by them" \
    sh -c "[ \$(grep -E '\"msg\":\"endpoint (updated|removed)\"' $T/bridge.err | grep -c '\"endpointId\":\"tep\"') -eq 0 ]"
e=$(uuid)
event "$e" Subscribe "$ACCOUNT_E" >"$T/e8"
produce "$T/e8"
check "tep is unchanged: the event goes to its URL" \
    wait_until 30 sh -c "jq -r 'select(.status == 200) | .webhookId' $T/tep.out | grep -qx $e"
check "and nothing to the URL of the hostile record" test ! -s "$T/evil.out"
check "endpoints list shows tep with its own URL" \
    sh -c "ep() { WEBHOOK_BRIDGE_BROKERS=$BOOT '$BIN' endpoints \"\$@\" -c '$T/bridge.conf'; };
           ep list --json 2>/dev/null | jq -e -s 'any(.id == \"tep\" and .url == \"http://127.0.0.1:$PORT_tep/h\")' >/dev/null"
# A malformed record cut inside a secret: the skip line names the JSON
# error's kind and place, not jansson's "near '<bytes>'" (the secret).
printf 'tep|{"accountId":"%s","url":"http://127.0.0.1:%s/h","eventTypes":["*"],"secrets":["whsec_SUPERSECRET\n' \
    "$ACCOUNT_E" "$PORT_evil" | kcat -P -b "$BOOT" -t webhook-endpoints -K '|' 2>>"$T/kcat.err"
check "a record cut inside its secret is skipped with the error's kind and place" \
    wait_until 10 sh -c "grep '\"msg\":\"registry: endpoints record skipped\"' $T/bridge.err |
        jq -e -s 'any(.key == \"tep\" and (.error | test(\"premature end of input at line 1, column [0-9]+\")))' >/dev/null"
check "and neither the log nor endpoints put shows a byte of the secret" \
    sh -c "printf '{\"id\":\"x\",\"secrets\":[\"whsec_SUPERSECRET\\001\"]}' |
           WEBHOOK_BRIDGE_BROKERS=$BOOT '$BIN' endpoints put -c '$T/bridge.conf' 2>$T/put-secret.err;
           [ \$? -eq 2 ] && grep -q 'not valid JSON' $T/put-secret.err &&
           ! grep -q SUPERSECRET $T/put-secret.err $T/bridge.err"
# URLs in logs (issue 11): scheme, host, port and path only.  A delivery to
# a URL with a query token logs it without the query; a record whose URL
# has user:password@ is refused without quoting them.
ACCOUNT_F=3b4c5d6e-7f80-4912-a3b4-c5d6e7f80912
start_receiver tok
ep put --id tok --account "$ACCOUNT_F" --url "http://127.0.0.1:$PORT_tok/h?token=SECRET123#frag" >/dev/null
check "tok was applied" wait_until 10 applied tok 1
e=$(uuid)
event "$e" Subscribe "$ACCOUNT_F" >"$T/e9"
produce "$T/e9"
check "an event is delivered to the URL with ?token=" \
    wait_until 30 sh -c "jq -r 'select(.status == 200) | .webhookId' $T/tok.out | grep -qx $e"
check "the debug line shows scheme, host, port and path only" \
    grep -q "\"msg\":\"deliver: [^ ]* to http://127.0.0.1:$PORT_tok/h: status 200" "$T/bridge.err"
printf 'cred|{"accountId":"%s","url":"http://user:pwSECRET456@127.0.0.1:%s/h?token=SECRET123","eventTypes":["*"]}\n' \
    "$ACCOUNT_F" "$PORT_tok" | kcat -P -b "$BOOT" -t webhook-endpoints -K '|' 2>>"$T/kcat.err"
check "a record whose URL has user:password@ is skipped" \
    wait_until 10 sh -c "grep '\"msg\":\"registry: endpoints record skipped\"' $T/bridge.err |
        jq -e -s 'any(.key == \"cred\" and (.error | contains(\"user name or password\")))' >/dev/null"
check "neither the token nor the password is anywhere in the bridge's log" \
    sh -c "! grep -e SECRET123 -e pwSECRET456 $T/bridge.err"
check "SIGTERM exits 0" stop_bridge
check "invalid records were counted (the hostile keys too)" \
    sh -c "grep '\"final stats\"' $T/bridge.err | jq -e '.registry_records_invalid >= 6' >/dev/null"
finish
