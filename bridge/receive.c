/*
 * receive: a scripted local webhook receiver on libmicrohttpd.
 *
 * Every POST is read whole (bounded by RECEIVE_MAX_BODY), counted, printed
 * as one line on stdout (text or JSON) and answered with the status the
 * command line asks for: --fail-first N answers 503 to the first N POSTs,
 * --fail-attempts N to the first N attempts of each webhook-id,
 * then --drop closes the connection without an answer, else --status.
 * With --secret, each delivery's signature is verified first (sign.c) and
 * one that does not verify is answered 401.
 * Attempts are counted per webhook-id header, so a test can see retries.
 *
 * Hostile clients: at most --max-connections connections at a time (more
 * are accepted and closed at once, so a client sees a reset rather than a
 * hang), each closed after --idle-timeout seconds without traffic; the open
 * file limit is raised to fit them (Redis's adjustOpenFilesLimit), or the
 * connection limit lowered when it cannot be.  Webhook-ids are remembered
 * by their SHA-256 digest, at most RECEIVE_MAX_IDS of them, so the memory
 * kept per id does not depend on its length.
 *
 * Threads: MHD runs one thread per connection plus its listen thread; they
 * all call on_request()/on_completed() concurrently and share struct
 * receiver, whose fields below `lock` are protected by it.  Per-request
 * state (struct upload) belongs to the one connection thread serving it.
 * The main thread only starts the daemon, waits for SIGINT/SIGTERM with
 * sigwait (MHD threads inherit the blocked mask, so signals come to it),
 * wakes delayed answers through `wake` and stops the daemon.
 */
#include "receive.h"

#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <netdb.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <time.h>

#include <jansson.h>
#include <microhttpd.h>
#include <openssl/evp.h>

#include "sign.h"
#include "util.h"

#define RECEIVE_DEFAULT_LISTEN "127.0.0.1:9000"
#define RECEIVE_MAX_BODY (16u * 1024 * 1024)
/* Distinct webhook-ids remembered for attempt counting; beyond this, new ids
 * are reported as attempt 1 and not recorded. */
#define RECEIVE_MAX_IDS 1000000
#define RECEIVE_ID_DIGEST_LEN 32 /* SHA-256: what is kept of each webhook-id */
/* Connections at a time: well above what a bridge opens to one endpoint
 * (delivery.endpoint_max_in_flight, 64 by default, plus libcurl's idle
 * cache), within a 1024 open-file limit.  Each is a thread. */
#define RECEIVE_DEFAULT_MAX_CONN 1000
#define RECEIVE_MAX_MAX_CONN 10000
/* Open files beyond the connections: stdio, the listen socket, MHD's wakeup
 * pipe, the port file, and slack. */
#define RECEIVE_RESERVED_FDS 32
#define RECEIVE_DEFAULT_IDLE_TIMEOUT_S 5
#define RECEIVE_MAX_IDLE_TIMEOUT_S 3600
#define RECEIVE_LOCATION "/redirected"
#define RECEIVE_MAX_SECRETS 8

struct receive_opts {
    const char *listen;           /* --listen as given, for messages */
    uint16_t port;                /* its port */
    struct sockaddr_storage addr; /* the one address we bind */
    socklen_t addrlen;
    int status;                         /* answer for deliveries */
    long fail_first;                    /* first N POSTs get 503 */
    long fail_attempts;                 /* first N attempts of each webhook-id get 503 */
    const char *retry_after;            /* literal Retry-After for non-2xx, or NULL */
    const char *body;                   /* --body: the answers' body, or NULL */
    long delay_ms;                      /* wait before answering */
    int drop;                           /* close without an answer */
    int json;                           /* JSON lines instead of text */
    const char *port_file;              /* where to write the bound port, or NULL */
    char *secrets[RECEIVE_MAX_SECRETS]; /* --secret: verify signatures when any */
    size_t n_secrets;
    long max_conn;     /* --max-connections */
    long idle_timeout; /* --idle-timeout, seconds */
};

/* One remembered webhook-id (its digest) and how many times it was seen. */
struct seen {
    struct seen *next;
    unsigned long count;
    unsigned char digest[RECEIVE_ID_DIGEST_LEN];
};

struct receiver {
    const struct receive_opts *opts; /* read-only once MHD runs */

    pthread_mutex_t lock;
    pthread_cond_t wake;   /* broadcast when stopping: ends delays (CLOCK_MONOTONIC) */
    int stopping;          /* lock */
    long posts;            /* lock: POSTs counted for --fail-first */
    struct seen **buckets; /* lock: webhook-id -> count */
    size_t nbuckets;       /* lock: power of two */
    size_t nseen;          /* lock */
    int full_warned;       /* lock */
    int digest_warned;     /* lock */
};

/* Request state of one connection thread, freed by on_completed(). */
struct upload {
    char *buf;
    size_t len;
    size_t cap;
    int too_large;
};

/* What one POST gets, decided under the lock. */
struct verdict {
    int status; /* 0: drop the connection */
    unsigned long attempt;
    int signature;       /* SIG_* */
    char sig_error[256]; /* why it did not verify */
};

enum { SIG_UNCHECKED, SIG_VALID, SIG_INVALID };

static void usage(FILE *fp)
{
    fprintf(fp,
            "Usage: webhook-bridge receive [OPTION]...\n"
            "A local webhook receiver: prints one line per POST on stdout and answers\n"
            "with a scripted status.  Runs until SIGINT or SIGTERM.\n"
            "\n"
            "  --listen HOST:PORT   address to bind (default " RECEIVE_DEFAULT_LISTEN ");\n"
            "                       port 0 picks a free port; IPv6 as [ADDR]:PORT\n"
            "  --status CODE        answer for deliveries, 200..599 (default 200);\n"
            "                       3xx answers carry \"Location: " RECEIVE_LOCATION "\"\n"
            "  --fail-first N       answer 503 to the first N POSTs, then as above\n"
            "  --fail-attempts N    answer 503 to the first N attempts of each\n"
            "                       webhook-id (counted as \"attempt\" below)\n"
            "  --retry-after VALUE  add \"Retry-After: VALUE\" to every non-2xx answer\n"
            "  --body TEXT          answer with this body (default: none)\n"
            "  --delay MS           wait MS milliseconds before each answer\n"
            "  --drop               close the connection without an answer (after\n"
            "                       --fail-first, if given)\n"
            "  --json               print JSON objects instead of text lines\n"
            "  --port-file FILE     write the bound port number to FILE\n"
            "  --max-connections N  connections at a time, 1..%d (default %d); more\n"
            "                       are closed at once.  The open file limit is raised\n"
            "                       to fit them, or N lowered (with a warning) when\n"
            "                       the hard limit is too low\n"
            "  --idle-timeout SECONDS  close a connection idle this long, 1..%d\n"
            "                       (default %d); a --delay does not count as idle\n"
            "  --secret whsec_...   verify each delivery's Standard Webhooks signature\n"
            "                       and timestamp (5 minutes of tolerance) with this\n"
            "                       secret; repeat for several (rotation).  A delivery\n"
            "                       that does not verify is answered 401 and printed\n"
            "                       with the reason\n"
            "  --help               this help\n"
            "\n"
            "Text line: <webhook-id> <eventType> <accountId> attempt=<n> -> <status|drop>\n"
            "  [signature=valid | signature=INVALID (<reason>)]\n"
            "JSON line: {\"webhookId\", \"timestamp\", \"eventType\", \"accountId\", \"attempt\",\n"
            "  \"receivedMs\" (when the request was in, Unix ms),\n"
            "  \"status\" (null when dropped), \"contentType\", \"userAgent\", \"body\",\n"
            "  \"bytes\", \"signatureHeader\", \"signature\" (\"valid\", \"invalid\" or\n"
            "  \"unchecked\"), \"signatureError\"}; a body that is not UTF-8 is given as\n"
            "  \"bodyBase64\" instead.\n"
            "Bodies over 16 MiB are answered 413; other methods than POST 405.\n"
            "Attempts are counted for up to %d distinct webhook-ids, each kept as\n"
            "its SHA-256 digest whatever its length (under 80 MB when full); later\n"
            "new ids are reported as attempt 1 and not remembered.\n"
            "Exit status: 0 ok, 1 failure, 2 bad usage.\n",
            RECEIVE_MAX_MAX_CONN, RECEIVE_DEFAULT_MAX_CONN, RECEIVE_MAX_IDLE_TIMEOUT_S,
            RECEIVE_DEFAULT_IDLE_TIMEOUT_S, RECEIVE_MAX_IDS);
}

/* Parses a whole decimal number within [min, max]. */
static int parse_long(const char *s, long min, long max, long *out) WB_MUST_CHECK;
static int parse_long(const char *s, long min, long max, long *out)
{
    char *end = NULL;
    long v;

    errno = 0;
    v = strtol(s, &end, 10);
    if (errno != 0 || end == s || *end != '\0' || v < min || v > max) {
        return -1;
    }
    *out = v;
    return 0;
}

/* Resolves "HOST:PORT" or "[V6ADDR]:PORT" into opts->addr. */
static int parse_listen(const char *spec, struct receive_opts *opts, char *errstr,
                        size_t errstr_size) WB_MUST_CHECK;
static int parse_listen(const char *spec, struct receive_opts *opts, char *errstr,
                        size_t errstr_size)
{
    const char *colon = strrchr(spec, ':');
    struct addrinfo hints;
    struct addrinfo *res = NULL;
    char *host = NULL;
    long port;
    int gai;
    int rc = -1;

    if (colon == NULL || colon == spec || colon[1] == '\0') {
        util_errf(errstr, errstr_size, "--listen %s: expected HOST:PORT", spec);
        goto out;
    }
    if (spec[0] == '[') {
        if (colon[-1] != ']' || colon - spec < 3) {
            util_errf(errstr, errstr_size, "--listen %s: expected [ADDR]:PORT", spec);
            goto out;
        }
        host = xstrndup(spec + 1, (size_t)(colon - spec - 2));
    } else {
        host = xstrndup(spec, (size_t)(colon - spec));
    }
    if (parse_long(colon + 1, 0, 65535, &port) != 0) {
        util_errf(errstr, errstr_size, "--listen %s: port must be 0..65535", spec);
        goto out;
    }
    memset(&hints, 0, sizeof(hints));
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_NUMERICSERV;
    gai = getaddrinfo(host, colon + 1, &hints, &res);
    if (gai != 0) {
        util_errf(errstr, errstr_size, "--listen %s: %s", spec, gai_strerror(gai));
        goto out;
    }
    if (res->ai_addrlen > sizeof(opts->addr)) {
        util_errf(errstr, errstr_size, "--listen %s: address too long", spec);
        goto out;
    }
    memcpy(&opts->addr, res->ai_addr, res->ai_addrlen);
    opts->addrlen = res->ai_addrlen;
    opts->listen = spec;
    opts->port = (uint16_t)port;
    rc = 0;
out:
    if (res != NULL) {
        freeaddrinfo(res);
    }
    free(host);
    return rc;
}

/* Returns 0 to run, 1 when --help was printed, -1 on bad usage (reported). */
static int parse_args(int argc, char **argv, struct receive_opts *opts) WB_MUST_CHECK;
static int parse_args(int argc, char **argv, struct receive_opts *opts)
{
    enum {
        OPT_LISTEN = 256,
        OPT_STATUS,
        OPT_FAIL_FIRST,
        OPT_FAIL_ATTEMPTS,
        OPT_RETRY_AFTER,
        OPT_BODY,
        OPT_DELAY,
        OPT_DROP,
        OPT_JSON,
        OPT_PORT_FILE,
        OPT_SECRET,
        OPT_MAX_CONN,
        OPT_IDLE_TIMEOUT
    };
    static const struct option longopts[] = {
        {"listen", required_argument, NULL, OPT_LISTEN},
        {"status", required_argument, NULL, OPT_STATUS},
        {"fail-first", required_argument, NULL, OPT_FAIL_FIRST},
        {"fail-attempts", required_argument, NULL, OPT_FAIL_ATTEMPTS},
        {"retry-after", required_argument, NULL, OPT_RETRY_AFTER},
        {"body", required_argument, NULL, OPT_BODY},
        {"delay", required_argument, NULL, OPT_DELAY},
        {"drop", no_argument, NULL, OPT_DROP},
        {"json", no_argument, NULL, OPT_JSON},
        {"port-file", required_argument, NULL, OPT_PORT_FILE},
        {"secret", required_argument, NULL, OPT_SECRET},
        {"max-connections", required_argument, NULL, OPT_MAX_CONN},
        {"idle-timeout", required_argument, NULL, OPT_IDLE_TIMEOUT},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *listen = RECEIVE_DEFAULT_LISTEN;
    char errstr[256];
    long v;
    int c;

    memset(opts, 0, sizeof(*opts));
    opts->status = 200;
    opts->max_conn = RECEIVE_DEFAULT_MAX_CONN;
    opts->idle_timeout = RECEIVE_DEFAULT_IDLE_TIMEOUT_S;
    optind = 1;
    for (;;) {
        c = getopt_long(argc, argv, "h", longopts, NULL);
        if (c == -1) {
            break;
        }
        switch (c) {
        case OPT_LISTEN:
            listen = optarg;
            break;
        case OPT_STATUS:
            if (parse_long(optarg, 200, 599, &v) != 0) {
                fprintf(stderr, "receive: --status %s: must be 200..599\n", optarg);
                return -1;
            }
            opts->status = (int)v;
            break;
        case OPT_FAIL_FIRST:
            if (parse_long(optarg, 0, LONG_MAX, &opts->fail_first) != 0) {
                fprintf(stderr, "receive: --fail-first %s: must be a number >= 0\n", optarg);
                return -1;
            }
            break;
        case OPT_FAIL_ATTEMPTS:
            if (parse_long(optarg, 0, LONG_MAX, &opts->fail_attempts) != 0) {
                fprintf(stderr, "receive: --fail-attempts %s: must be a number >= 0\n", optarg);
                return -1;
            }
            break;
        case OPT_BODY:
            opts->body = optarg;
            break;
        case OPT_RETRY_AFTER:
            for (const char *p = optarg; *p != '\0'; p++) {
                if ((unsigned char)*p < 0x20 || *p == 0x7f) {
                    fprintf(stderr, "receive: --retry-after: control characters not allowed\n");
                    return -1;
                }
            }
            opts->retry_after = optarg;
            break;
        case OPT_DELAY:
            if (parse_long(optarg, 0, 3600000, &opts->delay_ms) != 0) {
                fprintf(stderr, "receive: --delay %s: must be 0..3600000 ms\n", optarg);
                return -1;
            }
            break;
        case OPT_DROP:
            opts->drop = 1;
            break;
        case OPT_JSON:
            opts->json = 1;
            break;
        case OPT_PORT_FILE:
            opts->port_file = optarg;
            break;
        case OPT_SECRET: {
            unsigned char key[SIGN_KEY_MAX];
            if (sign_key_decode(optarg, key, errstr, sizeof(errstr)) < 0) {
                fprintf(stderr, "receive: --secret: %s\n", errstr);
                return -1;
            }
            if (opts->n_secrets == RECEIVE_MAX_SECRETS) {
                fprintf(stderr, "receive: --secret: at most %d\n", RECEIVE_MAX_SECRETS);
                return -1;
            }
            opts->secrets[opts->n_secrets++] = optarg;
            break;
        }
        case OPT_MAX_CONN:
            if (parse_long(optarg, 1, RECEIVE_MAX_MAX_CONN, &opts->max_conn) != 0) {
                fprintf(stderr, "receive: --max-connections %s: must be 1..%d\n", optarg,
                        RECEIVE_MAX_MAX_CONN);
                return -1;
            }
            break;
        case OPT_IDLE_TIMEOUT:
            if (parse_long(optarg, 1, RECEIVE_MAX_IDLE_TIMEOUT_S, &opts->idle_timeout) != 0) {
                fprintf(stderr, "receive: --idle-timeout %s: must be 1..%d seconds\n", optarg,
                        RECEIVE_MAX_IDLE_TIMEOUT_S);
                return -1;
            }
            break;
        case 'h':
            usage(stdout);
            return 1;
        default:
            /* getopt_long already named the problem. */
            fprintf(stderr, "Try 'webhook-bridge receive --help'.\n");
            return -1;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "receive: unexpected argument '%s'\n", argv[optind]);
        return -1;
    }
    if (parse_listen(listen, opts, errstr, sizeof(errstr)) != 0) {
        fprintf(stderr, "receive: %s\n", errstr);
        return -1;
    }
    return 0;
}

static void receiver_init(struct receiver *rv, const struct receive_opts *opts)
{
    pthread_condattr_t attr;

    memset(rv, 0, sizeof(*rv));
    rv->opts = opts;
    pthread_mutex_init(&rv->lock, NULL);
    pthread_condattr_init(&attr);
    pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
    pthread_cond_init(&rv->wake, &attr);
    pthread_condattr_destroy(&attr);
    rv->nbuckets = 256;
    rv->buckets = xcalloc(rv->nbuckets, sizeof(*rv->buckets));
}

/* After MHD_stop_daemon: no thread uses rv any more. */
static void receiver_deinit(struct receiver *rv)
{
    for (size_t i = 0; i < rv->nbuckets; i++) {
        struct seen *s = rv->buckets[i];
        while (s != NULL) {
            struct seen *next = s->next;
            free(s);
            s = next;
        }
    }
    free(rv->buckets);
    pthread_cond_destroy(&rv->wake);
    pthread_mutex_destroy(&rv->lock);
}

/* The bucket of a digest: its first bytes are as good as any hash. */
static size_t bucket_of(const unsigned char *digest, size_t nbuckets)
{
    uint64_t h;
    memcpy(&h, digest, sizeof(h));
    return (size_t)(h & (nbuckets - 1));
}

/* Doubles the table.  Lock held. */
static void seen_grow(struct receiver *rv)
{
    size_t n = rv->nbuckets * 2;
    struct seen **b = xcalloc(n, sizeof(*b));

    for (size_t i = 0; i < rv->nbuckets; i++) {
        struct seen *s = rv->buckets[i];
        while (s != NULL) {
            struct seen *next = s->next;
            size_t j = bucket_of(s->digest, n);
            s->next = b[j];
            b[j] = s;
            s = next;
        }
    }
    free(rv->buckets);
    rv->buckets = b;
    rv->nbuckets = n;
}

/* Counts one more sighting of id and returns the new count.  Lock held. */
static unsigned long seen_bump(struct receiver *rv, const char *id)
{
    unsigned char digest[EVP_MAX_MD_SIZE];
    unsigned int dlen = 0;
    struct seen *s;

    if (EVP_Digest(id, strlen(id), digest, &dlen, EVP_sha256(), NULL) != 1 ||
        dlen != RECEIVE_ID_DIGEST_LEN) {
        if (!rv->digest_warned) {
            fprintf(stderr, "receive: SHA-256 failed in OpenSSL, webhook-ids not counted\n");
            rv->digest_warned = 1;
        }
        return 1;
    }
    size_t i = bucket_of(digest, rv->nbuckets);
    for (s = rv->buckets[i]; s != NULL; s = s->next) {
        if (memcmp(s->digest, digest, RECEIVE_ID_DIGEST_LEN) == 0) {
            s->count++;
            return s->count;
        }
    }
    if (rv->nseen >= RECEIVE_MAX_IDS) {
        if (!rv->full_warned) {
            fprintf(stderr, "receive: %d distinct webhook-ids seen, no longer counting new ones\n",
                    RECEIVE_MAX_IDS);
            rv->full_warned = 1;
        }
        return 1;
    }
    s = xmalloc(sizeof(*s));
    memcpy(s->digest, digest, RECEIVE_ID_DIGEST_LEN);
    s->count = 1;
    s->next = rv->buckets[i];
    rv->buckets[i] = s;
    rv->nseen++;
    if (rv->nseen > rv->nbuckets) {
        seen_grow(rv);
    }
    return 1;
}

/* Copies s into buf for a space-separated text line: "-" when absent or
 * empty, blanks and control characters as '_', cut at size - 1 bytes. */
static void text_field(const char *s, char *buf, size_t size)
{
    size_t n = 0;

    if (s == NULL || *s == '\0') {
        s = "-";
    }
    for (; *s != '\0' && n + 1 < size; s++) {
        unsigned char c = (unsigned char)*s;
        buf[n++] = (c <= 0x20 || c == 0x7f) ? '_' : (char)c;
    }
    buf[n] = '\0';
}

/* A JSON string, or null when s is NULL or not UTF-8. */
static json_t *json_str_or_null(const char *s)
{
    json_t *v = NULL;

    if (s != NULL) {
        v = json_string(s);
    }
    return v != NULL ? v : json_null();
}

static const char *header(struct MHD_Connection *conn, const char *name)
{
    return MHD_lookup_connection_value(conn, MHD_HEADER_KIND, name);
}

/* Prints the line for one POST.  Lock held, so lines and attempt numbers
 * come out in the same order. */
static void print_request(const struct receiver *rv, struct MHD_Connection *conn,
                          const struct upload *up, const struct verdict *vd)
{
    const char *id = header(conn, "webhook-id");
    const char *event_type = NULL;
    const char *account_id = NULL;
    json_t *event = NULL;
    json_t *line = NULL;
    json_t *body = NULL;
    char *text = NULL;

    if (up->buf != NULL) {
        event = json_loadb(up->buf, up->len, 0, NULL);
    }
    if (json_is_object(event)) {
        json_t *details = json_object_get(event, "eventDetails");
        event_type = json_string_value(json_object_get(event, "eventType"));
        account_id = json_string_value(json_object_get(details, "accountId"));
    }

    if (!rv->opts->json) {
        char f_id[256], f_type[128], f_account[128], f_status[16];
        text_field(id, f_id, sizeof(f_id));
        text_field(event_type, f_type, sizeof(f_type));
        text_field(account_id, f_account, sizeof(f_account));
        if (vd->status == 0) {
            snprintf(f_status, sizeof(f_status), "drop");
        } else {
            snprintf(f_status, sizeof(f_status), "%d", vd->status);
        }
        if (vd->signature == SIG_VALID) {
            printf("%s %s %s attempt=%lu -> %s signature=valid\n", f_id, f_type, f_account,
                   vd->attempt, f_status);
        } else if (vd->signature == SIG_INVALID) {
            printf("%s %s %s attempt=%lu -> %s signature=INVALID (%s)\n", f_id, f_type, f_account,
                   vd->attempt, f_status, vd->sig_error);
        } else {
            printf("%s %s %s attempt=%lu -> %s\n", f_id, f_type, f_account, vd->attempt, f_status);
        }
        fflush(stdout);
        goto out;
    }

    line = json_object();
    json_object_set_new(line, "webhookId", json_str_or_null(id));
    json_object_set_new(line, "timestamp", json_str_or_null(header(conn, "webhook-timestamp")));
    json_object_set_new(line, "eventType", json_str_or_null(event_type));
    json_object_set_new(line, "accountId", json_str_or_null(account_id));
    json_object_set_new(line, "attempt", json_integer((json_int_t)vd->attempt));
    json_object_set_new(line, "receivedMs", json_integer((json_int_t)util_now_ms()));
    json_object_set_new(line, "status", vd->status == 0 ? json_null() : json_integer(vd->status));
    json_object_set_new(line, "contentType", json_str_or_null(header(conn, "Content-Type")));
    json_object_set_new(line, "userAgent", json_str_or_null(header(conn, "User-Agent")));
    body = json_stringn(up->buf != NULL ? up->buf : "", up->len);
    if (body != NULL) {
        json_object_set_new(line, "body", body);
    } else {
        char *b64 = util_base64(up->buf, up->len);
        json_object_set_new(line, "body", json_null());
        json_object_set_new(line, "bodyBase64", json_string(b64));
        free(b64);
    }
    json_object_set_new(line, "bytes", json_integer((json_int_t)up->len));
    /* The client's port: POSTs on one connection share it, so a test can
     * count the connections a client opened. */
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
    int peer_port = -1;
    if (ci != NULL && ci->client_addr != NULL) {
        const struct sockaddr *sa = ci->client_addr;
        if (sa->sa_family == AF_INET) {
            peer_port = ntohs(((const struct sockaddr_in *)(const void *)sa)->sin_port);
        } else if (sa->sa_family == AF_INET6) {
            peer_port = ntohs(((const struct sockaddr_in6 *)(const void *)sa)->sin6_port);
        }
    }
    json_object_set_new(line, "peerPort", peer_port < 0 ? json_null() : json_integer(peer_port));
    json_object_set_new(line, "signatureHeader",
                        json_str_or_null(header(conn, "webhook-signature")));
    static const char *const sig_names[] = {"unchecked", "valid", "invalid"};
    json_object_set_new(line, "signature", json_string(sig_names[vd->signature]));
    if (vd->signature == SIG_INVALID) {
        json_object_set_new(line, "signatureError", json_string(vd->sig_error));
    }
    text = json_dumps(line, JSON_COMPACT);
    if (text != NULL) {
        fputs(text, stdout);
        fputc('\n', stdout);
        fflush(stdout);
    }
out:
    free(text);
    json_decref(line);
    json_decref(event);
}

/* Sleeps delay_ms unless the receiver stops first.  Returns 0 when the
 * delay ran out, -1 when stopping. */
static int wait_delay(struct receiver *rv)
{
    struct timespec deadline;
    long ms = rv->opts->delay_ms;
    int stopping;

    clock_gettime(CLOCK_MONOTONIC, &deadline);
    deadline.tv_sec += ms / 1000;
    deadline.tv_nsec += (ms % 1000) * 1000000L;
    if (deadline.tv_nsec >= 1000000000L) {
        deadline.tv_sec++;
        deadline.tv_nsec -= 1000000000L;
    }
    pthread_mutex_lock(&rv->lock);
    while (!rv->stopping) {
        if (pthread_cond_timedwait(&rv->wake, &rv->lock, &deadline) == ETIMEDOUT) {
            break;
        }
    }
    stopping = rv->stopping;
    pthread_mutex_unlock(&rv->lock);
    return stopping ? -1 : 0;
}

/* Queues an empty answer with the headers the options ask for. */
static enum MHD_Result respond(const struct receiver *rv, struct MHD_Connection *conn, int status)
{
    struct MHD_Response *resp;
    enum MHD_Result ret;

    const char *body = rv->opts->body;
    resp = MHD_create_response_from_buffer(body != NULL ? strlen(body) : 0, (void *)body,
                                           MHD_RESPMEM_PERSISTENT);
    if (resp == NULL) {
        return MHD_NO;
    }
    if (status >= 300 && status < 400) {
        MHD_add_response_header(resp, "Location", RECEIVE_LOCATION);
    }
    if (status == MHD_HTTP_METHOD_NOT_ALLOWED) {
        MHD_add_response_header(resp, "Allow", "POST");
    }
    if ((status < 200 || status > 299) && rv->opts->retry_after != NULL) {
        MHD_add_response_header(resp, "Retry-After", rv->opts->retry_after);
    }
    ret = MHD_queue_response(conn, (unsigned int)status, resp);
    MHD_destroy_response(resp);
    return ret;
}

/* The whole request is in: decide, print, wait, answer. */
static enum MHD_Result finish_post(struct receiver *rv, struct MHD_Connection *conn,
                                   const struct upload *up)
{
    const struct receive_opts *opts = rv->opts;
    const char *id = header(conn, "webhook-id");
    struct verdict vd;

    memset(&vd, 0, sizeof(vd));
    if (opts->n_secrets > 0 && !up->too_large) {
        int ok = sign_verify(opts->secrets, opts->n_secrets, id, header(conn, "webhook-timestamp"),
                             header(conn, "webhook-signature"), up->buf != NULL ? up->buf : "",
                             up->len, util_now_ms() / 1000, vd.sig_error, sizeof(vd.sig_error));
        vd.signature = ok == 0 ? SIG_VALID : SIG_INVALID;
    }
    pthread_mutex_lock(&rv->lock);
    vd.attempt = (id != NULL && *id != '\0') ? seen_bump(rv, id) : 1;
    if (up->too_large) {
        vd.status = MHD_HTTP_CONTENT_TOO_LARGE;
    } else if (vd.signature == SIG_INVALID) {
        vd.status = MHD_HTTP_UNAUTHORIZED;
    } else {
        rv->posts++;
        if (rv->posts <= opts->fail_first || (long)vd.attempt <= opts->fail_attempts) {
            vd.status = MHD_HTTP_SERVICE_UNAVAILABLE;
        } else if (opts->drop) {
            vd.status = 0;
        } else {
            vd.status = opts->status;
        }
    }
    print_request(rv, conn, up, &vd);
    pthread_mutex_unlock(&rv->lock);

    if (opts->delay_ms > 0 && wait_delay(rv) != 0) {
        return MHD_NO;
    }
    if (vd.status == 0) {
        return MHD_NO;
    }
    return respond(rv, conn, vd.status);
}

/* Appends upload data, or marks the request too large and forgets the body
 * once it would pass RECEIVE_MAX_BODY. */
static void upload_append(struct upload *up, const char *data, size_t n)
{
    if (up->too_large) {
        return;
    }
    if (n > RECEIVE_MAX_BODY - up->len) {
        up->too_large = 1;
        free(up->buf);
        up->buf = NULL;
        up->len = 0;
        up->cap = 0;
        return;
    }
    if (up->len + n > up->cap) {
        size_t cap = up->cap != 0 ? up->cap : 4096;
        while (cap < up->len + n) {
            cap *= 2;
        }
        if (cap > RECEIVE_MAX_BODY) {
            cap = RECEIVE_MAX_BODY;
        }
        up->buf = xrealloc(up->buf, cap);
        up->cap = cap;
    }
    memcpy(up->buf + up->len, data, n);
    up->len += n;
}

/* MHD access handler: called once when the headers are in, once per chunk
 * of body, and once more when the request is complete. */
static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
                                  const char *method, const char *version, const char *upload_data,
                                  size_t *upload_data_size, void **req_cls)
{
    struct receiver *rv = cls;
    struct upload *up = *req_cls;
    int is_post = strcmp(method, MHD_HTTP_METHOD_POST) == 0;

    (void)url;
    (void)version;
    if (up == NULL) {
        const char *clen = header(conn, MHD_HTTP_HEADER_CONTENT_LENGTH);
        up = xcalloc(1, sizeof(*up));
        *req_cls = up;
        if (is_post && clen != NULL) {
            char *end = NULL;
            unsigned long long n;
            errno = 0;
            n = strtoull(clen, &end, 10);
            if (errno == 0 && end != clen && n > RECEIVE_MAX_BODY) {
                /* Answer now: MHD skips the body and closes afterwards. */
                up->too_large = 1;
                return finish_post(rv, conn, up);
            }
        }
        return MHD_YES;
    }
    if (*upload_data_size > 0) {
        if (is_post) {
            upload_append(up, upload_data, *upload_data_size);
        }
        *upload_data_size = 0;
        return MHD_YES;
    }
    if (!is_post) {
        return respond(rv, conn, MHD_HTTP_METHOD_NOT_ALLOWED);
    }
    return finish_post(rv, conn, up);
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **req_cls,
                         enum MHD_RequestTerminationCode toe)
{
    struct upload *up = *req_cls;

    (void)cls;
    (void)conn;
    (void)toe;
    if (up != NULL) {
        free(up->buf);
        free(up);
        *req_cls = NULL;
    }
}

/* MHD's error log; one fputs per message, so threads do not interleave. */
static void on_mhd_log(void *cls, const char *fmt, va_list ap)
{
    char msg[512];
    size_t n;

    (void)cls;
    memcpy(msg, "receive: ", 9);
    vsnprintf(msg + 9, sizeof(msg) - 9, fmt, ap);
    n = strlen(msg);
    if (n > 0 && msg[n - 1] != '\n' && n + 1 < sizeof(msg)) {
        msg[n] = '\n';
        msg[n + 1] = '\0';
    }
    fputs(msg, stderr);
}

/* Makes room in the open file limit for opts->max_conn connections: raises
 * the soft limit, up to the hard one, when it is too low; when even the
 * hard one is, lowers opts->max_conn and says so on stderr.  Returns 0, or
 * -1 when not even one connection fits (reported in errstr). */
static int fit_open_files(struct receive_opts *opts, char *errstr,
                          size_t errstr_size) WB_MUST_CHECK;
static int fit_open_files(struct receive_opts *opts, char *errstr, size_t errstr_size)
{
    struct rlimit rl;
    rlim_t want = (rlim_t)opts->max_conn + RECEIVE_RESERVED_FDS;

    if (getrlimit(RLIMIT_NOFILE, &rl) != 0) {
        util_errf(errstr, errstr_size, "getrlimit(RLIMIT_NOFILE): %s", strerror(errno));
        return -1;
    }
    if (rl.rlim_cur != RLIM_INFINITY && rl.rlim_cur < want) {
        struct rlimit raised = rl;
        raised.rlim_cur =
            (rl.rlim_max == RLIM_INFINITY || rl.rlim_max >= want) ? want : rl.rlim_max;
        if (setrlimit(RLIMIT_NOFILE, &raised) == 0) {
            rl = raised;
        }
    }
    if (rl.rlim_cur != RLIM_INFINITY && rl.rlim_cur < want) {
        if (rl.rlim_cur <= RECEIVE_RESERVED_FDS) {
            util_errf(errstr, errstr_size,
                      "the open file limit is %llu, too low for any connection (expected at "
                      "least %d)",
                      (unsigned long long)rl.rlim_cur, RECEIVE_RESERVED_FDS + 1);
            return -1;
        }
        long fit = (long)(rl.rlim_cur - RECEIVE_RESERVED_FDS);
        fprintf(stderr,
                "receive: the open file limit is %llu, so at most %ld connections "
                "(--max-connections %ld asked; raise ulimit -n)\n",
                (unsigned long long)rl.rlim_cur, fit, opts->max_conn);
        opts->max_conn = fit;
    }
    return 0;
}

/* Writes "<port>\n" to path through a temporary file and rename, so a
 * reader polling for the file never sees it half written. */
static int write_port_file(const char *path, unsigned port, char *errstr,
                           size_t errstr_size) WB_MUST_CHECK;
static int write_port_file(const char *path, unsigned port, char *errstr, size_t errstr_size)
{
    size_t tmp_size = strlen(path) + 5;
    char *tmp = xmalloc(tmp_size);
    FILE *fp = NULL;
    int rc = -1;

    snprintf(tmp, tmp_size, "%s.tmp", path);
    fp = fopen(tmp, "w");
    if (fp == NULL) {
        util_errf(errstr, errstr_size, "%s: %s", tmp, strerror(errno));
        goto out;
    }
    fprintf(fp, "%u\n", port);
    if (fclose(fp) != 0) {
        fp = NULL;
        util_errf(errstr, errstr_size, "%s: %s", tmp, strerror(errno));
        goto out;
    }
    fp = NULL;
    if (rename(tmp, path) != 0) {
        util_errf(errstr, errstr_size, "%s: %s", path, strerror(errno));
        goto out;
    }
    rc = 0;
out:
    if (fp != NULL) {
        fclose(fp);
    }
    if (rc != 0) {
        remove(tmp);
    }
    free(tmp);
    return rc;
}

int receive_main(int argc, char **argv)
{
    struct receive_opts opts;
    struct receiver rv;
    struct MHD_Daemon *mhd = NULL;
    const union MHD_DaemonInfo *info;
    sigset_t sigs, oldmask;
    struct timespec zero = {0, 0};
    char host[NI_MAXHOST];
    char errstr[256];
    unsigned int flags;
    int sig = 0;
    int rc;

    rc = parse_args(argc, argv, &opts);
    if (rc != 0) {
        return rc > 0 ? 0 : 2;
    }
    rc = 1;

    /* Block before MHD starts its threads so they inherit the mask and the
     * signals can only be taken by sigwait below. */
    sigemptyset(&sigs);
    sigaddset(&sigs, SIGINT);
    sigaddset(&sigs, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &sigs, &oldmask);

    receiver_init(&rv, &opts);
    if (fit_open_files(&opts, errstr, sizeof(errstr)) != 0) {
        fprintf(stderr, "receive: %s\n", errstr);
        goto out;
    }

    /* A thread per connection, so a --delay never holds up other clients. */
    flags = MHD_USE_THREAD_PER_CONNECTION | MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_AUTO |
            MHD_USE_ERROR_LOG;
    if (opts.addr.ss_family == AF_INET6) {
        flags |= MHD_USE_IPv6;
    }
    /* The logger goes first, so that MHD uses it for every later option. */
    mhd = MHD_start_daemon(
        flags, opts.port, NULL, NULL, on_request, &rv, MHD_OPTION_EXTERNAL_LOGGER, on_mhd_log, &rv,
        MHD_OPTION_SOCK_ADDR, (const struct sockaddr *)&opts.addr, MHD_OPTION_NOTIFY_COMPLETED,
        on_completed, &rv, MHD_OPTION_CONNECTION_LIMIT, (unsigned int)opts.max_conn,
        MHD_OPTION_CONNECTION_TIMEOUT, (unsigned int)opts.idle_timeout, MHD_OPTION_END);
    if (mhd == NULL) {
        fprintf(stderr, "receive: cannot listen on %s\n", opts.listen);
        goto out;
    }
    info = MHD_get_daemon_info(mhd, MHD_DAEMON_INFO_BIND_PORT);
    if (info == NULL || info->port == 0) {
        fprintf(stderr, "receive: cannot find the bound port\n");
        goto out;
    }
    if (getnameinfo((const struct sockaddr *)&opts.addr, opts.addrlen, host, sizeof(host), NULL, 0,
                    NI_NUMERICHOST) != 0) {
        snprintf(host, sizeof(host), "?");
    }
    if (opts.addr.ss_family == AF_INET6) {
        fprintf(stderr, "receive: listening on [%s]:%u\n", host, (unsigned)info->port);
    } else {
        fprintf(stderr, "receive: listening on %s:%u\n", host, (unsigned)info->port);
    }
    if (opts.port_file != NULL &&
        write_port_file(opts.port_file, info->port, errstr, sizeof(errstr)) != 0) {
        fprintf(stderr, "receive: --port-file: %s\n", errstr);
        goto out;
    }

    for (;;) {
        if (sigwait(&sigs, &sig) == 0) {
            break;
        }
    }
    fprintf(stderr, "receive: %s, stopping\n", sig == SIGINT ? "SIGINT" : "SIGTERM");
    rc = 0;
out:
    /* Wake delayed answers first: MHD_stop_daemon joins their threads. */
    pthread_mutex_lock(&rv.lock);
    rv.stopping = 1;
    pthread_cond_broadcast(&rv.wake);
    pthread_mutex_unlock(&rv.lock);
    if (mhd != NULL) {
        MHD_stop_daemon(mhd);
    }
    receiver_deinit(&rv);
    /* Take a second signal that came in meanwhile, so restoring the mask
     * does not kill us on the way out. */
    while (sigtimedwait(&sigs, NULL, &zero) > 0) {
    }
    pthread_sigmask(SIG_SETMASK, &oldmask, NULL);
    return rc;
}
