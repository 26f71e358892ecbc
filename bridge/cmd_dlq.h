/*
 * cmd_dlq: the `dlq` subcommand (see its --help).  Thread: main.
 */
#ifndef BRIDGE_CMD_DLQ_H
#define BRIDGE_CMD_DLQ_H

#include <stddef.h>

#include <jansson.h>

/* argv[0] is "dlq".  Returns the exit code. */
int cmd_dlq_main(int argc, char **argv);

#define CMD_DLQ_LAST_LEN 64

/* One dead-letter record as every dlq subcommand sees it. */
struct cmd_dlq_record {
    json_t *rec; /* the record (owned), NULL when it is unreadable */
    /* What the listing shows, printable (cli_printable), "-" when absent. */
    char *time, *reason, *event_type, *account_id, *endpoint_id, *delivery_id;
    size_t n_attempts;
    char last[CMD_DLQ_LAST_LEN]; /* the last attempt's status, or its error up to ':', or "-" */
    char why[256];               /* when unreadable: why */
};

/* Parses a dead-letter record's value (len bytes, any bytes: NUL, which
 * the bridge writes as \u0000, included) into r.  Pure: the command and
 * its fuzz target call it.  Returns 0, or -1 when the record is unreadable
 * (not a JSON object): then r->rec is NULL, r->why says why and the other
 * fields are "-".  Either way release r with cmd_dlq_record_deinit. */
int cmd_dlq_record_parse(struct cmd_dlq_record *r, const void *value, size_t len);
void cmd_dlq_record_deinit(struct cmd_dlq_record *r);

/* The original bytes of an invalid_event dead letter ("raw", or
 * "rawBase64" decoded), malloc'd with a NUL after *len bytes; NULL when
 * the record has neither or the base64 is not valid. */
char *cmd_dlq_raw_event(const struct cmd_dlq_record *r, size_t *len);

#endif
