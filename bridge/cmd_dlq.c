/*
 * cmd_dlq: `webhook-bridge dlq list|show|stats|replay`, the dead-letter
 * tool.  Every subcommand reads the dead-letter topic with scan.c (no
 * group, nothing committed, bounded in time and records, and it says how
 * far it read), selects records with the same filters, and either prints
 * them or, for replay, produces them back: a delivery as a new delivery
 * with a fresh window on <delay prefix>-0s (due at once, which every
 * running bridge consumes), keeping its eventId and its attempt history and
 * naming the dead letter it came from in "replayedFrom"; an invalid event,
 * once it validates, to the events topic.
 *
 * Threads: main.
 */
#include "cmd_dlq.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>
#include <openssl/evp.h>

#include "cli.h"
#include "conf.h"
#include "delivery.h"
#include "event.h"
#include "scan.h"
#include "schedule.h"

#define DEFAULT_SINCE "168h"
#define MAX_IDS 256
#define REPLAY_MAX 100000 /* dead letters one replay may take */

static void usage(FILE *fp)
{
    fprintf(fp, "usage: webhook-bridge dlq list   [-c FILE] [filters] [--limit N] [--json]\n"
                "       webhook-bridge dlq show   [-c FILE] ID...\n"
                "       webhook-bridge dlq stats  [-c FILE] [filters]\n"
                "       webhook-bridge dlq replay [-c FILE] (ID... | filters) [--dry-run] [--yes]\n"
                "                                 [--rate N]\n"
                "\n"
                "filters: --account UUID  --endpoint ID  --event-type TYPE  --reason REASON\n"
                "         --since TIME  --until TIME      (RFC 3339, or a duration before now\n"
                "         such as 2h; default --since " DEFAULT_SINCE ")\n"
                "ID: a deliveryId or an eventId (an event to several endpoints has one dead\n"
                "letter per endpoint), or the dead letter's TOPIC:PARTITION:OFFSET as the\n"
                "listing shows it (the only ID of an invalid record's dead letter).\n"
                "\n"
                "  list    the dead letters, oldest first: a table (time, reason, event type,\n"
                "          account, endpoint, attempts, last status, delivery), or one JSON\n"
                "          object per line with --json; the newest --limit (default 1000)\n"
                "  show    each matching dead letter in full, with its attempt history\n"
                "  stats   counts by reason, endpoint, account and last status\n"
                "  replay  puts the matching dead letters back: a delivery becomes a new\n"
                "          delivery (new deliveryId, same eventId, so receivers dedupe it;\n"
                "          the old attempts kept; a fresh retry window) on the topic of\n"
                "          deliveries due at once, <kafka.topics.delay>-0s, which running\n"
                "          bridges deliver from at once; it carries \"replayedFrom\":\n"
                "          \"<topic>:<partition>:<offset>\" of its dead letter.  An invalid_event\n"
                "          is validated again and, if it now passes, produced to the events\n"
                "          topic; if not, refused with the same error.  More than one match\n"
                "          needs --yes (or an answer at the prompt); --dry-run only prints;\n"
                "          --rate N caps records per second (default 100, 0: no cap) so that\n"
                "          a customer who just recovered is not flooded.  Replaying the same\n"
                "          dead letter twice replays it twice.\n"
                "\n"
                "Reads --max-records (default 100000) per partition at most when the cluster\n"
                "gives no offset for --since, and says how far it read.  Tools use\n"
                "kafka.brokers or WEBHOOK_BRIDGE_BROKERS, never \"embedded\".\n"
                "Exit codes: 0 ok, 1 nothing matched or the operation failed, 2 bad usage or\n"
                "config.\n");
}

struct filters {
    const char *account, *endpoint, *event_type, *reason;
    const char *ids[MAX_IDS];
    int n_ids;
};

/* One dead letter read from the topic. */
struct entry {
    struct cmd_dlq_record r;
    int32_t partition;
    int64_t offset;
    int64_t ts;
    char *key; /* the record's key (an invalid event's original key) */
    size_t key_len;
    char *value; /* the record's bytes (replay only: the event inside, byte for byte) */
    size_t value_len;
};

struct selection {
    const struct filters *f;
    struct entry *v; /* the newest `cap` matches, oldest first once sorted */
    size_t n, cap, start;
    long matched;
    long unreadable;     /* records that are not a JSON object, listed as such */
    int list_unreadable; /* list and stats: unreadable records are entries */
    const char *topic;   /* for messages */
    json_t *stats;       /* for stats: {"reason": {...}, ...} */
    int keep_value;      /* replay */
};

static const char *str(json_t *obj, const char *key)
{
    return json_string_value(json_object_get(obj, key));
}

/* obj[key] is the string want, all of it (a value holding \u0000 is not
 * equal to its first part). */
static int field_is(json_t *obj, const char *key, const char *want)
{
    json_t *v = json_object_get(obj, key);
    return json_is_string(v) && json_string_length(v) == strlen(want) &&
           memcmp(json_string_value(v), want, json_string_length(v)) == 0;
}

/* The dead letter's own reference, "<topic>:<partition>:<offset>", as the
 * listing shows it: the ID of a dead letter that has no deliveryId (an
 * invalid record). */
static int is_ref(const char *id, const char *topic, int32_t partition, int64_t offset)
{
    char ref[400];
    snprintf(ref, sizeof(ref), "%s:%d:%lld", topic, (int)partition, (long long)offset);
    return strcmp(id, ref) == 0;
}

static int matches(const struct filters *f, json_t *rec, const char *topic, int32_t partition,
                   int64_t offset)
{
    if (f->reason != NULL && !field_is(rec, "reason", f->reason)) {
        return 0;
    }
    if (f->account != NULL &&
        (str(rec, "accountId") == NULL || strcasecmp(str(rec, "accountId"), f->account) != 0 ||
         json_string_length(json_object_get(rec, "accountId")) != strlen(f->account))) {
        return 0;
    }
    if (f->endpoint != NULL && !field_is(rec, "endpointId", f->endpoint)) {
        return 0;
    }
    if (f->event_type != NULL && !field_is(rec, "eventType", f->event_type)) {
        return 0;
    }
    if (f->n_ids > 0) {
        for (int i = 0; i < f->n_ids; i++) {
            if (field_is(rec, "deliveryId", f->ids[i]) || field_is(rec, "eventId", f->ids[i]) ||
                is_ref(f->ids[i], topic, partition, offset)) {
                return 1;
            }
        }
        return 0;
    }
    return 1;
}

/* The last attempt's status or error (up to its first ':'), short. */
static void last_result(json_t *rec, char *buf, size_t size)
{
    json_t *attempts = json_object_get(rec, "attempts");
    json_t *last = json_array_get(attempts, json_array_size(attempts) - 1);
    json_t *status = json_object_get(last, "status");
    json_t *error = json_object_get(last, "error");
    if (json_is_integer(status)) {
        snprintf(buf, size, "%lld", (long long)json_integer_value(status));
    } else if (json_is_string(error)) {
        const char *e = json_string_value(error);
        const char *colon = memchr(e, ':', json_string_length(error));
        size_t n = colon != NULL ? (size_t)(colon - e) : json_string_length(error);
        char *p = cli_printable(e, n, size - 1, "-");
        snprintf(buf, size, "%s", n > 0 ? p : "-");
        free(p);
    } else {
        snprintf(buf, size, "-");
    }
}

static char *shown(json_t *rec, const char *key)
{
    json_t *v = json_object_get(rec, key);
    if (!json_is_string(v) || json_string_length(v) == 0) {
        return xstrdup("-"); /* never an empty column */
    }
    return cli_printable(json_string_value(v), json_string_length(v), 1024, "-");
}

int cmd_dlq_record_parse(struct cmd_dlq_record *r, const void *value, size_t len)
{
    memset(r, 0, sizeof(*r));
    r->rec = cli_record_load(value, len, r->why, sizeof(r->why));
    r->time = shown(r->rec, "deadLetteredAt");
    r->reason = shown(r->rec, "reason");
    r->event_type = shown(r->rec, "eventType");
    r->account_id = shown(r->rec, "accountId");
    r->endpoint_id = shown(r->rec, "endpointId");
    r->delivery_id = shown(r->rec, "deliveryId");
    r->n_attempts = json_array_size(json_object_get(r->rec, "attempts"));
    last_result(r->rec, r->last, sizeof(r->last));
    return r->rec != NULL ? 0 : -1;
}

void cmd_dlq_record_deinit(struct cmd_dlq_record *r)
{
    json_decref(r->rec);
    free(r->time);
    free(r->reason);
    free(r->event_type);
    free(r->account_id);
    free(r->endpoint_id);
    free(r->delivery_id);
    memset(r, 0, sizeof(*r));
}

static void count(json_t *stats, const char *group, const char *key)
{
    if (strcmp(key, "-") == 0) {
        key = "(none)";
    }
    json_t *g = json_object_get(stats, group);
    json_t *c = json_object_get(g, key);
    json_object_set_new(g, key, json_integer(c != NULL ? json_integer_value(c) + 1 : 1));
}

static void entry_free(struct entry *e)
{
    cmd_dlq_record_deinit(&e->r);
    free(e->key);
    free(e->value);
}

static int on_record(const rd_kafka_message_t *rkm, void *arg)
{
    struct selection *s = arg;
    struct entry e;
    memset(&e, 0, sizeof(e));
    if (cmd_dlq_record_parse(&e.r, rkm->payload, rkm->len) != 0) {
        /* Never dropped silently: listed and counted by list and stats,
         * reported by show and replay. */
        s->unreadable++;
        if (!s->list_unreadable) {
            fprintf(stderr, "dlq: unreadable record at %s:%d:%lld: %s\n", s->topic,
                    (int)rkm->partition, (long long)rkm->offset, e.r.why);
            cmd_dlq_record_deinit(&e.r);
            return 0;
        }
    } else if (!matches(s->f, e.r.rec, s->topic, rkm->partition, rkm->offset)) {
        cmd_dlq_record_deinit(&e.r);
        return 0;
    }
    s->matched++;
    if (s->stats != NULL) {
        count(s->stats, "reason", e.r.rec != NULL ? e.r.reason : "(unreadable)");
        count(s->stats, "endpoint", e.r.endpoint_id);
        count(s->stats, "account", e.r.account_id);
        count(s->stats, "last status", e.r.last);
        cmd_dlq_record_deinit(&e.r);
        return 0;
    }
    rd_kafka_timestamp_type_t tstype;
    e.partition = rkm->partition;
    e.offset = rkm->offset;
    e.ts = rd_kafka_message_timestamp(rkm, &tstype);
    e.key = NULL;
    e.key_len = rkm->key != NULL ? rkm->key_len : 0;
    if (rkm->key != NULL) {
        e.key = xmalloc(rkm->key_len + 1);
        memcpy(e.key, rkm->key, rkm->key_len); /* bytes, NUL included */
        e.key[rkm->key_len] = '\0';
    }
    e.value = NULL;
    e.value_len = 0;
    if (s->keep_value) {
        e.value = xmalloc(rkm->len + 1);
        memcpy(e.value, rkm->payload, rkm->len);
        e.value[rkm->len] = '\0';
        e.value_len = rkm->len;
    }
    if (s->n < s->cap) {
        s->v[s->n++] = e;
    } else {
        /* Full: keep the newest (a ring over the oldest). */
        entry_free(&s->v[s->start]);
        s->v[s->start] = e;
        s->start = (s->start + 1) % s->cap;
    }
    return 0;
}

static int by_time(const void *a, const void *b)
{
    const struct entry *x = a, *y = b;
    return x->ts < y->ts ? -1 : x->ts > y->ts ? 1 : (x->offset < y->offset ? -1 : 1);
}

/* Reads the dead-letter topic into s.  0, or 1 with the error printed. */
static int read_topic(const struct conf *conf, const char *what, const struct scan_opts *o,
                      struct selection *s)
{
    char bootstrap[1024], errstr[512];
    if (cli_bootstrap(conf, bootstrap, sizeof(bootstrap), errstr, sizeof(errstr)) != 0) {
        fprintf(stderr, "dlq %s: %s\n", what, errstr);
        return 2;
    }
    struct scan_report rep;
    if (scan_topic(conf, bootstrap, o, on_record, s, &rep, errstr, sizeof(errstr)) != 0) {
        fprintf(stderr, "dlq %s: %s\n", what, errstr);
        return 1;
    }
    scan_report_print(o, &rep, stderr);
    qsort(s->v, s->n, sizeof(*s->v), by_time);
    return 0;
}

static void dl_ref(const struct conf *conf, const struct entry *e, char *buf, size_t size)
{
    snprintf(buf, size, "%s:%d:%lld", conf->kafka.dead_letter_topic, (int)e->partition,
             (long long)e->offset);
}

/* ---- list, show, stats ------------------------------------------------ */

static void print_list(const struct conf *conf, const struct selection *s, int json)
{
    if (json) {
        for (size_t i = 0; i < s->n; i++) {
            const struct cmd_dlq_record *r = &s->v[i].r;
            json_t *copy =
                r->rec != NULL ? json_deep_copy(r->rec) : json_pack("{s:s}", "unreadable", r->why);
            json_t *where =
                json_pack("{s:s, s:i, s:I}", "topic", conf->kafka.dead_letter_topic, "partition",
                          (int)s->v[i].partition, "offset", (json_int_t)s->v[i].offset);
            char *text = NULL;
            if (copy != NULL && where != NULL) {
                json_object_set_new(copy, "deadLetter", where);
                where = NULL;
                text = json_dumps(copy, JSON_COMPACT | JSON_PRESERVE_ORDER);
            }
            if (text == NULL) {
                fprintf(stderr, "dlq list: cannot print %s:%d:%lld as JSON\n",
                        conf->kafka.dead_letter_topic, (int)s->v[i].partition,
                        (long long)s->v[i].offset);
            } else {
                puts(text);
            }
            free(text);
            json_decref(where);
            json_decref(copy);
        }
        return;
    }
    printf("%-24s  %-20s  %-11s  %-36s  %-16s  %-8s  %-10s  %s\n", "TIME", "REASON", "TYPE",
           "ACCOUNT", "ENDPOINT", "ATTEMPTS", "LAST", "DELIVERY");
    for (size_t i = 0; i < s->n; i++) {
        const struct cmd_dlq_record *r = &s->v[i].r;
        char ref[300];
        const char *id = r->delivery_id;
        if (r->rec == NULL || strcmp(id, "-") == 0) {
            dl_ref(conf, &s->v[i], ref, sizeof(ref));
            id = ref;
        }
        printf("%-24s  %-20s  %-11.11s  %-36.36s  %-16.16s  %-8zu  %-10.10s  %s\n", r->time,
               r->rec != NULL ? r->reason : "(unreadable)", r->event_type, r->account_id,
               r->endpoint_id, r->n_attempts, r->last, id);
    }
}

/* Prints obj[key] as text, control bytes and NUL shown as '?'. */
static void print_field(json_t *obj, const char *key, size_t max, const char *dflt)
{
    json_t *v = json_object_get(obj, key);
    char *p = cli_printable(json_string_value(v), json_string_length(v), max, dflt);
    fputs(p, stdout);
    free(p);
}

static void print_show(const struct conf *conf, const struct selection *s)
{
    for (size_t i = 0; i < s->n; i++) {
        json_t *r = s->v[i].r.rec;
        char ref[300];
        dl_ref(conf, &s->v[i], ref, sizeof(ref));
        printf("== dead letter %s\n", ref);
        char *text = json_dumps(r, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
        printf("%s\n", text != NULL ? text : "{}");
        free(text);
        json_t *attempts = json_object_get(r, "attempts");
        if (json_array_size(attempts) > 0) {
            printf("history (%zu attempts):\n", json_array_size(attempts));
            size_t k;
            json_t *a;
            json_array_foreach(attempts, k, a)
            {
                json_t *st = json_object_get(a, "status");
                json_t *err = json_object_get(a, "error");
                char *at = cli_printable(str(a, "at"), json_string_length(json_object_get(a, "at")),
                                         64, "-");
                char *result =
                    json_is_integer(st)
                        ? NULL
                        : cli_printable(json_string_value(err), json_string_length(err), 250, "-");
                printf("  #%-3lld %-24s ",
                       (long long)json_integer_value(json_object_get(a, "attempt")), at);
                if (result != NULL) {
                    printf("%-40s", result);
                } else {
                    printf("%-40lld", (long long)json_integer_value(st));
                }
                printf(" %lld ms\n",
                       (long long)json_integer_value(json_object_get(a, "durationMs")));
                free(result);
                free(at);
            }
        }
        if (field_is(r, "reason", "invalid_event")) {
            printf("invalid event: ");
            print_field(r, "error", 1024, "?");
            printf("\n");
        }
        printf("\n");
    }
}

struct kv {
    const char *key;
    json_int_t n;
};

static int by_count(const void *a, const void *b)
{
    const struct kv *x = a, *y = b;
    return x->n < y->n ? 1 : x->n > y->n ? -1 : strcmp(x->key, y->key);
}

static void print_stats(json_t *stats, long matched)
{
    printf("%ld dead letter(s)\n", matched);
    const char *groups[] = {"reason", "endpoint", "account", "last status"};
    for (size_t g = 0; g < WB_ARRAY_LEN(groups); g++) {
        json_t *obj = json_object_get(stats, groups[g]);
        size_t n = json_object_size(obj);
        struct kv *v = xcalloc(n + 1, sizeof(*v));
        size_t i = 0;
        const char *k;
        json_t *c;
        json_object_foreach(obj, k, c)
        {
            v[i].key = k;
            v[i].n = json_integer_value(c);
            i++;
        }
        qsort(v, n, sizeof(*v), by_count);
        printf("by %s:\n", groups[g]);
        for (i = 0; i < n && i < 20; i++) {
            printf("  %8lld  %s\n", (long long)v[i].n, v[i].key);
        }
        if (n > 20) {
            printf("  ... %zu more\n", n - 20);
        }
        free(v);
    }
}

/* ---- replay ------------------------------------------------------------ */

struct replay_ctx {
    long failed;
};

static void on_failure(void *record, const char *error, void *arg)
{
    struct replay_ctx *ctx = arg;
    (void)record;
    ctx->failed++;
    fprintf(stderr, "a replayed record was not acknowledged: %s\n", error);
}

static int confirm(long n)
{
    if (!isatty(STDIN_FILENO)) {
        return 0;
    }
    fprintf(stderr, "replay %ld dead letters? [y/N] ", n);
    char line[16];
    if (fgets(line, sizeof(line), stdin) == NULL) {
        return 0;
    }
    return line[0] == 'y' || line[0] == 'Y';
}

char *cmd_dlq_raw_event(const struct cmd_dlq_record *r, size_t *len)
{
    json_t *raw = json_object_get(r->rec, "raw");
    if (json_is_string(raw)) {
        /* Any bytes, NUL included: the length, never strlen. */
        *len = json_string_length(raw);
        char *out = xmalloc(*len + 1);
        memcpy(out, json_string_value(raw), *len + 1);
        return out;
    }
    json_t *b64v = json_object_get(r->rec, "rawBase64");
    if (!json_is_string(b64v)) {
        return NULL;
    }
    const char *b64 = json_string_value(b64v);
    size_t blen = json_string_length(b64v);
    static const char alphabet[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    /* Strict base64 only: '=' only as the last one or two characters
     * (EVP_DecodeBlock also takes blanks and inner padding, which would
     * make the count below wrong), and nothing past a NUL. */
    size_t pad = blen >= 2 ? (size_t)(b64[blen - 1] == '=') + (size_t)(b64[blen - 2] == '=') : 0;
    if (blen % 4 != 0 || strspn(b64, alphabet) != blen - pad) {
        return NULL;
    }
    char *out = xmalloc(blen / 4 * 3 + 4);
    int n = EVP_DecodeBlock((unsigned char *)out, (const unsigned char *)b64, (int)blen);
    if (n < 0 || (size_t)n < pad) {
        free(out);
        return NULL;
    }
    *len = (size_t)n - pad;
    out[*len] = '\0';
    return out;
}

static int replay(const struct conf *conf, struct selection *s, int dry_run, int yes, long rate)
{
    char bootstrap[1024], errstr[1024], topic0[300], ref[300];
    struct replay_ctx ctx = {0};
    struct cli_producer *p = NULL;
    int refused = 0;
    long replayed = 0;

    if (s->n == 0) {
        fprintf(stderr, "dlq replay: no dead letter matched\n");
        return 1;
    }
    if ((long)s->n < s->matched) {
        fprintf(stderr,
                "dlq replay: %ld matched, more than the %d one replay takes: narrow the "
                "filters\n",
                s->matched, REPLAY_MAX);
        return 1;
    }
    if (s->n > 1 && !yes && !dry_run && !confirm((long)s->n)) {
        fprintf(stderr,
                "dlq replay: %zu dead letters match: add --yes to replay them all (or "
                "--dry-run to see them)\n",
                s->n);
        return 2;
    }
    schedule_topic_name(conf->kafka.delay_prefix, 0, topic0, sizeof(topic0));
    if (!dry_run) {
        if (cli_bootstrap(conf, bootstrap, sizeof(bootstrap), errstr, sizeof(errstr)) != 0) {
            fprintf(stderr, "dlq replay: %s\n", errstr);
            return 2;
        }
        p = cli_producer_new(conf, bootstrap, on_failure, &ctx, errstr, sizeof(errstr));
        if (p == NULL) {
            fprintf(stderr, "dlq replay: %s\n", errstr);
            return 1;
        }
    }
    int64_t started = util_mono_ms();
    for (size_t i = 0; i < s->n; i++) {
        struct entry *e = &s->v[i];
        dl_ref(conf, e, ref, sizeof(ref));
        if (rate > 0 && i > 0) {
            /* Record i goes out no earlier than i / rate seconds in. */
            int64_t due = started + (int64_t)i * 1000 / rate;
            int64_t wait = due - util_mono_ms();
            if (wait > 0) {
                struct timespec ts = {(time_t)(wait / 1000), (long)(wait % 1000) * 1000000L};
                nanosleep(&ts, NULL);
            }
        }
        if (json_is_true(json_object_get(e->r.rec, "rawTruncated"))) {
            /* The compact form keeps the first bytes only (docs/records.md):
             * replaying them would post or produce a cut event. */
            json_t *src = json_object_get(e->r.rec, "source");
            char *topic = shown(src, "topic");
            fprintf(stderr,
                    "refused %s: the dead letter holds only the first bytes of its record "
                    "(rawTruncated); take the record from %s:%lld:%lld\n",
                    ref, topic, (long long)json_integer_value(json_object_get(src, "partition")),
                    (long long)json_integer_value(json_object_get(src, "offset")));
            free(topic);
            refused++;
            continue;
        }
        if (field_is(e->r.rec, "reason", "invalid_event")) {
            size_t len = 0;
            char *raw = cmd_dlq_raw_event(&e->r, &len);
            struct event ev;
            if (raw == NULL || event_parse(&ev, raw, len, (size_t)conf->delivery.max_event_bytes,
                                           errstr, sizeof(errstr)) != 0) {
                fprintf(stderr, "refused %s: the event is still invalid: %s\n", ref,
                        raw == NULL ? "no raw bytes in the dead letter" : errstr);
                free(raw);
                refused++;
                continue;
            }
            if (p != NULL && cli_produce(p, conf->kafka.events_topic, e->key, e->key_len, raw, len,
                                         NULL, errstr, sizeof(errstr)) != 0) {
                fprintf(stderr, "dlq replay: %s: %s\n", ref, errstr);
                ctx.failed++;
            } else {
                printf("%s %s as an event to %s\n", dry_run ? "would replay" : "replayed", ref,
                       conf->kafka.events_topic);
                replayed++;
            }
            free(raw);
            continue;
        }
        /* From the record's own bytes: the event goes back byte for byte. */
        struct delivery *dl = delivery_from_record(e->value, e->value_len, errstr, sizeof(errstr));
        if (dl == NULL) {
            fprintf(stderr, "refused %s: not a delivery record: %s\n", ref, errstr);
            refused++;
            continue;
        }
        util_uuid4(dl->id); /* a new delivery */
        int64_t now = util_now_ms();
        dl->first_attempt_ms = now; /* a fresh window */
        dl->due_ms = now;
        dl->deferrals = 0;
        free(dl->replayed_from);
        dl->replayed_from = xstrdup(ref);
        size_t len = 0;
        char *record = delivery_to_record(dl, &len);
        char due[24];
        snprintf(due, sizeof(due), "%lld", (long long)now);
        if (p != NULL) {
            if (cli_produce_with_header(p, topic0, dl->endpoint_id, strlen(dl->endpoint_id), record,
                                        len, "due-at", due, errstr, sizeof(errstr)) != 0) {
                fprintf(stderr, "dlq replay: %s: %s\n", ref, errstr);
                ctx.failed++;
            } else {
                replayed++;
            }
        } else {
            replayed++;
        }
        printf("%s %s (event %s to %s, %zu earlier attempts) as delivery %s on %s\n",
               dry_run ? "would replay" : "replayed", ref, dl->event_id, dl->endpoint_id,
               dl->n_attempts, dl->id, topic0);
        free(record);
        delivery_destroy(dl);
    }
    if (p != NULL) {
        long failed_later = cli_producer_flush(p, 30000);
        replayed -= failed_later;
        cli_producer_destroy(p);
    }
    fprintf(stderr, "%s %ld, refused %d, failed %ld\n", dry_run ? "would replay" : "replayed",
            replayed, refused, ctx.failed);
    return refused == 0 && ctx.failed == 0 ? 0 : 1;
}

/* ---- command line ------------------------------------------------------ */

int cmd_dlq_main(int argc, char **argv)
{
    enum {
        OPT_ACCOUNT = 256,
        OPT_ENDPOINT,
        OPT_TYPE,
        OPT_REASON,
        OPT_SINCE,
        OPT_UNTIL,
        OPT_LIMIT,
        OPT_JSON,
        OPT_DRY_RUN,
        OPT_YES,
        OPT_RATE,
        OPT_MAX,
    };
    static const struct option longopts[] = {
        {"config", required_argument, NULL, 'c'},
        {"account", required_argument, NULL, OPT_ACCOUNT},
        {"endpoint", required_argument, NULL, OPT_ENDPOINT},
        {"event-type", required_argument, NULL, OPT_TYPE},
        {"reason", required_argument, NULL, OPT_REASON},
        {"since", required_argument, NULL, OPT_SINCE},
        {"until", required_argument, NULL, OPT_UNTIL},
        {"limit", required_argument, NULL, OPT_LIMIT},
        {"json", no_argument, NULL, OPT_JSON},
        {"dry-run", no_argument, NULL, OPT_DRY_RUN},
        {"yes", no_argument, NULL, OPT_YES},
        {"rate", required_argument, NULL, OPT_RATE},
        {"max-records", required_argument, NULL, OPT_MAX},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *path = cli_default_config();
    const char *since_text = DEFAULT_SINCE, *until_text = NULL;
    struct filters f;
    long limit = 1000, rate = 100, max_records = 100000;
    int json = 0, dry_run = 0, yes = 0;
    char errstr[512];

    memset(&f, 0, sizeof(f));
    if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
        usage(argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    const char *sub = argv[1];
    int is_list = strcmp(sub, "list") == 0, is_show = strcmp(sub, "show") == 0;
    int is_stats = strcmp(sub, "stats") == 0, is_replay = strcmp(sub, "replay") == 0;
    if (!is_list && !is_show && !is_stats && !is_replay) {
        fprintf(stderr, "dlq: unknown subcommand '%s' (expected list, show, stats or replay)\n",
                sub);
        return 2;
    }
    optind = 1;
    int ch;
    while ((ch = getopt_long(argc - 1, argv + 1, "c:h", longopts, NULL)) != -1) {
        switch (ch) {
        case 'c':
            path = optarg;
            break;
        case OPT_ACCOUNT:
            f.account = optarg;
            break;
        case OPT_ENDPOINT:
            f.endpoint = optarg;
            break;
        case OPT_TYPE:
            f.event_type = optarg;
            break;
        case OPT_REASON:
            f.reason = optarg;
            break;
        case OPT_SINCE:
            since_text = optarg;
            break;
        case OPT_UNTIL:
            until_text = optarg;
            break;
        case OPT_LIMIT:
        case OPT_RATE:
        case OPT_MAX: {
            char *end = NULL;
            long v = strtol(optarg, &end, 10);
            if (end == optarg || *end != '\0' || v < (ch == OPT_RATE ? 0 : 1)) {
                fprintf(stderr, "dlq: bad number '%s'\n", optarg);
                return 2;
            }
            *(ch == OPT_LIMIT ? &limit : ch == OPT_RATE ? &rate : &max_records) = v;
            break;
        }
        case OPT_JSON:
            json = 1;
            break;
        case OPT_DRY_RUN:
            dry_run = 1;
            break;
        case OPT_YES:
            yes = 1;
            break;
        case 'h':
            usage(stdout);
            return 0;
        default:
            fprintf(stderr, "Try 'webhook-bridge dlq --help'.\n");
            return 2;
        }
    }
    for (int i = optind + 1; i < argc; i++) {
        if (f.n_ids == MAX_IDS) {
            fprintf(stderr, "dlq: at most %d ids\n", MAX_IDS);
            return 2;
        }
        f.ids[f.n_ids++] = argv[i];
    }
    if ((is_list || is_stats) && f.n_ids > 0) {
        fprintf(stderr, "dlq %s: unexpected argument '%s' (use the filters)\n", sub, f.ids[0]);
        return 2;
    }
    if (is_show && f.n_ids == 0) {
        fprintf(stderr, "dlq show: expected a deliveryId or an eventId\n");
        return 2;
    }
    int any_filter =
        f.account != NULL || f.endpoint != NULL || f.event_type != NULL || f.reason != NULL;
    if (is_replay && f.n_ids == 0 && !any_filter) {
        fprintf(stderr, "dlq replay: give dead letter ids or at least one of --account, "
                        "--endpoint, --event-type, --reason\n");
        return 2;
    }
    struct scan_opts o = {0};
    if (scan_parse_time(since_text, &o.since_ms, errstr, sizeof(errstr)) != 0 ||
        (until_text != NULL &&
         scan_parse_time(until_text, &o.until_ms, errstr, sizeof(errstr)) != 0)) {
        fprintf(stderr, "dlq: %s\n", errstr);
        return 2;
    }
    struct conf *conf = NULL;
    int rc = cli_load_conf(path, &conf);
    if (rc != 0) {
        return rc;
    }
    o.topic = conf->kafka.dead_letter_topic;
    o.max_records = max_records;
    o.timeout_ms = 60000;
    struct selection s;
    memset(&s, 0, sizeof(s));
    s.f = &f;
    s.cap = is_list ? (size_t)limit : REPLAY_MAX;
    s.keep_value = is_replay;
    s.list_unreadable = is_list || is_stats;
    s.topic = conf->kafka.dead_letter_topic;
    s.v = xcalloc(s.cap, sizeof(*s.v));
    if (is_stats) {
        s.stats =
            json_pack("{s:{}, s:{}, s:{}, s:{}}", "reason", "endpoint", "account", "last status");
    }
    rc = read_topic(conf, sub, &o, &s);
    if (rc != 0) {
        goto out;
    }
    if (s.matched == 0) {
        fprintf(stderr, "dlq %s: no dead letter matched\n", sub);
        rc = 1;
        goto out;
    }
    if (is_list) {
        print_list(conf, &s, json);
        if (s.matched > (long)s.n) {
            fprintf(stderr, "%ld matched; the newest %zu shown (--limit)\n", s.matched, s.n);
        }
        if (s.unreadable > 0) {
            fprintf(stderr, "%ld record(s) unreadable, listed as (unreadable)\n", s.unreadable);
        }
    } else if (is_show) {
        print_show(conf, &s);
    } else if (is_stats) {
        print_stats(s.stats, s.matched);
    } else {
        rc = replay(conf, &s, dry_run, yes, rate);
    }
out:
    for (size_t i = 0; i < s.n; i++) {
        entry_free(&s.v[i]);
    }
    free(s.v);
    json_decref(s.stats);
    conf_destroy(conf);
    return rc;
}
