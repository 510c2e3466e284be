// relmimic plot: learning curves (mean +- std over seeds) and the CCDF of pooled evaluation
// returns for a set of runs grouped by variant, plus the paper's table row per variant (area
// under the CCDF = sum of the pooled returns), and the diagnostics figure of the runs' training
// signals (report::diagnostics_charts), one line per run.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <string>
#include <vector>

#include "report/curves.h"
#include "report/plot.h"
#include "engine/json.h"
#include "tools/cli.h"
#include "tools/commands.h"

namespace relmimic::cli {

namespace {

// 1234567.4 -> "1,234,567"
std::string grouped(double v) {
  const std::string s = std::to_string(std::llround(v));
  std::string out;
  const size_t start = s[0] == '-' ? 1 : 0;
  for (size_t i = 0; i < s.size(); ++i) {
    out += s[i];
    const size_t left = s.size() - 1 - i;
    if (i >= start && left > 0 && left % 3 == 0) out += ',';
  }
  return out;
}

std::string title_of(const std::string& prefix, const std::string& what) {
  return prefix.empty() ? what : prefix + ": " + what;
}

}  // namespace

int cmd_plot(int argc, char** argv) {
  std::vector<std::string> dirs;
  report::CurveOptions opt;
  std::string out = "plots", title;
  int points = 100, width = 960, height = 600;
  bool json_out = false;
  Args a("plot",
         "learning curves (mean +- std over seeds) and the CCDF of evaluation returns, with the "
         "area under the CCDF per variant");
  a.positional("RUN", dirs, "run folders (each with progress.csv, optionally config.json)");
  a.add("--out", out,
        "folder for learning_curves.png, ccdf.png and diagnostics.png (empty: no images)");
  a.add("--metric", opt.metric, "progress.csv column plotted and pooled for the CCDF");
  a.add("--x", opt.x, "progress.csv column for the x axis");
  a.add("--group-by", opt.group_by, "config.json key naming the variant ('dir': folder name)");
  a.add("--points", points, "grid points of the interpolated learning curves");
  a.add("--title", title, "text put before each chart's title (e.g. 'Hopper k=4')");
  a.add("--width", width, "image width in pixels");
  a.add("--height", height, "image height in pixels");
  a.flag("--json", json_out, "print the table as JSON");
  if (!a.parse(argc, argv)) return a.exit_code();
  RM_CHECK(!dirs.empty(), "no run folders given (usage: relmimic plot runs/a runs/b ...)");

  std::vector<report::RunData> runs;
  for (const std::string& d : dirs) runs.push_back(report::load_run(d, opt));
  const std::vector<report::VariantGroup> groups = report::group_runs(std::move(runs));

  std::vector<std::string> written;
  if (!out.empty()) {
    report::Chart curves{
        title_of(title, opt.metric + " (mean +- std over seeds)"), opt.x, opt.metric, {}};
    report::Chart tails{title_of(title, "CCDF of " + opt.metric), opt.metric, "1 - CDF", {}};
    for (const report::VariantGroup& g : groups) {
      const std::string label = g.name + " (" + std::to_string(g.runs.size()) + ")";
      const report::Envelope e = report::learning_curve(g, points);
      report::Series s{label, e.x, e.mean, {}, {}};
      for (size_t i = 0; i < e.x.size(); ++i) {
        s.lo.push_back(e.mean[i] - e.std[i]);
        s.hi.push_back(e.mean[i] + e.std[i]);
      }
      curves.series.push_back(std::move(s));
      const report::Ccdf c = report::ccdf(report::pooled_returns(g));
      tails.series.push_back({label, c.x, c.p, {}, {}});
    }
    std::filesystem::create_directories(out);
    const std::string pc = (std::filesystem::path(out) / "learning_curves.png").string();
    const std::string pt = (std::filesystem::path(out) / "ccdf.png").string();
    report::write_chart_png(pc, curves, width, height);
    report::write_chart_png(pt, tails, width, height);
    written = {pc, pt};

    // The diagnostics: whichever of their columns the runs' progress.csv files have.
    std::vector<std::pair<std::string, report::CsvTable>> tables;
    for (const std::string& d : dirs) {
      const std::filesystem::path p(d);
      const bool file = std::filesystem::is_regular_file(p);
      std::filesystem::path folder = file ? p.parent_path() : p;
      if (folder.filename().empty()) folder = folder.parent_path();
      tables.emplace_back(folder.filename().string(),
                          report::read_csv((file ? p : p / "progress.csv").string()));
    }
    std::vector<report::Chart> panels = report::diagnostics_charts(tables, opt.x);
    for (report::Chart& c : panels) c.title = title_of(title, c.title);
    if (!panels.empty()) {
      const std::string pd = (std::filesystem::path(out) / "diagnostics.png").string();
      report::write_panels_png(pd, panels, 2, std::max(width * 2 / 3, 320),
                              std::max(height * 3 / 5, 240));
      written.push_back(pd);
    }
  }

  std::vector<report::VariantSummary> rows;
  for (const report::VariantGroup& g : groups) rows.push_back(report::summarize(g));
  if (json_out) {
    json::Value doc = json::Value::object(), arr = json::Value::array();
    for (const report::VariantSummary& r : rows) {
      json::Value o = json::Value::object();
      o.set("variant", r.name);
      o.set("seeds", r.seeds);
      o.set("returns", r.returns);
      o.set("final_mean", r.final_mean);
      o.set("final_std", r.final_std);
      o.set("ccdf_area", r.ccdf_area);
      arr.push_back(std::move(o));
    }
    doc.set("metric", opt.metric);
    doc.set("variants", std::move(arr));
    json::Value files = json::Value::array();
    for (const std::string& w : written) files.push_back(w);
    doc.set("plots", std::move(files));
    std::printf("%s\n", json::dump(doc).c_str());
    return 0;
  }
  std::printf("%-20s %6s %8s %24s %16s\n", "variant", "seeds", "returns", "final (mean +- std)",
              "area under CCDF");
  for (const report::VariantSummary& r : rows) {
    char fin[64];
    std::snprintf(fin, sizeof fin, "%.1f +- %.1f", r.final_mean, r.final_std);
    std::printf("%-20s %6d %8ld %24s %16s\n", r.name.c_str(), r.seeds, r.returns, fin,
                grouped(r.ccdf_area).c_str());
  }
  for (const std::string& w : written) std::printf("wrote %s\n", w.c_str());
  return 0;
}

}  // namespace relmimic::cli
