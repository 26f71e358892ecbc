# A consumer fenced by its group.instance.id stops the bridge (issue 9).
# Two replicas given the same group.instance.id (static membership, a
# mistake in a StatefulSet's start script): the broker hands the id to the
# second to join and answers the first FENCED_INSTANCE_ID, which librdkafka
# makes a fatal error of the consumer, delivered through consumer_poll
# rather than error_cb.  The first must log it with a hint and exit 1 (its
# pod restarts and the mistake shows), not run on without a consumer while
# /readyz says it is fine; the second keeps delivering.
# The mock cluster of librdkafka 2.0.2 ignores group.instance.id
# (rdkafka_mock_cgrp.c keeps members by member id only): real broker only.
. tests/e2e/lib.sh
only_on real "the mock cluster ignores group.instance.id, so nothing is ever fenced there"

start_outliving_cluster 2 1s
start_receiver ok
cat >"$T/bridge.conf" <<CONF
kafka = { brokers = "$BOOT"; create_topics = false;
          properties = [ "group.instance.id=twin", "session.timeout.ms=10000",
                         "heartbeat.interval.ms=500" ]; };
delivery = { allow_private_networks = true; };
retry = { schedule = [ "1s" ]; window = "1m"; };
endpoints = (
  { id = "ok"; account_id = "*"; url = "http://127.0.0.1:$PORT_ok/h"; }
);
CONF
make_topics "$T/bridge.conf"

start_bridge first "$T/bridge.conf"
FIRST=$BRIDGE_PID
events 5 Subscribe "$ACCOUNT_A" >"$T/events1"
produce "$T/events1"
check "the first replica delivers" wait_until 60 sh -c "[ \$(wc -l <$T/ok.out) -ge 5 ]"

start_bridge second "$T/bridge.conf"
if wait_until 60 sh -c "! kill -0 $FIRST 2>/dev/null"; then
    ok "the first replica stops once the second takes its group.instance.id"
    wait "$FIRST"
    rc=$?
else
    fail "the first replica stops once the second takes its group.instance.id"
    rc=running
fi
check "it exits 1 (a fatal error), not 0" test "$rc" = 1
check "it says why: FENCED_INSTANCE_ID, with a hint" \
    sh -c "grep '\"msg\":\"fatal Kafka error: shutting down\"' $T/first.err |
           grep '\"error\":\"FENCED_INSTANCE_ID\"' | grep -q '\"hint\":\"another member joined'"

events 5 Subscribe "$ACCOUNT_A" >"$T/events2"
produce "$T/events2"
check "the second replica delivers what comes next" \
    wait_until 60 sh -c "[ \$(jq -r .webhookId $T/ok.out | sort -u | wc -l) -ge 10 ]"
check "the second replica is still running" kill -0 "$BRIDGE_PID"
check "SIGTERM exits 0" stop_bridge
finish
