/*
 * cmd_sendtest: `webhook-bridge send-test`, a dummy event to one endpoint
 * (from the config file or the endpoints topic) or to a URL, sent through
 * the daemon's own delivery code: the same headers and signature, the same
 * SSRF guard and timeouts, one attempt.  Prints the status, the time taken
 * and the first bytes of the answer; exit 0 only on 2xx.
 *
 * The dummy event has the shape of a real one (seed 002) with fresh UUIDs
 * and clearly fake data (example.com, a TEST-NET address, "testEvent":
 * true), so it maps to no real subscription.
 *
 * Threads: main, and one delivery worker that hands the attempt back
 * through a mutex and condition variable.
 */
#include "cmd_sendtest.h"

#include <ctype.h>
#include <getopt.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#include "cli.h"
#include "conf.h"
#include "deliver.h"
#include "delivery.h"
#include "duration.h"
#include "endpoint.h"
#include "netguard.h"
#include "redact.h"
#include "registry.h"
#include "regsync.h"

#define SHOW_BYTES 200 /* of the answer */

static void usage(FILE *fp)
{
    fprintf(fp, "usage: webhook-bridge send-test [-c FILE] --endpoint ID [--type TYPE]\n"
                "       webhook-bridge send-test [-c FILE] --url URL [--secret whsec_...]...\n"
                "              [--account UUID] [--type TYPE]\n"
                "\n"
                "Sends one dummy event (a Subscribe, or --type Unsubscribe) to an endpoint,\n"
                "as the bridge would: same headers and signature, same SSRF guard\n"
                "(delivery.allow_private_networks, delivery.allow_networks) and timeouts\n"
                "(delivery.connect_timeout, delivery.timeout), one attempt, no retry.  The\n"
                "event has fresh UUIDs and clearly fake data (\"testEvent\": true) and maps to\n"
                "no real subscription.  Prints the HTTP status, the time taken and the first\n"
                "bytes of the answer.\n"
                "\n"
                "  --endpoint ID   an endpoint of the config file, else of the endpoints topic\n"
                "                  (read from kafka.brokers or WEBHOOK_BRIDGE_BROKERS)\n"
                "  --url URL       any http(s) URL instead, signed with each --secret\n"
                "  --account UUID  the event's accountId with --url (default: a fresh UUID)\n"
                "  --type TYPE     the event type: Subscribe (default) or Unsubscribe\n"
                "\n"
                "Exit codes: 0 the endpoint answered 2xx, 1 it did not (or it could not be\n"
                "reached), 2 bad usage or config.\n");
}

/* The dummy Event object for type and account, as compact JSON. */
static char *dummy_event(const char *type, const char *account)
{
    char event_id[UTIL_UUID_LEN], sub_id[UTIL_UUID_LEN], cal_id[UTIL_UUID_LEN];
    char now[UTIL_TIME_LEN];
    util_uuid4(event_id);
    util_uuid4(sub_id);
    util_uuid4(cal_id);
    util_format_time(util_now_ms(), now, sizeof(now));
    int subscribe = strcmp(type, "Unsubscribe") != 0;
    json_t *subscription =
        json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s}", "calendarSubscriptionId", sub_id,
                  "calendarId", cal_id, "calendarTitle", "Test Calendar (webhook-bridge send-test)",
                  "calendarCode", "webhook-bridge-test", "subscriptionMethod", "Google",
                  "createdDateTimeUtc", now, "emailAddress", "test.subscriber@example.com",
                  "remoteIpAddress", "192.0.2.1", "countryCode", "US");
    json_t *details =
        json_pack("{s:s, s:s, s:s, s:s, s:b, s:s, s:o}", "actionType",
                  subscribe ? "SubscriptionViaWebApi" : "UnsubscriptionViaWebApi", "accountId",
                  account, "accountName", "Test Account (webhook-bridge send-test)", "accountCode",
                  "webhook-bridge-test", "testEvent", 1, "note",
                  "A test event sent by webhook-bridge send-test: it maps to no real subscription.",
                  "subscription", subscription);
    json_t *event = json_pack("{s:s, s:s, s:o}", "eventId", event_id, "eventType", type,
                              "eventDetails", details);
    char *text = json_dumps(event, JSON_COMPACT | JSON_PRESERVE_ORDER);
    json_decref(event);
    return text;
}

/* The endpoint with this id: the config file's, else the topic's. */
static struct endpoint *find_endpoint(const struct conf *conf, const char *id)
{
    char bootstrap[1024], errstr[512];
    for (size_t i = 0; i < conf->n_endpoints; i++) {
        if (strcmp(conf->endpoints[i]->id, id) == 0) {
            return endpoint_ref(conf->endpoints[i]);
        }
    }
    if (cli_bootstrap(conf, bootstrap, sizeof(bootstrap), errstr, sizeof(errstr)) != 0) {
        fprintf(stderr,
                "send-test: no endpoint \"%s\" in %s, and the endpoints topic cannot be "
                "read: %s\n",
                id, conf->path, errstr);
        return NULL;
    }
    struct registry *r = registry_new();
    struct regsync *rs = NULL;
    struct endpoint *ep = NULL;
    if (regsync_start(&rs, conf, bootstrap, r, errstr, sizeof(errstr)) != 0) {
        fprintf(stderr, "send-test: %s\n", errstr);
        goto out;
    }
    int64_t deadline = util_mono_ms() + 30000;
    while (!regsync_caught_up(rs) && util_mono_ms() < deadline) {
        usleep(20 * 1000);
    }
    if (!regsync_caught_up(rs)) {
        fprintf(stderr, "send-test: could not read %s from %s within 30 s\n",
                conf->kafka.endpoints_topic, bootstrap);
        goto out;
    }
    ep = registry_get(r, id);
    if (ep == NULL) {
        fprintf(stderr, "send-test: no endpoint \"%s\" in %s nor on %s\n", id, conf->path,
                conf->kafka.endpoints_topic);
    }
out:
    regsync_stop(rs);
    registry_destroy(r);
    return ep;
}

struct waiter {
    pthread_mutex_t lock;
    pthread_cond_t cond;
    struct delivery *dl; /* handed back by the worker */
};

static void on_done(struct delivery *dl, void *opaque)
{
    struct waiter *w = opaque;
    pthread_mutex_lock(&w->lock);
    w->dl = dl;
    pthread_cond_signal(&w->cond);
    pthread_mutex_unlock(&w->lock);
}

/* The answer's first bytes, printable: other bytes as \xNN. */
static void print_response(const struct attempt *a)
{
    if (a->response == NULL || a->response_len == 0) {
        printf("response: (no body)\n");
        return;
    }
    size_t n = a->response_len < SHOW_BYTES ? a->response_len : SHOW_BYTES;
    if (a->response_len > n) {
        printf("response (first %zu bytes): ", n);
    } else {
        printf("response (%zu bytes): ", n);
    }
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)a->response[i];
        if (c >= 0x20 && c < 0x7f) {
            putchar(c);
        } else if (c == '\n' || c == '\t') {
            putchar(' ');
        } else {
            printf("\\x%02x", c);
        }
    }
    printf("%s\n", a->response_len > n ? "..." : "");
}

static int send_one(const struct conf *conf, struct endpoint *ep, const char *type,
                    const char *account)
{
    char errstr[512];
    struct netguard *guard = NULL;
    struct deliver *d = NULL;
    struct waiter w;
    int rc = 1;

    pthread_mutex_init(&w.lock, NULL);
    pthread_cond_init(&w.cond, NULL);
    w.dl = NULL;
    guard = netguard_new(conf->delivery.allow_private_networks, conf->delivery.allow_networks,
                         conf->delivery.n_allow_networks, errstr, sizeof(errstr));
    if (guard == NULL) {
        fprintf(stderr, "send-test: delivery.allow_networks: %s\n", errstr);
        rc = 2;
        goto out;
    }
    struct deliver_opts opts = {
        .workers = 1,
        .endpoint_max_in_flight = 1,
        .connect_timeout_ms = conf->delivery.connect_timeout_ms,
        .timeout_ms = conf->delivery.timeout_ms,
        .user_agent = "webhook-bridge/" WB_VERSION,
        .ca_file = conf->delivery.ca_file,
        .guard = guard,
    };
    if (deliver_start(&d, &opts, on_done, &w, errstr, sizeof(errstr)) != 0) {
        fprintf(stderr, "send-test: %s\n", errstr);
        goto out;
    }
    char *event = dummy_event(type, account);
    struct payload *body = payload_new(event, strlen(event));
    json_t *parsed = json_loads(event, 0, NULL);
    const char *event_id = json_string_value(json_object_get(parsed, "eventId"));
    struct delivery *dl = delivery_new(event_id, type, account, ep->id, ep->url, body);
    dl->ep = endpoint_ref(ep);
    payload_unref(body);
    char shown[REDACT_URL_LEN]; /* as logs show it: this output is pasted into tickets */
    redact_url(ep->url, shown, sizeof(shown));
    printf("POST %s\n", shown);
    printf("endpoint %s, %s test event %s (account %s), %zu signature(s)\n", ep->id, type, event_id,
           account, ep->n_secrets);
    json_decref(parsed);
    free(event);
    fflush(stdout);

    deliver_submit(d, dl);
    pthread_mutex_lock(&w.lock);
    while (w.dl == NULL) {
        pthread_cond_wait(&w.cond, &w.lock);
    }
    dl = w.dl;
    pthread_mutex_unlock(&w.lock);

    const struct attempt *a = delivery_last_attempt(dl);
    if (a == NULL) {
        printf("-> not attempted\n");
    } else if (a->error != NULL) {
        printf("-> failed after %lld ms: %s%s\n", (long long)a->duration_ms, a->error,
               a->status > 0 ? "" : " (no HTTP answer)");
    } else {
        printf("-> %d in %lld ms%s\n", a->status, (long long)a->duration_ms,
               dl->outcome == OUTCOME_SUCCESS ? ""
               : dl->outcome == OUTCOME_GONE  ? " (410 Gone: the bridge would stop retrying)"
                                              : " (not 2xx: the bridge would retry)");
        print_response(a);
        if (dl->outcome == OUTCOME_SUCCESS) {
            rc = 0;
        }
    }
    delivery_destroy(dl);
out:
    deliver_stop(d, util_mono_ms() + 1000);
    netguard_destroy(guard);
    pthread_cond_destroy(&w.cond);
    pthread_mutex_destroy(&w.lock);
    return rc;
}

int cmd_sendtest_main(int argc, char **argv)
{
    enum { OPT_ENDPOINT = 256, OPT_URL, OPT_SECRET, OPT_ACCOUNT, OPT_TYPE };
    static const struct option longopts[] = {
        {"config", required_argument, NULL, 'c'},
        {"endpoint", required_argument, NULL, OPT_ENDPOINT},
        {"url", required_argument, NULL, OPT_URL},
        {"secret", required_argument, NULL, OPT_SECRET},
        {"account", required_argument, NULL, OPT_ACCOUNT},
        {"type", required_argument, NULL, OPT_TYPE},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *path = cli_default_config();
    const char *endpoint_id = NULL, *url = NULL, *account = NULL, *type = "Subscribe";
    const char *secrets[16];
    size_t n_secrets = 0;
    char errstr[512];
    int ch;

    optind = 1;
    while ((ch = getopt_long(argc, argv, "c:h", longopts, NULL)) != -1) {
        switch (ch) {
        case 'c':
            path = optarg;
            break;
        case OPT_ENDPOINT:
            endpoint_id = optarg;
            break;
        case OPT_URL:
            url = optarg;
            break;
        case OPT_SECRET:
            if (n_secrets == WB_ARRAY_LEN(secrets)) {
                fprintf(stderr, "send-test: too many --secret\n");
                return 2;
            }
            secrets[n_secrets++] = optarg;
            break;
        case OPT_ACCOUNT:
            account = optarg;
            break;
        case OPT_TYPE:
            type = optarg;
            break;
        case 'h':
            usage(stdout);
            return 0;
        default:
            fprintf(stderr, "Try 'webhook-bridge send-test --help'.\n");
            return 2;
        }
    }
    if (optind < argc || (endpoint_id == NULL) == (url == NULL)) {
        fprintf(stderr, "send-test: give --endpoint ID or --url URL (one of them)\n");
        return 2;
    }
    if (strcmp(type, "Subscribe") != 0 && strcmp(type, "Unsubscribe") != 0) {
        fprintf(stderr, "send-test: --type %s: expected Subscribe or Unsubscribe\n", type);
        return 2;
    }
    if (endpoint_id != NULL && (n_secrets > 0 || account != NULL)) {
        fprintf(stderr, "send-test: --secret and --account go with --url (an endpoint has its "
                        "own)\n");
        return 2;
    }
    if (account != NULL && !util_is_uuid(account)) {
        fprintf(stderr, "send-test: --account %s: expected a UUID\n", account);
        return 2;
    }
    struct conf *conf = NULL;
    int rc = cli_load_conf(path, &conf);
    if (rc != 0) {
        return rc;
    }
    struct endpoint *ep = NULL;
    char fresh[UTIL_UUID_LEN];
    util_uuid4(fresh);
    if (url != NULL) {
        if (endpoint_check_url(url, errstr, sizeof(errstr)) != 0) {
            fprintf(stderr, "send-test: --url: %s\n", errstr);
            rc = 2;
            goto out;
        }
        ep = endpoint_new();
        ep->id = xstrdup("send-test");
        ep->account_id = xstrdup(account != NULL ? account : fresh);
        ep->url = xstrdup(url);
        endpoint_add_event_type(ep, "*");
        for (size_t i = 0; i < n_secrets; i++) {
            if (endpoint_check_secret(secrets[i], errstr, sizeof(errstr)) != 0) {
                fprintf(stderr, "send-test: --secret: %s\n", errstr);
                rc = 2;
                goto out;
            }
            endpoint_add_secret(ep, secrets[i]);
        }
    } else {
        ep = find_endpoint(conf, endpoint_id);
        if (ep == NULL) {
            rc = 1;
            goto out;
        }
        if (!ep->enabled) {
            printf("note: endpoint %s is disabled: the bridge sends it nothing\n", ep->id);
        }
    }
    const char *event_account = strcmp(ep->account_id, "*") == 0 ? fresh : ep->account_id;
    rc = send_one(conf, ep, type, event_account);
out:
    endpoint_unref(ep);
    conf_destroy(conf);
    return rc;
}
