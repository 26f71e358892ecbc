/*
 * schedule: retry timing decisions.  Pure functions of the configuration and
 * the delivery's history, called by whichever thread owns the delivery.
 */
#include "schedule.h"

#include <stdio.h>
#include <time.h>

#include <curl/curl.h>

#include "conf.h"
#include "delivery.h"
#include "duration.h"

int64_t schedule_interval(const struct conf *conf, size_t n)
{
    size_t i = n == 0 ? 0 : n - 1;
    if (i >= conf->retry.n_schedule) {
        i = conf->retry.n_schedule - 1;
    }
    return conf->retry.schedule_ms[i];
}

/* The slots of the delivery's window used so far: each one an attempt or a
 * deferral.  dl->due_ms is the nominal time of the last of them. */
static size_t slots_used(const struct delivery *dl)
{
    return delivery_attempt_count(dl) + (size_t)(dl->deferrals > 0 ? dl->deferrals : 0);
}

void schedule_next(const struct conf *conf, const struct delivery *dl,
                   struct schedule_decision *out)
{
    out->due_ms = 0;
    out->interval_ms = 0;
    out->reason = NULL;
    switch (dl->outcome) {
    case OUTCOME_SUCCESS:
        out->action = SCHEDULE_DONE;
        return;
    case OUTCOME_GONE:
        out->action = SCHEDULE_DEAD;
        out->reason = "endpoint_gone";
        return;
    case OUTCOME_NONE:
    case OUTCOME_DEFERRED:
    case OUTCOME_RETRY:
    default:
        break;
    }
    int64_t interval = schedule_interval(conf, slots_used(dl));
    int64_t due = dl->due_ms + interval;
    if (dl->retry_after_ms > due) {
        due = dl->retry_after_ms;
    }
    if (due > dl->first_attempt_ms + conf->retry.window_ms) {
        out->action = SCHEDULE_DEAD;
        out->reason = "retry_window_expired";
        return;
    }
    out->action = SCHEDULE_PARK;
    out->due_ms = due;
    out->interval_ms = interval;
}

int schedule_deferred(const struct conf *conf, const struct delivery *dl, int64_t now_ms,
                      struct schedule_decision *out)
{
    int64_t start = dl->first_attempt_ms > 0 ? dl->first_attempt_ms : dl->due_ms;
    int64_t end = start + conf->retry.window_ms;
    size_t slot = slots_used(dl);
    int64_t due = dl->due_ms;
    int64_t interval = 0;
    int passed = 0;
    out->reason = NULL;
    /* From the deferred slot to the next one still ahead.  Each step is at
     * least 1 ms (conf.c: intervals are positive), and the loop stops at
     * the window's end, so it ends. */
    do {
        slot++;
        passed++;
        interval = schedule_interval(conf, slot);
        due += interval;
    } while (due <= now_ms && due <= end);
    if (due > end) {
        out->action = SCHEDULE_DEAD;
        out->reason = "retry_window_expired";
        out->due_ms = 0;
        out->interval_ms = 0;
        return passed;
    }
    out->action = SCHEDULE_PARK;
    out->due_ms = due;
    out->interval_ms = interval;
    return passed;
}

int64_t schedule_retry_after(const char *value, int64_t now_ms)
{
    const char *p = value;
    while (*p == ' ' || *p == '\t') {
        p++;
    }
    if (*p >= '0' && *p <= '9') {
        /* delay-seconds: digits only, saturating instead of overflowing. */
        int64_t secs = 0;
        for (; *p >= '0' && *p <= '9'; p++) {
            if (secs < SCHEDULE_RETRY_AFTER_MAX_MS / 1000) {
                secs = secs * 10 + (*p - '0');
            }
        }
        while (*p == ' ' || *p == '\t') {
            p++;
        }
        if (*p != '\0' || secs == 0) {
            return 0;
        }
        int64_t ms =
            secs < SCHEDULE_RETRY_AFTER_MAX_MS / 1000 ? secs * 1000 : SCHEDULE_RETRY_AFTER_MAX_MS;
        return now_ms + ms;
    }
    /* An HTTP-date, read by libcurl's date parser. */
    time_t t = curl_getdate(p, NULL);
    if (t == (time_t)-1) {
        return 0;
    }
    int64_t secs = (int64_t)t - now_ms / 1000;
    if (secs <= 0) {
        return 0;
    }
    return now_ms +
           (secs < SCHEDULE_RETRY_AFTER_MAX_MS / 1000 ? secs * 1000 : SCHEDULE_RETRY_AFTER_MAX_MS);
}

void schedule_topic_name(const char *prefix, int64_t interval_ms, char *buf, size_t size)
{
    char d[32];
    duration_format(interval_ms, d, sizeof(d));
    snprintf(buf, size, "%s-%s", prefix, d);
}

size_t schedule_distinct_intervals(const struct conf *conf, int64_t *out, size_t max)
{
    size_t n = 0;
    for (size_t i = 0; i < conf->retry.n_schedule && n < max; i++) {
        int seen = 0;
        for (size_t j = 0; j < n; j++) {
            if (out[j] == conf->retry.schedule_ms[i]) {
                seen = 1;
            }
        }
        if (!seen) {
            out[n++] = conf->retry.schedule_ms[i];
        }
    }
    return n;
}
