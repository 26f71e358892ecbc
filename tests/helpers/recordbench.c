/*
 * recordbench: what the bridge's per-delivery JSON work costs, for make
 * bench: validating an event (event_parse), writing a delivery's delay
 * record (delivery_to_record, what parking a delivery builds), its dead
 * letter, its attempt record (attempts_record, one per attempt), and
 * reading a delay record back (delivery_from_record).  Events of about 500
 * bytes and about 1.5 KB (padding in eventDetails).  Prints nanoseconds
 * per call; a benchmark, not a test: it fails only when a call fails.
 *
 *   recordbench [ROUNDS]    (default 200,000 calls each)
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "attempts.h"
#include "delivery.h"
#include "event.h"
#include "util.h"

#define EVENT_MAX (1024 * 1024)

/* A Subscribe event shaped like the seeds', padded to about size bytes. */
static size_t build_event(char *buf, size_t cap, size_t size)
{
    static const char head[] =
        "{\"eventId\":\"6f1c9a2e-3b4d-4e5f-8a9b-0c1d2e3f4a5b\",\"eventType\":\"Subscribe\","
        "\"occurredAt\":\"2026-11-30T10:00:00.000Z\",\"eventDetails\":{\"accountId\":"
        "\"0e9c2f4a-7b1d-4c3e-9f5a-2b8d6e1c0a7f\",\"calendarId\":\"cal-0001\","
        "\"subscriber\":{\"name\":\"Ada Lovelace\",\"email\":\"ada@example.com\"},\"notes\":\"";
    static const char tail[] = "\"}}";
    size_t n = sizeof(head) - 1;
    size_t pad = size > n + sizeof(tail) ? size - n - (sizeof(tail) - 1) : 0;
    if (n + pad + sizeof(tail) > cap) {
        return 0;
    }
    memcpy(buf, head, n);
    for (size_t i = 0; i < pad; i++) {
        buf[n++] = "abcdefghij klmnopqrst"[i % 21];
    }
    memcpy(buf + n, tail, sizeof(tail));
    return n + sizeof(tail) - 1;
}

#define TIME_IT(label, size, body)                                                                 \
    do {                                                                                           \
        int64_t t0_ = util_mono_us();                                                              \
        for (long i_ = 0; i_ < rounds; i_++) {                                                     \
            body;                                                                                  \
        }                                                                                          \
        double ns_ = (double)(util_mono_us() - t0_) * 1000.0 / (double)rounds;                     \
        printf("%-22s %6zu B  %8.0f ns\n", label, (size_t)(size), ns_);                            \
    } while (0)

static int run(size_t size, long rounds)
{
    static char ev[4096];
    size_t len = build_event(ev, sizeof(ev), size);
    char err[256] = "";
    struct event e;
    if (len == 0 || event_parse(&e, ev, len, EVENT_MAX, err, sizeof(err)) != 0) {
        fprintf(stderr, "recordbench: the event does not parse: %s\n", err);
        return -1;
    }
    struct payload *body = payload_new(ev, len);
    struct delivery *dl = delivery_new(e.id, e.type, e.account_id, "ep-bench-0001",
                                       "http://127.0.0.1:8080/hook/0001", body);
    payload_unref(body);
    delivery_set_source(dl, "subscription-events", 3, 123456789);
    dl->first_attempt_ms = 1796040000000;
    dl->due_ms = 1796040005000;
    struct attempt *a = delivery_add_attempt(dl, 1796040000000, 12, 503, NULL);
    delivery_set_response(a, "{\"error\":\"busy\"}", 16);
    dl->outcome = OUTCOME_RETRY;

    int failed = 0;
    size_t n = 0;
    TIME_IT("event_parse", len, {
        if (event_parse(&e, ev, len, EVENT_MAX, err, sizeof(err)) != 0) {
            failed = 1;
            break;
        }
    });
    TIME_IT("event_parse_jansson", len, {
        if (event_parse_jansson(&e, ev, len, EVENT_MAX, err, sizeof(err)) != 0) {
            failed = 1;
            break;
        }
    });
    TIME_IT("delivery_to_record", len, {
        char *r = delivery_to_record(dl, &n);
        failed |= r == NULL;
        free(r);
    });
    TIME_IT("delivery_to_dead_letter", len, {
        char *r = delivery_to_dead_letter(dl, "retry_window_expired", 1796041800000, &n);
        failed |= r == NULL;
        free(r);
    });
    TIME_IT("attempts_record", len, {
        char *r = attempts_record(dl, &n);
        failed |= r == NULL;
        free(r);
    });
    char *rec = delivery_to_record(dl, &n);
    TIME_IT("delivery_from_record", n, {
        struct delivery *back = delivery_from_record(rec, n, err, sizeof(err));
        failed |= back == NULL;
        delivery_destroy(back);
    });
    free(rec);
    delivery_destroy(dl);
    if (failed) {
        fprintf(stderr, "recordbench: a call failed (%s)\n", err);
        return -1;
    }
    return 0;
}

int main(int argc, char **argv)
{
    long rounds = argc > 1 ? strtol(argv[1], NULL, 10) : 200000;
    if (rounds <= 0) {
        fprintf(stderr, "usage: recordbench [ROUNDS]\n");
        return 2;
    }
    printf("%-22s %8s  %11s\n", "call", "event", "per call");
    if (run(500, rounds) != 0 || run(1500, rounds) != 0) {
        return 1;
    }
    return 0;
}
