/*
 * log: one JSON object per line on stderr, shared by every thread
 * (librdkafka's log callback included).  The threshold is set once at start,
 * before threads run; writes are serialised by stdio's own FILE lock.
 */
#ifndef BRIDGE_LOG_H
#define BRIDGE_LOG_H

#include <jansson.h>

#include "util.h"

enum log_level { LVL_DEBUG = 0, LVL_INFO, LVL_WARN, LVL_ERROR, LVL_OFF };

extern enum log_level log_threshold;

/* Parses "debug", "info", "warn"/"warning", "error"; -1 when unknown. */
int log_level_parse(const char *s, enum log_level *lvl) WB_MUST_CHECK;
const char *log_level_name(enum log_level lvl);
void log_set_level(enum log_level lvl);

#define log_enabled(lvl) ((lvl) >= log_threshold)

/* A plain message. */
void log_msg(enum log_level lvl, const char *fmt, ...) WB_PRINTF(2, 3);
/* A message with structured fields; fields (may be NULL) is stolen. */
void log_json(enum log_level lvl, const char *msg, json_t *fields);

#define log_debug(...)                                                                             \
    do {                                                                                           \
        if (log_enabled(LVL_DEBUG)) {                                                              \
            log_msg(LVL_DEBUG, __VA_ARGS__);                                                       \
        }                                                                                          \
    } while (0)
#define log_info(...) log_msg(LVL_INFO, __VA_ARGS__)
#define log_warn(...) log_msg(LVL_WARN, __VA_ARGS__)
#define log_error(...) log_msg(LVL_ERROR, __VA_ARGS__)

#endif
