/*
 * routebench: what routing one event costs with 10 registered endpoints
 * and with 100,000 (10,000 accounts of 10), for make bench.  Each round
 * routes events of accounts drawn at random from those that exist, through
 * registry_match as the router calls it (references taken and dropped),
 * and prints nanoseconds per event.  A benchmark, not a test: it fails only
 * when a match is wrong.
 *
 *   routebench [EVENTS]    (default 1,000,000 per registry size)
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "endpoint.h"
#include "registry.h"
#include "util.h"

#define PER_ACCOUNT 10

static void account_uuid(unsigned i, char *buf, size_t size)
{
    snprintf(buf, size, "%08x-0000-4000-8000-%012x", i * 2654435761u, i);
}

static struct registry *build(unsigned accounts)
{
    struct registry *r = registry_new();
    char acc[64], id[64], url[128];
    for (unsigned a = 0; a < accounts; a++) {
        account_uuid(a, acc, sizeof(acc));
        for (unsigned e = 0; e < PER_ACCOUNT; e++) {
            struct endpoint *ep = endpoint_new();
            snprintf(id, sizeof(id), "ep-%u-%u", a, e);
            snprintf(url, sizeof(url), "https://hooks.example.com/%u/%u", a, e);
            ep->id = xstrdup(id);
            ep->account_id = xstrdup(acc);
            ep->url = xstrdup(url);
            endpoint_add_event_type(ep, e % 2 ? "Subscribe" : "Unsubscribe");
            registry_apply(r, ep->id, ep);
        }
    }
    return r;
}

/* Routes n events; returns ns per event, or -1 when a match is wrong. */
static double run(const struct registry *r, unsigned accounts, long n)
{
    char acc[64];
    struct endpoint *out[PER_ACCOUNT];
    unsigned seed = 12345;
    long matched = 0;
    int64_t t0 = util_mono_us();
    for (long i = 0; i < n; i++) {
        seed = seed * 1103515245u + 12345u;
        account_uuid((seed >> 8) % accounts, acc, sizeof(acc));
        size_t k = registry_match(r, acc, "Subscribe", out, PER_ACCOUNT);
        if (k != PER_ACCOUNT / 2) {
            return -1;
        }
        for (size_t j = 0; j < k; j++) {
            endpoint_unref(out[j]);
        }
        matched += (long)k;
    }
    int64_t t1 = util_mono_us();
    (void)matched;
    return (double)(t1 - t0) * 1000.0 / (double)n;
}

int main(int argc, char **argv)
{
    long n = argc > 1 ? strtol(argv[1], NULL, 10) : 1000000;
    static const unsigned sizes[] = {1, 10000};
    if (n <= 0) {
        fprintf(stderr, "usage: routebench [EVENTS]\n");
        return 2;
    }
    for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
        struct registry *r = build(sizes[i]);
        run(r, sizes[i], n / 10); /* warm-up */
        double ns = run(r, sizes[i], n);
        if (ns < 0) {
            fprintf(stderr, "routebench: a wrong match with %u endpoints\n",
                    sizes[i] * PER_ACCOUNT);
            registry_destroy(r);
            return 1;
        }
        printf("routebench: %u endpoints (%u accounts): %.0f ns per event (%ld events, %d "
               "matches each, the account id formatted in the loop included)\n",
               sizes[i] * PER_ACCOUNT, sizes[i], ns, n, PER_ACCOUNT / 2);
        registry_destroy(r);
    }
    return 0;
}
