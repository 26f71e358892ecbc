/*
 * cmd_topics: `webhook-bridge topics create|check`, topic provisioning with
 * librdkafka's admin API from the plan of topics.c.  create sends one
 * CreateTopics request (idempotent: a topic that exists is fine); check
 * lists the cluster's topics (a metadata request for all of them, which
 * creates none) and reads each topic's cleanup.policy and retention.ms with
 * DescribeConfigs where the cluster implements it.
 *
 * Threads: main.
 */
#include "cmd_topics.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <librdkafka/rdkafka.h>

#include "cli.h"
#include "conf.h"
#include "kafka.h"
#include "topics.h"

#define REQUEST_TIMEOUT_MS 8000

static void usage(FILE *fp)
{
    fprintf(fp, "usage: webhook-bridge topics create [-c FILE] [--partitions N] [--replication R]\n"
                "       webhook-bridge topics check  [-c FILE]\n"
                "\n"
                "The topics the bridge needs, from the config: events, endpoints\n"
                "(cleanup.policy=compact), dead letters (retention 30 days), attempts log\n"
                "(7 days, unless kafka.topics.attempts is \"\"), one delay topic per distinct\n"
                "retry interval and <prefix>-0s (retention twice the retry window, at least\n"
                "7 days).  Partitions and replication default to kafka.partitions and\n"
                "kafka.replication (-1: the broker's default); a replication of 3 or more sets\n"
                "min.insync.replicas=2.\n"
                "\n"
                "  create  creates those that are missing with the admin API (CreateTopics);\n"
                "          those that exist are left alone\n"
                "  check   says for each whether it exists, with how many partitions, and, where\n"
                "          the cluster answers DescribeConfigs, whether its cleanup.policy is\n"
                "          right; exit 1 when one is missing or wrong\n"
                "\n"
                "Exit codes: 0 ok, 1 a topic is missing, wrong or could not be created, 2 bad\n"
                "usage or config.\n");
}

static void print_plan(const struct topic_spec *t)
{
    char repl[32];
    if (t->replication < 0) {
        snprintf(repl, sizeof(repl), "the broker's default");
    } else {
        snprintf(repl, sizeof(repl), "%d", t->replication);
    }
    printf("  %-32s %-12s %d partition(s), replication %s, cleanup.policy=%s%s%s%s%s\n", t->name,
           t->role, t->partitions, repl, t->cleanup_policy,
           t->retention_ms[0] != '\0' ? ", retention.ms=" : "", t->retention_ms,
           t->min_insync != NULL ? ", min.insync.replicas=" : "",
           t->min_insync != NULL ? t->min_insync : "");
}

static rd_kafka_t *admin_client(const struct conf *conf, char *errstr, size_t errstr_size)
{
    char bootstrap[1024];
    if (cli_bootstrap(conf, bootstrap, sizeof(bootstrap), errstr, errstr_size) != 0) {
        return NULL;
    }
    rd_kafka_conf_t *kconf =
        kafka_conf_new(conf, bootstrap, "webhook-bridge-topics", errstr, errstr_size);
    if (kconf == NULL) {
        return NULL;
    }
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_PRODUCER, kconf, errstr, errstr_size);
    if (rk == NULL) {
        rd_kafka_conf_destroy(kconf);
    }
    return rk;
}

/* Waits for the admin result on q; NULL after the timeout. */
static rd_kafka_event_t *wait_result(rd_kafka_queue_t *q)
{
    return rd_kafka_queue_poll(q, REQUEST_TIMEOUT_MS + 2000);
}

static int cmd_create(const struct conf *conf, int partitions, int replication)
{
    struct topic_spec specs[TOPICS_MAX];
    char errstr[512];
    size_t n = topics_plan(conf, partitions, replication, specs, TOPICS_MAX);
    rd_kafka_NewTopic_t **req = xcalloc(n, sizeof(*req));
    rd_kafka_queue_t *q = NULL;
    rd_kafka_event_t *ev = NULL;
    int rc = 1;

    rd_kafka_t *rk = admin_client(conf, errstr, sizeof(errstr));
    if (rk == NULL) {
        fprintf(stderr, "topics create: %s\n", errstr);
        free(req);
        return 2;
    }
    printf("creating %zu topic(s) on %s:\n", n, conf->kafka.brokers);
    for (size_t i = 0; i < n; i++) {
        print_plan(&specs[i]);
        req[i] = kafka_new_topic(&specs[i], errstr, sizeof(errstr));
        if (req[i] == NULL) {
            fprintf(stderr, "topics create: %s: %s\n", specs[i].name, errstr);
            goto out;
        }
    }
    q = rd_kafka_queue_new(rk);
    rd_kafka_AdminOptions_t *opts = rd_kafka_AdminOptions_new(rk, RD_KAFKA_ADMIN_OP_CREATETOPICS);
    rd_kafka_AdminOptions_set_request_timeout(opts, REQUEST_TIMEOUT_MS, errstr, sizeof(errstr));
    rd_kafka_CreateTopics(rk, req, n, opts, q);
    rd_kafka_AdminOptions_destroy(opts);
    ev = wait_result(q);
    if (ev == NULL || rd_kafka_event_error(ev) != RD_KAFKA_RESP_ERR_NO_ERROR) {
        fprintf(stderr,
                "topics create: the cluster did not create the topics: %s.  A cluster that does "
                "not implement CreateTopics (librdkafka 2.0.2's mock cluster, the embedded one, "
                "does not) cannot be provisioned this way: create the topics above with your "
                "own tooling.\n",
                ev == NULL ? "no answer in time" : rd_kafka_event_error_string(ev));
        goto out;
    }
    size_t cnt;
    const rd_kafka_topic_result_t **res =
        rd_kafka_CreateTopics_result_topics(rd_kafka_event_CreateTopics_result(ev), &cnt);
    int failed = 0;
    for (size_t i = 0; i < cnt; i++) {
        rd_kafka_resp_err_t err = rd_kafka_topic_result_error(res[i]);
        const char *name = rd_kafka_topic_result_name(res[i]);
        if (err == RD_KAFKA_RESP_ERR_NO_ERROR) {
            printf("created %s\n", name);
        } else if (err == RD_KAFKA_RESP_ERR_TOPIC_ALREADY_EXISTS) {
            printf("exists  %s (left as it is)\n", name);
        } else {
            fprintf(stderr, "cannot create %s: %s\n", name,
                    rd_kafka_topic_result_error_string(res[i]) != NULL
                        ? rd_kafka_topic_result_error_string(res[i])
                        : rd_kafka_err2str(err));
            failed++;
        }
    }
    rc = failed == 0 ? 0 : 1;
out:
    if (ev != NULL) {
        rd_kafka_event_destroy(ev);
    }
    for (size_t i = 0; i < n; i++) {
        if (req[i] != NULL) {
            rd_kafka_NewTopic_destroy(req[i]);
        }
    }
    free(req);
    if (q != NULL) {
        rd_kafka_queue_destroy(q);
    }
    rd_kafka_destroy(rk);
    return rc;
}

/* Reads cleanup.policy of every existing planned topic into policies[i]
 * (malloc'd, NULL when unknown).  Returns 0, or -1 with the reason when the
 * cluster does not answer DescribeConfigs. */
static int describe(rd_kafka_t *rk, const struct topic_spec *specs, const int *exists, size_t n,
                    char **policies, char *errstr, size_t errstr_size)
{
    rd_kafka_ConfigResource_t **res = xcalloc(n, sizeof(*res));
    size_t k = 0;
    int ret = -1;
    for (size_t i = 0; i < n; i++) {
        if (exists[i]) {
            res[k++] = rd_kafka_ConfigResource_new(RD_KAFKA_RESOURCE_TOPIC, specs[i].name);
        }
    }
    if (k == 0) {
        free(res);
        return 0; /* nothing to describe: not a failure of the cluster's */
    }
    rd_kafka_queue_t *q = rd_kafka_queue_new(rk);
    rd_kafka_AdminOptions_t *opts =
        rd_kafka_AdminOptions_new(rk, RD_KAFKA_ADMIN_OP_DESCRIBECONFIGS);
    rd_kafka_AdminOptions_set_request_timeout(opts, REQUEST_TIMEOUT_MS, NULL, 0);
    rd_kafka_DescribeConfigs(rk, res, k, opts, q);
    rd_kafka_AdminOptions_destroy(opts);
    rd_kafka_event_t *ev = wait_result(q);
    if (ev == NULL || rd_kafka_event_error(ev) != RD_KAFKA_RESP_ERR_NO_ERROR) {
        util_errf(errstr, errstr_size, "%s",
                  ev == NULL ? "no answer in time" : rd_kafka_event_error_string(ev));
        goto out;
    }
    size_t cnt;
    const rd_kafka_ConfigResource_t **out =
        rd_kafka_DescribeConfigs_result_resources(rd_kafka_event_DescribeConfigs_result(ev), &cnt);
    for (size_t r = 0; r < cnt; r++) {
        const char *name = rd_kafka_ConfigResource_name(out[r]);
        size_t ne;
        const rd_kafka_ConfigEntry_t **entries = rd_kafka_ConfigResource_configs(out[r], &ne);
        for (size_t e = 0; e < ne; e++) {
            if (strcmp(rd_kafka_ConfigEntry_name(entries[e]), "cleanup.policy") != 0) {
                continue;
            }
            for (size_t i = 0; i < n; i++) {
                if (strcmp(specs[i].name, name) == 0 && rd_kafka_ConfigEntry_value(entries[e])) {
                    policies[i] = xstrdup(rd_kafka_ConfigEntry_value(entries[e]));
                }
            }
        }
    }
    ret = 0;
out:
    if (ev != NULL) {
        rd_kafka_event_destroy(ev);
    }
    rd_kafka_queue_destroy(q);
    for (size_t i = 0; i < k; i++) {
        rd_kafka_ConfigResource_destroy(res[i]);
    }
    free(res);
    return ret;
}

static int cmd_check(const struct conf *conf)
{
    struct topic_spec specs[TOPICS_MAX];
    char errstr[512];
    size_t n =
        topics_plan(conf, conf->kafka.partitions, conf->kafka.replication, specs, TOPICS_MAX);
    int exists[TOPICS_MAX] = {0}, parts[TOPICS_MAX] = {0};
    char *policies[TOPICS_MAX] = {NULL};
    const struct rd_kafka_metadata *md = NULL;
    int rc = 1;

    rd_kafka_t *rk = admin_client(conf, errstr, sizeof(errstr));
    if (rk == NULL) {
        fprintf(stderr, "topics check: %s\n", errstr);
        return 2;
    }
    /* All topics: a request for one by name would create it on a cluster
     * that auto-creates. */
    rd_kafka_resp_err_t err = rd_kafka_metadata(rk, 1, NULL, &md, REQUEST_TIMEOUT_MS);
    if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
        fprintf(stderr, "topics check: cannot reach the Kafka cluster at %s: %s\n",
                conf->kafka.brokers, rd_kafka_err2str(err));
        goto out;
    }
    for (size_t i = 0; i < n; i++) {
        for (int t = 0; t < md->topic_cnt; t++) {
            if (strcmp(md->topics[t].topic, specs[i].name) == 0 &&
                md->topics[t].err == RD_KAFKA_RESP_ERR_NO_ERROR) {
                exists[i] = 1;
                parts[i] = md->topics[t].partition_cnt;
            }
        }
    }
    int can_describe = describe(rk, specs, exists, n, policies, errstr, sizeof(errstr)) == 0;
    int missing = 0, wrong = 0;
    printf("topics on %s:\n", conf->kafka.brokers);
    for (size_t i = 0; i < n; i++) {
        if (!exists[i]) {
            printf("  MISSING %-32s %s (create it: webhook-bridge topics create)\n", specs[i].name,
                   specs[i].role);
            missing++;
            continue;
        }
        const char *verdict = "ok     ";
        if (can_describe && policies[i] != NULL &&
            strcmp(policies[i], specs[i].cleanup_policy) != 0) {
            verdict = "WRONG  ";
            wrong++;
        }
        printf("  %s %-32s %-12s %d partition(s)", verdict, specs[i].name, specs[i].role, parts[i]);
        if (can_describe) {
            printf(", cleanup.policy=%s%s%s", policies[i] != NULL ? policies[i] : "?",
                   strcmp(verdict, "WRONG  ") == 0 ? " (expected " : "",
                   strcmp(verdict, "WRONG  ") == 0 ? specs[i].cleanup_policy : "");
            printf("%s", strcmp(verdict, "WRONG  ") == 0 ? ")" : "");
        }
        printf("\n");
    }
    if (!can_describe) {
        printf("note: topic configurations not checked: the cluster does not answer "
               "DescribeConfigs (%s); librdkafka 2.0.2's mock cluster does not implement it\n",
               errstr);
    }
    printf("%zu topic(s): %d missing, %d with a wrong cleanup.policy\n", n, missing, wrong);
    rc = missing == 0 && wrong == 0 ? 0 : 1;
out:
    for (size_t i = 0; i < n; i++) {
        free(policies[i]);
    }
    if (md != NULL) {
        rd_kafka_metadata_destroy(md);
    }
    rd_kafka_destroy(rk);
    return rc;
}

int cmd_topics_main(int argc, char **argv)
{
    enum { OPT_PARTITIONS = 256, OPT_REPLICATION };
    static const struct option longopts[] = {
        {"config", required_argument, NULL, 'c'},
        {"partitions", required_argument, NULL, OPT_PARTITIONS},
        {"replication", required_argument, NULL, OPT_REPLICATION},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *path = cli_default_config();
    long partitions = 0, replication = 0;

    if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
        usage(argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    const char *sub = argv[1];
    if (strcmp(sub, "create") != 0 && strcmp(sub, "check") != 0) {
        fprintf(stderr, "topics: unknown subcommand '%s' (expected create or check)\n", sub);
        return 2;
    }
    optind = 1;
    int ch;
    while ((ch = getopt_long(argc - 1, argv + 1, "c:h", longopts, NULL)) != -1) {
        switch (ch) {
        case 'c':
            path = optarg;
            break;
        case OPT_PARTITIONS:
        case OPT_REPLICATION: {
            char *end = NULL;
            long v = strtol(optarg, &end, 10);
            /* --replication -1: the broker's default, as in the config. */
            if (end == optarg || *end != '\0' || v > 10000 ||
                (v < 1 && !(ch == OPT_REPLICATION && v == -1))) {
                fprintf(stderr, "topics: --%s %s: expected %s to 10000\n",
                        ch == OPT_PARTITIONS ? "partitions" : "replication", optarg,
                        ch == OPT_PARTITIONS ? "1" : "-1 (the broker's default) or 1");
                return 2;
            }
            *(ch == OPT_PARTITIONS ? &partitions : &replication) = v;
            break;
        }
        case 'h':
            usage(stdout);
            return 0;
        default:
            fprintf(stderr, "Try 'webhook-bridge topics --help'.\n");
            return 2;
        }
    }
    if (optind + 1 < argc) {
        fprintf(stderr, "topics %s: unexpected argument '%s'\n", sub, argv[optind + 1]);
        return 2;
    }
    if (strcmp(sub, "check") == 0 && (partitions > 0 || replication != 0)) {
        fprintf(stderr, "topics check: --partitions and --replication belong to create\n");
        return 2;
    }
    struct conf *conf = NULL;
    int rc = cli_load_conf(path, &conf);
    if (rc != 0) {
        return rc;
    }
    if (strcmp(sub, "create") == 0) {
        rc = cmd_create(conf, partitions > 0 ? (int)partitions : conf->kafka.partitions,
                        replication != 0 ? (int)replication : conf->kafka.replication);
    } else {
        rc = cmd_check(conf);
    }
    conf_destroy(conf);
    return rc;
}
