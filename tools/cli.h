// The relmimic command line: a small flag parser with generated --help, shared by subcommands.
#pragma once

#include <functional>
#include <map>
#include <string>
#include <vector>

#include "engine/config.h"

namespace relmimic::cli {

// Usage:
//   Args a("nets", "print the paper's networks with parameter and FLOP counts");
//   int frames = 4; bool json = false;
//   a.add("--frames", frames, "frames stacked per observation");
//   a.flag("--json", json, "print JSON instead of a table");
//   if (!a.parse(argc, argv)) return a.exit_code();   // --help printed, or error printed
class Args {
 public:
  Args(std::string command, std::string summary);
  void add(const std::string& name, int& value, const std::string& help);
  void add(const std::string& name, long& value, const std::string& help);
  void add(const std::string& name, double& value, const std::string& help);
  void add(const std::string& name, std::string& value, const std::string& help);
  // Repeatable: every occurrence appends its value.
  void add(const std::string& name, std::vector<std::string>& values, const std::string& help);
  void flag(const std::string& name, bool& value, const std::string& help);
  // Arguments that are not options (e.g. `relmimic plot runs/a runs/b`), in order. Without this,
  // a non-option argument is an error.
  void positional(const std::string& name, std::vector<std::string>& values,
                  const std::string& help);
  // Returns false when the command should exit now (help shown: code 0; bad flag: code 2).
  bool parse(int argc, char** argv);
  int exit_code() const { return exit_code_; }
  std::string usage() const;
  // Names of the flags given explicitly on the command line.
  const std::vector<std::string>& given() const { return given_; }
  bool given(const std::string& name) const;

 private:
  struct Opt {
    std::string name, help, def;
    bool is_flag;
    std::function<void(const std::string&)> set;
  };
  std::string command_, summary_;
  std::vector<Opt> opts_;
  std::vector<std::string> given_;
  std::string pos_name_, pos_help_;
  std::vector<std::string>* pos_ = nullptr;
  int exit_code_ = 0;
};

// Prints "relmimic <command>: <msg> (see relmimic <command> --help)" to stderr and returns 2,
// the exit code of a bad command line.
int usage_error(const std::string& command, const std::string& msg);

// For --resume: `given` is the run's saved config with the settings given on the command line
// applied again. Returns "" when they leave it as it is (the same command plus --resume
// continues a run), else "<key> is <saved value> in the run, <given value> here" for the first
// setting they change. Keys in `ignore` are not compared.
std::string changed_setting(const Config& saved, const Config& given,
                            const std::vector<std::string>& ignore = {});

}  // namespace relmimic::cli
