/*
 * kafka: client configuration, callbacks, the embedded cluster and topic
 * creation.  The log and error callbacks run on librdkafka's internal
 * threads: they only format a log line (rate-limited for repeated errors)
 * or set kafka_fatal.
 */
#include "kafka.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <librdkafka/rdkafka_mock.h>

#include "conf.h"
#include "log.h"
#include "schedule.h"
#include "topics.h"

atomic_int kafka_fatal;

struct kafka_cluster {
    rd_kafka_t *rk; /* hosts the mock cluster */
    rd_kafka_mock_cluster_t *mcluster;
};

static void log_cb(const rd_kafka_t *rk, int level, const char *fac, const char *buf)
{
    enum log_level lvl = level <= 3   ? LVL_ERROR
                         : level == 4 ? LVL_WARN
                         : level <= 6 ? LVL_INFO
                                      : LVL_DEBUG;
    /* kafka.properties go to every client, by design: that a consumer
     * property means nothing to the producer is not worth a warning. */
    if (strcmp(fac, "CONFWARN") == 0 && strstr(buf, "will be ignored by this") != NULL) {
        lvl = LVL_DEBUG;
    }
    /* The mock cluster (and brokers before 0.11) cannot be asked not to
     * create a topic; the tools ask anyway and check what they get. */
    if (strstr(buf, "allow.auto.create.topics=false not supported by broker") != NULL) {
        lvl = LVL_DEBUG;
    }
    if (!log_enabled(lvl)) {
        return;
    }
    log_json(lvl, buf,
             json_pack("{s:s, s:s}", "component", "librdkafka", "client", rd_kafka_name(rk)));
}

/* Repeated errors (a broker down) are logged once per 10 s per code. */
#define ERROR_LOG_INTERVAL_MS 10000
#define ERROR_SLOTS 64

static atomic_llong error_last_ms[ERROR_SLOTS];
static atomic_llong error_suppressed[ERROR_SLOTS];

/* Logs rk's fatal error (with what the consumer is, when it is one) and
 * sets kafka_fatal. */
static void fatal(rd_kafka_t *rk, const char *consumer)
{
    char buf[512];
    rd_kafka_resp_err_t orig = rd_kafka_fatal_error(rk, buf, sizeof(buf));
    const char *hint = orig == RD_KAFKA_RESP_ERR_FENCED_INSTANCE_ID
                           ? "another member joined with this group.instance.id: each replica "
                             "needs its own, and session.timeout.ms must outlast a coordinator "
                             "failover"
                           : NULL;
    log_json(LVL_ERROR, "fatal Kafka error: shutting down",
             json_pack("{s:s, s:s?, s:s, s:s, s:s?}", "client", rd_kafka_name(rk), "consumer",
                       consumer, "error", rd_kafka_err2name(orig), "reason", buf, "hint", hint));
    atomic_store(&kafka_fatal, 1);
}

void kafka_fatal_consumer(rd_kafka_t *rk, const char *consumer)
{
    fatal(rk, consumer);
}

static void error_cb(rd_kafka_t *rk, int err, const char *reason, void *opaque)
{
    (void)opaque;
    if (err == RD_KAFKA_RESP_ERR__FATAL) {
        fatal(rk, NULL);
        return;
    }
    size_t slot = (size_t)(err < 0 ? -err : err) % ERROR_SLOTS;
    long long now = util_mono_ms();
    long long last = atomic_load(&error_last_ms[slot]);
    if (last != 0 && now - last < ERROR_LOG_INTERVAL_MS) {
        atomic_fetch_add(&error_suppressed[slot], 1);
        return;
    }
    if (!atomic_compare_exchange_strong(&error_last_ms[slot], &last, now)) {
        atomic_fetch_add(&error_suppressed[slot], 1);
        return;
    }
    long long suppressed = atomic_exchange(&error_suppressed[slot], 0);
    log_json(LVL_WARN, "Kafka error (librdkafka retries)",
             json_pack("{s:s, s:s, s:s, s:I}", "client", rd_kafka_name(rk), "error",
                       rd_kafka_err2name(err), "reason", reason, "suppressed",
                       (json_int_t)suppressed));
}

int kafka_conf_set(rd_kafka_conf_t *kconf, const char *name, const char *value, char *errstr,
                   size_t errstr_size)
{
    char why[256];
    if (rd_kafka_conf_set(kconf, name, value, why, sizeof(why)) != RD_KAFKA_CONF_OK) {
        util_errf(errstr, errstr_size, "librdkafka property %s: %s", name, why);
        return -1;
    }
    return 0;
}

rd_kafka_conf_t *kafka_conf_new(const struct conf *conf, const char *bootstrap,
                                const char *client_id, char *errstr, size_t errstr_size)
{
    rd_kafka_conf_t *kconf = rd_kafka_conf_new();
    rd_kafka_conf_set_log_cb(kconf, log_cb);
    rd_kafka_conf_set_error_cb(kconf, error_cb);
    /* No client of the bridge makes a broker auto-create a topic: an
     * endpoints topic the broker made would not be compacted, a delay topic
     * would have the broker's partition count, and neither is what topics
     * create makes.  A missing topic is reported instead
     * (kafka_missing_topics).  (librdkafka's mock cluster speaks Metadata
     * v2, without the flag: it auto-creates whatever is asked for.) */
    if (kafka_conf_set(kconf, "bootstrap.servers", bootstrap, errstr, errstr_size) != 0 ||
        kafka_conf_set(kconf, "client.id", client_id, errstr, errstr_size) != 0 ||
        kafka_conf_set(kconf, "allow.auto.create.topics", "false", errstr, errstr_size) != 0) {
        goto fail;
    }
    for (size_t i = 0; i < conf->kafka.n_properties; i++) {
        const char *prop = conf->kafka.properties[i];
        const char *eq = strchr(prop, '=');
        if (eq == NULL) {
            util_errf(errstr, errstr_size, "kafka.properties: \"%s\" is not name=value", prop);
            goto fail;
        }
        char *name = xstrndup(prop, (size_t)(eq - prop));
        int rc = kafka_conf_set(kconf, name, eq + 1, errstr, errstr_size);
        free(name);
        if (rc != 0) {
            goto fail;
        }
    }
    return kconf;
fail:
    rd_kafka_conf_destroy(kconf);
    return NULL;
}

int kafka_cluster_start(struct kafka_cluster **kcp, int brokers, char *bootstrap, size_t size,
                        char *errstr, size_t errstr_size)
{
    char why[256];
    rd_kafka_conf_t *kconf = rd_kafka_conf_new();
    rd_kafka_conf_set_log_cb(kconf, log_cb);
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_PRODUCER, kconf, why, sizeof(why));
    if (rk == NULL) {
        rd_kafka_conf_destroy(kconf);
        util_errf(errstr, errstr_size, "embedded cluster: %s", why);
        return -1;
    }
    rd_kafka_mock_cluster_t *mc = rd_kafka_mock_cluster_new(rk, brokers);
    if (mc == NULL) {
        rd_kafka_destroy(rk);
        util_errf(errstr, errstr_size, "embedded cluster: rd_kafka_mock_cluster_new failed");
        return -1;
    }
    struct kafka_cluster *kc = xcalloc(1, sizeof(*kc));
    kc->rk = rk;
    kc->mcluster = mc;
    snprintf(bootstrap, size, "%s", rd_kafka_mock_cluster_bootstraps(mc));
    *kcp = kc;
    return 0;
}

void kafka_cluster_stop(struct kafka_cluster *kc)
{
    if (kc == NULL) {
        return;
    }
    rd_kafka_mock_cluster_destroy(kc->mcluster);
    rd_kafka_destroy(kc->rk);
    free(kc);
}

void kafka_delay_regex(const struct conf *conf, char *buf, size_t size)
{
    /* Topic names are [A-Za-z0-9._-]: only '.' needs escaping. */
    size_t n = 0;
    buf[n++] = '^';
    for (const char *p = conf->kafka.delay_prefix; *p != '\0' && n + 3 < size; p++) {
        if (*p == '.') {
            buf[n++] = '\\';
        }
        buf[n++] = *p;
    }
    snprintf(buf + n, size - n, "-[0-9]+(ms|s|m|h)$");
}

rd_kafka_NewTopic_t *kafka_new_topic(const struct topic_spec *spec, char *errstr,
                                     size_t errstr_size)
{
    rd_kafka_NewTopic_t *t =
        rd_kafka_NewTopic_new(spec->name, spec->partitions, spec->replication, errstr, errstr_size);
    if (t == NULL) {
        return NULL;
    }
    if (rd_kafka_NewTopic_set_config(t, "cleanup.policy", spec->cleanup_policy) != 0 ||
        (spec->retention_ms[0] != '\0' &&
         rd_kafka_NewTopic_set_config(t, "retention.ms", spec->retention_ms) != 0) ||
        (spec->min_insync != NULL &&
         rd_kafka_NewTopic_set_config(t, "min.insync.replicas", spec->min_insync) != 0)) {
        util_errf(errstr, errstr_size, "cannot set its configuration");
        rd_kafka_NewTopic_destroy(t);
        return NULL;
    }
    return t;
}

struct kafka_creator {
    pthread_t thread;
    atomic_int stop;
    const struct conf *conf;
    char *bootstrap;
    struct topic_spec specs[TOPICS_MAX];
    size_t n;
};

static void create_with_admin(const struct conf *conf, const char *bootstrap,
                              const struct topic_spec *specs, size_t n, atomic_int *stop)
{
    char errstr[512];
    rd_kafka_conf_t *kconf =
        kafka_conf_new(conf, bootstrap, "webhook-bridge-admin", errstr, sizeof(errstr));
    rd_kafka_t *rk = NULL;
    rd_kafka_queue_t *q = NULL;
    rd_kafka_NewTopic_t **topics = xcalloc(n, sizeof(*topics));
    rd_kafka_event_t *ev = NULL;
    if (kconf == NULL) {
        log_error("topic creation skipped: %s", errstr);
        goto out;
    }
    rk = rd_kafka_new(RD_KAFKA_PRODUCER, kconf, errstr, sizeof(errstr));
    if (rk == NULL) {
        rd_kafka_conf_destroy(kconf);
        log_error("topic creation skipped: %s", errstr);
        goto out;
    }
    for (size_t i = 0; i < n; i++) {
        topics[i] = kafka_new_topic(&specs[i], errstr, sizeof(errstr));
        if (topics[i] == NULL) {
            log_error("topic %s: %s", specs[i].name, errstr);
            goto out;
        }
    }
    q = rd_kafka_queue_new(rk);
    rd_kafka_AdminOptions_t *opts = rd_kafka_AdminOptions_new(rk, RD_KAFKA_ADMIN_OP_CREATETOPICS);
    rd_kafka_AdminOptions_set_request_timeout(opts, 10000, errstr, sizeof(errstr));
    rd_kafka_CreateTopics(rk, topics, n, opts, q);
    rd_kafka_AdminOptions_destroy(opts);
    /* Wait up to 15 s, in small steps so that shutdown need not wait. */
    for (int i = 0; i < 75 && ev == NULL && !atomic_load(stop); i++) {
        ev = rd_kafka_queue_poll(q, 200);
    }
    if (ev == NULL) {
        log_error("topic creation: no answer from Kafka within 15 s; carrying on");
        goto out;
    }
    if (rd_kafka_event_error(ev) != RD_KAFKA_RESP_ERR_NO_ERROR) {
        log_error("topic creation failed: %s; carrying on", rd_kafka_event_error_string(ev));
        goto out;
    }
    size_t cnt;
    const rd_kafka_topic_result_t **res =
        rd_kafka_CreateTopics_result_topics(rd_kafka_event_CreateTopics_result(ev), &cnt);
    for (size_t i = 0; i < cnt; i++) {
        rd_kafka_resp_err_t err = rd_kafka_topic_result_error(res[i]);
        if (err == RD_KAFKA_RESP_ERR_NO_ERROR) {
            log_info("created topic %s", rd_kafka_topic_result_name(res[i]));
        } else if (err != RD_KAFKA_RESP_ERR_TOPIC_ALREADY_EXISTS) {
            log_error("cannot create topic %s: %s; carrying on", rd_kafka_topic_result_name(res[i]),
                      rd_kafka_topic_result_error_string(res[i]));
        }
    }
out:
    if (ev != NULL) {
        rd_kafka_event_destroy(ev);
    }
    for (size_t i = 0; i < n; i++) {
        if (topics[i] != NULL) {
            rd_kafka_NewTopic_destroy(topics[i]);
        }
    }
    free(topics);
    if (q != NULL) {
        rd_kafka_queue_destroy(q);
    }
    if (rk != NULL) {
        rd_kafka_destroy(rk);
    }
}

static void *creator_main(void *arg)
{
    struct kafka_creator *kcr = arg;
    create_with_admin(kcr->conf, kcr->bootstrap, kcr->specs, kcr->n, &kcr->stop);
    return NULL;
}

void kafka_creator_join(struct kafka_creator *kcr)
{
    if (kcr == NULL) {
        return;
    }
    atomic_store(&kcr->stop, 1);
    pthread_join(kcr->thread, NULL);
    free(kcr->bootstrap);
    free(kcr);
}

int kafka_missing_topics(const struct conf *conf, const char *bootstrap, char *names, size_t size,
                         char *errstr, size_t errstr_size)
{
    struct topic_spec specs[TOPICS_MAX];
    size_t n = topics_plan(conf, conf->kafka.partitions, conf->kafka.replication, specs,
                           WB_ARRAY_LEN(specs));
    const struct rd_kafka_metadata *md = NULL;
    int missing = -1;
    names[0] = '\0';
    rd_kafka_conf_t *kconf =
        kafka_conf_new(conf, bootstrap, "webhook-bridge-topics", errstr, errstr_size);
    if (kconf == NULL) {
        return -1;
    }
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_PRODUCER, kconf, errstr, errstr_size);
    if (rk == NULL) {
        rd_kafka_conf_destroy(kconf);
        return -1;
    }
    /* All topics: a request by name could create one. */
    rd_kafka_resp_err_t err = rd_kafka_metadata(rk, 1, NULL, &md, 5000);
    if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
        util_errf(errstr, errstr_size, "metadata: %s", rd_kafka_err2str(err));
        goto out;
    }
    missing = 0;
    size_t used = 0;
    for (size_t i = 0; i < n; i++) {
        int found = 0;
        /* Present with an error (a leader being elected just after the
         * topic was made) is present; a topic the principal may not
         * Describe is left out of the answer, and so reported. */
        for (int t = 0; t < md->topic_cnt && !found; t++) {
            found = strcmp(md->topics[t].topic, specs[i].name) == 0 &&
                    md->topics[t].err != RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART;
        }
        if (!found) {
            missing++;
            int w =
                snprintf(names + used, size - used, "%s%s", used > 0 ? ", " : "", specs[i].name);
            if (w > 0 && (size_t)w < size - used) {
                used += (size_t)w;
            }
        }
    }
out:
    if (md != NULL) {
        rd_kafka_metadata_destroy(md);
    }
    rd_kafka_destroy(rk);
    return missing;
}

void kafka_creator_wait(struct kafka_creator *kcr)
{
    if (kcr == NULL) {
        return;
    }
    pthread_join(kcr->thread, NULL);
    free(kcr->bootstrap);
    free(kcr);
}

struct kafka_creator *kafka_create_topics(const struct conf *conf, struct kafka_cluster *kc,
                                          const char *bootstrap)
{
    struct topic_spec specs[TOPICS_MAX];
    size_t n = topics_plan(conf, conf->kafka.partitions, conf->kafka.replication, specs,
                           WB_ARRAY_LEN(specs));
    if (kc == NULL) {
        struct kafka_creator *kcr = xcalloc(1, sizeof(*kcr));
        kcr->conf = conf;
        kcr->bootstrap = xstrdup(bootstrap);
        memcpy(kcr->specs, specs, n * sizeof(specs[0]));
        kcr->n = n;
        atomic_init(&kcr->stop, 0);
        if (pthread_create(&kcr->thread, NULL, creator_main, kcr) != 0) {
            log_error("topic creation skipped: cannot start its thread");
            free(kcr->bootstrap);
            free(kcr);
            return NULL;
        }
        return kcr;
    }
    for (size_t i = 0; i < n; i++) {
        rd_kafka_resp_err_t err =
            rd_kafka_mock_topic_create(kc->mcluster, specs[i].name, conf->kafka.partitions, 1);
        if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
            log_error("embedded cluster: cannot create topic %s: %s; carrying on", specs[i].name,
                      rd_kafka_err2str(err));
        }
    }
    return NULL;
}
