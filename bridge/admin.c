/*
 * admin: /healthz, /readyz and /metrics on libmicrohttpd's internal thread
 * (see admin.h).  Each request takes `lock` while it reads the parts main
 * handed over, so main can take one back (NULL) before destroying it.
 */
#include "admin.h"

#include <netdb.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <jansson.h>
#include <microhttpd.h>

#include "consumer.h"
#include "deliver.h"
#include "log.h"
#include "metrics.h"
#include "pipeline.h"
#include "producer.h"
#include "registry.h"
#include "regsync.h"

struct admin {
    struct MHD_Daemon *daemon;
    pthread_mutex_t lock; /* guards the pointers below */
    struct pipeline *pl;
    struct registry *registry;
    struct regsync *regsync;
    struct consumer *events;
    struct consumer *delay;
    char missing[700]; /* the reason when topics are missing, or ""; lock */
    atomic_int stopping;
};

static enum MHD_Result reply(struct MHD_Connection *conn, unsigned int status, const char *type,
                             char *body, size_t len)
{
    struct MHD_Response *resp = MHD_create_response_from_buffer(len, body, MHD_RESPMEM_MUST_FREE);
    if (resp == NULL) {
        free(body);
        return MHD_NO;
    }
    MHD_add_response_header(resp, "Content-Type", type);
    MHD_add_response_header(resp, "Cache-Control", "no-store");
    enum MHD_Result r = MHD_queue_response(conn, status, resp);
    MHD_destroy_response(resp);
    return r;
}

static enum MHD_Result reply_json(struct MHD_Connection *conn, unsigned int status, json_t *obj)
{
    char *text = json_dumps(obj, JSON_COMPACT | JSON_PRESERVE_ORDER);
    json_decref(obj);
    if (text == NULL) {
        return MHD_NO;
    }
    size_t len = strlen(text);
    text = xrealloc(text, len + 2);
    text[len] = '\n';
    text[len + 1] = '\0';
    return reply(conn, status, "application/json", text, len + 1);
}

/* NULL when every loop turned within ADMIN_STALL_MS, else a description.
 * Lock held. */
static json_t *stalled(const struct admin *a)
{
    int64_t now = util_mono_ms();
    struct {
        const char *name;
        int64_t hb;
    } loops[4];
    size_t n = 0;
    char worker[32] = "delivery worker";
    if (a->pl != NULL && a->pl->deliver != NULL) {
        int w = 0;
        loops[n].hb = deliver_heartbeat(a->pl->deliver, &w);
        snprintf(worker, sizeof(worker), "delivery worker %d", w);
        loops[n++].name = worker;
    }
    if (a->events != NULL) {
        loops[n].name = "events consumer";
        loops[n++].hb = consumer_heartbeat(a->events);
    }
    if (a->delay != NULL) {
        loops[n].name = "delay consumer";
        loops[n++].hb = consumer_heartbeat(a->delay);
    }
    if (a->regsync != NULL) {
        loops[n].name = "registry reader";
        loops[n++].hb = regsync_heartbeat(a->regsync);
    }
    for (size_t i = 0; i < n; i++) {
        if (now - loops[i].hb > ADMIN_STALL_MS) {
            return json_pack("{s:s, s:s, s:I}", "status", "stalled", "loop", loops[i].name,
                             "sinceMs", (json_int_t)(now - loops[i].hb));
        }
    }
    return NULL;
}

/* NULL when ready, else the reason.  Lock held. */
/* Dead letters the topic refused, held by the producer.  Lock held. */
static long held_dead_letters(const struct admin *a)
{
    return a->pl != NULL && a->pl->producer != NULL ? producer_held(a->pl->producer) : 0L;
}

static const char *not_ready(const struct admin *a)
{
    if (atomic_load(&a->stopping)) {
        return "shutting down";
    }
    if (a->regsync == NULL || !regsync_caught_up(a->regsync)) {
        return "the registry is still reading the endpoints topic";
    }
    if (a->events == NULL) {
        return "the events consumer has not started";
    }
    if (!consumer_kafka_up(a->events)) {
        return "no Kafka broker is reachable";
    }
    if (a->missing[0] != '\0') {
        /* Before the join: a group whose topic is missing never joins. */
        return a->missing;
    }
    if (!consumer_joined(a->events)) {
        return "the events consumer has not joined its group yet";
    }
    if (held_dead_letters(a) > 0) {
        return "the dead-letter topic refuses records: they are held and produced again "
               "(see the error log and webhook_bridge_dead_letters_held)";
    }
    return NULL;
}

static void lag_lines(char **buf, size_t *len, size_t *cap, const char *name,
                      const struct consumer *c)
{
    json_t *lags = consumer_lags(c);
    size_t i;
    json_t *l;
    json_array_foreach(lags, i, l)
    {
        metrics_printf(
            buf, len, cap,
            "webhook_bridge_consumer_lag{consumer=\"%s\",topic=\"%s\",partition=\"%lld\"} "
            "%lld\n",
            name, json_string_value(json_object_get(l, "topic")),
            (long long)json_integer_value(json_object_get(l, "partition")),
            (long long)json_integer_value(json_object_get(l, "lag")));
    }
    json_decref(lags);
}

/* The metrics page.  Lock held. */
static char *metrics_page(const struct admin *a, size_t *lenp)
{
    char *buf = NULL;
    size_t len = 0, cap = 0;
    metrics_prometheus(&buf, &len, &cap);
    metrics_printf(&buf, &len, &cap,
                   "# HELP webhook_bridge_in_flight Deliveries held in memory: being attempted, "
                   "waiting for their endpoint, or being parked\n"
                   "# TYPE webhook_bridge_in_flight gauge\n"
                   "webhook_bridge_in_flight %ld\n",
                   a->pl != NULL ? (long)atomic_load(&a->pl->in_flight) : 0L);
    metrics_printf(&buf, &len, &cap,
                   "# HELP webhook_bridge_producer_queue Parked and dead-lettered records not yet "
                   "acknowledged by Kafka\n"
                   "# TYPE webhook_bridge_producer_queue gauge\n"
                   "webhook_bridge_producer_queue %ld\n",
                   a->pl != NULL && a->pl->producer != NULL ? producer_outstanding(a->pl->producer)
                                                            : 0L);
    metrics_printf(&buf, &len, &cap,
                   "# HELP webhook_bridge_dead_letters_held Dead letters the dead-letter topic "
                   "refused, held and produced again every 10 s\n"
                   "# TYPE webhook_bridge_dead_letters_held gauge\n"
                   "webhook_bridge_dead_letters_held %ld\n",
                   held_dead_letters(a));
    metrics_printf(&buf, &len, &cap,
                   "# HELP webhook_bridge_registry_endpoints Endpoints the registry knows\n"
                   "# TYPE webhook_bridge_registry_endpoints gauge\n"
                   "webhook_bridge_registry_endpoints %zu\n",
                   a->registry != NULL ? registry_size(a->registry) : (size_t)0);
    metrics_printf(&buf, &len, &cap,
                   "# HELP webhook_bridge_consumer_lag Records between a partition's consumer "
                   "position and its end (librdkafka statistics)\n"
                   "# TYPE webhook_bridge_consumer_lag gauge\n");
    if (a->events != NULL) {
        lag_lines(&buf, &len, &cap, "events", a->events);
    }
    if (a->delay != NULL) {
        lag_lines(&buf, &len, &cap, "delay", a->delay);
    }
    metrics_printf(&buf, &len, &cap,
                   "# HELP webhook_bridge_partitions Partitions assigned to a consumer, and "
                   "those paused for each reason (held: a delay topic's head not yet due; full: "
                   "its offsets tracker at its bound; backpressure: the in-flight budget full)\n"
                   "# TYPE webhook_bridge_partitions gauge\n");
    const struct consumer *cs[2] = {a->events, a->delay};
    const char *names[2] = {"events", "delay"};
    for (int i = 0; i < 2; i++) {
        if (cs[i] == NULL) {
            continue;
        }
        struct consumer_pauses p;
        consumer_paused(cs[i], &p);
        metrics_printf(&buf, &len, &cap,
                       "webhook_bridge_partitions{consumer=\"%s\",state=\"assigned\"} %d\n"
                       "webhook_bridge_partitions{consumer=\"%s\",state=\"held\"} %d\n"
                       "webhook_bridge_partitions{consumer=\"%s\",state=\"full\"} %d\n"
                       "webhook_bridge_partitions{consumer=\"%s\",state=\"backpressure\"} %d\n",
                       names[i], p.assigned, names[i], p.held, names[i], p.full, names[i],
                       p.backpressure);
    }
    metrics_printf(&buf, &len, &cap,
                   "# HELP webhook_bridge_ready 1 when /readyz answers 200\n"
                   "# TYPE webhook_bridge_ready gauge\n"
                   "webhook_bridge_ready %d\n",
                   not_ready(a) == NULL ? 1 : 0);
    *lenp = len;
    return buf;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
                                  const char *method, const char *version, const char *upload_data,
                                  size_t *upload_size, void **req_cls)
{
    struct admin *a = cls;
    (void)version;
    (void)upload_data;
    (void)req_cls;
    if (strcmp(method, "GET") != 0 && strcmp(method, "HEAD") != 0) {
        *upload_size = 0;
        return reply_json(conn, MHD_HTTP_METHOD_NOT_ALLOWED,
                          json_pack("{s:s}", "error", "only GET"));
    }
    enum MHD_Result r;
    pthread_mutex_lock(&a->lock);
    if (strcmp(url, "/healthz") == 0) {
        json_t *why = stalled(a);
        r = why != NULL ? reply_json(conn, MHD_HTTP_SERVICE_UNAVAILABLE, why)
                        : reply_json(conn, MHD_HTTP_OK, json_pack("{s:s}", "status", "alive"));
    } else if (strcmp(url, "/readyz") == 0) {
        const char *why = not_ready(a);
        r = why != NULL ? reply_json(conn, MHD_HTTP_SERVICE_UNAVAILABLE,
                                     json_pack("{s:s, s:s}", "status", "not ready", "reason", why))
                        : reply_json(conn, MHD_HTTP_OK, json_pack("{s:s}", "status", "ready"));
    } else if (strcmp(url, "/metrics") == 0) {
        size_t len = 0;
        char *page = metrics_page(a, &len);
        r = reply(conn, MHD_HTTP_OK, "text/plain; version=0.0.4; charset=utf-8", page, len);
    } else {
        r = reply_json(conn, MHD_HTTP_NOT_FOUND,
                       json_pack("{s:s}", "error", "not found: /healthz, /readyz, /metrics"));
    }
    pthread_mutex_unlock(&a->lock);
    return r;
}

static void on_mhd_log(void *cls, const char *fmt, va_list ap)
{
    (void)cls;
    char buf[512];
    vsnprintf(buf, sizeof(buf), fmt, ap);
    buf[strcspn(buf, "\n")] = '\0';
    log_json(LVL_WARN, "admin server", json_pack("{s:s}", "detail", buf));
}

int admin_start(struct admin **ap, const char *listen, char *bound, size_t bound_size, char *errstr,
                size_t errstr_size)
{
    struct addrinfo hints, *res = NULL;
    char host[256];
    const char *colon = strrchr(listen, ':');
    int ret = -1;

    *ap = NULL;
    if (colon == NULL || (size_t)(colon - listen) >= sizeof(host)) {
        util_errf(errstr, errstr_size, "admin.listen \"%s\" is not host:port", listen);
        return -1;
    }
    size_t hlen = (size_t)(colon - listen);
    if (listen[0] == '[' && hlen >= 2) {
        memcpy(host, listen + 1, hlen - 2);
        host[hlen - 2] = '\0';
    } else {
        memcpy(host, listen, hlen);
        host[hlen] = '\0';
    }
    memset(&hints, 0, sizeof(hints));
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
    int gai = getaddrinfo(host, colon + 1, &hints, &res);
    if (gai != 0) {
        util_errf(errstr, errstr_size, "admin.listen \"%s\": %s", listen, gai_strerror(gai));
        return -1;
    }
    struct admin *a = xcalloc(1, sizeof(*a));
    pthread_mutex_init(&a->lock, NULL);
    a->daemon = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_ERROR_LOG |
                                     (res->ai_family == AF_INET6 ? MHD_USE_IPv6 : 0),
                                 0, NULL, NULL, on_request, a, MHD_OPTION_EXTERNAL_LOGGER,
                                 on_mhd_log, NULL, MHD_OPTION_SOCK_ADDR, res->ai_addr,
                                 MHD_OPTION_CONNECTION_TIMEOUT, (unsigned int)10,
                                 MHD_OPTION_CONNECTION_LIMIT, (unsigned int)64, MHD_OPTION_END);
    if (a->daemon == NULL) {
        util_errf(errstr, errstr_size,
                  "cannot listen on %s for the admin server (in use? set admin.listen or "
                  "WEBHOOK_BRIDGE_ADMIN_LISTEN)",
                  listen);
        pthread_mutex_destroy(&a->lock);
        free(a);
        goto out;
    }
    const union MHD_DaemonInfo *info = MHD_get_daemon_info(a->daemon, MHD_DAEMON_INFO_BIND_PORT);
    snprintf(bound, bound_size, "%.*s:%u", (int)hlen, listen,
             info != NULL ? (unsigned)info->port : 0u);
    *ap = a;
    ret = 0;
out:
    freeaddrinfo(res);
    return ret;
}

void admin_set_pipeline(struct admin *a, struct pipeline *pl)
{
    pthread_mutex_lock(&a->lock);
    a->pl = pl;
    pthread_mutex_unlock(&a->lock);
}

void admin_set_registry(struct admin *a, struct registry *r, struct regsync *rs)
{
    pthread_mutex_lock(&a->lock);
    a->registry = r;
    a->regsync = rs;
    pthread_mutex_unlock(&a->lock);
}

void admin_set_consumers(struct admin *a, struct consumer *events, struct consumer *delay)
{
    pthread_mutex_lock(&a->lock);
    a->events = events;
    a->delay = delay;
    pthread_mutex_unlock(&a->lock);
}

void admin_set_missing_topics(struct admin *a, const char *names)
{
    if (a == NULL) {
        return;
    }
    pthread_mutex_lock(&a->lock);
    if (names == NULL || names[0] == '\0') {
        a->missing[0] = '\0';
    } else {
        snprintf(a->missing, sizeof(a->missing),
                 "topics missing (create them: webhook-bridge topics create): %s", names);
    }
    pthread_mutex_unlock(&a->lock);
}

void admin_set_stopping(struct admin *a)
{
    atomic_store(&a->stopping, 1);
}

void admin_stop(struct admin *a)
{
    if (a == NULL) {
        return;
    }
    MHD_stop_daemon(a->daemon);
    pthread_mutex_destroy(&a->lock);
    free(a);
}
