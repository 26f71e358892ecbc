/*
 * deadletter: builds and produces dead-letter records: the delivery record
 * plus reason and deadLetteredAt for deliveries, and the raw record with its
 * error for invalid events (DESIGN section 3), with Kafka Connect-style
 * headers (__connect.errors.*) so existing dead-letter browsers show them.
 * Any thread.
 */
#ifndef BRIDGE_DEADLETTER_H
#define BRIDGE_DEADLETTER_H

#include <stddef.h>
#include <stdint.h>

#include "producer.h"

struct conf;
struct delivery;

void deadletter_delivery(struct producer *p, const struct conf *conf, const struct delivery *dl,
                         const char *reason, producer_done_cb *done, void *arg);

/* An invalid record: error says what is wrong; raw is the record's value
 * (may be NULL), key its key (may be NULL). */
void deadletter_invalid(struct producer *p, const struct conf *conf, const char *topic,
                        int32_t partition, int64_t offset, const void *key, size_t key_len,
                        const void *raw, size_t len, const char *error, producer_done_cb *done,
                        void *arg);

#endif
