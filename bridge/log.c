/*
 * log: JSON lines on stderr.  Every thread may call these functions; the
 * whole line is written with one fputs so lines never interleave.
 */
#include "log.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "utf8.h"

enum log_level log_threshold = LVL_INFO;

static const char *const level_names[] = {"debug", "info", "warn", "error", "off"};

int log_level_parse(const char *s, enum log_level *lvl)
{
    for (int i = 0; i <= LVL_OFF; i++) {
        if (strcmp(s, level_names[i]) == 0) {
            *lvl = (enum log_level)i;
            return 0;
        }
    }
    if (strcmp(s, "warning") == 0) {
        *lvl = LVL_WARN;
        return 0;
    }
    return -1;
}

const char *log_level_name(enum log_level lvl)
{
    return level_names[lvl];
}

void log_set_level(enum log_level lvl)
{
    log_threshold = lvl;
}

void log_json(enum log_level lvl, const char *msg, json_t *fields)
{
    if (!log_enabled(lvl)) {
        json_decref(fields);
        return;
    }
    char ts[UTIL_TIME_LEN];
    util_format_time(util_now_ms(), ts, sizeof(ts));
    /* The message may carry outside text: utf8_json makes it valid, so the
     * line is never lost.  A NULL fields (a json_pack that refused a text)
     * loses only the fields. */
    json_t *line = json_pack("{s:s, s:s, s:o}", "time", ts, "level", level_names[lvl], "msg",
                             utf8_json_or_null(msg, 4096));
    if (line != NULL && fields != NULL) {
        json_object_update(line, fields);
    }
    json_decref(fields);
    char *text = line != NULL ? json_dumps(line, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;
    json_decref(line);
    if (text != NULL) {
        flockfile(stderr);
        fputs(text, stderr);
        fputc('\n', stderr);
        funlockfile(stderr);
        free(text);
    }
}

void log_msg(enum log_level lvl, const char *fmt, ...)
{
    if (!log_enabled(lvl)) {
        return;
    }
    char buf[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof(buf), fmt, ap);
    va_end(ap);
    utf8_repair(buf);
    log_json(lvl, buf, NULL);
}
