/*
 * idleconns: idle TCP connections against a server, for the receive test
 * (tests/e2e/receive.sh).
 *
 *   idleconns PORT COUNT SECONDS
 *
 * Opens COUNT connections to 127.0.0.1:PORT and sends nothing on them.
 * Prints "open COUNT" once all are connected (the server may not have
 * accepted them yet), then waits up to SECONDS for the server to close them
 * and prints "closed K of COUNT first_ms F last_ms L": how many it closed
 * and when the first and the last closure were seen, in milliseconds after
 * the "open" line (-1 when none).
 *
 * The open file limit is raised to fit COUNT.  Exit codes: 0 done, 1 a
 * connection or the limit failed, 2 bad usage.  One thread.
 */
#include <errno.h>
#include <limits.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <arpa/inet.h>

#include "util.h"

#define MAX_COUNT 100000
#define RESERVED_FDS 16

static long long now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Raises the soft open file limit to fit count sockets. */
static int fit_limit(long count)
{
    struct rlimit rl;
    rlim_t want = (rlim_t)count + RESERVED_FDS;
    if (getrlimit(RLIMIT_NOFILE, &rl) != 0) {
        return -1;
    }
    if (rl.rlim_cur != RLIM_INFINITY && rl.rlim_cur < want) {
        if (rl.rlim_max != RLIM_INFINITY && rl.rlim_max < want) {
            return -1;
        }
        rl.rlim_cur = want;
        return setrlimit(RLIMIT_NOFILE, &rl);
    }
    return 0;
}

int main(int argc, char **argv)
{
    struct sockaddr_in sin;
    struct pollfd *pfd = NULL;
    long port, count, seconds;
    long closed = 0;
    long long start, first = -1, last = -1;
    int rc = 1;

    if (argc != 4 || (port = util_parse_count(argv[1], 1, 65535)) < 0 ||
        (count = util_parse_count(argv[2], 1, MAX_COUNT)) < 0 ||
        (seconds = util_parse_count(argv[3], 0, 3600)) < 0) {
        fprintf(stderr, "usage: idleconns PORT COUNT SECONDS\n");
        return 2;
    }
    if (fit_limit(count) != 0) {
        fprintf(stderr, "idleconns: cannot raise the open file limit to %ld\n",
                count + RESERVED_FDS);
        return 1;
    }
    pfd = xcalloc((size_t)count, sizeof(*pfd));
    for (long i = 0; i < count; i++) {
        pfd[i].fd = -1;
    }
    memset(&sin, 0, sizeof(sin));
    sin.sin_family = AF_INET;
    sin.sin_port = htons((uint16_t)port);
    sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    for (long i = 0; i < count; i++) {
        int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (fd < 0) {
            fprintf(stderr, "idleconns: socket %ld: %s\n", i, strerror(errno));
            goto out;
        }
        pfd[i].fd = fd;
        pfd[i].events = POLLIN;
        if (connect(fd, (const struct sockaddr *)&sin, sizeof(sin)) != 0) {
            fprintf(stderr, "idleconns: connect %ld: %s\n", i, strerror(errno));
            goto out;
        }
    }
    printf("open %ld\n", count);
    fflush(stdout);

    /* A closed connection polls readable (EOF) or with an error; the server
     * sends nothing else on an idle one. */
    start = now_ms();
    while (closed < count) {
        long long left = start + seconds * 1000LL - now_ms();
        if (left <= 0) {
            break;
        }
        int n = poll(pfd, (nfds_t)count, left > INT_MAX ? INT_MAX : (int)left);
        if (n < 0 && errno != EINTR) {
            fprintf(stderr, "idleconns: poll: %s\n", strerror(errno));
            goto out;
        }
        for (long i = 0; n > 0 && i < count; i++) {
            if (pfd[i].fd < 0 || pfd[i].revents == 0) {
                continue;
            }
            char c;
            if ((pfd[i].revents & POLLIN) != 0 && recv(pfd[i].fd, &c, 1, MSG_DONTWAIT) > 0) {
                continue; /* data, not a close: keep waiting for the EOF */
            }
            long long at = now_ms() - start;
            if (first < 0) {
                first = at;
            }
            last = at;
            close(pfd[i].fd);
            pfd[i].fd = -1; /* poll ignores negative descriptors */
            closed++;
        }
    }
    printf("closed %ld of %ld first_ms %lld last_ms %lld\n", closed, count, first, last);
    fflush(stdout);
    rc = 0;
out:
    for (long i = 0; pfd != NULL && i < count; i++) {
        if (pfd[i].fd >= 0) {
            close(pfd[i].fd);
        }
    }
    free(pfd);
    return rc;
}
