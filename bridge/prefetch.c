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
