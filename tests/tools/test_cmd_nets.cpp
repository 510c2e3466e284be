// `relmimic nets`: runs the binary and checks its JSON (the paper's parameter counts) and errors.
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <cstdio>
#include <regex>
#include <string>
#include <vector>

#include "tests/test_util.h"

namespace {

using Result = relmimic::testing::CommandResult;
Result run(const std::string& args) {
  return relmimic::testing::run_relmimic(args);
}

struct Net {
  std::string name;
  long params, flops, attention_flops;
  int conv_layers;
};

std::vector<Net> parse(const std::string& json) {
  const std::regex obj(R"re(\{\s*"name":\s*"(\w+)",\s*"params":\s*(\d+),\s*"flops":\s*(\d+),\s*)re"
                       R"re("attention_flops":\s*(\d+),\s*"conv_layers":\s*(\d+)\s*\})re");
  std::vector<Net> nets;
  for (auto it = std::sregex_iterator(json.begin(), json.end(), obj); it != std::sregex_iterator();
       ++it) {
    const std::smatch& m = *it;
    nets.push_back({m[1], std::stol(m[2]), std::stol(m[3]), std::stol(m[4]), std::stoi(m[5])});
  }
  return nets;
}

TEST(CmdNets, JsonHasThePaperCounts) {
  const Result r = run("nets --json");
  ASSERT_EQ(r.code, 0) << r.out;
  ASSERT_EQ(r.out.front(), '[') << r.out;
  const std::vector<Net> nets = parse(r.out);
  ASSERT_EQ(nets.size(), 6u) << r.out;
  const char* names[] = {"nature", "impala", "local", "nonlocal", "reward", "reward_baseline"};
  for (size_t i = 0; i < nets.size(); ++i) EXPECT_EQ(nets[i].name, names[i]);
  EXPECT_EQ(nets[1].params, 500177);  // Large IMPALA
  EXPECT_EQ(nets[2].params, 457505);  // Local
  EXPECT_EQ(nets[3].params, 457655);  // Non-local
  EXPECT_EQ(nets[2].attention_flops, 0);
  EXPECT_GT(nets[3].attention_flops, 0);
  EXPECT_GT(nets[3].flops, nets[2].flops);
  EXPECT_EQ(nets[5].attention_flops, 0);
  EXPECT_EQ(nets[4].conv_layers - nets[5].conv_layers, 8);  // two relational blocks
}

TEST(CmdNets, FramesChangeOnlyTheFirstConv) {
  const std::vector<Net> k4 = parse(run("nets --json").out);
  const Result r = run("nets --frames 8 --json");
  ASSERT_EQ(r.code, 0) << r.out;
  const std::vector<Net> k8 = parse(r.out);
  ASSERT_EQ(k4.size(), 6u);
  ASSERT_EQ(k8.size(), 6u);
  EXPECT_EQ(k8[2].params - k4[2].params, 4 * 5 * 5 * 32);  // local: conv 5x5, 32 channels
  EXPECT_EQ(k8[1].params - k4[1].params, 4 * 3 * 3 * 16);  // impala: conv 3x3, 16 channels
}

TEST(CmdNets, TableAndErrors) {
  const Result t = run("nets");
  ASSERT_EQ(t.code, 0) << t.out;
  EXPECT_NE(t.out.find("457,655"), std::string::npos) << t.out;
  EXPECT_NE(t.out.find("reward_baseline"), std::string::npos) << t.out;
  const Result bad = run("nets --frames 0");
  EXPECT_EQ(bad.code, 1);
  EXPECT_NE(bad.out.find("--frames must be in [1, 64]"), std::string::npos) << bad.out;
  EXPECT_EQ(run("nets --bogus").code, 2);
  EXPECT_EQ(run("nets --help").code, 0);
}

}  // namespace
