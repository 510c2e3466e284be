// Helpers shared by the test programs: catching an error's message, scratch file paths, and
// running the relmimic binary.
#pragma once

#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <exception>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <sstream>
#include <string>
#include <vector>

namespace relmimic::testing {

// The message of the exception f throws, or "" when it throws none.
template <class F>
std::string error_of(F&& f) {
  try {
    f();
  } catch (const std::exception& e) {
    return e.what();
  }
  return "";
}

// The lines of a text file (e.g. a run's progress.csv).
inline std::vector<std::string> file_lines(const std::filesystem::path& p) {
  std::ifstream in(p);
  std::vector<std::string> v;
  for (std::string l; std::getline(in, l);) v.push_back(l);
  return v;
}

// A text file's contents ("" when it cannot be read).
inline std::string file_text(const std::filesystem::path& p) {
  std::ifstream f(p);
  return std::string(std::istreambuf_iterator<char>(f), std::istreambuf_iterator<char>());
}

// The lines of a command's output that are not empty.
inline std::vector<std::string> nonempty_lines(const std::string& s) {
  std::vector<std::string> v;
  std::istringstream in(s);
  for (std::string l; std::getline(in, l);)
    if (!l.empty()) v.push_back(l);
  return v;
}

// A path in the system's temporary folder, named after the test that uses it and unique to this
// process: ctest runs the cases of one program as parallel processes.
inline std::string tmp_path(const std::string& name) {
  return (std::filesystem::temp_directory_path() /
          ("relmimic_test_" + std::to_string(::getpid()) + "_" + name))
      .string();
}

struct CommandResult {
  int code;         // exit status, -1 when the command did not exit normally
  std::string out;  // stdout and stderr together
};

// Runs `relmimic <args>` (RELMIMIC_BINARY is defined for every test program).
inline CommandResult run_relmimic(const std::string& args) {
  const std::string cmd = std::string(RELMIMIC_BINARY) + " " + args + " 2>&1";
  FILE* p = popen(cmd.c_str(), "r");
  if (!p) return {-1, ""};
  std::string out;
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof buf, p)) > 0) out.append(buf, n);
  const int status = pclose(p);
  return {WIFEXITED(status) ? WEXITSTATUS(status) : -1, out};
}

struct SplitResult {
  int code;              // exit status, -1 when the command did not exit normally
  std::string out, err;  // stdout and stderr apart
};

// Runs `relmimic <args>` keeping stdout and stderr apart (through two files in dir).
inline SplitResult run_relmimic_split(const std::filesystem::path& dir, const std::string& args) {
  std::filesystem::create_directories(dir);
  const std::string out = (dir / "stdout.txt").string();
  const std::string err = (dir / "stderr.txt").string();
  const std::string cmd = std::string(RELMIMIC_BINARY) + " " + args + " > " + out + " 2> " + err;
  const int status = std::system(cmd.c_str());
  return {WIFEXITED(status) ? WEXITSTATUS(status) : -1, file_text(out), file_text(err)};
}

}  // namespace relmimic::testing
