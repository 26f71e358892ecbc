# Dead letters and delivery history on the embedded cluster: the attempts
# log records every attempt; `dlq list` finds dead letters with each filter
# (and --json parses), `stats` counts them, `show` prints a history that
# matches the attempts log, `attempts` prints it per endpoint with the
# latest response; `replay` gets events to the endpoint once it is healthy,
# with the same webhook-id, at the --rate given, and refuses an event that
# is still invalid; every error path says so and exits non-zero.
. tests/e2e/lib.sh

start_receiver down --status 503 --body 'try later'
start_receiver healed
cat >"$T/bridge.conf" <<CONF
kafka = { brokers = "embedded"; partitions = 1; };
delivery = { allow_private_networks = true; };
retry = { schedule = [ "1s" ]; window = "2s"; };
CONF
start_bridge bridge "$T/bridge.conf"
tool() { WEBHOOK_BRIDGE_BROKERS=$BOOT "$BIN" "$@"; }
tool endpoints put -c "$T/bridge.conf" --id down --account "$ACCOUNT_A" \
    --url "http://127.0.0.1:$PORT_down/h" >/dev/null
# A fresh broker can take seconds to give an idempotent producer its id
# (coordinator loading): the events must not come before the endpoint.
check "the endpoint put reached the running bridge" \
    wait_until 60 grep -q '"msg":"endpoint added","endpointId":"down"' "$T/bridge.err"

: >"$T/events"
for i in 1 2 3; do event "$(uuid)" Subscribe "$ACCOUNT_A" >>"$T/events"; done
unsub=$(uuid)
event "$unsub" Unsubscribe "$ACCOUNT_A" >>"$T/events"
echo '{"eventType":"Subscribe","eventDetails":{}}' >>"$T/events"
produce "$T/events"
sub1=$(jq -r .eventId "$T/events" | head -1)

check "five dead letters (four deliveries after the window, one invalid event)" \
    wait_until 30 sh -c "[ \$(kcat -C -b $BOOT -t webhook-dead-letter -o beginning -e -q 2>/dev/null | wc -l) -eq 5 ]"

dlq() { tool dlq "$@" -c "$T/bridge.conf"; }
count() { dlq list "$@" --json 2>/dev/null | wc -l; }
check "list: all five" test "$(count)" -eq 5
check "list --reason invalid_event" test "$(count --reason invalid_event)" -eq 1
check "list --reason retry_window_expired" test "$(count --reason retry_window_expired)" -eq 4
check "list --endpoint down" test "$(count --endpoint down)" -eq 4
check "list --event-type Unsubscribe" test "$(count --event-type Unsubscribe)" -eq 1
check "list --account" test "$(count --account "$ACCOUNT_A")" -eq 4
check "list --since 1h" test "$(count --since 1h)" -eq 5
check "list --until an hour ago: nothing, exit 1" sh -c "WEBHOOK_BRIDGE_BROKERS=$BOOT '$BIN' dlq list --until 1h -c '$T/bridge.conf' >/dev/null 2>$T/until.err; [ \$? -eq 1 ] && grep -q 'no dead letter matched' $T/until.err"
check "list --limit 2" test "$(count --limit 2)" -eq 2
check "list --json: one JSON object per line, with where it lies" \
    sh -c "WEBHOOK_BRIDGE_BROKERS=$BOOT '$BIN' dlq list --json -c '$T/bridge.conf' 2>/dev/null | jq -e -s 'length == 5 and all(.deadLetter.topic == \"webhook-dead-letter\")' >/dev/null"
dlq list >"$T/list.txt" 2>"$T/list.err"
check "list: a table with a header, and how far it read" \
    sh -c "head -1 $T/list.txt | grep -q '^TIME .*REASON .*ENDPOINT .*ATTEMPTS .*LAST' && [ \$(wc -l <$T/list.txt) -eq 6 ] && grep -q '^read webhook-dead-letter: 1 partition(s), offsets 0:' $T/list.err"
check "list: the last status of each delivery (503)" \
    test "$(grep -c ' 503 ' "$T/list.txt")" -eq 4

dlq stats >"$T/stats.txt" 2>/dev/null
check "stats: counts by reason, endpoint, account and last status" \
    sh -c "grep -Eq '^ +4  retry_window_expired$' $T/stats.txt && grep -Eq '^ +1  invalid_event$' $T/stats.txt &&
           grep -Eq '^ +4  down$' $T/stats.txt && grep -Eq '^ +4  503$' $T/stats.txt && grep -q '^5 dead letter' $T/stats.txt"

dlq show "$sub1" >"$T/show.txt" 2>/dev/null
check "show: the dead letter in full with its history" \
    sh -c "grep -q '\"reason\": \"retry_window_expired\"' $T/show.txt && grep -q '^history (3 attempts):' $T/show.txt"
tool attempts "$sub1" -c "$T/bridge.conf" --json >"$T/attempts.json" 2>/dev/null
check "the attempts log has the same history as the dead letter" \
    sh -c "[ \"\$(jq -r '.at + \" \" + (.status | tostring)' $T/attempts.json | sort)\" = \"\$(sed -n '/^{/,/^}/p' $T/show.txt | jq -r '.attempts[] | .at + \" \" + (.status | tostring)' | sort)\" ]"
tool attempts "$sub1" -c "$T/bridge.conf" >"$T/attempts.txt" 2>"$T/attempts.err"
check "attempts: per endpoint, oldest first, and the latest response" \
    sh -c "grep -q '^endpoint down' $T/attempts.txt && [ \$(grep -Ec '^  [0-9]+ .* 503 ' $T/attempts.txt) -eq 3 ] &&
           grep -q 'latest response (9 bytes shown): try later' $T/attempts.txt"
if [ "$BACKEND" = mock ]; then
    check "attempts says how far it read (and that the mock has no offsets by time)" \
        grep -q '^note: the cluster gave no offset for the start time' "$T/attempts.err"
else
    # A real broker answers offsets by time: --since is a lookup, no note.
    check "attempts reads from the offsets of --since (a real broker answers them)" \
        sh -c "grep -q '^read ' $T/attempts.err && ! grep -q 'no offset for the start time' $T/attempts.err"
    check "dlq list --since read from the offsets of its time, no note" \
        sh -c "! grep -q 'no offset for the start time' $T/list.err"
    # The newest dead letter's time, plus 1 ms: nothing is after it.
    last=$(dlq list --json 2>/dev/null | jq -r .deadLetteredAt | sort | tail -1)
    after=$(date -u -d "@$(($(date -u -d "$last" +%s) + 1))" +%Y-%m-%dT%H:%M:%SZ)
    check "dlq list --since after the newest dead letter (real timestamps): nothing, exit 1" \
        sh -c "WEBHOOK_BRIDGE_BROKERS=$BOOT '$BIN' dlq list --since $after -c '$T/bridge.conf' >/dev/null 2>$T/since.err; [ \$? -eq 1 ] && grep -q 'no dead letter matched' $T/since.err"
fi

# replay
invalid_id=$(dlq list --reason invalid_event --json 2>/dev/null | jq -r '"webhook-dead-letter:" + (.deadLetter.partition | tostring) + ":" + (.deadLetter.offset | tostring)')
check "replay several without --yes (no terminal): refused, exit 2" \
    sh -c "WEBHOOK_BRIDGE_BROKERS=$BOOT '$BIN' dlq replay --endpoint down -c '$T/bridge.conf' </dev/null >/dev/null 2>$T/noyes.err; [ \$? -eq 2 ] && grep -q 'add --yes' $T/noyes.err"
dlq replay --endpoint down --dry-run >"$T/dry.txt" 2>/dev/null
check "replay --dry-run lists what it would do and produces nothing" \
    sh -c "[ \$(grep -c '^would replay' $T/dry.txt) -eq 4 ] && [ \$(kcat -C -b $BOOT -t webhook-delay-0s -o beginning -e -q 2>/dev/null | wc -l) -eq 0 ]"
check "replay an invalid event: refused with the same error, exit 1" \
    sh -c "WEBHOOK_BRIDGE_BROKERS=$BOOT '$BIN' dlq replay --reason invalid_event -c '$T/bridge.conf' >/dev/null 2>$T/inv.err; [ \$? -eq 1 ] && grep -q 'still invalid: eventId is missing' $T/inv.err"
tool endpoints put -c "$T/bridge.conf" --id down --account "$ACCOUNT_A" \
    --url "http://127.0.0.1:$PORT_healed/h" >/dev/null
wait_until 60 grep -q '"msg":"endpoint updated","endpointId":"down"' "$T/bridge.err"
t0=$(date +%s%3N)
dlq replay --endpoint down --yes --rate 2 >"$T/replay.txt" 2>"$T/replay.err"
rc=$?
t1=$(date +%s%3N)
check "replay --yes --rate 2 of four dead letters exits 0" test "$rc" -eq 0
ok "replay took $((t1 - t0)) ms"
check "at the rate given: four records at 2/s take at least 1.5 s" test $((t1 - t0)) -ge 1500
check "the healed endpoint got every replayed event, with the same webhook-id" \
    wait_until 30 sh -c "[ \"\$(jq -r 'select(.status == 200) | .webhookId' $T/healed.out | sort -u)\" = \"\$(jq -r 'select(.eventType != null and .eventId != null) | .eventId' $T/events | sort)\" ]"
check "each replay names its dead letter (replayedFrom) and keeps the old attempts" \
    sh -c "kcat -C -b $BOOT -t webhook-delay-0s -o beginning -e -q 2>/dev/null | jq -e -s 'length == 4 and all(.replayedFrom | startswith(\"webhook-dead-letter:0:\")) and all((.attempts | length) == 3)' >/dev/null"

# A record holding a NUL byte: the invalid event's raw bytes go into its
# dead letter as \u0000, which every dlq subcommand must read (it was
# skipped silently: listed by none, counted by the scan, never replayable).
printf '{"eventId":"a\000b","eventType":"Subscribe"}\n' | kcat -P -b "$BOOT" -t subscription-events 2>>"$T/kcat.err"
check "the event with a NUL byte is dead-lettered (six dead letters)" \
    wait_until 30 sh -c "[ \$(kcat -C -b $BOOT -t webhook-dead-letter -o beginning -e -q 2>/dev/null | wc -l) -eq 6 ]"
check "list --reason invalid_event: both, the NUL one with its bytes" \
    sh -c "WEBHOOK_BRIDGE_BROKERS=$BOOT '$BIN' dlq list --reason invalid_event --json -c '$T/bridge.conf' 2>/dev/null | jq -e -s 'length == 2 and any(.raw | contains(\"a\\u0000b\"))' >/dev/null"
dlq list >"$T/list2.txt" 2>"$T/list2.err"
check "list: as many rows as records in range (none dropped)" \
    sh -c "[ \$((\$(wc -l <$T/list2.txt) - 1)) -eq \$(sed -n 's/.* \\([0-9]*\\) in range.*/\\1/p' $T/list2.err) ] && [ \$(wc -l <$T/list2.txt) -eq 7 ]"
check "stats counts it" grep -q '^6 dead letter' "$(dlq stats >"$T/stats2.txt" 2>/dev/null; echo "$T/stats2.txt")"
check "replay --reason invalid_event reads both and refuses both (still invalid)" \
    sh -c "WEBHOOK_BRIDGE_BROKERS=$BOOT '$BIN' dlq replay --reason invalid_event --yes -c '$T/bridge.conf' >/dev/null 2>$T/inv2.err; [ \$? -eq 1 ] && [ \$(grep -c '^refused .*still invalid' $T/inv2.err) -eq 2 ] && grep -q 'not valid JSON' $T/inv2.err"

# errors
check "dlq on an unreachable cluster: exit 1 and says so" \
    sh -c "WEBHOOK_BRIDGE_BROKERS=127.0.0.1:1 timeout 60 '$BIN' dlq list -c '$T/bridge.conf' 2>$T/unreach.err; [ \$? -eq 1 ] && grep -q 'cannot reach the Kafka cluster at 127.0.0.1:1' $T/unreach.err"
# The mock cluster creates any topic asked for; a second one is told to
# answer "unknown topic" for this one, as a real cluster without it does
# (the real broker of KAFKA=real auto-creates nothing: it is asked itself).
MISSING_BOOT=$BOOT
if [ "$BACKEND" = mock ]; then
    mkfifo "$T/mk2.in"
    "$HELPERS/mockkafka" --topic other:1 <"$T/mk2.in" >"$T/mk2.out" 2>"$T/mk2.err" &
    PIDS="$PIDS $!"
    exec 4>"$T/mk2.in"
    wait_until 10 grep -q '^bootstrap=' "$T/mk2.out"
    echo "topic_error no-such-topic 3" >&4 # UNKNOWN_TOPIC_OR_PART
    wait_until 10 grep -q '^ok' "$T/mk2.out"
    MISSING_BOOT=$(sed -n 's/^bootstrap=//p' "$T/mk2.out")
fi
sed 's/partitions = 1; };/partitions = 1; topics = { dead_letter = "no-such-topic"; }; };/' "$T/bridge.conf" >"$T/other.conf"
check "dlq on a missing topic: exit 1 and says so" \
    sh -c "WEBHOOK_BRIDGE_BROKERS=$MISSING_BOOT '$BIN' dlq stats -c '$T/other.conf' 2>$T/missing.err; [ \$? -eq 1 ] && grep -q 'no topic no-such-topic' $T/missing.err"
check "attempts for an unknown event: exit 1 and says so" \
    sh -c "WEBHOOK_BRIDGE_BROKERS=$BOOT '$BIN' attempts $(uuid) -c '$T/bridge.conf' 2>$T/noatt.err; [ \$? -eq 1 ] && grep -q 'no attempt for event' $T/noatt.err"
check "dlq with a bad time: exit 2 and says what is expected" \
    sh -c "'$BIN' dlq list --since yesterday -c '$T/bridge.conf' 2>$T/badtime.err; [ \$? -eq 2 ] && grep -q 'expected RFC 3339' $T/badtime.err"
check "SIGTERM exits 0" stop_bridge
finish
