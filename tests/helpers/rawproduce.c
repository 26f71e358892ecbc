/*
 * rawproduce: produces records byte for byte, for the hostile-input tests
 * (tests/e2e/poison.sh): any key, any value, any header, NULL keys and
 * values, which kcat's line-oriented input cannot express.
 *
 *   rawproduce BOOTSTRAP < SPEC
 *
 * SPEC has one record per line, fields separated by single spaces:
 *
 *   TOPIC PARTITION KEY VALUE [NAME=VALUE]...
 *
 * PARTITION is a number or -1 (the partitioner's choice).  KEY and VALUE
 * are hex ("22 5c" is written "225c"), "-" for NULL, or "@FILE" for a
 * file's bytes.  Header values are text.  Records are produced in order and
 * the producer waits for every acknowledgement; it prints "produced N" and
 * exits 0, or 1 when a record failed, 2 on bad usage.  One thread.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <librdkafka/rdkafka.h>

#include "util.h"

#define LINE_MAX_BYTES (4 * 1024 * 1024)
#define MAX_HEADERS 8

static int failures;

static void dr_cb(rd_kafka_t *rk, const rd_kafka_message_t *rkm, void *opaque)
{
    (void)rk;
    (void)opaque;
    if (rkm->err != RD_KAFKA_RESP_ERR_NO_ERROR) {
        fprintf(stderr, "rawproduce: %s [%d]: %s\n", rd_kafka_topic_name(rkm->rkt),
                (int)rkm->partition, rd_kafka_err2str(rkm->err));
        failures++;
    }
}

static int hexval(int c)
{
    if (c >= '0' && c <= '9') {
        return c - '0';
    }
    if (c >= 'a' && c <= 'f') {
        return c - 'a' + 10;
    }
    if (c >= 'A' && c <= 'F') {
        return c - 'A' + 10;
    }
    return -1;
}

/* Decodes a KEY or VALUE field into *out (malloc'd; NULL for "-").
 * Returns 0, or -1 when the field is malformed. */
static int decode(const char *field, char **out, size_t *len)
{
    *out = NULL;
    *len = 0;
    if (strcmp(field, "-") == 0) {
        return 0;
    }
    if (field[0] == '@') {
        FILE *fp = fopen(field + 1, "rb");
        if (fp == NULL) {
            return -1;
        }
        size_t cap = 4096;
        char *buf = xmalloc(cap);
        size_t n;
        while ((n = fread(buf + *len, 1, cap - *len, fp)) > 0) {
            *len += n;
            if (*len == cap) {
                cap *= 2;
                buf = xrealloc(buf, cap);
            }
        }
        fclose(fp);
        *out = buf;
        return 0;
    }
    size_t n = strlen(field);
    if (n % 2 != 0) {
        return -1;
    }
    char *buf = xmalloc(n / 2 + 1);
    for (size_t i = 0; i < n; i += 2) {
        int hi = hexval(field[i]);
        int lo = hexval(field[i + 1]);
        if (hi < 0 || lo < 0) {
            free(buf);
            return -1;
        }
        buf[i / 2] = (char)(hi << 4 | lo);
    }
    *out = buf;
    *len = n / 2;
    return 0;
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: rawproduce BOOTSTRAP < SPEC (see the source's comment)\n");
        return 2;
    }
    char errstr[512];
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    if (rd_kafka_conf_set(conf, "bootstrap.servers", argv[1], errstr, sizeof(errstr)) !=
            RD_KAFKA_CONF_OK ||
        rd_kafka_conf_set(conf, "message.max.bytes", "10000000", errstr, sizeof(errstr)) !=
            RD_KAFKA_CONF_OK) {
        fprintf(stderr, "rawproduce: %s\n", errstr);
        return 2;
    }
    rd_kafka_conf_set_dr_msg_cb(conf, dr_cb);
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, sizeof(errstr));
    if (rk == NULL) {
        fprintf(stderr, "rawproduce: %s\n", errstr);
        return 1;
    }
    int rc = 0;
    long produced = 0;
    char *line = xmalloc(LINE_MAX_BYTES);
    while (fgets(line, LINE_MAX_BYTES, stdin) != NULL) {
        line[strcspn(line, "\n")] = '\0';
        if (line[0] == '\0' || line[0] == '#') {
            continue;
        }
        char *fields[4 + MAX_HEADERS];
        int n = 0;
        char *save = NULL;
        for (char *f = strtok_r(line, " ", &save); f != NULL && n < 4 + MAX_HEADERS;
             f = strtok_r(NULL, " ", &save)) {
            fields[n++] = f;
        }
        char *key = NULL, *value = NULL;
        size_t key_len = 0, value_len = 0;
        if (n < 4 || decode(fields[2], &key, &key_len) != 0 ||
            decode(fields[3], &value, &value_len) != 0) {
            fprintf(stderr, "rawproduce: bad line (TOPIC PARTITION KEY VALUE [H=V]...)\n");
            free(key);
            free(value);
            rc = 2;
            break;
        }
        rd_kafka_headers_t *hdrs = rd_kafka_headers_new(MAX_HEADERS);
        for (int i = 4; i < n; i++) {
            char *eq = strchr(fields[i], '=');
            if (eq != NULL) {
                rd_kafka_header_add(hdrs, fields[i], eq - fields[i], eq + 1, -1);
            }
        }
        rd_kafka_resp_err_t err = rd_kafka_producev(
            rk, RD_KAFKA_V_TOPIC(fields[0]),
            RD_KAFKA_V_PARTITION((int32_t)strtol(fields[1], NULL, 10)),
            RD_KAFKA_V_KEY(key, key_len), RD_KAFKA_V_VALUE(value, value_len),
            RD_KAFKA_V_HEADERS(hdrs), RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_END);
        free(key);
        free(value);
        if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
            rd_kafka_headers_destroy(hdrs);
            fprintf(stderr, "rawproduce: %s: %s\n", fields[0], rd_kafka_err2str(err));
            rc = 1;
            break;
        }
        produced++;
        /* One at a time: the records land in the order given. */
        rd_kafka_flush(rk, 30000);
    }
    free(line);
    if (rd_kafka_flush(rk, 30000) != RD_KAFKA_RESP_ERR_NO_ERROR || failures > 0) {
        rc = rc != 0 ? rc : 1;
    }
    rd_kafka_destroy(rk);
    printf("produced %ld\n", produced - failures);
    return rc;
}
