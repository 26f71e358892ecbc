/*
 * metrics: storage for the table in metrics.h.  Any thread updates; readers
 * sum relaxed atomics, so a snapshot is approximate while traffic flows and
 * exact once it stops.
 */
#include "metrics.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "util.h"

atomic_llong metrics_counters[M__COUNT];

static const struct {
    const char *name, *family, *labels, *help;
} counters[] = {
#define METRICS_ROW(name, family, labels, help) {#name, family, labels, help},
    METRICS_COUNTERS(METRICS_ROW)
#undef METRICS_ROW
};

static const struct {
    const char *name, *help;
} histogram_rows[] = {
#define METRICS_ROW(name, help) {#name, help},
    METRICS_HISTOGRAMS(METRICS_ROW)
#undef METRICS_ROW
};

/* Upper bounds (ms) of the buckets; the last bucket is unbounded. */
static const int64_t bucket_le[] = {1,    2,    3,     5,     7,     10,     15,     20,     30,
                                    50,   75,   100,   150,   200,   300,    500,    750,    1000,
                                    2000, 5000, 10000, 30000, 60000, 300000, 600000, 1800000};
#define N_BUCKETS (WB_ARRAY_LEN(bucket_le) + 1)

struct histogram {
    atomic_llong buckets[N_BUCKETS];
    atomic_llong count;
    atomic_llong sum; /* ms */
    atomic_llong max;
};

static struct histogram histograms[H__COUNT];

void metrics_observe(enum metrics_histogram h, int64_t ms)
{
    struct histogram *hist = &histograms[h];
    if (ms < 0) {
        ms = 0;
    }
    size_t i = 0;
    while (i < WB_ARRAY_LEN(bucket_le) && ms > bucket_le[i]) {
        i++;
    }
    atomic_fetch_add_explicit(&hist->buckets[i], 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&hist->count, 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&hist->sum, ms, memory_order_relaxed);
    long long cur = atomic_load_explicit(&hist->max, memory_order_relaxed);
    while (ms > cur && !atomic_compare_exchange_weak_explicit(
                           &hist->max, &cur, ms, memory_order_relaxed, memory_order_relaxed)) {
    }
}

long long metrics_count(enum metrics_histogram h)
{
    return atomic_load_explicit(&histograms[h].count, memory_order_relaxed);
}

long long metrics_max(enum metrics_histogram h)
{
    return atomic_load_explicit(&histograms[h].max, memory_order_relaxed);
}

double metrics_quantile(enum metrics_histogram h, double q)
{
    struct histogram *hist = &histograms[h];
    long long counts[N_BUCKETS];
    long long total = 0;
    for (size_t i = 0; i < N_BUCKETS; i++) {
        counts[i] = atomic_load_explicit(&hist->buckets[i], memory_order_relaxed);
        total += counts[i];
    }
    if (total == 0) {
        return -1;
    }
    double rank = q * (double)total;
    long long seen = 0;
    for (size_t i = 0; i < N_BUCKETS; i++) {
        if (counts[i] > 0 && (double)(seen + counts[i]) >= rank) {
            double lo = i == 0 ? 0 : (double)bucket_le[i - 1];
            double hi = i < WB_ARRAY_LEN(bucket_le) ? (double)bucket_le[i] : (double)metrics_max(h);
            double frac = (rank - (double)seen) / (double)counts[i];
            double v = lo + (hi - lo) * frac;
            double max = (double)metrics_max(h);
            return v < max ? v : max;
        }
        seen += counts[i];
    }
    return (double)metrics_max(h);
}

json_t *metrics_snapshot(void)
{
    json_t *obj = json_object();
    for (size_t i = 0; i < M__COUNT; i++) {
        json_object_set_new(obj, counters[i].name, json_integer(metrics_get(i)));
    }
    for (size_t i = 0; i < H__COUNT; i++) {
        long long n = metrics_count(i);
        json_t *h =
            json_pack("{s:I, s:f, s:f, s:I}", "count", (json_int_t)n, "p50",
                      n ? metrics_quantile(i, 0.5) : 0.0, "p99",
                      n ? metrics_quantile(i, 0.99) : 0.0, "max", (json_int_t)metrics_max(i));
        json_object_set_new(obj, histogram_rows[i].name, h);
    }
    return obj;
}

void metrics_attempt_class(int status)
{
    enum metrics_counter c = status >= 200 && status <= 299   ? M_attempts_2xx
                             : status >= 100 && status <= 199 ? M_attempts_1xx
                             : status >= 300 && status <= 399 ? M_attempts_3xx
                             : status >= 400 && status <= 499 ? M_attempts_4xx
                             : status >= 500 && status <= 599 ? M_attempts_5xx
                                                              : M_attempts_error;
    metrics_inc(c);
}

void metrics_printf(char **buf, size_t *len, size_t *cap, const char *fmt, ...)
{
    for (;;) {
        size_t room = *cap - *len;
        va_list ap;
        va_start(ap, fmt);
        int n = *buf != NULL ? vsnprintf(*buf + *len, room, fmt, ap) : -2;
        va_end(ap);
        if (n >= 0 && (size_t)n < room) {
            *len += (size_t)n;
            return;
        }
        *cap = *cap == 0 ? 4096 : *cap * 2;
        *buf = xrealloc(*buf, *cap);
    }
}

/* Help text escaped for the exposition format (backslash and newline). */
static void help_line(char **buf, size_t *len, size_t *cap, const char *family, const char *help)
{
    metrics_printf(buf, len, cap, "# HELP webhook_bridge_%s ", family);
    for (const char *p = help; *p != '\0'; p++) {
        if (*p == '\\') {
            metrics_printf(buf, len, cap, "\\\\");
        } else if (*p == '\n') {
            metrics_printf(buf, len, cap, "\\n");
        } else {
            metrics_printf(buf, len, cap, "%c", *p);
        }
    }
    metrics_printf(buf, len, cap, "\n");
}

void metrics_prometheus(char **buf, size_t *len, size_t *cap)
{
    const char *family = NULL;
    for (size_t i = 0; i < M__COUNT; i++) {
        if (counters[i].family[0] == '\0') {
            continue;
        }
        if (family == NULL || strcmp(family, counters[i].family) != 0) {
            family = counters[i].family;
            help_line(buf, len, cap, family, counters[i].help);
            metrics_printf(buf, len, cap, "# TYPE webhook_bridge_%s counter\n", family);
        }
        if (counters[i].labels[0] != '\0') {
            metrics_printf(buf, len, cap, "webhook_bridge_%s{%s} %lld\n", family,
                           counters[i].labels, (long long)metrics_get(i));
        } else {
            metrics_printf(buf, len, cap, "webhook_bridge_%s %lld\n", family,
                           (long long)metrics_get(i));
        }
    }
    for (size_t h = 0; h < H__COUNT; h++) {
        const struct histogram *hist = &histograms[h];
        const char *name = histogram_rows[h].name;
        char help[256];
        snprintf(help, sizeof(help), "%s (seconds)", histogram_rows[h].help);
        char fam[64];
        snprintf(fam, sizeof(fam), "%s_seconds", name);
        help_line(buf, len, cap, fam, help);
        metrics_printf(buf, len, cap, "# TYPE webhook_bridge_%s histogram\n", fam);
        long long cumulative = 0;
        for (size_t i = 0; i < N_BUCKETS; i++) {
            cumulative += atomic_load_explicit(&hist->buckets[i], memory_order_relaxed);
            if (i < WB_ARRAY_LEN(bucket_le)) {
                metrics_printf(buf, len, cap, "webhook_bridge_%s_bucket{le=\"%g\"} %lld\n", fam,
                               (double)bucket_le[i] / 1000.0, cumulative);
            } else {
                metrics_printf(buf, len, cap, "webhook_bridge_%s_bucket{le=\"+Inf\"} %lld\n", fam,
                               cumulative);
            }
        }
        metrics_printf(buf, len, cap, "webhook_bridge_%s_sum %.3f\n", fam,
                       (double)atomic_load_explicit(&hist->sum, memory_order_relaxed) / 1000.0);
        metrics_printf(buf, len, cap, "webhook_bridge_%s_count %lld\n", fam, cumulative);
    }
}
