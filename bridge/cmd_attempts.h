/*
 * cmd_attempts: the `attempts` subcommand (see its --help).  Thread: main.
 */
#ifndef BRIDGE_CMD_ATTEMPTS_H
#define BRIDGE_CMD_ATTEMPTS_H

/* argv[0] is "attempts".  Returns the exit code. */
int cmd_attempts_main(int argc, char **argv);

#endif
