// relmimic plot: CSV parsing and its errors, grouping runs by variant, learning-curve envelopes,
// CCDF points and area on hand examples, the rasteriser (font, lines, ticks), the PNG written
// (decoded back), the plotted series as CSV, and the command end to end.
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include "engine/json.h"
#include "report/curves.h"
#include "report/figures.h"
#include "report/media.h"
#include "report/plot.h"
#include "tests/test_util.h"

namespace relmimic::report {
namespace {

using Result = relmimic::testing::CommandResult;
Result run(const std::string& args) {
  return relmimic::testing::run_relmimic(args);
}

using relmimic::testing::error_of;

namespace fs = std::filesystem;

// A scratch folder removed at the end of the test.
struct TempDir {
  fs::path path;
  TempDir() {
    path = fs::temp_directory_path() /
           ("relmimic_plot_" + std::to_string(getpid()) + "_" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(path);
    fs::create_directories(path);
  }
  ~TempDir() { fs::remove_all(path); }
  std::string write(const std::string& rel, const std::string& text) const {
    const fs::path p = path / rel;
    fs::create_directories(p.parent_path());
    std::ofstream(p) << text;
    return p.string();
  }
};

TEST(Plot, ParsesNumericCsv) {
  const CsvTable t =
      parse_csv("timesteps, eval_return,loss\r\n0,,0.5\r\n2048,12.5,nan\n\n4096,-3e2,1\n", "p.csv");
  ASSERT_EQ(t.names, (std::vector<std::string>{"timesteps", "eval_return", "loss"}));
  ASSERT_EQ(t.rows(), 3);
  EXPECT_TRUE(std::isnan(t.column("eval_return")[0]));  // empty cell: no evaluation
  EXPECT_EQ(t.column("eval_return")[1], 12.5);
  EXPECT_EQ(t.column("eval_return")[2], -300.0);
  EXPECT_TRUE(std::isnan(t.column("loss")[1]));
  EXPECT_EQ(t.column("timesteps")[2], 4096.0);
  const std::string missing = error_of([&] { t.column("return"); });
  EXPECT_NE(missing.find("p.csv: no column 'return' (columns: timesteps, eval_return, loss)"),
            std::string::npos)
      << missing;
}

TEST(Plot, BadCsvNamesFileAndLine) {
  EXPECT_NE(error_of([] {
              parse_csv("a,b\n1,2\n3\n", "runs/x/progress.csv");
            }).find("runs/x/progress.csv:3: 1 fields, the header has 2"),
            std::string::npos);
  EXPECT_NE(error_of([] {
              parse_csv("a,b\n1,2\n\n3,oops\n", "f.csv");
            }).find("f.csv:4: column 'b': 'oops' is not a number"),
            std::string::npos);
  EXPECT_NE(error_of([] { parse_csv("a,a\n", "f.csv"); }).find("f.csv:1: column 'a' appears twice"),
            std::string::npos);
  EXPECT_NE(error_of([] { parse_csv("a,,b\n", "f.csv"); }).find("f.csv:1: empty column name"),
            std::string::npos);
  EXPECT_NE(error_of([] { parse_csv("\n\n", "f.csv"); }).find("f.csv: empty file"),
            std::string::npos);
  EXPECT_NE(error_of([] {
              read_csv("/nonexistent/progress.csv");
            }).find("/nonexistent/progress.csv: cannot open"),
            std::string::npos);
}

TEST(Plot, CcdfPointsAndArea) {
  const Ccdf c = ccdf({3, 1, 2, 4});
  EXPECT_EQ(c.x, (std::vector<double>{1, 2, 3, 4}));
  ASSERT_EQ(c.p.size(), 4u);
  EXPECT_DOUBLE_EQ(c.p[0], 1.0);
  EXPECT_DOUBLE_EQ(c.p[1], 2.0 / 3.0);
  EXPECT_DOUBLE_EQ(c.p[2], 1.0 / 3.0);
  EXPECT_DOUBLE_EQ(c.p[3], 0.0);
  EXPECT_DOUBLE_EQ(c.area, 10.0);
  const Ccdf one = ccdf({-7.5});
  EXPECT_EQ(one.p, (std::vector<double>{1.0}));
  EXPECT_EQ(one.area, -7.5);
  EXPECT_TRUE(ccdf({}).x.empty());
}

TEST(Plot, LearningCurveEnvelope) {
  VariantGroup g{"v", {}};
  g.runs.push_back({"a", "v", {0, 10, 20}, {0, 10, 20}});
  g.runs.push_back({"b", "v", {0, 20}, {10, 30}});
  Envelope e = learning_curve(g, 3);
  EXPECT_EQ(e.x, (std::vector<double>{0, 10, 20}));
  EXPECT_EQ(e.mean, (std::vector<double>{5, 15, 25}));  // b interpolated: 10, 20, 30
  EXPECT_EQ(e.std, (std::vector<double>{5, 5, 5}));     // population std of two values
  // The grid spans only what every seed covers.
  g.runs.push_back({"c", "v", {5, 15, 25}, {1, 1, 1}});
  e = learning_curve(g, 4);
  EXPECT_EQ(e.x, (std::vector<double>{5, 10, 15, 20}));
  g.runs.push_back({"d", "v", {30, 40}, {0, 0}});
  EXPECT_NE(error_of([&] { learning_curve(g); }).find("do not overlap"), std::string::npos);
}

TEST(Plot, SeedSuffixes) {
  EXPECT_EQ(strip_seed_suffix("rm-l-nl_seed3"), "rm-l-nl");
  EXPECT_EQ(strip_seed_suffix("baseline-s2"), "baseline");
  EXPECT_EQ(strip_seed_suffix("base-7"), "base");
  EXPECT_EQ(strip_seed_suffix("walkerseed12"), "walker");
  EXPECT_EQ(strip_seed_suffix("rm-nl-nl"), "rm-nl-nl");
  EXPECT_EQ(strip_seed_suffix("run7"), "run7");
  EXPECT_EQ(strip_seed_suffix("-3"), "-3");
}

// Three variants: two from config.json ("variant", then "name"), one from folder names.
TEST(Plot, GroupsRunsByVariant) {
  TempDir d;
  const std::string csv = "timesteps,eval_return\n0,1\n100,\n200,3\n";
  for (const char* run : {"r0", "r1", "r2", "base_seed1", "base_seed2"})
    d.write(std::string(run) + "/progress.csv", csv);
  d.write("r0/config.json", R"({"variant": "rm-l-l", "env": {"frames": 4}})");
  d.write("r1/config.json", R"({"name": "rm-nl-nl", "env": {"frames": 8}})");
  d.write("r2/config.json", R"({"variant": "rm-l-l", "env": {"frames": 8}})");
  std::vector<RunData> runs;
  for (const char* run : {"r0", "base_seed1", "r1", "r2", "base_seed2"})
    runs.push_back(load_run((d.path / run).string()));
  EXPECT_EQ(runs[0].x, (std::vector<double>{0, 200}));  // the row without evaluation is dropped
  EXPECT_EQ(runs[0].y, (std::vector<double>{1, 3}));
  const std::vector<VariantGroup> g = group_runs(runs);
  ASSERT_EQ(g.size(), 3u);
  EXPECT_EQ(g[0].name, "rm-l-l");
  EXPECT_EQ(g[0].runs.size(), 2u);
  EXPECT_EQ(g[1].name, "base");
  EXPECT_EQ(g[1].runs.size(), 2u);
  EXPECT_EQ(g[2].name, "rm-nl-nl");
  // A nested, numeric key.
  CurveOptions by_frames;
  by_frames.group_by = "env.frames";
  EXPECT_EQ(load_run((d.path / "r1").string(), by_frames).variant, "8");
  // An explicit key a config lacks is an error, not a silent fallback.
  CurveOptions by_lr;
  by_lr.group_by = "ppo.lr";
  EXPECT_NE(error_of([&] {
              load_run((d.path / "r0").string(), by_lr);
            }).find("config.json: no key 'ppo.lr'"),
            std::string::npos);
  CurveOptions other_metric;
  other_metric.metric = "return";
  EXPECT_NE(error_of([&] {
              load_run((d.path / "r0").string(), other_metric);
            }).find("progress.csv: no column 'return'"),
            std::string::npos);
  EXPECT_NE(error_of([&] { load_run((d.path / "nothing").string()); }).find("no progress.csv"),
            std::string::npos);
}

TEST(Plot, SummaryRow) {
  VariantGroup g{"v", {}};
  g.runs.push_back({"a", "v", {0, 1, 2}, {100, 200, 300}});
  g.runs.push_back({"b", "v", {0, 1}, {50, 100}});
  const VariantSummary s = summarize(g);
  EXPECT_EQ(s.seeds, 2);
  EXPECT_EQ(s.returns, 5);
  EXPECT_DOUBLE_EQ(s.ccdf_area, 750.0);
  EXPECT_DOUBLE_EQ(s.final_mean, 200.0);  // last evaluations 300 and 100
  EXPECT_DOUBLE_EQ(s.final_std, 100.0);
}

TEST(Plot, TicksAndLabels) {
  EXPECT_EQ(nice_ticks(0, 1.5e6), (std::vector<double>{0, 2e5, 4e5, 6e5, 8e5, 1e6, 1.2e6, 1.4e6}));
  EXPECT_EQ(nice_ticks(-0.1, 1.05, 5), (std::vector<double>{0, 0.2, 0.4, 0.6, 0.8, 1.0}));
  // A wide axis keeps the default ticks; a narrow panel's labels (e.g. "1.2M") get room.
  EXPECT_EQ(axis_ticks(0, 2e6, 800), nice_ticks(0, 2e6));
  const std::vector<double> narrow = axis_ticks(0, 2e6, 220);
  ASSERT_GE(narrow.size(), 2u);
  EXPECT_LT(narrow.size(), nice_ticks(0, 2e6).size());
  EXPECT_GE((narrow[1] - narrow[0]) / 2e6 * 220, 60.0);  // a 4-glyph label is 48 px wide
  EXPECT_EQ(tick_label(1.5e6, 5e5), "1.5M");
  EXPECT_EQ(tick_label(4e5, 2e5), "0.4M");
  EXPECT_EQ(tick_label(3000, 1000), "3k");
  EXPECT_EQ(tick_label(2500, 500), "2500");
  EXPECT_EQ(tick_label(0.25, 0.25), "0.25");
  EXPECT_EQ(tick_label(-1e-17, 0.2), "0.0");
}

TEST(Plot, CanvasDrawsGlyphsAndAntialiasedLines) {
  const Rgb bg{255, 255, 255}, ink{0, 0, 0};
  Canvas cv(40, 20, bg);
  cv.text(1, 1, "1", ink);
  const uint8_t* one = glyph('1');
  for (int y = 0; y < kGlyphH; ++y)
    for (int x = 0; x < kGlyphW; ++x)
      EXPECT_EQ(cv.at(1 + x, 1 + y) == ink, bool(one[y] >> (4 - x) & 1)) << x << "," << y;
  EXPECT_EQ(Canvas::text_width("12", 2), 22);
  // A horizontal 1-pixel line through pixel centres: row 15 fully, its neighbours not at all.
  cv.line(10, 15.5, 30, 15.5, ink, 1.0);
  EXPECT_EQ(cv.at(20, 15), ink);
  EXPECT_EQ(cv.at(20, 14), bg);
  EXPECT_EQ(cv.at(20, 16), bg);
  // Half a pixel off: two rows half covered.
  Canvas half(40, 20, bg);
  half.line(10, 15, 30, 15, ink, 1.0);
  EXPECT_EQ(half.at(20, 14).r, 128);
  EXPECT_EQ(half.at(20, 15).r, 128);
  // Vertical text reads bottom-up: the first glyph's leftmost column lies along the bottom row.
  Canvas v(20, 20, bg);
  v.text(2, 18, "L", ink, 1, true);
  for (int gy = 0; gy < kGlyphH; ++gy) EXPECT_EQ(v.at(2 + gy, 17), ink) << gy;  // 'L' col 0 full
  EXPECT_EQ(v.at(2, 16), bg);
}

TEST(Plot, WritesADecodablePng) {
  TempDir d;
  Chart c{"Hopper: eval_return", "timesteps", "eval_return", {}};
  c.series.push_back({"rm-l-l (2)", {0, 5e5, 1e6}, {10, 500, 900}, {5, 400, 850}, {15, 600, 950}});
  c.series.push_back({"baseline (2)", {0, 5e5, 1e6}, {10, 200, 300}, {}, {}});
  const std::string path = (d.path / "curves.png").string();
  write_chart_png(path, c, 640, 400);
  const Image img = read_png(path);
  ASSERT_EQ(img.width, 640);
  ASSERT_EQ(img.height, 400);
  ASSERT_EQ(img.channels, 3);
  long ink = 0, first = 0, second = 0, band = 0;
  const Rgb c0 = series_color(0), c1 = series_color(1);
  for (long i = 0; i < long(img.pixels.size()); i += 3) {
    const Rgb p{img.pixels[i], img.pixels[i + 1], img.pixels[i + 2]};
    ink += !(p == Rgb{255, 255, 255});
    first += p == c0;
    second += p == c1;
    // The band: series 0's colour at 22 % over white.
    band += std::abs(p.r - (255 + 0.22 * (c0.r - 255))) < 2 &&
            std::abs(p.b - (255 + 0.22 * (c0.b - 255))) < 2;
  }
  EXPECT_GT(ink, 640 * 400 / 50);
  EXPECT_GT(first, 200);  // line cores and the legend swatch
  EXPECT_GT(second, 200);
  EXPECT_GT(band, 2000);
  // The title's row band holds text; the corner is background.
  long title_ink = 0;
  for (int y = 14; y < 28; ++y)
    for (int x = 0; x < 640; ++x) title_ink += img.pixels[(size_t(y) * 640 + x) * 3] < 128;
  EXPECT_GT(title_ink, 100);
  EXPECT_EQ(img.pixels[0], 255);
  EXPECT_NE(error_of([&] {
              render_chart(Chart{"empty", "", "", {}});
            }).find("no finite points"),
            std::string::npos);
}

// A title wider than the image keeps its head: it starts at the left margin instead of being
// centred off the canvas, and its tail is dropped.
TEST(Plot, LongTitlesStartAtTheLeftMargin) {
  Chart c{std::string("Hopper k=4") + std::string(200, 'x'), "timesteps", "return", {}};
  c.series.push_back({"rm-nl-nl (1)", {0, 1, 2}, {1, 2, 3}, {}, {}});
  const Canvas cv = render_chart(c, 400, 300);
  // The first glyph ('H', whose left column is fully inked) starts at x = 14.
  int first_ink = -1;
  for (int x = 0; x < 400 && first_ink < 0; ++x)
    for (int y = 14; y < 14 + Canvas::text_height(2); ++y)
      if (cv.at(x, y).r < 128) {
        first_ink = x;
        break;
      }
  EXPECT_EQ(first_ink, 14);
  // Nothing is drawn in the right margin's last columns of the title band.
  for (int x = 400 - 12; x < 400; ++x)
    for (int y = 14; y < 14 + Canvas::text_height(2); ++y) EXPECT_EQ(cv.at(x, y).r, 255);
}

// progress.csv of an imitation run, with the diagnostics' columns (rows 0 and 2 evaluate).
const char* kDiagnosticsCsv =
    "timesteps,train_return,train_length,train_velocity,eval_return,eval_det_return,"
    "eval_stoch_return,mean_reward,reward_std,disc_expert_d,disc_agent_d,disc_expert_acc,"
    "disc_agent_acc,disc_logit_grad_norm\n"
    "0,10,20,0.1,5,5,4,0.7,0.2,0.6,0.4,0.7,0.6,3\n"
    "100,12,25,0.3,,,,0.8,0.25,0.7,0.3,0.8,0.7,2.5\n"
    "200,15,30,0.5,9,9,7,0.9,0.3,0.8,0.2,0.9,0.8,2\n";

TEST(Plot, DiagnosticsPanelsFollowTheColumnsPresent) {
  const CsvTable now = parse_csv(kDiagnosticsCsv, "new.csv");
  std::vector<Chart> c = diagnostics_charts({{"run", now}});
  ASSERT_EQ(c.size(), 8u);
  EXPECT_EQ(c[0].title, "evaluation return");
  ASSERT_EQ(c[0].series.size(), 2u);  // deterministic and stochastic side by side
  EXPECT_EQ(c[0].series[0].label, "deterministic");
  EXPECT_EQ(c[0].series[0].x, (std::vector<double>{0, 200}));  // rows without evaluation skipped
  EXPECT_EQ(c[0].series[1].y, (std::vector<double>{4, 7}));
  // The D reward carries its std as a band.
  const Series& reward = c[2].series.at(0);
  EXPECT_EQ(reward.lo, (std::vector<double>{0.7 - 0.2, 0.8 - 0.25, 0.9 - 0.3}));
  EXPECT_EQ(reward.hi, (std::vector<double>{0.7 + 0.2, 0.8 + 0.25, 0.9 + 0.3}));
  EXPECT_EQ(c[3].series.at(0).y, (std::vector<double>{0.1, 0.3, 0.5}));  // forward velocity
  EXPECT_EQ(c[5].series.size(), 2u);                                     // D on expert, agent
  EXPECT_EQ(c[7].series.at(0).y, (std::vector<double>{3, 2.5, 2}));      // penalty's norm

  // An older progress.csv: its evaluation return stands in, the missing panels are left out.
  const CsvTable old = parse_csv(
      "timesteps,train_return,train_length,eval_return,mean_reward,disc_expert_d,disc_agent_d\n"
      "0,10,20,5,0.7,0.6,0.4\n100,12,25,,0.8,0.7,0.3\n",
      "old.csv");
  c = diagnostics_charts({{"old", old}});
  std::vector<std::string> titles;
  for (const Chart& ch : c) titles.push_back(ch.title);
  EXPECT_EQ(titles,
            (std::vector<std::string>{"evaluation return", "training episodes: return",
                                      "D reward (mean +- std over the rollout)",
                                      "training episodes: length", "D output (mean sigmoid)"}));
  EXPECT_EQ(c[0].series.at(0).label, "eval");
  EXPECT_TRUE(c[2].series.at(0).lo.empty());
  // Several runs: one line per run and quantity, named by the run; the fallback stays unused
  // while any run has the new columns.
  c = diagnostics_charts({{"new", now}, {"old", old}});
  ASSERT_EQ(c[0].series.size(), 2u);
  EXPECT_EQ(c[0].series[0].label, "new deterministic");
  EXPECT_EQ(c[1].series.size(), 2u);
  EXPECT_EQ(c[1].series[1].label, "old train");
  // No diagnostic columns at all: no panels.
  EXPECT_TRUE(diagnostics_charts({{"x", parse_csv("timesteps,fps\n0,1\n", "x.csv")}}).empty());
}

TEST(Plot, PanelsShareOnePng) {
  TempDir d;
  std::vector<Chart> charts;
  for (int i = 0; i < 3; ++i) {
    Chart c{"panel " + std::to_string(i), "timesteps", "", {}};
    c.series.push_back({"a", {0, 1, 2}, {1, 2, double(i)}, {}, {}});
    charts.push_back(c);
  }
  const std::string path = (d.path / "panels.png").string();
  write_panels_png(path, charts, 2, 320, 240);
  const Image img = read_png(path);
  EXPECT_EQ(img.width, 640);
  EXPECT_EQ(img.height, 480);
  // Each panel is the chart rendered alone; the empty fourth slot stays white.
  const Canvas second = render_chart(charts[1], 320, 240);
  for (int y = 0; y < 240; y += 7)
    for (int x = 0; x < 320; x += 5)
      ASSERT_EQ(img.pixels[(size_t(y) * 640 + 320 + x) * 3 + 1], second.at(x, y).g)
          << x << "," << y;
  for (int y = 240; y < 480; y += 9)
    for (int x = 320; x < 640; x += 9) ASSERT_EQ(img.pixels[(size_t(y) * 640 + x) * 3], 255);
  EXPECT_NE(error_of([&] { write_panels_png(path, {}, 2); }).find("no charts"), std::string::npos);
}

TEST(Plot, CommandWritesTheDiagnostics) {
  TempDir d;
  d.write("run/progress.csv", kDiagnosticsCsv);
  const std::string out = (d.path / "plots").string();
  const Result r = run("plot " + (d.path / "run").string() + " --out " + out);
  ASSERT_EQ(r.code, 0) << r.out;
  EXPECT_NE(r.out.find("diagnostics.png"), std::string::npos) << r.out;
  const Image img = read_png((fs::path(out) / "diagnostics.png").string());
  EXPECT_EQ(img.width, 2 * 640);  // two panels of 2/3 x 3/5 of the 960 x 600 charts per row
  EXPECT_EQ(img.height, 4 * 360);
}

TEST(Plot, CommandEndToEnd) {
  TempDir d;
  // Two variants x two seeds; returns 1..4 and 10..40 (areas 10 + 10 and 100 + 100).
  for (int seed = 0; seed < 2; ++seed) {
    d.write("a" + std::to_string(seed) + "/progress.csv",
            "timesteps,eval_return\n0,1\n10,2\n20,3\n30,4\n");
    d.write("a" + std::to_string(seed) + "/config.json", R"({"variant": "rm-l-l"})");
    d.write("b_seed" + std::to_string(seed) + "/progress.csv",
            "timesteps,eval_return\n0,10\n10,20\n20,30\n30,40\n");
  }
  const std::string runs = (d.path / "a0").string() + " " + (d.path / "b_seed0").string() + " " +
                           (d.path / "a1").string() + " " + (d.path / "b_seed1").string();
  const std::string out = (d.path / "plots").string();
  const Result r = run("plot " + runs + " --out " + out + " --json --title Hopper");
  ASSERT_EQ(r.code, 0) << r.out;
  const json::Value doc = json::parse(r.out, "plot output");
  const json::Value& v = doc.at("variants");
  ASSERT_EQ(v.size(), 2u);
  EXPECT_EQ(v[0].at("variant").as_string(), "rm-l-l");
  EXPECT_EQ(v[0].at("seeds").as_long(), 2);
  EXPECT_EQ(v[0].at("returns").as_long(), 8);
  EXPECT_EQ(v[0].at("ccdf_area").as_number(), 20.0);
  EXPECT_EQ(v[1].at("variant").as_string(), "b");
  EXPECT_EQ(v[1].at("ccdf_area").as_number(), 200.0);
  EXPECT_EQ(v[1].at("final_mean").as_number(), 40.0);
  for (const char* f : {"learning_curves.png", "ccdf.png"}) {
    const Image img = read_png((fs::path(out) / f).string());
    EXPECT_EQ(img.width, 960);
    EXPECT_EQ(img.height, 600);
  }
  // The table: one row per variant with the area grouped by thousands.
  const Result t = run("plot " + runs + " --out ''");
  ASSERT_EQ(t.code, 0) << t.out;
  EXPECT_NE(t.out.find("area under CCDF"), std::string::npos) << t.out;
  EXPECT_NE(t.out.find("rm-l-l"), std::string::npos);
  // Bad input: the error names the file and the line.
  d.write("bad/progress.csv", "timesteps,eval_return\n0,1\n10\n");
  const Result bad = run("plot " + (d.path / "bad").string() + " --out ''");
  EXPECT_EQ(bad.code, 1);
  EXPECT_NE(bad.out.find("bad/progress.csv:3: 1 fields, the header has 2"), std::string::npos)
      << bad.out;
  EXPECT_EQ(run("plot --out x").code, 1);
}

std::string read_text(const fs::path& p) {
  std::ifstream f(p);
  return {std::istreambuf_iterator<char>(f), std::istreambuf_iterator<char>()};
}

// Two seeds of one variant: the CSV files hold exactly the numbers drawn.
TEST(PlotCsv, WritesTheCurvesCcdfAndTableOfTwoRuns) {
  TempDir d;
  d.write("s0/progress.csv", "timesteps,eval_return\n0,0\n10,10\n20,20\n");
  d.write("s0/config.json", R"({"variant": "rm-l-l"})");
  d.write("s1/progress.csv", "timesteps,eval_return\n0,10\n5,\n20,30\n");
  d.write("s1/config.json", R"({"variant": "rm-l-l"})");
  const std::vector<std::string> dirs = {(d.path / "s0").string(), (d.path / "s1").string()};
  std::vector<RunData> runs;
  for (const std::string& dir : dirs) runs.push_back(load_run(dir));
  FigureOptions o;
  o.points = 3;
  o.width = 480;
  o.height = 320;
  o.csv = true;
  const fs::path out = d.path / "plots";
  const std::vector<std::string> written = write_figures(out.string(), dirs, group_runs(runs), o);
  std::vector<std::string> names;
  for (const std::string& w : written) names.push_back(fs::path(w).filename().string());
  // eval_return is one of the diagnostics' columns: diagnostics.png is there too.
  EXPECT_EQ(names, (std::vector<std::string>{"learning_curves.png", "ccdf.png", "diagnostics.png",
                                             "learning_curves.csv", "ccdf.csv", "areas.csv"}));
  // Seed 1 is interpolated onto the grid 0, 10, 20: 10, 20, 30.
  EXPECT_EQ(read_text(out / "learning_curves.csv"),
            "variant,timesteps,mean,std,runs\n"
            "rm-l-l,0,5,5,2\n"
            "rm-l-l,10,15,5,2\n"
            "rm-l-l,20,25,5,2\n");
  // The pooled returns 0, 10, 20, 10, 30, sorted.
  EXPECT_EQ(read_text(out / "ccdf.csv"),
            "variant,eval_return,ccdf\n"
            "rm-l-l,0,1\n"
            "rm-l-l,10,0.75\n"
            "rm-l-l,10,0.5\n"
            "rm-l-l,20,0.25\n"
            "rm-l-l,30,0\n");
  EXPECT_EQ(read_text(out / "areas.csv"),
            "variant,seeds,returns,final_mean,final_std,ccdf_area\n"
            "rm-l-l,2,5,25,5,70\n");
  // Without --csv only the images.
  o.csv = false;
  EXPECT_EQ(write_figures((d.path / "png").string(), dirs, group_runs(runs), o).size(), 3u);
  EXPECT_FALSE(fs::exists(d.path / "png" / "areas.csv"));
}

TEST(PlotCsv, FieldsAndNumbers) {
  EXPECT_EQ(csv_field("rm-l-nl"), "rm-l-nl");
  EXPECT_EQ(csv_field("lr=1e-3, k=4"), "\"lr=1e-3, k=4\"");
  EXPECT_EQ(csv_field("say \"hi\""), "\"say \"\"hi\"\"\"");
  EXPECT_EQ(csv_number(0.1), "0.1");
  EXPECT_EQ(csv_number(2048), "2048");
  EXPECT_EQ(csv_number(-1.5e-7), "-1.5e-07");
  EXPECT_EQ(csv_number(1.0 / 3.0), "0.3333333333333333");
}

TEST(PlotCsv, CommandWritesTheFilesAndDocumentsTheFlag) {
  TempDir d;
  d.write("a/progress.csv", "timesteps,eval_return\n0,1\n10,2\n");
  d.write("b/progress.csv", "timesteps,eval_return\n0,3\n10,4\n");
  const std::string runs = (d.path / "a").string() + " " + (d.path / "b").string();
  const std::string out = (d.path / "plots").string();
  const Result r = run("plot " + runs + " --out " + out + " --csv --group-by dir");
  ASSERT_EQ(r.code, 0) << r.out;
  for (const char* f : {"learning_curves.csv", "ccdf.csv", "areas.csv"}) {
    EXPECT_NE(r.out.find(f), std::string::npos) << r.out;
    EXPECT_TRUE(fs::exists(fs::path(out) / f)) << f;
  }
  EXPECT_EQ(read_text(fs::path(out) / "areas.csv"),
            "variant,seeds,returns,final_mean,final_std,ccdf_area\n"
            "a,1,2,2,0,3\n"
            "b,1,2,4,0,7\n");
  const Result help = run("plot --help");
  EXPECT_NE(help.out.find("--csv"), std::string::npos) << help.out;
  const Result no_out = run("plot " + runs + " --csv --out ''");
  EXPECT_EQ(no_out.code, 2);
  EXPECT_NE(no_out.out.find("--csv writes next to the images"), std::string::npos) << no_out.out;
}

}  // namespace
}  // namespace relmimic::report
