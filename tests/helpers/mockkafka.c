/*
 * mockkafka: librdkafka's mock Kafka cluster as a standalone process, for
 * end-to-end tests and the demo.  It prints "bootstrap=<host:port,...>" once
 * the brokers listen (on 127.0.0.1), then takes fault commands on stdin, one
 * per line, and answers each with "ok" or "error: <reason>" (see usage()).
 *
 * Threads: the main thread runs the command loop; librdkafka runs the mock
 * brokers on its own threads, which inherit a mask blocking SIGINT and
 * SIGTERM so the signals reach the main thread's signalfd only.  The mock
 * API calls made here are thread-safe (they post to the mock cluster's
 * thread and wait).
 */
#include <errno.h>
#include <getopt.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>

#include "util.h"

#define MOCK_MAX_LINE 4096
#define MOCK_MAX_ARGS 8
#define MOCK_MAX_ERRORS 100000
#define MOCK_MAX_TOPICS 64

struct mock {
    rd_kafka_t *rk;
    rd_kafka_mock_cluster_t *mcluster;
    int sigfd; /* SIGINT/SIGTERM */
    int stop;  /* a signal came in */
};

struct mock_topic {
    const char *name; /* points into argv or topic_names */
    int partitions;
};

static void usage(FILE *fp)
{
    fprintf(fp, "Usage: mockkafka [--brokers N] [--topic NAME:PARTITIONS]... [--wait]\n"
                "Starts librdkafka's mock Kafka cluster on 127.0.0.1, prints\n"
                "\"bootstrap=<servers>\", then reads commands from stdin, one per line,\n"
                "answering each with \"ok\" or \"error: <reason>\":\n"
                "  topic NAME PARTITIONS            create a topic (replication 1)\n"
                "  broker_down ID | broker_up ID    disconnect / reconnect a broker (-1: all)\n"
                "  rtt ID MS                        add MS of round-trip time to a broker\n"
                "  produce_errors N ERRCODE         fail the next N Produce requests\n"
                "  request_errors APIKEY N ERRCODE  fail the next N requests of APIKEY\n"
                "  clear_errors APIKEY              forget pushed errors for APIKEY\n"
                "  topic_error NAME ERRCODE         report ERRCODE for NAME in Metadata\n"
                "                                   (0 clears it)\n"
                "  leader NAME PARTITION ID         move a partition's leader (-1: none)\n"
                "  sleep MS                         wait before the next command\n"
                "  quit                             exit 0\n"
                "ERRCODE is a Kafka error number (6 NOT_LEADER_FOR_PARTITION, 7\n"
                "REQUEST_TIMED_OUT, -195 disconnect).  Blank lines and lines starting with\n"
                "'#' are ignored.  On end of input it exits 0, or with --wait keeps running\n"
                "until SIGTERM or SIGINT (which always end it, exit 0).\n"
                "  --brokers N      number of brokers, ids 1..N (default 1)\n"
                "  --topic N:P      create topic N with P partitions at start (repeatable)\n"
                "  --wait           do not exit on end of input\n");
}

/* Parses a whole decimal number within [min, max]. */
static int parse_long(const char *s, long min, long max, long *out) WB_MUST_CHECK;
static int parse_long(const char *s, long min, long max, long *out)
{
    char *end = NULL;
    long v;

    errno = 0;
    v = strtol(s, &end, 10);
    if (errno != 0 || end == s || *end != '\0' || v < min || v > max) {
        return -1;
    }
    *out = v;
    return 0;
}

/* Splits line in place at blanks; returns the number of words, or -1 when
 * there are more than max. */
static int split_words(char *line, char **words, int max)
{
    int n = 0;
    char *p = line;

    for (;;) {
        while (*p == ' ' || *p == '\t' || *p == '\r') {
            *p++ = '\0';
        }
        if (*p == '\0') {
            break;
        }
        if (n == max) {
            return -1;
        }
        words[n++] = p;
        while (*p != '\0' && *p != ' ' && *p != '\t' && *p != '\r') {
            p++;
        }
    }
    return n;
}

static int parse_broker(const char *s, int32_t *id, char *errstr, size_t errstr_size) WB_MUST_CHECK;
static int parse_broker(const char *s, int32_t *id, char *errstr, size_t errstr_size)
{
    long v;

    if (parse_long(s, -1, INT32_MAX, &v) != 0) {
        util_errf(errstr, errstr_size, "bad broker id '%s' (a number, -1 for all)", s);
        return -1;
    }
    *id = (int32_t)v;
    return 0;
}

static int parse_errcode(const char *s, rd_kafka_resp_err_t *err, char *errstr,
                         size_t errstr_size) WB_MUST_CHECK;
static int parse_errcode(const char *s, rd_kafka_resp_err_t *err, char *errstr, size_t errstr_size)
{
    long v;

    if (parse_long(s, RD_KAFKA_RESP_ERR__BEGIN + 1, RD_KAFKA_RESP_ERR_END_ALL - 1, &v) != 0) {
        util_errf(errstr, errstr_size, "bad error code '%s' (a Kafka error number)", s);
        return -1;
    }
    *err = (rd_kafka_resp_err_t)v;
    return 0;
}

/* Maps a mock API result to our status. */
static int mock_result(rd_kafka_resp_err_t err, char *errstr, size_t errstr_size)
{
    if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
        util_errf(errstr, errstr_size, "%s", rd_kafka_err2str(err));
        return -1;
    }
    return 0;
}

/* Pushes cnt copies of err onto the cluster's error stack for api_key. */
static void push_errors(struct mock *m, int16_t api_key, size_t cnt, rd_kafka_resp_err_t err)
{
    rd_kafka_resp_err_t *errs = xmalloc(cnt * sizeof(*errs));

    for (size_t i = 0; i < cnt; i++) {
        errs[i] = err;
    }
    rd_kafka_mock_push_request_errors_array(m->mcluster, api_key, cnt, errs);
    free(errs);
}

/* Waits ms, or less when a signal comes in (then sets m->stop). */
static void mock_sleep(struct mock *m, long ms)
{
    struct pollfd pfd = {.fd = m->sigfd, .events = POLLIN};
    int64_t deadline = util_mono_ms() + ms;

    for (;;) {
        int64_t left = deadline - util_mono_ms();
        int n;
        if (left <= 0) {
            return;
        }
        n = poll(&pfd, 1, (int)left);
        if (n > 0) {
            m->stop = 1;
            return;
        }
        if (n < 0 && errno != EINTR) {
            return;
        }
    }
}

/* Runs one command line.  Returns 0 (ok), -1 with the reason in errstr, or
 * 1 for quit.  *silent is set for blank and comment lines. */
static int run_command(struct mock *m, char *line, int *silent, char *errstr,
                       size_t errstr_size) WB_MUST_CHECK;
static int run_command(struct mock *m, char *line, int *silent, char *errstr, size_t errstr_size)
{
    char *w[MOCK_MAX_ARGS];
    int n = split_words(line, w, MOCK_MAX_ARGS);
    const char *cmd;
    int32_t broker;
    rd_kafka_resp_err_t err;
    long a, b;

    *silent = 0;
    if (n < 0) {
        util_errf(errstr, errstr_size, "too many words");
        return -1;
    }
    if (n == 0 || w[0][0] == '#') {
        *silent = 1;
        return 0;
    }
    cmd = w[0];

#define NEED_ARGS(k, syntax)                                                                       \
    do {                                                                                           \
        if (n != (k) + 1) {                                                                        \
            util_errf(errstr, errstr_size, "usage: %s %s", cmd, syntax);                           \
            return -1;                                                                             \
        }                                                                                          \
    } while (0)

    if (strcmp(cmd, "quit") == 0) {
        NEED_ARGS(0, "");
        return 1;
    }
    if (strcmp(cmd, "topic") == 0) {
        NEED_ARGS(2, "NAME PARTITIONS");
        if (parse_long(w[2], 1, 100000, &a) != 0) {
            util_errf(errstr, errstr_size, "bad partition count '%s'", w[2]);
            return -1;
        }
        return mock_result(rd_kafka_mock_topic_create(m->mcluster, w[1], (int)a, 1), errstr,
                           errstr_size);
    }
    if (strcmp(cmd, "broker_down") == 0 || strcmp(cmd, "broker_up") == 0) {
        NEED_ARGS(1, "ID");
        if (parse_broker(w[1], &broker, errstr, errstr_size) != 0) {
            return -1;
        }
        if (strcmp(cmd, "broker_down") == 0) {
            err = rd_kafka_mock_broker_set_down(m->mcluster, broker);
        } else {
            err = rd_kafka_mock_broker_set_up(m->mcluster, broker);
        }
        return mock_result(err, errstr, errstr_size);
    }
    if (strcmp(cmd, "rtt") == 0) {
        NEED_ARGS(2, "ID MS");
        if (parse_broker(w[1], &broker, errstr, errstr_size) != 0) {
            return -1;
        }
        if (parse_long(w[2], 0, 3600000, &a) != 0) {
            util_errf(errstr, errstr_size, "bad milliseconds '%s'", w[2]);
            return -1;
        }
        return mock_result(rd_kafka_mock_broker_set_rtt(m->mcluster, broker, (int)a), errstr,
                           errstr_size);
    }
    if (strcmp(cmd, "produce_errors") == 0 || strcmp(cmd, "request_errors") == 0) {
        int produce = strcmp(cmd, "produce_errors") == 0;
        int i = 1;
        if (produce) {
            NEED_ARGS(2, "N ERRCODE");
            a = 0; /* ApiKey Produce */
        } else {
            NEED_ARGS(3, "APIKEY N ERRCODE");
            if (parse_long(w[i], 0, INT16_MAX, &a) != 0) {
                util_errf(errstr, errstr_size, "bad ApiKey '%s'", w[i]);
                return -1;
            }
            i++;
        }
        if (parse_long(w[i], 1, MOCK_MAX_ERRORS, &b) != 0) {
            util_errf(errstr, errstr_size, "bad count '%s' (1..%d)", w[i], MOCK_MAX_ERRORS);
            return -1;
        }
        if (parse_errcode(w[i + 1], &err, errstr, errstr_size) != 0) {
            return -1;
        }
        push_errors(m, (int16_t)a, (size_t)b, err);
        return 0;
    }
    if (strcmp(cmd, "clear_errors") == 0) {
        NEED_ARGS(1, "APIKEY");
        if (parse_long(w[1], 0, INT16_MAX, &a) != 0) {
            util_errf(errstr, errstr_size, "bad ApiKey '%s'", w[1]);
            return -1;
        }
        rd_kafka_mock_clear_request_errors(m->mcluster, (int16_t)a);
        return 0;
    }
    if (strcmp(cmd, "topic_error") == 0) {
        NEED_ARGS(2, "NAME ERRCODE");
        if (parse_errcode(w[2], &err, errstr, errstr_size) != 0) {
            return -1;
        }
        rd_kafka_mock_topic_set_error(m->mcluster, w[1], err);
        return 0;
    }
    if (strcmp(cmd, "leader") == 0) {
        NEED_ARGS(3, "NAME PARTITION ID");
        if (parse_long(w[2], 0, INT32_MAX, &a) != 0) {
            util_errf(errstr, errstr_size, "bad partition '%s'", w[2]);
            return -1;
        }
        if (parse_broker(w[3], &broker, errstr, errstr_size) != 0) {
            return -1;
        }
        return mock_result(
            rd_kafka_mock_partition_set_leader(m->mcluster, w[1], (int32_t)a, broker), errstr,
            errstr_size);
    }
    if (strcmp(cmd, "sleep") == 0) {
        NEED_ARGS(1, "MS");
        if (parse_long(w[1], 0, 3600000, &a) != 0) {
            util_errf(errstr, errstr_size, "bad milliseconds '%s'", w[1]);
            return -1;
        }
        mock_sleep(m, a);
        return 0;
    }
#undef NEED_ARGS
    util_errf(errstr, errstr_size, "unknown command '%s'", cmd);
    return -1;
}

/* Runs every complete line in buf[0..*len) and keeps the rest.  Returns 1
 * after quit, else 0. */
static int run_lines(struct mock *m, char *buf, size_t *len)
{
    char errstr[512];
    size_t start = 0;
    int quit = 0;

    while (!quit && !m->stop) {
        char *nl = memchr(buf + start, '\n', *len - start);
        int silent = 0;
        int rc;
        if (nl == NULL) {
            break;
        }
        *nl = '\0';
        rc = run_command(m, buf + start, &silent, errstr, sizeof(errstr));
        start = (size_t)(nl - buf) + 1;
        if (m->stop) {
            break;
        }
        if (rc < 0) {
            printf("error: %s\n", errstr);
        } else if (!silent) {
            printf("ok\n");
        }
        fflush(stdout);
        quit = rc > 0;
    }
    memmove(buf, buf + start, *len - start);
    *len -= start;
    return quit;
}

/* The command loop: stdin lines and signals.  Returns at quit, at end of
 * input (unless keep_running), or on SIGINT/SIGTERM. */
static void command_loop(struct mock *m, int keep_running)
{
    char buf[MOCK_MAX_LINE + 1];
    size_t len = 0;
    int in_open = 1;
    int skipping = 0; /* discarding an over-long line up to its newline */

    while (!m->stop) {
        struct pollfd pfd[2] = {{.fd = m->sigfd, .events = POLLIN},
                                {.fd = in_open ? STDIN_FILENO : -1, .events = POLLIN}};
        ssize_t got;

        if (poll(pfd, 2, -1) < 0) {
            if (errno == EINTR) {
                continue;
            }
            fprintf(stderr, "mockkafka: poll: %s\n", strerror(errno));
            return;
        }
        if (pfd[0].revents != 0) {
            m->stop = 1;
            break;
        }
        if (pfd[1].revents == 0) {
            continue;
        }
        got = read(STDIN_FILENO, buf + len, MOCK_MAX_LINE - len);
        if (got < 0 && errno == EINTR) {
            continue;
        }
        if (got <= 0) {
            /* End of input: a last line without newline still counts. */
            if (len > 0 && !skipping) {
                buf[len++] = '\n';
                if (run_lines(m, buf, &len)) {
                    return;
                }
            }
            len = 0;
            in_open = 0;
            if (!keep_running) {
                return;
            }
            continue;
        }
        len += (size_t)got;
        if (skipping) {
            char *nl = memchr(buf, '\n', len);
            if (nl == NULL) {
                len = 0;
                continue;
            }
            skipping = 0;
            len -= (size_t)(nl + 1 - buf);
            memmove(buf, nl + 1, len);
        }
        if (run_lines(m, buf, &len)) {
            return;
        }
        if (len == MOCK_MAX_LINE) {
            printf("error: line longer than %d bytes\n", MOCK_MAX_LINE);
            fflush(stdout);
            len = 0;
            skipping = 1;
        }
    }
}

/* "NAME:PARTITIONS" from --topic. */
static int parse_topic_arg(char *arg, struct mock_topic *t, char *errstr,
                           size_t errstr_size) WB_MUST_CHECK;
static int parse_topic_arg(char *arg, struct mock_topic *t, char *errstr, size_t errstr_size)
{
    char *colon = strrchr(arg, ':');
    long v;

    if (colon == NULL || colon == arg || parse_long(colon + 1, 1, 100000, &v) != 0) {
        util_errf(errstr, errstr_size, "--topic %s: expected NAME:PARTITIONS", arg);
        return -1;
    }
    *colon = '\0';
    t->name = arg;
    t->partitions = (int)v;
    return 0;
}

/* Creates the producer handle and the mock cluster with its topics. */
static int mock_start(struct mock *m, int brokers, const struct mock_topic *topics, int ntopics,
                      char *errstr, size_t errstr_size) WB_MUST_CHECK;
static int mock_start(struct mock *m, int brokers, const struct mock_topic *topics, int ntopics,
                      char *errstr, size_t errstr_size)
{
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    char rkerr[256];
    rd_kafka_resp_err_t err;
    int rc = -1;

    /* The handle only hosts the cluster: hide its notice that it has no
     * bootstrap.servers of its own. */
    if (rd_kafka_conf_set(conf, "log_level", "4", rkerr, sizeof(rkerr)) != RD_KAFKA_CONF_OK) {
        util_errf(errstr, errstr_size, "log_level: %s", rkerr);
        rd_kafka_conf_destroy(conf);
        goto out;
    }
    m->rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, rkerr, sizeof(rkerr));
    if (m->rk == NULL) {
        util_errf(errstr, errstr_size, "rd_kafka_new: %s", rkerr);
        /* conf is only taken over on success. */
        rd_kafka_conf_destroy(conf);
        goto out;
    }
    conf = NULL;
    m->mcluster = rd_kafka_mock_cluster_new(m->rk, brokers);
    if (m->mcluster == NULL) {
        util_errf(errstr, errstr_size, "cannot create the mock cluster");
        goto out;
    }
    for (int i = 0; i < ntopics; i++) {
        err = rd_kafka_mock_topic_create(m->mcluster, topics[i].name, topics[i].partitions, 1);
        if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
            util_errf(errstr, errstr_size, "topic %s: %s", topics[i].name, rd_kafka_err2str(err));
            goto out;
        }
    }
    rc = 0;
out:
    return rc;
}

static void mock_stop(struct mock *m)
{
    if (m->mcluster != NULL) {
        rd_kafka_mock_cluster_destroy(m->mcluster);
        m->mcluster = NULL;
    }
    if (m->rk != NULL) {
        rd_kafka_destroy(m->rk);
        m->rk = NULL;
    }
}

int main(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"brokers", required_argument, NULL, 'b'},
        {"topic", required_argument, NULL, 't'},
        {"wait", no_argument, NULL, 'w'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    struct mock m = {.sigfd = -1};
    struct mock_topic topics[MOCK_MAX_TOPICS];
    int ntopics = 0;
    long brokers = 1;
    int keep_running = 0;
    char errstr[512];
    sigset_t sigs;
    int rc = 1;
    int c;

    for (;;) {
        c = getopt_long(argc, argv, "b:t:wh", longopts, NULL);
        if (c == -1) {
            break;
        }
        switch (c) {
        case 'b':
            if (parse_long(optarg, 1, 100, &brokers) != 0) {
                fprintf(stderr, "mockkafka: --brokers %s: must be 1..100\n", optarg);
                return 2;
            }
            break;
        case 't':
            if (ntopics == MOCK_MAX_TOPICS) {
                fprintf(stderr, "mockkafka: at most %d --topic options\n", MOCK_MAX_TOPICS);
                return 2;
            }
            if (parse_topic_arg(optarg, &topics[ntopics], errstr, sizeof(errstr)) != 0) {
                fprintf(stderr, "mockkafka: %s\n", errstr);
                return 2;
            }
            ntopics++;
            break;
        case 'w':
            keep_running = 1;
            break;
        case 'h':
            usage(stdout);
            return 0;
        default:
            usage(stderr);
            return 2;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "mockkafka: unexpected argument '%s'\n", argv[optind]);
        return 2;
    }

    /* Before librdkafka starts threads, so they inherit the mask and the
     * signals are only read from the signalfd. */
    sigemptyset(&sigs);
    sigaddset(&sigs, SIGINT);
    sigaddset(&sigs, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &sigs, NULL);
    m.sigfd = signalfd(-1, &sigs, SFD_CLOEXEC);
    if (m.sigfd < 0) {
        fprintf(stderr, "mockkafka: signalfd: %s\n", strerror(errno));
        goto out;
    }

    if (mock_start(&m, (int)brokers, topics, ntopics, errstr, sizeof(errstr)) != 0) {
        fprintf(stderr, "mockkafka: %s\n", errstr);
        goto out;
    }
    printf("bootstrap=%s\n", rd_kafka_mock_cluster_bootstraps(m.mcluster));
    fflush(stdout);

    command_loop(&m, keep_running);
    rc = 0;
out:
    mock_stop(&m);
    if (m.sigfd >= 0) {
        close(m.sigfd);
    }
    return rc;
}
