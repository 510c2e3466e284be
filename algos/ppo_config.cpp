// PPO settings: declarations with the two presets' defaults, validation, network configs.
#include <cmath>

#include "algos/evaluate.h"
#include "algos/ppo.h"
#include "kernels/common.h"

namespace relmimic::algos {

void declare_ppo(Config& c, PpoPreset preset) {
  const bool px = preset == PpoPreset::pixels;
  c.add("env.name", "hopper", "task: hopper | walker2d");
  c.add("env.num_envs", px ? 8 : 8, "parallel envs N per learner");
  c.add("env.max_episode_steps", 1000, "time limit: episodes are truncated after this many steps");
  c.add("env.threads", 1, "env worker threads (rendering pools: one EGL context each)");
  c.add("env.pipeline", "auto",
        "pixel agents on the CPU backend: the envs step in two halves, each while the policy acts "
        "on the other half's observations on the learner's thread (env workers and networks on "
        "separate cores; the same rollout up to float rounding): on | off | auto (on, except for a "
        "Non-local torso on frames over 64x64)");
  c.add("seed", 0L, "seeds the networks, the env streams, action sampling and shuffling");

  c.add("net.arch", px ? "local" : "mlp", "torso: mlp | nature | impala | local | nonlocal");
  c.add("net.value_arch", "same", "value torso when it differs from the policy's (same: net.arch)");
  c.add("net.frames", 4, "pixel agents: frames k stacked per observation");
  c.add("net.frame_size", 84, "pixel agents: rendered frame height = width");
  c.add("net.embed", 2, "nonlocal agent: relational block width C'");
  c.add("net.hidden", 64, "mlp: width of the two tanh layers");
  c.add("net.layer_norm", false, "mlp: LayerNorm after each hidden dense layer");
  c.add("net.init_log_std", px ? std::log(0.6) : 0.0, "initial log-std of the Gaussian policy");

  c.add("ppo.total_steps", px ? 1500000L : 3000000L, "env steps over the whole run (all envs)");
  c.add("ppo.rollout_steps", px ? 128 : 256, "steps T per env per iteration (batch T*N)");
  c.add("ppo.minibatch", px ? 128 : 64, "samples per gradient step");
  c.add("ppo.epochs", 10, "passes over each rollout");
  c.add("ppo.lr", 3e-4, "policy Adam learning rate");
  c.add("ppo.value_lr", 3e-4, "value Adam learning rate");
  c.add("ppo.lr_decay", true, "decay the policy learning rate linearly to 0 over the run");
  c.add("ppo.value_lr_decay", true, "decay the value learning rate linearly to 0 over the run");
  c.add("ppo.gamma", 0.99, "discount");
  c.add("ppo.lambda", 0.95, "GAE lambda");
  c.add("ppo.clip", 0.2, "policy ratio clip range epsilon");
  c.add("ppo.value_clip", 0.2, "value-loss clip range around the rollout's values (0: off)");
  c.add("ppo.entropy_coef", 0.0, "entropy bonus coefficient");
  c.add("ppo.value_coef", 0.5, "value-loss coefficient");
  c.add("ppo.max_grad_norm", 0.5, "gradient-norm clip per network (0: off)");
  c.add("ppo.target_kl", 0.0, "stop an update's epochs once the approx. KL exceeds this (0: off)");
  c.add("ppo.adam_eps", 1e-5, "Adam epsilon (policy and value)");
  c.add("ppo.norm_adv", true, "standardize advantages over each rollout");
  c.add("ppo.obs_norm", !px, "normalise state observations by running mean/std");
  c.add("ppo.obs_clip", 10.0, "clip normalised observations to +-this");
  c.add("ppo.reward_norm", true, "scale rewards by the running std of the discounted return");
  c.add("ppo.reward_clip", 10.0, "clip scaled rewards to +-this");
  c.add("ppo.action_clip", 1.0, "clip sampled actions to +-this for the env");

  c.add("run.threads", px ? 0 : 1,
        "compute threads of the CPU backend (0: OpenMP's default); small MLPs run fastest on 1");
  c.add("run.overlap", true,
        "CPU backend: compute the policy's and the value network's minibatch gradients at the "
        "same time, each on half of the threads");
  c.add("run.checkpoint_every", 10, "iterations between checkpoints");
  c.add("run.log_window", 100, "episodes averaged for the logged return");
  c.add("run.device", "cpu",
        "where networks, rollout storage and updates run: cpu | cuda | cuda:N (pixel agents)");
  c.add("run.device_frames", "interop",
        "run.device=cuda: frames reach the GPU by CUDA-GL interop (interop; NVIDIA EGL) or are "
        "read back and uploaded after each step (upload; any renderer)");
  declare_eval(c);
}

namespace {
void check(bool ok, const char* key, const char* want, double got) {
  RM_CHECK(ok, "config ", key, " must be ", want, ", got ", got);
}
}  // namespace

PpoSettings ppo_settings(const Config& c) {
  PpoSettings s;
  s.task = env::parse_task(c.get<std::string>("env.name"));
  s.num_envs = c.get<int>("env.num_envs");
  s.env_threads = c.get<int>("env.threads");
  const std::string pipeline = c.get<std::string>("env.pipeline");
  RM_CHECK(pipeline == "auto" || pipeline == "on" || pipeline == "off",
           "config env.pipeline must be auto, on or off, got '", pipeline, "'");
  s.pipeline = pipeline == "on"    ? PpoSettings::Pipeline::on
               : pipeline == "off" ? PpoSettings::Pipeline::off
                                   : PpoSettings::Pipeline::automatic;
  s.max_episode_steps = c.get<int>("env.max_episode_steps");
  s.seed = c.get<long>("seed");
  s.arch = parse_arch(c.get<std::string>("net.arch"));
  const std::string value_arch = c.get<std::string>("net.value_arch");
  s.value_arch = value_arch == "same" ? s.arch : parse_arch(value_arch);
  s.frames = c.get<int>("net.frames");
  s.frame_size = c.get<int>("net.frame_size");
  s.embed = c.get<int>("net.embed");
  s.hidden = c.get<int>("net.hidden");
  s.layer_norm = c.get<bool>("net.layer_norm");
  s.init_log_std = c.get<double>("net.init_log_std");
  s.total_steps = c.get<long>("ppo.total_steps");
  s.rollout_steps = c.get<int>("ppo.rollout_steps");
  s.minibatch = c.get<int>("ppo.minibatch");
  s.epochs = c.get<int>("ppo.epochs");
  s.lr = c.get<double>("ppo.lr");
  s.value_lr = c.get<double>("ppo.value_lr");
  s.lr_decay = c.get<bool>("ppo.lr_decay");
  s.value_lr_decay = c.get<bool>("ppo.value_lr_decay");
  s.gamma = c.get<double>("ppo.gamma");
  s.lambda = c.get<double>("ppo.lambda");
  s.clip = c.get<double>("ppo.clip");
  s.value_clip = c.get<double>("ppo.value_clip");
  s.entropy_coef = c.get<double>("ppo.entropy_coef");
  s.value_coef = c.get<double>("ppo.value_coef");
  s.max_grad_norm = c.get<double>("ppo.max_grad_norm");
  s.target_kl = c.get<double>("ppo.target_kl");
  s.adam_eps = c.get<double>("ppo.adam_eps");
  s.norm_adv = c.get<bool>("ppo.norm_adv");
  s.obs_norm = c.get<bool>("ppo.obs_norm");
  s.obs_clip = c.get<double>("ppo.obs_clip");
  s.reward_norm = c.get<bool>("ppo.reward_norm");
  s.reward_clip = c.get<double>("ppo.reward_clip");
  s.action_clip = c.get<double>("ppo.action_clip");
  s.threads = c.get<int>("run.threads");
  s.overlap = c.get<bool>("run.overlap");
  s.checkpoint_every = c.get<int>("run.checkpoint_every");
  s.log_window = c.get<int>("run.log_window");
  const std::string device = c.get<std::string>("run.device");
  try {
    s.device = Device::parse(device);
  } catch (const Error&) {
    RM_FAIL("config run.device must be cpu, cuda or cuda:N, got '", device, "'");
  }
  const std::string frames = c.get<std::string>("run.device_frames");
  RM_CHECK(frames == "interop" || frames == "upload",
           "config run.device_frames must be interop or upload, got '", frames, "'");
  s.upload_frames = frames == "upload";

  check(s.num_envs >= 1 && s.num_envs <= 4096, "env.num_envs", "in [1, 4096]", s.num_envs);
  check(s.max_episode_steps >= 1, "env.max_episode_steps", ">= 1", s.max_episode_steps);
  check(s.env_threads >= 1, "env.threads", ">= 1", s.env_threads);
  check(s.seed >= 0, "seed", ">= 0", double(s.seed));
  check(s.frames >= 1 && s.frames <= 64, "net.frames", "in [1, 64]", s.frames);
  check(s.frame_size >= 16 && s.frame_size <= 512, "net.frame_size", "in [16, 512]", s.frame_size);
  check(s.embed >= 1, "net.embed", ">= 1", s.embed);
  check(s.hidden >= 1, "net.hidden", ">= 1", s.hidden);
  check(std::isfinite(s.init_log_std) && std::fabs(s.init_log_std) <= 5, "net.init_log_std",
        "in [-5, 5]", s.init_log_std);
  check(s.total_steps >= 1, "ppo.total_steps", ">= 1", double(s.total_steps));
  check(s.rollout_steps >= 1, "ppo.rollout_steps", ">= 1", s.rollout_steps);
  check(s.minibatch >= 1 && s.minibatch <= s.batch(), "ppo.minibatch",
        "in [1, rollout_steps * num_envs]", s.minibatch);
  check(s.epochs >= 1, "ppo.epochs", ">= 1", s.epochs);
  check(s.lr > 0, "ppo.lr", "> 0", s.lr);
  check(s.value_lr > 0, "ppo.value_lr", "> 0", s.value_lr);
  check(s.gamma > 0 && s.gamma <= 1, "ppo.gamma", "in (0, 1]", s.gamma);
  check(s.lambda >= 0 && s.lambda <= 1, "ppo.lambda", "in [0, 1]", s.lambda);
  check(s.clip > 0, "ppo.clip", "> 0", s.clip);
  check(s.value_clip >= 0, "ppo.value_clip", ">= 0", s.value_clip);
  check(s.entropy_coef >= 0, "ppo.entropy_coef", ">= 0", s.entropy_coef);
  check(s.value_coef > 0, "ppo.value_coef", "> 0", s.value_coef);
  check(s.max_grad_norm >= 0, "ppo.max_grad_norm", ">= 0", s.max_grad_norm);
  check(s.target_kl >= 0, "ppo.target_kl", ">= 0", s.target_kl);
  check(s.adam_eps > 0, "ppo.adam_eps", "> 0", s.adam_eps);
  check(s.obs_clip > 0, "ppo.obs_clip", "> 0", s.obs_clip);
  check(s.reward_clip > 0, "ppo.reward_clip", "> 0", s.reward_clip);
  check(s.action_clip > 0, "ppo.action_clip", "> 0", s.action_clip);
  check(s.threads >= 0, "run.threads", ">= 0", s.threads);
  check(s.checkpoint_every >= 1, "run.checkpoint_every", ">= 1", s.checkpoint_every);
  check(s.log_window >= 1, "run.log_window", ">= 1", s.log_window);
  RM_CHECK((s.value_arch == Arch::mlp) == (s.arch == Arch::mlp),
           "config net.value_arch=", arch_name(s.value_arch), " and net.arch=", arch_name(s.arch),
           " must both be image networks or both mlp");
  RM_CHECK(!(s.pixels() && s.obs_norm),
           "config ppo.obs_norm applies to state observations; pixel agents standardize frames "
           "inside the network (set ppo.obs_norm=false)");
  RM_CHECK(
      s.device.is_cpu() || s.pixels(), "config run.device=", s.device.str(),
      " trains pixel agents only; the state (mlp) experts train on the cpu (set run.device=cpu)");
  return s;
}

namespace {
AgentConfig base_config(const PpoSettings& s, int obs_dim) {
  AgentConfig a;
  a.arch = s.arch;
  a.frames = s.frames;
  a.height = a.width = s.frame_size;
  a.obs_dim = s.pixels() ? 0 : obs_dim;
  a.embed = s.embed;
  a.mlp_hidden = s.hidden;
  a.mlp_layer_norm = s.layer_norm;
  // Rollouts run N observations at once, updates one minibatch.
  a.max_batch = std::max(s.num_envs, s.minibatch);
  return a;
}
}  // namespace

AgentConfig policy_config(const PpoSettings& s, int obs_dim, int actions) {
  AgentConfig a = base_config(s, obs_dim);
  a.actions = actions;
  a.seed = Rng::derive(uint64_t(s.seed), 101);
  return a;
}

AgentConfig value_config(const PpoSettings& s, int obs_dim) {
  AgentConfig a = base_config(s, obs_dim);
  a.arch = s.value_arch;
  a.actions = 0;
  a.seed = Rng::derive(uint64_t(s.seed), 102);
  return a;
}

env::PoolConfig pool_config(const PpoSettings& s, int num_envs, uint64_t seed) {
  env::PoolConfig pc;
  pc.task = s.task;
  pc.num_envs = num_envs;
  pc.num_threads = s.env_threads;
  env::TaskConfig tc = env::TaskConfig::defaults(s.task);
  tc.max_episode_steps = s.max_episode_steps;
  pc.task_config = tc;
  pc.seed = seed;
  pc.render = s.pixels();
  pc.frame_stack = s.frames;
  pc.render_config.width = pc.render_config.height = s.frame_size;
  return pc;
}

}  // namespace relmimic::algos
