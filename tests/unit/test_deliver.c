/*
 * Unit tests for deliver.c against an in-process libmicrohttpd receiver on
 * 127.0.0.1 whose answer depends on the path:
 *   /ok 204, /fail 500, /gone 410, /redirect 302 (Location: /target),
 *   /notmod 304, /retry 503 + "Retry-After: 7", /retrydate 429 + an
 *   HTTP-date about 60 s ahead, /slow (answers after 5 s), /drop (closes
 *   without answering), /count (204 after 50 ms, records the highest number
 *   of requests it held at once), /target (counts hits).
 * Every request is recorded (path, body, headers).  No test asserts speed:
 * waits are condition checks with a generous deadline.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>
#include <microhttpd.h>

#include "deliver.h"
#include "schedule.h"
#include "delivery.h"

#define WAIT_MS 20000    /* deadline of every wait */
#define SLOW_MS 5000     /* how long /slow holds a request */
#define COUNT_HOLD_MS 50 /* how long /count holds a request */
#define MAX_SEEN 2048
#define MAX_DL 512
#define MAX_BODY (4 * 1024 * 1024)

static void sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* ---- the receiver ---------------------------------------------------- */

struct seen {
    char path[32];
    char id[128];
    char ts[32];
    char ctype[64];
    char ua[128];
    int has_expect;
    char *body;
    size_t body_len;
};

static struct {
    struct MHD_Daemon *daemon;
    int port;
    atomic_int closing;

    pthread_mutex_t lock;
    struct seen seen[MAX_SEEN]; /* lock */
    int n_seen;                 /* lock */
    int count_cur;              /* lock */
    int count_max;              /* lock */
    int count_total;            /* lock */
    int target_hits;            /* lock */
    int slow_started;           /* lock */
} srv = {.lock = PTHREAD_MUTEX_INITIALIZER};

struct req_state {
    char *body;
    size_t len;
    int counted; /* still counted in count_cur */
};

static char empty_body[1];

static enum MHD_Result respond(struct MHD_Connection *conn, unsigned int status, const char *hname,
                               const char *hvalue)
{
    struct MHD_Response *resp =
        MHD_create_response_from_buffer(0, empty_body, MHD_RESPMEM_PERSISTENT);
    if (resp == NULL) {
        return MHD_NO;
    }
    if (hname != NULL) {
        MHD_add_response_header(resp, hname, hvalue);
    }
    enum MHD_Result r = MHD_queue_response(conn, status, resp);
    MHD_destroy_response(resp);
    return r;
}

static void copy_header(struct MHD_Connection *conn, const char *name, char *buf, size_t size)
{
    const char *v = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, name);
    snprintf(buf, size, "%s", v != NULL ? v : "");
}

static void record(struct MHD_Connection *conn, const char *url, struct req_state *rs)
{
    pthread_mutex_lock(&srv.lock);
    if (srv.n_seen < MAX_SEEN) {
        struct seen *s = &srv.seen[srv.n_seen++];
        snprintf(s->path, sizeof(s->path), "%s", url);
        copy_header(conn, "webhook-id", s->id, sizeof(s->id));
        copy_header(conn, "webhook-timestamp", s->ts, sizeof(s->ts));
        copy_header(conn, "Content-Type", s->ctype, sizeof(s->ctype));
        copy_header(conn, "User-Agent", s->ua, sizeof(s->ua));
        s->has_expect = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Expect") != NULL;
        s->body = rs->body;
        s->body_len = rs->len;
        rs->body = NULL;
        rs->len = 0;
    }
    pthread_mutex_unlock(&srv.lock);
}

static void count_leave(struct req_state *rs)
{
    if (rs->counted) {
        pthread_mutex_lock(&srv.lock);
        srv.count_cur--;
        pthread_mutex_unlock(&srv.lock);
        rs->counted = 0;
    }
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
                                  const char *method, const char *version, const char *upload_data,
                                  size_t *upload_data_size, void **req_cls)
{
    struct req_state *rs = *req_cls;
    (void)cls;
    (void)method;
    (void)version;

    if (rs == NULL) {
        rs = calloc(1, sizeof(*rs));
        if (rs == NULL) {
            return MHD_NO;
        }
        *req_cls = rs;
        pthread_mutex_lock(&srv.lock);
        if (strcmp(url, "/count") == 0) {
            rs->counted = 1;
            srv.count_cur++;
            srv.count_total++;
            if (srv.count_cur > srv.count_max) {
                srv.count_max = srv.count_cur;
            }
        } else if (strcmp(url, "/slow") == 0) {
            srv.slow_started++;
        } else if (strcmp(url, "/target") == 0) {
            srv.target_hits++;
        }
        pthread_mutex_unlock(&srv.lock);
        return MHD_YES;
    }
    if (*upload_data_size > 0) {
        if (rs->len + *upload_data_size > MAX_BODY) {
            return MHD_NO;
        }
        char *p = realloc(rs->body, rs->len + *upload_data_size + 1);
        if (p == NULL) {
            return MHD_NO;
        }
        rs->body = p;
        memcpy(rs->body + rs->len, upload_data, *upload_data_size);
        rs->len += *upload_data_size;
        rs->body[rs->len] = '\0';
        *upload_data_size = 0;
        return MHD_YES;
    }

    record(conn, url, rs);
    if (strcmp(url, "/ok") == 0 || strcmp(url, "/target") == 0) {
        return respond(conn, 204, NULL, NULL);
    }
    if (strcmp(url, "/fail") == 0) {
        return respond(conn, 500, NULL, NULL);
    }
    if (strcmp(url, "/gone") == 0) {
        return respond(conn, 410, NULL, NULL);
    }
    if (strcmp(url, "/redirect") == 0) {
        char loc[64];
        snprintf(loc, sizeof(loc), "http://127.0.0.1:%d/target", srv.port);
        return respond(conn, 302, "Location", loc);
    }
    if (strcmp(url, "/notmod") == 0) {
        return respond(conn, 304, NULL, NULL);
    }
    if (strcmp(url, "/retry") == 0) {
        return respond(conn, 503, "Retry-After", "7");
    }
    if (strcmp(url, "/retryhuge") == 0) {
        return respond(conn, 503, "Retry-After", "9223372036854775807");
    }
    if (strcmp(url, "/retrypast") == 0) {
        return respond(conn, 429, "Retry-After", "Wed, 21 Oct 2015 07:28:00 GMT");
    }
    if (strcmp(url, "/retrydate") == 0) {
        char date[64];
        struct tm tm;
        time_t t = time(NULL) + 60;
        gmtime_r(&t, &tm);
        strftime(date, sizeof(date), "%a, %d %b %Y %H:%M:%S GMT", &tm);
        return respond(conn, 429, "Retry-After", date);
    }
    if (strcmp(url, "/slow") == 0) {
        for (int i = 0; i < SLOW_MS / 10 && !atomic_load(&srv.closing); i++) {
            sleep_ms(10);
        }
        return respond(conn, 200, NULL, NULL);
    }
    if (strcmp(url, "/drop") == 0) {
        return MHD_NO;
    }
    if (strcmp(url, "/count") == 0) {
        sleep_ms(COUNT_HOLD_MS);
        count_leave(rs);
        return respond(conn, 204, NULL, NULL);
    }
    return respond(conn, 404, NULL, NULL);
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **req_cls,
                         enum MHD_RequestTerminationCode toe)
{
    struct req_state *rs = *req_cls;
    (void)cls;
    (void)conn;
    (void)toe;
    if (rs != NULL) {
        count_leave(rs);
        free(rs->body);
        free(rs);
        *req_cls = NULL;
    }
}

static void srv_reset(void)
{
    pthread_mutex_lock(&srv.lock);
    for (int i = 0; i < srv.n_seen; i++) {
        free(srv.seen[i].body);
    }
    memset(srv.seen, 0, sizeof(srv.seen));
    srv.n_seen = 0;
    srv.count_max = srv.count_cur;
    srv.count_total = 0;
    srv.target_hits = 0;
    srv.slow_started = 0;
    pthread_mutex_unlock(&srv.lock);
}

static int srv_get(int *field)
{
    pthread_mutex_lock(&srv.lock);
    int v = *field;
    pthread_mutex_unlock(&srv.lock);
    return v;
}

/* Copies the first request recorded with this webhook-id; 0 when found. */
static int srv_find(const char *id, struct seen *out, char *body, size_t body_size)
{
    int rc = -1;
    pthread_mutex_lock(&srv.lock);
    for (int i = 0; i < srv.n_seen; i++) {
        if (strcmp(srv.seen[i].id, id) == 0) {
            *out = srv.seen[i];
            out->body = NULL;
            size_t n = srv.seen[i].body_len < body_size - 1 ? srv.seen[i].body_len : body_size - 1;
            if (n > 0) {
                memcpy(body, srv.seen[i].body, n);
            }
            body[n] = '\0';
            rc = 0;
            break;
        }
    }
    pthread_mutex_unlock(&srv.lock);
    return rc;
}

/* A loopback port nobody listens on. */
static int refused_port(void)
{
    struct sockaddr_in sa;
    socklen_t len = sizeof(sa);
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(fd >= 0);
    memset(&sa, 0, sizeof(sa));
    sa.sin_family = AF_INET;
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    assert_int_equal(getsockname(fd, (struct sockaddr *)&sa, &len), 0);
    close(fd);
    return ntohs(sa.sin_port);
}

/* ---- the done callback's side ---------------------------------------- */

enum resubmit_mode {
    RESUBMIT_NEVER,
    RESUBMIT_ONCE,    /* after the first attempt, submit again */
    RESUBMIT_ABORTED, /* submit again an attempt that was aborted at stop */
};

static struct {
    pthread_mutex_t lock;
    pthread_cond_t cond;
    struct deliver *d;
    enum resubmit_mode mode;
    int n_done;                   /* lock */
    int hits[MAX_DL];             /* lock */
    struct delivery *got[MAX_DL]; /* lock */
} col = {.lock = PTHREAD_MUTEX_INITIALIZER};

static void col_reset(enum resubmit_mode mode)
{
    pthread_mutex_lock(&col.lock);
    col.d = NULL;
    col.mode = mode;
    col.n_done = 0;
    memset(col.hits, 0, sizeof(col.hits));
    memset(col.got, 0, sizeof(col.got));
    pthread_mutex_unlock(&col.lock);
}

static int index_of(const struct delivery *dl)
{
    /* event ids are "evt-<index>-<test>" */
    long idx = strtol(dl->event_id + 4, NULL, 10);
    return idx >= 0 && idx < MAX_DL ? (int)idx : 0;
}

static void on_done(struct delivery *dl, void *opaque)
{
    if (opaque != &col) {
        abort(); /* cmocka asserts only work on the test's own thread */
    }
    const struct attempt *a = delivery_last_attempt(dl);
    if (col.mode == RESUBMIT_ONCE && dl->n_attempts == 1) {
        deliver_submit(col.d, dl);
        return;
    }
    if (col.mode == RESUBMIT_ABORTED && dl->outcome == OUTCOME_RETRY && a != NULL &&
        a->error != NULL && strcmp(a->error, "aborted") == 0) {
        /* Another worker may get it: it must come back, unattempted. */
        deliver_submit(col.d, dl);
        return;
    }
    int idx = index_of(dl);
    pthread_mutex_lock(&col.lock);
    col.hits[idx]++;
    if (col.got[idx] == NULL) {
        col.got[idx] = dl;
    } else {
        delivery_destroy(dl); /* a duplicate: counted, reported by the test */
    }
    col.n_done++;
    pthread_cond_broadcast(&col.cond);
    pthread_mutex_unlock(&col.lock);
}

/* Waits until n deliveries were handed back; 0 when they were in time. */
static int col_wait(int n)
{
    struct timespec until;
    int rc = 0;
    clock_gettime(CLOCK_MONOTONIC, &until);
    until.tv_sec += WAIT_MS / 1000;
    pthread_mutex_lock(&col.lock);
    while (col.n_done < n && rc == 0) {
        rc = pthread_cond_timedwait(&col.cond, &col.lock, &until);
    }
    rc = col.n_done >= n ? 0 : -1;
    pthread_mutex_unlock(&col.lock);
    return rc;
}

static void col_free(void)
{
    pthread_mutex_lock(&col.lock);
    for (int i = 0; i < MAX_DL; i++) {
        delivery_destroy(col.got[i]);
        col.got[i] = NULL;
    }
    pthread_mutex_unlock(&col.lock);
}

/* Waits for a condition on a receiver counter. */
static int srv_wait_at_least(int *field, int n)
{
    int64_t until = util_mono_ms() + WAIT_MS;
    while (srv_get(field) < n) {
        if (util_mono_ms() > until) {
            return -1;
        }
        sleep_ms(5);
    }
    return 0;
}

/* ---- helpers --------------------------------------------------------- */

static const char body_json[] = "{\"type\":\"subscription.created\",\"data\":{\"n\":1}}";

static struct delivery *make_dl(int idx, const char *test, const char *endpoint, const char *url,
                                const char *body, size_t body_len)
{
    char id[96];
    snprintf(id, sizeof(id), "evt-%d-%s", idx, test);
    struct payload *p = payload_new(body, body_len);
    struct delivery *dl = delivery_new(id, "subscription.created", "acct-1", endpoint, url, p);
    payload_unref(p);
    return dl;
}

static void url_of(char *buf, size_t size, const char *path)
{
    snprintf(buf, size, "http://127.0.0.1:%d%s", srv.port, path);
}

static struct deliver *start(int workers, int ep_max, int64_t timeout_ms, enum resubmit_mode mode)
{
    struct deliver_opts opts = {
        .workers = workers,
        .endpoint_max_in_flight = ep_max,
        .connect_timeout_ms = 5000,
        .timeout_ms = timeout_ms,
        .user_agent = "webhook-bridge/test",
        /* No quiet time: five failures in a row open a circuit here. */
        .breaker_quiet_ms = -1,
    };
    struct deliver *d = NULL;
    char errstr[256] = "";
    col_reset(mode);
    srv_reset();
    int rc = deliver_start(&d, &opts, on_done, &col, errstr, sizeof(errstr));
    if (rc != 0) {
        fail_msg("deliver_start: %s", errstr);
    }
    pthread_mutex_lock(&col.lock);
    col.d = d;
    pthread_mutex_unlock(&col.lock);
    return d;
}

static void stop(struct deliver *d)
{
    deliver_stop(d, util_mono_ms() + WAIT_MS);
}

static int starts_with(const char *s, const char *prefix)
{
    return s != NULL && strncmp(s, prefix, strlen(prefix)) == 0;
}

/* ---- tests ----------------------------------------------------------- */

struct outcome_case {
    const char *path; /* NULL: the refused port */
    enum delivery_outcome outcome;
    int status;
    const char *error[3];  /* accepted error prefixes; none: no error */
    int64_t retry_after_s; /* expected Retry-After, 0 for none */
};

static void check_case(const struct outcome_case *c, const struct delivery *dl, int64_t t0,
                       int64_t t1)
{
    print_message("case %s: outcome %d status %d error %s\n", c->path ? c->path : "refused",
                  dl->outcome, dl->n_attempts ? dl->attempts[0].status : -1,
                  dl->n_attempts && dl->attempts[0].error ? dl->attempts[0].error : "(none)");
    assert_int_equal(dl->n_attempts, 1);
    const struct attempt *a = &dl->attempts[0];
    assert_int_equal(a->n, 1);
    assert_true(a->at_ms >= t0 && a->at_ms <= t1);
    assert_true(a->duration_ms >= 0);
    assert_int_equal(dl->outcome, c->outcome);
    assert_int_equal(a->status, c->status);
    assert_true(dl->first_attempt_ms == a->at_ms);
    if (c->error[0] == NULL) {
        assert_null(a->error);
    } else {
        int ok = 0;
        for (size_t i = 0; i < 3 && c->error[i] != NULL; i++) {
            ok |= starts_with(a->error, c->error[i]);
        }
        if (!ok) {
            fail_msg("%s: unexpected error \"%s\"", c->path ? c->path : "refused",
                     a->error ? a->error : "(null)");
        }
    }
    if (c->retry_after_s == 0) {
        assert_int_equal(dl->retry_after_ms, 0);
    } else {
        int64_t lo = t0 + (c->retry_after_s - 5) * 1000;
        int64_t hi = t1 + (c->retry_after_s + 5) * 1000;
        assert_true(dl->retry_after_ms >= lo && dl->retry_after_ms <= hi);
    }
}

static void run_cases(const struct outcome_case *cases, size_t n, struct deliver *d,
                      const char *test)
{
    char url[128];
    int64_t t0 = util_now_ms();
    for (size_t i = 0; i < n; i++) {
        if (cases[i].path == NULL) {
            snprintf(url, sizeof(url), "http://127.0.0.1:%d/ok", refused_port());
        } else if (strstr(cases[i].path, "://") != NULL) {
            snprintf(url, sizeof(url), "%s", cases[i].path);
        } else {
            url_of(url, sizeof(url), cases[i].path);
        }
        /* one endpoint per case: no cap interferes */
        char ep[32];
        snprintf(ep, sizeof(ep), "ep-%zu", i);
        deliver_submit(d, make_dl((int)i, test, ep, url, body_json, strlen(body_json)));
    }
    assert_int_equal(col_wait((int)n), 0);
    int64_t t1 = util_now_ms();
    pthread_mutex_lock(&col.lock);
    for (size_t i = 0; i < n; i++) {
        assert_int_equal(col.hits[i], 1);
        check_case(&cases[i], col.got[i], t0, t1);
    }
    pthread_mutex_unlock(&col.lock);
    assert_int_equal(deliver_in_flight(d), 0);
}

static void test_outcomes(void **state)
{
    (void)state;
    static const struct outcome_case cases[] = {
        {"/ok", OUTCOME_SUCCESS, 204, {NULL}, 0},
        {"/fail", OUTCOME_RETRY, 500, {NULL}, 0},
        {"/gone", OUTCOME_GONE, 410, {NULL}, 0},
        {"/redirect", OUTCOME_RETRY, 302, {NULL}, 0},
        {"/notmod", OUTCOME_RETRY, 304, {NULL}, 0},
        {"/retry", OUTCOME_RETRY, 503, {NULL}, 7},
        {"/retrydate", OUTCOME_RETRY, 429, {NULL}, 60},
        /* saturated, not overflowed (issue 11: UB, then an endpoint hit every
         * interval); a date in the past asks for no wait */
        {"/retryhuge", OUTCOME_RETRY, 503, {NULL}, SCHEDULE_RETRY_AFTER_MAX_MS / 1000},
        {"/retrypast", OUTCOME_RETRY, 429, {NULL}, 0},
        {"/drop", OUTCOME_RETRY, 0, {"empty reply", "connection reset", "receive failed"}, 0},
        {NULL, OUTCOME_RETRY, 0, {"connection refused", NULL}, 0},
        {"ftp://127.0.0.1/x", OUTCOME_RETRY, 0, {"curl: ", NULL}, 0},
    };
    struct deliver *d = start(2, 64, 10000, RESUBMIT_NEVER);
    run_cases(cases, WB_ARRAY_LEN(cases), d, "outcomes");
    stop(d);
    /* the redirect was not followed */
    assert_int_equal(srv_get(&srv.target_hits), 0);
    col_free();
}

static void test_timeout(void **state)
{
    (void)state;
    static const struct outcome_case cases[] = {
        {"/slow", OUTCOME_RETRY, 0, {"timeout", NULL}, 0},
    };
    struct deliver *d = start(1, 4, 300, RESUBMIT_NEVER);
    run_cases(cases, WB_ARRAY_LEN(cases), d, "timeout");
    stop(d);
    col_free();
}

/* A reused handle must not carry the previous answer's Retry-After. */
static void test_retry_after_not_stale(void **state)
{
    (void)state;
    static const struct outcome_case first[] = {
        {"/retry", OUTCOME_RETRY, 503, {NULL}, 7},
    };
    static const struct outcome_case second[] = {
        {"/fail", OUTCOME_RETRY, 500, {NULL}, 0},
    };
    struct deliver *d = start(1, 4, 10000, RESUBMIT_NEVER);
    run_cases(first, 1, d, "stale1");
    col_free();
    col_reset(RESUBMIT_NEVER);
    pthread_mutex_lock(&col.lock);
    col.d = d;
    pthread_mutex_unlock(&col.lock);
    run_cases(second, 1, d, "stale2");
    stop(d);
    col_free();
}

static void check_request(const char *id, const char *body, size_t body_len)
{
    struct seen s;
    size_t size = body_len + 1;
    char *got = malloc(size);
    assert_non_null(got);
    assert_int_equal(srv_find(id, &s, got, size), 0);
    assert_string_equal(s.path, "/ok");
    assert_int_equal(strlen(got), body_len);
    assert_memory_equal(got, body, body_len);
    assert_string_equal(s.id, id);
    assert_string_equal(s.ctype, "application/json");
    assert_string_equal(s.ua, "webhook-bridge/test");
    assert_int_equal(s.has_expect, 0);
    char *end = NULL;
    long long ts = strtoll(s.ts, &end, 10);
    assert_true(end != s.ts && *end == '\0');
    long long now = (long long)time(NULL);
    assert_true(ts >= now - 30 && ts <= now + 5);
    free(got);
}

static void test_request_contents(void **state)
{
    (void)state;
    char url[128];
    /* Over 1 MiB: libcurl would ask for 100-continue by default. */
    size_t big_len = 1536 * 1024;
    char *big = malloc(big_len + 1);
    assert_non_null(big);
    for (size_t i = 0; i < big_len; i++) {
        big[i] = (char)('a' + i % 26);
    }
    big[0] = '"';
    big[big_len - 1] = '"';
    big[big_len] = '\0';

    struct deliver *d = start(2, 8, 10000, RESUBMIT_NEVER);
    url_of(url, sizeof(url), "/ok");
    deliver_submit(d, make_dl(0, "contents", "ep", url, body_json, strlen(body_json)));
    deliver_submit(d, make_dl(1, "contents", "ep", url, big, big_len));
    assert_int_equal(col_wait(2), 0);
    stop(d);

    pthread_mutex_lock(&col.lock);
    assert_int_equal(col.got[0]->outcome, OUTCOME_SUCCESS);
    assert_int_equal(col.got[1]->outcome, OUTCOME_SUCCESS);
    pthread_mutex_unlock(&col.lock);
    check_request("evt-0-contents", body_json, strlen(body_json));
    check_request("evt-1-contents", big, big_len);
    free(big);
    col_free();
}

static void test_endpoint_cap(void **state)
{
    (void)state;
    char url[128];
    const int n = 40;
    struct deliver *d = start(2, 4, 10000, RESUBMIT_NEVER);
    url_of(url, sizeof(url), "/count");
    for (int i = 0; i < n; i++) {
        deliver_submit(d, make_dl(i, "cap", "ep-capped", url, body_json, strlen(body_json)));
    }
    assert_int_equal(col_wait(n), 0);
    assert_int_equal(deliver_in_flight(d), 0);
    stop(d);
    int max = srv_get(&srv.count_max);
    print_message("max concurrent requests: %d\n", max);
    assert_true(max >= 1 && max <= 4);
    pthread_mutex_lock(&col.lock);
    assert_int_equal(col.n_done, n);
    for (int i = 0; i < n; i++) {
        assert_int_equal(col.hits[i], 1);
        assert_int_equal(col.got[i]->outcome, OUTCOME_SUCCESS);
        assert_int_equal(col.got[i]->n_attempts, 1);
    }
    pthread_mutex_unlock(&col.lock);
    col_free();
}

static void test_many(void **state)
{
    (void)state;
    char url[128];
    const int n = 300;
    struct deliver *d = start(2, 1000, 10000, RESUBMIT_NEVER);
    url_of(url, sizeof(url), "/ok");
    for (int i = 0; i < n; i++) {
        char ep[32];
        snprintf(ep, sizeof(ep), "ep-%d", i % 37);
        deliver_submit(d, make_dl(i, "many", ep, url, body_json, strlen(body_json)));
    }
    assert_int_equal(col_wait(n), 0);
    assert_int_equal(deliver_in_flight(d), 0);
    stop(d);
    pthread_mutex_lock(&col.lock);
    assert_int_equal(col.n_done, n);
    for (int i = 0; i < n; i++) {
        assert_int_equal(col.hits[i], 1);
        assert_int_equal(col.got[i]->outcome, OUTCOME_SUCCESS);
    }
    pthread_mutex_unlock(&col.lock);
    col_free();
}

static void test_resubmit_from_callback(void **state)
{
    (void)state;
    char url[128];
    const int n = 40;
    struct deliver *d = start(2, 4, 10000, RESUBMIT_ONCE);
    url_of(url, sizeof(url), "/ok");
    for (int i = 0; i < n; i++) {
        deliver_submit(d, make_dl(i, "resubmit", "ep", url, body_json, strlen(body_json)));
    }
    assert_int_equal(col_wait(n), 0);
    assert_int_equal(deliver_in_flight(d), 0);
    stop(d);
    pthread_mutex_lock(&col.lock);
    assert_int_equal(col.n_done, n);
    for (int i = 0; i < n; i++) {
        const struct delivery *dl = col.got[i];
        assert_int_equal(col.hits[i], 1);
        assert_int_equal(dl->n_attempts, 2);
        assert_int_equal(dl->attempts[0].n, 1);
        assert_int_equal(dl->attempts[1].n, 2);
        assert_int_equal(dl->outcome, OUTCOME_SUCCESS);
    }
    pthread_mutex_unlock(&col.lock);
    col_free();
}

/* 2 workers, cap 1 per worker: 2 transfers hang on /slow, 8 wait.  The
 * stop's deadline passes: 2 aborted, 8 never started. */
static void stop_with_queue(enum resubmit_mode mode)
{
    char url[128];
    const int n = 10;
    struct deliver *d = start(2, 2, 60000, mode);
    url_of(url, sizeof(url), "/slow");
    for (int i = 0; i < n; i++) {
        deliver_submit(d, make_dl(i, "stop", "ep-slow", url, body_json, strlen(body_json)));
    }
    assert_int_equal(srv_wait_at_least(&srv.slow_started, 2), 0);
    assert_int_equal(deliver_in_flight(d), n);
    deliver_stop(d, util_mono_ms() + 100);

    /* Everything came back before deliver_stop returned. */
    pthread_mutex_lock(&col.lock);
    assert_int_equal(col.n_done, n);
    int aborted = 0;
    int unstarted = 0;
    for (int i = 0; i < n; i++) {
        const struct delivery *dl = col.got[i];
        assert_int_equal(col.hits[i], 1);
        if (dl->n_attempts == 1) {
            assert_string_equal(dl->attempts[0].error, "aborted");
            assert_int_equal(dl->outcome, mode == RESUBMIT_ABORTED ? OUTCOME_NONE : OUTCOME_RETRY);
            aborted++;
        } else {
            assert_int_equal(dl->n_attempts, 0);
            assert_int_equal(dl->outcome, OUTCOME_NONE);
            unstarted++;
        }
    }
    pthread_mutex_unlock(&col.lock);
    assert_int_equal(aborted, 2);
    assert_int_equal(unstarted, n - 2);
    col_free();
}

static void test_stop_with_queue(void **state)
{
    (void)state;
    stop_with_queue(RESUBMIT_NEVER);
}

/* The callback resubmits the aborted ones during the stop; they come back
 * once more, unattempted, before deliver_stop returns. */
static void test_stop_resubmit(void **state)
{
    (void)state;
    stop_with_queue(RESUBMIT_ABORTED);
}

/* A stop with a far deadline lets running transfers finish normally. */
static void test_stop_lets_running_finish(void **state)
{
    (void)state;
    char url[128];
    const int n = 5;
    struct deliver *d = start(1, 1, 10000, RESUBMIT_NEVER);
    url_of(url, sizeof(url), "/count");
    for (int i = 0; i < n; i++) {
        deliver_submit(d, make_dl(i, "drain", "ep", url, body_json, strlen(body_json)));
    }
    assert_int_equal(srv_wait_at_least(&srv.count_total, 1), 0);
    deliver_stop(d, util_mono_ms() + WAIT_MS);
    pthread_mutex_lock(&col.lock);
    assert_int_equal(col.n_done, n);
    int ok = 0;
    for (int i = 0; i < n; i++) {
        const struct delivery *dl = col.got[i];
        assert_int_equal(col.hits[i], 1);
        if (dl->outcome == OUTCOME_SUCCESS) {
            assert_int_equal(dl->n_attempts, 1);
            ok++;
        } else {
            assert_int_equal(dl->outcome, OUTCOME_NONE);
            assert_int_equal(dl->n_attempts, 0);
        }
    }
    pthread_mutex_unlock(&col.lock);
    assert_true(ok >= 1);
    col_free();
}

/* An event id that would inject a header is refused before sending. */
static void test_header_injection(void **state)
{
    (void)state;
    char url[128];
    struct deliver *d = start(1, 4, 10000, RESUBMIT_NEVER);
    url_of(url, sizeof(url), "/ok");
    struct payload *p = payload_new(body_json, strlen(body_json));
    struct delivery *dl =
        delivery_new("evt-0-x\r\nX-Evil: 1", "subscription.created", "acct-1", "ep", url, p);
    payload_unref(p);
    deliver_submit(d, dl);
    assert_int_equal(col_wait(1), 0);
    stop(d);
    pthread_mutex_lock(&col.lock);
    dl = col.got[0];
    assert_non_null(dl);
    assert_int_equal(dl->outcome, OUTCOME_RETRY);
    assert_int_equal(dl->n_attempts, 1);
    assert_int_equal(dl->attempts[0].status, 0);
    assert_true(starts_with(dl->attempts[0].error, "invalid webhook-id header value"));
    pthread_mutex_unlock(&col.lock);
    assert_int_equal(srv_get(&srv.n_seen), 0);
    col_free();
}

/* After BREAKER_FAILURES (5) failed attempts in a row, an endpoint gets one
 * attempt at a time (the probe); deliveries submitted meanwhile come back at
 * once, unattempted, with OUTCOME_DEFERRED.  A failed probe keeps the
 * circuit open, a successful one closes it. */
static void test_circuit_breaker(void **state)
{
    (void)state;
    char fail_url[128], slow_url[128], ok_url[128];
    url_of(fail_url, sizeof(fail_url), "/fail");
    url_of(slow_url, sizeof(slow_url), "/slow");
    url_of(ok_url, sizeof(ok_url), "/ok");
    size_t blen = strlen(body_json);
    struct deliver *d = start(1, 8, 1000, RESUBMIT_NEVER);

    for (int i = 0; i < 5; i++) { /* one at a time: five failures in a row */
        deliver_submit(d, make_dl(i, "breaker", "ep-b", fail_url, body_json, blen));
        assert_int_equal(col_wait(i + 1), 0);
    }
    /* The probe (it times out), then three more while it runs. */
    deliver_submit(d, make_dl(5, "breaker", "ep-b", slow_url, body_json, blen));
    for (int i = 6; i < 9; i++) {
        deliver_submit(d, make_dl(i, "breaker", "ep-b", ok_url, body_json, blen));
    }
    /* Another endpoint is not affected. */
    deliver_submit(d, make_dl(9, "breaker", "ep-other", ok_url, body_json, blen));
    assert_int_equal(col_wait(10), 0);
    for (int i = 6; i < 9; i++) {
        assert_int_equal(col.got[i]->outcome, OUTCOME_DEFERRED);
        assert_int_equal(col.got[i]->n_attempts, 0);
    }
    assert_int_equal(col.got[5]->outcome, OUTCOME_RETRY); /* the probe timed out */
    assert_int_equal(col.got[9]->outcome, OUTCOME_SUCCESS);

    /* Still open: the next one is the probe; it succeeds and closes it. */
    deliver_submit(d, make_dl(10, "breaker", "ep-b", ok_url, body_json, blen));
    assert_int_equal(col_wait(11), 0);
    assert_int_equal(col.got[10]->outcome, OUTCOME_SUCCESS);
    /* Closed: several at once are all attempted. */
    for (int i = 11; i < 15; i++) {
        deliver_submit(d, make_dl(i, "breaker", "ep-b", ok_url, body_json, blen));
    }
    assert_int_equal(col_wait(15), 0);
    for (int i = 11; i < 15; i++) {
        assert_int_equal(col.got[i]->outcome, OUTCOME_SUCCESS);
        assert_int_equal(col.got[i]->n_attempts, 1);
    }
    stop(d);
    col_free();
}

/* A delivery on its last chance (parking it again would end its window)
 * is attempted despite an open circuit while the endpoint is under its
 * cap (2 here); over the cap it is deferred like any other. */
static void test_circuit_breaker_last_chance(void **state)
{
    (void)state;
    char fail_url[128], slow_url[128], ok_url[128];
    url_of(fail_url, sizeof(fail_url), "/fail");
    url_of(slow_url, sizeof(slow_url), "/slow");
    url_of(ok_url, sizeof(ok_url), "/ok");
    size_t blen = strlen(body_json);
    struct deliver *d = start(1, 2, 1000, RESUBMIT_NEVER);

    for (int i = 0; i < 5; i++) {
        deliver_submit(d, make_dl(i, "lastchance", "ep-l", fail_url, body_json, blen));
        assert_int_equal(col_wait(i + 1), 0);
    }
    /* The probe, then a last-chance delivery: both run (cap 2). */
    deliver_submit(d, make_dl(5, "lastchance", "ep-l", slow_url, body_json, blen));
    struct delivery *dl = make_dl(6, "lastchance", "ep-l", slow_url, body_json, blen);
    dl->last_chance = 1;
    deliver_submit(d, dl);
    /* The endpoint is at its cap: a last chance and a plain one are deferred. */
    dl = make_dl(7, "lastchance", "ep-l", ok_url, body_json, blen);
    dl->last_chance = 1;
    deliver_submit(d, dl);
    deliver_submit(d, make_dl(8, "lastchance", "ep-l", ok_url, body_json, blen));
    assert_int_equal(col_wait(9), 0);
    assert_int_equal(col.got[5]->outcome, OUTCOME_RETRY);
    assert_int_equal(col.got[6]->outcome, OUTCOME_RETRY);
    assert_int_equal(col.got[6]->n_attempts, 1);
    assert_int_equal(col.got[7]->outcome, OUTCOME_DEFERRED);
    assert_int_equal(col.got[7]->n_attempts, 0);
    assert_int_equal(col.got[8]->outcome, OUTCOME_DEFERRED);
    assert_int_equal(srv_get(&srv.slow_started), 2); /* the probe and the last chance */
    stop(d);
    col_free();
}

/* start() with the isolation settings: the global budget shared out among
 * the endpoints, and the slow-answer threshold. */
static struct deliver *start_isolated(int ep_max, int budget, int64_t slow_ms)
{
    struct deliver_opts opts = {
        .workers = 1,
        .endpoint_max_in_flight = ep_max,
        .max_in_flight = budget,
        .slow_max_in_flight = 1,
        .slow_answer_ms = slow_ms,
        .connect_timeout_ms = 5000,
        .timeout_ms = 10000,
        .user_agent = "webhook-bridge/test",
        .breaker_quiet_ms = -1,
    };
    struct deliver *d = NULL;
    char errstr[256] = "";
    col_reset(RESUBMIT_NEVER);
    srv_reset();
    if (deliver_start(&d, &opts, on_done, &col, errstr, sizeof(errstr)) != 0) {
        fail_msg("deliver_start: %s", errstr);
    }
    pthread_mutex_lock(&col.lock);
    col.d = d;
    pthread_mutex_unlock(&col.lock);
    return d;
}

/* Slow: an endpoint answering 2xx, but after 5 s (over the 1 s threshold),
 * is known slow once an attempt has run past 1 s: what waited for it is
 * deferred, then everything beyond its slow cap (1) at once; a delivery on
 * its last chance waits instead.  The breaker never opens (no failure). */
static void test_slow_endpoint(void **state)
{
    (void)state;
    char slow_url[128];
    url_of(slow_url, sizeof(slow_url), "/slow");
    size_t blen = strlen(body_json);
    struct deliver *d = start_isolated(2, 0, 1000);

    for (int i = 0; i < 4; i++) { /* 2 run (cap 2), 2 wait */
        deliver_submit(d, make_dl(i, "slowep", "ep-slow", slow_url, body_json, blen));
    }
    /* Past 1 s, the scan sees the running attempts: the 2 waiting go back. */
    assert_int_equal(col_wait(2), 0);
    for (int i = 2; i < 4; i++) {
        assert_non_null(col.got[i]);
        assert_int_equal(col.got[i]->outcome, OUTCOME_DEFERRED);
        assert_int_equal(col.got[i]->n_attempts, 0);
    }
    assert_int_equal(srv_get(&srv.slow_started), 2);
    /* Known slow: a new one is deferred at once, a last chance waits. */
    deliver_submit(d, make_dl(4, "slowep", "ep-slow", slow_url, body_json, blen));
    assert_int_equal(col_wait(3), 0);
    assert_non_null(col.got[4]);
    assert_int_equal(col.got[4]->outcome, OUTCOME_DEFERRED);
    struct delivery *dl = make_dl(5, "slowep", "ep-slow", slow_url, body_json, blen);
    dl->last_chance = 1;
    deliver_submit(d, dl);
    /* The 2 running end 2xx; the last chance then gets its attempt. */
    assert_int_equal(col_wait(6), 0);
    assert_int_equal(col.got[0]->outcome, OUTCOME_SUCCESS);
    assert_int_equal(col.got[1]->outcome, OUTCOME_SUCCESS);
    assert_int_equal(col.got[5]->outcome, OUTCOME_SUCCESS);
    assert_int_equal(col.got[5]->n_attempts, 1);
    assert_int_equal(srv_get(&srv.slow_started), 3);
    stop(d);
    col_free();
}

static void test_bad_opts(void **state)
{
    (void)state;
    struct deliver_opts opts = {
        .workers = 0,
        .endpoint_max_in_flight = 4,
        .connect_timeout_ms = 1000,
        .timeout_ms = 1000,
        .user_agent = "webhook-bridge/test",
    };
    struct deliver *d = (struct deliver *)&opts; /* must be reset to NULL */
    char errstr[256] = "";
    assert_int_not_equal(deliver_start(&d, &opts, on_done, &col, errstr, sizeof(errstr)), 0);
    assert_null(d);
    assert_non_null(strstr(errstr, "workers"));
    opts.workers = 2;
    opts.endpoint_max_in_flight = 0;
    assert_int_not_equal(deliver_start(&d, &opts, on_done, &col, errstr, sizeof(errstr)), 0);
    assert_non_null(strstr(errstr, "endpoint_max_in_flight"));
}

static void test_stop_idle(void **state)
{
    (void)state;
    struct deliver *d = start(3, 4, 1000, RESUBMIT_NEVER);
    assert_int_equal(deliver_in_flight(d), 0);
    deliver_stop(d, util_mono_ms());
    deliver_stop(NULL, 0);
}

static int group_setup(void **state)
{
    (void)state;
    signal(SIGPIPE, SIG_IGN);
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
        return -1;
    }
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&col.cond, &ca);
    pthread_condattr_destroy(&ca);

    struct sockaddr_in sa;
    memset(&sa, 0, sizeof(sa));
    sa.sin_family = AF_INET;
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    sa.sin_port = 0;
    srv.daemon = MHD_start_daemon(MHD_USE_THREAD_PER_CONNECTION | MHD_USE_INTERNAL_POLLING_THREAD,
                                  0, NULL, NULL, on_request, NULL, MHD_OPTION_SOCK_ADDR, &sa,
                                  MHD_OPTION_NOTIFY_COMPLETED, on_completed, NULL, MHD_OPTION_END);
    if (srv.daemon == NULL) {
        return -1;
    }
    const union MHD_DaemonInfo *info = MHD_get_daemon_info(srv.daemon, MHD_DAEMON_INFO_BIND_PORT);
    if (info == NULL || info->port == 0) {
        return -1;
    }
    srv.port = info->port;
    return 0;
}

static int group_teardown(void **state)
{
    (void)state;
    atomic_store(&srv.closing, 1);
    MHD_stop_daemon(srv.daemon);
    srv_reset();
    pthread_cond_destroy(&col.cond);
    curl_global_cleanup();
    return 0;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_circuit_breaker),
        cmocka_unit_test(test_circuit_breaker_last_chance),
        cmocka_unit_test(test_slow_endpoint),
        cmocka_unit_test(test_bad_opts),
        cmocka_unit_test(test_stop_idle),
        cmocka_unit_test(test_outcomes),
        cmocka_unit_test(test_timeout),
        cmocka_unit_test(test_retry_after_not_stale),
        cmocka_unit_test(test_request_contents),
        cmocka_unit_test(test_header_injection),
        cmocka_unit_test(test_endpoint_cap),
        cmocka_unit_test(test_many),
        cmocka_unit_test(test_resubmit_from_callback),
        cmocka_unit_test(test_stop_with_queue),
        cmocka_unit_test(test_stop_resubmit),
        cmocka_unit_test(test_stop_lets_running_finish),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
