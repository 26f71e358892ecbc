/*
 * cmd_attempts: `webhook-bridge attempts EVENT_ID`, every attempt made for
 * one event, per endpoint, oldest first, and each endpoint's latest
 * response, from the attempts topic (kafka.topics.attempts), read within a
 * bounded time range (scan.c).
 *
 * Threads: main.
 */
#include "cmd_attempts.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "cli.h"
#include "conf.h"
#include "scan.h"

static void usage(FILE *fp)
{
    fprintf(fp, "usage: webhook-bridge attempts EVENT_ID [-c FILE] [--endpoint ID] [--since TIME]\n"
                "              [--max-records N] [--json]\n"
                "\n"
                "Every HTTP attempt made for one event (its eventId, the webhook-id receivers\n"
                "see), per endpoint, oldest first: attempt number, time, HTTP status or\n"
                "error, duration; then each endpoint's latest response (its first bytes).\n"
                "Read from the attempts topic (kafka.topics.attempts) from --since (RFC 3339\n"
                "or a duration before now; default 24h) to its end.  Where the cluster gives\n"
                "no offset for that time, the newest --max-records (default 100000) of each\n"
                "partition are read instead, and the tool says so.  --json prints the\n"
                "attempt records themselves, one per line.\n"
                "Exit codes: 0 attempts found, 1 none found or the topic could not be read,\n"
                "2 bad usage or config.\n");
}

struct found {
    const char *event_id;
    const char *endpoint; /* NULL: all */
    const char *topic;    /* for messages */
    struct cmd_attempts_record *v;
    size_t n, cap;
    long unreadable;
};

static char *shown(json_t *rec, const char *key, const char *dflt)
{
    json_t *v = json_object_get(rec, key);
    return cli_printable(json_string_value(v), json_string_length(v), 1024, dflt);
}

int cmd_attempts_record_parse(struct cmd_attempts_record *r, const void *value, size_t len)
{
    memset(r, 0, sizeof(*r));
    r->rec = cli_record_load(value, len, r->why, sizeof(r->why));
    r->endpoint_id = shown(r->rec, "endpointId", "");
    r->endpoint_url = shown(r->rec, "endpointUrl", "");
    r->at = shown(r->rec, "at", "-");
    r->attempt = (long long)json_integer_value(json_object_get(r->rec, "attempt"));
    r->duration_ms = (long long)json_integer_value(json_object_get(r->rec, "durationMs"));
    json_t *status = json_object_get(r->rec, "status");
    char *error =
        json_is_string(json_object_get(r->rec, "error")) ? shown(r->rec, "error", "") : NULL;
    if (json_is_integer(status)) {
        snprintf(r->result, sizeof(r->result), "%lld%s%.200s",
                 (long long)json_integer_value(status), error != NULL ? " " : "",
                 error != NULL ? error : "");
    } else {
        snprintf(r->result, sizeof(r->result), "%.200s", error != NULL ? error : "-");
    }
    free(error);
    json_t *response = json_object_get(r->rec, "response");
    if (json_is_string(response)) {
        r->response_len = json_string_length(response);
        r->response =
            cli_printable(json_string_value(response), r->response_len, CMD_ATTEMPTS_SHOWN, "");
    }
    r->response_binary = json_is_string(json_object_get(r->rec, "responseBase64"));
    return r->rec != NULL ? 0 : -1;
}

void cmd_attempts_record_deinit(struct cmd_attempts_record *r)
{
    json_decref(r->rec);
    free(r->endpoint_id);
    free(r->endpoint_url);
    free(r->at);
    free(r->response);
    memset(r, 0, sizeof(*r));
}

static int on_record(const rd_kafka_message_t *rkm, void *arg)
{
    struct found *f = arg;
    struct cmd_attempts_record r;
    /* Attempt records are keyed by eventId: skip the others unparsed. */
    size_t idlen = strlen(f->event_id);
    if (rkm->key == NULL || rkm->key_len != idlen || memcmp(rkm->key, f->event_id, idlen) != 0) {
        return 0;
    }
    if (cmd_attempts_record_parse(&r, rkm->payload, rkm->len) != 0) {
        /* One of this event's records that cannot be read: said, never
         * dropped silently. */
        f->unreadable++;
        fprintf(stderr, "attempts: unreadable record at %s:%d:%lld: %s\n", f->topic,
                (int)rkm->partition, (long long)rkm->offset, r.why);
        cmd_attempts_record_deinit(&r);
        return 0;
    }
    json_t *ep = json_object_get(r.rec, "endpointId");
    if (f->endpoint != NULL &&
        (!json_is_string(ep) || json_string_length(ep) != strlen(f->endpoint) ||
         memcmp(json_string_value(ep), f->endpoint, json_string_length(ep)) != 0)) {
        cmd_attempts_record_deinit(&r);
        return 0;
    }
    if (f->n == f->cap) {
        f->cap = f->cap > 0 ? 2 * f->cap : 64;
        f->v = xrealloc(f->v, f->cap * sizeof(*f->v));
    }
    f->v[f->n++] = r;
    return 0;
}

static int by_endpoint_then_time(const void *a, const void *b)
{
    const struct cmd_attempts_record *x = a, *y = b;
    int c = strcmp(x->endpoint_id, y->endpoint_id);
    if (c != 0) {
        return c;
    }
    c = strcmp(x->at, y->at);
    if (c != 0) {
        return c;
    }
    return x->attempt < y->attempt ? -1 : x->attempt > y->attempt;
}

static void print_response(const struct cmd_attempts_record *r)
{
    if (r->response == NULL) {
        printf("  latest response: %s\n", r->response_binary ? "(binary)" : "(no body)");
        return;
    }
    size_t shown_len = strlen(r->response);
    printf("  latest response (%zu bytes shown%s): %s\n", shown_len,
           r->response_len > shown_len ? " of more" : "", r->response);
}

static void print_table(struct cmd_attempts_record *v, size_t n)
{
    qsort(v, n, sizeof(*v), by_endpoint_then_time);
    const char *current = NULL;
    for (size_t i = 0; i < n; i++) {
        const struct cmd_attempts_record *r = &v[i];
        if (current == NULL || strcmp(current, r->endpoint_id) != 0) {
            if (current != NULL) {
                print_response(&v[i - 1]);
            }
            current = r->endpoint_id;
            printf("endpoint %s  %s\n", current, r->endpoint_url);
            printf("  %-7s  %-24s  %-40s  %s\n", "ATTEMPT", "AT", "RESULT", "DURATION");
        }
        printf("  %-7lld  %-24s  %-40s  %lld ms\n", r->attempt, r->at, r->result, r->duration_ms);
    }
    if (n > 0) {
        print_response(&v[n - 1]);
    }
}

int cmd_attempts_main(int argc, char **argv)
{
    enum { OPT_ENDPOINT = 256, OPT_SINCE, OPT_MAX, OPT_JSON };
    static const struct option longopts[] = {
        {"config", required_argument, NULL, 'c'},
        {"endpoint", required_argument, NULL, OPT_ENDPOINT},
        {"since", required_argument, NULL, OPT_SINCE},
        {"max-records", required_argument, NULL, OPT_MAX},
        {"json", no_argument, NULL, OPT_JSON},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *path = cli_default_config();
    const char *since_text = "24h";
    struct found f;
    long max_records = 100000;
    int json = 0;
    char errstr[512], bootstrap[1024];
    int ch;

    memset(&f, 0, sizeof(f));
    optind = 1;
    while ((ch = getopt_long(argc, argv, "c:h", longopts, NULL)) != -1) {
        switch (ch) {
        case 'c':
            path = optarg;
            break;
        case OPT_ENDPOINT:
            f.endpoint = optarg;
            break;
        case OPT_SINCE:
            since_text = optarg;
            break;
        case OPT_MAX:
            max_records = strtol(optarg, NULL, 10);
            if (max_records < 1) {
                fprintf(stderr, "attempts: --max-records %s: expected a number >= 1\n", optarg);
                return 2;
            }
            break;
        case OPT_JSON:
            json = 1;
            break;
        case 'h':
            usage(stdout);
            return 0;
        default:
            fprintf(stderr, "Try 'webhook-bridge attempts --help'.\n");
            return 2;
        }
    }
    if (optind != argc - 1) {
        fprintf(stderr, "attempts: expected one EVENT_ID\n");
        return 2;
    }
    f.event_id = argv[optind];
    struct scan_opts o = {0};
    if (scan_parse_time(since_text, &o.since_ms, errstr, sizeof(errstr)) != 0) {
        fprintf(stderr, "attempts: --since: %s\n", errstr);
        return 2;
    }
    struct conf *conf = NULL;
    int rc = cli_load_conf(path, &conf);
    if (rc != 0) {
        return rc;
    }
    rc = 1;
    if (conf->kafka.attempts_topic[0] == '\0') {
        fprintf(stderr, "attempts: the attempts log is off (kafka.topics.attempts is \"\")\n");
        goto out;
    }
    if (cli_bootstrap(conf, bootstrap, sizeof(bootstrap), errstr, sizeof(errstr)) != 0) {
        fprintf(stderr, "attempts: %s\n", errstr);
        rc = 2;
        goto out;
    }
    o.topic = conf->kafka.attempts_topic;
    o.max_records = max_records;
    o.timeout_ms = 60000;
    f.topic = conf->kafka.attempts_topic;
    struct scan_report rep;
    if (scan_topic(conf, bootstrap, &o, on_record, &f, &rep, errstr, sizeof(errstr)) != 0) {
        fprintf(stderr, "attempts: %s\n", errstr);
        goto out;
    }
    scan_report_print(&o, &rep, stderr);
    if (f.n == 0) {
        fprintf(stderr, "attempts: no attempt for event %s%s%s since %s%s\n", f.event_id,
                f.endpoint != NULL ? " to endpoint " : "", f.endpoint != NULL ? f.endpoint : "",
                since_text, f.unreadable > 0 ? " (some records were unreadable, above)" : "");
        goto out;
    }
    if (json) {
        for (size_t i = 0; i < f.n; i++) {
            char *text = json_dumps(f.v[i].rec, JSON_COMPACT | JSON_PRESERVE_ORDER);
            if (text == NULL) {
                fprintf(stderr, "attempts: cannot print a record as JSON\n");
                goto out;
            }
            puts(text);
            free(text);
        }
    } else {
        printf("event %s: %zu attempt(s)%s\n", f.event_id, f.n,
               f.unreadable > 0 ? " and unreadable records (above)" : "");
        print_table(f.v, f.n);
    }
    if (f.unreadable > 0) {
        fprintf(stderr, "attempts: %ld record(s) of this event unreadable\n", f.unreadable);
    }
    rc = 0;
out:
    for (size_t i = 0; i < f.n; i++) {
        cmd_attempts_record_deinit(&f.v[i]);
    }
    free(f.v);
    conf_destroy(conf);
    return rc;
}
