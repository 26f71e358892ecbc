/*
 * c11threads: glibc's C11 threads (<threads.h>) on top of POSIX threads, for
 * the ThreadSanitizer build only (make tsan links it into every binary of
 * build/thread/; no other build has it).
 *
 * Why: Debian's librdkafka 2.0.2 starts its threads with thrd_create and
 * locks with mtx_lock and cnd_wait.  Neither GCC 12's nor clang 14's TSan
 * runtime intercepts the C11 functions, and glibc implements them with
 * internal calls that bypass the pthread interceptors.  So librdkafka's
 * threads had no TSan state and the first intercepted call they made (a
 * malloc) crashed inside the runtime, and its locks gave TSan no
 * happens-before edges, so every object handed to us through a librdkafka
 * queue (delivery reports, rebalance and log callbacks) would look raced.
 *
 * How: these definitions sit in the executable, which the dynamic linker
 * searches before libc, so librdkafka's calls (versioned GLIBC_2.34
 * references) bind here; each forwards to the pthread function that glibc's
 * own implementation calls, through the TSan interceptor.  The casts are the
 * ones glibc makes: mtx_t, cnd_t and once_flag have the size and layout of
 * pthread_mutex_t, pthread_cond_t and pthread_once_t, and thrd_t is
 * pthread_t.  Only the functions librdkafka imports are here (nm -D
 * librdkafka.so.1 | grep -E 'thrd_|mtx_|cnd_|call_once'); thrd_current needs
 * no shim.
 *
 * What TSan sees: the ordering these calls give (lock, unlock, wait, signal,
 * create, join), and not the memory accesses the interceptors imitate on
 * the lock itself (a write at init and destroy, a read at lock): the mutexes
 * live in librdkafka's objects, which it shares between its threads through
 * reference counts TSan cannot see, so those accesses would be reported as
 * races in librdkafka's object lifecycle.  That is what tsan.supp's
 * called_from_lib does to the pthread calls librdkafka makes itself.
 *
 * Threads: called from any thread, as the C11 functions are.
 */
#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <threads.h>

/* The TSan runtime's annotations (GCC's and clang's): the accesses of the
 * calling thread in between are not checked; ordering still is. */
void AnnotateIgnoreReadsBegin(const char *file, int line);
void AnnotateIgnoreReadsEnd(const char *file, int line);
void AnnotateIgnoreWritesBegin(const char *file, int line);
void AnnotateIgnoreWritesEnd(const char *file, int line);

#define IGNORE_BEGIN()                                                                             \
    do {                                                                                           \
        AnnotateIgnoreReadsBegin(__FILE__, __LINE__);                                              \
        AnnotateIgnoreWritesBegin(__FILE__, __LINE__);                                             \
    } while (0)
#define IGNORE_END()                                                                               \
    do {                                                                                           \
        AnnotateIgnoreWritesEnd(__FILE__, __LINE__);                                               \
        AnnotateIgnoreReadsEnd(__FILE__, __LINE__);                                                \
    } while (0)

_Static_assert(sizeof(mtx_t) == sizeof(pthread_mutex_t), "mtx_t is a pthread_mutex_t");
_Static_assert(sizeof(cnd_t) == sizeof(pthread_cond_t), "cnd_t is a pthread_cond_t");
_Static_assert(sizeof(once_flag) == sizeof(pthread_once_t), "once_flag is a pthread_once_t");
_Static_assert(sizeof(thrd_t) == sizeof(pthread_t), "thrd_t is a pthread_t");

struct c11_start {
    thrd_start_t func;
    void *arg;
};

static int c11_status(int err)
{
    switch (err) {
    case 0:
        return thrd_success;
    case ENOMEM:
        return thrd_nomem;
    case EBUSY:
        return thrd_busy;
    case ETIMEDOUT:
        return thrd_timedout;
    default:
        return thrd_error;
    }
}

static void *c11_trampoline(void *p)
{
    struct c11_start start = *(struct c11_start *)p;
    free(p);
    return (void *)(intptr_t)start.func(start.arg);
}

int thrd_create(thrd_t *thr, thrd_start_t func, void *arg)
{
    struct c11_start *start = malloc(sizeof(*start));
    if (start == NULL) {
        return thrd_nomem;
    }
    start->func = func;
    start->arg = arg;
    int err = pthread_create((pthread_t *)thr, NULL, c11_trampoline, start);
    if (err != 0) {
        free(start);
    }
    return c11_status(err);
}

int thrd_join(thrd_t thr, int *res)
{
    void *ret = NULL;
    int err = pthread_join((pthread_t)thr, &ret);
    if (err == 0 && res != NULL) {
        *res = (int)(intptr_t)ret;
    }
    return c11_status(err);
}

int mtx_init(mtx_t *mtx, int type)
{
    pthread_mutexattr_t attr;
    pthread_mutexattr_init(&attr);
    if (type & mtx_recursive) {
        pthread_mutexattr_settype(&attr, PTHREAD_MUTEX_RECURSIVE);
    }
    IGNORE_BEGIN();
    int err = pthread_mutex_init((pthread_mutex_t *)mtx, &attr);
    IGNORE_END();
    pthread_mutexattr_destroy(&attr);
    return c11_status(err);
}

void mtx_destroy(mtx_t *mtx)
{
    IGNORE_BEGIN();
    pthread_mutex_destroy((pthread_mutex_t *)mtx);
    IGNORE_END();
}

int mtx_lock(mtx_t *mtx)
{
    IGNORE_BEGIN();
    int err = pthread_mutex_lock((pthread_mutex_t *)mtx);
    IGNORE_END();
    return c11_status(err);
}

int mtx_unlock(mtx_t *mtx)
{
    IGNORE_BEGIN();
    int err = pthread_mutex_unlock((pthread_mutex_t *)mtx);
    IGNORE_END();
    return c11_status(err);
}

int cnd_init(cnd_t *cnd)
{
    IGNORE_BEGIN();
    int err = pthread_cond_init((pthread_cond_t *)cnd, NULL);
    IGNORE_END();
    return c11_status(err);
}

void cnd_destroy(cnd_t *cnd)
{
    IGNORE_BEGIN();
    pthread_cond_destroy((pthread_cond_t *)cnd);
    IGNORE_END();
}

int cnd_signal(cnd_t *cnd)
{
    IGNORE_BEGIN();
    int err = pthread_cond_signal((pthread_cond_t *)cnd);
    IGNORE_END();
    return c11_status(err);
}

int cnd_broadcast(cnd_t *cnd)
{
    IGNORE_BEGIN();
    int err = pthread_cond_broadcast((pthread_cond_t *)cnd);
    IGNORE_END();
    return c11_status(err);
}

int cnd_wait(cnd_t *cnd, mtx_t *mtx)
{
    IGNORE_BEGIN();
    int err = pthread_cond_wait((pthread_cond_t *)cnd, (pthread_mutex_t *)mtx);
    IGNORE_END();
    return c11_status(err);
}

int cnd_timedwait(cnd_t *restrict cnd, mtx_t *restrict mtx, const struct timespec *restrict ts)
{
    IGNORE_BEGIN();
    int err = pthread_cond_timedwait((pthread_cond_t *)cnd, (pthread_mutex_t *)mtx, ts);
    IGNORE_END();
    return c11_status(err);
}

void call_once(once_flag *flag, void (*func)(void))
{
    pthread_once((pthread_once_t *)flag, func);
}
