/*
 * cmd_endpoints: `webhook-bridge endpoints list|put|delete`, what the
 * settings service's engineers use to look at and change the endpoints
 * topic.  list reads the topic to its end with the daemon's own reader
 * (regsync) and merges the config file's endpoints as the daemon does; put
 * validates with the daemon's own rules (endpoint_from_json) before
 * producing; delete produces a tombstone.  Secrets are never printed: list
 * shows fingerprints.
 *
 * Threads: main; regsync runs its reader thread during list.
 */
#include "cmd_endpoints.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#include "cli.h"
#include "conf.h"
#include "duration.h"
#include "endpoint.h"
#include "registry.h"
#include "regsync.h"

#define STDIN_MAX (1024 * 1024)

static void usage(FILE *fp)
{
    fprintf(fp,
            "usage: webhook-bridge endpoints list [-c FILE] [--json] [--timeout DURATION]\n"
            "       webhook-bridge endpoints put [-c FILE] --id ID --account UUID|* --url URL\n"
            "              [--event-type TYPE]... [--secret whsec_...]... [--disabled]\n"
            "              [--description TEXT]\n"
            "       webhook-bridge endpoints put [-c FILE] < endpoint.json\n"
            "       webhook-bridge endpoints delete [-c FILE] ID\n"
            "\n"
            "The endpoints topic (kafka.topics.endpoints, compacted) is where customers'\n"
            "webhooks live: key = endpoint id, value = the endpoint as JSON, no value =\n"
            "removed.  Every running bridge applies changes within a second.\n"
            "\n"
            "  list     every endpoint the bridge knows: the topic read to its end, merged\n"
            "           with the config file's (which win on an id clash), as a table or,\n"
            "           with --json, one JSON object per line.  Secrets show as\n"
            "           fingerprints.  --timeout bounds the read (default 30s).\n"
            "  put      adds or replaces one endpoint, from the flags or from a JSON document\n"
            "           on stdin ({\"id\", \"accountId\", \"url\", \"eventTypes\", \"secrets\",\n"
            "           \"enabled\", \"description\"}), checked as the bridge checks it; without\n"
            "           --event-type it wants every type.  Waits for Kafka's acknowledgement.\n"
            "  delete   removes one endpoint (a tombstone).\n"
            "\n"
            "The brokers are kafka.brokers of the config, or WEBHOOK_BRIDGE_BROKERS (a tool\n"
            "cannot use \"embedded\": point it at the bootstrap address the bridge logs).\n"
            "Exit codes: 0 ok, 1 the operation failed, 2 bad usage, config or endpoint.\n");
}

/* ---- list ------------------------------------------------------------ */

static void join_list(char *const *v, size_t n, char *buf, size_t size)
{
    size_t len = 0;
    buf[0] = '\0';
    for (size_t i = 0; i < n && len < size; i++) {
        len += (size_t)snprintf(buf + len, size - len, "%s%s", i > 0 ? "," : "", v[i]);
    }
}

static void print_table(struct endpoint **eps, size_t n, const struct registry *r)
{
    size_t w_id = 2, w_acc = 7, w_types = 5;
    char types[512];
    for (size_t i = 0; i < n; i++) {
        join_list(eps[i]->event_types, eps[i]->n_event_types, types, sizeof(types));
        w_id = strlen(eps[i]->id) > w_id ? strlen(eps[i]->id) : w_id;
        w_acc = strlen(eps[i]->account_id) > w_acc ? strlen(eps[i]->account_id) : w_acc;
        w_types = strlen(types) > w_types ? strlen(types) : w_types;
    }
    printf("%-*s  %-*s  %-7s  %-6s  %-*s  %-28s  %s\n", (int)w_id, "ID", (int)w_acc, "ACCOUNT",
           "ENABLED", "SOURCE", (int)w_types, "TYPES", "SECRETS", "URL");
    for (size_t i = 0; i < n; i++) {
        const struct endpoint *ep = eps[i];
        char secrets[64] = "-";
        if (ep->n_secrets > 0) {
            char fp[ENDPOINT_FINGERPRINT_LEN];
            endpoint_secret_fingerprint(ep->secrets[0], fp);
            if (ep->n_secrets == 1) {
                snprintf(secrets, sizeof(secrets), "%s", fp);
            } else {
                snprintf(secrets, sizeof(secrets), "%s +%zu", fp, ep->n_secrets - 1);
            }
        }
        join_list(ep->event_types, ep->n_event_types, types, sizeof(types));
        printf("%-*s  %-*s  %-7s  %-6s  %-*s  %-28s  %s\n", (int)w_id, ep->id, (int)w_acc,
               ep->account_id, ep->enabled ? "yes" : "no",
               registry_is_config(r, ep->id) ? "config" : "topic", (int)w_types, types, secrets,
               ep->url);
    }
}

static int cmd_list(const struct conf *conf, int json, int64_t timeout_ms)
{
    char bootstrap[1024], errstr[512];
    struct registry *r = registry_new();
    struct regsync *rs = NULL;
    int rc = 1;

    if (cli_bootstrap(conf, bootstrap, sizeof(bootstrap), errstr, sizeof(errstr)) != 0) {
        fprintf(stderr, "endpoints list: %s\n", errstr);
        rc = 2;
        goto out;
    }
    for (size_t i = 0; i < conf->n_endpoints; i++) {
        registry_put_config(r, endpoint_dup(conf->endpoints[i]));
    }
    if (regsync_start(&rs, conf, bootstrap, r, errstr, sizeof(errstr)) != 0) {
        fprintf(stderr, "endpoints list: %s\n", errstr);
        goto out;
    }
    int64_t deadline = util_mono_ms() + timeout_ms;
    while (!regsync_caught_up(rs) && util_mono_ms() < deadline) {
        usleep(20 * 1000);
    }
    if (!regsync_caught_up(rs)) {
        fprintf(stderr,
                "endpoints list: could not read %s from %s to its end within %lld ms "
                "(%ld records read): is the cluster reachable?\n",
                conf->kafka.endpoints_topic, bootstrap, (long long)timeout_ms, regsync_applied(rs));
        goto out;
    }
    size_t n = 0;
    struct endpoint **eps = registry_list(r, &n);
    if (json) {
        for (size_t i = 0; i < n; i++) {
            json_t *obj = endpoint_to_json(eps[i], 0);
            json_object_set_new(
                obj, "source", json_string(registry_is_config(r, eps[i]->id) ? "config" : "topic"));
            char *text = json_dumps(obj, JSON_COMPACT | JSON_PRESERVE_ORDER);
            puts(text != NULL ? text : "{}");
            free(text);
            json_decref(obj);
        }
    } else {
        print_table(eps, n, r);
    }
    for (size_t i = 0; i < n; i++) {
        endpoint_unref(eps[i]);
    }
    free(eps);
    if (regsync_invalid(rs) > 0) {
        fprintf(stderr,
                "endpoints list: %ld invalid records on %s were skipped (the bridge "
                "skips them too)\n",
                regsync_invalid(rs), conf->kafka.endpoints_topic);
    }
    rc = 0;
out:
    regsync_stop(rs);
    registry_destroy(r);
    return rc;
}

/* ---- put, delete ----------------------------------------------------- */

static void on_failure(void *record, const char *error, void *arg)
{
    (void)record;
    (void)arg;
    fprintf(stderr, "Kafka did not acknowledge the record: %s\n", error);
}

/* Produces key -> value (NULL: tombstone) to the endpoints topic and waits
 * for the acknowledgement.  0, or 1 when it failed. */
static int produce_one(const struct conf *conf, const char *what, const char *key,
                       const char *value)
{
    char bootstrap[1024], errstr[512];
    if (cli_bootstrap(conf, bootstrap, sizeof(bootstrap), errstr, sizeof(errstr)) != 0) {
        fprintf(stderr, "endpoints %s: %s\n", what, errstr);
        return 2;
    }
    struct cli_producer *p =
        cli_producer_new(conf, bootstrap, on_failure, NULL, errstr, sizeof(errstr));
    if (p == NULL) {
        fprintf(stderr, "endpoints %s: %s\n", what, errstr);
        return 1;
    }
    int rc = 1;
    if (cli_produce(p, conf->kafka.endpoints_topic, key, strlen(key), value,
                    value != NULL ? strlen(value) : 0, NULL, errstr, sizeof(errstr)) != 0) {
        fprintf(stderr, "endpoints %s: %s\n", what, errstr);
    } else if (cli_producer_flush(p, 30000) == 0) {
        rc = 0;
    } else {
        fprintf(stderr, "endpoints %s: not written to %s at %s\n", what,
                conf->kafka.endpoints_topic, bootstrap);
    }
    cli_producer_destroy(p);
    return rc;
}

static void warn_config_wins(const struct conf *conf, const char *id)
{
    for (size_t i = 0; i < conf->n_endpoints; i++) {
        if (strcmp(conf->endpoints[i]->id, id) == 0) {
            fprintf(stderr,
                    "warning: the config file (%s) also defines \"%s\": bridges using it keep "
                    "the config's version\n",
                    conf->path, id);
        }
    }
}

static char *read_stdin(size_t *lenp)
{
    size_t cap = 4096, len = 0;
    char *buf = xmalloc(cap);
    for (;;) {
        if (len == cap) {
            if (cap >= STDIN_MAX) {
                free(buf);
                return NULL;
            }
            cap *= 2;
            buf = xrealloc(buf, cap);
        }
        size_t n = fread(buf + len, 1, cap - len, stdin);
        if (n == 0) {
            break;
        }
        len += n;
    }
    *lenp = len;
    return buf;
}

struct put_flags {
    const char *id, *account, *url, *description;
    const char *types[64];
    size_t n_types;
    const char *secrets[16];
    size_t n_secrets;
    int disabled;
    int any; /* some endpoint flag was given */
};

static int cmd_put(const struct conf *conf, const struct put_flags *f)
{
    char errstr[1024];
    char *doc = NULL;
    size_t len = 0;
    json_t *from_flags = NULL;

    if (f->any) {
        if (f->id == NULL || f->account == NULL || f->url == NULL) {
            fprintf(stderr, "endpoints put: --id, --account and --url are required (or a JSON "
                            "document on stdin and no flags)\n");
            return 2;
        }
        json_t *types = json_array();
        for (size_t i = 0; i < f->n_types; i++) {
            json_array_append_new(types, json_string(f->types[i]));
        }
        if (f->n_types == 0) {
            json_array_append_new(types, json_string("*"));
        }
        json_t *secrets = json_array();
        for (size_t i = 0; i < f->n_secrets; i++) {
            json_array_append_new(secrets, json_string(f->secrets[i]));
        }
        from_flags =
            json_pack("{s:s, s:s, s:s, s:o, s:o, s:b}", "id", f->id, "accountId", f->account, "url",
                      f->url, "eventTypes", types, "secrets", secrets, "enabled", !f->disabled);
        if (from_flags == NULL) {
            fprintf(stderr, "endpoints put: a flag is not valid UTF-8\n");
            return 2;
        }
        if (f->description != NULL) {
            json_object_set_new(from_flags, "description", json_string(f->description));
        }
        doc = json_dumps(from_flags, JSON_COMPACT);
        len = strlen(doc);
        json_decref(from_flags);
    } else {
        if (isatty(STDIN_FILENO)) {
            fprintf(stderr, "endpoints put: give the endpoint as flags, or as JSON on stdin\n");
            return 2;
        }
        doc = read_stdin(&len);
        if (doc == NULL) {
            fprintf(stderr, "endpoints put: stdin holds more than %d bytes\n", STDIN_MAX);
            return 2;
        }
    }
    struct endpoint *ep = endpoint_from_json(NULL, doc, len, errstr, sizeof(errstr));
    free(doc);
    if (ep == NULL) {
        fprintf(stderr, "endpoints put: invalid endpoint: %s\n", errstr);
        return 2;
    }
    json_t *obj = endpoint_to_json(ep, 1);
    char *value = json_dumps(obj, JSON_COMPACT | JSON_PRESERVE_ORDER);
    json_decref(obj);
    warn_config_wins(conf, ep->id);
    int rc = produce_one(conf, "put", ep->id, value);
    if (rc == 0) {
        printf("put %s (account %s, %s, %zu event type(s), %zu secret(s)) on %s\n", ep->id,
               ep->account_id, ep->enabled ? "enabled" : "disabled", ep->n_event_types,
               ep->n_secrets, conf->kafka.endpoints_topic);
    }
    free(value);
    endpoint_unref(ep);
    return rc;
}

static int cmd_delete(const struct conf *conf, const char *id)
{
    char errstr[512];
    if (endpoint_check_id(id, errstr, sizeof(errstr)) != 0) {
        fprintf(stderr, "endpoints delete: %s\n", errstr);
        return 2;
    }
    warn_config_wins(conf, id);
    int rc = produce_one(conf, "delete", id, NULL);
    if (rc == 0) {
        printf("deleted %s (a tombstone on %s)\n", id, conf->kafka.endpoints_topic);
    }
    return rc;
}

/* ---- command line ---------------------------------------------------- */

int cmd_endpoints_main(int argc, char **argv)
{
    enum {
        OPT_JSON = 256,
        OPT_TIMEOUT,
        OPT_ID,
        OPT_ACCOUNT,
        OPT_URL,
        OPT_TYPE,
        OPT_SECRET,
        OPT_DISABLED,
        OPT_DESCRIPTION,
    };
    static const struct option longopts[] = {
        {"config", required_argument, NULL, 'c'},
        {"json", no_argument, NULL, OPT_JSON},
        {"timeout", required_argument, NULL, OPT_TIMEOUT},
        {"id", required_argument, NULL, OPT_ID},
        {"account", required_argument, NULL, OPT_ACCOUNT},
        {"url", required_argument, NULL, OPT_URL},
        {"event-type", required_argument, NULL, OPT_TYPE},
        {"secret", required_argument, NULL, OPT_SECRET},
        {"disabled", no_argument, NULL, OPT_DISABLED},
        {"description", required_argument, NULL, OPT_DESCRIPTION},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *path = cli_default_config();
    struct put_flags f;
    int json = 0;
    int64_t timeout_ms = 30000;
    char errstr[256];

    memset(&f, 0, sizeof(f));
    if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
        usage(argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    const char *sub = argv[1];
    if (strcmp(sub, "list") != 0 && strcmp(sub, "put") != 0 && strcmp(sub, "delete") != 0) {
        fprintf(stderr, "endpoints: unknown subcommand '%s' (expected list, put or delete)\n", sub);
        return 2;
    }
    optind = 1;
    int ch;
    while ((ch = getopt_long(argc - 1, argv + 1, "c:h", longopts, NULL)) != -1) {
        switch (ch) {
        case 'c':
            path = optarg;
            break;
        case OPT_JSON:
            json = 1;
            break;
        case OPT_TIMEOUT:
            if (duration_parse(optarg, &timeout_ms, errstr, sizeof(errstr)) != 0 ||
                timeout_ms == 0) {
                fprintf(stderr, "endpoints: --timeout %s: expected a duration such as 30s\n",
                        optarg);
                return 2;
            }
            break;
        case OPT_ID:
            f.id = optarg;
            f.any = 1;
            break;
        case OPT_ACCOUNT:
            f.account = optarg;
            f.any = 1;
            break;
        case OPT_URL:
            f.url = optarg;
            f.any = 1;
            break;
        case OPT_TYPE:
            if (f.n_types == WB_ARRAY_LEN(f.types)) {
                fprintf(stderr, "endpoints put: too many --event-type\n");
                return 2;
            }
            f.types[f.n_types++] = optarg;
            f.any = 1;
            break;
        case OPT_SECRET:
            if (f.n_secrets == WB_ARRAY_LEN(f.secrets)) {
                fprintf(stderr, "endpoints put: too many --secret\n");
                return 2;
            }
            f.secrets[f.n_secrets++] = optarg;
            f.any = 1;
            break;
        case OPT_DISABLED:
            f.disabled = 1;
            f.any = 1;
            break;
        case OPT_DESCRIPTION:
            f.description = optarg;
            f.any = 1;
            break;
        case 'h':
            usage(stdout);
            return 0;
        default:
            fprintf(stderr, "Try 'webhook-bridge endpoints --help'.\n");
            return 2;
        }
    }
    int rest = argc - 1 - optind;
    char **args = argv + 1 + optind;
    int is_delete = strcmp(sub, "delete") == 0;
    if (is_delete ? rest != 1 : rest != 0) {
        fprintf(stderr, "endpoints %s: %s\n", sub,
                is_delete ? "expected one endpoint id" : "unexpected argument");
        return 2;
    }
    if (strcmp(sub, "put") != 0 && f.any) {
        fprintf(stderr, "endpoints %s: endpoint flags belong to put\n", sub);
        return 2;
    }
    struct conf *conf = NULL;
    int rc = cli_load_conf(path, &conf);
    if (rc != 0) {
        return rc;
    }
    if (strcmp(sub, "list") == 0) {
        rc = cmd_list(conf, json, timeout_ms);
    } else if (strcmp(sub, "put") == 0) {
        rc = cmd_put(conf, &f);
    } else {
        rc = cmd_delete(conf, args[0]);
    }
    conf_destroy(conf);
    return rc;
}
