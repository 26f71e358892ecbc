# Failure modes on the embedded cluster: endpoints answering 500, 302, 304,
# timing out, resetting the connection, and a refused port end on the
# dead-letter topic after the window with every attempt recorded; 410 Gone
# is dead-lettered at once with reason endpoint_gone.
. tests/e2e/lib.sh

start_receiver s500 --status 500
start_receiver s302 --status 302
start_receiver s304 --status 304
start_receiver slow --delay 4000
start_receiver drop --drop
start_receiver gone --status 410
# A port nobody listens on: bind-free by asking a receiver for one, then stopping it.
start_receiver tmp
kill %7 2>/dev/null; kill $(echo $PIDS | awk '{print $NF}'); sleep 0.5
REFUSED=$PORT_tmp
cat >"$T/bridge.conf" <<CONF
kafka = { brokers = "embedded"; partitions = 2; };
delivery = { allow_private_networks = true; connect_timeout = "1s"; timeout = "1s"; };
retry = { schedule = [ "1s" ]; window = "3s"; };
endpoints = (
  { id = "s500"; account_id = "*"; url = "http://127.0.0.1:$PORT_s500/h"; },
  { id = "s302"; account_id = "*"; url = "http://127.0.0.1:$PORT_s302/h"; },
  { id = "s304"; account_id = "*"; url = "http://127.0.0.1:$PORT_s304/h"; },
  { id = "slow"; account_id = "*"; url = "http://127.0.0.1:$PORT_slow/h"; },
  { id = "drop"; account_id = "*"; url = "http://127.0.0.1:$PORT_drop/h"; },
  { id = "refused"; account_id = "*"; url = "http://127.0.0.1:$REFUSED/h"; },
  { id = "gone"; account_id = "*"; url = "http://127.0.0.1:$PORT_gone/h"; }
);
CONF
start_bridge bridge "$T/bridge.conf"
id=$(uuid)
event "$id" Subscribe "$ACCOUNT_A" >"$T/events"
produce "$T/events"

wait_until 60 sh -c "[ \$(kcat -C -b $BOOT -t webhook-dead-letter -o beginning -e -q 2>/dev/null | wc -l) -ge 7 ]"
consume webhook-dead-letter >"$T/dlq"
check "seven dead letters, one per endpoint" test "$(lines "$T/dlq")" -eq 7

dl() { jq -c --arg e "$1" 'select(.key == $e) | .payload | fromjson' "$T/dlq"; }
# Window 3 s, schedule 1 s: attempts due at 0, 1, 2, 3 s; the next (4 s) is outside.
for e in s500:500 s302:302 s304:304; do
    ep=${e%%:*}
    st=${e#*:}
    check "$ep: retry_window_expired after 4 attempts, each with status $st" sh -c \
        "dl_out=\$(jq -c --arg e $ep 'select(.key == \$e) | .payload | fromjson' $T/dlq);
         printf '%s' \"\$dl_out\" | jq -e '.reason == \"retry_window_expired\" and (.attempts | length) == 4
           and (.attempts | all(.status == $st and .error == null)) and .eventId == \"$id\"' >/dev/null"
done
check "s302: the redirect was not followed (the receiver saw exactly 4 requests)" \
    test "$(lines "$T/s302.out")" -eq 4
for e in slow:timeout drop:empty refused:connection; do
    ep=${e%%:*}
    err=${e#*:}
    check "$ep: retry_window_expired, every attempt failed with '$err...' and no status" sh -c \
        "jq -c --arg e $ep 'select(.key == \$e) | .payload | fromjson' $T/dlq |
         jq -e '.reason == \"retry_window_expired\" and (.attempts | length) >= 3
           and (.attempts | all(.status == null and (.error | startswith(\"$err\"))))' >/dev/null"
done
check "gone: 410 dead-lettered at once with reason endpoint_gone and one attempt" sh -c \
    "jq -c 'select(.key == \"gone\") | .payload | fromjson' $T/dlq |
     jq -e '.reason == \"endpoint_gone\" and (.attempts | length) == 1 and .attempts[0].status == 410' >/dev/null"
check "gone: the receiver was asked once" test "$(lines "$T/gone.out")" -eq 1
check "dead letters keep the event byte for byte" sh -c \
    "jq -r 'select(.key == \"s500\") | .payload' $T/dlq | grep -qF '$(cat "$T/events")'"
check "dead letters have the documented fields" sh -c \
    "jq -c 'select(.key == \"s500\") | .payload | fromjson' $T/dlq |
     jq -e '.version == 1 and (.deliveryId | length) == 36 and .endpointId == \"s500\" and .accountId == \"$ACCOUNT_A\"
        and .eventType == \"Subscribe\" and (.endpointUrl | startswith(\"http://127.0.0.1:\"))
        and (.firstAttemptAt | test(\"Z\$\")) and (.deadLetteredAt | test(\"Z\$\"))
        and .source.topic == \"subscription-events\" and (.source.offset | type) == \"number\"' >/dev/null"
check "dead letters carry Kafka Connect-style headers" sh -c \
    "jq -c 'select(.key == \"s500\") | .headers' $T/dlq |
     jq -e 'index(\"__connect.errors.topic\") != null and index(\"subscription-events\") != null
        and index(\"__connect.errors.partition\") != null and index(\"__connect.errors.offset\") != null
        and index(\"__connect.errors.exception.message\") != null' >/dev/null"
check "SIGTERM exits 0" stop_bridge
finish
