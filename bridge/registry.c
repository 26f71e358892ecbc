/*
 * registry: two string-keyed hash tables (endpoint id -> endpoint, account
 * id -> list of its endpoints) plus the list of "*" endpoints.  Built before
 * threads start and read-only afterwards.
 */
#include "registry.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include "endpoint.h"

struct slot {
    char *key;
    void *value; /* struct endpoint * (by id) or struct eplist * (by account) */
    struct slot *next;
};

struct table {
    struct slot **buckets;
    size_t n_buckets; /* a power of two */
    size_t count;
};

struct eplist {
    const struct endpoint **eps;
    size_t n;
};

struct registry {
    struct table by_id;
    struct table by_account;
    struct eplist any_account;
};

static uint64_t hash_str(const char *s)
{
    /* FNV-1a */
    uint64_t h = 1469598103934665603ULL;
    for (; *s != '\0'; s++) {
        h ^= (unsigned char)*s;
        h *= 1099511628211ULL;
    }
    return h;
}

static struct slot **table_find(const struct table *t, const char *key)
{
    struct slot **sp = &t->buckets[hash_str(key) & (t->n_buckets - 1)];
    while (*sp != NULL && strcmp((*sp)->key, key) != 0) {
        sp = &(*sp)->next;
    }
    return sp;
}

static void table_init(struct table *t)
{
    t->n_buckets = 64;
    t->buckets = xcalloc(t->n_buckets, sizeof(*t->buckets));
    t->count = 0;
}

static void table_grow(struct table *t)
{
    size_t n = t->n_buckets * 2;
    struct slot **b = xcalloc(n, sizeof(*b));
    for (size_t i = 0; i < t->n_buckets; i++) {
        struct slot *s = t->buckets[i];
        while (s != NULL) {
            struct slot *next = s->next;
            size_t j = hash_str(s->key) & (n - 1);
            s->next = b[j];
            b[j] = s;
            s = next;
        }
    }
    free(t->buckets);
    t->buckets = b;
    t->n_buckets = n;
}

static void *table_get(const struct table *t, const char *key)
{
    struct slot **sp = table_find(t, key);
    return *sp != NULL ? (*sp)->value : NULL;
}

/* Returns the slot for key, creating it (value NULL) when missing. */
static struct slot *table_upsert(struct table *t, const char *key)
{
    if (t->count >= t->n_buckets) {
        table_grow(t);
    }
    struct slot **sp = table_find(t, key);
    if (*sp == NULL) {
        struct slot *s = xcalloc(1, sizeof(*s));
        s->key = xstrdup(key);
        *sp = s;
        t->count++;
    }
    return *sp;
}

static void table_deinit(struct table *t, void (*free_value)(void *))
{
    for (size_t i = 0; i < t->n_buckets; i++) {
        struct slot *s = t->buckets[i];
        while (s != NULL) {
            struct slot *next = s->next;
            free_value(s->value);
            free(s->key);
            free(s);
            s = next;
        }
    }
    free(t->buckets);
}

static void eplist_add(struct eplist *l, const struct endpoint *ep)
{
    l->eps = xrealloc(l->eps, (l->n + 1) * sizeof(*l->eps));
    l->eps[l->n++] = ep;
}

static void eplist_remove(struct eplist *l, const struct endpoint *ep)
{
    for (size_t i = 0; i < l->n; i++) {
        if (l->eps[i] == ep) {
            memmove(&l->eps[i], &l->eps[i + 1], (l->n - i - 1) * sizeof(*l->eps));
            l->n--;
            return;
        }
    }
}

static void eplist_free(void *p)
{
    struct eplist *l = p;
    if (l != NULL) {
        free(l->eps);
        free(l);
    }
}

static void endpoint_free(void *p)
{
    endpoint_unref(p);
}

struct registry *registry_new(void)
{
    struct registry *r = xcalloc(1, sizeof(*r));
    table_init(&r->by_id);
    table_init(&r->by_account);
    return r;
}

void registry_destroy(struct registry *r)
{
    if (r == NULL) {
        return;
    }
    table_deinit(&r->by_account, eplist_free);
    table_deinit(&r->by_id, endpoint_free);
    free(r->any_account.eps);
    free(r);
}

/* Account ids are UUIDs: indexed in lower case so that case never matters. */
static void lower_key(const char *account_id, char *buf, size_t size)
{
    size_t i = 0;
    for (; account_id[i] != '\0' && i + 1 < size; i++) {
        buf[i] = (char)tolower((unsigned char)account_id[i]);
    }
    buf[i] = '\0';
}

static struct eplist *account_list(struct registry *r, const char *account_id)
{
    if (strcmp(account_id, "*") == 0) {
        return &r->any_account;
    }
    char key[64];
    lower_key(account_id, key, sizeof(key));
    struct slot *s = table_upsert(&r->by_account, key);
    if (s->value == NULL) {
        s->value = xcalloc(1, sizeof(struct eplist));
    }
    return s->value;
}

void registry_put(struct registry *r, struct endpoint *ep)
{
    struct slot *s = table_upsert(&r->by_id, ep->id);
    struct endpoint *old = s->value;
    if (old != NULL) {
        eplist_remove(account_list(r, old->account_id), old);
        endpoint_unref(old);
    }
    s->value = ep;
    eplist_add(account_list(r, ep->account_id), ep);
}

const struct endpoint *registry_get(const struct registry *r, const char *id)
{
    return table_get(&r->by_id, id);
}

static size_t match_list(const struct eplist *l, const char *account_id, const char *event_type,
                         const struct endpoint **out, size_t max, size_t n)
{
    for (size_t i = 0; l != NULL && i < l->n; i++) {
        if (endpoint_matches(l->eps[i], account_id, event_type)) {
            if (n < max) {
                out[n] = l->eps[i];
            }
            n++;
        }
    }
    return n;
}

size_t registry_match(const struct registry *r, const char *account_id, const char *event_type,
                      const struct endpoint **out, size_t max)
{
    char key[64];
    lower_key(account_id, key, sizeof(key));
    size_t n = match_list(table_get(&r->by_account, key), account_id, event_type, out, max, 0);
    return match_list(&r->any_account, account_id, event_type, out, max, n);
}

size_t registry_size(const struct registry *r)
{
    return r->by_id.count;
}
