/*
 * deliver: the delivery workers (see deliver.h for the contract).
 *
 * What it owns: struct deliver holds the workers; each struct worker owns
 * one CURLM driven by curl_multi_socket_action from its own epoll set (only
 * the sockets that are ready are looked at, whatever the number of
 * transfers), an eventfd that wakes it, a pool of idle struct xfer (an easy handle plus the state
 * of one attempt), the list of its running transfers and its struct admission: the per-endpoint
 * state (attempts running, the FIFO of deliveries waiting, the breaker, the answer times) and the
 * policy that says whether a delivery starts, waits or is deferred (admission.c).  This file
 * carries out those verdicts; it decides none of them.  A worker also keeps a table by
 * descriptor number (worker->fds) of the sockets in its epoll set: a connection socket
 * it opened stays registered while idle in libcurl's cache (see on_socket), and its
 * connection cache holds as many connections as it may have transfers running
 * (max_connections).  The request headers common to all attempts are one list owned by
 * struct deliver, read-only, the shared tail of every transfer's list.  See
 * docs/http-path.md.
 *
 * Threads and locks:
 * - worker->lock protects worker->q_head/q_tail only: the hand-off queue
 *   that any thread appends to (deliver_submit).  The worker swaps the whole
 *   list out under the lock and works on it outside.
 * - Everything else in a worker (multi, pool, running list, admission,
 *   stopping/aborted) is touched by that worker's thread alone, and by
 *   deliver_start/deliver_stop before the thread starts or after it joined.
 * - deliver.in_flight, deliver.outstanding, deliver.rr, deliver.stopping and
 *   deliver.deadline_ms are C11 atomics (sequentially consistent).
 *   deadline_ms is stored before stopping is set and read after stopping is
 *   seen.  The rest of struct deliver is const while the workers run.
 * - Other threads never touch a worker's libcurl handles: they wake it by
 *   writing to its eventfd (worker_wake).
 * - The done callback runs on a worker thread with no lock held, so it may
 *   call deliver_submit (a retry, say) on any worker, its own included.
 *
 * Stopping: workers stop starting transfers, hand back every delivery that
 * has not started (OUTCOME_NONE), let running transfers finish until the
 * deadline and abort the rest ("aborted").  A worker exits only once no
 * delivery is left anywhere (deliver.outstanding counts deliveries from
 * deliver_submit until their callback has returned), so a callback that
 * submits to another worker during the stop never finds that worker gone.
 * What a callback submits during the stop comes back with OUTCOME_NONE (so
 * a callback must not resubmit OUTCOME_NONE, or the stop never ends); other
 * threads must not submit once deliver_stop has been called.
 */
#include "deliver.h"

#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>

#include "admission.h"
#include "delivery.h"
#include "endpoint.h"
#include "log.h"
#include "metrics.h"
#include "netguard.h"
#include "redact.h"
#include "schedule.h"
#include "sign.h"

#define POLL_MAX_MS 1000 /* longest sleep in epoll_wait */
#define EPOLL_BATCH 64   /* events taken per epoll_wait */
#define POOL_IDLE_MAX 64 /* idle easy handles kept per worker */
/* How often the running transfers are scanned for answers slower than
 * slow_answer_ms (an endpoint is slow before its first slow answer ends). */
#define SCAN_INTERVAL_MS 100

struct worker;

/* What the worker knows of one descriptor number (worker->fds, indexed by
 * it).  Worker thread only. */
struct fdslot {
    uint32_t events; /* the epoll events registered, when registered */
    bool registered; /* in the worker's epoll set */
    bool owned;      /* a connection socket open_socket made (closed by close_socket) */
    bool parked;     /* libcurl said CURL_POLL_REMOVE: an idle keep-alive connection */
};

/* One easy handle and the attempt it carries.  Worker thread only. */
struct xfer {
    struct xfer *prev, *next; /* running list, or idle pool (next only) */
    CURL *easy;
    struct delivery *dl;
    struct admission_ep *ep;
    /* The request headers: the per-attempt lines (webhook-id, -timestamp,
     * -signature) in hdr[], their text in hbuf, the last node's next the
     * constant lines all attempts share (deliver.const_headers). */
    struct curl_slist hdr[3];
    char *hbuf;
    size_t hbuf_cap;
    int64_t at_ms;      /* util_now_ms() when started */
    int64_t start_mono; /* util_mono_ms() when started */
    curl_off_t resp_bytes;
    char resp[ATTEMPT_RESPONSE_MAX]; /* the answer's first bytes */
    size_t resp_len;
    struct worker *w;
    const struct netguard *guard; /* deliver_opts.guard */
    char blocked[160];            /* why the guard refused a connection, or "" */
    char errbuf[CURL_ERROR_SIZE];
};

struct worker {
    struct deliver *d;
    int index;
    pthread_t thread;
    bool thread_started;
    CURLM *multi;
    int epfd;                     /* the worker's sockets and evfd; -1 until created */
    int evfd;                     /* eventfd: "the queue has work" or "look at stopping" */
    int64_t timer_ms;             /* libcurl's timer (util_mono_ms clock), -1 when none */
    _Atomic int64_t heartbeat_ms; /* the loop's last turn (mono ms), for /healthz */
    struct fdslot *fds;           /* by descriptor number; worker thread only */
    size_t n_fds;

    pthread_mutex_t lock;
    bool lock_init;
    struct delivery *q_head; /* protected by lock */
    struct delivery *q_tail; /* protected by lock */

    /* Worker thread only. */
    struct admission adm;
    int64_t next_scan_ms; /* util_mono_ms() of the next slow-answer scan */
    struct xfer *running; /* doubly linked */
    struct xfer *idle;    /* singly linked pool */
    int n_idle;
    bool stopping; /* sticky copy of deliver.stopping */
    bool aborted;  /* the deadline passed and running transfers were aborted */
};

struct deliver {
    struct deliver_opts opts; /* const once started */
    char *user_agent;
    char *ca_file; /* opts.ca_file, owned */
    /* Content-Type, User-Agent, "Expect:": the request headers that are the
     * same for every attempt, built once; read-only, shared by every
     * transfer of every worker (the tail of each xfer's list), freed after
     * the workers joined. */
    struct curl_slist *const_headers;
    struct admission_limits lim; /* per worker: the settings divided by the workers */
    deliver_done_cb *done;
    void *opaque;

    struct worker *workers;
    int n_workers;

    atomic_uint rr;          /* submissions, spread over the workers by spread() */
    atomic_long in_flight;   /* submitted, not yet handed to the callback */
    atomic_long outstanding; /* submitted, callback not yet returned */
    atomic_int stopping;
    _Atomic int64_t deadline_ms; /* util_mono_ms clock; valid once stopping */
};

static const char *endpoint_key(const struct delivery *dl)
{
    return dl->endpoint_id != NULL ? dl->endpoint_id : "";
}

/* ---- completion ------------------------------------------------------ */

/* Appends dl to a local list of deliveries whose callback is due. */
static void list_append(struct delivery **head, struct delivery **tail, struct delivery *dl)
{
    dl->next = NULL;
    if (*tail != NULL) {
        (*tail)->next = dl;
    } else {
        *head = dl;
    }
    *tail = dl;
}

/* Wakes w's thread from epoll_wait.  Any thread. */
static void worker_wake(struct worker *w)
{
    uint64_t one = 1;
    /* EAGAIN (the counter at its maximum) still leaves the wakeup pending. */
    while (write(w->evfd, &one, sizeof(one)) < 0 && errno == EINTR) {
    }
}

/* Hands each delivery of the list to the callback.  No lock may be held. */
static void hand_back(struct deliver *d, struct delivery *list)
{
    while (list != NULL) {
        struct delivery *dl = list;
        list = dl->next;
        dl->next = NULL;
        atomic_fetch_sub(&d->in_flight, 1);
        d->done(dl, d->opaque);
        if (atomic_fetch_sub(&d->outstanding, 1) == 1 && atomic_load(&d->stopping)) {
            /* The last delivery anywhere is resolved: let every worker see
             * that it may exit. */
            for (int i = 0; i < d->n_workers; i++) {
                worker_wake(&d->workers[i]);
            }
        }
    }
}

/* The short, stable class of a transport error, for the attempt record. */
static const char *error_class(CURLcode rc, long os_errno)
{
    switch (rc) {
    case CURLE_OPERATION_TIMEDOUT:
        return "timeout";
    case CURLE_COULDNT_CONNECT:
        return os_errno == ECONNREFUSED ? "connection refused" : NULL;
    case CURLE_COULDNT_RESOLVE_HOST:
        return "dns failure";
    case CURLE_SSL_CONNECT_ERROR:
    case CURLE_PEER_FAILED_VERIFICATION:
    case CURLE_SSL_CERTPROBLEM:
    case CURLE_SSL_CIPHER:
    case CURLE_SSL_ISSUER_ERROR:
    case CURLE_SSL_PINNEDPUBKEYNOTMATCH:
    case CURLE_SSL_INVALIDCERTSTATUS:
    case CURLE_SSL_CACERT_BADFILE:
    case CURLE_SSL_CRL_BADFILE:
    case CURLE_SSL_ENGINE_INITFAILED:
    case CURLE_USE_SSL_FAILED:
        return "tls failure";
    case CURLE_GOT_NOTHING:
        return "empty reply";
    case CURLE_SEND_ERROR:
        return os_errno == ECONNRESET || os_errno == EPIPE ? "connection reset" : "send failed";
    case CURLE_RECV_ERROR:
        return os_errno == ECONNRESET ? "connection reset" : "receive failed";
    default:
        return NULL;
    }
}

/* "<class>[: <details>]" or "curl: <strerror>[: <details>]". */
static void format_error(char *buf, size_t size, CURLcode rc, long os_errno, const char *details)
{
    const char *cls = error_class(rc, os_errno);
    const char *sep = details[0] != '\0' ? ": " : "";
    if (cls != NULL) {
        util_errf(buf, size, "%s%s%s", cls, sep, details);
    } else {
        util_errf(buf, size, "curl: %s%s%s", curl_easy_strerror(rc), sep, details);
    }
}

/* The epoch ms a Retry-After of this answer asks to wait until, or 0.  Read
 * from the header itself, not CURLINFO_RETRY_AFTER: before libcurl 8.12 a
 * date in the past gives a negative value and a reused handle may keep an
 * earlier answer's value. */
static int64_t retry_after_until(CURL *easy)
{
    struct curl_header *h = NULL;
    if (curl_easy_header(easy, "Retry-After", 0, CURLH_HEADER, -1, &h) != CURLHE_OK || h == NULL ||
        h->value == NULL) {
        return 0;
    }
    return schedule_retry_after(h->value, util_now_ms());
}

/* Returns x to the pool (or frees it); its attempt is over. */
static void xfer_release(struct worker *w, struct xfer *x)
{
    x->dl = NULL;
    x->ep = NULL;
    if (w->n_idle >= POOL_IDLE_MAX) {
        curl_easy_cleanup(x->easy);
        free(x->hbuf);
        free(x);
        return;
    }
    /* The handle keeps its options: the per-attempt ones (URL, body,
     * headers) still point at this attempt's memory, unused until the next
     * attempt sets them again (xfer_setup).  The connection and DNS caches
     * belong to the multi. */
    x->prev = NULL;
    x->next = w->idle;
    w->idle = x;
    w->n_idle++;
}

static void running_unlink(struct worker *w, struct xfer *x)
{
    if (x->prev != NULL) {
        x->prev->next = x->next;
    } else {
        w->running = x->next;
    }
    if (x->next != NULL) {
        x->next->prev = x->prev;
    }
    x->prev = NULL;
    x->next = NULL;
}

static void xfer_start(struct worker *w, struct admission_ep *ep, struct delivery *dl,
                       struct delivery **done_head, struct delivery **done_tail);

/* Hands dl back unattempted (OUTCOME_DEFERRED): the caller parks it rather
 * than hold a place in the budget (see admission.h for the reasons). */
static void defer(struct delivery *dl, enum admission_reason reason, struct delivery **done_head,
                  struct delivery **done_tail)
{
    if (reason == ADMISSION_SHARE) {
        metrics_inc(M_deliveries_isolated_share);
    } else if (reason == ADMISSION_SLOW) {
        metrics_inc(M_deliveries_isolated_slow);
    }
    dl->outcome = OUTCOME_DEFERRED;
    dl->retry_after_ms = 0;
    list_append(done_head, done_tail, dl);
}

/* Starts or defers the waiting deliveries of ep as admission says (a slot
 * freed, or ep turned slow), then frees ep if it is idle.  A loop, not
 * recursion: an attempt that fails to start frees its slot and the next one
 * is tried. */
static void ep_pump(struct worker *w, struct admission_ep *ep, struct delivery **done_head,
                    struct delivery **done_tail)
{
    while (!w->stopping && ep->wait_head != NULL) {
        enum admission_verdict verdict;
        enum admission_reason reason;
        struct delivery *dl = admission_next(&w->adm, ep, &verdict, &reason);
        if (dl == NULL) {
            break;
        }
        if (verdict == ADMISSION_DEFER) {
            defer(dl, reason, done_head, done_tail);
        } else {
            xfer_start(w, ep, dl, done_head, done_tail);
        }
    }
    admission_release(&w->adm, ep);
}

/* Records the attempt x carried and decides the outcome as data; error is
 * NULL for an HTTP answer.  x goes back to the pool, its delivery to the
 * done list, and its endpoint slot is freed.  Returns the endpoint, which
 * the caller pumps. */
static struct admission_ep *xfer_complete(struct worker *w, struct xfer *x, long status,
                                          const char *error, struct delivery **done_head,
                                          struct delivery **done_tail)
{
    struct delivery *dl = x->dl;
    struct admission_ep *ep = x->ep;
    int64_t duration = util_mono_ms() - x->start_mono;

    struct attempt *a =
        delivery_add_attempt(dl, x->at_ms, duration < 0 ? 0 : duration, (int)status, error);
    delivery_set_response(a, x->resp, x->resp_len);
    dl->retry_after_ms = 0;
    if (error != NULL) {
        dl->outcome = OUTCOME_RETRY;
    } else if (status >= 200 && status <= 299) {
        dl->outcome = OUTCOME_SUCCESS;
    } else if (status == 410) {
        dl->outcome = OUTCOME_GONE;
    } else {
        /* 1xx, 3xx (redirects are not followed, 304 included), 4xx, 5xx. */
        dl->outcome = OUTCOME_RETRY;
        if (status == 429 || status == 503) {
            dl->retry_after_ms = retry_after_until(x->easy);
        }
    }
    if (log_enabled(LVL_DEBUG)) {
        char shown[REDACT_URL_LEN]; /* the URL without credentials */
        redact_url(dl->url, shown, sizeof(shown));
        log_msg(LVL_DEBUG, "deliver: %s to %s: status %ld%s%s, %lld body bytes in %lld ms", dl->id,
                shown, status, error != NULL ? ", " : "", error != NULL ? error : "",
                (long long)x->resp_bytes, (long long)duration);
    }

    /* Consecutive failures with no success for a while open the
     * endpoint's circuit; any answer that is not retried (2xx, 410) closes
     * it.  The duration feeds the slow-answer average, whatever the
     * outcome. */
    admission_answered(&w->adm, ep, duration, dl->outcome == OUTCOME_RETRY, util_now_ms());
    xfer_release(w, x);
    list_append(done_head, done_tail, dl);
    return ep;
}

/* ---- starting a transfer --------------------------------------------- */

/* Keeps the first ATTEMPT_RESPONSE_MAX bytes of the answer (what a
 * dashboard shows as "the latest response") and counts the rest. */
static size_t keep_body(char *data, size_t size, size_t nmemb, void *userp)
{
    struct xfer *x = userp;
    size_t n = size * nmemb;
    size_t room = sizeof(x->resp) - x->resp_len;
    memcpy(x->resp + x->resp_len, data, n < room ? n : room);
    x->resp_len += n < room ? n : room;
    x->resp_bytes += (curl_off_t)n;
    return n;
}

/* Appends one header line to *list; a value with CR or LF is refused (it
 * would inject headers).  value NULL appends "name:" (which tells libcurl
 * to drop that header). */
static int header_add(struct curl_slist **list, const char *name, const char *value, char *errstr,
                      size_t errstr_size) WB_MUST_CHECK;
static int header_add(struct curl_slist **list, const char *name, const char *value, char *errstr,
                      size_t errstr_size)
{
    char *line = NULL;
    int ret = -1;

    if (value != NULL && strpbrk(value, "\r\n") != NULL) {
        util_errf(errstr, errstr_size, "invalid %s header value", name);
        goto out;
    }
    size_t len = strlen(name) + 2 + (value != NULL ? strlen(value) : 0) + 1;
    line = xmalloc(len);
    if (value != NULL) {
        snprintf(line, len, "%s: %s", name, value);
    } else {
        snprintf(line, len, "%s:", name);
    }
    struct curl_slist *l = curl_slist_append(*list, line);
    if (l == NULL) {
        util_errf(errstr, errstr_size, "curl: %s", curl_easy_strerror(CURLE_OUT_OF_MEMORY));
        goto out;
    }
    *list = l;
    ret = 0;
out:
    free(line);
    return ret;
}

/* The headers every attempt sends alike, into *listp. */
static int build_const_headers(const char *user_agent, struct curl_slist **listp, char *errstr,
                               size_t errstr_size) WB_MUST_CHECK;
static int build_const_headers(const char *user_agent, struct curl_slist **listp, char *errstr,
                               size_t errstr_size)
{
    struct curl_slist *list = NULL;
    int ret = -1;
    if (header_add(&list, "Content-Type", "application/json", errstr, errstr_size) != 0 ||
        header_add(&list, "User-Agent", user_agent, errstr, errstr_size) != 0 ||
        /* No "Expect: 100-continue": it costs a round trip for nothing. */
        header_add(&list, "Expect", NULL, errstr, errstr_size) != 0) {
        goto out;
    }
    *listp = list;
    list = NULL;
    ret = 0;
out:
    curl_slist_free_all(list);
    return ret;
}

/* Appends "name: value" and its NUL at *pos in buf; returns the line. */
static char *line_put(char *buf, size_t *pos, const char *name, const char *value)
{
    char *line = buf + *pos;
    size_t n = strlen(name);
    size_t v = strlen(value);
    memcpy(line, name, n);
    memcpy(line + n, ": ", 2);
    memcpy(line + n + 2, value, v + 1);
    *pos += n + 2 + v + 1;
    return line;
}

/* The request headers of the attempt x carries, sent at x->at_ms: the
 * per-attempt lines in x->hdr (text in x->hbuf, grown as needed, never
 * freed between attempts) ahead of the shared constant ones.  A value with
 * CR or LF is refused (it would inject headers). */
static int build_headers(const struct deliver *d, struct xfer *x, char *errstr,
                         size_t errstr_size) WB_MUST_CHECK;
static int build_headers(const struct deliver *d, struct xfer *x, char *errstr, size_t errstr_size)
{
    const struct delivery *dl = x->dl;
    const char *id = dl->event_id != NULL ? dl->event_id : "";
    char *sig = NULL;
    char ts[24];
    int ret = -1;

    snprintf(ts, sizeof(ts), "%lld", (long long)(x->at_ms / 1000));
    if (strpbrk(id, "\r\n") != NULL) {
        util_errf(errstr, errstr_size, "invalid webhook-id header value");
        goto out;
    }
    /* Signed now, with the timestamp sent, over the exact bytes POSTed:
     * never a signature kept from an earlier attempt. */
    if (dl->ep != NULL && dl->ep->n_secrets > 0) {
        const char *body = dl->body != NULL ? dl->body->data : "";
        size_t body_len = dl->body != NULL ? dl->body->len : 0;
        sig = sign_header(dl->ep->secrets, dl->ep->n_secrets, id, x->at_ms / 1000, body, body_len,
                          errstr, errstr_size);
        if (sig == NULL) {
            goto out;
        }
        if (strpbrk(sig, "\r\n") != NULL) {
            util_errf(errstr, errstr_size, "invalid webhook-signature header value");
            goto out;
        }
    }
    size_t need = sizeof("webhook-id: ") + strlen(id) + sizeof("webhook-timestamp: ") + strlen(ts) +
                  (sig != NULL ? sizeof("webhook-signature: ") + strlen(sig) : 0);
    if (need > x->hbuf_cap) {
        free(x->hbuf);
        x->hbuf = xmalloc(need);
        x->hbuf_cap = need;
    }
    size_t pos = 0;
    x->hdr[0].data = line_put(x->hbuf, &pos, "webhook-id", id);
    x->hdr[0].next = &x->hdr[1];
    x->hdr[1].data = line_put(x->hbuf, &pos, "webhook-timestamp", ts);
    if (sig != NULL) {
        x->hdr[1].next = &x->hdr[2];
        x->hdr[2].data = line_put(x->hbuf, &pos, "webhook-signature", sig);
        x->hdr[2].next = d->const_headers;
    } else {
        x->hdr[1].next = d->const_headers;
    }
    ret = 0;
out:
    free(sig);
    return ret;
}

static long clamp_long(int64_t v)
{
    return v > LONG_MAX ? LONG_MAX : (long)v;
}

/* The slot of descriptor fd, the table grown to hold it. */
static struct fdslot *fd_slot(struct worker *w, curl_socket_t fd)
{
    if ((size_t)fd >= w->n_fds) {
        size_t n = w->n_fds < 64 ? 64 : w->n_fds;
        while (n <= (size_t)fd) {
            n *= 2;
        }
        w->fds = xrealloc(w->fds, n * sizeof(*w->fds));
        memset(w->fds + w->n_fds, 0, (n - w->n_fds) * sizeof(*w->fds));
        w->n_fds = n;
    }
    return &w->fds[fd];
}

/* libcurl's socket opener: every connection a transfer makes goes through
 * it, once DNS has given the address, so the SSRF guard sees the address
 * actually connected, whatever the URL said.  A refused address fails the
 * attempt with CURLE_COULDNT_CONNECT; x->blocked says why. */
static curl_socket_t open_socket(void *clientp, curlsocktype purpose, struct curl_sockaddr *address)
{
    struct xfer *x = clientp;
    if (purpose == CURLSOCKTYPE_IPCXN) {
        const char *cls = netguard_check(x->guard, &address->addr);
        if (cls != NULL) {
            char text[INET6_ADDRSTRLEN] = "?";
            const void *a = NULL;
            if (address->family == AF_INET) {
                a = &((const struct sockaddr_in *)(const void *)&address->addr)->sin_addr;
            } else if (address->family == AF_INET6) {
                a = &((const struct sockaddr_in6 *)(const void *)&address->addr)->sin6_addr;
            }
            if (a != NULL) {
                inet_ntop(address->family, a, text, sizeof(text));
            }
            util_errf(x->blocked, sizeof(x->blocked), "blocked_address: %s is %s", text, cls);
            return CURL_SOCKET_BAD;
        }
    }
    curl_socket_t fd = socket(address->family, address->socktype | SOCK_CLOEXEC, address->protocol);
    if (fd != CURL_SOCKET_BAD) {
        /* A fresh descriptor is in no epoll set, whatever its number was. */
        struct fdslot *slot = fd_slot(x->w, fd);
        memset(slot, 0, sizeof(*slot));
        slot->owned = true;
    }
    return fd;
}

/* libcurl's socket closer, for the sockets open_socket made: the only place
 * a connection really ends (CURL_POLL_REMOVE only means "not watched now").
 * Worker thread, or deliver_free after it joined (curl_multi_cleanup). */
static int close_socket(void *clientp, curl_socket_t fd)
{
    struct worker *w = clientp;
    if (fd >= 0 && (size_t)fd < w->n_fds) {
        memset(&w->fds[fd], 0, sizeof(w->fds[fd]));
    }
    /* close() takes it out of the epoll set too (libcurl never dups it). */
    return close(fd);
}

/* Each SETOPT keeps the first error; the later calls are skipped. */
#define SETOPT(rc, e, opt, val)                                                                    \
    do {                                                                                           \
        if ((rc) == CURLE_OK) {                                                                    \
            (rc) = curl_easy_setopt((e), (opt), (val));                                            \
        }                                                                                          \
    } while (0)

/* The options that are the same for every attempt, set once per handle:
 * resetting a pooled handle and setting them all again on every attempt
 * was a visible share of a delivery's CPU. */
static CURLcode xfer_init_options(const struct deliver *d, struct xfer *x)
{
    CURL *e = x->easy;
    CURLcode rc = CURLE_OK;
    SETOPT(rc, e, CURLOPT_ERRORBUFFER, x->errbuf);
    SETOPT(rc, e, CURLOPT_PRIVATE, x);
    SETOPT(rc, e, CURLOPT_NOSIGNAL, 1L);
    SETOPT(rc, e, CURLOPT_PROTOCOLS_STR, "http,https");
    SETOPT(rc, e, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
    SETOPT(rc, e, CURLOPT_FOLLOWLOCATION, 0L); /* a redirect is a failed attempt */
    SETOPT(rc, e, CURLOPT_POST, 1L);
    SETOPT(rc, e, CURLOPT_CONNECTTIMEOUT_MS, clamp_long(d->opts.connect_timeout_ms));
    SETOPT(rc, e, CURLOPT_TIMEOUT_MS, clamp_long(d->opts.timeout_ms));
    SETOPT(rc, e, CURLOPT_TCP_KEEPALIVE, 1L);
    SETOPT(rc, e, CURLOPT_WRITEFUNCTION, keep_body);
    SETOPT(rc, e, CURLOPT_WRITEDATA, x);
    SETOPT(rc, e, CURLOPT_OPENSOCKETFUNCTION, open_socket);
    SETOPT(rc, e, CURLOPT_OPENSOCKETDATA, x);
    /* The worker, not x: a connection outlives the handle that opened it. */
    SETOPT(rc, e, CURLOPT_CLOSESOCKETFUNCTION, close_socket);
    SETOPT(rc, e, CURLOPT_CLOSESOCKETDATA, x->w);
    /* No proxy from the environment (http_proxy, ...): the guard would see
     * only the proxy's address, and a delivery must go where its URL says. */
    SETOPT(rc, e, CURLOPT_PROXY, "");
    /* Verification stays on (libcurl's default).  The file takes the place
     * of the default CA bundle; Debian's libcurl also reads the system's
     * CA directory (/etc/ssl/certs, its built-in CURLOPT_CAPATH), so the
     * system's CAs stay trusted beside the file's. */
    if (d->opts.ca_file != NULL && d->opts.ca_file[0] != '\0') {
        SETOPT(rc, e, CURLOPT_CAINFO, d->opts.ca_file);
    }
    return rc;
}

/* Sets the options of one attempt on x->easy: the URL, the body and the
 * headers; the rest was set when the handle was made. */
static int xfer_setup(struct worker *w, struct xfer *x, char *errstr,
                      size_t errstr_size) WB_MUST_CHECK;
static int xfer_setup(struct worker *w, struct xfer *x, char *errstr, size_t errstr_size)
{
    const struct deliver *d = w->d;
    const struct delivery *dl = x->dl;
    const char *body = dl->body != NULL ? dl->body->data : "";
    curl_off_t body_len = dl->body != NULL ? (curl_off_t)dl->body->len : 0;
    CURL *e = x->easy;
    CURLcode rc = CURLE_OK;
    int ret = -1;

    if (build_headers(d, x, errstr, errstr_size) != 0) {
        goto out;
    }
    x->errbuf[0] = '\0';
    x->blocked[0] = '\0';
    x->resp_bytes = 0;
    x->resp_len = 0;
    SETOPT(rc, e, CURLOPT_URL, dl->url);
    /* The payload outlives the transfer (dl holds a reference): no copy. */
    SETOPT(rc, e, CURLOPT_POSTFIELDSIZE_LARGE, body_len);
    SETOPT(rc, e, CURLOPT_POSTFIELDS, body);
    SETOPT(rc, e, CURLOPT_HTTPHEADER, &x->hdr[0]);
    if (rc != CURLE_OK) {
        util_errf(errstr, errstr_size, "curl: %s", curl_easy_strerror(rc));
        goto out;
    }
    ret = 0;
out:
    return ret;
}
#undef SETOPT

static struct xfer *xfer_get(struct worker *w)
{
    struct xfer *x = w->idle;
    if (x != NULL) {
        w->idle = x->next;
        w->n_idle--;
        x->next = NULL;
        return x;
    }
    CURL *easy = curl_easy_init();
    if (easy == NULL) {
        return NULL;
    }
    x = xcalloc(1, sizeof(*x));
    x->easy = easy;
    x->w = w;
    x->guard = w->d->opts.guard;
    CURLcode rc = xfer_init_options(w->d, x);
    if (rc != CURLE_OK) {
        log_error("deliver: worker %d: curl_easy_setopt: %s", w->index, curl_easy_strerror(rc));
        curl_easy_cleanup(easy);
        free(x);
        return NULL;
    }
    return x;
}

/* Starts the attempt of dl now (admission said so).  An
 * attempt that cannot even start is recorded as failed right away; the
 * caller then pumps or releases ep. */
static void xfer_start(struct worker *w, struct admission_ep *ep, struct delivery *dl,
                       struct delivery **done_head, struct delivery **done_tail)
{
    char errstr[ATTEMPT_ERROR_MAX];
    struct xfer *x = xfer_get(w);
    int64_t at_ms = util_now_ms();

    if (dl->first_attempt_ms == 0) {
        dl->first_attempt_ms = at_ms;
    }
    if (x == NULL) {
        delivery_add_attempt(dl, at_ms, 0, 0, "curl: cannot create a handle");
        dl->outcome = OUTCOME_RETRY;
        dl->retry_after_ms = 0;
        list_append(done_head, done_tail, dl);
        return;
    }
    x->dl = dl;
    x->ep = ep;
    x->at_ms = at_ms;
    x->start_mono = util_mono_ms();
    ep->running++;

    if (xfer_setup(w, x, errstr, sizeof(errstr)) != 0) {
        xfer_complete(w, x, 0, errstr, done_head, done_tail);
        return;
    }
    CURLMcode mc = curl_multi_add_handle(w->multi, x->easy);
    if (mc != CURLM_OK) {
        util_errf(errstr, sizeof(errstr), "curl: %s", curl_multi_strerror(mc));
        xfer_complete(w, x, 0, errstr, done_head, done_tail);
        return;
    }
    x->prev = NULL;
    x->next = w->running;
    if (w->running != NULL) {
        w->running->prev = x;
    }
    w->running = x;
}

/* A delivery taken from the hand-off queue: start it or let it wait. */
static void admit(struct worker *w, struct delivery *dl, struct delivery **done_head,
                  struct delivery **done_tail)
{
    if (w->stopping) {
        dl->outcome = OUTCOME_NONE;
        dl->retry_after_ms = 0;
        list_append(done_head, done_tail, dl);
        return;
    }
    struct admission_ep *ep = admission_get(&w->adm, endpoint_key(dl));
    enum admission_reason reason;
    switch (admission_check(&w->adm, ep, dl, &reason)) {
    case ADMISSION_START:
        xfer_start(w, ep, dl, done_head, done_tail);
        break;
    case ADMISSION_DEFER:
        defer(dl, reason, done_head, done_tail);
        break;
    case ADMISSION_WAIT:
    default:
        admission_wait(ep, dl);
        break;
    }
    admission_release(&w->adm, ep);
}

/* Tells admission the age of every running attempt (at most every
 * SCAN_INTERVAL_MS), then defers what waits beyond an endpoint's share and
 * what waits for the endpoints with one running longer than
 * slow_answer_ms: an endpoint is known slow from its first slow answer on,
 * not once a whole slow answer has ended, and its backlog is bounded before
 * its first answer, even when no delivery comes for it any more (the
 * budget full, the consumer paused). */
static void scan_overdue(struct worker *w, struct delivery **done_head, struct delivery **done_tail)
{
    int64_t slow_ms = w->d->lim.slow_ms;
    int64_t now = util_mono_ms();
    if (slow_ms <= 0 || now < w->next_scan_ms) {
        return;
    }
    w->next_scan_ms = now + SCAN_INTERVAL_MS;
    admission_scan_begin(&w->adm);
    for (struct xfer *x = w->running; x != NULL; x = x->next) {
        admission_running(&w->adm, x->ep, now - x->start_mono);
    }
    /* What waits beyond the share now that the answer times are known
     * better is deferred (the newest first: the older keep their places),
     * and what waits for a slow endpoint.  ep_pump may start transfers
     * (added at the head of the list) and never frees an endpoint that has
     * one running, as x->ep has. */
    for (struct xfer *x = w->running; x != NULL;) {
        struct xfer *next = x->next;
        struct delivery *excess = admission_shed(&w->adm, x->ep);
        while (excess != NULL) {
            struct delivery *dl = excess;
            excess = dl->next;
            defer(dl, ADMISSION_SHARE, done_head, done_tail);
        }
        if (x->ep->overdue > 0 && x->ep->wait_head != NULL) {
            ep_pump(w, x->ep, done_head, done_tail);
        }
        x = next;
    }
}

/* ---- the worker thread ----------------------------------------------- */

/* At stop: every waiting delivery goes back unattempted. */
static void drop_waiting(struct worker *w, struct delivery **done_head, struct delivery **done_tail)
{
    for (size_t i = 0; i < w->adm.n_buckets; i++) {
        for (struct admission_ep *ep = w->adm.buckets[i]; ep != NULL; ep = ep->next) {
            struct delivery *dl;
            while ((dl = admission_take(ep)) != NULL) {
                dl->outcome = OUTCOME_NONE;
                dl->retry_after_ms = 0;
                list_append(done_head, done_tail, dl);
            }
        }
    }
    admission_sweep(&w->adm);
}

/* After the deadline: every running transfer is cut short. */
static void abort_running(struct worker *w, struct delivery **done_head,
                          struct delivery **done_tail)
{
    while (w->running != NULL) {
        struct xfer *x = w->running;
        long status = 0;
        running_unlink(w, x);
        curl_easy_getinfo(x->easy, CURLINFO_RESPONSE_CODE, &status);
        curl_multi_remove_handle(w->multi, x->easy);
        ep_pump(w, xfer_complete(w, x, status, "aborted", done_head, done_tail), done_head,
                done_tail);
    }
}

/* Reads the finished transfers off the multi handle. */
static void collect(struct worker *w, struct delivery **done_head, struct delivery **done_tail)
{
    CURLMsg *msg;
    int left = 0;
    char error[ATTEMPT_ERROR_MAX];

    for (;;) {
        msg = curl_multi_info_read(w->multi, &left);
        if (msg == NULL) {
            break;
        }
        if (msg->msg != CURLMSG_DONE) {
            continue;
        }
        CURL *easy = msg->easy_handle;
        CURLcode rc = msg->data.result;
        char *priv = NULL;
        long status = 0;
        long os_errno = 0;
        curl_easy_getinfo(easy, CURLINFO_PRIVATE, &priv);
        struct xfer *x = (struct xfer *)priv;
        curl_easy_getinfo(easy, CURLINFO_RESPONSE_CODE, &status);
        curl_easy_getinfo(easy, CURLINFO_OS_ERRNO, &os_errno);
        curl_multi_remove_handle(w->multi, easy);
        running_unlink(w, x);
        struct admission_ep *ep;
        if (rc == CURLE_OK) {
            ep = xfer_complete(w, x, status, NULL, done_head, done_tail);
        } else if (x->blocked[0] != '\0') {
            snprintf(error, sizeof(error), "%s", x->blocked);
            ep = xfer_complete(w, x, status, error, done_head, done_tail);
        } else {
            format_error(error, sizeof(error), rc, os_errno, x->errbuf);
            ep = xfer_complete(w, x, status, error, done_head, done_tail);
        }
        ep_pump(w, ep, done_head, done_tail);
    }
}

/* Sets fd's epoll registration to events (ADD or MOD as slot says; either
 * may find the other state: a descriptor libcurl closed itself, its number
 * reused).  Returns 0 or -1 (logged). */
static int fd_watch(struct worker *w, curl_socket_t fd, struct fdslot *slot, uint32_t events)
{
    struct epoll_event ev;
    memset(&ev, 0, sizeof(ev));
    ev.events = events;
    ev.data.fd = fd;
    int op = slot->registered ? EPOLL_CTL_MOD : EPOLL_CTL_ADD;
    if (epoll_ctl(w->epfd, op, fd, &ev) != 0) {
        op = op == EPOLL_CTL_MOD ? EPOLL_CTL_ADD : EPOLL_CTL_MOD;
        if (epoll_ctl(w->epfd, op, fd, &ev) != 0) {
            log_error("deliver: worker %d: epoll_ctl(%d): %s", w->index, fd, strerror(errno));
            return -1;
        }
    }
    slot->registered = true;
    slot->events = events;
    return 0;
}

static void fd_unwatch(struct worker *w, curl_socket_t fd, struct fdslot *slot)
{
    /* It may be closed already: then the kernel dropped it itself. */
    epoll_ctl(w->epfd, EPOLL_CTL_DEL, fd, NULL);
    slot->registered = false;
    slot->parked = false;
}

/* libcurl's socket callback: keeps the epoll set in step with the sockets
 * libcurl wants watched.  Worker thread (inside libcurl calls).
 *
 * A connection socket that goes idle into libcurl's cache (CURL_POLL_REMOVE
 * while open) stays in the epoll set, parked, watched for input only: it
 * is reused for a later delivery with no epoll_ctl at all (it was a DEL and
 * an ADD per delivery).  Nothing arrives on an idle keep-alive connection
 * unless the server closes it or breaks the protocol; then the event is
 * seen in wait_and_dispatch, which takes the socket out of the set (it
 * would be reported again and again) and leaves it to libcurl, whose check
 * before reusing a connection finds it readable, so dead, and closes it
 * (close_socket) instead of sending on it.  Other sockets (the threaded
 * resolver's, say) are removed at once, as libcurl asks. */
static int on_socket(CURL *easy, curl_socket_t fd, int what, void *userp, void *socketp)
{
    (void)easy;
    (void)socketp;
    struct worker *w = userp;
    struct fdslot *slot = fd_slot(w, fd);
    if (what == CURL_POLL_REMOVE) {
        if (!slot->owned || !slot->registered) {
            fd_unwatch(w, fd, slot);
            return 0;
        }
        slot->parked = true;
        return slot->events == EPOLLIN ? 0 : fd_watch(w, fd, slot, EPOLLIN);
    }
    uint32_t events =
        ((what & CURL_POLL_IN) ? EPOLLIN : 0u) | ((what & CURL_POLL_OUT) ? EPOLLOUT : 0u);
    slot->parked = false;
    if (slot->registered && slot->events == events) {
        return 0;
    }
    return fd_watch(w, fd, slot, events);
}

/* libcurl's timer callback.  Worker thread (inside libcurl calls). */
static int on_timer(CURLM *multi, long timeout_ms, void *userp)
{
    (void)multi;
    struct worker *w = userp;
    w->timer_ms = timeout_ms < 0 ? -1 : util_mono_ms() + timeout_ms;
    return 0;
}

static void socket_action(struct worker *w, curl_socket_t fd, int flags)
{
    int still = 0;
    CURLMcode mc = curl_multi_socket_action(w->multi, fd, flags, &still);
    if (mc != CURLM_OK) {
        log_error("deliver: worker %d: curl_multi_socket_action: %s", w->index,
                  curl_multi_strerror(mc));
    }
}

/* Runs libcurl's timeouts when they are due (a new transfer is started
 * this way too: adding a handle sets a timer of 0). */
static void run_timer(struct worker *w)
{
    if (w->timer_ms >= 0 && util_mono_ms() >= w->timer_ms) {
        w->timer_ms = -1;
        socket_action(w, CURL_SOCKET_TIMEOUT, 0);
    }
}

static int wait_timeout(const struct worker *w, int64_t deadline)
{
    int64_t now = util_mono_ms();
    int64_t t = POLL_MAX_MS;
    if (w->timer_ms >= 0 && w->timer_ms - now < t) {
        t = w->timer_ms - now;
    }
    if (w->stopping && !w->aborted && deadline - now < t) {
        t = deadline - now;
    }
    return t < 0 ? 0 : (int)t;
}

/* Waits for socket events, a wakeup or the next timeout, and hands the
 * ready sockets to libcurl. */
static void wait_and_dispatch(struct worker *w, int64_t deadline)
{
    struct epoll_event evs[EPOLL_BATCH];
    int n = epoll_wait(w->epfd, evs, EPOLL_BATCH, wait_timeout(w, deadline));
    if (n < 0) {
        if (errno != EINTR) {
            /* Not expected to happen; avoid spinning if it does. */
            log_error("deliver: worker %d: epoll_wait: %s", w->index, strerror(errno));
            struct timespec ts = {0, 10 * 1000 * 1000};
            nanosleep(&ts, NULL);
        }
        return;
    }
    for (int i = 0; i < n; i++) {
        int fd = evs[i].data.fd;
        if (fd == w->evfd) {
            uint64_t count;
            while (read(w->evfd, &count, sizeof(count)) < 0 && errno == EINTR) {
            }
            continue;
        }
        if ((size_t)fd < w->n_fds && w->fds[fd].parked) {
            /* An idle connection closed by its server (or sent bytes no
             * request asked for): libcurl finds it dead when it next looks
             * at it (see on_socket). */
            fd_unwatch(w, fd, &w->fds[fd]);
            continue;
        }
        int flags = 0;
        if (evs[i].events & (EPOLLIN | EPOLLHUP)) {
            flags |= CURL_CSELECT_IN;
        }
        if (evs[i].events & EPOLLOUT) {
            flags |= CURL_CSELECT_OUT;
        }
        if (evs[i].events & EPOLLERR) {
            flags |= CURL_CSELECT_ERR;
        }
        socket_action(w, fd, flags);
    }
}

static void *worker_main(void *arg)
{
    struct worker *w = arg;
    struct deliver *d = w->d;
    int64_t deadline = 0;

    for (;;) {
        struct delivery *done_head = NULL;
        struct delivery *done_tail = NULL;

        atomic_store(&w->heartbeat_ms, util_mono_ms());
        pthread_mutex_lock(&w->lock);
        struct delivery *batch = w->q_head;
        w->q_head = NULL;
        w->q_tail = NULL;
        pthread_mutex_unlock(&w->lock);

        if (!w->stopping && atomic_load(&d->stopping)) {
            w->stopping = true;
            deadline = atomic_load(&d->deadline_ms);
            drop_waiting(w, &done_head, &done_tail);
        }
        while (batch != NULL) {
            struct delivery *dl = batch;
            batch = dl->next;
            dl->next = NULL;
            admit(w, dl, &done_head, &done_tail);
        }

        run_timer(w);
        collect(w, &done_head, &done_tail);
        if (!w->stopping) {
            scan_overdue(w, &done_head, &done_tail);
        }

        if (w->stopping && !w->aborted && util_mono_ms() >= deadline) {
            w->aborted = true;
            abort_running(w, &done_head, &done_tail);
        }

        hand_back(d, done_head);

        if (w->stopping && w->running == NULL && atomic_load(&d->outstanding) == 0) {
            break;
        }
        wait_and_dispatch(w, deadline);
    }
    return NULL;
}

/* ---- API ------------------------------------------------------------- */

static void deliver_free(struct deliver *d)
{
    for (int i = 0; i < d->n_workers; i++) {
        struct worker *w = &d->workers[i];
        while (w->idle != NULL) {
            struct xfer *x = w->idle;
            w->idle = x->next;
            curl_easy_cleanup(x->easy);
            free(x->hbuf);
            free(x);
        }
        if (w->multi != NULL) {
            curl_multi_cleanup(w->multi); /* close_socket uses w->fds */
        }
        free(w->fds);
        if (w->epfd >= 0) {
            close(w->epfd);
        }
        if (w->evfd >= 0) {
            close(w->evfd);
        }
        if (w->adm.buckets != NULL) {
            admission_deinit(&w->adm);
        }
        if (w->lock_init) {
            pthread_mutex_destroy(&w->lock);
        }
    }
    free(d->workers);
    curl_slist_free_all(d->const_headers);
    free(d->user_agent);
    free(d->ca_file);
    free(d);
}

/* Tells the workers to stop and joins those that run. */
static void stop_and_join(struct deliver *d, int64_t deadline_ms)
{
    atomic_store(&d->deadline_ms, deadline_ms);
    atomic_store(&d->stopping, 1);
    for (int i = 0; i < d->n_workers; i++) {
        if (d->workers[i].evfd >= 0) {
            worker_wake(&d->workers[i]);
        }
    }
    for (int i = 0; i < d->n_workers; i++) {
        if (d->workers[i].thread_started) {
            pthread_join(d->workers[i].thread, NULL);
            d->workers[i].thread_started = false;
        }
    }
}

/* The worker's connection cache: as many connections as it may have
 * transfers running (its budget, at least one endpoint's cap).  libcurl's
 * default is 4 per transfer running now: as in-flight work drained to a
 * few transfers, it closed the idle connections a burst had opened, and
 * the next burst connected again. */
static long max_connections(const struct admission_limits *lim)
{
    return lim->budget > lim->cap ? lim->budget : lim->cap;
}

int deliver_start(struct deliver **dp, const struct deliver_opts *opts, deliver_done_cb *done,
                  void *opaque, char *errstr, size_t errstr_size)
{
    struct deliver *d = NULL;
    int ret = -1;

    *dp = NULL;
    if (opts->workers < 1 || opts->workers > 1024) {
        util_errf(errstr, errstr_size, "workers must be 1 to 1024, got %d", opts->workers);
        goto out;
    }
    if (opts->endpoint_max_in_flight < 1) {
        util_errf(errstr, errstr_size, "endpoint_max_in_flight must be at least 1, got %d",
                  opts->endpoint_max_in_flight);
        goto out;
    }
    if (opts->connect_timeout_ms < 1 || opts->timeout_ms < 1) {
        util_errf(errstr, errstr_size, "timeouts must be at least 1 ms");
        goto out;
    }
    if (opts->max_in_flight < 0 || opts->slow_max_in_flight < 0 || opts->slow_answer_ms < 0) {
        util_errf(errstr, errstr_size,
                  "max_in_flight, slow_max_in_flight and slow_answer_ms must not be negative");
        goto out;
    }
    if (done == NULL) {
        util_errf(errstr, errstr_size, "no done callback");
        goto out;
    }

    d = xcalloc(1, sizeof(*d));
    d->opts = *opts;
    d->user_agent =
        xstrdup(opts->user_agent != NULL ? opts->user_agent : "webhook-bridge/" WB_VERSION);
    d->opts.user_agent = d->user_agent;
    d->ca_file = opts->ca_file != NULL ? xstrdup(opts->ca_file) : NULL;
    d->opts.ca_file = d->ca_file;
    if (build_const_headers(d->user_agent, &d->const_headers, errstr, errstr_size) != 0) {
        goto out;
    }
    /* Each worker gets its part of every limit (rounded up, at least 1):
     * deliver_submit spreads deliveries evenly over the workers. */
    d->lim.cap = (opts->endpoint_max_in_flight + opts->workers - 1) / opts->workers;
    d->lim.budget = (opts->max_in_flight + opts->workers - 1) / opts->workers;
    d->lim.slow_cap = (opts->slow_max_in_flight + opts->workers - 1) / opts->workers;
    if (d->lim.slow_cap < 1) {
        d->lim.slow_cap = 1;
    }
    d->lim.slow_ms = opts->slow_answer_ms;
    d->lim.quiet_ms = opts->breaker_quiet_ms == 0  ? ADMISSION_BREAKER_QUIET_MS
                      : opts->breaker_quiet_ms < 0 ? 0
                                                   : opts->breaker_quiet_ms;
    d->done = done;
    d->opaque = opaque;
    atomic_init(&d->rr, 0);
    atomic_init(&d->in_flight, 0);
    atomic_init(&d->outstanding, 0);
    atomic_init(&d->stopping, 0);
    atomic_init(&d->deadline_ms, 0);
    d->workers = xcalloc((size_t)opts->workers, sizeof(*d->workers));
    d->n_workers = opts->workers;

    for (int i = 0; i < d->n_workers; i++) {
        d->workers[i].epfd = -1;
        d->workers[i].evfd = -1;
    }
    for (int i = 0; i < d->n_workers; i++) {
        struct worker *w = &d->workers[i];
        w->d = d;
        w->index = i;
        w->timer_ms = -1;
        atomic_init(&w->heartbeat_ms, util_mono_ms());
        int err = pthread_mutex_init(&w->lock, NULL);
        if (err != 0) {
            util_errf(errstr, errstr_size, "worker %d: mutex: %s", i, strerror(err));
            goto out;
        }
        w->lock_init = true;
        w->multi = curl_multi_init();
        if (w->multi == NULL) {
            util_errf(errstr, errstr_size, "worker %d: curl_multi_init failed", i);
            goto out;
        }
        w->epfd = epoll_create1(EPOLL_CLOEXEC);
        w->evfd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
        if (w->epfd < 0 || w->evfd < 0) {
            util_errf(errstr, errstr_size, "worker %d: epoll/eventfd: %s", i, strerror(errno));
            goto out;
        }
        struct epoll_event ev;
        memset(&ev, 0, sizeof(ev));
        ev.events = EPOLLIN;
        ev.data.fd = w->evfd;
        if (epoll_ctl(w->epfd, EPOLL_CTL_ADD, w->evfd, &ev) != 0) {
            util_errf(errstr, errstr_size, "worker %d: epoll_ctl: %s", i, strerror(errno));
            goto out;
        }
        CURLMcode mc = curl_multi_setopt(w->multi, CURLMOPT_SOCKETFUNCTION, on_socket);
        if (mc == CURLM_OK) {
            mc = curl_multi_setopt(w->multi, CURLMOPT_SOCKETDATA, w);
        }
        if (mc == CURLM_OK) {
            mc = curl_multi_setopt(w->multi, CURLMOPT_TIMERFUNCTION, on_timer);
        }
        if (mc == CURLM_OK) {
            mc = curl_multi_setopt(w->multi, CURLMOPT_TIMERDATA, w);
        }
        if (mc == CURLM_OK) {
            mc = curl_multi_setopt(w->multi, CURLMOPT_MAXCONNECTS, max_connections(&d->lim));
        }
        if (mc != CURLM_OK) {
            util_errf(errstr, errstr_size, "worker %d: curl_multi_setopt: %s", i,
                      curl_multi_strerror(mc));
            goto out;
        }
        admission_init(&w->adm, &d->lim);
    }
    for (int i = 0; i < d->n_workers; i++) {
        struct worker *w = &d->workers[i];
        int err = pthread_create(&w->thread, NULL, worker_main, w);
        if (err != 0) {
            util_errf(errstr, errstr_size, "worker %d: thread: %s", i, strerror(err));
            goto out;
        }
        w->thread_started = true;
    }
    log_debug("deliver: %d workers; per worker: %d in flight per endpoint, a budget of %d, %d to "
              "an endpoint slower than %lld ms",
              d->n_workers, d->lim.cap, d->lim.budget, d->lim.slow_cap, (long long)d->lim.slow_ms);
    *dp = d;
    d = NULL;
    ret = 0;
out:
    if (d != NULL) {
        stop_and_join(d, util_mono_ms());
        deliver_free(d);
    }
    return ret;
}

/* The worker of the n-th submission: n scrambled (splitmix64's finalizer),
 * not n itself.  Plain round-robin follows the callers' patterns: with two
 * workers and two endpoints per event, every delivery of one endpoint went
 * to one worker, which then did all of that endpoint's work alone (the bench's
 * isolation drain ran at half speed) and judged its share alone. */
static unsigned int spread(unsigned int n, unsigned int workers)
{
    uint64_t z = (uint64_t)n + 0x9e3779b97f4a7c15u;
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9u;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebu;
    z ^= z >> 31;
    return (unsigned int)(z % workers);
}

void deliver_submit(struct deliver *d, struct delivery *dl)
{
    unsigned int n = atomic_fetch_add(&d->rr, 1);
    struct worker *w = &d->workers[spread(n, (unsigned int)d->n_workers)];

    /* Counted before the worker can see it, so that outstanding never
     * reads 0 while a delivery sits in a queue. */
    atomic_fetch_add(&d->in_flight, 1);
    atomic_fetch_add(&d->outstanding, 1);
    dl->next = NULL;
    pthread_mutex_lock(&w->lock);
    int was_empty = w->q_head == NULL;
    if (w->q_tail != NULL) {
        w->q_tail->next = dl;
    } else {
        w->q_head = dl;
    }
    w->q_tail = dl;
    pthread_mutex_unlock(&w->lock);
    /* One wakeup per batch: a non-empty queue has had its wakeup already,
     * and the worker takes the whole queue at once (a write(2) per delivery
     * cost more than the transfer's own bookkeeping). */
    if (was_empty) {
        worker_wake(w);
    }
}

void deliver_stop(struct deliver *d, int64_t deadline_ms)
{
    if (d == NULL) {
        return;
    }
    stop_and_join(d, deadline_ms);
    deliver_free(d);
}

int64_t deliver_heartbeat(const struct deliver *d, int *worker)
{
    int64_t oldest = INT64_MAX;
    for (int i = 0; i < d->n_workers; i++) {
        int64_t hb = atomic_load(&((struct deliver *)d)->workers[i].heartbeat_ms);
        if (hb < oldest) {
            oldest = hb;
            *worker = i;
        }
    }
    return oldest;
}

long deliver_in_flight(const struct deliver *d)
{
    return atomic_load(&d->in_flight);
}
