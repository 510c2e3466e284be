// `relmimic sweep`: an experiment grid (envs x variants x k x seeds) of `imitate` or `rl` runs as
// one command. Each cell is one run folder <runs>/<grid>/<env>-<variant>-k<k>-s<seed>, run here N
// at a time as child processes (--local), or written out for a cluster as a Slurm array script
// (--slurm) or one command line per cell (--print). Rerunning the same command continues the grid:
// a finished cell is skipped, a started one resumes from its latest checkpoint.
#include <fcntl.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "algos/imitate.h"
#include "algos/logger.h"
#include "algos/ppo.h"
#include "engine/config.h"
#include "engine/networks.h"
#include "env/locomotion.h"
#include "kernels/common.h"
#include "tools/cli.h"
#include "tools/commands.h"

namespace relmimic::cli {

namespace {

namespace fs = std::filesystem;

struct Cell {
  std::string env, variant, name, dir;  // variant: the imitation variant, or rl's net.arch
  long frames = 0, seed = 0;
};

// An integer setting a cell's run was started with (its config.json); -1 when unreadable.
long saved_setting(const Cell& c, const std::string& command, const std::string& key) {
  try {
    Config cfg;
    if (command == "imitate")
      algos::declare_imitation(cfg);
    else
      algos::declare_ppo(cfg, algos::PpoPreset::pixels);
    cfg.load_file((fs::path(c.dir) / "config.json").string());
    return cfg.get<long>(key);
  } catch (const std::exception&) {
    return -1;
  }
}

// Where a cell's run stands, from its folder. A finished run resumes when `steps` (> 0) extends
// it past its ppo.total_steps.
enum class State { fresh, resume, restart, finished };
State state_of(const Cell& c, const std::string& command, long steps) {
  const fs::path d(c.dir);
  if (fs::exists(d / "checkpoints" / "final.h5")) {
    const long total = steps > 0 ? saved_setting(c, command, "ppo.total_steps") : -1;
    return total >= 0 && total < steps ? State::resume : State::finished;
  }
  if (fs::exists(d / "checkpoints" / "latest.h5")) return State::resume;
  if (fs::exists(d / "progress.csv") || fs::exists(d / "config.json")) return State::restart;
  return State::fresh;
}
const char* state_name(State s) {
  static const char* const kNames[] = {"new", "resume", "restart", "finished"};  // State's order
  return kNames[int(s)];
}

// The values of a repeatable flag, each occurrence possibly a comma-separated list; repeats
// dropped, order kept.
std::vector<std::string> list_values(const std::vector<std::string>& given) {
  std::vector<std::string> out;
  for (const std::string& g : given) {
    std::stringstream in(g);
    for (std::string v; std::getline(in, v, ',');)
      if (!v.empty() && std::find(out.begin(), out.end(), v) == out.end()) out.push_back(v);
  }
  return out;
}

long to_long(const std::string& flag, const std::string& s) {
  char* end = nullptr;
  const long v = std::strtol(s.c_str(), &end, 10);
  RM_CHECK(!s.empty() && end && *end == 0, flag, ": expected an integer, got '", s, "'");
  return v;
}

// One word of a POSIX shell command line.
std::string shell_quote(const std::string& s) {
  const bool plain = !s.empty() && std::all_of(s.begin(), s.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || std::strchr("-_./=,:+@%", c);
  });
  if (plain) return s;
  std::string q = "'";
  for (char c : s) q += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return q + "'";
}
std::string shell_line(const std::vector<std::string>& words) {
  std::string line;
  for (const std::string& w : words) {
    if (!line.empty()) line += ' ';
    line += shell_quote(w);
  }
  return line;
}

std::string elapsed(std::chrono::steady_clock::time_point since) {
  return algos::human_duration(
      std::chrono::duration<double>(std::chrono::steady_clock::now() - since).count());
}

struct Child {
  pid_t pid;
  size_t cell;
  std::chrono::steady_clock::time_point start;
};

// Starts argv with stdout and stderr appended to log; the child ends with this process.
pid_t spawn(const std::vector<std::string>& argv, const std::string& log) {
  std::vector<char*> args;
  for (const std::string& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  const pid_t parent = getpid();
  const pid_t pid = fork();
  RM_CHECK(pid >= 0, "cannot start a child process: ", std::strerror(errno));
  if (pid == 0) {
    prctl(PR_SET_PDEATHSIG, SIGTERM);
    if (getppid() != parent) _exit(127);
    const int fd = open(log.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
    if (fd < 0) _exit(127);
    dup2(fd, 1);
    dup2(fd, 2);
    close(fd);
    const int null = open("/dev/null", O_RDONLY);
    if (null >= 0) dup2(null, 0);
    execvp(args[0], args.data());
    const char msg[] = "relmimic sweep: cannot execute the cell's command\n";
    (void)!write(2, msg, sizeof msg - 1);
    _exit(127);
  }
  return pid;
}

}  // namespace

int cmd_sweep(int argc, char** argv) {
  std::string command = "imitate", runs = "runs", grid, config_file, slurm;
  std::vector<std::string> envs_given, variants_given, seeds_given, frames_given, demos_given, sets;
  long steps = 0;
  int local = 0, threads = 0, learners = 1;
  bool print = false, dry_run = false, force = false;
  Args a("sweep",
         "runs an experiment grid: one `relmimic imitate` (or `rl`) run per env x variant x k x "
         "seed, each in its own run folder <runs>/<grid>/<env>-<variant>-k<k>-s<seed>. --local N "
         "runs the grid here, N cells at a time (each logs to its folder's sweep.log); --slurm "
         "writes a Slurm array script and --print one command line per cell for any other "
         "cluster. Rerunning the same command continues the grid: a cell whose run finished "
         "(checkpoints/final.h5) is skipped, one with checkpoints/latest.h5 continues with "
         "--resume, one that stopped before its first checkpoint starts again (its files set "
         "aside), the others start fresh. Afterwards `relmimic plot <runs>/<grid>/*` draws the "
         "grid (for rl: --group-by net.arch).");
  a.positional("key=value", sets, "setting overrides for every cell, like --set");
  a.add("--command", command,
        "imitate (imitation from video demonstrations) or rl (PPO from pixels with the env "
        "reward: the pixel-RL ceiling)");
  a.add("--env", envs_given,
        "envs, hopper or walker2d, comma-separated or repeated (default: the config's)");
  a.add("--variant", variants_given,
        "variants, comma-separated or repeated: imitate: baseline | rm-l-l | rm-l-nl | rm-nl-nl; "
        "rl: net.arch, nature | impala | local | nonlocal (default: the config's)");
  a.add("--seed", seeds_given, "seeds, comma-separated or repeated (default: the config's)");
  a.add("--frames", frames_given,
        "k values (net.frames), comma-separated or repeated (default: the config's)");
  a.add("--demos", demos_given,
        "imitate: each env's HDF5 video demonstrations as ENV=FILE (e.g. hopper=demos/hopper.h5;"
        " a plain FILE when the grid has one env)");
  a.add("--config", config_file, "JSON file of settings for every cell");
  a.add("--set", sets, "override one setting for every cell, key=value");
  a.add("--steps", steps, "env steps per run, ppo.total_steps (0: the config's)");
  a.add("--runs", runs, "folder holding the grid's folder");
  a.add("--grid", grid,
        "the grid's folder under --runs (default: the --config file's name without .json, "
        "else the command)");
  a.add("--local", local, "run the grid here, this many cells at a time");
  a.add("--threads", threads,
        "run.threads of each cell (0: with --local, the cores / N, at least 1; else the "
        "config's); a resumed cell keeps its own");
  a.add("--learners", learners,
        "learners per cell: each cell's command runs under `mpirun -np L` (averaged gradients)");
  a.add("--slurm", slurm,
        "write a Slurm array script here, one array task per cell (submit it with sbatch; "
        "resubmitting it continues the grid)");
  a.flag("--print", print,
         "print one command line per cell (with --resume for a started run) for any other "
         "cluster");
  a.flag("--dry-run", dry_run, "list the cells, their run folders and states; run nothing");
  a.flag("--force", force, "replace an existing --slurm file");
  if (!a.parse(argc, argv)) return a.exit_code();

  auto usage = [](const std::string& m) { return usage_error("sweep", m); };
  const bool rl = command == "rl";
  if (command != "imitate" && !rl)
    return usage("--command must be imitate or rl, got '" + command + "'");
  if (a.given("--local") && local < 1)
    return usage("--local must be >= 1 (cells at a time), got " + std::to_string(local));
  if (threads < 0) return usage("--threads must be >= 0, got " + std::to_string(threads));
  if (learners < 1) return usage("--learners must be >= 1, got " + std::to_string(learners));
  if (steps < 0) return usage("--steps must be > 0 (or 0: the config's)");
  if (local > 0 && (print || !slurm.empty()))
    return usage(
        "--local runs the grid here, --slurm and --print write it for elsewhere: give one");
  if (local == 0 && !print && slurm.empty() && !dry_run)
    return usage("say what to do with the grid: --local N, --slurm FILE, --print or --dry-run");
  if (rl && !demos_given.empty())
    return usage("--demos is for --command imitate (rl learns from the env reward)");
  if (!slurm.empty() && fs::exists(slurm) && !force)
    return usage(slurm + " exists: give --force to replace it");
  for (const std::string& s : sets) {
    if (s.find('=') == std::string::npos)
      return usage("unexpected argument '" + s + "' (settings are key=value)");
    const std::string key = s.substr(0, s.find('='));
    const std::map<std::string, std::string> axes = {{"env.name", "--env"},
                                                     {"variant", "--variant"},
                                                     {"net.arch", rl ? "--variant" : ""},
                                                     {"net.frames", "--frames"},
                                                     {"seed", "--seed"},
                                                     {"run.threads", "--threads"},
                                                     {"ppo.total_steps", "--steps"}};
    if (auto it = axes.find(key); it != axes.end() && !it->second.empty())
      return usage(key + " is set per cell by " + it->second + ": give it there");
    const std::vector<std::string>& decided = algos::variant_keys();
    if (!rl && std::find(decided.begin(), decided.end(), key) != decided.end())
      return usage(key +
                   " is decided by the variant and net.frames/net.frame_size: choose "
                   "--variant instead");
  }

  // The settings every cell starts from: unknown keys and bad values are refused here, once.
  Config base;
  if (rl)
    algos::declare_ppo(base, algos::PpoPreset::pixels);
  else
    algos::declare_imitation(base);
  if (!config_file.empty()) base.load_file(config_file);
  base.apply_overrides(sets);

  std::vector<std::string> envs = list_values(envs_given), variants = list_values(variants_given);
  if (envs.empty()) envs = {base.get<std::string>("env.name")};
  if (variants.empty()) variants = {base.get<std::string>(rl ? "net.arch" : "variant")};
  std::vector<long> seeds, frames;
  for (const std::string& s : list_values(seeds_given)) seeds.push_back(to_long("--seed", s));
  for (const std::string& s : list_values(frames_given)) frames.push_back(to_long("--frames", s));
  if (seeds.empty()) seeds = {base.get<long>("seed")};
  if (frames.empty()) frames = {base.get<long>("net.frames")};
  for (const std::string& e : envs) env::parse_task(e);  // throws naming the envs it knows
  for (const std::string& v : variants) {
    if (!rl) {
      algos::parse_variant(v);
    } else if (parse_arch(v) == Arch::mlp) {
      return usage("rl learns from pixels: --variant must be an image network, got mlp");
    }
  }
  for (long s : seeds)
    if (s < 0) return usage("--seed must be >= 0, got " + std::to_string(s));
  for (long k : frames)
    if (k < 1) return usage("--frames must be >= 1, got " + std::to_string(k));

  // Each env's demonstrations (imitate), as absolute paths so a cell runs from any folder.
  std::map<std::string, std::string> demos;
  for (const std::string& d : demos_given) {
    const size_t eq = d.find('=');
    std::string e = eq == std::string::npos ? "" : d.substr(0, eq);
    const std::string file = eq == std::string::npos ? d : d.substr(eq + 1);
    if (e.empty()) {
      if (envs.size() != 1)
        return usage("--demos " + d + ": say which env's demonstrations these are (ENV=FILE)");
      e = envs[0];
    }
    if (std::find(envs.begin(), envs.end(), e) == envs.end())
      return usage("--demos " + d + ": " + e + " is not an env of the grid");
    if (!fs::is_regular_file(file)) return usage("--demos " + d + ": no file " + file);
    demos[e] = fs::absolute(file).string();
  }
  if (!rl)
    for (const std::string& e : envs)
      if (!demos.count(e))
        return usage("no demonstrations for " + e + ": give --demos " + e + "=FILE");

  if (grid.empty()) grid = config_file.empty() ? command : fs::path(config_file).stem().string();
  const fs::path grid_dir = fs::absolute(fs::path(runs) / grid);
  std::vector<Cell> cells;
  for (const std::string& e : envs)
    for (const std::string& v : variants)
      for (long k : frames)
        for (long s : seeds) {
          Cell c{e, v, "", "", k, s};
          c.name = e + "-" + v + "-k" + std::to_string(k) + "-s" + std::to_string(s);
          c.dir = (grid_dir / c.name).string();
          cells.push_back(c);
        }

  if (local > 0 && threads == 0)
    threads = std::max(1, int(std::thread::hardware_concurrency()) / local);
  const std::string self = fs::read_symlink("/proc/self/exe").string();
  // The command line of a cell; run.threads is given when cell_threads > 0.
  auto words = [&](const Cell& c, int cell_threads) {
    std::vector<std::string> w;
    if (learners > 1) w = {"mpirun", "-np", std::to_string(learners)};
    w.insert(w.end(), {self, command, "--runs", grid_dir.string(), "--name", c.name, "--env", c.env,
                       rl ? "--net" : "--variant", c.variant, "--seed", std::to_string(c.seed)});
    if (!rl) w.insert(w.end(), {"--demos", demos.at(c.env)});
    if (!config_file.empty()) w.insert(w.end(), {"--config", fs::absolute(config_file).string()});
    if (steps > 0) w.insert(w.end(), {"--steps", std::to_string(steps)});
    w.insert(w.end(), {"--set", "net.frames=" + std::to_string(c.frames)});
    for (const std::string& s : sets) w.insert(w.end(), {"--set", s});
    if (cell_threads > 0)
      w.insert(w.end(), {"--set", "run.threads=" + std::to_string(cell_threads)});
    w.push_back("--quiet");
    return w;
  };
  auto resume_words = [&](const Cell& c) {
    // A started cell continues with its own run.threads, whatever --threads says now.
    const long saved = saved_setting(c, command, "run.threads");
    std::vector<std::string> w = words(c, saved >= 0 ? int(saved) : threads);
    w.push_back("--resume");
    return w;
  };

  if (dry_run) {
    std::printf("%s grid %s: %zu cell(s)\n", command.c_str(), grid_dir.c_str(), cells.size());
    for (const Cell& c : cells)
      std::printf("%-9s %s\n", state_name(state_of(c, command, steps)), c.dir.c_str());
  }
  if (print)
    for (const Cell& c : cells) {
      const State st = state_of(c, command, steps);
      std::vector<std::string> w =
          st == State::resume || st == State::finished ? resume_words(c) : words(c, threads);
      if (st == State::restart) w.push_back("--force");
      std::printf("%s%s\n", st == State::finished ? "# finished: " : "", shell_line(w).c_str());
    }
  if (!slurm.empty()) {
    std::ostringstream s;
    s << "#!/usr/bin/env bash\n"
      << "# The " << command << " grid " << grid_dir.string() << ": " << cells.size()
      << " cells, one array task each (written by relmimic sweep; submit with sbatch).\n"
      << "# Resubmitting it continues the grid: a finished cell is skipped, a started one\n"
      << "# continues with --resume, one that stopped before its first checkpoint starts again.\n"
      << "#SBATCH --job-name=" << grid << "\n"
      << "#SBATCH --array=0-" << cells.size() - 1 << "\n"
      << "#SBATCH --ntasks=" << learners << "\n";
    if (threads > 0) s << "#SBATCH --cpus-per-task=" << threads << "\n";
    s << "set -euo pipefail\n"
      << "cell() {  # cell RUN_FOLDER COMMAND...\n"
      << "  local dir=\"$1\"\n"
      << "  shift\n"
      << "  if [ -f \"$dir/checkpoints/final.h5\" ]; then echo \"$dir: finished\"; return 0; fi\n"
      << "  if [ ! -f \"$dir/checkpoints/latest.h5\" ] && [ -f \"$dir/progress.csv\" -o -f "
         "\"$dir/config.json\" ]; then\n"
      << "    # stopped before its first checkpoint: its files are set aside, it starts again\n"
      << "    local aside=\"$dir/previous-$(date -u +%Y%m%d-%H%M%S)-$SLURM_ARRAY_JOB_ID\"\n"
      << "    mkdir -p \"$aside\"\n"
      << "    find \"$dir\" -mindepth 1 -maxdepth 1 ! -name 'previous-*' -exec mv -t \"$aside\" "
         "{} +\n"
      << "  fi\n"
      << "  mkdir -p \"$dir\"\n"
      << "  exec >> \"$dir/sweep.log\" 2>&1  # the cell's output, as with --local\n"
      << "  echo \"# $(date -u '+%F %T UTC'): array task $SLURM_ARRAY_TASK_ID of job "
         "$SLURM_ARRAY_JOB_ID\"\n"
      << "  if [ -f \"$dir/checkpoints/latest.h5\" ]; then \"$@\" --resume; else \"$@\"; fi\n"
      << "}\n"
      << "case \"$SLURM_ARRAY_TASK_ID\" in\n";
    for (size_t i = 0; i < cells.size(); ++i)
      s << "  " << i << ") cell " << shell_quote(cells[i].dir) << " "
        << shell_line(words(cells[i], threads)) << " ;;\n";
    s << "  *) echo \"no cell $SLURM_ARRAY_TASK_ID in this grid\" >&2; exit 2 ;;\n"
      << "esac\n";
    std::ofstream f(slurm);
    RM_CHECK(f << s.str(), "cannot write ", slurm);
    f.close();
    fs::permissions(slurm, fs::perms::owner_exec, fs::perm_options::add);
    std::printf("wrote %s (%zu array tasks; submit with: sbatch %s)\n", slurm.c_str(), cells.size(),
                slurm.c_str());
  }
  if (local == 0 || dry_run) return 0;

  // --local: N children at a time, in grid order.
  const size_t n = cells.size();
  std::vector<State> states;
  for (const Cell& c : cells) states.push_back(state_of(c, command, steps));
  const long done_before = std::count(states.begin(), states.end(), State::finished);
  std::printf(
      "%s grid %s: %zu cell(s) (%ld finished, %ld to resume), %d at a time, %d thread(s) "
      "each\n",
      command.c_str(), grid_dir.c_str(), n, done_before,
      long(std::count(states.begin(), states.end(), State::resume)), local, threads);
  std::fflush(stdout);
  auto tag = [&](size_t i) {
    char t[48];
    std::snprintf(t, sizeof t, "[%zu/%zu]", i + 1, n);
    return std::string(t);
  };
  auto log_of = [&](size_t i) { return (fs::path(cells[i].dir) / "sweep.log").string(); };
  std::vector<Child> running;
  std::vector<size_t> failed;
  size_t next = 0, ran = 0;
  while (next < n || !running.empty()) {
    while (next < n && int(running.size()) < local) {
      const size_t i = next++;
      const Cell& c = cells[i];
      if (states[i] == State::finished) {
        std::printf("%s skip    %s (finished)\n", tag(i).c_str(), c.name.c_str());
        continue;
      }
      // A run that stopped before its first checkpoint cannot resume: its files are set aside.
      if (states[i] == State::restart) algos::note_set_aside(c.dir, algos::set_aside_run(c.dir));
      fs::create_directories(c.dir);
      const std::vector<std::string> w =
          states[i] == State::resume ? resume_words(c) : words(c, threads);
      {
        std::ofstream log(log_of(i), std::ios::app);
        const std::time_t now = std::time(nullptr);
        char stamp[32];
        std::strftime(stamp, sizeof stamp, "%Y-%m-%d %H:%M:%S UTC", std::gmtime(&now));
        log << "# " << stamp << ": " << shell_line(w) << "\n";
      }
      running.push_back({spawn(w, log_of(i)), i, std::chrono::steady_clock::now()});
      std::printf("%s start   %s%s\n", tag(i).c_str(), c.name.c_str(),
                  states[i] == State::resume    ? " (resumed)"
                  : states[i] == State::restart ? " (started again)"
                                                : "");
      std::fflush(stdout);
    }
    if (running.empty()) continue;
    int status = 0;
    const pid_t pid = waitpid(-1, &status, 0);
    if (pid < 0) {
      RM_CHECK(errno == EINTR, "waiting for the cells: ", std::strerror(errno));
      continue;
    }
    auto it = std::find_if(running.begin(), running.end(),
                           [&](const Child& ch) { return ch.pid == pid; });
    if (it == running.end()) continue;
    const Child ch = *it;
    running.erase(it);
    ++ran;
    const std::string took = elapsed(ch.start);
    if (WIFEXITED(status) && WEXITSTATUS(status) == 0) {
      std::printf("%s done    %s in %s\n", tag(ch.cell).c_str(), cells[ch.cell].name.c_str(),
                  took.c_str());
    } else {
      failed.push_back(ch.cell);
      const std::string why = WIFEXITED(status) ? "exit " + std::to_string(WEXITSTATUS(status))
                                                : "signal " + std::to_string(WTERMSIG(status));
      std::printf("%s FAILED  %s (%s) after %s: see %s\n", tag(ch.cell).c_str(),
                  cells[ch.cell].name.c_str(), why.c_str(), took.c_str(), log_of(ch.cell).c_str());
    }
    std::fflush(stdout);
  }
  std::printf("%s grid %s: %zu cell(s), %ld finished before, %zu ran, %zu failed\n",
              command.c_str(), grid_dir.c_str(), n, done_before, ran, failed.size());
  if (failed.empty()) return 0;
  for (size_t i : failed)
    std::fprintf(stderr, "relmimic sweep: cell %s failed: see %s\n", cells[i].name.c_str(),
                 log_of(i).c_str());
  return 1;
}

}  // namespace relmimic::cli
