#include "report/figures.h"

#include <algorithm>
#include <charconv>
#include <filesystem>
#include <utility>

#include "engine/files.h"
#include "kernels/common.h"
#include "report/plot.h"

namespace relmimic::report {

namespace fs = std::filesystem;

std::string csv_field(const std::string& s) {
  if (s.find_first_of(",\"\r\n") == std::string::npos) return s;
  std::string q = "\"";
  for (char c : s) q += c == '"' ? std::string("\"\"") : std::string(1, c);
  return q + "\"";
}

std::string csv_number(double v) {
  char buf[64];
  const std::to_chars_result r = std::to_chars(buf, buf + sizeof buf, v);
  RM_CHECK(r.ec == std::errc(), "cannot format the number ", v);
  return std::string(buf, r.ptr);
}

namespace {

std::string title_of(const std::string& prefix, const std::string& what) {
  return prefix.empty() ? what : prefix + ": " + what;
}

// "<variant> (<seeds>)", the legend label.
std::string label_of(const VariantGroup& g) {
  return g.name + " (" + std::to_string(g.runs.size()) + ")";
}

// Each run's progress.csv, labelled with its folder's name.
std::vector<std::pair<std::string, CsvTable>> progress_tables(
    const std::vector<std::string>& runs) {
  std::vector<std::pair<std::string, CsvTable>> tables;
  for (const std::string& d : runs) {
    const fs::path p(d);
    const bool file = fs::is_regular_file(p);
    fs::path folder = file ? p.parent_path() : p;
    if (folder.filename().empty()) folder = folder.parent_path();
    tables.emplace_back(folder.filename().string(),
                        read_csv((file ? p : p / "progress.csv").string()));
  }
  return tables;
}

// The series behind learning_curves.png, ccdf.png and the table, as CSV text.
struct SeriesCsv {
  std::string curves, ccdf, areas;
};

SeriesCsv series_csv(const std::vector<VariantGroup>& groups,
                     const std::vector<Envelope>& envelopes, const std::vector<Ccdf>& tails,
                     const FigureOptions& o) {
  SeriesCsv s;
  s.curves = "variant," + csv_field(o.curves.x) + ",mean,std,runs\n";
  s.ccdf = "variant," + csv_field(o.curves.metric) + ",ccdf\n";
  s.areas = "variant,seeds,returns,final_mean,final_std,ccdf_area\n";
  for (size_t g = 0; g < groups.size(); ++g) {
    const std::string name = csv_field(groups[g].name);
    const std::string runs = std::to_string(groups[g].runs.size());
    const Envelope& e = envelopes[g];
    for (size_t i = 0; i < e.x.size(); ++i)
      s.curves += name + "," + csv_number(e.x[i]) + "," + csv_number(e.mean[i]) + "," +
                  csv_number(e.std[i]) + "," + runs + "\n";
    const Ccdf& c = tails[g];
    for (size_t i = 0; i < c.x.size(); ++i)
      s.ccdf += name + "," + csv_number(c.x[i]) + "," + csv_number(c.p[i]) + "\n";
    const VariantSummary r = summarize(groups[g]);
    s.areas += name + "," + std::to_string(r.seeds) + "," + std::to_string(r.returns) + "," +
               csv_number(r.final_mean) + "," + csv_number(r.final_std) + "," +
               csv_number(r.ccdf_area) + "\n";
  }
  return s;
}

}  // namespace

std::vector<std::string> write_figures(const std::string& out, const std::vector<std::string>& runs,
                                       const std::vector<VariantGroup>& groups,
                                       const FigureOptions& o) {
  RM_CHECK(!out.empty(), "write_figures: no output folder given");
  const CurveOptions& opt = o.curves;
  Chart curves{title_of(o.title, opt.metric + " (mean +- std over seeds)"), opt.x, opt.metric, {}};
  Chart tails{title_of(o.title, "CCDF of " + opt.metric), opt.metric, "1 - CDF", {}};
  std::vector<Envelope> envelopes;
  std::vector<Ccdf> ccdfs;
  for (const VariantGroup& g : groups) {
    const Envelope& e = envelopes.emplace_back(learning_curve(g, o.points));
    Series s{label_of(g), e.x, e.mean, {}, {}};
    for (size_t i = 0; i < e.x.size(); ++i) {
      s.lo.push_back(e.mean[i] - e.std[i]);
      s.hi.push_back(e.mean[i] + e.std[i]);
    }
    curves.series.push_back(std::move(s));
    const Ccdf& c = ccdfs.emplace_back(ccdf(pooled_returns(g)));
    tails.series.push_back({label_of(g), c.x, c.p, {}, {}});
  }
  fs::create_directories(out);
  const auto path = [&out](const char* name) { return (fs::path(out) / name).string(); };
  std::vector<std::string> written = {path("learning_curves.png"), path("ccdf.png")};
  write_chart_png(written[0], curves, o.width, o.height);
  write_chart_png(written[1], tails, o.width, o.height);

  // The diagnostics: whichever of their columns the runs' progress.csv files have.
  std::vector<Chart> panels = diagnostics_charts(progress_tables(runs), opt.x);
  for (Chart& c : panels) c.title = title_of(o.title, c.title);
  if (!panels.empty()) {
    written.push_back(path("diagnostics.png"));
    write_panels_png(written.back(), panels, 2, std::max(o.width * 2 / 3, 320),
                     std::max(o.height * 3 / 5, 240));
  }

  if (o.csv) {
    const SeriesCsv s = series_csv(groups, envelopes, ccdfs, o);
    for (const auto& [name, text] :
         {std::pair{"learning_curves.csv", &s.curves}, std::pair{"ccdf.csv", &s.ccdf},
          std::pair{"areas.csv", &s.areas}}) {
      written.push_back(path(name));
      write_file_atomically(written.back(), *text);
    }
  }
  return written;
}

}  // namespace relmimic::report
