// relmimic: one binary, one subcommand per job (see `relmimic --help`).
#include <cstdio>
#include <cstring>
#include <exception>

#include "engine/comm.h"
#include "tools/commands.h"

namespace {
void print_help() {
  std::puts("usage: relmimic <command> [options]\n\ncommands:");
  for (const auto& c : relmimic::cli::kCommands) std::printf("  %-10s %s\n", c.name, c.summary);
  std::puts("\n`relmimic <command> --help` describes each command's options.");
}
}  // namespace

int main(int argc, char** argv) {
  if (argc < 2 || !std::strcmp(argv[1], "--help") || !std::strcmp(argv[1], "-h")) {
    print_help();
    return argc < 2 ? 2 : 0;
  }
  for (const auto& c : relmimic::cli::kCommands) {
    if (std::strcmp(argv[1], c.name) != 0) continue;
    try {
      return c.run(argc - 2, argv + 2);
    } catch (const std::exception& e) {
      std::fprintf(stderr, "relmimic %s: error: %s\n", c.name, e.what());
      // The other learners would wait forever in their next collective: end the whole job.
      if (relmimic::Comm::world_is_parallel()) relmimic::Comm::world().abort(1);
      return 1;
    }
  }
  std::fprintf(stderr, "relmimic: unknown command '%s' (see relmimic --help)\n", argv[1]);
  return 2;
}
