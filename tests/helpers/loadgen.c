/*
 * loadgen: a small librdkafka producer for the benchmark (bench/run.sh).
 *
 *   loadgen --bootstrap B --topic T --count N [--rate R]
 *           [--size BYTES | --event FILE] [--accounts M] [-X name=value]...
 *
 * Produces N valid Subscribe events (a trimmed seed-002 event: fresh UUID
 * eventId, eventDetails.accountId a fixed UUID, padded to about BYTES)
 * keyed by accountId, as fast as the producer takes them or at R events/s
 * (paced in 1 ms batches against the monotonic clock), waits for every
 * delivery report and prints what was produced and how long it took.
 *
 * With --event FILE the events are FILE's event instead (the benchmark
 * gives it seed 002 whole, as jq prints it: what users send), byte for
 * byte but for trailing whitespace: every occurrence of its eventId's UUID
 * gets the fresh one (seed 002's calendarSubscriptionId is the same UUID),
 * every occurrence of its accountId's UUID the account's.
 *
 * With --accounts M (default 1) the events cycle over M fixed account UUIDs
 * so that the keys, and with them the records, spread over the partitions.
 * After the flush it prints the records and bytes each partition received
 * and the partitions' log start offsets (a start above 0 on a fresh topic
 * means the cluster dropped records: the mock cluster keeps ~5 MiB per
 * partition).
 *
 * Exit codes: 0 every event acknowledged, 1 a delivery failed or the
 * producer could not start, 2 bad usage.  One thread (plus librdkafka's).
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <librdkafka/rdkafka.h>

#include "util.h"

#define FIXED_ACCOUNT "0b98ef2c-f739-45f1-81e3-b2def2bb868f"
#define MAX_PROPS 32
#define MAX_PARTITIONS 10000
#define FLUSH_TIMEOUT_MS 60000
/* Bytes a record adds to its value and key in a v2 record batch (length,
 * attributes, timestamp and offset deltas, key and value lengths, header
 * count: varints); the batch header (61 bytes) is shared by many records. */
#define RECORD_OVERHEAD 12

/* The trimmed seed-002 Subscribe event, in three parts around the eventId,
 * the accountId and the padding. */
static const char event_head[] = "{\"eventId\":\"";
static const char event_mid[] = "\",\"eventType\":\"Subscribe\",\"eventDetails\":{"
                                "\"actionType\":\"SubscriptionViaCalendarPage\",\"accountId\":\"";
static const char event_tail1[] =
    "\",\"accountName\":\"Your Account\",\"accountCode\":\"your-account\","
    "\"subscription\":{\"calendarId\":\"4a2d4acb-bd05-e511-af43-067f1c947754\","
    "\"calendarTitle\":\"My Sports Calendar\",\"subscriptionMethod\":\"Google\","
    "\"emailAddress\":\"[email protected]\",\"countryCode\":\"US\","
    "\"source\":\"youraccount.roktcalendar.com\"";
static const char pad_open[] = ",\"padding\":\"";
static const char pad_close[] = "\"";
static const char event_tail2[] = "}}}";
/* More than the event without padding, the padding field's quotes and the
 * terminating NUL. */
#define EVENT_BARE_MAX                                                                             \
    (sizeof(event_head) + sizeof(event_mid) + sizeof(event_tail1) + sizeof(pad_open) +             \
     sizeof(pad_close) + sizeof(event_tail2) + 2 * 36)

struct stats {
    long long ok;
    long long failed;
    long long part_records[MAX_PARTITIONS];
    long long part_bytes[MAX_PARTITIONS];
    char first_error[256];
};

static void usage(FILE *fp)
{
    fprintf(fp, "usage: loadgen --bootstrap HOST:PORT --topic TOPIC --count N [--rate R]\n"
                "               [--size BYTES | --event FILE] [--accounts M] [-X name=value]...\n"
                "  --rate R      events per second (default: as fast as possible)\n"
                "  --size BYTES  approximate event size (default 500)\n"
                "  --event FILE  FILE's event, with fresh eventId and accountId UUIDs\n"
                "  --accounts M  cycle over M fixed account UUIDs, the record keys (default 1)\n"
                "  -X name=value a librdkafka producer property (repeatable)\n");
}

static int parse_long(const char *s, long long min, long long max, long long *out)
{
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (errno != 0 || end == s || *end != '\0' || v < min || v > max) {
        return -1;
    }
    *out = v;
    return 0;
}

static void dr_cb(rd_kafka_t *rk, const rd_kafka_message_t *rkm, void *opaque)
{
    struct stats *st = opaque;
    (void)rk;
    if (rkm->err != RD_KAFKA_RESP_ERR_NO_ERROR) {
        if (st->failed++ == 0) {
            snprintf(st->first_error, sizeof(st->first_error), "%s", rd_kafka_err2str(rkm->err));
        }
        return;
    }
    st->ok++;
    if (rkm->partition >= 0 && rkm->partition < MAX_PARTITIONS) {
        st->part_records[rkm->partition]++;
        st->part_bytes[rkm->partition] += (long long)(rkm->len + rkm->key_len + RECORD_OVERHEAD);
    }
}

/* account i of M: the fixed UUID for M == 1, else its first 24 characters
 * and i in the last group. */
static void account_id(char *buf, size_t size, long long i, long long m)
{
    if (m <= 1) {
        snprintf(buf, size, "%s", FIXED_ACCOUNT);
    } else {
        snprintf(buf, size, "%.24s%012llx", FIXED_ACCOUNT,
                 (unsigned long long)i & 0xffffffffffffULL);
    }
}

/* An --event template: the event, and where its eventId and accountId
 * UUIDs are (every occurrence of each). */
#define MAX_PLACES 16
struct template
{
    char *ev;
    size_t len;
    size_t id_at[MAX_PLACES], account_at[MAX_PLACES];
    int n_id, n_account;
};

/* Finds the 36-character string value of the first "field" in t->ev and
 * every occurrence of that value; 0, or -1 with a message in err. */
static int find_places(const struct template *t, const char *field, size_t *at, int *n, char *err,
                       size_t err_size)
{
    char key[64];
    snprintf(key, sizeof(key), "\"%s\"", field);
    const char *p = strstr(t->ev, key);
    if (p != NULL) {
        p += strlen(key);
        p += strspn(p, " \t\r\n");
        p = *p == ':' ? p + 1 : NULL;
    }
    if (p != NULL) {
        p += strspn(p, " \t\r\n");
        p = *p == '"' && strlen(p) > 37 && p[37] == '"' ? p + 1 : NULL;
    }
    if (p == NULL) {
        snprintf(err, err_size, "no \"%s\" with a 36-character string value", field);
        return -1;
    }
    char uuid[37];
    memcpy(uuid, p, 36);
    uuid[36] = '\0';
    *n = 0;
    for (const char *q = strstr(t->ev, uuid); q != NULL; q = strstr(q + 36, uuid)) {
        if (*n == MAX_PLACES) {
            snprintf(err, err_size, "%s's value occurs more than %d times", field, MAX_PLACES);
            return -1;
        }
        at[(*n)++] = (size_t)(q - t->ev);
    }
    return 0;
}

/* Reads an --event FILE into t; 0, or -1 with a message in err. */
static int read_template(const char *path, struct template *t, char *err, size_t err_size)
{
    int rc = -1;
    FILE *fp = fopen(path, "rb");
    if (fp == NULL) {
        snprintf(err, err_size, "%s: %s", path, strerror(errno));
        goto out;
    }
    size_t cap = 4096;
    t->ev = xmalloc(cap);
    t->len = 0;
    size_t got;
    while ((got = fread(t->ev + t->len, 1, cap - t->len - 1, fp)) > 0) {
        t->len += got;
        if (t->len + 1 == cap) {
            if (cap >= 16 * 1024 * 1024) {
                snprintf(err, err_size, "%s: larger than 16 MiB", path);
                goto out;
            }
            cap *= 2;
            t->ev = xrealloc(t->ev, cap);
        }
    }
    if (ferror(fp)) {
        snprintf(err, err_size, "%s: read error", path);
        goto out;
    }
    while (t->len > 0 && strchr(" \t\r\n", t->ev[t->len - 1]) != NULL) {
        t->len--;
    }
    t->ev[t->len] = '\0';
    if (strlen(t->ev) != t->len) {
        snprintf(err, err_size, "%s: holds a NUL byte", path);
        goto out;
    }
    if (find_places(t, "eventId", t->id_at, &t->n_id, err, err_size) != 0 ||
        find_places(t, "accountId", t->account_at, &t->n_account, err, err_size) != 0) {
        goto out;
    }
    rc = 0;
out:
    if (fp != NULL) {
        fclose(fp);
    }
    return rc;
}

/* Writes one event with pad padding bytes into buf, which holds at least
 * EVENT_BARE_MAX + pad bytes; returns its length. */
static size_t build_event(char *buf, const char *event_id, const char *account, size_t pad)
{
    size_t n = 0;
#define PUT(s, len)                                                                                \
    do {                                                                                           \
        memcpy(buf + n, (s), (len));                                                               \
        n += (len);                                                                                \
    } while (0)
    PUT(event_head, sizeof(event_head) - 1);
    PUT(event_id, 36);
    PUT(event_mid, sizeof(event_mid) - 1);
    PUT(account, 36);
    PUT(event_tail1, sizeof(event_tail1) - 1);
    if (pad > 0) {
        PUT(pad_open, sizeof(pad_open) - 1);
        memset(buf + n, 'x', pad);
        n += pad;
        PUT(pad_close, sizeof(pad_close) - 1);
    }
    PUT(event_tail2, sizeof(event_tail2) - 1);
#undef PUT
    buf[n] = '\0';
    return n;
}

static void sleep_us(int64_t us)
{
    if (us <= 0) {
        return;
    }
    struct timespec ts = {(time_t)(us / 1000000), (long)(us % 1000000) * 1000};
    nanosleep(&ts, NULL);
}

/* Produces one record, serving delivery reports while the queue is full.
 * Returns 0, or -1 on an error other than a full queue. */
static int produce_one(rd_kafka_t *rk, const char *topic, char *value, size_t len, const char *key)
{
    for (;;) {
        rd_kafka_resp_err_t err = rd_kafka_producev(
            rk, RD_KAFKA_V_TOPIC(topic), RD_KAFKA_V_KEY(key, 36), RD_KAFKA_V_VALUE(value, len),
            RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_END);
        if (err == RD_KAFKA_RESP_ERR_NO_ERROR) {
            return 0;
        }
        if (err != RD_KAFKA_RESP_ERR__QUEUE_FULL) {
            fprintf(stderr, "loadgen: produce: %s\n", rd_kafka_err2str(err));
            return -1;
        }
        rd_kafka_poll(rk, 10);
    }
}

/* Prints records and bytes per partition and the log start offsets. */
static void report_partitions(rd_kafka_t *rk, const char *topic, const struct stats *st)
{
    const struct rd_kafka_metadata *md = NULL;
    rd_kafka_topic_t *rkt = rd_kafka_topic_new(rk, topic, NULL);
    int n_parts = 0;
    if (rkt != NULL && rd_kafka_metadata(rk, 0, rkt, &md, 5000) == RD_KAFKA_RESP_ERR_NO_ERROR &&
        md->topic_cnt == 1) {
        n_parts = md->topics[0].partition_cnt;
    }
    if (md != NULL) {
        rd_kafka_metadata_destroy(md);
    }
    if (rkt != NULL) {
        rd_kafka_topic_destroy(rkt);
    }
    if (n_parts > MAX_PARTITIONS) {
        n_parts = MAX_PARTITIONS;
    }
    long long min_rec = -1, max_rec = 0, max_bytes = 0;
    int64_t start_max = 0;
    int used = 0, unknown = 0;
    for (int p = 0; p < n_parts; p++) {
        long long r = st->part_records[p];
        used += r > 0;
        if (min_rec < 0 || r < min_rec) {
            min_rec = r;
        }
        if (r > max_rec) {
            max_rec = r;
        }
        if (st->part_bytes[p] > max_bytes) {
            max_bytes = st->part_bytes[p];
        }
        int64_t lo = -1, hi = -1;
        if (rd_kafka_query_watermark_offsets(rk, topic, p, &lo, &hi, 5000) !=
            RD_KAFKA_RESP_ERR_NO_ERROR) {
            unknown++;
            continue;
        }
        if (lo > start_max) {
            start_max = lo;
        }
    }
    printf("loadgen: %d partitions (%d used): records per partition min %lld max %lld; "
           "largest partition %.2f MiB of records; highest log start offset %" PRId64 "%s\n",
           n_parts, used, min_rec < 0 ? 0 : min_rec, max_rec, (double)max_bytes / 1048576.0,
           start_max, start_max > 0 ? " (the cluster DROPPED records)" : " (nothing dropped)");
    printf("partitions=%d partitions_used=%d max_partition_records=%lld "
           "max_partition_bytes=%lld log_start_max=%" PRId64 " watermarks_unknown=%d\n",
           n_parts, used, max_rec, max_bytes, start_max, unknown);
}

int main(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"bootstrap", required_argument, NULL, 'b'},
        {"topic", required_argument, NULL, 't'},
        {"count", required_argument, NULL, 'n'},
        {"rate", required_argument, NULL, 'r'},
        {"size", required_argument, NULL, 's'},
        {"accounts", required_argument, NULL, 'a'},
        {"event", required_argument, NULL, 'e'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *bootstrap = NULL, *topic = NULL, *event_file = NULL;
    const char *props[MAX_PROPS];
    int n_props = 0;
    long long count = -1, rate = 0, size = 500, accounts = 1;
    int ch;
    while ((ch = getopt_long(argc, argv, "b:t:n:r:s:a:e:X:h", longopts, NULL)) != -1) {
        switch (ch) {
        case 'b':
            bootstrap = optarg;
            break;
        case 't':
            topic = optarg;
            break;
        case 'n':
            if (parse_long(optarg, 0, 1000000000LL, &count) != 0) {
                fprintf(stderr, "loadgen: --count must be 0 to 1000000000\n");
                return 2;
            }
            break;
        case 'r':
            if (parse_long(optarg, 1, 10000000LL, &rate) != 0) {
                fprintf(stderr, "loadgen: --rate must be 1 to 10000000 events/s\n");
                return 2;
            }
            break;
        case 's':
            if (parse_long(optarg, 1, 16 * 1024 * 1024, &size) != 0) {
                fprintf(stderr, "loadgen: --size must be 1 to 16777216 bytes\n");
                return 2;
            }
            break;
        case 'a':
            if (parse_long(optarg, 1, 1000000000LL, &accounts) != 0) {
                fprintf(stderr, "loadgen: --accounts must be 1 to 1000000000\n");
                return 2;
            }
            break;
        case 'e':
            event_file = optarg;
            break;
        case 'X':
            if (strchr(optarg, '=') == NULL || n_props == MAX_PROPS) {
                fprintf(stderr, "loadgen: -X takes name=value (at most %d)\n", MAX_PROPS);
                return 2;
            }
            props[n_props++] = optarg;
            break;
        case 'h':
            usage(stdout);
            return 0;
        default:
            usage(stderr);
            return 2;
        }
    }
    if (bootstrap == NULL || topic == NULL || count < 0 || optind < argc) {
        usage(stderr);
        return 2;
    }

    /* The event's length without padding, then the padding to reach size. */
    char id[UTIL_UUID_LEN], account[UTIL_UUID_LEN];
    util_uuid4(id);
    account_id(account, sizeof(account), 0, accounts);
    struct template tpl = {0};
    char *value;
    size_t ev_len;
    if (event_file != NULL) {
        char err[512];
        if (read_template(event_file, &tpl, err, sizeof(err)) != 0) {
            fprintf(stderr, "loadgen: --event %s\n", err);
            free(tpl.ev);
            return 2;
        }
        value = tpl.ev;
        ev_len = tpl.len;
    } else {
        value = xmalloc((size_t)size + EVENT_BARE_MAX);
        size_t bare = build_event(value, id, account, 0);
        size_t pad_fixed = sizeof(pad_open) - 1 + sizeof(pad_close) - 1;
        size_t pad = (size_t)size > bare + pad_fixed ? (size_t)size - bare - pad_fixed : 0;
        ev_len = build_event(value, id, account, pad);
    }

    struct stats *st = xcalloc(1, sizeof(*st));
    char errstr[512];
    rd_kafka_conf_t *kconf = rd_kafka_conf_new();
    if (rd_kafka_conf_set(kconf, "bootstrap.servers", bootstrap, errstr, sizeof(errstr)) !=
            RD_KAFKA_CONF_OK ||
        rd_kafka_conf_set(kconf, "client.id", "loadgen", errstr, sizeof(errstr)) !=
            RD_KAFKA_CONF_OK) {
        fprintf(stderr, "loadgen: %s\n", errstr);
        return 1;
    }
    for (int i = 0; i < n_props; i++) {
        char *name = xstrndup(props[i], (size_t)(strchr(props[i], '=') - props[i]));
        rd_kafka_conf_res_t res =
            rd_kafka_conf_set(kconf, name, strchr(props[i], '=') + 1, errstr, sizeof(errstr));
        free(name);
        if (res != RD_KAFKA_CONF_OK) {
            fprintf(stderr, "loadgen: -X %s: %s\n", props[i], errstr);
            rd_kafka_conf_destroy(kconf);
            return 2;
        }
    }
    rd_kafka_conf_set_dr_msg_cb(kconf, dr_cb);
    rd_kafka_conf_set_opaque(kconf, st);
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_PRODUCER, kconf, errstr, sizeof(errstr));
    if (rk == NULL) {
        fprintf(stderr, "loadgen: %s\n", errstr);
        rd_kafka_conf_destroy(kconf);
        return 1;
    }

    int64_t t0 = util_mono_us();
    long long sent = 0;
    int rc = 0;
    while (sent < count && rc == 0) {
        long long due = count;
        if (rate > 0) {
            /* The events due by now; a batch every millisecond at most. */
            due = (long long)((double)(util_mono_us() - t0) * (double)rate / 1e6) + 1;
            if (due > count) {
                due = count;
            }
        }
        while (sent < due) {
            util_uuid4(id);
            account_id(account, sizeof(account), sent % accounts, accounts);
            /* eventId and accountId have fixed lengths and places. */
            if (event_file != NULL) {
                for (int i = 0; i < tpl.n_id; i++) {
                    memcpy(value + tpl.id_at[i], id, 36);
                }
                for (int i = 0; i < tpl.n_account; i++) {
                    memcpy(value + tpl.account_at[i], account, 36);
                }
            } else {
                memcpy(value + sizeof(event_head) - 1, id, 36);
                memcpy(value + sizeof(event_head) - 1 + 36 + sizeof(event_mid) - 1, account, 36);
            }
            if (produce_one(rk, topic, value, ev_len, account) != 0) {
                rc = 1;
                break;
            }
            sent++;
        }
        rd_kafka_poll(rk, 0);
        if (rate > 0 && sent < count) {
            int64_t next = t0 + (int64_t)((double)sent * 1e6 / (double)rate);
            int64_t wait = next - util_mono_us();
            sleep_us(wait < 1000 ? wait : 1000);
        }
    }
    int64_t t_sent = util_mono_us();
    rd_kafka_resp_err_t ferr = rd_kafka_flush(rk, FLUSH_TIMEOUT_MS);
    int64_t t1 = util_mono_us();
    if (ferr != RD_KAFKA_RESP_ERR_NO_ERROR) {
        fprintf(stderr, "loadgen: flush: %s: %d records unacknowledged after %d ms\n",
                rd_kafka_err2str(ferr), rd_kafka_outq_len(rk), FLUSH_TIMEOUT_MS);
        rc = 1;
    }
    double secs = (double)(t1 - t0) / 1e6;
    printf("loadgen: produced %lld of %lld events (%zu bytes each) to %s in %.3f s "
           "(%.0f events/s; %.3f s producing, %.3f s flushing), %lld failed\n",
           st->ok, count, ev_len, topic, secs, secs > 0 ? (double)st->ok / secs : 0.0,
           (double)(t_sent - t0) / 1e6, (double)(t1 - t_sent) / 1e6, st->failed);
    printf("produced=%lld failed=%lld elapsed_ms=%.1f event_bytes=%zu accounts=%lld\n", st->ok,
           st->failed, (double)(t1 - t0) / 1e3, ev_len, accounts);
    if (st->failed > 0) {
        fprintf(stderr, "loadgen: %lld deliveries failed, the first: %s\n", st->failed,
                st->first_error);
        rc = 1;
    }
    if (st->ok + st->failed != sent && rc == 0) {
        fprintf(stderr, "loadgen: %lld events sent but %lld reports received\n", sent,
                st->ok + st->failed);
        rc = 1;
    }
    if (count > 0) {
        report_partitions(rk, topic, st);
    }
    rd_kafka_destroy(rk);
    free(st);
    free(value);
    return rc;
}
