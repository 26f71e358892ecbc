/*
 * cmd_endpoints: the `endpoints list|put|delete` subcommand (see its
 * --help).  Thread: main.
 */
#ifndef BRIDGE_CMD_ENDPOINTS_H
#define BRIDGE_CMD_ENDPOINTS_H

/* argv[0] is "endpoints".  Returns the exit code. */
int cmd_endpoints_main(int argc, char **argv);

#endif
