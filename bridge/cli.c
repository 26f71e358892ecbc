/*
 * cli: shared pieces of the command-line tools (see cli.h).  The producer
 * counts its delivery reports; records still queued at the deadline are
 * purged and reported as failed, so a tool never claims what Kafka did not
 * acknowledge.
 */
#include "cli.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <librdkafka/rdkafka.h>

#include "conf.h"
#include "kafka.h"
#include "redact.h"
#include "log.h"

struct cli_producer {
    rd_kafka_t *rk;
    cli_failure_cb *on_failure;
    void *arg;
    long failed;
};

const char *cli_default_config(void)
{
    const char *path = getenv("WEBHOOK_BRIDGE_CONFIG");
    return path != NULL && *path != '\0' ? path : CLI_DEFAULT_CONFIG;
}

int cli_load_conf(const char *path, struct conf **confp)
{
    char errstr[8192];
    if (conf_load(confp, path, errstr, sizeof(errstr)) != 0) {
        fprintf(stderr, "%s\n", errstr);
        return 2;
    }
    enum log_level lvl = LVL_WARN;
    if (log_level_parse((*confp)->log.level, &lvl) != 0 || lvl == LVL_INFO) {
        lvl = LVL_WARN; /* a tool's own output says what happened */
    }
    log_set_level(lvl);
    return 0;
}

int cli_bootstrap(const struct conf *conf, char *buf, size_t size, char *errstr, size_t errstr_size)
{
    if (conf->kafka.embedded) {
        util_errf(errstr, errstr_size,
                  "kafka.brokers is \"embedded\": that cluster lives inside a running bridge "
                  "(expected WEBHOOK_BRIDGE_BROKERS=host:port, the \"bootstrap\" address the "
                  "bridge logs when it starts, or a config with real brokers)");
        return -1;
    }
    snprintf(buf, size, "%s", conf->kafka.brokers);
    return 0;
}

static void dr_cb(rd_kafka_t *rk, const rd_kafka_message_t *rkm, void *opaque)
{
    (void)rk;
    struct cli_producer *p = opaque;
    if (rkm->err != RD_KAFKA_RESP_ERR_NO_ERROR) {
        p->failed++;
        if (p->on_failure != NULL) {
            p->on_failure(rkm->_private, rd_kafka_err2str(rkm->err), p->arg);
        }
    }
}

struct cli_producer *cli_producer_new(const struct conf *conf, const char *bootstrap,
                                      cli_failure_cb *on_failure, void *arg, char *errstr,
                                      size_t errstr_size)
{
    rd_kafka_conf_t *kconf =
        kafka_conf_new(conf, bootstrap, "webhook-bridge-cli", errstr, errstr_size);
    if (kconf == NULL) {
        return NULL;
    }
    /* A missing topic (no auto-creation: kafka.c) fails a tool in 5 s, not
     * after librdkafka's 30 s wait for it to appear. */
    if (kafka_conf_set(kconf, "enable.idempotence", "true", errstr, errstr_size) != 0 ||
        kafka_conf_set(kconf, "acks", "all", errstr, errstr_size) != 0 ||
        kafka_conf_set(kconf, "topic.metadata.propagation.max.ms", "5000", errstr, errstr_size) !=
            0) {
        rd_kafka_conf_destroy(kconf);
        return NULL;
    }
    struct cli_producer *p = xcalloc(1, sizeof(*p));
    p->on_failure = on_failure;
    p->arg = arg;
    rd_kafka_conf_set_dr_msg_cb(kconf, dr_cb);
    rd_kafka_conf_set_opaque(kconf, p);
    p->rk = rd_kafka_new(RD_KAFKA_PRODUCER, kconf, errstr, errstr_size);
    if (p->rk == NULL) {
        rd_kafka_conf_destroy(kconf);
        free(p);
        return NULL;
    }
    return p;
}

int cli_produce(struct cli_producer *p, const char *topic, const void *key, size_t key_len,
                const void *value, size_t len, void *record_opaque, char *errstr,
                size_t errstr_size)
{
    void *v = (void *)value; /* RD_KAFKA_MSG_F_COPY: librdkafka copies it */
    size_t vlen = value != NULL ? len : 0;
    rd_kafka_resp_err_t err = rd_kafka_producev(
        p->rk, RD_KAFKA_V_TOPIC(topic), RD_KAFKA_V_KEY(key, key_len), RD_KAFKA_V_VALUE(v, vlen),
        RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY | RD_KAFKA_MSG_F_BLOCK),
        RD_KAFKA_V_OPAQUE(record_opaque), RD_KAFKA_V_END);
    if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
        util_errf(errstr, errstr_size, "%s", rd_kafka_err2str(err));
        return -1;
    }
    rd_kafka_poll(p->rk, 0);
    return 0;
}

int cli_produce_with_header(struct cli_producer *p, const char *topic, const void *key,
                            size_t key_len, const void *value, size_t len, const char *hname,
                            const char *hvalue, char *errstr, size_t errstr_size)
{
    rd_kafka_headers_t *hdrs = rd_kafka_headers_new(1);
    rd_kafka_header_add(hdrs, hname, -1, hvalue, -1);
    void *v = (void *)value; /* RD_KAFKA_MSG_F_COPY: librdkafka copies it */
    rd_kafka_resp_err_t err = rd_kafka_producev(
        p->rk, RD_KAFKA_V_TOPIC(topic), RD_KAFKA_V_KEY(key, key_len), RD_KAFKA_V_VALUE(v, len),
        RD_KAFKA_V_HEADERS(hdrs), RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY | RD_KAFKA_MSG_F_BLOCK),
        RD_KAFKA_V_END);
    if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
        rd_kafka_headers_destroy(hdrs);
        util_errf(errstr, errstr_size, "%s", rd_kafka_err2str(err));
        return -1;
    }
    rd_kafka_poll(p->rk, 0);
    return 0;
}

long cli_producer_flush(struct cli_producer *p, int64_t timeout_ms)
{
    if (rd_kafka_flush(p->rk, (int)timeout_ms) != RD_KAFKA_RESP_ERR_NO_ERROR) {
        /* Not acknowledged in time: purged, and reported as failed. */
        rd_kafka_purge(p->rk, RD_KAFKA_PURGE_F_QUEUE | RD_KAFKA_PURGE_F_INFLIGHT);
        rd_kafka_poll(p->rk, 100);
    }
    return p->failed;
}

void cli_producer_destroy(struct cli_producer *p)
{
    if (p == NULL) {
        return;
    }
    rd_kafka_destroy(p->rk);
    free(p);
}

char *cli_printable(const char *s, size_t len, size_t max, const char *dflt)
{
    if (s == NULL) {
        return xstrdup(dflt);
    }
    size_t n = len < max ? len : max;
    /* Never keep half a UTF-8 character. */
    while (n > 0 && n < len && ((unsigned char)s[n] & 0xC0) == 0x80) {
        n--;
    }
    char *out = xmalloc(n + 1);
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        out[i] = c < 0x20 || c == 0x7f ? '?' : (char)c;
    }
    out[n] = '\0';
    return out;
}

json_t *cli_record_load(const void *value, size_t len, char *why, size_t why_size)
{
    json_error_t jerr;
    json_t *rec = json_loadb(value, len, JSON_ALLOW_NUL, &jerr);
    if (rec == NULL) {
        util_errf(why, why_size, "not valid JSON: %s at byte %d", redact_json_error(&jerr),
                  jerr.position);
    } else if (!json_is_object(rec)) {
        util_errf(why, why_size, "not a JSON object");
        json_decref(rec);
        rec = NULL;
    }
    return rec;
}
