/*
 * delivery: the (event, endpoint) object that travels from the consumer to
 * the workers, the producer and the delay topics, and its JSON record form.
 * A delivery has one owner at a time (see delivery.h); only the payload is
 * shared, through an atomic reference count.  Memory (delivery.h): an
 * event's deliveries and its body are one allocation, freed by the thread
 * that made it (its payload_home); a lone delivery is one allocation with
 * its strings.
 */
#include "delivery.h"

#include <limits.h>
#include <stdalign.h>
#include <stdlib.h>
#include <string.h>

#include "endpoint.h"
#include "redact.h"
#include "jsonw.h"
#include "utf8.h"

struct payload *payload_new(const void *data, size_t len)
{
    struct payload *p = xmalloc(sizeof(*p) + len + 1);
    atomic_init(&p->refs, 1);
    p->len = len;
    p->home = NULL;
    p->next_home = NULL;
    memcpy(p->data, data, len);
    p->data[len] = '\0';
    return p;
}

struct payload *payload_ref(struct payload *p)
{
    atomic_fetch_add_explicit(&p->refs, 1, memory_order_relaxed);
    return p;
}

void payload_unref(struct payload *p)
{
    if (p == NULL || atomic_fetch_sub_explicit(&p->refs, 1, memory_order_acq_rel) != 1) {
        return;
    }
    struct payload_home *h = p->home;
    if (h == NULL) {
        free(p);
        return;
    }
    /* Pushed onto its home (release: the drainer sees everything written
     * to the block before). */
    struct payload *old = atomic_load_explicit(&h->head, memory_order_relaxed);
    do {
        p->next_home = old;
    } while (!atomic_compare_exchange_weak_explicit(&h->head, &old, p, memory_order_release,
                                                    memory_order_relaxed));
}

void payload_home_drain(struct payload_home *h)
{
    if (atomic_load_explicit(&h->head, memory_order_relaxed) == NULL) {
        return;
    }
    struct payload *p = atomic_exchange_explicit(&h->head, NULL, memory_order_acquire);
    while (p != NULL) {
        struct payload *next = p->next_home;
        free(p);
        p = next;
    }
}

/* Room for s and its NUL (none for NULL). */
static size_t room(const char *s)
{
    return s != NULL ? strlen(s) + 1 : 0;
}

/* Copies s to *pos and advances it; returns the copy (NULL for NULL). */
static const char *put(char **pos, const char *s)
{
    if (s == NULL) {
        return NULL;
    }
    size_t n = strlen(s) + 1;
    char *copy = memcpy(*pos, s, n);
    *pos += n;
    return copy;
}

/* A fresh delivery in dl's memory: a new deliveryId, no attempts (their
 * room the one kept inside), no source. */
static void init(struct delivery *dl)
{
    memset(dl, 0, sizeof(*dl));
    util_uuid4(dl->id);
    dl->attempts = &dl->first;
    dl->attempts_cap = 1;
    dl->source_partition = -1;
    dl->source_offset = -1;
}

struct delivery *delivery_new(const char *event_id, const char *event_type, const char *account_id,
                              const char *endpoint_id, const char *url, struct payload *body)
{
    struct delivery *dl = xmalloc(sizeof(*dl) + room(event_id) + room(event_type) +
                                  room(account_id) + room(endpoint_id) + room(url));
    init(dl);
    char *pos = (char *)(dl + 1);
    dl->event_id = put(&pos, event_id);
    dl->event_type = put(&pos, event_type);
    dl->account_id = put(&pos, account_id);
    dl->endpoint_id = put(&pos, endpoint_id);
    dl->url = put(&pos, url);
    dl->body = payload_ref(body);
    return dl;
}

struct delivery *delivery_new_event(const struct delivery_event *ev, struct endpoint *const *eps,
                                    size_t n, struct payload_home *home)
{
    if (n == 0 || n > INT_MAX) {
        return NULL;
    }
    /* [payload + body + NUL, padded][n deliveries][shared strings][each
     * delivery's endpoint id and URL] */
    size_t head = sizeof(struct payload) + ev->body_len + 1;
    head =
        (head + alignof(struct delivery) - 1) / alignof(struct delivery) * alignof(struct delivery);
    size_t need = head + n * sizeof(struct delivery) + room(ev->event_id) + room(ev->event_type) +
                  room(ev->account_id) + room(ev->source_topic);
    for (size_t i = 0; i < n; i++) {
        need += room(eps[i]->id) + room(eps[i]->url);
    }
    struct payload *p = xmalloc(need);
    atomic_init(&p->refs, (int)n); /* one per delivery */
    p->len = ev->body_len;
    p->home = home;
    p->next_home = NULL;
    memcpy(p->data, ev->body, ev->body_len);
    p->data[ev->body_len] = '\0';

    struct delivery *dls = (struct delivery *)((char *)p + head);
    char *pos = (char *)(dls + n);
    const char *event_id = put(&pos, ev->event_id);
    const char *event_type = put(&pos, ev->event_type);
    const char *account_id = put(&pos, ev->account_id);
    const char *topic = put(&pos, ev->source_topic);
    for (size_t i = 0; i < n; i++) {
        struct delivery *dl = &dls[i];
        init(dl);
        dl->next = i + 1 < n ? &dls[i + 1] : NULL;
        dl->in_body = 1;
        dl->event_id = event_id;
        dl->event_type = event_type;
        dl->account_id = account_id;
        dl->endpoint_id = put(&pos, eps[i]->id);
        dl->url = put(&pos, eps[i]->url);
        dl->ep = eps[i];
        dl->body = p;
        dl->source_topic = topic;
        dl->source_partition = ev->source_partition;
        dl->source_offset = ev->source_offset;
    }
    return dls;
}

void delivery_destroy(struct delivery *dl)
{
    if (dl == NULL) {
        return;
    }
    for (size_t i = 0; i < dl->n_attempts; i++) {
        free(dl->attempts[i].error);
        free(dl->attempts[i].response);
    }
    if (dl->attempts != &dl->first) {
        free(dl->attempts);
    }
    free(dl->own_url);
    free(dl->own_topic);
    free(dl->replayed_from);
    endpoint_unref(dl->ep);
    struct payload *body = dl->body;
    if (!dl->in_body) {
        free(dl);
    }
    /* Last: an event's last delivery goes with its body's allocation. */
    payload_unref(body);
}

void delivery_set_url(struct delivery *dl, const char *url)
{
    char *copy = xstrdup(url);
    free(dl->own_url);
    dl->own_url = copy;
    dl->url = copy;
}

struct attempt *delivery_add_attempt(struct delivery *dl, int64_t at_ms, int64_t duration_ms,
                                     int status, const char *error)
{
    if (dl->n_attempts == ATTEMPTS_KEEP_FIRST + ATTEMPTS_KEEP_LATEST) {
        /* The history is full: the oldest of the latest goes, the first
         * ones stay (the start of the story), and the count says so. */
        struct attempt *gone = &dl->attempts[ATTEMPTS_KEEP_FIRST];
        free(gone->error);
        free(gone->response);
        memmove(gone, gone + 1, (dl->n_attempts - ATTEMPTS_KEEP_FIRST - 1) * sizeof(*gone));
        dl->n_attempts--;
        dl->attempts_omitted++;
    } else if (dl->n_attempts == dl->attempts_cap) {
        /* Grown in steps up to the most kept; out of the delivery's own
         * room (the first attempt) on the second. */
        size_t cap = dl->attempts_cap < 4 ? 4 : dl->attempts_cap * 2;
        if (cap > ATTEMPTS_KEEP_FIRST + ATTEMPTS_KEEP_LATEST) {
            cap = ATTEMPTS_KEEP_FIRST + ATTEMPTS_KEEP_LATEST;
        }
        if (dl->attempts == &dl->first) {
            dl->attempts = xmalloc(cap * sizeof(*dl->attempts));
            memcpy(dl->attempts, &dl->first, dl->n_attempts * sizeof(*dl->attempts));
        } else {
            dl->attempts = xrealloc(dl->attempts, cap * sizeof(*dl->attempts));
        }
        dl->attempts_cap = cap;
    }
    struct attempt *a = &dl->attempts[dl->n_attempts];
    a->n = (int)delivery_attempt_count(dl) + 1;
    a->at_ms = at_ms;
    a->duration_ms = duration_ms;
    a->status = status;
    a->error = NULL;
    a->response = NULL;
    a->response_len = 0;
    if (error != NULL) {
        /* Cut on a character boundary and repaired: the text goes into
         * JSON records, which must never fail to build. */
        a->error = xstrndup(error, utf8_cut(error, strlen(error), ATTEMPT_ERROR_MAX));
        utf8_repair(a->error);
    }
    dl->n_attempts++;
    return a;
}

size_t delivery_attempt_count(const struct delivery *dl)
{
    return dl->n_attempts + dl->attempts_omitted;
}

void delivery_set_response(struct attempt *a, const char *body, size_t len)
{
    free(a->response);
    a->response = NULL;
    a->response_len = 0;
    if (body != NULL && len > 0) {
        a->response_len = len > ATTEMPT_RESPONSE_MAX ? ATTEMPT_RESPONSE_MAX : len;
        a->response = xmalloc(a->response_len + 1);
        memcpy(a->response, body, a->response_len); /* NUL bytes included */
        a->response[a->response_len] = '\0';
    }
}

const struct attempt *delivery_last_attempt(const struct delivery *dl)
{
    return dl->n_attempts > 0 ? &dl->attempts[dl->n_attempts - 1] : NULL;
}

void delivery_set_source(struct delivery *dl, const char *topic, int32_t partition, int64_t offset)
{
    char *copy = topic != NULL ? xstrdup(topic) : NULL;
    free(dl->own_topic);
    dl->own_topic = copy;
    dl->source_topic = copy;
    dl->source_partition = partition;
    dl->source_offset = offset;
}

static json_t *time_or_null(int64_t ms)
{
    if (ms <= 0) {
        return json_null();
    }
    char buf[UTIL_TIME_LEN];
    util_format_time(ms, buf, sizeof(buf));
    return json_string(buf);
}

/* Everything but the event, which is spliced in as raw bytes; NULL when a
 * value cannot be built (every string here is checked by jansson). */
json_t *delivery_record_meta(const struct delivery *dl)
{
    json_t *attempts = json_array();
    json_t *obj = NULL;
    if (attempts == NULL) {
        return NULL;
    }
    for (size_t i = 0; i < dl->n_attempts; i++) {
        const struct attempt *a = &dl->attempts[i];
        json_t *one = json_pack("{s:i, s:o, s:I, s:o, s:o}", "attempt", a->n, "at",
                                time_or_null(a->at_ms), "durationMs", (json_int_t)a->duration_ms,
                                "status", a->status > 0 ? json_integer(a->status) : json_null(),
                                "error", utf8_json_or_null(a->error, ATTEMPT_ERROR_MAX));
        if (one == NULL || json_array_append_new(attempts, one) != 0) {
            goto fail;
        }
    }
    json_t *source = json_pack("{s:s?, s:i, s:I}", "topic", dl->source_topic, "partition",
                               (int)dl->source_partition, "offset", (json_int_t)dl->source_offset);
    /* json_pack steals attempts and source even when it fails. */
    obj = json_pack("{s:i, s:s, s:s, s:s, s:s, s:s, s:s, s:o, s:o, s:o, s:i, s:o}", "version", 1,
                    "deliveryId", dl->id, "eventId", dl->event_id, "eventType", dl->event_type,
                    "accountId", dl->account_id, "endpointId", dl->endpoint_id, "endpointUrl",
                    dl->url, "firstAttemptAt", time_or_null(dl->first_attempt_ms), "nextAttemptAt",
                    time_or_null(dl->due_ms), "attempts", attempts, "deferred", dl->deferrals,
                    "source", source);
    if (obj == NULL) {
        return NULL;
    }
    if (dl->attempts_omitted > 0 &&
        json_object_set_new(obj, "attemptsOmitted",
                            json_integer((json_int_t)dl->attempts_omitted)) != 0) {
        goto fail_obj;
    }
    if (dl->replayed_from != NULL &&
        json_object_set_new(obj, "replayedFrom", json_string(dl->replayed_from)) != 0) {
        goto fail_obj;
    }
    return obj;
fail:
    json_decref(attempts);
    return NULL;
fail_obj:
    json_decref(obj);
    return NULL;
}

void delivery_write_attempt(struct jsonw *w, const struct attempt *a)
{
    jsonw_key(w, "attempt");
    jsonw_int(w, a->n);
    jsonw_key(w, "at");
    jsonw_time(w, a->at_ms);
    jsonw_key(w, "durationMs");
    jsonw_int(w, a->duration_ms);
    jsonw_key(w, "status");
    if (a->status > 0) {
        jsonw_int(w, a->status);
    } else {
        jsonw_null(w);
    }
    jsonw_key(w, "error");
    jsonw_str_repaired(w, a->error, ATTEMPT_ERROR_MAX);
}

/* The record's fields in the order DESIGN section 3 gives them, written
 * straight into one buffer (jsonw), then the event byte for byte as it
 * arrived, last.  A dead letter adds its reason and time before the event.
 * The same text as json_dumps of delivery_record_meta with the event
 * spliced in (tests/fuzz/fuzz_delivery.c checks it byte for byte). */
static char *write_record(const struct delivery *dl, const char *reason,
                          int64_t dead_lettered_at_ms, size_t *lenp)
{
    struct jsonw w;
    jsonw_init(&w, dl->body->len + 512 + dl->n_attempts * 128);
    jsonw_object(&w);
    jsonw_key(&w, "version");
    jsonw_int(&w, 1);
    jsonw_key(&w, "deliveryId");
    jsonw_str(&w, dl->id);
    jsonw_key(&w, "eventId");
    jsonw_str(&w, dl->event_id);
    jsonw_key(&w, "eventType");
    jsonw_str(&w, dl->event_type);
    jsonw_key(&w, "accountId");
    jsonw_str(&w, dl->account_id);
    jsonw_key(&w, "endpointId");
    jsonw_str(&w, dl->endpoint_id);
    jsonw_key(&w, "endpointUrl");
    jsonw_str(&w, dl->url);
    jsonw_key(&w, "firstAttemptAt");
    jsonw_time(&w, dl->first_attempt_ms);
    jsonw_key(&w, "nextAttemptAt");
    jsonw_time(&w, dl->due_ms);
    jsonw_key(&w, "attempts");
    jsonw_array(&w);
    for (size_t i = 0; i < dl->n_attempts; i++) {
        jsonw_object(&w);
        delivery_write_attempt(&w, &dl->attempts[i]);
        jsonw_close(&w);
    }
    jsonw_close(&w);
    jsonw_key(&w, "deferred");
    jsonw_int(&w, dl->deferrals);
    jsonw_key(&w, "source");
    jsonw_object(&w);
    jsonw_key(&w, "topic");
    jsonw_str(&w, dl->source_topic);
    jsonw_key(&w, "partition");
    jsonw_int(&w, dl->source_partition);
    jsonw_key(&w, "offset");
    jsonw_int(&w, dl->source_offset);
    jsonw_close(&w);
    if (dl->attempts_omitted > 0) {
        jsonw_key(&w, "attemptsOmitted");
        jsonw_int(&w, (int64_t)dl->attempts_omitted);
    }
    if (dl->replayed_from != NULL) {
        jsonw_key(&w, "replayedFrom");
        jsonw_str(&w, dl->replayed_from);
    }
    if (reason != NULL) {
        jsonw_key(&w, "reason");
        jsonw_str(&w, reason);
        jsonw_key(&w, "deadLetteredAt");
        jsonw_time(&w, dead_lettered_at_ms);
    }
    jsonw_key(&w, "event");
    jsonw_raw(&w, dl->body->data, dl->body->len);
    jsonw_close(&w);
    return jsonw_finish(&w, lenp);
}

char *delivery_to_record(const struct delivery *dl, size_t *lenp)
{
    return write_record(dl, NULL, 0, lenp);
}

char *delivery_to_dead_letter(const struct delivery *dl, const char *reason,
                              int64_t dead_lettered_at_ms, size_t *lenp)
{
    return write_record(dl, reason, dead_lettered_at_ms, lenp);
}

static int get_time(json_t *obj, const char *key, int64_t *ms, char *errstr, size_t errstr_size)
{
    json_t *v = json_object_get(obj, key);
    if (json_is_null(v)) {
        *ms = 0;
        return 0;
    }
    if (!json_is_string(v) || util_parse_time(json_string_value(v), ms) != 0) {
        util_errf(errstr, errstr_size, "\"%s\" must be an RFC 3339 time", key);
        return -1;
    }
    return 0;
}

/* Where the value of the record's top-level "event" key lies in text (len
 * bytes that jansson has parsed as a JSON object, so valid JSON): sets
 * [*from, *to) and returns 0, or -1 when there is no such object value.
 * Strings are skipped with their escapes, so nothing inside one is taken
 * for structure; a top-level key repeated counts the last time, as for
 * jansson's object.  One pass over the bytes, no document built. */
static int event_span(const char *text, size_t len, size_t *from, size_t *to)
{
    static const char key[] = "\"event\"";
    int depth = 0, found = 0;
    char last = 0;     /* the last byte outside strings that is not blank */
    size_t start = 0;  /* where the value being followed begins */
    int following = 0; /* between its '{' and the '}' that closes it */
    for (size_t i = 0; i < len; i++) {
        char c = text[i];
        if (c == '"') {
            /* Exactly "event" (its 7th byte the closing quote), as a key of
             * the record itself. */
            int is_key = depth == 1 && (last == '{' || last == ',') && len - i >= sizeof(key) - 1 &&
                         memcmp(text + i, key, sizeof(key) - 1) == 0;
            size_t j = i + 1;
            while (j < len && text[j] != '"') {
                j += text[j] == '\\' ? 2 : 1;
            }
            i = j; /* the closing quote */
            last = '"';
            if (is_key) {
                /* Its value follows the ':'. */
                size_t k = j + 1;
                while (k < len && (text[k] == ' ' || text[k] == '\t' || text[k] == '\n' ||
                                   text[k] == '\r' || text[k] == ':')) {
                    k++;
                }
                if (k < len && text[k] == '{') {
                    start = k;
                    following = 1;
                }
            }
            continue;
        }
        if (c == '{' || c == '[') {
            depth++;
        } else if (c == '}' || c == ']') {
            depth--;
            if (following && depth == 1) {
                *from = start;
                *to = i + 1;
                following = 0;
                found = 1;
            }
        }
        if (c != ' ' && c != '\t' && c != '\n' && c != '\r') {
            last = c;
        }
    }
    return found ? 0 : -1;
}

/* The event's bytes as they were first consumed: the raw bytes of the
 * record's "event" value, so retries POST exactly what the first attempt
 * did (records written by delivery_to_record embed them byte for byte).
 * When they cannot be found, the event is serialised compactly. */
static struct payload *original_event(const char *value, size_t len, json_t *event)
{
    size_t from, to;
    if (event_span(value, len, &from, &to) == 0) {
        return payload_new(value + from, to - from);
    }
    char *body = json_dumps(event, JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(17));
    if (body == NULL) {
        return NULL;
    }
    struct payload *p = payload_new(body, strlen(body));
    free(body);
    return p;
}

struct delivery *delivery_from_record(const void *value, size_t len, char *errstr,
                                      size_t errstr_size)
{
    const char *text = value;
    struct delivery *dl = NULL;
    json_error_t jerr;
    json_t *root = json_loadb(value, len, 0, &jerr);
    if (root == NULL) {
        util_errf(errstr, errstr_size, "delivery record is not valid JSON: %s at byte %d",
                  redact_json_error(&jerr), jerr.position);
        goto out;
    }
    int version = 0;
    const char *id, *event_id, *event_type, *account_id, *endpoint_id, *url;
    json_t *event, *attempts, *source;
    if (json_unpack_ex(root, &jerr, 0, "{s:i, s:s, s:s, s:s, s:s, s:s, s:s, s:o, s:o, s:o}",
                       "version", &version, "deliveryId", &id, "eventId", &event_id, "eventType",
                       &event_type, "accountId", &account_id, "endpointId", &endpoint_id,
                       "endpointUrl", &url, "event", &event, "attempts", &attempts, "source",
                       &source) != 0) {
        util_errf(errstr, errstr_size, "delivery record: %s", jerr.text);
        goto out;
    }
    if (version != 1) {
        util_errf(errstr, errstr_size, "delivery record version %d is not supported (expected 1)",
                  version);
        goto out;
    }
    char why[256];
    if (endpoint_check_id(endpoint_id, why, sizeof(why)) != 0) {
        /* It becomes a Kafka key and a registry lookup: the same rule as
         * the endpoints topic's ids. */
        util_errf(errstr, errstr_size, "delivery record: endpointId: %s", why);
        goto out;
    }
    if (!json_is_object(event) || !json_is_array(attempts) || !json_is_object(source) ||
        !util_is_uuid(id)) {
        util_errf(errstr, errstr_size,
                  "delivery record: event must be an object, attempts an array, source an "
                  "object and deliveryId a UUID");
        goto out;
    }
    struct payload *p = original_event(text, len, event);
    if (p == NULL) {
        util_errf(errstr, errstr_size, "delivery record: event cannot be serialised");
        goto out;
    }
    dl = delivery_new(event_id, event_type, account_id, endpoint_id, url, p);
    payload_unref(p);
    memcpy(dl->id, id, UTIL_UUID_LEN - 1);
    dl->id[UTIL_UUID_LEN - 1] = '\0';

    if (get_time(root, "firstAttemptAt", &dl->first_attempt_ms, errstr, errstr_size) != 0 ||
        get_time(root, "nextAttemptAt", &dl->due_ms, errstr, errstr_size) != 0) {
        goto fail;
    }
    json_t *omitted = json_object_get(root, "attemptsOmitted");
    json_int_t n_omitted = json_is_integer(omitted) ? json_integer_value(omitted) : 0;
    if (n_omitted < 0 || n_omitted > ATTEMPTS_OMITTED_MAX) {
        util_errf(errstr, errstr_size, "delivery record: attemptsOmitted is out of range");
        goto fail;
    }
    size_t i;
    json_t *a;
    json_array_foreach(attempts, i, a)
    {
        if (i == ATTEMPTS_KEEP_FIRST) {
            /* The omitted ones come between the first and the latest. */
            dl->attempts_omitted = (size_t)n_omitted;
        }
        json_int_t dur = 0;
        json_t *status = NULL, *error = NULL;
        const char *at = NULL;
        int64_t at_ms = 0;
        if (json_unpack_ex(a, &jerr, 0, "{s:s, s:I, s?o, s?o}", "at", &at, "durationMs", &dur,
                           "status", &status, "error", &error) != 0 ||
            util_parse_time(at, &at_ms) != 0) {
            util_errf(errstr, errstr_size, "delivery record: attempt %zu is malformed", i + 1);
            goto fail;
        }
        /* An HTTP status is 100 to 999; anything else was no answer (a
         * record says so with null, and writing it back must say the
         * same). */
        json_int_t st = json_is_integer(status) ? json_integer_value(status) : 0;
        delivery_add_attempt(dl, at_ms, dur, st >= 100 && st <= 999 ? (int)st : 0,
                             json_is_string(error) ? json_string_value(error) : NULL);
    }
    json_t *stopic_v = NULL;
    int spart = -1;
    json_int_t soff = -1;
    if (json_unpack_ex(source, &jerr, 0, "{s?o, s?i, s?I}", "topic", &stopic_v, "partition", &spart,
                       "offset", &soff) != 0) {
        util_errf(errstr, errstr_size, "delivery record: source: %s", jerr.text);
        goto fail;
    }
    if (stopic_v != NULL && !json_is_string(stopic_v) && !json_is_null(stopic_v)) {
        util_errf(errstr, errstr_size, "delivery record: source.topic must be a string or null");
        goto fail;
    }
    if (json_is_string(stopic_v)) {
        delivery_set_source(dl, json_string_value(stopic_v), spart, soff);
    }
    json_t *deferred = json_object_get(root, "deferred");
    if (json_is_integer(deferred) && json_integer_value(deferred) > 0 &&
        json_integer_value(deferred) < INT_MAX) {
        dl->deferrals = (int)json_integer_value(deferred);
    }
    json_t *rf = json_object_get(root, "replayedFrom");
    if (json_is_string(rf)) {
        dl->replayed_from = xstrdup(json_string_value(rf));
    }
    goto out;
fail:
    delivery_destroy(dl);
    dl = NULL;
out:
    json_decref(root);
    return dl;
}
