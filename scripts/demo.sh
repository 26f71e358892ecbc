#!/bin/sh
# make demo: the bridge on its embedded Kafka (librdkafka's mock cluster),
# three local receivers, the sample events of examples/, and a 6-second
# retry window, narrated.  Ends by itself in about 20 seconds.
set -u
BIN=${1:-build/webhook-bridge}
D=$(mktemp -d /tmp/webhook-bridge-demo.XXXXXX)
PIDS=""
# Every process the demo starts is stopped when it ends, the receivers
# included: each one's pid is in $D/<name>.pid (a pipeline's $! is its
# last command's, the sed, not the receiver's).
cleanup() {
    for p in $PIDS $(cat "$D"/*.pid 2>/dev/null); do kill "$p" 2>/dev/null; done
}
trap cleanup EXIT
trap 'exit 1' INT TERM
say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

say "starting three receivers (webhook-bridge receive) on 127.0.0.1"
for r in "crm:" "flaky:--fail-first 2" "down:--status 503"; do
    name=${r%%:*}
    {
        "$BIN" receive --listen 127.0.0.1:0 --port-file "$D/$name.port" ${r#*:} 2>/dev/null &
        echo $! >"$D/$name.pid"
        wait
    } | sed -u "s/^/  [receiver $name] /" &
    PIDS="$PIDS $!"
done
for name in crm flaky down; do
    i=0
    while [ ! -s "$D/$name.port" ] && [ $i -lt 50 ]; do sleep 0.1; i=$((i + 1)); done
    eval "PORT_$name=$(cat "$D/$name.port")"
    echo "  $name on port $(cat "$D/$name.port")"
done
echo "  crm answers 200; flaky answers 503 twice, then 200; down always answers 503"

cat >"$D/bridge.conf" <<CONF
kafka = { brokers = "embedded"; partitions = 2; };
delivery = { allow_private_networks = true; connect_timeout = "1s"; timeout = "2s"; };
retry = { schedule = [ "1s", "2s" ]; window = "6s"; };
endpoints = (
  { id = "crm"; account_id = "0b98ef2c-f739-45f1-81e3-b2def2bb868f"; url = "http://127.0.0.1:$PORT_crm/rokt";
    event_types = [ "Subscribe", "Unsubscribe" ]; },
  { id = "flaky"; account_id = "0b98ef2c-f739-45f1-81e3-b2def2bb868f"; url = "http://127.0.0.1:$PORT_flaky/hook";
    event_types = [ "Subscribe" ]; },
  { id = "down"; account_id = "*"; url = "http://127.0.0.1:$PORT_down/webhooks"; event_types = [ "*" ]; }
);
admin = { listen = "127.0.0.1:0"; };
log = { level = "info"; };
CONF
say "starting the bridge on the embedded Kafka (retry schedule 1s then 2s, window 6s)"
"$BIN" run -c "$D/bridge.conf" 2>"$D/bridge.log" &
BRIDGE=$!
PIDS="$PIDS $BRIDGE"
sleep 0.5
if ! kill -0 $BRIDGE 2>/dev/null; then
    echo "the bridge did not start:"
    cat "$D/bridge.log"
    exit 1
fi
i=0
while ! grep -q '"partitions assigned","consumer":"events"' "$D/bridge.log" && [ $i -lt 300 ]; do
    sleep 0.1
    i=$((i + 1))
done
BOOT=$(sed -n 's/.*"msg":"ready".*"bootstrap":"\([^"]*\)".*/\1/p' "$D/bridge.log")
echo "  bootstrap: $BOOT   (try: kcat -L -b $BOOT)"

say "producing the sample events: a Subscribe (seed 002) and an Unsubscribe, keyed by accountId"
for f in examples/subscribe.json examples/unsubscribe.json; do
    printf '0b98ef2c-f739-45f1-81e3-b2def2bb868f|%s\n' "$(cat "$f")"
done | kcat -P -b "$BOOT" -t subscription-events -K '|' 2>/dev/null
echo "  crm gets both, flaky gets the Subscribe, down gets both"

say "watching deliveries and retries for 10 seconds"
sleep 10

say "the dead-letter topic (webhook-dead-letter): what ran out of retries"
kcat -C -b "$BOOT" -t webhook-dead-letter -o beginning -e -q 2>/dev/null |
    jq -r '"  \(.reason): event \(.eventId) (\(.eventType)) to \(.endpointId) after \(.attempts | length) attempts: " +
           ([.attempts[] | "\(.status // .error)"] | join(", "))'

say "stopping the bridge (SIGTERM): it finishes what is in flight and commits"
kill -TERM $BRIDGE
wait $BRIDGE
echo "  exit code $?"
grep '"final stats"' "$D/bridge.log" |
    jq -r '"  events \(.events_consumed), deliveries \(.deliveries_created), attempts \(.attempts), delivered \(.deliveries_succeeded), parked \(.deliveries_parked), retried \(.deliveries_retried), dead-lettered \(.dead_letters); retry lateness p99 \(.retry_lateness.p99) ms"'
echo "  full bridge log: $D/bridge.log"
