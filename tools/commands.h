// Every subcommand of the relmimic binary: argc/argv exclude the program and command names.
#pragma once

namespace relmimic::cli {

struct Command {
  const char* name;
  const char* summary;
  int (*run)(int argc, char** argv);
};

int cmd_nets(int argc, char** argv);
int cmd_rollout(int argc, char** argv);
int cmd_render(int argc, char** argv);
int cmd_expert(int argc, char** argv);
int cmd_rl(int argc, char** argv);
int cmd_eval(int argc, char** argv);
int cmd_plot(int argc, char** argv);
int cmd_record(int argc, char** argv);
int cmd_imitate(int argc, char** argv);
int cmd_profile(int argc, char** argv);
int cmd_probe(int argc, char** argv);
int cmd_sweep(int argc, char** argv);

// The table, in the order `relmimic --help` lists them.
inline constexpr Command kCommands[] = {
    {"nets", "print the paper's networks with parameter and FLOP counts", cmd_nets},
    {"rollout", "step an env with random actions and write the trajectory to HDF5", cmd_rollout},
    {"render", "render an env's frames to a PNG grid and an animated GIF", cmd_render},
    {"expert", "train a PPO expert on proprioceptive state; writes a run folder", cmd_expert},
    {"rl", "train a PPO agent from pixels with the env reward (architecture comparison)", cmd_rl},
    {"record", "render an expert's episodes into an HDF5 video demonstration file", cmd_record},
    {"imitate", "imitate video demonstrations: Relational Mimic / GAIfO baseline (Algorithm 1)",
     cmd_imitate},
    {"eval", "roll out a checkpoint: return/length statistics, JSON, GIF", cmd_eval},
    {"sweep", "run an experiment grid (envs x variants x k x seeds) here, or write it for Slurm",
     cmd_sweep},
    {"plot", "learning curves (mean +- std over seeds) and CCDF of returns from runs", cmd_plot},
    {"probe", "score expert windows with a checkpoint's D, with and without their motion",
     cmd_probe},
    {"profile", "time one Algorithm-1 iteration phase by phase (env, nets, D, PPO)", cmd_profile},
};

}  // namespace relmimic::cli
