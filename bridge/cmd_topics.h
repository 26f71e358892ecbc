/*
 * cmd_topics: the `topics create|check` subcommand (see its --help).
 * Thread: main.
 */
#ifndef BRIDGE_CMD_TOPICS_H
#define BRIDGE_CMD_TOPICS_H

/* argv[0] is "topics".  Returns the exit code. */
int cmd_topics_main(int argc, char **argv);

#endif
