# A delay topic that appears while the bridge runs (issue 8: a cluster that
# auto-creates topics, or one made after the bridge subscribed) is consumed
# at once, not at the delay consumer's next metadata refresh (10 s), which
# is after a short retry window: the first park on a topic tells the delay
# consumer to refresh its subscription.  Here webhook-delay-1s does not
# exist until the first failed delivery is parked (the mock cluster creates
# a topic when a producer asks for it).
. tests/e2e/lib.sh
only_on mock "relies on the mock cluster creating a topic a producer asks for (realkafka covers a delay topic made while the bridge runs)"

start_cluster $(cluster_topics 1)
start_receiver flaky --fail-first 3
cat >"$T/bridge.conf" <<CONF
kafka = { brokers = "$BOOT"; create_topics = false; topics = { attempts = ""; };
          # The mock cluster completes a member's rejoin after the session
          # timeout less 1 s (a broker does once every member has rejoined):
          # keep it short so the rejoin the new topic causes is quick.
          properties = [ "session.timeout.ms=3000", "heartbeat.interval.ms=300" ]; };
delivery = { allow_private_networks = true; };
retry = { schedule = [ "1s" ]; window = "7s"; };
log = { level = "debug"; };
endpoints = ( { id = "flaky"; account_id = "$ACCOUNT_A"; url = "http://127.0.0.1:$PORT_flaky/h"; } );
CONF
start_bridge bridge "$T/bridge.conf"
check "webhook-delay-1s does not exist yet" \
    sh -c "! kcat -L -b $BOOT 2>/dev/null | grep -q 'topic \"webhook-delay-1s\"'"
: >"$T/events"
for i in 1 2 3; do event "$(uuid)" Subscribe "$ACCOUNT_A" >>"$T/events"; done
jq -r .eventId "$T/events" | sort >"$T/ids"
produce "$T/events"
check "each event fails once, is parked on the new topic and delivered on its retry" \
    wait_until 30 sh -c "[ \$(jq -r 'select(.status == 200) | .webhookId' $T/flaky.out | sort -u | comm -12 - $T/ids | wc -l) -eq 3 ]"
check "within its 7 s window: nothing was dead-lettered" \
    sh -c "[ \$(kcat -C -b $BOOT -t webhook-dead-letter -o beginning -e -q 2>/dev/null | wc -l) -eq 0 ]"
check "the delay consumer was told to refresh its subscription" \
    grep -q '"delay: subscription refreshed"' "$T/bridge.err"
check "SIGTERM exits 0" stop_bridge
check "the retries were at most 6 s late (retry_lateness max; the mock's rejoin takes 2 s; over 10 s without the refresh)" \
    sh -c "grep '\"final stats\"' $T/bridge.err | jq -e '.retry_lateness.count == 3 and .retry_lateness.max <= 6000' >/dev/null"
finish
