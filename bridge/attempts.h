/*
 * attempts: the attempts log.  Every HTTP attempt, first tries and retries
 * alike, becomes one record on kafka.topics.attempts, keyed by eventId
 * (DESIGN section 3; docs/records.md): what a dashboard shows as "every
 * attempt with its status, and the latest response".  Produced without
 * waiting (producer_send_lossy): a full queue drops attempt records, with a
 * counter and a warning, and never slows or loses a delivery.
 *
 * Threads: any (the delivery workers call it).
 */
#ifndef BRIDGE_ATTEMPTS_H
#define BRIDGE_ATTEMPTS_H

#include <stddef.h>

struct conf;
struct delivery;
struct producer;

/* The attempt record for dl's last attempt, as a malloc'd JSON string (its
 * length in *lenp), or NULL when dl has no attempt. */
char *attempts_record(const struct delivery *dl, size_t *lenp);

/* Logs dl's last attempt, when the attempts topic is on. */
void attempts_log(struct producer *p, const struct conf *conf, const struct delivery *dl);

#endif
