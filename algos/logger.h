// Training progress for the command line and the run folder, shared by every trainer:
//   ProgressBar  one redrawn line on a terminal ("[=====>    ] 41% 410k/1M ..."), or a plain line
//                every few seconds when stderr is a file (nohup, CI), so logs stay readable;
//   CsvLog       progress.csv, one row per iteration, flushed at once (a killed run keeps every
//                finished row). Reopened for a resumed run it keeps exactly the rows the
//                checkpoint had written, so the file reads as one uninterrupted run; that
//                rewrite is atomic (engine/files.h), a kill during it loses no row.
#pragma once

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <string>
#include <vector>

#include "kernels/common.h"

namespace relmimic::algos {

class ProgressBar {
 public:
  // `total` units of work (e.g. env steps); `line_seconds`: interval of the plain lines.
  ProgressBar(std::string label, long total, double line_seconds = 10.0, FILE* out = stderr);
  // Shows `done` of total and a status text ("return 1234 fps 3100").
  void update(long done, const std::string& status);
  // Ends the line (terminal) or prints the last state (file).
  void finish();

 private:
  void draw(long done, const std::string& status);
  std::string label_;
  long total_;
  double line_seconds_;
  FILE* out_;
  bool tty_;
  bool open_ = false;  // a terminal line is drawn and not ended
  long last_done_ = 0;
  std::string last_status_;
  std::chrono::steady_clock::time_point start_, last_line_;
};

// "1.23M", "410k", "999": compact counts for progress lines.
std::string human_count(double n);
// "1h02m", "3m05s", "12s".
std::string human_duration(double seconds);

class CsvLog {
 public:
  // Creates `path` with the header line, or, with keep_rows >= 0, reopens an existing file
  // (same header required) and keeps its first keep_rows data rows, dropping any rows a killed
  // run wrote after its last checkpoint. keep_rows = -1: always start a new file.
  CsvLog(const std::string& path, std::vector<std::string> columns, long keep_rows = -1);
  ~CsvLog();
  CsvLog(const CsvLog&) = delete;
  CsvLog& operator=(const CsvLog&) = delete;

  const std::vector<std::string>& columns() const { return columns_; }
  // One value per column; integral values are written without a fraction, others with 7
  // significant digits. Flushed immediately.
  void row(const std::vector<double>& values);

 private:
  std::string path_;
  std::vector<std::string> columns_;
  FILE* f_ = nullptr;
};

// Runs one training iteration. A failure (a non-finite loss, a bad file, ...) ends the progress
// bar and is rethrown naming the iteration and the last good checkpoint, which stays as it was.
template <class Iterate>
auto checked_iteration(Iterate&& iterate, long next_iteration, const std::string& last_checkpoint,
                       ProgressBar* bar) {
  try {
    return iterate();
  } catch (const Error& e) {
    if (bar) bar->finish();
    RM_FAIL("training stopped at iteration ", next_iteration, ": ", e.what(),
            last_checkpoint.empty() ? std::string(" (no checkpoint was written yet)")
                                    : " (the last good checkpoint is " + last_checkpoint + ")");
  }
}

// Run folders. A folder holds a run when it has progress.csv or a checkpoint; such a folder is
// only reused when the run resumes (--resume, from checkpoints/latest.h5) or when a new run
// replaces it on purpose (--force: the old run's files are set aside, see set_aside_run). A run
// that was killed before its first checkpoint cannot be resumed: it is started again with
// --force. resume and overwrite together are refused.
void check_run_folder_free(const std::string& run_dir, const std::string& csv,
                           const std::string& latest, bool resume, bool overwrite);
// The checkpoint a run resumes from, refused with one line (naming --force when the run stopped
// before its first checkpoint) when it does not exist.
void check_resumable(const std::string& latest);

// Moves every file and folder of run_dir (except earlier "previous-*" folders) into
// run_dir/previous-<UTC date>-<time>/, so a new run starts in an empty folder and the old one's
// checkpoints, progress.csv, plots and videos are kept apart. Returns that folder, or "" when
// run_dir held nothing to set aside.
std::string set_aside_run(const std::string& run_dir);
// Says on stderr where set_aside_run put the previous run (nothing when `aside` is empty).
void note_set_aside(const std::string& run_dir, const std::string& aside);

// An output file (--out) that exists is replaced only on purpose (overwrite, --force): refused
// with one line otherwise.
void check_output_free(const std::string& path, bool overwrite);

// The end of a finished run: checkpoints/final.h5 in the run folder and, when `out` is given, a
// copy there (its folder made when make_dirs). save(path) writes the trainer's checkpoint (every
// learner calls it: saving may communicate). Returns the run folder's final checkpoint.
template <class Save>
std::string save_final_checkpoints(const std::filesystem::path& run_dir, const std::string& out,
                                   bool make_dirs, Save&& save) {
  const std::string final_path = (run_dir / "checkpoints" / "final.h5").string();
  save(final_path);
  if (!out.empty()) {
    const std::filesystem::path o(out);
    if (make_dirs && o.has_parent_path()) std::filesystem::create_directories(o.parent_path());
    save(out);
  }
  return final_path;
}

// The end of a run's loop: the progress bar closed, the trainer's counters into res, and on a
// finished run the final checkpoints (save_final_checkpoints; res.checkpoint names the run
// folder's).
template <class Trainer, class Result, class Save>
void end_run(Trainer& trainer, ProgressBar* bar, double wall_seconds,
             const std::filesystem::path& run_dir, const std::string& out, bool make_dirs,
             Save&& save, Result& res) {
  if (bar) bar->finish();
  res.iterations = trainer.iteration();
  res.timesteps = trainer.timesteps();
  res.finished = trainer.finished();
  res.wall_seconds = wall_seconds;
  if (res.finished) res.checkpoint = save_final_checkpoints(run_dir, out, make_dirs, save);
}

}  // namespace relmimic::algos
