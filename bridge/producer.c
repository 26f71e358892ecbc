/*
 * producer: one rd_kafka_t producer (enable.idempotence=true), a poll thread
 * that serves its delivery reports, and a retry list for records Kafka
 * refused.  The message (struct pmsg) keeps the value and header strings so
 * a refused record can be produced again exactly as it was.  Nothing
 * bounds the retry list here: every record the daemon produces is counted
 * in the pipeline's in_flight until its report (pipeline.c), so the list
 * holds at most delivery.max_in_flight records (plus one event's fan-out);
 * e2e invalidflood checks that bound with Kafka refusing every Produce.
 *
 * Threads: producer_send from any thread (rd_kafka_producev is thread-safe);
 * the delivery-report callback and the retries run on the poll thread; the
 * retry list is shared with senders whose producev failed at once, and
 * protected by `lock`.
 */
#include "producer.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <librdkafka/rdkafka.h>

#include "conf.h"
#include "kafka.h"
#include "log.h"
#include "metrics.h"

#define RETRY_BACKOFF_MS 1000
/* How long a topic may stay unknown (being created, metadata propagating)
 * before a record for it is refused for good. */
#define UNKNOWN_TOPIC_WAIT_MS 30000

struct pmsg {
    struct pmsg *next;
    char *topic;
    char *key;
    char *value;
    size_t len;
    char *headers[2 * PRODUCER_MAX_HEADERS];
    int n_headers; /* pairs */
    producer_done_cb *done;
    void *arg;
    int64_t retry_at_ms;
    int64_t unknown_since_ms; /* mono ms since the topic has been unknown, or 0 */
    int tries;
    int held; /* refused for good and held by its callback (PRODUCER_HOLD) */
};

struct producer {
    rd_kafka_t *rk;
    size_t max_bytes; /* the producer's message.max.bytes */
    pthread_t thread;
    atomic_int running;
    atomic_long outstanding;
    atomic_long held;     /* of outstanding, records held after a refusal */
    int64_t last_warn_ms; /* poll thread (delivery reports) only */
    long suppressed;      /* poll thread only */
    pthread_mutex_t lock; /* protects retry_head */
    struct pmsg *retry_head;
};

static void pmsg_free(struct pmsg *m)
{
    free(m->topic);
    free(m->key);
    free(m->value);
    for (int i = 0; i < 2 * m->n_headers; i++) {
        free(m->headers[i]);
    }
    free(m);
}

static void queue_retry(struct producer *p, struct pmsg *m, int64_t backoff_ms);

/* Reports how m ended; a record refused for good that its callback holds
 * goes back to the retry list (after a longer backoff) instead. */
static void finish(struct producer *p, struct pmsg *m, enum producer_status status,
                   const char *error)
{
    enum producer_verdict v = m->done(m->arg, status, error);
    if (v == PRODUCER_HOLD && (status == PRODUCER_REFUSED || status == PRODUCER_TOO_LARGE)) {
        if (atomic_load(&p->running)) {
            if (!m->held) {
                m->held = 1;
                atomic_fetch_add(&p->held, 1);
            }
            m->unknown_since_ms = 0;
            queue_retry(p, m, PRODUCER_HOLD_BACKOFF_MS);
            return;
        }
        /* Stopping: the callback hears how it ends after all. */
        m->done(m->arg, PRODUCER_ABANDONED, NULL);
    }
    if (m->held) {
        atomic_fetch_sub(&p->held, 1);
    }
    pmsg_free(m);
    atomic_fetch_sub(&p->outstanding, 1);
}

/* What an error means for m: retried (PRODUCER_RETRY), or refused for good.
 * Retrying cannot fix a record over the size limit, a refused
 * authorization, a record the broker calls invalid, or a topic that stays
 * unknown past UNKNOWN_TOPIC_WAIT_MS; every other error (a broker down, a
 * timeout, a full queue) is retried until Kafka takes the record. */
static enum producer_status classify(struct pmsg *m, rd_kafka_resp_err_t err)
{
    int64_t now = util_mono_ms();
    switch (err) {
    case RD_KAFKA_RESP_ERR_MSG_SIZE_TOO_LARGE:
    case RD_KAFKA_RESP_ERR_RECORD_LIST_TOO_LARGE:
        return PRODUCER_TOO_LARGE;
    case RD_KAFKA_RESP_ERR_TOPIC_AUTHORIZATION_FAILED:
    case RD_KAFKA_RESP_ERR_CLUSTER_AUTHORIZATION_FAILED:
    case RD_KAFKA_RESP_ERR_INVALID_RECORD:
    case RD_KAFKA_RESP_ERR_POLICY_VIOLATION:
    case RD_KAFKA_RESP_ERR__INVALID_ARG:
        return PRODUCER_REFUSED;
    case RD_KAFKA_RESP_ERR__UNKNOWN_TOPIC:
    case RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART:
    case RD_KAFKA_RESP_ERR__UNKNOWN_PARTITION:
        /* Unknown for UNKNOWN_TOPIC_WAIT_MS in a row: a broker coming back
         * can answer "unknown" for a while about a topic that exists. */
        if (m->unknown_since_ms == 0) {
            m->unknown_since_ms = now;
        }
        return now - m->unknown_since_ms >= UNKNOWN_TOPIC_WAIT_MS ? PRODUCER_REFUSED
                                                                  : PRODUCER_RETRY;
    case RD_KAFKA_RESP_ERR__MSG_TIMED_OUT:
        /* Says nothing of the topic: a record for a missing one times out
         * (message.timeout.ms) before it is told "unknown". */
        return PRODUCER_RETRY;
    default:
        /* INVALID_MSG (a corrupt message, as Kafka calls it) is retriable. */
        m->unknown_since_ms = 0;
        return PRODUCER_RETRY;
    }
}

static void queue_retry(struct producer *p, struct pmsg *m, int64_t backoff_ms)
{
    m->retry_at_ms = util_mono_ms() + backoff_ms;
    pthread_mutex_lock(&p->lock);
    m->next = p->retry_head;
    p->retry_head = m;
    pthread_mutex_unlock(&p->lock);
}

static void push_retry(struct producer *p, struct pmsg *m)
{
    queue_retry(p, m, RETRY_BACKOFF_MS);
}

/* Hands m to librdkafka; on an immediate refusal queues it for a retry.
 * Senders block while librdkafka's queue is full (backpressure), but the
 * poll thread never does: only it frees room in that queue, by serving the
 * delivery reports, and its callbacks produce too (a refused park's dead
 * letter, the retries): a full queue is a retry for it.  After
 * producer_stop has begun, a record is abandoned at once. */
static void produce(struct producer *p, struct pmsg *m)
{
    if (!atomic_load(&p->running)) {
        finish(p, m, PRODUCER_ABANDONED, NULL);
        return;
    }
    int on_poll_thread = pthread_equal(pthread_self(), p->thread);
    rd_kafka_headers_t *hdrs = rd_kafka_headers_new((size_t)m->n_headers);
    for (int i = 0; i < m->n_headers; i++) {
        rd_kafka_header_add(hdrs, m->headers[2 * i], -1, m->headers[2 * i + 1], -1);
    }
    m->tries++;
    rd_kafka_resp_err_t err =
        rd_kafka_producev(p->rk, RD_KAFKA_V_TOPIC(m->topic), RD_KAFKA_V_KEY(m->key, strlen(m->key)),
                          RD_KAFKA_V_VALUE(m->value, m->len), RD_KAFKA_V_HEADERS(hdrs),
                          RD_KAFKA_V_MSGFLAGS(on_poll_thread ? 0 : RD_KAFKA_MSG_F_BLOCK),
                          RD_KAFKA_V_OPAQUE(m), RD_KAFKA_V_END);
    if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
        rd_kafka_headers_destroy(hdrs);
        enum producer_status status = classify(m, err);
        if (status != PRODUCER_RETRY) {
            finish(p, m, status, rd_kafka_err2str(err));
            return;
        }
        metrics_inc(M_produce_retries);
        log_json(LVL_WARN, "produce refused; retrying",
                 json_pack("{s:s, s:s, s:i}", "topic", m->topic, "error", rd_kafka_err2str(err),
                           "tries", m->tries));
        push_retry(p, m);
    }
}

static void dr_msg_cb(rd_kafka_t *rk, const rd_kafka_message_t *rkm, void *opaque)
{
    (void)rk;
    struct producer *p = opaque;
    struct pmsg *m = rkm->_private;
    if (rkm->err == RD_KAFKA_RESP_ERR_NO_ERROR) {
        finish(p, m, PRODUCER_DURABLE, NULL);
        return;
    }
    if (!atomic_load(&p->running) && (rkm->err == RD_KAFKA_RESP_ERR__PURGE_QUEUE ||
                                      rkm->err == RD_KAFKA_RESP_ERR__PURGE_INFLIGHT)) {
        finish(p, m, PRODUCER_ABANDONED, NULL);
        return;
    }
    enum producer_status status = classify(m, rkm->err);
    if (status != PRODUCER_RETRY) {
        finish(p, m, status, rd_kafka_err2str(rkm->err));
        return;
    }
    metrics_inc(M_produce_retries);
    /* During an outage every record fails: one line per 5 s says so. */
    int64_t now = util_mono_ms();
    if (now - p->last_warn_ms >= 5000) {
        log_json(LVL_WARN, "produce failed; retrying every second until Kafka acknowledges",
                 json_pack("{s:s, s:s, s:i, s:I}", "topic", m->topic, "error",
                           rd_kafka_err2str(rkm->err), "tries", m->tries, "suppressed",
                           (json_int_t)p->suppressed));
        p->last_warn_ms = now;
        p->suppressed = 0;
    } else {
        p->suppressed++;
    }
    push_retry(p, m);
}

/* Re-produces the records whose backoff has passed. */
static void run_retries(struct producer *p)
{
    int64_t now = util_mono_ms();
    struct pmsg *due = NULL;
    pthread_mutex_lock(&p->lock);
    struct pmsg **mp = &p->retry_head;
    while (*mp != NULL) {
        struct pmsg *m = *mp;
        if (m->retry_at_ms <= now) {
            *mp = m->next;
            m->next = due;
            due = m;
        } else {
            mp = &m->next;
        }
    }
    pthread_mutex_unlock(&p->lock);
    while (due != NULL) {
        struct pmsg *next = due->next;
        produce(p, due);
        due = next;
    }
}

static void *poll_main(void *arg)
{
    struct producer *p = arg;
    while (atomic_load(&p->running)) {
        rd_kafka_poll(p->rk, 100);
        run_retries(p);
    }
    return NULL;
}

int producer_start(struct producer **pp, const struct conf *conf, const char *bootstrap,
                   char *errstr, size_t errstr_size)
{
    rd_kafka_conf_t *kconf =
        kafka_conf_new(conf, bootstrap, "webhook-bridge-producer", errstr, errstr_size);
    if (kconf == NULL) {
        return -1;
    }
    /* Defaults first; kafka_conf_new applied the user's properties, so set
     * ours only where the user did not. */
    static const char *const defaults[][2] = {
        {"enable.idempotence", "true"},
        {"acks", "all"},
        {"linger.ms", "5"},
        {"message.timeout.ms", "30000"},
        {"queue.buffering.max.messages", "1000000"},
    };
    for (size_t i = 0; i < WB_ARRAY_LEN(defaults); i++) {
        int user_set = 0;
        for (size_t j = 0; j < conf->kafka.n_properties; j++) {
            size_t l = strlen(defaults[i][0]);
            if (strncmp(conf->kafka.properties[j], defaults[i][0], l) == 0 &&
                conf->kafka.properties[j][l] == '=') {
                user_set = 1;
            }
        }
        if (!user_set &&
            kafka_conf_set(kconf, defaults[i][0], defaults[i][1], errstr, errstr_size) != 0) {
            rd_kafka_conf_destroy(kconf);
            return -1;
        }
    }
    struct producer *p = xcalloc(1, sizeof(*p));
    char mmb[32];
    size_t mmb_size = sizeof(mmb);
    p->max_bytes = 1000000; /* librdkafka's default */
    if (rd_kafka_conf_get(kconf, "message.max.bytes", mmb, &mmb_size) == RD_KAFKA_CONF_OK) {
        p->max_bytes = (size_t)strtoull(mmb, NULL, 10);
    }
    rd_kafka_conf_set_dr_msg_cb(kconf, dr_msg_cb);
    rd_kafka_conf_set_opaque(kconf, p);
    p->rk = rd_kafka_new(RD_KAFKA_PRODUCER, kconf, errstr, (size_t)errstr_size);
    if (p->rk == NULL) {
        rd_kafka_conf_destroy(kconf);
        free(p);
        return -1;
    }
    pthread_mutex_init(&p->lock, NULL);
    atomic_init(&p->running, 1);
    if (pthread_create(&p->thread, NULL, poll_main, p) != 0) {
        util_errf(errstr, errstr_size, "cannot start the producer thread");
        rd_kafka_destroy(p->rk);
        pthread_mutex_destroy(&p->lock);
        free(p);
        return -1;
    }
    *pp = p;
    return 0;
}

void producer_send(struct producer *p, const char *topic, const char *key, char *value, size_t len,
                   producer_done_cb *done, void *arg, ...)
{
    struct pmsg *m = xcalloc(1, sizeof(*m));
    m->topic = xstrdup(topic);
    /* Keys and header values are cut to PRODUCER_FIELD_MAX: with the value
     * at most producer_value_max, the record then always fits in
     * message.max.bytes (they come from outside: a forged record's key). */
    m->key = xstrndup(key, strnlen(key, PRODUCER_FIELD_MAX));
    m->value = value;
    m->len = len;
    m->done = done;
    m->arg = arg;
    va_list ap;
    va_start(ap, arg);
    const char *name;
    while ((name = va_arg(ap, const char *)) != NULL && m->n_headers < PRODUCER_MAX_HEADERS) {
        const char *hv = va_arg(ap, const char *);
        m->headers[2 * m->n_headers] = xstrdup(name);
        m->headers[2 * m->n_headers + 1] = xstrndup(hv, strnlen(hv, PRODUCER_FIELD_MAX));
        m->n_headers++;
    }
    va_end(ap);
    atomic_fetch_add(&p->outstanding, 1);
    produce(p, m);
}

size_t producer_max_bytes(const struct producer *p)
{
    return p->max_bytes;
}

size_t producer_value_max(const struct producer *p)
{
    return p->max_bytes > 2 * PRODUCER_HEADROOM ? p->max_bytes - PRODUCER_HEADROOM
                                                : p->max_bytes / 2;
}

long producer_outstanding(const struct producer *p)
{
    return atomic_load(&p->outstanding);
}

long producer_held(const struct producer *p)
{
    return atomic_load(&((struct producer *)p)->held);
}

long producer_flush(struct producer *p, int64_t deadline_ms)
{
    /* Only the poll thread serves delivery reports (rd_kafka_flush would
     * serve them here too): wait for it. */
    while (atomic_load(&p->outstanding) > atomic_load(&p->held) && util_mono_ms() < deadline_ms) {
        usleep(10 * 1000);
    }
    return atomic_load(&p->outstanding);
}

void producer_stop(struct producer *p)
{
    if (p == NULL) {
        return;
    }
    atomic_store(&p->running, 0);
    pthread_join(p->thread, NULL);
    rd_kafka_purge(p->rk, RD_KAFKA_PURGE_F_QUEUE | RD_KAFKA_PURGE_F_INFLIGHT);
    /* Serve the purged reports (not durable); bounded in case some never come. */
    for (int i = 0; i < 100 && rd_kafka_outq_len(p->rk) > 0; i++) {
        rd_kafka_poll(p->rk, 10);
    }
    struct pmsg *m = p->retry_head;
    while (m != NULL) {
        struct pmsg *next = m->next;
        finish(p, m, PRODUCER_ABANDONED, NULL);
        m = next;
    }
    p->retry_head = NULL;
    rd_kafka_destroy(p->rk);
    pthread_mutex_destroy(&p->lock);
    free(p);
}
