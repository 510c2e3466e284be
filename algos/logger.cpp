#include "algos/logger.h"

#include <unistd.h>

#include <cmath>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "engine/files.h"
#include "kernels/common.h"

namespace relmimic::algos {

namespace {
constexpr int kBarWidth = 24;

double seconds_since(std::chrono::steady_clock::time_point t) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t).count();
}
}  // namespace

std::string human_count(double n) {
  char buf[32];
  const double a = std::fabs(n);
  if (a >= 1e9)
    std::snprintf(buf, sizeof(buf), "%.2fG", n / 1e9);
  else if (a >= 1e6)
    std::snprintf(buf, sizeof(buf), "%.2fM", n / 1e6);
  else if (a >= 1e4)
    std::snprintf(buf, sizeof(buf), "%.0fk", n / 1e3);
  else
    std::snprintf(buf, sizeof(buf), "%.0f", n);
  return buf;
}

std::string human_duration(double seconds) {
  if (!std::isfinite(seconds) || seconds < 0) return "?";
  const long s = std::lround(seconds);
  char buf[32];
  if (s >= 3600)
    std::snprintf(buf, sizeof(buf), "%ldh%02ldm", s / 3600, (s / 60) % 60);
  else if (s >= 60)
    std::snprintf(buf, sizeof(buf), "%ldm%02lds", s / 60, s % 60);
  else
    std::snprintf(buf, sizeof(buf), "%lds", s);
  return buf;
}

ProgressBar::ProgressBar(std::string label, long total, double line_seconds, FILE* out)
    : label_(std::move(label)),
      total_(total > 0 ? total : 1),
      line_seconds_(line_seconds),
      out_(out),
      tty_(isatty(fileno(out)) != 0),
      start_(std::chrono::steady_clock::now()),
      last_line_(start_) {}

void ProgressBar::draw(long done, const std::string& status) {
  const double frac = std::min(1.0, double(done) / double(total_));
  const double elapsed = seconds_since(start_);
  // The ETA assumes the rate since this bar started (a resumed run starts from its counter).
  const double eta = frac > 0 && done > 0 ? elapsed * (1 - frac) / frac : NAN;
  std::string bar;
  if (tty_) {
    const int filled = int(frac * kBarWidth);
    bar.assign(kBarWidth + 3, ' ');
    bar[0] = '[';
    for (int i = 0; i < filled; ++i) bar[size_t(i) + 1] = '=';
    if (filled < kBarWidth) bar[size_t(filled) + 1] = '>';
    bar[kBarWidth + 1] = ']';
  }
  std::fprintf(out_, "%s%s %s%3.0f%% %s/%s %s elapsed %s eta %s", tty_ ? "\r\033[K" : "",
               label_.c_str(), bar.c_str(), 100 * frac, human_count(double(done)).c_str(),
               human_count(double(total_)).c_str(), status.c_str(), human_duration(elapsed).c_str(),
               human_duration(eta).c_str());
  if (!tty_) std::fputc('\n', out_);
  std::fflush(out_);
}

void ProgressBar::update(long done, const std::string& status) {
  last_done_ = done;
  last_status_ = status;
  if (tty_) {
    draw(done, status);
    open_ = true;
  } else if (seconds_since(last_line_) >= line_seconds_) {
    draw(done, status);
    last_line_ = std::chrono::steady_clock::now();
  }
}

void ProgressBar::finish() {
  if (tty_) {
    if (open_) std::fputc('\n', out_);
    open_ = false;
  } else {
    draw(last_done_, last_status_);
  }
  std::fflush(out_);
}

CsvLog::CsvLog(const std::string& path, std::vector<std::string> columns, long keep_rows)
    : path_(path), columns_(std::move(columns)) {
  RM_CHECK(!columns_.empty(), "CsvLog: no columns for ", path);
  std::string header;
  for (size_t i = 0; i < columns_.size(); ++i) {
    if (i) header += ',';
    header += columns_[i];
  }
  std::vector<std::string> kept;
  if (keep_rows >= 0) {
    std::ifstream in(path);
    RM_CHECK(in.good() || keep_rows == 0, path, ": cannot read the log of the run to resume");
    std::string line;
    if (in.good() && std::getline(in, line)) {
      RM_CHECK(line == header, path, ": its columns (", line, ") differ from this run's (", header,
               ")");
      while (long(kept.size()) < keep_rows && std::getline(in, line)) kept.push_back(line);
    }
    RM_CHECK(long(kept.size()) == keep_rows, path, ": has ", kept.size(),
             " rows, the checkpoint expects ", keep_rows);
  }
  // The header and kept rows replace the file atomically (a kill in between keeps the old
  // file, which a later resume trims again); new rows are appended.
  std::string text = header + "\n";
  for (const std::string& l : kept) text += l + "\n";
  write_file_atomically(path, text);
  f_ = std::fopen(path.c_str(), "a");
  RM_CHECK(f_, "cannot open ", path, " for writing");
}

CsvLog::~CsvLog() {
  if (f_) std::fclose(f_);
}

void CsvLog::row(const std::vector<double>& values) {
  RM_CHECK(values.size() == columns_.size(), path_, ": row of ", values.size(), " values for ",
           columns_.size(), " columns");
  for (size_t i = 0; i < values.size(); ++i) {
    const double v = values[i];
    if (i) std::fputc(',', f_);
    if (std::isfinite(v) && v == std::floor(v) && std::fabs(v) < 1e15)
      std::fprintf(f_, "%.0f", v);
    else
      std::fprintf(f_, "%.7g", v);
  }
  std::fputc('\n', f_);
  RM_CHECK(std::fflush(f_) == 0, "cannot write ", path_);
}

void check_run_folder_free(const std::string& run_dir, const std::string& csv,
                           const std::string& latest, bool resume, bool overwrite) {
  namespace fs = std::filesystem;
  RM_CHECK(!(resume && overwrite), "--resume continues the run in ", run_dir,
           ", --force replaces it: give one of them");
  if (resume) {
    check_resumable(latest);
    return;
  }
  if (overwrite) return;
  RM_CHECK(!fs::exists(latest), run_dir,
           " already holds a run: resume it (--resume), choose another name, or replace it "
           "(--force)");
  RM_CHECK(!fs::exists(csv), run_dir,
           " holds a run that stopped before its first checkpoint, so it cannot be resumed: "
           "start it again with --force, or choose another name");
}

void check_resumable(const std::string& latest) {
  namespace fs = std::filesystem;
  if (fs::exists(latest)) return;
  const fs::path dir = fs::path(latest).parent_path().parent_path();
  const bool started = fs::exists(dir / "progress.csv") || fs::exists(dir / "config.json");
  RM_CHECK(!started, "cannot resume: ", dir.string(),
           " holds a run that stopped before its first checkpoint (", latest,
           " does not exist): start it again with --force");
  RM_FAIL("cannot resume: ", latest, " does not exist");
}

std::string set_aside_run(const std::string& run_dir) {
  namespace fs = std::filesystem;
  const std::string prefix = "previous-";
  remove_stale_temps(run_dir);  // nothing of killed writers is kept
  remove_stale_temps((fs::path(run_dir) / "checkpoints").string());
  std::vector<fs::path> old;
  std::error_code ec;
  for (fs::directory_iterator it(run_dir, ec), end; !ec && it != end; it.increment(ec))
    if (it->path().filename().string().rfind(prefix, 0) != 0) old.push_back(it->path());
  if (old.empty()) return "";
  const std::time_t now = std::time(nullptr);
  std::tm utc{};
  gmtime_r(&now, &utc);
  char stamp[32];
  std::strftime(stamp, sizeof stamp, "%Y%m%d-%H%M%S", &utc);
  fs::path aside = fs::path(run_dir) / (prefix + stamp);
  for (int i = 2; fs::exists(aside); ++i)
    aside = fs::path(run_dir) / (prefix + stamp + "-" + std::to_string(i));
  fs::create_directory(aside);
  for (const fs::path& p : old) {
    fs::rename(p, aside / p.filename(), ec);
    RM_CHECK(!ec, "cannot move ", p.string(), " aside into ", aside.string(), ": ", ec.message());
  }
  return aside.string();
}

void note_set_aside(const std::string& run_dir, const std::string& aside) {
  if (!aside.empty())
    std::fprintf(stderr, "%s: the previous run's files are kept in %s\n", run_dir.c_str(),
                 aside.c_str());
}

void check_output_free(const std::string& path, bool overwrite) {
  RM_CHECK(path.empty() || overwrite || !std::filesystem::exists(path), path,
           " exists: choose another output file, or replace it (--force)");
}

}  // namespace relmimic::algos
