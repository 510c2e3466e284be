// relmimic plot: the figures of report::write_figures for a set of runs grouped by variant
// (learning curves, CCDF, diagnostics; with --csv the plotted numbers too), plus the paper's
// table row per variant (area under the CCDF = sum of the pooled returns).
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <string>
#include <vector>

#include "engine/json.h"
#include "report/curves.h"
#include "report/figures.h"
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

}  // namespace

int cmd_plot(int argc, char** argv) {
  std::vector<std::string> dirs;
  report::FigureOptions fig;
  report::CurveOptions& opt = fig.curves;
  std::string out = "plots";
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
  a.add("--points", fig.points, "grid points of the interpolated learning curves");
  a.add("--title", fig.title, "text put before each chart's title (e.g. 'Hopper k=4')");
  a.add("--width", fig.width, "image width in pixels");
  a.add("--height", fig.height, "image height in pixels");
  a.flag("--csv", fig.csv,
         "also write the plotted numbers next to the images: learning_curves.csv (variant, x, "
         "mean, std, runs), ccdf.csv (variant, return, ccdf) and areas.csv (the table)");
  a.flag("--json", json_out, "print the table as JSON");
  if (!a.parse(argc, argv)) return a.exit_code();
  RM_CHECK(!dirs.empty(), "no run folders given (usage: relmimic plot runs/a runs/b ...)");
  if (fig.csv && out.empty())
    return usage_error("plot", "--csv writes next to the images: give an --out folder");

  std::vector<report::RunData> runs;
  for (const std::string& d : dirs) runs.push_back(report::load_run(d, opt));
  const std::vector<report::VariantGroup> groups = report::group_runs(std::move(runs));
  std::vector<std::string> written;
  if (!out.empty()) written = report::write_figures(out, dirs, groups, fig);

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
