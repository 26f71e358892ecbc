/*
 * cmd_produce: the `produce` subcommand (see its --help).  Thread: main.
 */
#ifndef BRIDGE_CMD_PRODUCE_H
#define BRIDGE_CMD_PRODUCE_H

/* argv[0] is "produce".  Returns the exit code. */
int cmd_produce_main(int argc, char **argv);

#endif
