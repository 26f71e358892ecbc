# The admin server: /healthz and /readyz, and readiness following Kafka down
# and back (rdkafka_mock's broker down/up; on a real broker, kill -9 of its
# process and a restart); /metrics parsed by the Prometheus
# client library's own parser, with counters that move as deliveries happen
# and consumer lag per partition; nothing else served; the logs are JSON
# lines without secrets or payload fields.
. tests/e2e/lib.sh

S1=whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw
start_outliving_cluster 2 1s
start_receiver ok --secret "$S1"
start_receiver down --status 500
cat >"$T/bridge.conf" <<CONF
kafka = { brokers = "$BOOT"; create_topics = false;
          properties = [ "session.timeout.ms=6000", "heartbeat.interval.ms=500" ]; };
delivery = { allow_private_networks = true; };
retry = { schedule = [ "1s" ]; window = "2s"; };
endpoints = (
  { id = "ok"; account_id = "$ACCOUNT_A"; url = "http://127.0.0.1:$PORT_ok/h"; secrets = [ "$S1" ]; },
  { id = "down"; account_id = "$ACCOUNT_B"; url = "http://127.0.0.1:$PORT_down/h"; }
);
CONF
make_topics "$T/bridge.conf"
start_bridge bridge "$T/bridge.conf"
get() { curl -s -o "$T/body" -w '%{http_code}' --max-time 5 "http://$ADMIN$1"; }
metrics() { curl -sf --max-time 5 "http://$ADMIN/metrics" | /usr/bin/python3 tests/e2e/promparse.py; }
sample() { metrics | grep -F "$1" | head -1 | cut -d' ' -f2; }

check "/healthz answers 200" sh -c "[ \"\$(curl -s -o /dev/null -w '%{http_code}' http://$ADMIN/healthz)\" = 200 ]"
check "/readyz answers 200 once partitions are assigned" \
    wait_until 30 sh -c "[ \"\$(curl -s -o /dev/null -w '%{http_code}' http://$ADMIN/readyz)\" = 200 ]"
check "/metrics parses as Prometheus text" sh -c "curl -sf http://$ADMIN/metrics | /usr/bin/python3 tests/e2e/promparse.py >$T/m0"
check "every series is named webhook_bridge_*" sh -c "! grep -v '^webhook_bridge_' $T/m0"
a0=$(sample 'webhook_bridge_attempts_total{class="2xx"}')

: >"$T/events"
for i in 1 2 3; do event "$(uuid)" Subscribe "$ACCOUNT_A" >>"$T/events"; done
event "$(uuid)" Subscribe "$ACCOUNT_B" >>"$T/events"
produce "$T/events"
check "three deliveries to ok" \
    wait_until 30 sh -c "[ \$(jq -r 'select(.status == 200) | .webhookId' $T/ok.out | sort -u | wc -l) -eq 3 ]"
check "and one dead letter for down" \
    wait_until 30 sh -c "[ \$(curl -sf http://$ADMIN/metrics | /usr/bin/python3 tests/e2e/promparse.py | grep -F 'webhook_bridge_dead_letters_total{reason=\"retry_window_expired\"}' | cut -d' ' -f2) = 1.0 ]"
metrics >"$T/m1"
a1=$(grep -F 'webhook_bridge_attempts_total{class="2xx"}' "$T/m1" | cut -d' ' -f2)
check "attempts by class moved: 3 more 2xx ($a0 -> $a1)" awk -v a="$a0" -v b="$a1" 'BEGIN { exit !(b - a == 3) }'
check "and 5xx attempts counted" sh -c "grep -F 'webhook_bridge_attempts_total{class=\"5xx\"}' $T/m1 | awk '{ exit !(\$2 >= 2) }'"
check "delivered outcomes counted" grep -qF 'webhook_bridge_delivery_outcomes_total{outcome="delivered"} 3.0' "$T/m1"
check "events consumed counted" grep -qF 'webhook_bridge_events_consumed_total{} 4.0' "$T/m1"
check "the attempt duration histogram has its count" \
    sh -c "grep -F 'webhook_bridge_attempt_duration_seconds_count{}' $T/m1 | awk '{ exit !(\$2 >= 5) }'"
check "histogram buckets are cumulative, in seconds" \
    sh -c "grep -F 'webhook_bridge_attempt_duration_seconds_bucket{le=\"+Inf\"}' $T/m1 | awk '{ exit !(\$2 >= 5) }' &&
           grep -qF 'webhook_bridge_attempt_duration_seconds_bucket{le=\"0.001\"}' $T/m1"
check "gauges: in flight, registry size, producer queue, ready" \
    sh -c "grep -qF 'webhook_bridge_registry_endpoints{} 2.0' $T/m1 && grep -qF 'webhook_bridge_ready{} 1.0' $T/m1 &&
           grep -qF 'webhook_bridge_in_flight{}' $T/m1 && grep -qF 'webhook_bridge_producer_queue{}' $T/m1"
check "partitions assigned and paused, per consumer and reason" \
    sh -c "grep -qF 'webhook_bridge_partitions{consumer=\"events\",state=\"assigned\"} 2.0' $T/m1 &&
           grep -qF 'webhook_bridge_partitions{consumer=\"delay\",state=\"held\"}' $T/m1 &&
           grep -qF 'webhook_bridge_partitions{consumer=\"delay\",state=\"backpressure\"} 0.0' $T/m1"
check "consumer lag per partition of the events topic" \
    wait_until 10 sh -c "curl -sf http://$ADMIN/metrics | /usr/bin/python3 tests/e2e/promparse.py | grep -q 'webhook_bridge_consumer_lag{consumer=\"events\",partition=\"[01]\",topic=\"subscription-events\"} 0.0'"
check "no endpoint list over HTTP (404)" sh -c "[ \"\$(curl -s -o /dev/null -w '%{http_code}' http://$ADMIN/endpoints)\" = 404 ]"
check "only GET (405 for POST)" sh -c "[ \"\$(curl -s -o /dev/null -w '%{http_code}' -X POST http://$ADMIN/metrics)\" = 405 ]"

broker_crash
check "/readyz turns 503 when no broker is reachable, saying so" \
    wait_until 30 sh -c "[ \"\$(curl -s -o $T/nr -w '%{http_code}' http://$ADMIN/readyz)\" = 503 ] && grep -q 'no Kafka broker is reachable' $T/nr"
check "while /healthz stays 200 (the process is fine)" sh -c "[ \"\$(curl -s -o /dev/null -w '%{http_code}' http://$ADMIN/healthz)\" = 200 ]"
broker_back
check "/readyz is 200 again when the broker is back" \
    wait_until 60 sh -c "[ \"\$(curl -s -o /dev/null -w '%{http_code}' http://$ADMIN/readyz)\" = 200 ]"

check "SIGTERM exits 0" stop_bridge
check "the log is JSON lines, each with time, level and msg" \
    sh -c "jq -e -s 'all(has(\"time\") and has(\"level\") and has(\"msg\"))' $T/bridge.err >/dev/null"
check "no secret, no payload field (email, IP address) in the log" \
    sh -c "! grep -qF -e '${S1#whsec_}' -e someone@example.com -e '\"emailAddress\"' $T/bridge.err"
finish
