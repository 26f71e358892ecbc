# Waking librdkafka's fetchers (issue 10, bridge/prefetch.h).  librdkafka
# 2.0.2 stops fetching while the consumer's queue is over
# queued.max.messages.kbytes and looks again only when its broker thread
# wakes, up to a second later; the consumer loop wakes it once the queue
# has drained.  Here the queue is 64 KiB (about 40 of these 1.5 KB events),
# a fetch brings at most 64 KiB a partition, and 2,000 events (3 MB) wait
# on 4 partitions: every one must be delivered once, and the wake requests
# must have been sent (kafka_fetch_wakeups_total counts them, not their
# effect).  What the wakes gain is timing, so it is make bench's to show,
# not a test's (its timeline: 16 MiB of 1.5 KB events left 0.6 s of every
# second with no delivery); the drain's time is printed here, not judged.
. tests/e2e/lib.sh

start_outliving_cluster 4 1s
start_receiver fast
cat >"$T/bridge.conf" <<CONF
kafka = { brokers = "$BOOT"; create_topics = false; topics = { attempts = ""; };
          properties = [ "queued.max.messages.kbytes=64", "max.partition.fetch.bytes=65536" ]; };
delivery = { allow_private_networks = true; };
retry = { schedule = [ "1s" ]; window = "5m"; };
endpoints = ( { id = "fast"; account_id = "$ACCOUNT_A"; url = "http://127.0.0.1:$PORT_fast/h"; } );
CONF
make_topics "$T/bridge.conf"
pad=$(head -c 1200 /dev/zero | tr '\0' x)
n=0
: >"$T/events"
while [ $n -lt 2000 ]; do
    event "$(uuid)" Subscribe "$ACCOUNT_A" ",\"note\":\"$pad\"" >>"$T/events"
    n=$((n + 1))
done
jq -r .eventId "$T/events" | sort >"$T/ids"
produce "$T/events"
start=$(date +%s.%N)
start_bridge bridge "$T/bridge.conf"
check "all 2000 events delivered" wait_until 240 sh -c "[ \$(jq -r 'select(.status == 200) | .webhookId' $T/fast.out | sort -u | comm -12 - $T/ids | wc -l) -eq 2000 ]"
ok "drained in $(echo "$(date +%s.%N) - $start" | bc) s (informational)"
wakes=$(curl -sf "http://$ADMIN/metrics" | sed -n 's/^webhook_bridge_kafka_fetch_wakeups_total \([0-9]*\)$/\1/p')
check "the consumer woke the fetchers after its queue drained (kafka_fetch_wakeups_total > 0, got '$wakes')" \
    test "${wakes:-0}" -gt 0
check "each event delivered once" test "$(jq -r 'select(.status == 200) | .webhookId' "$T/fast.out" | sort | uniq -d | wc -l)" -eq 0
check "SIGTERM exits 0" stop_bridge
finish
