/*
 * conf: the configuration file, read with libconfig and checked against one
 * table.
 *
 * Every setting is a row of conf_rows[]: path, type, default, bounds, check
 * and help.  Loading runs in two passes over that table:
 *   pass one  every row gets its default, then every value of the file is
 *             matched to its row (unknown names are refused with a
 *             suggestion), type-checked, bounds-checked and parsed into
 *             struct conf (or a struct endpoint for endpoints[] rows); then
 *             the environment overrides are applied the same way;
 *   pass two  the rules across values (timeout >= connect_timeout, unique
 *             endpoint ids, ...) and the values derived from others
 *             (embedded cluster).
 * Errors are collected, not returned at the first: each is one line
 * "file:line: setting: what is wrong (expected what)".  The same rows print
 * the Markdown reference (docs/configuration.md).
 *
 * Called from main() before any thread starts; the result is read-only
 * afterwards.
 */
#include "conf.h"

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <libconfig.h>
#include <openssl/err.h>
#include <openssl/x509_vfy.h>
#include <librdkafka/rdkafka.h>

#include "duration.h"
#include "endpoint.h"
#include "netguard.h"
#include "log.h"

enum conf_type {
    CT_GROUP,         /* a group of settings { ... } */
    CT_GROUP_LIST,    /* a list of groups ( { ... }, ... ): the endpoints */
    CT_STRING,        /* char * */
    CT_INT,           /* int */
    CT_INT64,         /* int64_t */
    CT_BOOL,          /* bool */
    CT_DURATION,      /* int64_t milliseconds, written as a string: "30s" */
    CT_STRING_LIST,   /* char ** and a size_t count */
    CT_DURATION_LIST, /* int64_t * (milliseconds) and a size_t count */
};

#define F_REQUIRED 0x1 /* no default: the setting must be given */
#define F_SECRET 0x2   /* never quote the value in a message */
#define F_NONEMPTY 0x4 /* a list that needs at least one element */

#define NO_MAX INT64_MAX

/* Rows under this prefix describe one entry of the endpoints list; their
 * fields live in struct endpoint, the others in struct conf. */
#define EP_PREFIX "endpoints[]"

struct conf_row {
    const char *path;
    enum conf_type type;
    /* Default in libconfig syntax ("6", "\"5s\"", "[\"*\"]"): parsed by
     * libconfig and checked by the same code as a value from the file, and
     * printed as is in the reference.  NULL: required, or derived in pass
     * two (doc_default then says how). */
    const char *def;
    const char *doc_default;
    int64_t min, max; /* integers: the value; durations: milliseconds */
    unsigned flags;
    size_t off;   /* the field, in struct conf or struct endpoint */
    size_t n_off; /* lists: the count field */
    /* Extra check of a string, or of each string of a list. */
    int (*check)(const char *value, char *errstr, size_t errstr_size);
    const char *expect; /* what a valid value looks like, when the type does not say */
    const char *env;    /* environment variable that overrides the file */
    const char *help;
};

static int check_brokers(const char *value, char *errstr, size_t errstr_size);
static int check_nonempty(const char *value, char *errstr, size_t errstr_size);
static int check_topic(const char *value, char *errstr, size_t errstr_size);
static int check_topic_or_empty(const char *value, char *errstr, size_t errstr_size);
static int check_property(const char *value, char *errstr, size_t errstr_size);
static int check_cidr(const char *value, char *errstr, size_t errstr_size);
static int check_event_type(const char *value, char *errstr, size_t errstr_size);
static int check_listen(const char *value, char *errstr, size_t errstr_size);
static int check_log_level(const char *value, char *errstr, size_t errstr_size);
static int check_readable_or_empty(const char *value, char *errstr, size_t errstr_size);

#define CONF_FIELD(f) offsetof(struct conf, f)
#define EP_FIELD(f) offsetof(struct endpoint, f)

#define CA_FILE_EXPECT "the path of a readable PEM file of CA certificates, or \"\""
#define TOPIC_EXPECT "a topic name: 1 to 200 characters of A-Z a-z 0-9 . _ -"

static const struct conf_row conf_rows[] = {
    {.path = "kafka", .type = CT_GROUP, .help = "Kafka cluster, topics and topic creation."},
    {.path = "kafka.brokers",
     .type = CT_STRING,
     .def = "\"embedded\"",
     .off = CONF_FIELD(kafka.brokers),
     .check = check_brokers,
     .expect = "\"embedded\", or bootstrap brokers as host:port,host:port",
     .env = "WEBHOOK_BRIDGE_BROKERS",
     .help = "Bootstrap brokers. \"embedded\" starts librdkafka's mock cluster inside the "
             "process (demos, development, tests): no Kafka needed, nothing is kept."},
    {.path = "kafka.group_id",
     .type = CT_STRING,
     .def = "\"webhook-bridge\"",
     .off = CONF_FIELD(kafka.group_id),
     .check = check_nonempty,
     .expect = "a non-empty string",
     .help = "Consumer group; every replica of the bridge uses the same one."},
    {.path = "kafka.topics", .type = CT_GROUP, .help = "Topic names."},
    {.path = "kafka.topics.events",
     .type = CT_STRING,
     .def = "\"subscription-events\"",
     .off = CONF_FIELD(kafka.events_topic),
     .check = check_topic,
     .expect = TOPIC_EXPECT,
     .help = "Input topic: the subscription events to deliver."},
    {.path = "kafka.topics.endpoints",
     .type = CT_STRING,
     .def = "\"webhook-endpoints\"",
     .off = CONF_FIELD(kafka.endpoints_topic),
     .check = check_topic,
     .expect = TOPIC_EXPECT,
     .help = "Compacted topic of registered endpoints (key: endpoint id; null value: removed)."},
    {.path = "kafka.topics.delay",
     .type = CT_STRING,
     .def = "\"webhook-delay\"",
     .off = CONF_FIELD(kafka.delay_prefix),
     .check = check_topic,
     .expect = TOPIC_EXPECT,
     .help = "Prefix of the delay topics: one topic PREFIX-INTERVAL per distinct retry.schedule "
             "interval, e.g. webhook-delay-5m."},
    {.path = "kafka.topics.dead_letter",
     .type = CT_STRING,
     .def = "\"webhook-dead-letter\"",
     .off = CONF_FIELD(kafka.dead_letter_topic),
     .check = check_topic,
     .expect = TOPIC_EXPECT,
     .help = "Deliveries that failed for good, and invalid events."},
    {.path = "kafka.topics.attempts",
     .type = CT_STRING,
     .def = "\"webhook-attempts\"",
     .off = CONF_FIELD(kafka.attempts_topic),
     .check = check_topic_or_empty,
     .expect = "a topic name, or \"\" for none",
     .help = "One record per HTTP attempt (status, duration, start of the response); \"\" turns "
             "this log off."},
    {.path = "kafka.properties",
     .type = CT_STRING_LIST,
     .def = "[]",
     .off = CONF_FIELD(kafka.properties),
     .n_off = CONF_FIELD(kafka.n_properties),
     .check = check_property,
     .expect = "a list of \"name=value\" librdkafka properties",
     .help = "librdkafka properties for every client (security.protocol, sasl.*, ssl.*, ...), "
             "checked by librdkafka when the file is loaded. The summary of check-config "
             "counts them without printing their values. Refused because the bridge owns "
             "them: bootstrap.servers, group.id (see kafka.brokers, kafka.group_id), "
             "enable.auto.offset.store, enable.auto.commit, auto.offset.reset, enable.idempotence, "
             "acks."},
    {.path = "kafka.create_topics",
     .type = CT_BOOL,
     .doc_default = "true when embedded, else false",
     .off = CONF_FIELD(kafka.create_topics),
     .help = "Create the missing topics at start (delay topics included) with the partitions "
             "and replication below."},
    {.path = "kafka.partitions",
     .type = CT_INT,
     .def = "6",
     .min = 1,
     .max = 10000,
     .off = CONF_FIELD(kafka.partitions),
     .help = "Partitions of the topics the bridge creates."},
    {.path = "kafka.replication",
     .type = CT_INT,
     .def = "-1",
     .min = -1,
     .max = 100,
     .off = CONF_FIELD(kafka.replication),
     .help = "Replication factor of the topics the bridge creates: -1 takes the broker's "
             "default.replication.factor (KIP-464, Kafka 2.4 and later), 0 is refused.  "
             "Topics created with a replication of 3 or more get min.insync.replicas=2, so an "
             "acknowledged record is on two brokers.  Always 1 on the embedded cluster."},

    {.path = "delivery", .type = CT_GROUP, .help = "HTTP delivery."},
    {.path = "delivery.workers",
     .type = CT_INT,
     .def = "2",
     .min = 1,
     .max = 64,
     .off = CONF_FIELD(delivery.workers),
     .help = "Delivery threads, each with its own libcurl multi handle and connections."},
    {.path = "delivery.max_in_flight",
     .type = CT_INT,
     .def = "1024",
     .min = 1,
     .max = 1000000,
     .off = CONF_FIELD(delivery.max_in_flight),
     .help = "Most requests in flight over all endpoints; when reached, consumption pauses."},
    {.path = "delivery.endpoint_max_in_flight",
     .type = CT_INT,
     .def = "64",
     .min = 1,
     .max = 1000000,
     .off = CONF_FIELD(delivery.endpoint_max_in_flight),
     .help = "Most requests in flight to one endpoint; at most delivery.max_in_flight."},
    {.path = "delivery.slow_answer",
     .type = CT_DURATION,
     .def = "\"5s\"",
     .min = 0,
     .max = NO_MAX,
     .off = CONF_FIELD(delivery.slow_answer_ms),
     .help = "An endpoint whose answers take longer than this (an average of its recent "
             "attempts, or one attempt still running past it) is slow, even when it answers "
             "2xx: it gets delivery.slow_max_in_flight requests at once and nothing waits for "
             "it; the rest is parked unattempted on the delay topic rather than held in "
             "delivery.max_in_flight. An endpoint answering in a tenth of this or more whose "
             "backlog would take this long to drain (half of it, once over its share of "
             "delivery.max_in_flight) has the excess parked the same way. "
             "\"0s\" turns both rules off (the circuit breaker stays), and so does, in "
             "effect, a value at or above delivery.timeout."},
    {.path = "delivery.slow_max_in_flight",
     .type = CT_INT,
     .def = "2",
     .min = 1,
     .max = 1000000,
     .off = CONF_FIELD(delivery.slow_max_in_flight),
     .help = "Most requests in flight to a slow endpoint (see delivery.slow_answer); at least "
             "one per worker."},
    {.path = "delivery.connect_timeout",
     .type = CT_DURATION,
     .def = "\"5s\"",
     .min = 1,
     .max = NO_MAX,
     .off = CONF_FIELD(delivery.connect_timeout_ms),
     .help = "Time allowed to connect (TCP and TLS handshake)."},
    {.path = "delivery.timeout",
     .type = CT_DURATION,
     .def = "\"10s\"",
     .min = 1,
     .max = NO_MAX,
     .off = CONF_FIELD(delivery.timeout_ms),
     .help = "Time allowed for a whole attempt, connection included; at least "
             "delivery.connect_timeout."},
    {.path = "delivery.drain_timeout",
     .type = CT_DURATION,
     .def = "\"10s\"",
     .min = 0,
     .max = 3600000,
     .off = CONF_FIELD(delivery.drain_timeout_ms),
     .help = "On SIGTERM, how long attempts already running may take to finish; those still "
             "running then are cut short and parked, like those not started.  With the 10 s "
             "flush that follows, the default keeps a stop inside Kubernetes' 30 s grace "
             "period."},
    {.path = "delivery.allow_private_networks",
     .type = CT_BOOL,
     .def = "false",
     .off = CONF_FIELD(delivery.allow_private_networks),
     .help = "Allow deliveries to loopback, private, link-local and other internal addresses "
             "(checked on the resolved address at connect time). Keep false in production: it "
             "is the guard against SSRF."},
    {.path = "delivery.ca_file",
     .type = CT_STRING,
     .def = "\"\"",
     .off = CONF_FIELD(delivery.ca_file),
     .check = check_readable_or_empty,
     .expect = CA_FILE_EXPECT,
     .help = "CA certificates (PEM) that HTTPS endpoints' certificates are verified against, "
             "in addition to the system's store (\"\": the system's only): an internal CA, say.  "
             "Verification of the certificate and of the host name is always on."},
    {.path = "delivery.allow_networks",
     .type = CT_STRING_LIST,
     .def = "[]",
     .off = CONF_FIELD(delivery.allow_networks),
     .n_off = CONF_FIELD(delivery.n_allow_networks),
     .check = check_cidr,
     .expect = "a list of CIDR ranges such as \"10.20.0.0/16\" or \"fd00:1::/64\"",
     .help = "Internal networks deliveries may reach although the guard is on (in-cluster "
             "receivers, say); every other internal address stays blocked."},
    {.path = "delivery.max_event_bytes",
     .type = CT_INT64,
     .def = "921600",
     .min = 1024,
     .max = 16777216,
     .off = CONF_FIELD(delivery.max_event_bytes),
     .help = "Larger events are not delivered: they go to the dead-letter topic as "
             "invalid_event.  At most the producer's message.max.bytes (kafka.properties, "
             "1000000 by default) less 32768, the room a parked delivery's record needs "
             "beside its event."},

    {.path = "retry", .type = CT_GROUP, .help = "Retry schedule and window (DESIGN.md section 5)."},
    {.path = "retry.schedule",
     .type = CT_DURATION_LIST,
     .def = "[\"5m\"]",
     .min = 1,
     .max = NO_MAX,
     .flags = F_NONEMPTY,
     .off = CONF_FIELD(retry.schedule_ms),
     .n_off = CONF_FIELD(retry.n_schedule),
     .help = "Intervals between attempts: attempt n+1 is due interval n after attempt n was "
             "due; the last interval repeats. One delay topic per distinct interval."},
    {.path = "retry.window",
     .type = CT_DURATION,
     .def = "\"30m\"",
     .min = 1,
     .max = NO_MAX,
     .off = CONF_FIELD(retry.window_ms),
     .help = "Time from the first attempt after which a failing delivery is dead-lettered "
             "(reason retry_window_expired) instead of retried."},

    {.path = "endpoints",
     .type = CT_GROUP_LIST,
     .doc_default = "()",
     .help = "Endpoints defined in the file (development, fixed sinks); the endpoints topic "
             "adds and removes others at run time."},
    {.path = EP_PREFIX ".id",
     .type = CT_STRING,
     .flags = F_REQUIRED,
     .off = EP_FIELD(id),
     .check = endpoint_check_id,
     .expect = "1 to 128 characters of A-Z a-z 0-9 . _ : -",
     .help = "Endpoint id, unique; the key on the endpoints and delay topics."},
    {.path = EP_PREFIX ".account_id",
     .type = CT_STRING,
     .flags = F_REQUIRED,
     .off = EP_FIELD(account_id),
     .check = endpoint_check_account,
     .expect = "a UUID, or \"*\" for every account",
     .help = "Account whose events go to this endpoint."},
    {.path = EP_PREFIX ".url",
     .type = CT_STRING,
     .flags = F_REQUIRED,
     .off = EP_FIELD(url),
     .check = endpoint_check_url,
     .expect = "an absolute http:// or https:// URL without user or password",
     .help = "Where events are POSTed."},
    {.path = EP_PREFIX ".event_types",
     .type = CT_STRING_LIST,
     .def = "[\"*\"]",
     .off = EP_FIELD(event_types),
     .n_off = EP_FIELD(n_event_types),
     .check = check_event_type,
     .expect = "a list of event types, or [\"*\"] alone for every type",
     .help = "Event types delivered (eventType values: Subscribe, Unsubscribe, ...)."},
    {.path = EP_PREFIX ".secrets",
     .type = CT_STRING_LIST,
     .def = "[]",
     .flags = F_SECRET,
     .off = EP_FIELD(secrets),
     .n_off = EP_FIELD(n_secrets),
     .check = endpoint_check_secret,
     .expect = "a list of \"whsec_\" + base64 key strings",
     .help = "Signing secrets: each adds a v1 entry to webhook-signature (two during a "
             "rotation); none: deliveries are not signed. Never printed."},
    {.path = EP_PREFIX ".enabled",
     .type = CT_BOOL,
     .def = "true",
     .off = EP_FIELD(enabled),
     .help = "false keeps the endpoint but delivers nothing to it."},
    {.path = EP_PREFIX ".description",
     .type = CT_STRING,
     .def = "\"\"",
     .off = EP_FIELD(description),
     .help = "Free text for operators."},

    {.path = "admin", .type = CT_GROUP, .help = "Admin HTTP server: /healthz, /readyz, /metrics."},
    {.path = "admin.listen",
     .type = CT_STRING,
     .def = "\"127.0.0.1:8080\"",
     .off = CONF_FIELD(admin.listen),
     .check = check_listen,
     .expect = "host:port with a port from 1 to 65535 ([addr]:port for IPv6)",
     .env = "WEBHOOK_BRIDGE_ADMIN_LISTEN",
     .help = "Address of the admin server (/healthz, /readyz, /metrics); 0.0.0.0:8080 in a "
             "container; port 0 picks a free port, logged at start (tests)."},

    {.path = "log", .type = CT_GROUP, .help = "Logging (JSON lines on stderr)."},
    {.path = "log.level",
     .type = CT_STRING,
     .def = "\"info\"",
     .off = CONF_FIELD(log.level),
     .check = check_log_level,
     .expect = "debug, info, warn or error",
     .env = "WEBHOOK_BRIDGE_LOG_LEVEL",
     .help = "Least severe level logged."},
};

#define N_ROWS WB_ARRAY_LEN(conf_rows)

/* Longest setting path or location written in a message. */
#define PATH_MAX_LEN 256
#define MSG_MAX 1024
/* Room kept at the end of errstr for "(N more errors)". */
#define ERR_TAIL_RESERVE 40

/* State of one conf_load call. */
struct loader {
    struct conf *conf;
    const char *file;
    char *errstr;
    size_t errstr_size;
    size_t errlen;
    int n_errors;
    int n_omitted;                      /* errors that did not fit in errstr */
    bool seen[N_ROWS];                  /* given in the file (endpoint rows: in this entry) */
    bool bad[N_ROWS];                   /* given with an error: pass two skips its rules */
    const config_setting_t **ep_groups; /* the file group of conf->endpoints[i] */
};

/*
 * Errors
 */

static void append_error(struct loader *ld, const char *line)
{
    size_t len = strlen(line);
    size_t sep = ld->errlen > 0 ? 1 : 0;

    ld->n_errors++;
    if (ld->errstr == NULL || ld->errstr_size == 0) {
        return;
    }
    /* The first error is always written, truncated if need be; the others
     * only whole, keeping room for the count of those left out. */
    if (ld->errlen > 0 &&
        (ld->n_omitted > 0 || ld->errlen + sep + len + ERR_TAIL_RESERVE >= ld->errstr_size)) {
        ld->n_omitted++;
        return;
    }
    if (sep > 0) {
        ld->errstr[ld->errlen++] = '\n';
    }
    size_t room = ld->errstr_size - ld->errlen - 1;
    if (len > room) {
        len = room;
    }
    memcpy(ld->errstr + ld->errlen, line, len);
    ld->errlen += len;
    ld->errstr[ld->errlen] = '\0';
}

static void finish_errors(struct loader *ld)
{
    if (ld->n_omitted == 0 || ld->errstr == NULL) {
        return;
    }
    size_t room = ld->errstr_size - ld->errlen;
    int n = snprintf(ld->errstr + ld->errlen, room, "\n(%d more errors)", ld->n_omitted);
    if (n > 0 && (size_t)n < room) {
        ld->errlen += (size_t)n;
    } else {
        ld->errstr[ld->errlen] = '\0';
    }
}

/* Adds "WHERE: PATH: message" (or "WHERE: message" when path is NULL). */
static void add_error(struct loader *ld, const char *where, const char *path, const char *fmt, ...)
    WB_PRINTF(4, 5);

static void add_error(struct loader *ld, const char *where, const char *path, const char *fmt, ...)
{
    char line[MSG_MAX];
    int n;

    if (path != NULL) {
        n = snprintf(line, sizeof(line), "%s: %s: ", where, path);
    } else {
        n = snprintf(line, sizeof(line), "%s: ", where);
    }
    if (n > 0 && (size_t)n < sizeof(line)) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(line + n, sizeof(line) - (size_t)n, fmt, ap);
        va_end(ap);
    }
    append_error(ld, line);
}

/* "file:line" of a setting; defaults are parsed from strings and have no
 * file. */
static void where_of(const struct loader *ld, const config_setting_t *s, char *buf, size_t size)
{
    const char *file = config_setting_source_file(s);
    unsigned line = config_setting_source_line(s);

    if (file == NULL && line > 0) {
        snprintf(buf, size, "built-in default");
    } else if (line == 0) {
        snprintf(buf, size, "%s", file != NULL ? file : ld->file);
    } else {
        snprintf(buf, size, "%s:%u", file, line);
    }
}

/* Quotes a value for a message, cut at a readable length. */
static void quote(const char *value, char *buf, size_t size)
{
    const size_t max = 64;

    if (strlen(value) > max) {
        snprintf(buf, size, "\"%.*s...\"", (int)max, value);
    } else {
        snprintf(buf, size, "\"%s\"", value);
    }
}

/* What a value of the file is, for wrong-type messages: "\"4\" is a string". */
static void describe(const config_setting_t *s, bool secret, char *buf, size_t size)
{
    char q[80];

    switch (config_setting_type(s)) {
    case CONFIG_TYPE_INT:
    case CONFIG_TYPE_INT64:
        snprintf(buf, size, "%lld is an integer", config_setting_get_int64(s));
        break;
    case CONFIG_TYPE_FLOAT:
        snprintf(buf, size, "%g is a number with a fraction", config_setting_get_float(s));
        break;
    case CONFIG_TYPE_BOOL:
        snprintf(buf, size, "%s is a boolean", config_setting_get_bool(s) ? "true" : "false");
        break;
    case CONFIG_TYPE_STRING:
        if (secret) {
            snprintf(buf, size, "the value is a string");
        } else {
            quote(config_setting_get_string(s), q, sizeof(q));
            snprintf(buf, size, "%s is a string", q);
        }
        break;
    case CONFIG_TYPE_GROUP:
        snprintf(buf, size, "the value is a group { ... }");
        break;
    case CONFIG_TYPE_ARRAY:
        snprintf(buf, size, "the value is an array [ ... ]");
        break;
    case CONFIG_TYPE_LIST:
        snprintf(buf, size, "the value is a list ( ... )");
        break;
    default:
        snprintf(buf, size, "the value has an unknown type");
        break;
    }
}

/* The bounds of a duration row as words: "greater than 0", "from 1s to 1h". */
static void duration_bounds_text(const struct conf_row *row, char *buf, size_t size)
{
    char lo[32], hi[32];

    duration_format(row->min, lo, sizeof(lo));
    duration_format(row->max, hi, sizeof(hi));
    if (row->min <= 0 && row->max == NO_MAX) {
        snprintf(buf, size, "of any length");
    } else if (row->min == 1 && row->max == NO_MAX) {
        snprintf(buf, size, "greater than 0");
    } else if (row->max == NO_MAX) {
        snprintf(buf, size, "of at least %s", lo);
    } else {
        snprintf(buf, size, "from %s to %s", lo, hi);
    }
}

/* What a valid value of the row looks like: the "(expected ...)" of the
 * messages and the "Values" column of the reference. */
static void expected_text(const struct conf_row *row, char *buf, size_t size)
{
    char d[96];

    if (row->expect != NULL) {
        snprintf(buf, size, "%s", row->expect);
        return;
    }
    switch (row->type) {
    case CT_GROUP:
        snprintf(buf, size, "a group { ... }");
        break;
    case CT_GROUP_LIST:
        snprintf(buf, size, "a list of groups ( { ... }, { ... } )");
        break;
    case CT_STRING:
        snprintf(buf, size, "a string");
        break;
    case CT_INT:
    case CT_INT64:
        snprintf(buf, size, "an integer from %" PRId64 " to %" PRId64, row->min, row->max);
        break;
    case CT_BOOL:
        snprintf(buf, size, "true or false");
        break;
    case CT_DURATION:
        duration_bounds_text(row, d, sizeof(d));
        snprintf(buf, size, "a duration %s: a string with a unit ms, s, m or h, e.g. \"30s\"", d);
        break;
    case CT_STRING_LIST:
        snprintf(buf, size, "a list of strings");
        break;
    case CT_DURATION_LIST:
        duration_bounds_text(row, d, sizeof(d));
        snprintf(buf, size, "a %slist of durations, each %s, such as [\"5m\", \"10m\"]",
                 (row->flags & F_NONEMPTY) ? "non-empty " : "", d);
        break;
    }
}

static void type_error(struct loader *ld, const struct conf_row *row, const config_setting_t *s,
                       const char *path)
{
    char where[PATH_MAX_LEN], what[128], expected[256];

    where_of(ld, s, where, sizeof(where));
    describe(s, (row->flags & F_SECRET) != 0, what, sizeof(what));
    expected_text(row, expected, sizeof(expected));
    add_error(ld, where, path, "wrong type: %s (expected %s)", what, expected);
}

/*
 * The table
 */

static size_t row_index(const struct conf_row *row)
{
    return (size_t)(row - conf_rows);
}

static const struct conf_row *row_find(const char *path)
{
    for (size_t i = 0; i < N_ROWS; i++) {
        if (strcmp(conf_rows[i].path, path) == 0) {
            return &conf_rows[i];
        }
    }
    return NULL;
}

static bool row_in_endpoint(const struct conf_row *row)
{
    return strncmp(row->path, EP_PREFIX ".", strlen(EP_PREFIX ".")) == 0;
}

/* The last component of a row's path: "timeout" for "delivery.timeout". */
static const char *row_name(const struct conf_row *row)
{
    const char *dot = strrchr(row->path, '.');
    return dot != NULL ? dot + 1 : row->path;
}

/* 1 when row is directly inside the group parent ("" for the top level). */
static bool row_is_child(const struct conf_row *row, const char *parent)
{
    size_t plen = strlen(parent);

    if (plen == 0) {
        return strchr(row->path, '.') == NULL;
    }
    return strncmp(row->path, parent, plen) == 0 && row->path[plen] == '.' &&
           strchr(row->path + plen + 1, '.') == NULL;
}

static void join_path(const char *parent, const char *name, char *buf, size_t size)
{
    if (parent[0] == '\0') {
        snprintf(buf, size, "%s", name);
    } else {
        snprintf(buf, size, "%s.%s", parent, name);
    }
}

static void *field(void *base, const struct conf_row *row)
{
    return (char *)base + row->off;
}

static void *count_field(void *base, const struct conf_row *row)
{
    return (char *)base + row->n_off;
}

/*
 * Unknown names and suggestions
 */

#define NAME_MAX_LEN 64

/* Levenshtein distance, or NAME_MAX_LEN when a name is too long to bother. */
static size_t edit_distance(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b);
    size_t prev[NAME_MAX_LEN + 1], cur[NAME_MAX_LEN + 1];

    if (la > NAME_MAX_LEN || lb > NAME_MAX_LEN) {
        return NAME_MAX_LEN;
    }
    for (size_t j = 0; j <= lb; j++) {
        prev[j] = j;
    }
    for (size_t i = 1; i <= la; i++) {
        cur[0] = i;
        for (size_t j = 1; j <= lb; j++) {
            size_t subst = prev[j - 1] + (a[i - 1] != b[j - 1]);
            size_t del = prev[j] + 1;
            size_t ins = cur[j - 1] + 1;
            size_t best = subst < del ? subst : del;
            cur[j] = best < ins ? best : ins;
        }
        memcpy(prev, cur, (lb + 1) * sizeof(prev[0]));
    }
    return prev[lb];
}

/* The closest known name in the group, when close enough to be an obvious
 * typo; else a setting of that exact name elsewhere ("brokers" at the top
 * level: kafka.brokers); else NULL. */
static const char *suggest(const char *name, const char *parent, char *buf, size_t size)
{
    const char *best = NULL;
    size_t best_d = NAME_MAX_LEN;

    for (size_t i = 0; i < N_ROWS; i++) {
        if (!row_is_child(&conf_rows[i], parent)) {
            continue;
        }
        const char *known = row_name(&conf_rows[i]);
        size_t d = edit_distance(name, known);
        if (d < best_d && d <= strlen(known) / 4 + 1) {
            best = known;
            best_d = d;
        }
    }
    if (best != NULL) {
        snprintf(buf, size, "%s", best);
        return buf;
    }
    for (size_t i = 0; i < N_ROWS; i++) {
        if (strcmp(row_name(&conf_rows[i]), name) == 0) {
            snprintf(buf, size, "%s", conf_rows[i].path);
            return buf;
        }
    }
    return NULL;
}

static void unknown_error(struct loader *ld, const config_setting_t *s, const char *parent,
                          const char *path)
{
    char where[PATH_MAX_LEN], known[512], hint[PATH_MAX_LEN + 32], sugg[PATH_MAX_LEN];
    size_t klen = 0;
    const char *name = config_setting_name(s);

    known[0] = '\0';
    for (size_t i = 0; i < N_ROWS && klen < sizeof(known); i++) {
        if (row_is_child(&conf_rows[i], parent)) {
            int n = snprintf(known + klen, sizeof(known) - klen, "%s%s", klen > 0 ? ", " : "",
                             row_name(&conf_rows[i]));
            klen += n > 0 ? (size_t)n : 0;
        }
    }
    hint[0] = '\0';
    if (suggest(name, parent, sugg, sizeof(sugg)) != NULL) {
        snprintf(hint, sizeof(hint), "; did you mean '%s'?", sugg);
    }
    where_of(ld, s, where, sizeof(where));
    add_error(ld, where, path, "unknown setting%s (expected one of: %s)", hint, known);
}

/*
 * Pass one: values
 */

/* Runs the row's check on a string; reports and returns -1 when it fails. */
static int check_string(struct loader *ld, const struct conf_row *row, const char *value,
                        const char *where, const char *path)
{
    char reason[MSG_MAX / 2];

    if (row->check == NULL || row->check(value, reason, sizeof(reason)) == 0) {
        return 0;
    }
    add_error(ld, where, path, "%s", reason);
    return -1;
}

static int parse_duration(struct loader *ld, const struct conf_row *row, const char *value,
                          const char *where, const char *path, int64_t *ms)
{
    char reason[MSG_MAX / 2], q[80], expected[96];

    if (duration_parse(value, ms, reason, sizeof(reason)) != 0) {
        add_error(ld, where, path, "%s", reason);
        return -1;
    }
    if (*ms < row->min || *ms > row->max) {
        quote(value, q, sizeof(q));
        duration_bounds_text(row, expected, sizeof(expected));
        add_error(ld, where, path, "%s is out of range (expected a duration %s)", q, expected);
        return -1;
    }
    return 0;
}

static void store_string(void *base, const struct conf_row *row, const char *value)
{
    char **p = field(base, row);
    free(*p);
    *p = xstrdup(value);
}

static void free_string_list(char **v, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(v[i]);
    }
    free(v);
}

/* A list of strings or durations: every element is checked and reported;
 * the field is replaced only when all are valid. */
static int load_list(struct loader *ld, const struct conf_row *row, const config_setting_t *s,
                     const char *path, void *base)
{
    int n = config_setting_length(s);
    char **strings = NULL;
    int64_t *durations = NULL;
    char where[PATH_MAX_LEN], epath[PATH_MAX_LEN], expected[256];
    int ret = 0;

    if (n == 0 && (row->flags & F_NONEMPTY)) {
        where_of(ld, s, where, sizeof(where));
        expected_text(row, expected, sizeof(expected));
        add_error(ld, where, path, "the list is empty (expected %s)", expected);
        return -1;
    }
    if (row->type == CT_STRING_LIST) {
        strings = xcalloc((size_t)n, sizeof(*strings));
    } else {
        durations = xcalloc((size_t)n, sizeof(*durations));
    }
    for (int i = 0; i < n; i++) {
        const config_setting_t *e = config_setting_get_elem(s, (unsigned)i);
        snprintf(epath, sizeof(epath), "%s[%d]", path, i);
        where_of(ld, e, where, sizeof(where));
        if (config_setting_type(e) != CONFIG_TYPE_STRING) {
            char what[128];
            describe(e, (row->flags & F_SECRET) != 0, what, sizeof(what));
            add_error(ld, where, epath, "wrong type: %s (expected %s)", what,
                      row->type == CT_STRING_LIST ? "a string"
                                                  : "a duration string such as \"5m\"");
            ret = -1;
            continue;
        }
        const char *value = config_setting_get_string(e);
        if (row->type == CT_STRING_LIST) {
            if (check_string(ld, row, value, where, epath) != 0) {
                ret = -1;
                continue;
            }
            strings[i] = xstrdup(value);
        } else if (parse_duration(ld, row, value, where, epath, &durations[i]) != 0) {
            ret = -1;
        }
    }
    if (ret != 0) {
        goto out;
    }
    if (row->type == CT_STRING_LIST) {
        char ***v = field(base, row);
        size_t *count = count_field(base, row);
        free_string_list(*v, *count);
        *v = strings;
        *count = (size_t)n;
        strings = NULL;
    } else {
        int64_t **v = field(base, row);
        free(*v);
        *v = durations;
        *(size_t *)count_field(base, row) = (size_t)n;
        durations = NULL;
    }
out:
    free(durations);
    if (strings != NULL) {
        free_string_list(strings, (size_t)n);
    }
    return ret;
}

/* Checks one value of the file against its row and stores it in base (a
 * struct conf or struct endpoint).  Returns -1 after reporting an error. */
static int load_value(struct loader *ld, const struct conf_row *row, const config_setting_t *s,
                      const char *path, void *base)
{
    char where[PATH_MAX_LEN], expected[256];
    int type = config_setting_type(s);

    where_of(ld, s, where, sizeof(where));
    switch (row->type) {
    case CT_STRING:
        if (type == CONFIG_TYPE_STRING) {
            const char *value = config_setting_get_string(s);
            if (check_string(ld, row, value, where, path) != 0) {
                return -1;
            }
            store_string(base, row, value);
            return 0;
        }
        break;
    case CT_INT:
    case CT_INT64:
        if (type == CONFIG_TYPE_INT || type == CONFIG_TYPE_INT64) {
            long long v = config_setting_get_int64(s);
            if (v < row->min || v > row->max) {
                expected_text(row, expected, sizeof(expected));
                add_error(ld, where, path, "%lld is out of range (expected %s)", v, expected);
                return -1;
            }
            if (row->type == CT_INT) {
                *(int *)field(base, row) = (int)v;
            } else {
                *(int64_t *)field(base, row) = v;
            }
            return 0;
        }
        break;
    case CT_BOOL:
        if (type == CONFIG_TYPE_BOOL) {
            *(bool *)field(base, row) = config_setting_get_bool(s) != 0;
            return 0;
        }
        break;
    case CT_DURATION:
        if (type == CONFIG_TYPE_STRING) {
            int64_t ms;
            if (parse_duration(ld, row, config_setting_get_string(s), where, path, &ms) != 0) {
                return -1;
            }
            *(int64_t *)field(base, row) = ms;
            return 0;
        }
        break;
    case CT_STRING_LIST:
    case CT_DURATION_LIST:
        if (type == CONFIG_TYPE_ARRAY || type == CONFIG_TYPE_LIST) {
            return load_list(ld, row, s, path, base);
        }
        break;
    case CT_GROUP:
    case CT_GROUP_LIST:
        break;
    }
    type_error(ld, row, s, path);
    return -1;
}

/* Sets a row to its default, written in libconfig syntax in the table, by
 * the same code that reads the file. */
static void load_default(struct loader *ld, const struct conf_row *row, void *base)
{
    char text[256];
    config_t cfg;

    config_init(&cfg);
    snprintf(text, sizeof(text), "value = %s;", row->def);
    if (config_read_string(&cfg, text) != CONFIG_TRUE) {
        add_error(ld, "built-in default", row->path, "cannot parse %s: %s", row->def,
                  config_error_text(&cfg));
    } else if (load_value(ld, row, config_lookup(&cfg, "value"), row->path, base) != 0) {
        ld->bad[row_index(row)] = true;
    }
    config_destroy(&cfg);
}

/* Defaults of the struct conf rows (in_endpoint false) or of the
 * struct endpoint rows (true). */
static void load_defaults(struct loader *ld, bool in_endpoint, void *base)
{
    for (size_t i = 0; i < N_ROWS; i++) {
        const struct conf_row *row = &conf_rows[i];
        if (row->def != NULL && row->type != CT_GROUP_LIST && row_in_endpoint(row) == in_endpoint) {
            load_default(ld, row, base);
        }
    }
}

static void load_endpoints(struct loader *ld, const config_setting_t *list);

/* Matches every setting of a group to its row.  tpath is the group's path in
 * the table ("delivery", "endpoints[]"), path its path in messages
 * ("delivery", "endpoints[2]"). */
static void load_group(struct loader *ld, const config_setting_t *group, const char *tpath,
                       const char *path, void *base)
{
    char child_tpath[PATH_MAX_LEN], child_path[PATH_MAX_LEN];
    int n = config_setting_length(group);

    for (int i = 0; i < n; i++) {
        const config_setting_t *s = config_setting_get_elem(group, (unsigned)i);
        const char *name = config_setting_name(s);
        join_path(tpath, name, child_tpath, sizeof(child_tpath));
        join_path(path, name, child_path, sizeof(child_path));
        const struct conf_row *row = row_find(child_tpath);
        if (row == NULL) {
            unknown_error(ld, s, tpath, child_path);
            continue;
        }
        size_t ri = row_index(row);
        ld->seen[ri] = true;
        int type = config_setting_type(s);
        if (row->type == CT_GROUP) {
            if (type != CONFIG_TYPE_GROUP) {
                type_error(ld, row, s, child_path);
                ld->bad[ri] = true;
            } else {
                load_group(ld, s, child_tpath, child_path, base);
            }
        } else if (row->type == CT_GROUP_LIST) {
            if (type != CONFIG_TYPE_LIST && type != CONFIG_TYPE_ARRAY) {
                type_error(ld, row, s, child_path);
                ld->bad[ri] = true;
            } else {
                load_endpoints(ld, s);
            }
        } else if (load_value(ld, row, s, child_path, base) != 0) {
            ld->bad[ri] = true;
        }
    }
}

static void load_endpoint(struct loader *ld, const config_setting_t *group, int index)
{
    struct conf *conf = ld->conf;
    struct endpoint *ep = endpoint_new();
    char path[64], where[PATH_MAX_LEN], expected[256];

    snprintf(path, sizeof(path), "endpoints[%d]", index);
    /* seen and bad of the endpoint rows describe the current entry. */
    for (size_t i = 0; i < N_ROWS; i++) {
        if (row_in_endpoint(&conf_rows[i])) {
            ld->seen[i] = false;
            ld->bad[i] = false;
        }
    }
    load_defaults(ld, true, ep);
    load_group(ld, group, EP_PREFIX, path, ep);
    for (size_t i = 0; i < N_ROWS; i++) {
        const struct conf_row *row = &conf_rows[i];
        if (row_in_endpoint(row) && (row->flags & F_REQUIRED) && !ld->seen[i]) {
            where_of(ld, group, where, sizeof(where));
            expected_text(row, expected, sizeof(expected));
            char rpath[PATH_MAX_LEN];
            snprintf(rpath, sizeof(rpath), "%s.%s", path, row_name(row));
            add_error(ld, where, rpath, "missing required setting (expected %s)", expected);
        }
    }
    conf->endpoints = xrealloc(conf->endpoints, (conf->n_endpoints + 1) * sizeof(ep));
    ld->ep_groups = xrealloc(ld->ep_groups, (conf->n_endpoints + 1) * sizeof(group));
    conf->endpoints[conf->n_endpoints] = ep;
    ld->ep_groups[conf->n_endpoints] = group;
    conf->n_endpoints++;
}

static void load_endpoints(struct loader *ld, const config_setting_t *list)
{
    const struct conf_row *row = row_find("endpoints");
    char where[PATH_MAX_LEN], path[64];
    int n = config_setting_length(list);

    for (int i = 0; i < n; i++) {
        const config_setting_t *e = config_setting_get_elem(list, (unsigned)i);
        if (config_setting_type(e) != CONFIG_TYPE_GROUP) {
            char what[128];
            snprintf(path, sizeof(path), "endpoints[%d]", i);
            where_of(ld, e, where, sizeof(where));
            describe(e, false, what, sizeof(what));
            add_error(
                ld, where, path,
                "wrong type: %s (expected a group { id = ...; account_id = ...; url = ...; })",
                what);
            ld->bad[row_index(row)] = true;
            continue;
        }
        load_endpoint(ld, e, i);
    }
}

/* Environment variables override string settings of the file; an empty
 * variable counts as unset. */
static void load_env(struct loader *ld)
{
    char where[PATH_MAX_LEN];

    for (size_t i = 0; i < N_ROWS; i++) {
        const struct conf_row *row = &conf_rows[i];
        if (row->env == NULL || row->type != CT_STRING) {
            continue;
        }
        const char *value = getenv(row->env);
        if (value == NULL || value[0] == '\0') {
            continue;
        }
        snprintf(where, sizeof(where), "env %s", row->env);
        if (check_string(ld, row, value, where, row->path) != 0) {
            ld->bad[i] = true;
            continue;
        }
        store_string(ld->conf, row, value);
        ld->bad[i] = false;
    }
}

/*
 * Pass two: rules across values, and derived values
 */

/* Where a setting of the file is, for a rule about it: its own line when
 * given, else the file. */
static void where_path(const struct loader *ld, const config_t *cfg, const char *path, char *buf,
                       size_t size)
{
    const config_setting_t *s = config_lookup(cfg, path);

    if (s != NULL) {
        where_of(ld, s, buf, size);
    } else {
        snprintf(buf, size, "%s", ld->file);
    }
}

static bool rule_applies(const struct loader *ld, const char *a, const char *b)
{
    return !ld->bad[row_index(row_find(a))] && !ld->bad[row_index(row_find(b))];
}

static void check_delivery_rules(struct loader *ld, const config_t *cfg)
{
    const struct conf *conf = ld->conf;
    char where[PATH_MAX_LEN], a[32], b[32];

    if (rule_applies(ld, "delivery.endpoint_max_in_flight", "delivery.max_in_flight") &&
        conf->delivery.endpoint_max_in_flight > conf->delivery.max_in_flight) {
        const char *path = ld->seen[row_index(row_find("delivery.endpoint_max_in_flight"))]
                               ? "delivery.endpoint_max_in_flight"
                               : "delivery.max_in_flight";
        where_path(ld, cfg, path, where, sizeof(where));
        add_error(ld, where, path,
                  "delivery.endpoint_max_in_flight (%d) is more than delivery.max_in_flight (%d) "
                  "(expected endpoint_max_in_flight <= max_in_flight)",
                  conf->delivery.endpoint_max_in_flight, conf->delivery.max_in_flight);
    }
    if (rule_applies(ld, "delivery.timeout", "delivery.connect_timeout") &&
        conf->delivery.timeout_ms < conf->delivery.connect_timeout_ms) {
        const char *path = ld->seen[row_index(row_find("delivery.timeout"))]
                               ? "delivery.timeout"
                               : "delivery.connect_timeout";
        where_path(ld, cfg, path, where, sizeof(where));
        duration_format(conf->delivery.timeout_ms, a, sizeof(a));
        duration_format(conf->delivery.connect_timeout_ms, b, sizeof(b));
        add_error(ld, where, path,
                  "delivery.timeout (%s) is shorter than delivery.connect_timeout (%s) "
                  "(expected timeout >= connect_timeout: the timeout includes connecting)",
                  a, b);
    }
}

/* The producer's message.max.bytes as kafka.properties sets it, else
 * librdkafka's default. */
static int64_t message_max_bytes(const struct conf *conf)
{
    static const char name[] = "message.max.bytes=";
    int64_t v = 1000000;
    for (size_t i = 0; i < conf->kafka.n_properties; i++) {
        if (strncmp(conf->kafka.properties[i], name, sizeof(name) - 1) == 0) {
            v = strtoll(conf->kafka.properties[i] + sizeof(name) - 1, NULL, 10);
        }
    }
    return v;
}

/* Every accepted event must fit, parked, in one record the producer takes:
 * otherwise its delivery could only ever be dead-lettered, truncated. */
static void check_size_rules(struct loader *ld, const config_t *cfg)
{
    const struct conf *conf = ld->conf;
    char where[PATH_MAX_LEN];
    int64_t limit = message_max_bytes(conf) - CONF_RECORD_ROOM;
    if (!rule_applies(ld, "delivery.max_event_bytes", "kafka.properties") ||
        conf->delivery.max_event_bytes <= limit) {
        return;
    }
    const char *path = ld->seen[row_index(row_find("delivery.max_event_bytes"))]
                           ? "delivery.max_event_bytes"
                           : "kafka.properties";
    where_path(ld, cfg, path, where, sizeof(where));
    add_error(ld, where, path,
              "delivery.max_event_bytes (%lld) does not leave room for a parked delivery's "
              "record in message.max.bytes (%lld) (expected max_event_bytes <= %lld, "
              "message.max.bytes - %d)",
              (long long)conf->delivery.max_event_bytes, (long long)message_max_bytes(conf),
              (long long)limit, CONF_RECORD_ROOM);
}

static void check_topic_rules(struct loader *ld, const config_t *cfg)
{
    static const char *const paths[] = {"kafka.topics.events", "kafka.topics.endpoints",
                                        "kafka.topics.dead_letter", "kafka.topics.attempts"};
    char where[PATH_MAX_LEN];

    for (size_t i = 0; i < WB_ARRAY_LEN(paths); i++) {
        for (size_t j = i + 1; j < WB_ARRAY_LEN(paths); j++) {
            const struct conf_row *ri = row_find(paths[i]);
            const struct conf_row *rj = row_find(paths[j]);
            const char *ti = *(char **)field(ld->conf, ri);
            const char *tj = *(char **)field(ld->conf, rj);
            if (ti[0] == '\0' || strcmp(ti, tj) != 0 || !rule_applies(ld, paths[i], paths[j])) {
                continue;
            }
            where_path(ld, cfg, paths[j], where, sizeof(where));
            add_error(ld, where, paths[j], "topic \"%s\" is also %s (expected distinct topics)", tj,
                      paths[i]);
        }
    }
}

static void check_endpoint_rules(struct loader *ld)
{
    const struct conf *conf = ld->conf;
    char where[PATH_MAX_LEN], other[PATH_MAX_LEN], path[64];

    for (size_t i = 0; i < conf->n_endpoints; i++) {
        const struct endpoint *ep = conf->endpoints[i];
        const config_setting_t *group = ld->ep_groups[i];
        int index = config_setting_index(group);

        if (ep->n_event_types > 1) {
            for (size_t k = 0; k < ep->n_event_types; k++) {
                if (strcmp(ep->event_types[k], "*") == 0) {
                    snprintf(path, sizeof(path), "endpoints[%d].event_types", index);
                    where_of(ld, config_setting_get_member(group, "event_types"), where,
                             sizeof(where));
                    add_error(ld, where, path,
                              "\"*\" is mixed with other event types (expected [\"*\"] alone, "
                              "or a list of event types without \"*\")");
                    break;
                }
            }
        }
        if (ep->id == NULL) {
            continue;
        }
        for (size_t j = 0; j < i; j++) {
            const struct endpoint *prev = conf->endpoints[j];
            if (prev->id == NULL || strcmp(prev->id, ep->id) != 0) {
                continue;
            }
            snprintf(path, sizeof(path), "endpoints[%d].id", index);
            where_of(ld, config_setting_get_member(group, "id"), where, sizeof(where));
            where_of(ld, config_setting_get_member(ld->ep_groups[j], "id"), other, sizeof(other));
            add_error(ld, where, path,
                      "duplicate endpoint id \"%s\", already used at %s (expected unique ids)",
                      ep->id, other);
            break;
        }
    }
}

static void check_rules(struct loader *ld, const config_t *cfg)
{
    struct conf *conf = ld->conf;

    conf->kafka.embedded = strcmp(conf->kafka.brokers, "embedded") == 0;
    if (!ld->seen[row_index(row_find("kafka.create_topics"))]) {
        conf->kafka.create_topics = conf->kafka.embedded;
    }
    if (conf->kafka.replication == 0 && !ld->bad[row_index(row_find("kafka.replication"))]) {
        char where[PATH_MAX_LEN];
        where_path(ld, cfg, "kafka.replication", where, sizeof(where));
        add_error(ld, where, "kafka.replication",
                  "0 is not a replication factor (expected -1 for the broker's default, or 1 to "
                  "100)");
    }
    if (conf->kafka.embedded) {
        /* The embedded cluster has one broker. */
        conf->kafka.replication = 1;
    }
    check_delivery_rules(ld, cfg);
    check_size_rules(ld, cfg);
    check_topic_rules(ld, cfg);
    check_endpoint_rules(ld);
}

/*
 * Loading
 */

/* The directory of path, for @include of relative files. */
static char *dir_of(const char *path)
{
    const char *slash = strrchr(path, '/');

    if (slash == NULL) {
        return xstrdup(".");
    }
    if (slash == path) {
        return xstrdup("/");
    }
    return xstrndup(path, (size_t)(slash - path));
}

int conf_load(struct conf **confp, const char *path, char *errstr, size_t errstr_size)
{
    struct loader ld;
    struct conf *conf = xcalloc(1, sizeof(*conf));
    char *dir = dir_of(path);
    config_t cfg;
    char where[PATH_MAX_LEN];
    int ret = -1;

    *confp = NULL;
    if (errstr != NULL && errstr_size > 0) {
        errstr[0] = '\0';
    }
    memset(&ld, 0, sizeof(ld));
    ld.conf = conf;
    ld.file = path;
    ld.errstr = errstr;
    ld.errstr_size = errstr_size;
    conf->path = xstrdup(path);

    config_init(&cfg);
    config_set_include_dir(&cfg, dir);
    load_defaults(&ld, false, conf);
    errno = 0;
    if (config_read_file(&cfg, path) != CONFIG_TRUE) {
        int err = errno;
        const char *file = config_error_file(&cfg) != NULL ? config_error_file(&cfg) : path;
        if (config_error_type(&cfg) == CONFIG_ERR_FILE_IO) {
            /* A directory opens, then fails to read without errno. */
            if (err == 0) {
                err = EISDIR;
            }
            /* Called before any thread starts: strerror is safe here. */
            add_error(&ld, file, NULL, "cannot read: %s", strerror(err));
        } else {
            snprintf(where, sizeof(where), "%s:%d", file, config_error_line(&cfg));
            add_error(&ld, where, NULL, "%s", config_error_text(&cfg));
        }
        goto out;
    }
    load_group(&ld, config_root_setting(&cfg), "", "", conf);
    load_env(&ld);
    check_rules(&ld, &cfg);
    if (ld.n_errors > 0) {
        goto out;
    }
    *confp = conf;
    conf = NULL;
    ret = 0;
out:
    finish_errors(&ld);
    free(ld.ep_groups);
    config_destroy(&cfg);
    free(dir);
    conf_destroy(conf);
    return ret;
}

void conf_destroy(struct conf *conf)
{
    if (conf == NULL) {
        return;
    }
    for (size_t i = 0; i < N_ROWS; i++) {
        const struct conf_row *row = &conf_rows[i];
        if (row_in_endpoint(row)) {
            continue;
        }
        if (row->type == CT_STRING) {
            free(*(char **)field(conf, row));
        } else if (row->type == CT_STRING_LIST) {
            free_string_list(*(char ***)field(conf, row), *(size_t *)count_field(conf, row));
        } else if (row->type == CT_DURATION_LIST) {
            free(*(int64_t **)field(conf, row));
        }
    }
    for (size_t i = 0; i < conf->n_endpoints; i++) {
        endpoint_unref(conf->endpoints[i]);
    }
    free(conf->endpoints);
    free(conf->path);
    free(conf);
}

/*
 * Value checks (row->check): "what is wrong (expected what)"
 */

static int check_nonempty(const char *value, char *errstr, size_t errstr_size)
{
    if (value[0] == '\0') {
        util_errf(errstr, errstr_size, "empty string (expected a non-empty string)");
        return -1;
    }
    return 0;
}

static int check_readable_or_empty(const char *value, char *errstr, size_t errstr_size)
{
    if (value[0] == '\0') {
        return 0;
    }
    FILE *fp = fopen(value, "r");
    if (fp == NULL) {
        util_errf(errstr, errstr_size, "cannot read \"%s\": %s (expected %s)", value,
                  strerror(errno), CA_FILE_EXPECT);
        return -1;
    }
    struct stat st;
    int regular = fstat(fileno(fp), &st) == 0 && S_ISREG(st.st_mode);
    fclose(fp);
    /* fopen opens a directory too; libcurl would then fail every HTTPS
     * attempt, not the start. */
    if (!regular) {
        util_errf(errstr, errstr_size, "\"%s\" is not a file (expected %s)", value, CA_FILE_EXPECT);
        return -1;
    }
    /* As libcurl's OpenSSL loads it (SSL_CTX_load_verify_locations): at
     * least one certificate, or every HTTPS attempt fails. */
    X509_STORE *store = X509_STORE_new();
    int loaded = store != NULL && X509_STORE_load_file(store, value) == 1;
    X509_STORE_free(store);
    ERR_clear_error();
    if (!loaded) {
        util_errf(errstr, errstr_size, "\"%s\" holds no PEM certificate (expected %s)", value,
                  CA_FILE_EXPECT);
        return -1;
    }
    return 0;
}

static int check_brokers(const char *value, char *errstr, size_t errstr_size)
{
    if (value[0] == '\0') {
        util_errf(errstr, errstr_size,
                  "empty broker list (expected \"embedded\" or host:port,host:port)");
        return -1;
    }
    for (const char *p = value; *p != '\0'; p++) {
        if (*p == ' ' || *p == '\t' || *p == '\n') {
            util_errf(errstr, errstr_size,
                      "\"%s\" contains white space (expected \"embedded\" or host:port,host:port)",
                      value);
            return -1;
        }
    }
    return 0;
}

#define TOPIC_MAX 200

static int check_topic(const char *value, char *errstr, size_t errstr_size)
{
    size_t len = strlen(value);

    if (len == 0) {
        util_errf(errstr, errstr_size, "empty topic name (expected " TOPIC_EXPECT ")");
        return -1;
    }
    if (len > TOPIC_MAX) {
        util_errf(errstr, errstr_size, "topic name is %zu characters long (expected at most %d)",
                  len, TOPIC_MAX);
        return -1;
    }
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)value[i];
        bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                  c == '.' || c == '_' || c == '-';
        if (!ok) {
            util_errf(errstr, errstr_size,
                      "\"%s\" is not a valid topic name (expected " TOPIC_EXPECT ")", value);
            return -1;
        }
    }
    return 0;
}

static int check_topic_or_empty(const char *value, char *errstr, size_t errstr_size)
{
    if (value[0] == '\0') {
        return 0;
    }
    return check_topic(value, errstr, errstr_size);
}

static int check_cidr(const char *value, char *errstr, size_t errstr_size)
{
    struct netguard_cidr c;
    return netguard_parse_cidr(value, &c, errstr, errstr_size);
}

/* librdkafka properties the bridge sets itself, refused in kafka.properties:
 * the first ones have their own settings, the others carry the at-least-once
 * guarantee (offsets stored only for resolved records and committed in the
 * background; parked and dead-lettered records acknowledged by every in-sync
 * replica, without duplicates from retries). */
static const struct {
    const char *name;
    const char *why;
} managed_properties[] = {
    {"bootstrap.servers", "expected kafka.brokers instead"},
    {"metadata.broker.list", "expected kafka.brokers instead"},
    {"group.id", "expected kafka.group_id instead"},
    {"enable.auto.offset.store", "false: offsets are stored only for resolved records"},
    {"enable.auto.commit", "true: the stored offsets are committed every second"},
    {"auto.offset.reset", "earliest: a partition with no committed offset is read from its start; "
                          "latest would skip the records parked or produced before its first "
                          "assignment"},
    {"enable.idempotence", "true: parked and dead-lettered records are never duplicated"},
    {"acks", "all: parked and dead-lettered records must survive a broker loss"},
    {"request.required.acks", "all: parked and dead-lettered records must survive a broker loss"},
};

static int check_property(const char *value, char *errstr, size_t errstr_size)
{
    const char *eq = strchr(value, '=');
    rd_kafka_conf_t *scratch = NULL;
    char *name = NULL;
    char rderr[256];
    int ret = -1;

    /* Property values may be passwords: messages quote the name only. */
    if (eq == NULL) {
        util_errf(errstr, errstr_size,
                  "property has no '=' (expected \"name=value\", e.g. "
                  "\"security.protocol=ssl\")");
        goto out;
    }
    if (eq == value) {
        util_errf(errstr, errstr_size,
                  "property has an empty name (expected \"name=value\", e.g. "
                  "\"security.protocol=ssl\")");
        goto out;
    }
    name = xstrndup(value, (size_t)(eq - value));
    for (size_t i = 0; i < WB_ARRAY_LEN(managed_properties); i++) {
        if (strcmp(name, managed_properties[i].name) == 0) {
            util_errf(errstr, errstr_size, "property \"%s\" is set by the bridge (%s)", name,
                      managed_properties[i].why);
            goto out;
        }
    }
    scratch = rd_kafka_conf_new();
    if (rd_kafka_conf_set(scratch, name, eq + 1, rderr, sizeof(rderr)) != RD_KAFKA_CONF_OK) {
        util_errf(errstr, errstr_size,
                  "librdkafka refuses property \"%s\": %s (expected a property of librdkafka's "
                  "CONFIGURATION.md with a valid value)",
                  name, rderr);
        goto out;
    }
    ret = 0;
out:
    if (scratch != NULL) {
        rd_kafka_conf_destroy(scratch);
    }
    free(name);
    return ret;
}

static int check_event_type(const char *value, char *errstr, size_t errstr_size)
{
    if (value[0] == '\0') {
        util_errf(errstr, errstr_size,
                  "empty event type (expected an event type such as \"Subscribe\", or \"*\")");
        return -1;
    }
    return 0;
}

static int check_listen(const char *value, char *errstr, size_t errstr_size)
{
    static const char expect[] = "expected host:port with a port from 0 (any free port) to "
                                 "65535, e.g. \"127.0.0.1:8080\" or \"[::1]:8080\"";
    const char *colon = strrchr(value, ':');
    size_t host_len = colon != NULL ? (size_t)(colon - value) : 0;
    long port = 0;

    if (colon == NULL || host_len == 0) {
        util_errf(errstr, errstr_size, "\"%s\" has no host:port (%s)", value, expect);
        return -1;
    }
    if (value[0] == '[') {
        if (host_len < 3 || value[host_len - 1] != ']') {
            util_errf(errstr, errstr_size, "\"%s\" has a bad [IPv6] host (%s)", value, expect);
            return -1;
        }
    } else if (memchr(value, ':', host_len) != NULL) {
        util_errf(errstr, errstr_size, "\"%s\" has an IPv6 host without brackets (%s)", value,
                  expect);
        return -1;
    }
    const char *p = colon + 1;
    if (*p == '\0') {
        util_errf(errstr, errstr_size, "\"%s\" has no port (%s)", value, expect);
        return -1;
    }
    for (; *p != '\0'; p++) {
        if (*p < '0' || *p > '9' || port > 65535) {
            util_errf(errstr, errstr_size, "\"%s\" has a bad port (%s)", value, expect);
            return -1;
        }
        port = port * 10 + (*p - '0');
    }
    if (port > 65535) {
        util_errf(errstr, errstr_size, "\"%s\" has port %ld (%s)", value, port, expect);
        return -1;
    }
    return 0;
}

static int check_log_level(const char *value, char *errstr, size_t errstr_size)
{
    enum log_level lvl;

    if (log_level_parse(value, &lvl) != 0 || lvl == LVL_OFF) {
        util_errf(errstr, errstr_size,
                  "\"%s\" is not a log level (expected debug, info, warn or error)", value);
        return -1;
    }
    return 0;
}

/*
 * Output
 */

void conf_print_summary(const struct conf *conf, FILE *fp)
{
    char d[32];

    fprintf(fp, "config:    %s\n", conf->path);
    fprintf(fp, "brokers:   %s%s\n", conf->kafka.brokers,
            conf->kafka.embedded ? " (in-process mock cluster)" : "");
    fprintf(fp, "group:     %s\n", conf->kafka.group_id);
    fprintf(fp, "topics:    events %s, endpoints %s, dead letters %s, attempts %s\n",
            conf->kafka.events_topic, conf->kafka.endpoints_topic, conf->kafka.dead_letter_topic,
            conf->kafka.attempts_topic[0] != '\0' ? conf->kafka.attempts_topic : "(off)");
    fprintf(fp, "delay:    ");
    for (size_t i = 0; i < conf->retry.n_schedule; i++) {
        bool seen_before = false;
        for (size_t j = 0; j < i; j++) {
            seen_before = seen_before || conf->retry.schedule_ms[j] == conf->retry.schedule_ms[i];
        }
        if (!seen_before) {
            duration_format(conf->retry.schedule_ms[i], d, sizeof(d));
            fprintf(fp, " %s-%s", conf->kafka.delay_prefix, d);
        }
    }
    fprintf(fp, "\n");
    if (conf->kafka.create_topics) {
        fprintf(fp, "create:    missing topics, %d partitions, replication %d\n",
                conf->kafka.partitions, conf->kafka.replication);
    }
    if (conf->kafka.n_properties > 0) {
        fprintf(fp, "kafka:     %zu librdkafka properties\n", conf->kafka.n_properties);
    }
    fprintf(fp, "delivery:  %d workers, %d in flight (%d per endpoint)", conf->delivery.workers,
            conf->delivery.max_in_flight, conf->delivery.endpoint_max_in_flight);
    duration_format(conf->delivery.connect_timeout_ms, d, sizeof(d));
    fprintf(fp, ", connect timeout %s", d);
    duration_format(conf->delivery.timeout_ms, d, sizeof(d));
    fprintf(fp, ", timeout %s\n", d);
    if (conf->delivery.allow_private_networks) {
        fprintf(fp, "guard:     off (allow_private_networks): internal addresses are reachable\n");
    } else {
        fprintf(fp, "guard:     internal addresses blocked");
        for (size_t i = 0; i < conf->delivery.n_allow_networks; i++) {
            fprintf(fp, "%s%s", i == 0 ? "; allow_networks " : ", ",
                    conf->delivery.allow_networks[i]);
        }
        fprintf(fp, "\n");
    }
    fprintf(fp, "retry:     schedule");
    for (size_t i = 0; i < conf->retry.n_schedule; i++) {
        duration_format(conf->retry.schedule_ms[i], d, sizeof(d));
        fprintf(fp, "%s%s", i > 0 ? ", " : " ", d);
    }
    duration_format(conf->retry.window_ms, d, sizeof(d));
    fprintf(fp, " (last repeats), window %s\n", d);
    fprintf(fp, "endpoints: %zu in the file", conf->n_endpoints);
    for (size_t i = 0; i < conf->n_endpoints; i++) {
        const struct endpoint *ep = conf->endpoints[i];
        fprintf(fp, "%s%s%s", i > 0 ? ", " : ": ", ep->id, ep->enabled ? "" : " (disabled)");
    }
    fprintf(fp, "\n");
    fprintf(fp, "admin:     %s\n", conf->admin.listen);
    fprintf(fp, "log:       %s\n", conf->log.level);
}

static const char *type_name(enum conf_type type)
{
    switch (type) {
    case CT_GROUP:
        return "group";
    case CT_GROUP_LIST:
        return "list of groups";
    case CT_STRING:
        return "string";
    case CT_INT:
    case CT_INT64:
        return "integer";
    case CT_BOOL:
        return "boolean";
    case CT_DURATION:
        return "duration";
    case CT_STRING_LIST:
        return "list of strings";
    case CT_DURATION_LIST:
        return "list of durations";
    }
    return "?";
}

/* Text in a Markdown table cell: '|' would end the cell and '*' could start
 * emphasis ("sasl.*, ssl.*"). */
static void print_cell(FILE *fp, const char *text)
{
    for (const char *p = text; *p != '\0'; p++) {
        if (*p == '|' || *p == '*') {
            fputc('\\', fp);
        }
        fputc(*p, fp);
    }
}

/* Code in a table cell: only '|' needs escaping (GitHub renders "\|"). */
static void print_code_cell(FILE *fp, const char *code)
{
    fputc('`', fp);
    for (const char *p = code; *p != '\0'; p++) {
        if (*p == '|') {
            fputc('\\', fp);
        }
        fputc(*p, fp);
    }
    fputc('`', fp);
}

static void print_row(FILE *fp, const struct conf_row *row)
{
    char expected[256];

    fprintf(fp, "| `%s` | %s | ", row->path, type_name(row->type));
    if (row->flags & F_REQUIRED) {
        fputs("required", fp);
    } else if (row->def != NULL) {
        print_code_cell(fp, row->def);
    } else if (row->doc_default != NULL) {
        print_cell(fp, row->doc_default);
    }
    fputs(" | ", fp);
    if (row->type != CT_GROUP && row->type != CT_GROUP_LIST) {
        expected_text(row, expected, sizeof(expected));
        print_cell(fp, expected);
    }
    fputs(" | ", fp);
    print_cell(fp, row->help);
    if (row->env != NULL) {
        fprintf(fp, " Environment: `%s`.", row->env);
    }
    fputs(" |\n", fp);
}

static const char reference_intro[] =
    "# Configuration reference\n"
    "\n"
    "<!-- Generated by `make reference` (conf_print_reference in bridge/conf.c):\n"
    "     edit the table there, not this file. -->\n"
    "\n"
    "webhook-bridge reads one [libconfig](https://hyperrealm.github.io/libconfig/) file,\n"
    "`conf/bridge.conf` being the documented example. `check-config` loads a file and\n"
    "prints every problem, or a summary of the settings:\n"
    "\n"
    "    webhook-bridge check-config -c conf/bridge.conf\n"
    "\n"
    "Every group and every setting is optional except the `id`, `account_id` and `url`\n"
    "of an endpoint; a missing setting takes its default. Durations are strings of\n"
    "one or more `<integer><unit>` parts with the units `ms`, `s`, `m`, `h`: `\"500ms\"`,\n"
    "`\"30s\"`, `\"5m\"`, `\"1h30m\"`. A relative `@include` is read from the directory of\n"
    "the file, so secrets can live in a separate file (for example a Kubernetes\n"
    "Secret mounted next to the ConfigMap) included on its own line inside `secrets`.\n"
    "\n"
    "## Environment overrides\n"
    "\n"
    "So that one image serves every environment, these variables replace the value of\n"
    "the file. They are checked like the file; an empty variable counts as unset.\n"
    "\n"
    "| Variable | Setting |\n"
    "|---|---|\n";

static const char reference_errors[] =
    "\n"
    "## Errors\n"
    "\n"
    "The whole file is checked before the bridge starts; every problem is reported,\n"
    "one per line, and the exit code is 2. Unknown names are refused at every level\n"
    "(with a suggestion for an obvious typo), as are values of the wrong type (`\"4\"`\n"
    "for an integer) and values out of range. Each line reads\n"
    "`FILE:LINE: SETTING: what is wrong (expected WHAT)`:\n"
    "\n"
    "    bridge.conf:12: delivery.timeout: duration \"10x\" has an unknown unit (expected ms, "
    "s, m or h, e.g. \"30s\")\n"
    "    bridge.conf:14: delivery.max_inflight: unknown setting; did you mean "
    "'max_in_flight'? (expected one of: ...)\n"
    "    env WEBHOOK_BRIDGE_LOG_LEVEL: log.level: \"loud\" is not a log level (expected "
    "debug, info, warn or error)\n"
    "\n"
    "Messages never quote a signing secret or a URL that carries credentials.\n";

void conf_print_reference(FILE *fp)
{
    fputs(reference_intro, fp);
    for (size_t i = 0; i < N_ROWS; i++) {
        if (conf_rows[i].env != NULL) {
            fprintf(fp, "| `%s` | `%s` |\n", conf_rows[i].env, conf_rows[i].path);
        }
    }
    fputs(reference_errors, fp);
    for (size_t i = 0; i < N_ROWS; i++) {
        const struct conf_row *row = &conf_rows[i];
        if (strchr(row->path, '.') == NULL) {
            fprintf(fp, "\n## %s\n\n", row->path);
            print_cell(fp, row->help);
            if (row->type == CT_GROUP_LIST) {
                fputs(" Each entry is a group with the settings below.", fp);
            }
            fputs("\n\n| Setting | Type | Default | Values | Description |\n"
                  "|---|---|---|---|---|\n",
                  fp);
            continue;
        }
        print_row(fp, row);
    }
}
