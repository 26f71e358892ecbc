/*
 * cmd_attempts: the `attempts` subcommand (see its --help).  Thread: main.
 */
#ifndef BRIDGE_CMD_ATTEMPTS_H
#define BRIDGE_CMD_ATTEMPTS_H

#include <stddef.h>

#include <jansson.h>

/* argv[0] is "attempts".  Returns the exit code. */
int cmd_attempts_main(int argc, char **argv);

/* Response bytes `attempts` prints. */
#define CMD_ATTEMPTS_SHOWN 200

/* One attempt record as `attempts` sees it. */
struct cmd_attempts_record {
    json_t *rec; /* the record (owned; --json prints it), NULL when unreadable */
    /* What the table shows, printable (cli_printable). */
    char *endpoint_id;     /* "" when absent */
    char *endpoint_url;    /* "" when absent */
    char *at;              /* "-" when absent */
    long long attempt;     /* 0 when absent */
    long long duration_ms; /* 0 when absent */
    char result[256];      /* "503", "503 <error>", "<error>" or "-" */
    char *response;        /* the response's first CMD_ATTEMPTS_SHOWN bytes; NULL: none */
    size_t response_len;   /* the whole response's length in bytes */
    int response_binary;   /* the response was not text (responseBase64) */
    char why[256];         /* when unreadable: why */
};

/* Parses an attempt record's value (len bytes, any bytes: NUL, which the
 * bridge writes as \u0000 in a response, included) into r.  Pure: the
 * command and its fuzz target call it.  Returns 0, or -1 when the record is
 * unreadable (not a JSON object; r->why says why, r->rec is NULL).  Either
 * way release r with cmd_attempts_record_deinit. */
int cmd_attempts_record_parse(struct cmd_attempts_record *r, const void *value, size_t len);
void cmd_attempts_record_deinit(struct cmd_attempts_record *r);

#endif
