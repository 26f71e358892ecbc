/*
 * offsets: per-partition FIFO of consumed records, popped from the head
 * while resolved, the map of resolved records behind an unresolved head
 * written into each commit's metadata, and the skip set read back from it
 * on assignment.  The tracker and its lists belong to one consumer thread;
 * only the entries' counters are touched by other threads.
 */
#include "offsets.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"

struct part {
    char *topic;
    int32_t partition;
    struct offsets_entry *head, *tail;
    size_t count;
    int64_t next_to_store; /* offset of the next record to consume; -1 before any */
    int64_t stored;        /* what the last collect reported */
    int64_t committed;     /* offset of the last commit list, -1 before any */
    char *committed_map;   /* its metadata, NULL for none */
    struct skip_run *skip; /* resolved offsets to skip (offsets_set_skip) */
    size_t n_skip, next_skip;
    int64_t skip_base; /* the map's offset; a record before it drops the set */
};

struct skip_run {
    int64_t from, to; /* [from, to) */
};

struct offsets {
    struct part *parts;
    size_t n_parts;
    size_t last;  /* index of the last part looked up: records come in runs */
    size_t limit; /* offsets_full's threshold, 0 for none */
};

#define MAP_VERSION "wb1:"

struct offsets *offsets_new(size_t limit)
{
    struct offsets *o = xcalloc(1, sizeof(struct offsets));
    o->limit = limit;
    return o;
}

static void free_part(struct part *p)
{
    free(p->topic);
    free(p->committed_map);
    free(p->skip);
}

static void release_all(struct part *p)
{
    struct offsets_entry *e = p->head;
    while (e != NULL) {
        struct offsets_entry *next = e->next;
        offsets_release(e);
        e = next;
    }
    p->head = p->tail = NULL;
    p->count = 0;
}

void offsets_destroy(struct offsets *o)
{
    if (o == NULL) {
        return;
    }
    for (size_t i = 0; i < o->n_parts; i++) {
        release_all(&o->parts[i]);
        free_part(&o->parts[i]);
    }
    free(o->parts);
    free(o);
}

/* A read-only lookup (no cache update). */
static const struct part *lookup(const struct offsets *o, const char *topic, int32_t partition)
{
    for (size_t i = 0; i < o->n_parts; i++) {
        if (o->parts[i].partition == partition && strcmp(o->parts[i].topic, topic) == 0) {
            return &o->parts[i];
        }
    }
    return NULL;
}

static struct part *find_part(struct offsets *o, const char *topic, int32_t partition, int create)
{
    if (o->last < o->n_parts && o->parts[o->last].partition == partition &&
        strcmp(o->parts[o->last].topic, topic) == 0) {
        return &o->parts[o->last];
    }
    for (size_t i = 0; i < o->n_parts; i++) {
        if (o->parts[i].partition == partition && strcmp(o->parts[i].topic, topic) == 0) {
            o->last = i;
            return &o->parts[i];
        }
    }
    if (!create) {
        return NULL;
    }
    o->parts = xrealloc(o->parts, (o->n_parts + 1) * sizeof(*o->parts));
    struct part *p = &o->parts[o->n_parts];
    memset(p, 0, sizeof(*p));
    p->topic = xstrdup(topic);
    p->partition = partition;
    p->next_to_store = -1;
    p->stored = -1;
    p->committed = -1;
    o->last = o->n_parts++;
    return p;
}

struct offsets_entry *offsets_track(struct offsets *o, const char *topic, int32_t partition,
                                    int64_t offset, int pending)
{
    struct part *p = find_part(o, topic, partition, 1);
    struct offsets_entry *e = xmalloc(sizeof(*e));
    atomic_init(&e->refs, pending + 1);
    atomic_init(&e->abandoned, 0);
    e->offset = offset;
    e->next = NULL;
    if (p->tail != NULL) {
        p->tail->next = e;
    } else {
        p->head = e;
    }
    p->tail = e;
    p->count++;
    return e;
}

void offsets_release(struct offsets_entry *e)
{
    if (atomic_fetch_sub_explicit(&e->refs, 1, memory_order_acq_rel) == 1) {
        free(e);
    }
}

void offsets_abandon(struct offsets_entry *e)
{
    atomic_store_explicit(&e->abandoned, 1, memory_order_release);
    offsets_release(e);
}

static int resolved(const struct offsets_entry *e)
{
    /* abandoned is set before the reference is dropped: read refs first. */
    return atomic_load_explicit(&((struct offsets_entry *)e)->refs, memory_order_acquire) == 1 &&
           !atomic_load_explicit(&((struct offsets_entry *)e)->abandoned, memory_order_acquire);
}

static void pop_prefix(struct part *p)
{
    while (p->head != NULL && resolved(p->head)) {
        struct offsets_entry *e = p->head;
        p->head = e->next;
        if (p->head == NULL) {
            p->tail = NULL;
        }
        p->count--;
        p->next_to_store = e->offset + 1;
        offsets_release(e);
    }
}

rd_kafka_topic_partition_list_t *offsets_collect(struct offsets *o)
{
    rd_kafka_topic_partition_list_t *list = NULL;
    for (size_t i = 0; i < o->n_parts; i++) {
        struct part *p = &o->parts[i];
        pop_prefix(p);
        if (p->next_to_store > p->stored) {
            if (list == NULL) {
                list = rd_kafka_topic_partition_list_new(4);
            }
            rd_kafka_topic_partition_list_add(list, p->topic, p->partition)->offset =
                p->next_to_store;
            p->stored = p->next_to_store;
        }
    }
    return list;
}

void offsets_forget(struct offsets *o, const char *topic, int32_t partition)
{
    struct part *p = find_part(o, topic, partition, 0);
    if (p == NULL) {
        return;
    }
    release_all(p);
    free_part(p);
    size_t idx = (size_t)(p - o->parts);
    o->parts[idx] = o->parts[o->n_parts - 1];
    o->n_parts--;
    o->last = 0;
}

size_t offsets_pending(const struct offsets *o)
{
    size_t n = 0;
    for (size_t i = 0; i < o->n_parts; i++) {
        n += o->parts[i].count;
    }
    return n;
}

size_t offsets_tracked(const struct offsets *o, const char *topic, int32_t partition)
{
    const struct part *p = lookup(o, topic, partition);
    return p != NULL ? p->count : 0;
}

int offsets_full(const struct offsets *o, const char *topic, int32_t partition)
{
    return o->limit > 0 && offsets_tracked(o, topic, partition) >= o->limit;
}

size_t offsets_unsettled(const struct offsets *o, const rd_kafka_topic_partition_list_t *parts)
{
    size_t n = 0;
    for (int i = 0; i < parts->cnt; i++) {
        const struct part *p = lookup(o, parts->elems[i].topic, parts->elems[i].partition);
        for (const struct offsets_entry *e = p != NULL ? p->head : NULL; e != NULL; e = e->next) {
            if (atomic_load_explicit(&((struct offsets_entry *)e)->refs, memory_order_acquire) >
                    1 &&
                !atomic_load_explicit(&((struct offsets_entry *)e)->abandoned,
                                      memory_order_acquire)) {
                n++;
            }
        }
    }
    return n;
}

/* Run lengths from base, alternately not resolved and resolved (the first
 * run may be empty).  Offsets missing between tracked records (compacted
 * away, transaction markers) never come as records: they join the resolved
 * runs, which keeps the map short. */
struct runs {
    int64_t *len;
    size_t n, cap;
};

static void runs_add(struct runs *r, int is_resolved, int64_t n)
{
    /* Even indexes are not-resolved runs, odd ones resolved runs. */
    if (r->n == 0 || (int)((r->n - 1) % 2) != is_resolved) {
        if (r->n == 0 && is_resolved) {
            runs_add(r, 0, 0);
        }
        if (r->n == r->cap) {
            r->cap = r->cap ? r->cap * 2 : 16;
            r->len = xrealloc(r->len, r->cap * sizeof(*r->len));
        }
        r->len[r->n++] = 0;
    }
    r->len[r->n - 1] += n;
}

/* The map of p's tracked records from base, at most budget bytes, or NULL
 * when no later record is resolved (or none fits). */
static char *build_map(const struct part *p, int64_t base, size_t budget)
{
    struct runs r = {NULL, 0, 0};
    char *map = NULL;
    int64_t pos = base;
    for (const struct offsets_entry *e = p->head; e != NULL; e = e->next) {
        if (e->offset < pos) {
            /* Offsets went back within the assignment (an offset reset, a
             * log truncated, a re-fetch): what follows is not in the
             * map's offset space, so the map ends here, short but right. */
            break;
        }
        if (e->offset > pos) {
            runs_add(&r, 1, e->offset - pos);
        }
        runs_add(&r, resolved(e), 1);
        pos = e->offset + 1;
    }
    if (r.n < 2 || budget == 0) {
        goto out;
    }
    map = xmalloc(budget + 1);
    int len = snprintf(map, budget + 1, MAP_VERSION "%" PRId64 ":", base);
    if (len < 0 || (size_t)len >= budget) {
        free(map);
        map = NULL;
        goto out;
    }
    size_t used = (size_t)len;
    size_t pairs = 0;
    /* Whole (not resolved, resolved) pairs while they fit: the map ends on
     * a resolved run, what follows it is not resolved. */
    for (size_t i = 0; i + 1 < r.n; i += 2) {
        char pair[48];
        int n = snprintf(pair, sizeof(pair), "%s%" PRId64 ",%" PRId64, pairs > 0 ? "," : "",
                         r.len[i], r.len[i + 1]);
        if (n < 0 || used + (size_t)n > budget) {
            break;
        }
        memcpy(map + used, pair, (size_t)n + 1);
        used += (size_t)n;
        pairs++;
    }
    if (pairs == 0) {
        free(map);
        map = NULL;
    }
out:
    free(r.len);
    return map;
}

static int same_map(const char *a, const char *b)
{
    return (a == NULL && b == NULL) || (a != NULL && b != NULL && strcmp(a, b) == 0);
}

static void add_commit(rd_kafka_topic_partition_list_t **list, struct part *p, size_t budget,
                       int changed_only)
{
    pop_prefix(p);
    /* The next offset to store, or before any record resolved, the first
     * one's (the caller stores it too). */
    int64_t base = p->next_to_store;
    if (base < 0 && p->head != NULL) {
        base = p->head->offset;
    }
    if (base < 0) {
        return; /* nothing consumed yet */
    }
    char *map = build_map(p, base, budget);
    if (changed_only && base == p->committed && same_map(map, p->committed_map)) {
        free(map);
        return;
    }
    if (*list == NULL) {
        *list = rd_kafka_topic_partition_list_new(4);
    }
    rd_kafka_topic_partition_t *tp =
        rd_kafka_topic_partition_list_add(*list, p->topic, p->partition);
    tp->offset = base;
    if (map != NULL) {
        /* The list frees it (librdkafka's rd_free is free). */
        tp->metadata = xstrdup(map);
        tp->metadata_size = strlen(map);
    }
    free(p->committed_map);
    p->committed_map = map;
    p->committed = base;
}

rd_kafka_topic_partition_list_t *offsets_commit_list(struct offsets *o, size_t budget,
                                                     const rd_kafka_topic_partition_list_t *only)
{
    rd_kafka_topic_partition_list_t *list = NULL;
    if (only == NULL) {
        for (size_t i = 0; i < o->n_parts; i++) {
            add_commit(&list, &o->parts[i], budget, 1);
        }
        return list;
    }
    for (int i = 0; i < only->cnt; i++) {
        struct part *p = find_part(o, only->elems[i].topic, only->elems[i].partition, 0);
        if (p != NULL) {
            add_commit(&list, p, budget, 0);
        }
    }
    return list;
}

void offsets_commit_failed(struct offsets *o, const char *topic, int32_t partition)
{
    struct part *p = find_part(o, topic, partition, 0);
    if (p != NULL) {
        p->committed = -1;
    }
}

/* Parses a decimal int64 in [0, 2^53) at *s, advancing it.  -1 if none. */
static int64_t parse_num(const char **s, const char *end)
{
    int64_t v = 0;
    const char *start = *s;
    while (*s < end && **s >= '0' && **s <= '9') {
        if (v > ((int64_t)1 << 53) / 10) {
            return -1;
        }
        v = v * 10 + (**s - '0');
        (*s)++;
    }
    return *s > start ? v : -1;
}

int64_t offsets_set_skip(struct offsets *o, const char *topic, int32_t partition, int64_t base,
                         const char *metadata, size_t len)
{
    const char *s = metadata;
    const char *end = metadata != NULL ? metadata + len : NULL;
    struct skip_run *runs = NULL;
    size_t n = 0;
    int64_t skipped = 0;
    size_t vlen = strlen(MAP_VERSION);
    if (metadata == NULL || base < 0 || len <= vlen || memcmp(s, MAP_VERSION, vlen) != 0) {
        goto out;
    }
    s += vlen;
    if (parse_num(&s, end) != base || s == end || *s != ':') {
        goto out; /* another commit's map, or not ours */
    }
    s++;
    int64_t pos = base;
    for (size_t i = 0; s < end; i++) {
        if (i > 0) {
            if (*s != ',') {
                goto bad;
            }
            s++;
        }
        int64_t run = parse_num(&s, end);
        if (run < 0 || pos > INT64_MAX / 2) {
            goto bad;
        }
        if (i % 2 == 1 && run > 0) {
            runs = xrealloc(runs, (n + 1) * sizeof(*runs));
            runs[n++] = (struct skip_run){pos, pos + run};
            skipped += run;
        }
        pos += run;
    }
    struct part *p = find_part(o, topic, partition, 1);
    free(p->skip);
    p->skip = runs;
    p->n_skip = n;
    p->next_skip = 0;
    p->skip_base = base;
    runs = NULL;
    goto out;
bad:
    skipped = 0;
out:
    free(runs);
    return skipped;
}

int offsets_skip(struct offsets *o, const char *topic, int32_t partition, int64_t offset)
{
    struct part *p = find_part(o, topic, partition, 0);
    if (p == NULL || p->n_skip == 0) {
        return 0;
    }
    while (p->next_skip < p->n_skip && p->skip[p->next_skip].to <= offset) {
        p->next_skip++;
    }
    /* A record before the map's offset: fetching did not start where the
     * map was written for (an offset reset, a topic made again): the map
     * says nothing about these records. */
    if (p->next_skip == p->n_skip || offset < p->skip_base) {
        free(p->skip);
        p->skip = NULL;
        p->n_skip = p->next_skip = 0;
        return 0;
    }
    return p->skip[p->next_skip].from <= offset;
}
