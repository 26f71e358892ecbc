/*
 * offsets: per-partition FIFO of consumed records, popped from the head
 * while resolved.  The tracker and its lists belong to one consumer thread;
 * only the entries' counters are touched by other threads.
 */
#include "offsets.h"

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
};

struct offsets {
    struct part *parts;
    size_t n_parts;
    size_t last; /* index of the last part looked up: records come in runs */
};

struct offsets *offsets_new(void)
{
    return xcalloc(1, sizeof(struct offsets));
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
        free(o->parts[i].topic);
    }
    free(o->parts);
    free(o);
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

rd_kafka_topic_partition_list_t *offsets_collect(struct offsets *o)
{
    rd_kafka_topic_partition_list_t *list = NULL;
    for (size_t i = 0; i < o->n_parts; i++) {
        struct part *p = &o->parts[i];
        while (p->head != NULL && atomic_load_explicit(&p->head->refs, memory_order_acquire) == 1 &&
               !atomic_load_explicit(&p->head->abandoned, memory_order_acquire)) {
            struct offsets_entry *e = p->head;
            p->head = e->next;
            if (p->head == NULL) {
                p->tail = NULL;
            }
            p->count--;
            p->next_to_store = e->offset + 1;
            offsets_release(e);
        }
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
    free(p->topic);
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
