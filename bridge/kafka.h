/*
 * kafka: what every librdkafka client of the bridge shares: the client
 * configuration (bootstrap servers, log and error callbacks routed to the
 * log module, then the user's kafka.properties), the embedded mock cluster
 * of kafka.brokers = "embedded", and creation of the topics the bridge
 * needs.  Setup runs on the main thread; the callbacks run on librdkafka's
 * threads and only log or set the fatal flag.
 */
#ifndef BRIDGE_KAFKA_H
#define BRIDGE_KAFKA_H

#include <stdatomic.h>
#include <stddef.h>

#include <librdkafka/rdkafka.h>

#include "util.h"

struct conf;
struct kafka_cluster;

/* Set when librdkafka reports a fatal error: the daemon shuts down. */
extern atomic_int kafka_fatal;

/* A consumer's fatal error, which librdkafka hands to rd_kafka_consumer_poll
 * as RD_KAFKA_RESP_ERR__FATAL rather than to error_cb: logs it (the
 * original error, and a hint for a fenced group.instance.id) and sets
 * kafka_fatal.  Any thread. */
void kafka_fatal_consumer(rd_kafka_t *rk, const char *consumer);

/* A client configuration for the bridge: bootstrap.servers, callbacks,
 * client.id, then every kafka.properties entry (which win).  NULL with the
 * reason in errstr on failure. */
rd_kafka_conf_t *kafka_conf_new(const struct conf *conf, const char *bootstrap,
                                const char *client_id, char *errstr, size_t errstr_size);

/* Sets one property; on failure writes "property name: reason". */
int kafka_conf_set(rd_kafka_conf_t *kconf, const char *name, const char *value, char *errstr,
                   size_t errstr_size) WB_MUST_CHECK;

/* Starts librdkafka's mock cluster in-process; its bootstrap address is
 * written into bootstrap.  Thread: main. */
int kafka_cluster_start(struct kafka_cluster **kcp, int brokers, char *bootstrap, size_t size,
                        char *errstr, size_t errstr_size) WB_MUST_CHECK;
void kafka_cluster_stop(struct kafka_cluster *kc);

struct kafka_creator;

/* Creates the topics the bridge needs (events, endpoints, dead letter,
 * attempts, one delay topic per distinct interval and <prefix>-0s) when
 * missing: at once with the mock cluster's API when kc is not NULL (returns
 * NULL), otherwise with the admin API on a background thread while the
 * registry reads its topic (returns the thread's handle for
 * kafka_creator_wait or kafka_creator_join).
 * Failures are logged and never fatal; the consumers pick the topics up when
 * they appear.  Thread: main. */
struct kafka_creator *kafka_create_topics(const struct conf *conf, struct kafka_cluster *kc,
                                          const char *bootstrap);
/* Stops waiting for the admin request and joins the thread.  NULL is fine. */
void kafka_creator_join(struct kafka_creator *kcr);
/* Waits for the creation to end (15 s at most) and frees kcr.  NULL is
 * fine.  Thread: main. */
void kafka_creator_wait(struct kafka_creator *kcr);

/* The topics of the plan (topics.h) the cluster does not have: their names,
 * comma-separated, in names (cut to size).  Returns how many, or -1 with
 * the reason in errstr when the cluster did not answer.  Thread: any (its
 * own client, a few seconds at most). */
int kafka_missing_topics(const struct conf *conf, const char *bootstrap, char *names, size_t size,
                         char *errstr, size_t errstr_size);

struct topic_spec;

/* A CreateTopics request for spec (partitions, replication, cleanup.policy
 * and retention.ms).  NULL with the reason in errstr. */
rd_kafka_NewTopic_t *kafka_new_topic(const struct topic_spec *spec, char *errstr,
                                     size_t errstr_size);

/* The regex that matches every delay topic of the configured prefix. */
void kafka_delay_regex(const struct conf *conf, char *buf, size_t size);

#endif
