/*
 * registry: string-keyed hash tables (endpoint id -> endpoint, account id
 * -> list of its endpoints, config ids) plus the list of "*" endpoints,
 * under one read-write lock.  See registry.h for the threads.
 */
#include "registry.h"

#include <ctype.h>
#include <pthread.h>
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
    pthread_rwlock_t lock;   /* guards everything below */
    struct table by_id;      /* id -> struct endpoint * (one reference) */
    struct table by_account; /* lower-case accountId -> struct eplist * */
    struct eplist any_account;
    struct table config_ids; /* ids from the config file (value unused) */
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

static void no_free(void *p)
{
    (void)p;
}

struct registry *registry_new(void)
{
    struct registry *r = xcalloc(1, sizeof(*r));
    pthread_rwlockattr_t attr;
    pthread_rwlockattr_init(&attr);
    /* The router and the delay scheduler read all the time: without this
     * an update could wait behind them for ever. */
    pthread_rwlockattr_setkind_np(&attr, PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP);
    pthread_rwlock_init(&r->lock, &attr);
    pthread_rwlockattr_destroy(&attr);
    table_init(&r->by_id);
    table_init(&r->by_account);
    table_init(&r->config_ids);
    return r;
}

void registry_destroy(struct registry *r)
{
    if (r == NULL) {
        return;
    }
    table_deinit(&r->by_account, eplist_free);
    table_deinit(&r->by_id, endpoint_free);
    table_deinit(&r->config_ids, no_free);
    free(r->any_account.eps);
    pthread_rwlock_destroy(&r->lock);
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

/* Puts ep in place of the endpoint with its id.  Write lock held. */
static enum registry_change put_locked(struct registry *r, struct endpoint *ep)
{
    struct slot *s = table_upsert(&r->by_id, ep->id);
    struct endpoint *old = s->value;
    if (old != NULL) {
        eplist_remove(account_list(r, old->account_id), old);
        endpoint_unref(old);
    }
    s->value = ep;
    eplist_add(account_list(r, ep->account_id), ep);
    return old != NULL ? REGISTRY_UPDATED : REGISTRY_ADDED;
}

void registry_put_config(struct registry *r, struct endpoint *ep)
{
    pthread_rwlock_wrlock(&r->lock);
    table_upsert(&r->config_ids, ep->id)->value = r;
    put_locked(r, ep);
    pthread_rwlock_unlock(&r->lock);
}

enum registry_change registry_apply(struct registry *r, const char *id, struct endpoint *ep)
{
    enum registry_change change;
    pthread_rwlock_wrlock(&r->lock);
    if (table_get(&r->config_ids, id) != NULL) {
        change = REGISTRY_CONFIG_WINS;
        endpoint_unref(ep);
    } else if (ep != NULL) {
        change = put_locked(r, ep);
    } else {
        struct slot **sp = table_find(&r->by_id, id);
        if (*sp == NULL) {
            change = REGISTRY_UNKNOWN;
        } else {
            struct slot *gone = *sp;
            struct endpoint *old = gone->value;
            *sp = gone->next;
            r->by_id.count--;
            eplist_remove(account_list(r, old->account_id), old);
            endpoint_unref(old);
            free(gone->key);
            free(gone);
            change = REGISTRY_REMOVED;
        }
    }
    pthread_rwlock_unlock(&r->lock);
    return change;
}

/* The lock is part of the registry's state, not of its value: readers of
 * a const registry still take it. */
static pthread_rwlock_t *lock_of(const struct registry *r)
{
    return (pthread_rwlock_t *)&r->lock;
}

struct endpoint *registry_get(const struct registry *r, const char *id)
{
    pthread_rwlock_rdlock(lock_of(r));
    struct endpoint *ep = table_get(&r->by_id, id);
    if (ep != NULL) {
        endpoint_ref(ep);
    }
    pthread_rwlock_unlock(lock_of(r));
    return ep;
}

static size_t match_list(const struct eplist *l, const char *account_id, const char *event_type,
                         struct endpoint **out, size_t max, size_t n)
{
    for (size_t i = 0; l != NULL && i < l->n; i++) {
        if (endpoint_matches(l->eps[i], account_id, event_type)) {
            if (n < max) {
                out[n] = endpoint_ref(l->eps[i]);
            }
            n++;
        }
    }
    return n;
}

size_t registry_match(const struct registry *r, const char *account_id, const char *event_type,
                      struct endpoint **out, size_t max)
{
    char key[64];
    lower_key(account_id, key, sizeof(key));
    pthread_rwlock_rdlock(lock_of(r));
    size_t n = match_list(table_get(&r->by_account, key), account_id, event_type, out, max, 0);
    n = match_list(&r->any_account, account_id, event_type, out, max, n);
    pthread_rwlock_unlock(lock_of(r));
    return n;
}

size_t registry_size(const struct registry *r)
{
    pthread_rwlock_rdlock(lock_of(r));
    size_t n = r->by_id.count;
    pthread_rwlock_unlock(lock_of(r));
    return n;
}

static int cmp_id(const void *a, const void *b)
{
    const struct endpoint *const *x = a;
    const struct endpoint *const *y = b;
    return strcmp((*x)->id, (*y)->id);
}

struct endpoint **registry_list(const struct registry *r, size_t *n)
{
    pthread_rwlock_rdlock(lock_of(r));
    struct endpoint **all = xcalloc(r->by_id.count + 1, sizeof(*all));
    size_t k = 0;
    for (size_t i = 0; i < r->by_id.n_buckets; i++) {
        for (struct slot *s = r->by_id.buckets[i]; s != NULL; s = s->next) {
            all[k++] = endpoint_ref(s->value);
        }
    }
    pthread_rwlock_unlock(lock_of(r));
    qsort(all, k, sizeof(*all), cmp_id);
    *n = k;
    return all;
}

int registry_is_config(const struct registry *r, const char *id)
{
    pthread_rwlock_rdlock(lock_of(r));
    int yes = table_get(&r->config_ids, id) != NULL;
    pthread_rwlock_unlock(lock_of(r));
    return yes;
}
