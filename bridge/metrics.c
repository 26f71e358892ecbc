/*
 * metrics: storage for the table in metrics.h.  Any thread updates; readers
 * sum relaxed atomics, so a snapshot is approximate while traffic flows and
 * exact once it stops.
 */
#include "metrics.h"

#include "util.h"

atomic_llong metrics_counters[M__COUNT];

static const char *const counter_names[] = {
#define METRICS_NAME(name, help) #name,
    METRICS_COUNTERS(METRICS_NAME)
#undef METRICS_NAME
};

static const char *const histogram_names[] = {
#define METRICS_NAME(name, help) #name,
    METRICS_HISTOGRAMS(METRICS_NAME)
#undef METRICS_NAME
};

/* Upper bounds (ms) of the buckets; the last bucket is unbounded. */
static const int64_t bucket_le[] = {1,    2,    3,     5,     7,     10,     15,     20,     30,
                                    50,   75,   100,   150,   200,   300,    500,    750,    1000,
                                    2000, 5000, 10000, 30000, 60000, 300000, 600000, 1800000};
#define N_BUCKETS (WB_ARRAY_LEN(bucket_le) + 1)

struct histogram {
    atomic_llong buckets[N_BUCKETS];
    atomic_llong count;
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
        json_object_set_new(obj, counter_names[i], json_integer(metrics_get(i)));
    }
    for (size_t i = 0; i < H__COUNT; i++) {
        long long n = metrics_count(i);
        json_t *h =
            json_pack("{s:I, s:f, s:f, s:I}", "count", (json_int_t)n, "p50",
                      n ? metrics_quantile(i, 0.5) : 0.0, "p99",
                      n ? metrics_quantile(i, 0.99) : 0.0, "max", (json_int_t)metrics_max(i));
        json_object_set_new(obj, histogram_names[i], h);
    }
    return obj;
}
