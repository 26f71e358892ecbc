/*
 * main: the command line (run, check-config, receive, config-reference,
 * version) and the daemon's life: start-up in dependency order, a "ready"
 * line once every thread runs, and an ordered, logged shutdown on SIGTERM
 * or SIGINT (a second signal exits at once: at-least-once delivery covers
 * whatever was in flight).
 *
 * Threads: main starts and stops everything; a signal thread turns signals
 * into the `stopping` flag; every other thread is owned by a module.
 */
#include <getopt.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <curl/curl.h>

#include "admin.h"
#include "attempts.h"
#include "cmd_attempts.h"
#include "cmd_dlq.h"
#include "cmd_endpoints.h"
#include "cmd_produce.h"
#include "cmd_topics.h"
#include "cmd_sendtest.h"
#include "conf.h"
#include "consumer.h"
#include "deliver.h"
#include "endpoint.h"
#include "kafka.h"
#include "log.h"
#include "metrics.h"
#include "netguard.h"
#include "pipeline.h"
#include "producer.h"
#include "receive.h"
#include "registry.h"
#include "regsync.h"
#include "retry.h"
#include "router.h"

#define DEFAULT_CONFIG "/etc/webhook-bridge/bridge.conf"
#define STATS_INTERVAL_MS 10000

static atomic_int stopping;

#define TOPICS_CHECK_MS 15000

/* Looks for the topics the bridge needs; returns 1 while some are missing
 * (check again later), 0 once all are there. */
static int check_missing_topics(const struct conf *conf, const char *bootstrap, struct admin *admin)
{
    char names[600], errstr[512];
    int missing =
        kafka_missing_topics(conf, bootstrap, names, sizeof(names), errstr, sizeof(errstr));
    if (missing < 0) {
        log_warn("cannot check the topics: %s (checked again in %d s)", errstr,
                 TOPICS_CHECK_MS / 1000);
        return 1;
    }
    if (missing > 0) {
        log_json(LVL_ERROR,
                 "topics missing (or not visible to this principal): create them with "
                 "`webhook-bridge topics create`; /readyz fails until they exist",
                 json_pack("{s:i, s:s}", "count", missing, "topics", names));
        admin_set_missing_topics(admin, names);
        return 1;
    }
    admin_set_missing_topics(admin, NULL);
    return 0;
}

/* The periodic check runs on a thread of its own: while Kafka is
 * unreachable one check takes seconds (a metadata request, then a client
 * torn down), which on the main loop would delay a SIGTERM by as much. */
struct topics_watch {
    const struct conf *conf;
    const char *bootstrap;
    struct admin *admin;
    pthread_t thread;
    atomic_int stop;
};

static void *topics_watch_main(void *arg)
{
    struct topics_watch *w = arg;
    int64_t next = util_mono_ms() + TOPICS_CHECK_MS;
    while (!atomic_load(&w->stop)) {
        usleep(100 * 1000);
        if (util_mono_ms() < next) {
            continue;
        }
        if (!check_missing_topics(w->conf, w->bootstrap, w->admin)) {
            break; /* all there: nothing removes them behind our back */
        }
        next = util_mono_ms() + TOPICS_CHECK_MS;
    }
    return NULL;
}

static void usage(FILE *fp);
/* Parses "-c FILE" / "--config FILE" / "--help" for run and check-config. */
static int parse_config_arg(int argc, char **argv, const char **path)
{
    static const struct option longopts[] = {
        {"config", required_argument, NULL, 'c'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    *path = getenv("WEBHOOK_BRIDGE_CONFIG");
    if (*path == NULL) {
        *path = DEFAULT_CONFIG;
    }
    optind = 1;
    int ch;
    while ((ch = getopt_long(argc, argv, "c:h", longopts, NULL)) != -1) {
        switch (ch) {
        case 'c':
            *path = optarg;
            break;
        case 'h':
            printf("usage: webhook-bridge %s -c FILE\n", argv[0]);
            return 1;
        default:
            fprintf(stderr, "usage: webhook-bridge %s -c FILE\n", argv[0]);
            return 2;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "webhook-bridge %s: unexpected argument '%s'\n", argv[0], argv[optind]);
        return 2;
    }
    return 0;
}

static int load_config(const char *path, struct conf **confp)
{
    char errstr[8192];
    if (conf_load(confp, path, errstr, sizeof(errstr)) != 0) {
        fprintf(stderr, "%s\n", errstr);
        return 2;
    }
    return 0;
}

static int cmd_check_config(int argc, char **argv)
{
    const char *path;
    struct conf *conf;
    int rc = parse_config_arg(argc, argv, &path);
    if (rc != 0) {
        return rc == 1 ? 0 : rc;
    }
    rc = load_config(path, &conf);
    if (rc != 0) {
        return rc;
    }
    printf("ok: %s\n", path);
    conf_print_summary(conf, stdout);
    conf_destroy(conf);
    return 0;
}

/* Turns the first SIGINT/SIGTERM into `stopping`; the second exits. */
static void *signal_main(void *arg)
{
    sigset_t *set = arg;
    int sig;
    while (sigwait(set, &sig) == 0) {
        if (atomic_exchange(&stopping, 1)) {
            log_warn("second signal: exiting at once (undelivered work is consumed again)");
            _exit(1);
        }
        log_info("signal %d: shutting down", sig);
    }
    return NULL;
}

/* The pause state of a running consumer, for the stats line. */
static json_t *pauses_json(const struct consumer *c)
{
    struct consumer_pauses p;
    consumer_paused(c, &p);
    return json_pack("{s:i, s:i, s:i, s:i}", "assigned", p.assigned, "held", p.held, "full", p.full,
                     "backpressure", p.backpressure);
}

/* The metrics, in_flight and (while they run) the consumers' partitions:
 * what a stall would show. */
static void log_stats(const struct pipeline *pl, const struct consumer *events,
                      const struct consumer *delay, const char *msg)
{
    json_t *snap = metrics_snapshot();
    json_object_set_new(snap, "inFlight", json_integer(atomic_load(&pl->in_flight)));
    if (events != NULL && delay != NULL) {
        json_object_set_new(
            snap, "partitions",
            json_pack("{s:o, s:o}", "events", pauses_json(events), "delay", pauses_json(delay)));
    }
    log_json(LVL_INFO, msg, snap);
}

static int cmd_run(int argc, char **argv)
{
    const char *path;
    struct conf *conf = NULL;
    struct kafka_cluster *cluster = NULL;
    struct kafka_creator *creator = NULL;
    struct registry *registry = NULL;
    struct regsync *regsync = NULL;
    struct admin *admin = NULL;
    char admin_addr[300] = "";
    struct netguard *guard = NULL;
    struct pipeline pl;
    struct retry *retry = NULL;
    struct consumer *events = NULL, *delay = NULL;
    struct topics_watch watch;
    int watching = 0;
    char errstr[1024], bootstrap[512];
    int rc = parse_config_arg(argc, argv, &path);
    if (rc != 0) {
        return rc == 1 ? 0 : rc;
    }
    rc = load_config(path, &conf);
    if (rc != 0) {
        return rc;
    }
    enum log_level lvl;
    if (log_level_parse(conf->log.level, &lvl) == 0) {
        log_set_level(lvl);
    }
    memset(&pl, 0, sizeof(pl));
    pthread_mutex_init(&pl.parked_lock, NULL);
    rc = 1;

    /* Global set-up before any thread starts. */
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &set, NULL);
    signal(SIGPIPE, SIG_IGN);
    pthread_t sig_thread;
    pthread_create(&sig_thread, NULL, signal_main, &set);
    pthread_detach(sig_thread);
    curl_global_init(CURL_GLOBAL_DEFAULT);

    log_json(LVL_INFO, "starting",
             json_pack("{s:s, s:s, s:s}", "version", WB_VERSION, "config", path, "librdkafka",
                       rd_kafka_version_str()));
    /* First, so that probes answer (not ready yet) however long the start. */
    if (admin_start(&admin, conf->admin.listen, admin_addr, sizeof(admin_addr), errstr,
                    sizeof(errstr)) != 0) {
        log_error("%s", errstr);
        goto out;
    }
    log_json(LVL_INFO, "admin server listening",
             json_pack("{s:s, s:s}", "address", admin_addr, "paths", "/healthz /readyz /metrics"));
    if (conf->kafka.embedded) {
        if (kafka_cluster_start(&cluster, 1, bootstrap, sizeof(bootstrap), errstr,
                                sizeof(errstr)) != 0) {
            log_error("%s", errstr);
            goto out;
        }
        log_json(LVL_INFO, "embedded Kafka cluster started (librdkafka mock cluster)",
                 json_pack("{s:s}", "bootstrap", bootstrap));
    } else {
        snprintf(bootstrap, sizeof(bootstrap), "%s", conf->kafka.brokers);
    }

    registry = registry_new();
    for (size_t i = 0; i < conf->n_endpoints; i++) {
        registry_put_config(registry, endpoint_dup(conf->endpoints[i]));
    }
    pl.conf = conf;
    pl.registry = registry;
    guard = netguard_new(conf->delivery.allow_private_networks, conf->delivery.allow_networks,
                         conf->delivery.n_allow_networks, errstr, sizeof(errstr));
    if (guard == NULL) {
        log_error("delivery.allow_networks: %s", errstr);
        goto out;
    }
    if (producer_start(&pl.producer, conf, bootstrap, errstr, sizeof(errstr)) != 0) {
        log_error("producer: %s", errstr);
        goto out;
    }
    if (attempts_start(&pl.attempts, conf, bootstrap, errstr, sizeof(errstr)) != 0) {
        log_error("attempts log: %s", errstr);
        goto out;
    }
    struct deliver_opts dopts = {
        .workers = conf->delivery.workers,
        .endpoint_max_in_flight = conf->delivery.endpoint_max_in_flight,
        .max_in_flight = conf->delivery.max_in_flight,
        .slow_max_in_flight = conf->delivery.slow_max_in_flight,
        .slow_answer_ms = conf->delivery.slow_answer_ms,
        .connect_timeout_ms = conf->delivery.connect_timeout_ms,
        .timeout_ms = conf->delivery.timeout_ms,
        .user_agent = "webhook-bridge/" WB_VERSION,
        .ca_file = conf->delivery.ca_file,
        .guard = guard,
    };
    if (deliver_start(&pl.deliver, &dopts, pipeline_attempt_done, &pl, errstr, sizeof(errstr)) !=
        0) {
        log_error("delivery workers: %s", errstr);
        goto out;
    }
    admin_set_pipeline(admin, &pl);

    /* The topics the bridge creates exist before the registry looks for
     * the endpoints topic and before the delay consumer first matches its
     * regex: created later, a delay topic would be seen only at the
     * consumer's next metadata refresh (CreateTopics takes 15 s at most). */
    if (conf->kafka.create_topics) {
        creator = kafka_create_topics(conf, cluster, bootstrap);
        kafka_creator_wait(creator);
        creator = NULL;
    }
    /* No event is consumed before the registry has read the endpoints
     * topic to its end: a fresh replica would drop events for endpoints it
     * has not read yet. */
    if (regsync_start(&regsync, conf, bootstrap, registry, errstr, sizeof(errstr)) != 0) {
        log_error("registry: %s", errstr);
        goto out;
    }
    admin_set_registry(admin, registry, regsync);
    log_json(LVL_INFO, "reading the endpoints topic before consuming events",
             json_pack("{s:s}", "topic", conf->kafka.endpoints_topic));
    int64_t waited_since = util_mono_ms(), next_note = waited_since + 10000;
    while (!regsync_caught_up(regsync)) {
        if (atomic_load(&kafka_fatal)) {
            goto out;
        }
        if (atomic_load(&stopping)) {
            rc = 0; /* a stop asked for while starting is still a clean stop */
            goto out;
        }
        usleep(20 * 1000);
        if (util_mono_ms() >= next_note) {
            log_json(LVL_WARN, "still reading the endpoints topic: not consuming events yet",
                     json_pack("{s:s, s:I, s:I}", "topic", conf->kafka.endpoints_topic, "waitedMs",
                               (json_int_t)(util_mono_ms() - waited_since), "recordsApplied",
                               (json_int_t)regsync_applied(regsync)));
            next_note += 10000;
        }
    }

    char regex[600], delay_group[300];
    kafka_delay_regex(conf, regex, sizeof(regex));
    snprintf(delay_group, sizeof(delay_group), "%s-delay", conf->kafka.group_id);
    static const char *const delay_extra[] = {"topic.metadata.refresh.interval.ms", "10000", NULL};
    struct consumer_handler h;
    retry = retry_new(&pl);
    retry_handler(&h, retry);
    struct consumer_opts copts = {"delay", delay_group, regex, delay_extra};
    /* On a real cluster a missing topic (not provisioned, or a creation
     * that failed) is the operator's to create (nothing auto-creates one:
     * kafka.c): say which, and fail /readyz, until they are there. */
    if (!conf->kafka.embedded && check_missing_topics(conf, bootstrap, admin)) {
        watch.conf = conf;
        watch.bootstrap = bootstrap;
        watch.admin = admin;
        atomic_init(&watch.stop, 0);
        watching = pthread_create(&watch.thread, NULL, topics_watch_main, &watch) == 0;
    }
    if (consumer_start(&delay, conf, bootstrap, &copts, &h, &pl, errstr, sizeof(errstr)) != 0) {
        log_error("delay consumer: %s", errstr);
        goto out;
    }
    pthread_mutex_lock(&pl.parked_lock);
    pl.delay = delay;
    pthread_mutex_unlock(&pl.parked_lock);
    router_handler(&h, &pl);
    struct consumer_opts eopts = {"events", conf->kafka.group_id, conf->kafka.events_topic, NULL};
    if (consumer_start(&events, conf, bootstrap, &eopts, &h, &pl, errstr, sizeof(errstr)) != 0) {
        log_error("events consumer: %s", errstr);
        goto out;
    }
    admin_set_consumers(admin, events, delay);
    log_json(LVL_INFO, "ready",
             json_pack("{s:s, s:s, s:s, s:i, s:i, s:s}", "bootstrap", bootstrap, "events",
                       conf->kafka.events_topic, "delayTopics", regex, "endpoints",
                       (int)registry_size(registry), "workers", conf->delivery.workers, "admin",
                       admin_addr));

    int64_t next_stats = util_mono_ms() + STATS_INTERVAL_MS;
    while (!atomic_load(&stopping) && !atomic_load(&kafka_fatal)) {
        usleep(100 * 1000);
        attempts_poll(pl.attempts);
        if (util_mono_ms() >= next_stats) {
            log_stats(&pl, events, delay, "stats");
            next_stats += STATS_INTERVAL_MS;
        }
    }
    rc = atomic_load(&kafka_fatal) ? 1 : 0;

out:
    /* The admin server answers to the end, "not ready" from here on; it lets
     * go of each part before the part is stopped. */
    if (admin != NULL) {
        admin_set_stopping(admin);
        admin_set_consumers(admin, NULL, NULL);
        admin_set_pipeline(admin, NULL);
        admin_set_registry(admin, NULL, NULL);
    }
    if (watching) {
        atomic_store(&watch.stop, 1); /* joined at the end: a check under way goes on */
    }
    log_info("shutdown: stopping intake");
    consumer_stop(events);
    consumer_stop(delay);
    /* Closed below, before the producer's last reports. */
    pthread_mutex_lock(&pl.parked_lock);
    pl.delay = NULL;
    pthread_mutex_unlock(&pl.parked_lock);
    if (pl.deliver != NULL) {
        log_info("shutdown: finishing in-flight deliveries (%ld)", deliver_in_flight(pl.deliver));
        deliver_stop(pl.deliver, util_mono_ms() + conf->delivery.drain_timeout_ms);
        pl.deliver = NULL;
    }
    if (pl.producer != NULL) {
        log_info("shutdown: flushing parked and dead-lettered records (%ld)",
                 producer_outstanding(pl.producer));
        long left = producer_flush(pl.producer, util_mono_ms() + 10000);
        if (left > 0) {
            log_warn("shutdown: %ld records not acknowledged; their events are consumed again",
                     left);
        }
    }
    if (pl.attempts != NULL) {
        log_info("shutdown: flushing the attempts log");
        attempts_stop(pl.attempts, util_mono_ms() + 3000);
        pl.attempts = NULL;
    }
    log_info("shutdown: storing offsets and leaving the groups");
    consumer_close(events);
    consumer_close(delay);
    retry_destroy(retry);
    regsync_stop(regsync);
    kafka_creator_join(creator);
    producer_stop(pl.producer);
    pipeline_end(&pl); /* every delivery has ended: free the events left */
    if (pl.conf != NULL) {
        log_stats(&pl, NULL, NULL, "final stats");
    }
    registry_destroy(registry);
    pthread_mutex_destroy(&pl.parked_lock);
    netguard_destroy(guard);
    if (watching) {
        pthread_join(watch.thread, NULL);
    }
    kafka_cluster_stop(cluster);
    admin_stop(admin);
    curl_global_cleanup();
    log_info("shutdown: done");
    conf_destroy(conf);
    return rc;
}

static int cmd_config_reference(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    conf_print_reference(stdout);
    return 0;
}

static int cmd_version(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    printf("webhook-bridge %s (librdkafka %s, %s)\n", WB_VERSION, rd_kafka_version_str(),
           curl_version());
    return 0;
}

/* Every command: its name, its synopsis and what it does (the usage text
 * is made from this table), and the function it runs with argv[0] the
 * command's name. */
static const struct command {
    const char *name;
    const char *synopsis;
    const char *what;
    int (*run)(int argc, char **argv);
} commands[] = {
    {"run", "run -c FILE", "run the daemon", cmd_run},
    {"check-config", "check-config -c FILE", "validate a config file and print a summary",
     cmd_check_config},
    {"endpoints", "endpoints list|put|delete -c FILE",
     "the endpoints topic: list, add or change, remove", cmd_endpoints_main},
    {"topics", "topics create|check -c FILE", "create the topics the bridge needs, or check them",
     cmd_topics_main},
    {"dlq", "dlq list|show|stats|replay -c FILE", "inspect and replay the dead-letter topic",
     cmd_dlq_main},
    {"attempts", "attempts EVENT_ID -c FILE",
     "every attempt made for one event, and the latest response", cmd_attempts_main},
    {"produce", "produce -c FILE [--file F] [--check]",
     "check events (one JSON per line) and produce them", cmd_produce_main},
    {"send-test", "send-test -c FILE (--endpoint ID | --url URL)",
     "a dummy event to one endpoint, as the bridge sends it", cmd_sendtest_main},
    {"receive", "receive [options]", "a local webhook receiver that prints each delivery",
     receive_main},
    {"config-reference", "config-reference", "print every setting as Markdown",
     cmd_config_reference},
    {"version", "version", "print the version", cmd_version},
};

static void usage(FILE *fp)
{
    fprintf(fp, "usage: webhook-bridge COMMAND [options]\n\ncommands:\n");
    for (size_t i = 0; i < WB_ARRAY_LEN(commands); i++) {
        if (strlen(commands[i].synopsis) < 22) {
            fprintf(fp, "  %-22s %s\n", commands[i].synopsis, commands[i].what);
        } else {
            fprintf(fp, "  %s\n  %-22s %s\n", commands[i].synopsis, "", commands[i].what);
        }
    }
    fprintf(fp,
            "\nEvery command has --help.  The config file defaults to $WEBHOOK_BRIDGE_CONFIG, "
            "then %s.\n"
            "Exit codes: 0 ok, 1 the operation failed, 2 bad usage or bad config.\n",
            DEFAULT_CONFIG);
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        usage(stderr);
        return 2;
    }
    const char *cmd = argv[1];
    for (size_t i = 0; i < WB_ARRAY_LEN(commands); i++) {
        if (strcmp(cmd, commands[i].name) == 0) {
            return commands[i].run(argc - 1, argv + 1);
        }
    }
    if (strcmp(cmd, "--version") == 0) {
        return cmd_version(argc - 1, argv + 1);
    }
    if (strcmp(cmd, "help") == 0 || strcmp(cmd, "--help") == 0 || strcmp(cmd, "-h") == 0) {
        usage(stdout);
        return 0;
    }
    fprintf(stderr, "webhook-bridge: unknown command '%s'\n\n", cmd);
    usage(stderr);
    return 2;
}
