/*
 * cmd_produce: `webhook-bridge produce`, what other services' engineers
 * use to check their events against the input contract: one JSON document
 * per line from stdin or a file, each checked with the daemon's own
 * validation (event_parse), invalid lines reported with their line number,
 * valid ones produced to the events topic keyed by accountId, and every
 * record's acknowledgement waited for.  --check validates without
 * producing (no Kafka needed).
 *
 * Threads: main (librdkafka's delivery reports are served inside
 * cli_producer_flush, on main).
 */
#include "cmd_produce.h"

#include <errno.h>
#include <getopt.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "conf.h"
#include "event.h"

static void usage(FILE *fp)
{
    fprintf(fp, "usage: webhook-bridge produce [-c FILE] [--file EVENTS] [--check]\n"
                "\n"
                "Reads events, one JSON document per line, from EVENTS or stdin, and checks\n"
                "each exactly as the bridge does (an object with eventId a UUID, eventType a\n"
                "string, eventDetails.accountId a UUID, UTF-8, at most\n"
                "delivery.max_event_bytes).  Invalid lines are reported on stderr as\n"
                "\"line N: what is wrong\" and not produced; valid ones are produced to\n"
                "kafka.topics.events keyed by their accountId, byte for byte, and each\n"
                "acknowledgement is waited for.  Blank lines are skipped.\n"
                "\n"
                "  --check   validate only: nothing is produced, no Kafka is needed\n"
                "\n"
                "Exit codes: 0 every line valid (and produced), 1 some line invalid or not\n"
                "produced, 2 bad usage or config.\n");
}

struct tally {
    long failed_lines[16]; /* the first lines Kafka refused, for the summary */
    size_t n_failed;
};

static void on_failure(void *record, const char *error, void *arg)
{
    struct tally *t = arg;
    long line = (long)(intptr_t)record;
    fprintf(stderr, "line %ld: not produced: %s\n", line, error);
    if (t->n_failed < WB_ARRAY_LEN(t->failed_lines)) {
        t->failed_lines[t->n_failed++] = line;
    }
}

static int blank(const char *s, size_t len)
{
    for (size_t i = 0; i < len; i++) {
        if (s[i] != ' ' && s[i] != '\t' && s[i] != '\r' && s[i] != '\n') {
            return 0;
        }
    }
    return 1;
}

int cmd_produce_main(int argc, char **argv)
{
    enum { OPT_FILE = 256, OPT_CHECK };
    static const struct option longopts[] = {
        {"config", required_argument, NULL, 'c'},
        {"file", required_argument, NULL, OPT_FILE},
        {"check", no_argument, NULL, OPT_CHECK},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *path = cli_default_config();
    const char *file = NULL;
    int check_only = 0;
    char errstr[1024], bootstrap[1024];
    struct tally tally;
    struct cli_producer *p = NULL;
    struct conf *conf = NULL;
    FILE *in = stdin;
    char *line = NULL;
    size_t cap = 0;
    long lineno = 0, valid = 0, invalid = 0, failed = 0;
    int rc = 2;
    int ch;

    memset(&tally, 0, sizeof(tally));
    optind = 1;
    while ((ch = getopt_long(argc, argv, "c:h", longopts, NULL)) != -1) {
        switch (ch) {
        case 'c':
            path = optarg;
            break;
        case OPT_FILE:
            file = optarg;
            break;
        case OPT_CHECK:
            check_only = 1;
            break;
        case 'h':
            usage(stdout);
            return 0;
        default:
            fprintf(stderr, "Try 'webhook-bridge produce --help'.\n");
            return 2;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "produce: unexpected argument '%s'\n", argv[optind]);
        return 2;
    }
    rc = cli_load_conf(path, &conf);
    if (rc != 0) {
        return rc;
    }
    rc = 2;
    if (file != NULL) {
        in = fopen(file, "r");
        if (in == NULL) {
            fprintf(stderr, "produce: %s: %s\n", file, strerror(errno));
            goto out;
        }
    }
    if (!check_only) {
        if (cli_bootstrap(conf, bootstrap, sizeof(bootstrap), errstr, sizeof(errstr)) != 0) {
            fprintf(stderr, "produce: %s\n", errstr);
            goto out;
        }
        p = cli_producer_new(conf, bootstrap, on_failure, &tally, errstr, sizeof(errstr));
        if (p == NULL) {
            fprintf(stderr, "produce: %s\n", errstr);
            rc = 1;
            goto out;
        }
    }
    rc = 1;
    ssize_t n;
    while ((n = getline(&line, &cap, in)) >= 0) {
        lineno++;
        size_t len = (size_t)n;
        if (len > 0 && line[len - 1] == '\n') {
            len--;
        }
        if (len > 0 && line[len - 1] == '\r') {
            len--;
        }
        if (blank(line, len)) {
            continue;
        }
        struct event ev;
        if (event_parse(&ev, line, len, (size_t)conf->delivery.max_event_bytes, errstr,
                        sizeof(errstr)) != 0) {
            fprintf(stderr, "line %ld: %s\n", lineno, errstr);
            invalid++;
            continue;
        }
        valid++;
        if (p != NULL &&
            cli_produce(p, conf->kafka.events_topic, ev.account_id, strlen(ev.account_id), line,
                        len, (void *)(intptr_t)lineno, errstr, sizeof(errstr)) != 0) {
            fprintf(stderr, "line %ld: not produced: %s\n", lineno, errstr);
            failed++;
        }
    }
    if (ferror(in)) {
        fprintf(stderr, "produce: reading %s: %s\n", file != NULL ? file : "stdin",
                strerror(errno));
        goto out;
    }
    if (p != NULL) {
        failed += cli_producer_flush(p, 30000);
        printf("%ld event(s) produced to %s (keyed by accountId), %ld invalid line(s), %ld not "
               "produced\n",
               valid - failed, conf->kafka.events_topic, invalid, failed);
    } else {
        printf("%ld valid event(s), %ld invalid line(s); nothing produced (--check)\n", valid,
               invalid);
    }
    rc = invalid == 0 && failed == 0 ? 0 : 1;
out:
    free(line);
    if (in != NULL && in != stdin) {
        fclose(in);
    }
    cli_producer_destroy(p);
    conf_destroy(conf);
    return rc;
}
