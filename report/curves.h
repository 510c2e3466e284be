// Results of runs as the paper reports them (SPEC.md "Experiments"): learning curves as the mean
// +- std envelope across seeds, and the CCDF of the evaluation returns pooled over seeds, whose
// "area" in the tables is the sum of the pooled returns.
//
// A run folder holds progress.csv (one row per iteration; `timesteps` and the evaluation return,
// empty on iterations without an evaluation) and usually config.json, whose "variant" (or "name")
// groups the seeds of one variant.
#pragma once

#include <string>
#include <utility>
#include <vector>

#include "report/plot.h"

namespace relmimic::report {

// A numeric CSV: a header of unique names, then rows of numbers. Empty cells and "nan" read as
// NaN. Errors name "<path>:<line>".
struct CsvTable {
  std::string path;
  std::vector<std::string> names;
  std::vector<std::vector<double>> columns;  // [column][row]

  long rows() const { return columns.empty() ? 0 : long(columns[0].size()); }
  // Throws naming the file and listing the columns it has.
  const std::vector<double>& column(const std::string& name) const;
};

CsvTable parse_csv(const std::string& text, const std::string& path);
CsvTable read_csv(const std::string& path);

struct CurveOptions {
  std::string x = "timesteps";         // progress.csv column for the x axis
  std::string metric = "eval_return";  // progress.csv column plotted and pooled
  // config.json key (dotted for nested objects) naming the variant; "dir" groups by folder name.
  // The default also tries "name", then the folder name without a trailing seed suffix.
  std::string group_by = "variant";
};

// One run: the rows where both x and the metric are finite, sorted by x.
struct RunData {
  std::string dir, variant;
  std::vector<double> x, y;
};

// `dir` is a run folder (or a progress.csv path; config.json is looked up next to it).
RunData load_run(const std::string& dir, const CurveOptions& opt = {});
// "rm-l-nl_seed3" -> "rm-l-nl", "baseline-s2" -> "baseline", "base-7" -> "base".
std::string strip_seed_suffix(const std::string& name);

struct VariantGroup {
  std::string name;
  std::vector<RunData> runs;  // one per seed
};
// Groups by variant, in the order variants first appear.
std::vector<VariantGroup> group_runs(std::vector<RunData> runs);

// Mean +- std (population, over seeds) on `points` evenly spaced x values spanning the range
// every seed covers; each seed is linearly interpolated onto the grid.
struct Envelope {
  std::vector<double> x, mean, std;
};
Envelope learning_curve(const VariantGroup& g, int points = 100);

// Complementary CDF of pooled returns: sorted ascending, point i = (x_i, 1 - i/(n-1)) (one return:
// probability 1). area = sum of the returns (n x the area under the normalised CCDF when the
// returns are non-negative).
struct Ccdf {
  std::vector<double> x, p;
  double area = 0;
};
Ccdf ccdf(std::vector<double> returns);
// Every seed's evaluation returns, concatenated.
std::vector<double> pooled_returns(const VariantGroup& g);

// One row of the results table.
struct VariantSummary {
  std::string name;
  int seeds = 0;
  long returns = 0;                      // pooled evaluations
  double final_mean = 0, final_std = 0;  // last evaluation of each seed, across seeds
  double ccdf_area = 0;
};
VariantSummary summarize(const VariantGroup& g);

// The diagnostics a researcher reads first when an imitation run fails, one small chart each,
// against column x, one line per (run, quantity): evaluation returns (deterministic and
// stochastic; eval_return in older files), the training episodes' return, length and forward
// velocity, the D reward (mean +- std band), D's mean output and accuracy on expert and agent
// windows, and the logit gradient norm at the gradient penalty's interpolates. `runs` are
// (label, progress.csv) pairs; a label is left out when there is one run. A chart none of whose
// columns has a finite value in any run (e.g. an older progress.csv) is left out.
std::vector<Chart> diagnostics_charts(const std::vector<std::pair<std::string, CsvTable>>& runs,
                                      const std::string& x = "timesteps");

}  // namespace relmimic::report
