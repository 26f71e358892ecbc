/*
 * cli: what the command-line tools (endpoints, produce, send-test, ...)
 * share: the brokers to talk to, and a producer that waits for Kafka's
 * acknowledgement of every record and says which ones failed.
 *
 * Threads: the tool's main thread; the delivery reports are served inside
 * cli_producer_flush, on the same thread.
 */
#ifndef BRIDGE_CLI_H
#define BRIDGE_CLI_H

#include <stddef.h>

#include <jansson.h>
#include <stdint.h>

#include "util.h"

struct conf;
struct cli_producer;

#define CLI_DEFAULT_CONFIG "/etc/webhook-bridge/bridge.conf"

/* The config file when -c is not given: $WEBHOOK_BRIDGE_CONFIG, else
 * CLI_DEFAULT_CONFIG. */
const char *cli_default_config(void);

/* Loads the config for a tool: on failure prints every problem on stderr
 * and returns 2 (bad config), else 0.  A tool logs warnings and errors only,
 * unless the config or WEBHOOK_BRIDGE_LOG_LEVEL asks for debug. */
int cli_load_conf(const char *path, struct conf **confp) WB_MUST_CHECK;

/* The bootstrap servers of conf.  A tool cannot use "embedded" (that cluster
 * lives inside a running bridge): it says so and how to point at it.
 * Returns 0, or -1 with the message in errstr. */
int cli_bootstrap(const struct conf *conf, char *buf, size_t size, char *errstr,
                  size_t errstr_size) WB_MUST_CHECK;

/* Called for each record Kafka did not acknowledge, with the opaque given
 * to cli_produce. */
typedef void cli_failure_cb(void *record_opaque, const char *error, void *arg);

/* An idempotent producer (acks=all) for conf's cluster.  NULL with the
 * reason in errstr. */
struct cli_producer *cli_producer_new(const struct conf *conf, const char *bootstrap,
                                      cli_failure_cb *on_failure, void *arg, char *errstr,
                                      size_t errstr_size);

/* Queues one record; value NULL produces a tombstone.  Returns 0, or -1
 * with the reason in errstr when librdkafka refuses it at once. */
int cli_produce(struct cli_producer *p, const char *topic, const void *key, size_t key_len,
                const void *value, size_t len, void *record_opaque, char *errstr,
                size_t errstr_size) WB_MUST_CHECK;

/* cli_produce with one header. */
int cli_produce_with_header(struct cli_producer *p, const char *topic, const void *key,
                            size_t key_len, const void *value, size_t len, const char *hname,
                            const char *hvalue, char *errstr, size_t errstr_size) WB_MUST_CHECK;

/* Waits up to timeout_ms for every queued record's acknowledgement.
 * Returns how many failed (reported through the callback), counting those
 * still unacknowledged at the deadline. */
long cli_producer_flush(struct cli_producer *p, int64_t timeout_ms);

void cli_producer_destroy(struct cli_producer *p);

/* A copy of len bytes of s (NUL bytes included: a JSON string may hold
 * \u0000) fit for a terminal: every control byte (below 0x20, and 0x7f)
 * becomes '?', so neither a NUL cuts the text short nor an escape sequence
 * from a record reaches the terminal.  At most max bytes are kept, cut on
 * a UTF-8 character boundary.  s NULL gives dflt.  malloc'd. */
char *cli_printable(const char *s, size_t len, size_t max, const char *dflt);

/* A record of a topic the tools read (dead letters, attempts) as a JSON
 * object: the bridge writes any text, NUL bytes included (\u0000), so it is
 * read with JSON_ALLOW_NUL.  NULL, with why (its kind and position, none of
 * its bytes), when it is not a JSON object. */
json_t *cli_record_load(const void *value, size_t len, char *why, size_t why_size);

#endif
