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

#define MAX_SHOWN 200 /* response bytes printed */

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
    json_t *records;      /* array of attempt records */
};

static int on_record(const rd_kafka_message_t *rkm, void *arg)
{
    struct found *f = arg;
    /* Attempt records are keyed by eventId: skip the others unparsed. */
    size_t idlen = strlen(f->event_id);
    if (rkm->key == NULL || rkm->key_len != idlen || memcmp(rkm->key, f->event_id, idlen) != 0) {
        return 0;
    }
    json_t *rec = json_loadb(rkm->payload, rkm->len, 0, NULL);
    if (!json_is_object(rec)) {
        json_decref(rec);
        return 0;
    }
    const char *ep = json_string_value(json_object_get(rec, "endpointId"));
    if (f->endpoint != NULL && (ep == NULL || strcmp(ep, f->endpoint) != 0)) {
        json_decref(rec);
        return 0;
    }
    json_array_append_new(f->records, rec);
    return 0;
}

static int by_endpoint_then_time(const void *a, const void *b)
{
    json_t *x = *(json_t *const *)a;
    json_t *y = *(json_t *const *)b;
    const char *ex = json_string_value(json_object_get(x, "endpointId"));
    const char *ey = json_string_value(json_object_get(y, "endpointId"));
    int c = strcmp(ex != NULL ? ex : "", ey != NULL ? ey : "");
    if (c != 0) {
        return c;
    }
    const char *tx = json_string_value(json_object_get(x, "at"));
    const char *ty = json_string_value(json_object_get(y, "at"));
    c = strcmp(tx != NULL ? tx : "", ty != NULL ? ty : "");
    if (c != 0) {
        return c;
    }
    return (int)(json_integer_value(json_object_get(x, "attempt")) -
                 json_integer_value(json_object_get(y, "attempt")));
}

static void print_response(json_t *rec)
{
    const char *text = json_string_value(json_object_get(rec, "response"));
    if (text == NULL) {
        printf("  latest response: %s\n",
               json_is_string(json_object_get(rec, "responseBase64")) ? "(binary)" : "(no body)");
        return;
    }
    size_t len = strlen(text);
    printf("  latest response (%zu bytes shown%s): ", len < MAX_SHOWN ? len : MAX_SHOWN,
           len > MAX_SHOWN ? " of more" : "");
    for (size_t i = 0; i < len && i < MAX_SHOWN; i++) {
        unsigned char c = (unsigned char)text[i];
        putchar(c < 0x20 ? ' ' : c);
    }
    putchar('\n');
}

static void print_table(json_t *records)
{
    size_t n = json_array_size(records);
    json_t **v = xcalloc(n + 1, sizeof(*v));
    for (size_t i = 0; i < n; i++) {
        v[i] = json_array_get(records, i);
    }
    qsort(v, n, sizeof(*v), by_endpoint_then_time);
    const char *current = NULL;
    for (size_t i = 0; i < n; i++) {
        json_t *r = v[i];
        const char *ep = json_string_value(json_object_get(r, "endpointId"));
        if (current == NULL || strcmp(current, ep != NULL ? ep : "") != 0) {
            if (current != NULL) {
                print_response(v[i - 1]);
            }
            current = ep != NULL ? ep : "";
            printf("endpoint %s  %s\n", current,
                   json_string_value(json_object_get(r, "endpointUrl")) != NULL
                       ? json_string_value(json_object_get(r, "endpointUrl"))
                       : "");
            printf("  %-7s  %-24s  %-40s  %s\n", "ATTEMPT", "AT", "RESULT", "DURATION");
        }
        char result[256];
        json_t *status = json_object_get(r, "status");
        const char *error = json_string_value(json_object_get(r, "error"));
        if (json_is_integer(status)) {
            snprintf(result, sizeof(result), "%lld%s%s", (long long)json_integer_value(status),
                     error != NULL ? " " : "", error != NULL ? error : "");
        } else {
            snprintf(result, sizeof(result), "%.200s", error != NULL ? error : "-");
        }
        printf("  %-7lld  %-24s  %-40s  %lld ms\n",
               (long long)json_integer_value(json_object_get(r, "attempt")),
               json_string_value(json_object_get(r, "at")) != NULL
                   ? json_string_value(json_object_get(r, "at"))
                   : "-",
               result, (long long)json_integer_value(json_object_get(r, "durationMs")));
    }
    if (n > 0) {
        print_response(v[n - 1]);
    }
    free(v);
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
    struct found f = {NULL, NULL, NULL};
    long max_records = 100000;
    int json = 0;
    char errstr[512], bootstrap[1024];
    int ch;

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
    f.records = json_array();
    struct scan_report rep;
    if (scan_topic(conf, bootstrap, &o, on_record, &f, &rep, errstr, sizeof(errstr)) != 0) {
        fprintf(stderr, "attempts: %s\n", errstr);
        goto out;
    }
    scan_report_print(&o, &rep, stderr);
    size_t n = json_array_size(f.records);
    if (n == 0) {
        fprintf(stderr, "attempts: no attempt for event %s%s%s since %s\n", f.event_id,
                f.endpoint != NULL ? " to endpoint " : "", f.endpoint != NULL ? f.endpoint : "",
                since_text);
        goto out;
    }
    if (json) {
        size_t i;
        json_t *r;
        json_array_foreach(f.records, i, r)
        {
            char *text = json_dumps(r, JSON_COMPACT | JSON_PRESERVE_ORDER);
            puts(text != NULL ? text : "{}");
            free(text);
        }
    } else {
        printf("event %s: %zu attempt(s)\n", f.event_id, n);
        print_table(f.records);
    }
    rc = 0;
out:
    json_decref(f.records);
    conf_destroy(conf);
    return rc;
}
