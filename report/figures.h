// The figures `relmimic plot` makes from a set of runs grouped by variant: the learning curves
// (mean +- std over seeds), the CCDF of the pooled evaluation returns, the diagnostics panels of
// the runs' training signals, and, on request, the plotted series as CSV files that other tools
// (e.g. matplotlib) can redraw the figures from.
#pragma once

#include <string>
#include <vector>

#include "report/curves.h"

namespace relmimic::report {

struct FigureOptions {
  CurveOptions curves;
  std::string title;  // put before each chart's title (e.g. "Hopper k=4")
  int points = 100;   // grid points of the interpolated learning curves
  int width = 960, height = 600;
  bool csv = false;  // also the plotted series as CSV
};

// Writes into folder `out` (created when missing):
//   learning_curves.png   one line per variant, its mean +- std band over seeds
//   ccdf.png              the CCDF of each variant's pooled returns
//   diagnostics.png       when the runs' progress.csv files have any diagnostics column
// and with o.csv, the numbers drawn (a header row, then one row per point; numbers in shortest
// round-trip form):
//   learning_curves.csv   variant,<x>,mean,std,runs      (runs: seeds averaged at the point)
//   ccdf.csv              variant,<metric>,ccdf          (ccdf = 1 - CDF, as plotted)
//   areas.csv             variant,seeds,returns,final_mean,final_std,ccdf_area (summarize())
// `runs` are the folders (or progress.csv paths) `groups` were loaded from, in the order given.
// Returns the paths written, in the order above.
std::vector<std::string> write_figures(const std::string& out, const std::vector<std::string>& runs,
                                       const std::vector<VariantGroup>& groups,
                                       const FigureOptions& o);

// One CSV field: quoted (with doubled quotes) when it holds a comma, a quote or a line break.
std::string csv_field(const std::string& s);
// A number as its shortest round-trip text ("0.1", "2048", "1e+300", "nan").
std::string csv_number(double v);

}  // namespace relmimic::report
