# Waking librdkafka's fetchers (issue 10, bridge/prefetch.h).  librdkafka
# 2.0.2 stops fetching while the consumer's queue is over
# queued.max.messages.kbytes and looks again only when its broker thread
# wakes, up to a second later; the consumer loop wakes it once the queue
# has drained, with a ListOffsets request to each partition's leader.
# Here the queue is 64 KiB (about 40 of these 1.5 KB events) and 2,000
# events (3 MB) wait on 4 partitions: every one must be delivered once,
# and the wake must be seen to work, in librdkafka's own debug log
# (debug=fetch,protocol), lines of the events consumer's client only,
# taken per broker thread ("[thrd:NAME]") in the order that thread wrote
# them (the log callback runs on the thread that logs; one fputs a line):
#   A "Topic subscription-events [P] in state active ... is not fetchable:
#     queued.max.messages.kbytes exceeded"   (fetch_decide, rdkafka_fetcher.c)
#   B "Topic subscription-events [P] ... is fetchable"   (the same, later)
#   C "Sent ListOffsetsRequest (...)" / "Sent FetchRequest (...)"
#                                            (rd_kafka_send, rdkafka_broker.c)
# A transition A -> B is counted as the wake's when the first request the
# thread sends after B is a ListOffsets.  Why that is cause, not timing: a
# broker thread sleeps in poll() on its socket and on its op queue; the
# wake's request reaches it as an op on that queue (XMIT_BUF: enqueued from
# the consumer's thread), which ends the poll; serving an op returns the
# thread to its serve loop, which first runs fetch_decide for every
# partition (B), then builds the Fetch, then sends its queued requests in
# order: the ListOffsets, queued before the decision, goes out before the
# Fetch.  An op that arrives after the decision is served only after that
# turn has sent its Fetch (ops are served after the socket's IO), so its
# ListOffsets comes after the FetchRequest.  A transition made when the
# 1-second idle wake (rd_kafka_max_block_ms) or a response woke the thread
# has no ListOffsets pending: its first request is the Fetch.  The group's
# heartbeats and commits go to the coordinator's own broker thread
# ("GroupCoordinator"), a different thread.  Without the wake no
# ListOffsets is sent after the partitions' start offsets are looked up
# (before any fetch, so before any A): the count is 0, and the test fails.
# The log's timestamps are not used.  kafka_fetch_wakeups_total counts the
# calls that handed a ListOffsets to a leader (prefetch_wake_sent): it
# must be > 0 too, but says nothing of the effect by itself.  What the wakes
# gain is timing, make bench's to show; the drain's time is printed here,
# not judged.
. tests/e2e/lib.sh

start_outliving_cluster 4 1s
start_receiver fast
cat >"$T/bridge.conf" <<CONF
kafka = { brokers = "$BOOT"; create_topics = false; topics = { attempts = ""; };
          properties = [ "queued.max.messages.kbytes=64", "max.partition.fetch.bytes=65536",
                         "debug=fetch,protocol" ]; };
log = { level = "debug"; };
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
check "the consumer handed wake requests to librdkafka (kafka_fetch_wakeups_total > 0, got '$wakes')" \
    test "${wakes:-0}" -gt 0
check "each event delivered once" test "$(jq -r 'select(.status == 200) | .webhookId' "$T/fast.out" | sort | uniq -d | wc -l)" -eq 0
check "SIGTERM exits 0" stop_bridge
# The events consumer's librdkafka lines, in the file's order (the bridge's
# log lines are JSON; others are skipped).
jq -Rr 'fromjson? | select(.component == "librdkafka" and ((.client // "") | test("-events#consumer"))) | .msg' \
    "$T/bridge.err" >"$T/events-rdkafka.log"
# Per thread: for each partition, whether it was last "not fetchable:
# queued.max.messages.kbytes exceeded"; the partitions that turned
# fetchable from that since the thread's last request; the first request
# sent after them decides whose they were.
awk '
match($0, /^\[thrd:[^]]*\]/) { thr = substr($0, RSTART, RLENGTH) }
/Topic subscription-events \[[0-9]+\] in state .* is not fetchable: queued\.max\.messages\.kbytes exceeded/ {
    match($0, /\[[0-9]+\] in state/); p = substr($0, RSTART, RLENGTH); full[thr, p] = 1; next
}
/Topic subscription-events \[[0-9]+\] in state .* is fetchable$/ {
    match($0, /\[[0-9]+\] in state/); p = substr($0, RSTART, RLENGTH)
    if (full[thr, p]) { full[thr, p] = 0; pend[thr]++ }
    next
}
/: Sent [A-Za-z]+Request \(/ {
    if (pend[thr] > 0) {
        if ($0 ~ /: Sent ListOffsetsRequest \(/) woken += pend[thr]; else other += pend[thr]
        pend[thr] = 0
    }
}
END { printf "%d %d\n", woken, other }
' "$T/events-rdkafka.log" >"$T/transitions"
read -r woken other <"$T/transitions"
total=$((woken + other))
ok "partitions back to fetchable after queued.max.messages.kbytes: $total; in the turn a wake's ListOffsets began: $woken; otherwise (idle wakeup, a response): $other"
check "the queue filled past queued.max.messages.kbytes and drained (some partition went not fetchable -> fetchable)" \
    test "$total" -gt 0
check "a wake made a full partition fetchable again: its broker thread, woken by the wake's ListOffsets request, decided to fetch in that same turn ($woken of $total transitions)" \
    test "$woken" -gt 0
finish
