#include "report/curves.h"

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <limits>
#include <numeric>
#include <regex>
#include <sstream>

#include "engine/json.h"
#include "kernels/common.h"

namespace relmimic::report {

namespace fs = std::filesystem;

namespace {

std::string trim(const std::string& s) {
  const size_t b = s.find_first_not_of(" \t");
  if (b == std::string::npos) return "";
  return s.substr(b, s.find_last_not_of(" \t") - b + 1);
}

std::vector<std::string> split(const std::string& line) {
  std::vector<std::string> out;
  std::string cell;
  std::istringstream is(line);
  while (std::getline(is, cell, ',')) out.push_back(trim(cell));
  if (!line.empty() && line.back() == ',') out.push_back("");
  return out;
}

double parse_cell(const std::string& cell, const std::string& where, const std::string& col) {
  if (cell.empty()) return std::numeric_limits<double>::quiet_NaN();
  char* end = nullptr;
  const double v = std::strtod(cell.c_str(), &end);
  RM_CHECK(end && *end == 0, where, ": column '", col, "': '", cell, "' is not a number");
  return v;
}

}  // namespace

const std::vector<double>& CsvTable::column(const std::string& name) const {
  for (size_t i = 0; i < names.size(); ++i)
    if (names[i] == name) return columns[i];
  std::string have;
  for (const std::string& n : names) have += (have.empty() ? "" : ", ") + n;
  RM_FAIL(path, ": no column '", name, "' (columns: ", have, ")");
}

CsvTable parse_csv(const std::string& text, const std::string& path) {
  CsvTable t;
  t.path = path;
  std::istringstream is(text);
  std::string line;
  int lineno = 0;
  bool header = true;
  while (std::getline(is, line)) {
    ++lineno;
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (trim(line).empty()) continue;
    const std::string where = path + ":" + std::to_string(lineno);
    std::vector<std::string> cells = split(line);
    if (header) {
      for (const std::string& c : cells) {
        RM_CHECK(!c.empty(), where, ": empty column name in the header");
        RM_CHECK(std::find(t.names.begin(), t.names.end(), c) == t.names.end(), where, ": column '",
                 c, "' appears twice in the header");
        t.names.push_back(c);
      }
      t.columns.resize(t.names.size());
      header = false;
      continue;
    }
    RM_CHECK(cells.size() == t.names.size(), where, ": ", cells.size(), " fields, the header has ",
             t.names.size());
    for (size_t i = 0; i < cells.size(); ++i)
      t.columns[i].push_back(parse_cell(cells[i], where, t.names[i]));
  }
  RM_CHECK(!header, path, ": empty file (expected a header line)");
  return t;
}

CsvTable read_csv(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  RM_CHECK(f, path, ": cannot open");
  std::ostringstream ss;
  ss << f.rdbuf();
  return parse_csv(ss.str(), path);
}

std::string strip_seed_suffix(const std::string& name) {
  // A separator then digits ("-3", "_s3", ".seed3"), or "seed" then digits ("walkerseed3").
  static const std::regex seed(R"re(([-_.](seed|s)?|seed)[0-9]+$)re", std::regex::icase);
  std::smatch m;
  if (std::regex_search(name, m, seed) && m.position(0) > 0)
    return name.substr(0, size_t(m.position(0)));
  return name;
}

namespace {

// config[key] for a dotted key, as text; empty when absent.
std::string config_text(const json::Value& cfg, const std::string& key) {
  const json::Value* v = &cfg;
  std::istringstream is(key);
  std::string part;
  while (std::getline(is, part, '.')) {
    if (!v->is_object()) return "";
    v = v->find(part);
    if (!v) return "";
  }
  if (v->is_string()) return v->as_string();
  if (v->is_number() || v->is_bool()) return json::dump(*v, 0);
  return "";
}

std::string variant_of(const fs::path& dir, const CurveOptions& opt) {
  const std::string folder = dir.filename().string();
  if (opt.group_by == "dir") return folder;
  const fs::path cfg_path = dir / "config.json";
  if (fs::exists(cfg_path)) {
    const json::Value cfg = json::parse_file(cfg_path.string());
    std::string v = config_text(cfg, opt.group_by);
    if (v.empty() && opt.group_by == CurveOptions{}.group_by) v = config_text(cfg, "name");
    if (!v.empty()) return v;
    RM_CHECK(opt.group_by == CurveOptions{}.group_by, cfg_path.string(), ": no key '", opt.group_by,
             "' to group runs by");
  }
  return strip_seed_suffix(folder);
}

}  // namespace

RunData load_run(const std::string& dir, const CurveOptions& opt) {
  fs::path folder = dir, csv = fs::path(dir) / "progress.csv";
  if (fs::is_regular_file(dir)) csv = dir, folder = fs::path(dir).parent_path();
  RM_CHECK(fs::exists(csv), dir, ": no progress.csv (expected a run folder)");
  if (folder.filename().empty()) folder = folder.parent_path();  // "runs/a/" -> "runs/a"
  const CsvTable t = read_csv(csv.string());
  const std::vector<double>& xs = t.column(opt.x);
  const std::vector<double>& ys = t.column(opt.metric);
  RunData r;
  r.dir = folder.string();
  r.variant = variant_of(folder, opt);
  std::vector<std::pair<double, double>> pts;
  for (long i = 0; i < t.rows(); ++i)
    if (std::isfinite(xs[i]) && std::isfinite(ys[i])) pts.emplace_back(xs[i], ys[i]);
  std::stable_sort(pts.begin(), pts.end(),
                   [](const auto& a, const auto& b) { return a.first < b.first; });
  for (const auto& [x, y] : pts) r.x.push_back(x), r.y.push_back(y);
  return r;
}

std::vector<VariantGroup> group_runs(std::vector<RunData> runs) {
  std::vector<VariantGroup> groups;
  for (RunData& r : runs) {
    auto it = std::find_if(groups.begin(), groups.end(),
                           [&](const VariantGroup& g) { return g.name == r.variant; });
    if (it == groups.end()) it = groups.insert(groups.end(), VariantGroup{r.variant, {}});
    it->runs.push_back(std::move(r));
  }
  return groups;
}

namespace {

// Linear interpolation of (xs, ys) at x (xs ascending, x inside [xs.front(), xs.back()]).
double interp(const std::vector<double>& xs, const std::vector<double>& ys, double x) {
  const size_t hi = size_t(std::lower_bound(xs.begin(), xs.end(), x) - xs.begin());
  if (hi == 0) return ys[0];
  if (hi >= xs.size()) return ys.back();
  const double x0 = xs[hi - 1], x1 = xs[hi];
  if (x1 == x0) return ys[hi];
  return ys[hi - 1] + (ys[hi] - ys[hi - 1]) * (x - x0) / (x1 - x0);
}

}  // namespace

Envelope learning_curve(const VariantGroup& g, int points) {
  RM_CHECK(points >= 2, "learning curve: need at least 2 grid points, got ", points);
  RM_CHECK(!g.runs.empty(), "variant '", g.name, "' has no runs");
  double lo = -std::numeric_limits<double>::infinity(), hi = -lo;
  for (const RunData& r : g.runs) {
    RM_CHECK(!r.x.empty(), r.dir, ": no rows with both x and the metric");
    lo = std::max(lo, r.x.front());
    hi = std::min(hi, r.x.back());
  }
  RM_CHECK(lo <= hi, "variant '", g.name, "': the seeds' x ranges do not overlap");
  Envelope e;
  const int n = hi > lo ? points : 1;
  for (int i = 0; i < n; ++i) {
    const double x = n == 1 ? lo : lo + (hi - lo) * i / (n - 1);
    double s = 0, s2 = 0;
    for (const RunData& r : g.runs) {
      const double y = interp(r.x, r.y, x);
      s += y;
      s2 += y * y;
    }
    const double k = double(g.runs.size()), mean = s / k;
    e.x.push_back(x);
    e.mean.push_back(mean);
    e.std.push_back(std::sqrt(std::max(0.0, s2 / k - mean * mean)));
  }
  return e;
}

Ccdf ccdf(std::vector<double> returns) {
  std::sort(returns.begin(), returns.end());
  Ccdf c;
  const size_t n = returns.size();
  for (size_t i = 0; i < n; ++i) {
    c.x.push_back(returns[i]);
    c.p.push_back(n == 1 ? 1.0 : 1.0 - double(i) / double(n - 1));
    c.area += returns[i];
  }
  return c;
}

std::vector<double> pooled_returns(const VariantGroup& g) {
  std::vector<double> all;
  for (const RunData& r : g.runs) all.insert(all.end(), r.y.begin(), r.y.end());
  return all;
}

namespace {

struct Quantity {
  const char* column;
  const char* label;
  const char* band = nullptr;  // column of the std drawn as a band around it
};
struct Panel {
  const char* title;
  std::vector<Quantity> quantities;
  std::vector<Quantity> fallback = {};  // when none of `quantities` is present (older files)
};

const std::vector<Panel>& diagnostics_panels() {
  static const std::vector<Panel> panels = {
      {"evaluation return",
       {{"eval_det_return", "deterministic"}, {"eval_stoch_return", "stochastic"}},
       {{"eval_return", "eval"}}},
      {"training episodes: return", {{"train_return", "train"}}},
      {"D reward (mean +- std over the rollout)", {{"mean_reward", "reward", "reward_std"}}},
      {"forward velocity (mean over the rollout)", {{"train_velocity", "x velocity"}}},
      {"training episodes: length", {{"train_length", "length"}}},
      {"D output (mean sigmoid)", {{"disc_expert_d", "expert"}, {"disc_agent_d", "agent"}}},
      {"D accuracy", {{"disc_expert_acc", "expert"}, {"disc_agent_acc", "agent"}}},
      {"gradient penalty: mean |grad_x logit|", {{"disc_logit_grad_norm", "norm"}}},
  };
  return panels;
}

const std::vector<double>* find_column(const CsvTable& t, const std::string& name) {
  for (size_t i = 0; i < t.names.size(); ++i)
    if (t.names[i] == name) return &t.columns[i];
  return nullptr;
}

// The finite (x, y) points of a quantity, sorted by x, with its band when it has one.
Series quantity_series(const CsvTable& t, const std::string& x, const Quantity& q,
                       const std::string& label) {
  Series s;
  s.label = label;
  const std::vector<double>* xs = find_column(t, x);
  const std::vector<double>* ys = find_column(t, q.column);
  if (!xs || !ys) return s;
  const std::vector<double>* sd = q.band ? find_column(t, q.band) : nullptr;
  std::vector<size_t> rows;
  for (size_t i = 0; i < xs->size(); ++i)
    if (std::isfinite((*xs)[i]) && std::isfinite((*ys)[i])) rows.push_back(i);
  std::stable_sort(rows.begin(), rows.end(),
                   [&](size_t a, size_t b) { return (*xs)[a] < (*xs)[b]; });
  bool band = sd != nullptr;
  for (size_t i : rows) band = band && std::isfinite((*sd)[i]);
  for (size_t i : rows) {
    s.x.push_back((*xs)[i]);
    s.y.push_back((*ys)[i]);
    if (band) s.lo.push_back((*ys)[i] - (*sd)[i]), s.hi.push_back((*ys)[i] + (*sd)[i]);
  }
  return s;
}

}  // namespace

std::vector<Chart> diagnostics_charts(const std::vector<std::pair<std::string, CsvTable>>& runs,
                                      const std::string& x) {
  std::vector<Chart> charts;
  for (const Panel& p : diagnostics_panels()) {
    Chart c{p.title, x, "", {}};
    for (const std::vector<Quantity>* qs : {&p.quantities, &p.fallback}) {
      for (const auto& [name, table] : runs)
        for (const Quantity& q : *qs) {
          std::string label = runs.size() > 1 ? name + " " + q.label : q.label;
          if (label.size() > 28) label = label.substr(label.size() - 28);  // keep the tail
          Series s = quantity_series(table, x, q, label);
          if (!s.x.empty()) c.series.push_back(std::move(s));
        }
      if (!c.series.empty()) break;  // the fallback only for files without the quantities
    }
    if (!c.series.empty()) charts.push_back(std::move(c));
  }
  return charts;
}

VariantSummary summarize(const VariantGroup& g) {
  VariantSummary s;
  s.name = g.name;
  s.seeds = int(g.runs.size());
  const std::vector<double> pooled = pooled_returns(g);
  s.returns = long(pooled.size());
  s.ccdf_area = ccdf(pooled).area;
  double sum = 0, sum2 = 0;
  int k = 0;
  for (const RunData& r : g.runs) {
    if (r.y.empty()) continue;
    sum += r.y.back();
    sum2 += r.y.back() * r.y.back();
    ++k;
  }
  if (k > 0) {
    s.final_mean = sum / k;
    s.final_std = std::sqrt(std::max(0.0, sum2 / k - s.final_mean * s.final_mean));
  }
  return s;
}

}  // namespace relmimic::report
