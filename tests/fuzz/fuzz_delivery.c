/*
 * fuzz_delivery: delivery_from_record (bridge/delivery.c), how the delay
 * scheduler and `dlq replay` read the delivery records of the delay and
 * dead-letter topics.  Input: the record's value bytes.  Property (round
 * trip): a record that parses, written back with delivery_to_record and
 * parsed again, gives the same delivery: ids, type, account, endpoint,
 * URL, the event's bytes, first and next attempt times, each attempt's
 * number, time, duration, status and error, the source, the deferrals and
 * replayedFrom.  The written record must also be what the first parse
 * read the second time over (delivery_to_record is stable).
 */
#include "delivery.h"
#include "fuzz.h"

static int same_str(const char *a, const char *b)
{
    return (a == NULL && b == NULL) || (a != NULL && b != NULL && strcmp(a, b) == 0);
}

static void check_same(const struct delivery *a, const struct delivery *b)
{
    FUZZ_CHECK(strcmp(a->id, b->id) == 0);
    FUZZ_CHECK(same_str(a->event_id, b->event_id));
    FUZZ_CHECK(same_str(a->event_type, b->event_type));
    FUZZ_CHECK(same_str(a->account_id, b->account_id));
    FUZZ_CHECK(same_str(a->endpoint_id, b->endpoint_id));
    FUZZ_CHECK(same_str(a->url, b->url));
    FUZZ_CHECK(a->body->len == b->body->len);
    FUZZ_CHECK(memcmp(a->body->data, b->body->data, a->body->len) == 0);
    FUZZ_CHECK(a->first_attempt_ms == b->first_attempt_ms);
    FUZZ_CHECK(a->due_ms == b->due_ms);
    FUZZ_CHECK(a->n_attempts == b->n_attempts);
    for (size_t i = 0; i < a->n_attempts; i++) {
        const struct attempt *x = &a->attempts[i], *y = &b->attempts[i];
        FUZZ_CHECK(x->n == y->n);
        FUZZ_CHECK(x->at_ms == y->at_ms);
        FUZZ_CHECK(x->duration_ms == y->duration_ms);
        FUZZ_CHECK(x->status == y->status);
        FUZZ_CHECK(same_str(x->error, y->error));
    }
    FUZZ_CHECK(same_str(a->source_topic, b->source_topic));
    FUZZ_CHECK(a->source_partition == b->source_partition);
    FUZZ_CHECK(a->source_offset == b->source_offset);
    FUZZ_CHECK(a->deferrals == b->deferrals);
    FUZZ_CHECK(same_str(a->replayed_from, b->replayed_from));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char errstr[512] = "";
    size_t len = 0, len2 = 0;

    struct delivery *dl = delivery_from_record(data, size, errstr, sizeof(errstr));
    if (dl == NULL) {
        FUZZ_CHECK(errstr[0] != '\0');
        return 0;
    }
    char *record = delivery_to_record(dl, &len);
    FUZZ_CHECK(record != NULL);
    struct delivery *again = delivery_from_record(record, len, errstr, sizeof(errstr));
    FUZZ_CHECK(again != NULL);
    check_same(dl, again);
    char *record2 = delivery_to_record(again, &len2);
    FUZZ_CHECK(record2 != NULL && len2 == len && memcmp(record, record2, len) == 0);

    free(record2);
    delivery_destroy(again);
    free(record);
    delivery_destroy(dl);
    return 0;
}
