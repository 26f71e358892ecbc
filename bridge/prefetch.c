/*
 * prefetch: the decision of prefetch.h.  The queue's bytes are estimated
 * as records x their average size (librdkafka 2.0.2 counts a fetched
 * record's value, not its key, against queued.max.messages.kbytes:
 * rd_kafka_op_new_fetch_msg sets the op's rko_len, what rd_kafka_q_size
 * sums, to the value's length); "near the limit" is
 * three quarters of either bound, "drained" a quarter of both, so that the
 * wake comes while a quarter of a queue is still there to deliver.
 */
#include "prefetch.h"

void prefetch_init(struct prefetch *p, int64_t max_kbytes, int64_t max_records)
{
    p->max_bytes = max_kbytes * 1024;
    p->max_records = max_records;
    p->avg_bytes = 0;
    p->high = 0;
    p->last_wake_ms = 0;
    p->wakes = 0;
}

void prefetch_record(struct prefetch *p, size_t len)
{
    /* the first record sets it, then 1/64 per record */
    p->avg_bytes =
        p->avg_bytes == 0 ? (double)len : p->avg_bytes + ((double)len - p->avg_bytes) / 64;
}

int prefetch_decide(struct prefetch *p, int64_t queued, int64_t now_ms)
{
    double bytes = (double)queued * p->avg_bytes;
    if ((p->max_bytes > 0 && bytes >= 0.75 * (double)p->max_bytes) ||
        (p->max_records > 0 && queued * 4 >= p->max_records * 3)) {
        p->high = 1;
        return 0;
    }
    if (!p->high || (p->max_bytes > 0 && bytes > 0.25 * (double)p->max_bytes) ||
        (p->max_records > 0 && queued * 4 > p->max_records) ||
        now_ms - p->last_wake_ms < PREFETCH_WAKE_MIN_MS) {
        return 0;
    }
    p->high = 0;
    p->last_wake_ms = now_ms;
    p->wakes++;
    return 1;
}

void prefetch_unsent(struct prefetch *p)
{
    p->high = 1;
    p->wakes--;
}

/* rd_kafka_offsets_for_times in librdkafka 2.0.2 (rdkafka.c) first finds
 * each partition's leader (rdkafka_partition.c,
 * rd_kafka_topic_partition_list_query_leaders), setting every element's
 * err: NO_ERROR for a partition whose leader is known, __IN_PROGRESS for
 * one whose topic or leader is not known yet (a metadata request is then
 * sent, and with a timeout of 0 the call returns at once with
 * __TIMED_OUT or __ALL_BROKERS_DOWN, having sent no ListOffsets at all), a
 * permanent error for one with no leader (left out; __UNKNOWN_PARTITION
 * when that is all of them).  When every partition was settled, one
 * request goes to each leader's broker thread and, with nobody waiting for
 * the answers, the call returns __TIMED_OUT (NO_ERROR would mean the
 * answers came: sent too).  So: sent iff __TIMED_OUT or NO_ERROR and no
 * element left __IN_PROGRESS, to the elements with NO_ERROR. */
int prefetch_wake_sent(rd_kafka_resp_err_t err, const rd_kafka_topic_partition_list_t *list)
{
    if (err != RD_KAFKA_RESP_ERR__TIMED_OUT && err != RD_KAFKA_RESP_ERR_NO_ERROR) {
        return 0;
    }
    int sent = 0;
    for (int i = 0; i < list->cnt; i++) {
        if (list->elems[i].err == RD_KAFKA_RESP_ERR__IN_PROGRESS) {
            return 0;
        }
        if (list->elems[i].err == RD_KAFKA_RESP_ERR_NO_ERROR) {
            sent++;
        }
    }
    return sent;
}
