// `relmimic probe` as the user runs it: --help, the table and its CSV, and every bad input
// refused with one line and a non-zero exit code.
#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <sstream>
#include <string>
#include <vector>

#include "report/curves.h"
#include "tests/algos/imitate_test_util.h"
#include "tests/algos/probe_test_util.h"
#include "tests/test_util.h"

using namespace relmimic;
namespace fs = std::filesystem;

namespace {

struct Files {
  fs::path dir, demos, ckpt;
  Files() {
    dir = fs::temp_directory_path() / ("relmimic_probe_cli_" + std::to_string(getpid()));
    fs::remove_all(dir);
    fs::create_directories(dir);
    demos = dir / "demos.h5";
    relmimic::testing::write_moving_square_demos(demos.string(), 32, {12, 15});
    const Config cfg = relmimic::testing::tiny_imitation(demos.string(), 1);
    algos::Discriminator<float> d(algos::discriminator_config(cfg, 1));
    ckpt = dir / "d.h5";
    relmimic::testing::write_disc_checkpoint(ckpt.string(), cfg, d);
  }
  ~Files() { fs::remove_all(dir); }
};

relmimic::testing::SplitResult run(const Files& f, const std::string& args) {
  return relmimic::testing::run_relmimic_split(f.dir / "out", "probe " + args);
}

TEST(ProbeCommand, PrintsOneRowPerKindOfWindowAndItsCsv) {
  const Files f;
  const relmimic::testing::SplitResult help = run(f, "--help");
  EXPECT_EQ(help.code, 0);
  EXPECT_NE((help.out + help.err).find("--checkpoint"), std::string::npos);

  const std::string base = "--checkpoint " + f.ckpt.string() + " --demos " + f.demos.string();
  const relmimic::testing::SplitResult t = run(f, base + " --windows 40");
  ASSERT_EQ(t.code, 0) << t.err;
  for (const char* row : {"expert", "newest", "shuffled", "mean D", "mean logit"})
    EXPECT_NE(t.out.find(row), std::string::npos) << row << " in " << t.out;

  const relmimic::testing::SplitResult c = run(f, base + " --windows 40 --csv -");
  ASSERT_EQ(c.code, 0) << c.err;
  // The first column names the windows; the others are numbers.
  std::istringstream lines(c.out);
  std::vector<std::string> kinds;
  std::string numbers;
  for (std::string l; std::getline(lines, l);) {
    kinds.push_back(l.substr(0, l.find(',')));
    numbers += l.substr(l.find(',') + 1) + "\n";
  }
  EXPECT_EQ(kinds, (std::vector<std::string>{"windows_kind", "expert", "newest", "shuffled"}));
  const report::CsvTable csv = report::parse_csv(numbers, "probe output");
  ASSERT_EQ(csv.rows(), 3);
  for (double n : csv.column("windows")) EXPECT_EQ(n, 40);
  for (double v : csv.column("mean_d")) EXPECT_TRUE(v > 0 && v < 1);
  EXPECT_EQ(csv.column("logit_minus_expert")[0], 0);

  const fs::path file = f.dir / "probe.csv";
  ASSERT_EQ(run(f, base + " --windows 40 --csv " + file.string()).code, 0);
  std::ifstream in(file);
  const std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  EXPECT_EQ(text, c.out);  // same seed, same windows
}

TEST(ProbeCommand, BadInputsAreRefusedWithOneLine) {
  const Files f;
  const std::string ck = " --checkpoint " + f.ckpt.string(), de = " --demos " + f.demos.string();
  auto refused = [&](const std::string& args, int code, const std::string& needle) {
    const relmimic::testing::SplitResult r = run(f, args);
    EXPECT_EQ(r.code, code) << args << ": " << r.err;
    EXPECT_NE(r.err.find(needle), std::string::npos) << args << ": " << r.err;
    EXPECT_LE(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
  };
  refused(de, 2, "--checkpoint is required");
  refused(ck, 2, "--demos is required");
  refused(ck + de + " --windows 0", 2, "--windows");
  refused(ck + de + " --seed -1", 2, "--seed");
  refused(" --checkpoint " + (f.dir / "none.h5").string() + de, 1, "none.h5: no such file");
  // The demonstration file is HDF5 but no checkpoint; a PPO checkpoint has no discriminator.
  refused(" --checkpoint " + f.demos.string() + de, 1, "not a relmimic checkpoint");
  const fs::path ppo = f.dir / "ppo.h5";
  {
    CheckpointWriter w(ppo.string());
    w.set_string("run_kind", "ppo");
    w.commit();
  }
  refused(" --checkpoint " + ppo.string() + de, 1, "not an imitation checkpoint");
  // Demonstrations of another frame size than the run's.
  const fs::path small = f.dir / "small.h5";
  relmimic::testing::write_moving_square_demos(small.string(), 16, {12});
  refused(ck + " --demos " + small.string(), 1, "small.h5");
  refused(ck + " --demos " + (f.dir / "missing.h5").string(), 1, "missing.h5");
}

}  // namespace
