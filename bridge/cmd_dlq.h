/*
 * cmd_dlq: the `dlq` subcommand (see its --help).  Thread: main.
 */
#ifndef BRIDGE_CMD_DLQ_H
#define BRIDGE_CMD_DLQ_H

/* argv[0] is "dlq".  Returns the exit code. */
int cmd_dlq_main(int argc, char **argv);

#endif
