// relmimic nets: the paper's networks at 84x84xk with parameter counts (value-network form:
// torso + 1-unit head; the reward nets with their logit), forward FLOPs per sample (2 MAC +
// bias + adds + standardize), attention FLOPs apart, and the number of conv layers.
#include <cstdio>
#include <string>
#include <vector>

#include "engine/networks.h"
#include "tools/cli.h"
#include "tools/commands.h"

namespace relmimic::cli {

namespace {

struct NetRow {
  std::string name;
  long params, flops, attention_flops;
  int conv_layers;
};

template <class Net>
NetRow row_of(const std::string& name, const Net& net) {
  return {name, net.params(), net.flops(), net.attention_flops(), net.conv_layers()};
}

// 1234567 -> "1,234,567"
std::string grouped(long v) {
  const std::string s = std::to_string(v);
  std::string out;
  for (size_t i = 0; i < s.size(); ++i) {
    out += s[i];
    const size_t left = s.size() - 1 - i;  // digits still to come
    if (left > 0 && left % 3 == 0 && s[i] != '-') out += ',';
  }
  return out;
}

std::vector<NetRow> build_rows(int frames) {
  std::vector<NetRow> rows;
  for (Arch a : {Arch::nature, Arch::impala, Arch::local, Arch::nonlocal}) {
    AgentConfig c;
    c.arch = a;
    c.frames = frames;
    c.max_batch = 1;
    rows.push_back(row_of(arch_name(a), AgentNet<float>(c)));
  }
  for (bool relational : {true, false}) {
    RewardConfig c;
    c.frames = frames;
    c.relational = relational;
    c.max_batch = 1;
    rows.push_back(row_of(relational ? "reward" : "reward_baseline", RewardNet<float>(c)));
  }
  return rows;
}

}  // namespace

int cmd_nets(int argc, char** argv) {
  int frames = 4;
  bool json = false;
  Args a("nets", "print the paper's networks with parameter and FLOP counts");
  a.add("--frames", frames, "frames stacked per observation (k)");
  a.flag("--json", json, "print JSON instead of a table");
  if (!a.parse(argc, argv)) return a.exit_code();
  RM_CHECK(frames >= 1 && frames <= 64, "--frames must be in [1, 64], got ", frames);

  const std::vector<NetRow> rows = build_rows(frames);
  if (json) {
    std::printf("[");
    for (size_t i = 0; i < rows.size(); ++i) {
      const NetRow& r = rows[i];
      std::printf(
          "%s{\"name\": \"%s\", \"params\": %ld, \"flops\": %ld, \"attention_flops\": %ld, "
          "\"conv_layers\": %d}",
          i ? ",\n " : "", r.name.c_str(), r.params, r.flops, r.attention_flops, r.conv_layers);
    }
    std::printf("]\n");
    return 0;
  }
  std::printf("networks at 84x84x%d (params: torso + 1-unit head; FLOPs: forward, per sample)\n\n",
              frames);
  std::printf("%-16s %12s %14s %16s %12s\n", "network", "params", "FLOPs", "attention FLOPs",
              "conv layers");
  for (const NetRow& r : rows)
    std::printf("%-16s %12s %14s %16s %12d\n", r.name.c_str(), grouped(r.params).c_str(),
                grouped(r.flops).c_str(), grouped(r.attention_flops).c_str(), r.conv_layers);
  return 0;
}

}  // namespace relmimic::cli
