/*
 * receive: the `webhook-bridge receive` subcommand, a local webhook receiver
 * for tests and demos.  It answers POSTs with a scripted status (optionally
 * failing the first N, delaying, or dropping the connection) and prints one
 * line per delivery on stdout.
 */
#ifndef BRIDGE_RECEIVE_H
#define BRIDGE_RECEIVE_H

/* Runs the receiver until SIGINT or SIGTERM.  argv[0] is "receive"; the
 * options are described by `receive --help`.  Returns the process exit code:
 * 0 ok, 1 failure (e.g. cannot bind), 2 bad usage.
 * Thread: the main thread, before any other thread starts (it blocks SIGINT
 * and SIGTERM in the calling thread and waits for them with sigwait). */
int receive_main(int argc, char **argv);

#endif
