/*
 * curlloop: a bare libcurl loop shaped like the bridge's delivery workers,
 * for the bench (bench/run.sh, the curlloop run; issue 10, deliverable 4).
 *
 *   curlloop [-t THREADS] [-c CONCURRENCY] [-n REQUESTS] [--perform]
 *            BODY-FILE URL
 *
 * POSTs BODY-FILE REQUESTS times (default 60000) to URL and checks every
 * answer is 2xx.  THREADS threads (default 2, the bridge's workers), each
 * with its own multi handle and CONCURRENCY transfers running at once
 * (default 32: 64 in all, the bridge's endpoint_max_in_flight), keep-alive,
 * CURLMOPT_MAXCONNECTS = CONCURRENCY.  Like bridge/deliver.c: each thread
 * drives its multi handle with curl_multi_socket_action from its own epoll
 * set; a socket it opened stays registered while idle in libcurl's
 * connection cache ("parked", EPOLLIN) and leaves the set when it closes
 * (CURLOPT_CLOSESOCKETFUNCTION) or, parked, reports an event; a finished
 * transfer's easy handle is reused for the next request with the URL, the
 * body (not copied: CURLOPT_POSTFIELDS) and the header list set again; the
 * headers are the bridge's without a signature (no secret in the bench):
 * webhook-id, webhook-timestamp, then Content-Type, User-Agent and "Expect:"
 * (static values); the same per-handle options (no signals, protocols, no
 * redirects, the default 5 s connect and 10 s timeouts, TCP keep-alive, no
 * proxy, a write callback that drops the answer's body).  No Kafka, no
 * signing, no JSON.
 *
 * --perform: the simplest multi loop instead (curl_multi_perform and
 * curl_multi_poll, libcurl watching the sockets), for comparison.
 *
 * Prints one line: "curlloop: threads T concurrency C requests N seconds S
 * requests/s R cpu_us/request U connects K" (U: this process's utime+stime,
 * getrusage, over N; K: sockets opened).  Exit codes: 0 all 2xx, 1 a
 * transfer failed or answered non-2xx (the first one is printed), 2 bad
 * usage.
 *
 * Threads: main parses, reads the body and starts the loops; each loop
 * thread touches only its own struct loop (and the atomic counters).
 */
#include <errno.h>
#include <getopt.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>

#include "util.h"

#define MAX_THREADS 64
#define MAX_CONCURRENCY 4096
#define MAX_FDS 65536
#define EPOLL_BATCH 64
#define POLL_MAX_MS 1000
#define CONNECT_TIMEOUT_MS 5000L /* the bridge's defaults (conf.c) */
#define TIMEOUT_MS 10000L

/* What the loops share, read-only once they run (but the atomics). */
struct shared {
    const char *url;
    const char *body;
    long body_len;
    struct curl_slist *tail; /* Content-Type, User-Agent, Expect: */
    int concurrency;
    bool perform;
    atomic_long connects;
    atomic_bool failed;
    pthread_mutex_t err_lock;
    char err[256];
};

struct fdslot {
    bool owned;      /* opened by open_socket */
    bool registered; /* in the epoll set */
    bool parked;     /* idle in libcurl's cache, still in the set */
    uint32_t events;
};

struct xfer {
    CURL *easy;
    struct curl_slist hdr[2]; /* webhook-id, webhook-timestamp; then tail */
    char errbuf[CURL_ERROR_SIZE];
};

/* One thread's loop. */
struct loop {
    struct shared *sh;
    pthread_t tid;
    CURLM *multi;
    int epfd;
    long long timer_ms; /* when libcurl wants CURL_SOCKET_TIMEOUT; -1 none */
    long quota;         /* requests this loop makes */
    long started;
    long done;
    struct xfer *xfers;
    struct fdslot *fds; /* by descriptor number, MAX_FDS */
    struct fdslot none; /* the slot of a descriptor beyond MAX_FDS */
};

static long long now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Keeps the first failure's message; every loop then stops.  Any thread. */
static void fail(struct shared *sh, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void fail(struct shared *sh, const char *fmt, ...)
{
    pthread_mutex_lock(&sh->err_lock);
    if (!atomic_load(&sh->failed)) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(sh->err, sizeof(sh->err), fmt, ap);
        va_end(ap);
        atomic_store(&sh->failed, true);
    }
    pthread_mutex_unlock(&sh->err_lock);
}

static struct fdslot *slot_of(struct loop *l, curl_socket_t fd)
{
    if (fd < 0 || fd >= MAX_FDS) {
        memset(&l->none, 0, sizeof(l->none));
        return &l->none;
    }
    return &l->fds[fd];
}

static size_t drop_body(char *data, size_t size, size_t nmemb, void *userp)
{
    (void)data;
    (void)userp;
    return size * nmemb;
}

static curl_socket_t open_socket(void *clientp, curlsocktype purpose, struct curl_sockaddr *a)
{
    struct loop *l = clientp;
    (void)purpose;
    curl_socket_t fd = socket(a->family, a->socktype | SOCK_CLOEXEC, a->protocol);
    if (fd == CURL_SOCKET_BAD) {
        return fd;
    }
    atomic_fetch_add(&l->sh->connects, 1);
    struct fdslot *s = slot_of(l, fd);
    memset(s, 0, sizeof(*s));
    s->owned = fd < MAX_FDS;
    return fd;
}

static int close_socket(void *clientp, curl_socket_t fd)
{
    struct loop *l = clientp;
    memset(slot_of(l, fd), 0, sizeof(struct fdslot));
    return close(fd); /* out of the epoll set too */
}

static int fd_watch(struct loop *l, curl_socket_t fd, struct fdslot *s, uint32_t events)
{
    struct epoll_event ev;
    memset(&ev, 0, sizeof(ev));
    ev.events = events;
    ev.data.fd = fd;
    int op = s->registered ? EPOLL_CTL_MOD : EPOLL_CTL_ADD;
    if (epoll_ctl(l->epfd, op, fd, &ev) != 0) {
        op = op == EPOLL_CTL_MOD ? EPOLL_CTL_ADD : EPOLL_CTL_MOD;
        if (epoll_ctl(l->epfd, op, fd, &ev) != 0) {
            fail(l->sh, "epoll_ctl: %s", strerror(errno));
            return -1;
        }
    }
    s->registered = true;
    s->events = events;
    return 0;
}

static void fd_unwatch(struct loop *l, curl_socket_t fd, struct fdslot *s)
{
    epoll_ctl(l->epfd, EPOLL_CTL_DEL, fd, NULL);
    s->registered = false;
    s->parked = false;
}

/* As deliver.c's on_socket: an idle connection socket stays in the set. */
static int on_socket(CURL *easy, curl_socket_t fd, int what, void *userp, void *socketp)
{
    (void)easy;
    (void)socketp;
    struct loop *l = userp;
    struct fdslot *s = slot_of(l, fd);
    if (what == CURL_POLL_REMOVE) {
        if (!s->owned || !s->registered) {
            fd_unwatch(l, fd, s);
            return 0;
        }
        s->parked = true;
        return s->events == EPOLLIN ? 0 : fd_watch(l, fd, s, EPOLLIN);
    }
    uint32_t events =
        ((what & CURL_POLL_IN) ? EPOLLIN : 0u) | ((what & CURL_POLL_OUT) ? EPOLLOUT : 0u);
    s->parked = false;
    if (s->registered && s->events == events) {
        return 0;
    }
    return fd_watch(l, fd, s, events);
}

static int on_timer(CURLM *multi, long timeout_ms, void *userp)
{
    (void)multi;
    struct loop *l = userp;
    l->timer_ms = timeout_ms < 0 ? -1 : now_ms() + timeout_ms;
    return 0;
}

#define SETOPT(rc, e, opt, val)                                                                    \
    do {                                                                                           \
        if ((rc) == CURLE_OK) {                                                                    \
            (rc) = curl_easy_setopt((e), (opt), (val));                                            \
        }                                                                                          \
    } while (0)

/* The options set once per handle (deliver.c's xfer_init_options). */
static CURLcode xfer_init(struct loop *l, struct xfer *x)
{
    CURL *e = x->easy;
    CURLcode rc = CURLE_OK;
    SETOPT(rc, e, CURLOPT_ERRORBUFFER, x->errbuf);
    SETOPT(rc, e, CURLOPT_PRIVATE, x);
    SETOPT(rc, e, CURLOPT_NOSIGNAL, 1L);
    SETOPT(rc, e, CURLOPT_PROTOCOLS_STR, "http,https");
    SETOPT(rc, e, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
    SETOPT(rc, e, CURLOPT_FOLLOWLOCATION, 0L);
    SETOPT(rc, e, CURLOPT_POST, 1L);
    SETOPT(rc, e, CURLOPT_CONNECTTIMEOUT_MS, CONNECT_TIMEOUT_MS);
    SETOPT(rc, e, CURLOPT_TIMEOUT_MS, TIMEOUT_MS);
    SETOPT(rc, e, CURLOPT_TCP_KEEPALIVE, 1L);
    SETOPT(rc, e, CURLOPT_WRITEFUNCTION, drop_body);
    SETOPT(rc, e, CURLOPT_OPENSOCKETFUNCTION, open_socket);
    SETOPT(rc, e, CURLOPT_OPENSOCKETDATA, l);
    SETOPT(rc, e, CURLOPT_CLOSESOCKETFUNCTION, close_socket);
    SETOPT(rc, e, CURLOPT_CLOSESOCKETDATA, l);
    SETOPT(rc, e, CURLOPT_PROXY, "");
    return rc;
}

/* The options of one request (deliver.c's xfer_setup), and its start. */
static int xfer_start(struct loop *l, struct xfer *x)
{
    const struct shared *sh = l->sh;
    CURL *e = x->easy;
    CURLcode rc = CURLE_OK;
    SETOPT(rc, e, CURLOPT_URL, sh->url);
    SETOPT(rc, e, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)sh->body_len);
    SETOPT(rc, e, CURLOPT_POSTFIELDS, sh->body);
    SETOPT(rc, e, CURLOPT_HTTPHEADER, &x->hdr[0]);
    if (rc != CURLE_OK) {
        fail(l->sh, "curl_easy_setopt: %s", curl_easy_strerror(rc));
        return -1;
    }
    CURLMcode mc = curl_multi_add_handle(l->multi, e);
    if (mc != CURLM_OK) {
        fail(l->sh, "curl_multi_add_handle: %s", curl_multi_strerror(mc));
        return -1;
    }
    l->started++;
    return 0;
}
#undef SETOPT

/* Finished transfers: checked, counted, their handles reused. */
static void collect(struct loop *l)
{
    CURLMsg *m;
    int left = 0;
    while ((m = curl_multi_info_read(l->multi, &left)) != NULL) {
        if (m->msg != CURLMSG_DONE) {
            continue;
        }
        CURL *e = m->easy_handle;
        CURLcode rc = m->data.result;
        long status = 0;
        curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &status);
        struct xfer *x = NULL;
        curl_easy_getinfo(e, CURLINFO_PRIVATE, (char **)&x);
        curl_multi_remove_handle(l->multi, e);
        l->done++;
        if (rc != CURLE_OK) {
            fail(l->sh, "a transfer failed: %s (%s)", curl_easy_strerror(rc), x->errbuf);
        } else if (status < 200 || status > 299) {
            fail(l->sh, "answer HTTP %ld: not 2xx", status);
        } else if (l->started < l->quota && !atomic_load(&l->sh->failed)) {
            xfer_start(l, x);
        }
    }
}

static void socket_action(struct loop *l, curl_socket_t fd, int flags)
{
    int still = 0;
    CURLMcode mc = curl_multi_socket_action(l->multi, fd, flags, &still);
    if (mc != CURLM_OK) {
        fail(l->sh, "curl_multi_socket_action: %s", curl_multi_strerror(mc));
    }
}

static void run_timer(struct loop *l)
{
    if (l->timer_ms >= 0 && now_ms() >= l->timer_ms) {
        l->timer_ms = -1;
        socket_action(l, CURL_SOCKET_TIMEOUT, 0);
    }
}

/* deliver.c's wait_and_dispatch, without its eventfd. */
static void wait_and_dispatch(struct loop *l)
{
    struct epoll_event evs[EPOLL_BATCH];
    long long t = POLL_MAX_MS;
    if (l->timer_ms >= 0) {
        long long left = l->timer_ms - now_ms();
        t = left < 0 ? 0 : left < t ? left : t;
    }
    int n = epoll_wait(l->epfd, evs, EPOLL_BATCH, (int)t);
    if (n < 0) {
        if (errno != EINTR) {
            fail(l->sh, "epoll_wait: %s", strerror(errno));
        }
        return;
    }
    for (int i = 0; i < n; i++) {
        int fd = evs[i].data.fd;
        if (fd < MAX_FDS && l->fds[fd].parked) {
            fd_unwatch(l, fd, &l->fds[fd]);
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
        socket_action(l, fd, flags);
    }
}

static void *loop_main(void *arg)
{
    struct loop *l = arg;
    struct shared *sh = l->sh;
    int first = sh->concurrency < l->quota ? sh->concurrency : (int)l->quota;
    for (int i = 0; i < first; i++) {
        if (xfer_start(l, &l->xfers[i]) != 0) {
            return NULL;
        }
    }
    while (l->done < l->started && !atomic_load(&sh->failed)) {
        if (sh->perform) {
            int still = 0;
            CURLMcode mc = curl_multi_perform(l->multi, &still);
            if (mc == CURLM_OK) {
                collect(l);
                if (l->done < l->started) {
                    mc = curl_multi_poll(l->multi, NULL, 0, POLL_MAX_MS, NULL);
                }
            }
            if (mc != CURLM_OK) {
                fail(sh, "curl_multi_perform/poll: %s", curl_multi_strerror(mc));
            }
            continue;
        }
        /* The bridge worker's order: timers, finished transfers, wait. */
        run_timer(l);
        collect(l);
        if (l->done < l->started) {
            wait_and_dispatch(l);
        }
    }
    return NULL;
}

/* The per-thread state, handles and their options; -1 with sh->err set. */
static int loop_init(struct loop *l, struct shared *sh, long quota)
{
    l->sh = sh;
    l->quota = quota;
    l->timer_ms = -1;
    l->epfd = epoll_create1(EPOLL_CLOEXEC);
    l->multi = curl_multi_init();
    l->fds = calloc(MAX_FDS, sizeof(*l->fds));
    l->xfers = calloc((size_t)sh->concurrency, sizeof(*l->xfers));
    if (l->epfd < 0 || l->multi == NULL || l->fds == NULL || l->xfers == NULL) {
        fail(sh, "setting up a loop failed");
        return -1;
    }
    if (!sh->perform) {
        CURLMcode mc = curl_multi_setopt(l->multi, CURLMOPT_SOCKETFUNCTION, on_socket);
        if (mc == CURLM_OK) {
            mc = curl_multi_setopt(l->multi, CURLMOPT_SOCKETDATA, l);
        }
        if (mc == CURLM_OK) {
            mc = curl_multi_setopt(l->multi, CURLMOPT_TIMERFUNCTION, on_timer);
        }
        if (mc == CURLM_OK) {
            mc = curl_multi_setopt(l->multi, CURLMOPT_TIMERDATA, l);
        }
        if (mc != CURLM_OK) {
            fail(sh, "curl_multi_setopt: %s", curl_multi_strerror(mc));
            return -1;
        }
    }
    if (curl_multi_setopt(l->multi, CURLMOPT_MAXCONNECTS, (long)sh->concurrency) != CURLM_OK) {
        fail(sh, "CURLMOPT_MAXCONNECTS failed");
        return -1;
    }
    for (int i = 0; i < sh->concurrency; i++) {
        struct xfer *x = &l->xfers[i];
        x->easy = curl_easy_init();
        if (x->easy == NULL || xfer_init(l, x) != CURLE_OK) {
            fail(sh, "curl_easy_init/setopt failed");
            return -1;
        }
        /* Static values: the bench's bridge has no secret, so no signature. */
        x->hdr[0].data = (char *)"webhook-id: 0b8c5c4e-8a4e-4f4e-9d59-5f1f4c2b7e11";
        x->hdr[0].next = &x->hdr[1];
        x->hdr[1].data = (char *)"webhook-timestamp: 1796083200";
        x->hdr[1].next = sh->tail;
    }
    return 0;
}

static void loop_free(struct loop *l)
{
    if (l->xfers != NULL) {
        for (int i = 0; i < l->sh->concurrency; i++) {
            if (l->xfers[i].easy != NULL) {
                curl_multi_remove_handle(l->multi, l->xfers[i].easy);
                curl_easy_cleanup(l->xfers[i].easy);
            }
        }
    }
    if (l->multi != NULL) {
        curl_multi_cleanup(l->multi); /* closes the cached connections */
    }
    if (l->epfd >= 0) {
        close(l->epfd);
    }
    free(l->xfers);
    free(l->fds);
}

/* The whole of path into *buf (malloc'd); its length, or -1. */
static long read_file(const char *path, char **buf)
{
    FILE *f = fopen(path, "rb");
    long len = -1;
    char *b = NULL;
    if (f == NULL || fseek(f, 0, SEEK_END) != 0 || (len = ftell(f)) < 0 ||
        fseek(f, 0, SEEK_SET) != 0 || (b = malloc((size_t)len + 1)) == NULL ||
        fread(b, 1, (size_t)len, f) != (size_t)len) {
        len = -1;
        free(b);
        b = NULL;
    }
    if (f != NULL) {
        fclose(f);
    }
    *buf = b;
    return len;
}

static double cpu_seconds(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
           (double)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
}

static void usage(FILE *fp)
{
    fprintf(fp, "usage: curlloop [-t THREADS] [-c CONCURRENCY] [-n REQUESTS] [--perform] "
                "BODY-FILE URL\n"
                "  -t THREADS      loops, each its own multi handle (default 2)\n"
                "  -c CONCURRENCY  transfers at once per loop (default 32)\n"
                "  -n REQUESTS     POSTs in all (default 60000)\n"
                "  --perform       curl_multi_perform + curl_multi_poll instead of\n"
                "                  curl_multi_socket_action + epoll\n");
}

int main(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"threads", required_argument, NULL, 't'},  {"concurrency", required_argument, NULL, 'c'},
        {"requests", required_argument, NULL, 'n'}, {"perform", no_argument, NULL, 'p'},
        {"help", no_argument, NULL, 'h'},           {NULL, 0, NULL, 0}};
    long threads = 2;
    long conc = 32;
    long n = 60000;
    bool perform = false;
    int ch;
    while ((ch = getopt_long(argc, argv, "t:c:n:h", longopts, NULL)) != -1) {
        switch (ch) {
        case 't':
            threads = util_parse_count(optarg, 1, MAX_THREADS);
            break;
        case 'c':
            conc = util_parse_count(optarg, 1, MAX_CONCURRENCY);
            break;
        case 'n':
            n = util_parse_count(optarg, 1, 1000000000L);
            break;
        case 'p':
            perform = true;
            break;
        case 'h':
            usage(stdout);
            return 0;
        default:
            usage(stderr);
            return 2;
        }
        if (threads < 0 || conc < 0 || n < 0) {
            fprintf(stderr, "curlloop: -%c %s: out of range\n", ch, optarg);
            return 2;
        }
    }
    if (argc - optind != 2) {
        usage(stderr);
        return 2;
    }

    int ret = 1;
    char *body = NULL;
    struct loop *loops = NULL;
    long n_loops = 0;
    long started = 0;
    long done = 0;
    struct shared sh;
    memset(&sh, 0, sizeof(sh));
    pthread_mutex_init(&sh.err_lock, NULL);
    atomic_init(&sh.connects, 0);
    atomic_init(&sh.failed, false);
    sh.url = argv[optind + 1];
    sh.concurrency = (int)conc;
    sh.perform = perform;

    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
        fail(&sh, "curl_global_init failed");
        goto out;
    }
    sh.body_len = read_file(argv[optind], &body);
    if (sh.body_len < 0) {
        fail(&sh, "cannot read %s", argv[optind]);
        goto out;
    }
    sh.body = body;
    /* The bridge's constant headers (deliver.c's build_const_headers). */
    static const char *const tail[] = {"Content-Type: application/json",
                                       "User-Agent: webhook-bridge/bench", "Expect:"};
    for (size_t i = 0; i < sizeof(tail) / sizeof(tail[0]); i++) {
        struct curl_slist *t = curl_slist_append(sh.tail, tail[i]);
        if (t == NULL) {
            fail(&sh, "curl_slist_append failed");
            goto out;
        }
        sh.tail = t;
    }
    loops = calloc((size_t)threads, sizeof(*loops));
    if (loops == NULL) {
        fail(&sh, "out of memory");
        goto out;
    }
    for (; n_loops < threads; n_loops++) {
        struct loop *l = &loops[n_loops];
        l->epfd = -1;
        long quota = n / threads + (n_loops < n % threads ? 1 : 0);
        if (loop_init(l, &sh, quota) != 0) {
            n_loops++; /* loop_free it */
            goto out;
        }
    }

    double c0 = cpu_seconds();
    long long t0 = now_ms();
    for (; started < n_loops; started++) {
        if (pthread_create(&loops[started].tid, NULL, loop_main, &loops[started]) != 0) {
            fail(&sh, "pthread_create failed");
            break;
        }
    }
    for (long i = 0; i < started; i++) {
        pthread_join(loops[i].tid, NULL);
        done += loops[i].done;
    }
    double secs = (double)(now_ms() - t0) / 1000.0;
    double cpu = cpu_seconds() - c0;
    if (atomic_load(&sh.failed)) {
        goto out;
    }
    if (done != n) {
        fail(&sh, "%ld requests done, not %ld", done, n);
        goto out;
    }
    printf("curlloop: threads %ld concurrency %ld requests %ld seconds %.3f requests/s %.0f "
           "cpu_us/request %.2f connects %ld mode %s\n",
           threads, conc, done, secs, secs > 0 ? (double)done / secs : 0.0,
           cpu * 1e6 / (double)done, atomic_load(&sh.connects),
           perform ? "perform" : "socket_action");
    ret = 0;
out:
    if (ret != 0) {
        fprintf(stderr, "curlloop: %s\n", sh.err);
    }
    for (long i = 0; i < n_loops; i++) {
        loop_free(&loops[i]);
    }
    free(loops);
    curl_slist_free_all(sh.tail);
    free(body);
    curl_global_cleanup();
    pthread_mutex_destroy(&sh.err_lock);
    return ret;
}
