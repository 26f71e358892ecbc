/*
 * cmd_sendtest: the `send-test` subcommand (see its --help).  Thread: main.
 */
#ifndef BRIDGE_CMD_SENDTEST_H
#define BRIDGE_CMD_SENDTEST_H

/* argv[0] is "send-test".  Returns the exit code. */
int cmd_sendtest_main(int argc, char **argv);

#endif
