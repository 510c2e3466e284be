// `relmimic profile --kernels` on the CPU: after the phase table, a tree of named regions with
// calls, total and per-call time and share of the iteration; the relational block's parts appear
// for a relational variant and not for the baseline. Tiny settings keep each run short.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include "kernels/device.h"
#include "tests/test_util.h"

namespace {

namespace fs = std::filesystem;

fs::path root_dir() {
  static const fs::path root =
      fs::temp_directory_path() / ("relmimic_profile_regions_" + std::to_string(getpid()));
  return root;
}

relmimic::testing::SplitResult profile(const std::string& variant, const std::string& extra = "") {
  return relmimic::testing::run_relmimic_split(
      root_dir(), "profile --kernels --variant " + variant +
                      " --frames 2 --frame-size 32 --envs 2 --rollout-steps 8 --warmup 0 "
                      "--set ppo.minibatch=16 --set ppo.epochs=1 --set imitate.disc_minibatch=8 "
                      "--set imitate.disc_updates=1 --set disc.channels=4,8,8,8,8 "
                      "--set run.threads=1" +
                      extra);
}

struct Row {
  int depth = 0;
  long calls = 0;
  double ms = 0, per_call = 0, pct = 0;
};

// The region table: rows after the "region calls ..." header, keyed by "parent > name" paths.
std::map<std::string, Row> region_rows(const std::string& out) {
  std::map<std::string, Row> rows;
  std::istringstream in(out);
  std::string line;
  while (std::getline(in, line) && line.rfind("region ", 0) != 0) {
  }
  std::vector<std::string> stack;
  while (std::getline(in, line) && !line.empty()) {
    std::istringstream ws(line);
    std::vector<std::string> tok;
    for (std::string t; ws >> t;) tok.push_back(t);
    if (tok.size() < 5 || tok.back().back() != '%') {
      ADD_FAILURE() << "not a region row: '" << line << "'";
      continue;
    }
    Row r;
    r.depth = int(line.find_first_not_of(' ') / 2);
    const size_t k = tok.size();
    r.calls = std::stol(tok[k - 4]);
    r.ms = std::stod(tok[k - 3]);
    r.per_call = std::stod(tok[k - 2]);
    r.pct = std::stod(tok[k - 1]);
    std::string name = tok[0];
    for (size_t i = 1; i + 4 < k; ++i) name += " " + tok[i];
    stack.resize(size_t(r.depth));
    stack.push_back(name);
    std::string path;
    for (const std::string& s : stack) path += (path.empty() ? "" : " > ") + s;
    rows[path] = r;
  }
  return rows;
}

// The by-name table: name -> calls and total ms.
std::map<std::string, Row> name_rows(const std::string& out) {
  std::map<std::string, Row> rows;
  const size_t at = out.find("regions by name");
  if (at == std::string::npos) return rows;
  std::istringstream in(out.substr(at));
  std::string line;
  std::getline(in, line);
  std::getline(in, line);  // header
  while (std::getline(in, line) && !line.empty()) {
    std::istringstream ws(line);
    std::vector<std::string> tok;
    for (std::string t; ws >> t;) tok.push_back(t);
    if (tok.size() < 5) break;
    const size_t k = tok.size();
    std::string name = tok[0];
    for (size_t i = 1; i + 4 < k; ++i) name += " " + tok[i];
    Row r;
    r.calls = std::stol(tok[k - 4]);
    r.ms = std::stod(tok[k - 3]);
    rows[name] = r;
  }
  return rows;
}

TEST(ProfileRegions, RelationalBlockIsBrokenDown) {
  const relmimic::testing::SplitResult r = profile("rm-nl-nl");
  ASSERT_EQ(r.code, 0) << r.out << r.err;
  ASSERT_NE(r.out.find("regions (wall clock, total over 1 iteration(s))"), std::string::npos)
      << r.out;
  ASSERT_LT(r.out.find("PPO update (policy + value)"), r.out.find("regions ("))
      << "the region table comes after the phases";
  const std::map<std::string, Row> rows = region_rows(r.out);
  ASSERT_FALSE(rows.empty()) << r.out;
  for (const auto& [path, row] : rows) {
    EXPECT_GT(row.calls, 0) << path;
    EXPECT_TRUE(std::isfinite(row.ms) && row.ms > 0) << path << ": " << row.ms;
    EXPECT_NEAR(row.per_call, row.ms / double(row.calls), 1e-3 + 1e-3 * row.per_call) << path;
    EXPECT_TRUE(std::isfinite(row.pct) && row.pct >= 0 && row.pct <= 110) << path;
  }
  // The phases of Algorithm 1 under the iteration, which the phase table's total matches.
  ASSERT_EQ(rows.count("iteration"), 1u) << r.out;
  EXPECT_EQ(rows.at("iteration").calls, 1);
  EXPECT_GT(rows.at("iteration").pct, 95.0);
  for (const char* p :
       {"iteration > rollout", "iteration > rollout > env step + render (waited for)",
        "iteration > rollout > policy forward", "iteration > rollout > value forward",
        "iteration > D reward > D forward", "iteration > D update > D forward",
        "iteration > D update > D backward", "iteration > D update > D gradient penalty > D jvp",
        "iteration > PPO update > policy backward"})
    EXPECT_EQ(rows.count(p), 1u) << p << "\n" << r.out;
  // 32x32 frames, 2 envs: the pipelined rollout (env.pipeline=auto) waits for each half-step.
  EXPECT_EQ(rows.at("iteration > rollout > env step + render (waited for)").calls, 16)
      << "one per half of each step";
  // The relational block's parts, in the reward network and the agent networks.
  const std::string fwd = "iteration > D reward > D forward > relational forward";
  for (const char* part :
       {"relational.theta/phi/g", "relational.attention", "relational.out + residual"}) {
    ASSERT_EQ(rows.count(fwd + " > " + part), 1u) << part << "\n" << r.out;
    EXPECT_LE(rows.at(fwd + " > " + part).ms, rows.at(fwd).ms) << part;
  }
  const std::string bwd = "iteration > D update > D backward > relational backward";
  for (const char* part :
       {"relational.out", "relational.attention", "relational.theta/phi/g + residual"})
    EXPECT_EQ(rows.count(bwd + " > " + part), 1u) << part << "\n" << r.out;
  EXPECT_EQ(rows.count("iteration > D update > D gradient penalty > D backward_jvp > relational "
                       "backward_jvp > relational.attention"),
            1u);
  EXPECT_EQ(rows.count("iteration > rollout > policy forward > relational forward"), 1u)
      << "rm-nl-nl: the policy has relational blocks too";
  // Two relational blocks per network (Table 3): twice the reward net's forwards.
  EXPECT_EQ(rows.at(fwd).calls, 2 * rows.at("iteration > D reward > D forward").calls);
  // The by-name table sums each name over the tree.
  const std::map<std::string, Row> names = name_rows(r.out);
  ASSERT_EQ(names.count("relational.attention"), 1u) << r.out;
  long calls = 0;
  double ms = 0;
  const std::string leaf = " > relational.attention";
  for (const auto& [path, row] : rows)
    if (path.size() > leaf.size() &&
        path.compare(path.size() - leaf.size(), leaf.size(), leaf) == 0)
      calls += row.calls, ms += row.ms;
  EXPECT_EQ(names.at("relational.attention").calls, calls);
  EXPECT_NEAR(names.at("relational.attention").ms, ms, 5e-3);  // printed to 1e-4 each
  EXPECT_EQ(names.at("iteration").calls, 1);
  fs::remove_all(root_dir());
}

TEST(ProfileRegions, BaselineHasNoRelationalRegions) {
  const relmimic::testing::SplitResult r = profile("baseline");
  ASSERT_EQ(r.code, 0) << r.out << r.err;
  const std::map<std::string, Row> rows = region_rows(r.out);
  EXPECT_EQ(rows.count("iteration > D update > D forward"), 1u) << r.out;
  EXPECT_EQ(r.out.find("relational"), std::string::npos) << r.out;
  fs::remove_all(root_dir());
}

// RELMIMIC_NVTX=1 emits the NVTX ranges with no tool attached (NVTX's calls do nothing then);
// a value other than 0 or 1 is reported and the ranges stay off.
TEST(ProfileRegions, NvtxSwitchIsHonouredOrReported) {
  setenv("RELMIMIC_NVTX", "1", 1);
  const relmimic::testing::SplitResult on = profile("rm-l-l");
  setenv("RELMIMIC_NVTX", "maybe", 1);
  const relmimic::testing::SplitResult bad = profile("baseline");
  unsetenv("RELMIMIC_NVTX");
  ASSERT_EQ(on.code, 0) << on.out << on.err;
  EXPECT_EQ(region_rows(on.out).count("iteration > D reward > D forward > relational forward"), 1u)
      << on.out;
  EXPECT_EQ(on.err.find("RELMIMIC_NVTX must be"), std::string::npos) << on.err;
  ASSERT_EQ(bad.code, 0) << bad.out << bad.err;
  EXPECT_NE(bad.err.find("RELMIMIC_NVTX must be 0 or 1, got 'maybe'"), std::string::npos)
      << bad.err;
  EXPECT_NE(bad.err.find("NVTX ranges are off"), std::string::npos) << bad.err;
  fs::remove_all(root_dir());
}

TEST(ProfileRegions, CudaClockWithoutAGpuSaysWhy) {
  if (relmimic::kernels::cuda_device_count() > 0) GTEST_SKIP() << "this machine has a GPU";
  const relmimic::testing::SplitResult r = profile("baseline", " --clock cuda");
  EXPECT_NE(r.code, 0);
  EXPECT_NE(r.err.find("the CUDA-event clock needs a CUDA device"), std::string::npos) << r.err;
  fs::remove_all(root_dir());
}

TEST(ProfileRegions, BadClockIsRefused) {
  const relmimic::testing::SplitResult r = profile("baseline", " --clock sundial");
  EXPECT_EQ(r.code, 2);
  EXPECT_NE(r.err.find("--clock must be wall or cuda, got 'sundial'"), std::string::npos) << r.err;
  fs::remove_all(root_dir());
}

}  // namespace
