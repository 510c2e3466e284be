#include "tools/cli.h"
#include "tools/commands.h"

namespace relmimic::cli {

int cmd_nets(int argc, char** argv) {
  int frames = 4;
  bool json = false;
  Args a("nets", "print the paper's networks with parameter and FLOP counts");
  a.add("--frames", frames, "frames stacked per observation (k)");
  a.flag("--json", json, "print JSON instead of a table");
  if (!a.parse(argc, argv)) return a.exit_code();
  return 1;
}

}  // namespace relmimic::cli
