// Every subcommand of the relmimic binary: argc/argv exclude the program and command names.
#pragma once

namespace relmimic::cli {

struct Command {
  const char* name;
  const char* summary;
  int (*run)(int argc, char** argv);
};

int cmd_nets(int argc, char** argv);

// The table, in the order `relmimic --help` lists them.
inline constexpr Command kCommands[] = {
    {"nets", "print the paper's networks with parameter and FLOP counts", cmd_nets},
};

}  // namespace relmimic::cli
