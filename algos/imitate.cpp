// Relational Mimic: settings, the learner's iteration (rollout hooks, reward, discriminator
// updates, gradient averaging) and evaluation. Checkpoints are in imitate_state.cpp.
#include "algos/imitate.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstring>
#include <iterator>
#include <limits>
#include <numeric>

#include "algos/evaluate.h"
#include "algos/train_ops.h"
#include "engine/device_ops.h"
#include "engine/profile.h"
#include "kernels/common.h"
#include "kernels/ppo_loss.h"

namespace relmimic::algos {

namespace {
double seconds_since(std::chrono::steady_clock::time_point t) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t).count();
}

void check(bool ok, const char* key, const char* want, double got) {
  RM_CHECK(ok, "config ", key, " must be ", want, ", got ", got);
}

// sum += w * u, field by field.
void add_stats(UpdateStats& sum, const UpdateStats& u, double w) {
  sum.loss += w * u.loss;
  sum.expert_loss += w * u.expert_loss;
  sum.agent_loss += w * u.agent_loss;
  sum.penalty += w * u.penalty;
  sum.expert_accuracy += w * u.expert_accuracy;
  sum.agent_accuracy += w * u.agent_accuracy;
  sum.expert_d += w * u.expert_d;
  sum.agent_d += w * u.agent_d;
  sum.grad_norm += w * u.grad_norm;
  sum.logit_grad_norm += w * u.logit_grad_norm;
}

// Stream ids of Rng::derive for the learner's own streams (PpoTrainer uses 100-202).
constexpr uint64_t kDiscStream = 300, kExpertStream = 301, kShuffleStream = 302, kShiftStream = 303;
// Floor of the demonstrations' per-feature std that standardizes D's observation windows.
constexpr double kMinObsStd = 1e-2;
}  // namespace

const char* variant_name(Variant v) {
  switch (v) {
    case Variant::baseline:
      return "baseline";
    case Variant::rm_l_l:
      return "rm-l-l";
    case Variant::rm_l_nl:
      return "rm-l-nl";
    case Variant::rm_nl_nl:
      return "rm-nl-nl";
  }
  return "?";
}

Variant parse_variant(const std::string& s) {
  for (Variant v : {Variant::baseline, Variant::rm_l_l, Variant::rm_l_nl, Variant::rm_nl_nl})
    if (s == variant_name(v)) return v;
  RM_FAIL("unknown variant '", s, "' (expected baseline, rm-l-l, rm-l-nl or rm-nl-nl)");
}

VariantNets variant_nets(Variant v) {
  VariantNets n;
  n.relational_reward = v != Variant::baseline;
  n.policy = v == Variant::rm_nl_nl ? Arch::nonlocal : Arch::local;
  n.value = v == Variant::rm_l_nl || v == Variant::rm_nl_nl ? Arch::nonlocal : Arch::local;
  return n;
}

void declare_imitation(Config& c) {
  c.add("variant", "rm-l-l",
        "baseline | rm-l-l | rm-l-nl | rm-nl-nl: which of reward / policy / value hold "
        "relational blocks (sets net.arch, net.value_arch, disc.variant)");
  c.add("demos", "", "HDF5 demonstrations (relmimic record)");
  c.add("demos_sha256", "",
        "SHA-256 of the demonstration file, recorded when the run starts (demos becomes its "
        "absolute path); a resumed run refuses a file with another hash");
  c.add("imitate.obs", "frames",
        "frames | state: imitate from rendered frames (Relational Mimic) or from the env's "
        "proprioceptive observations (mlp policy, value and discriminator; the variant's "
        "relational modules do not apply)");
  c.add("imitate.disc_obs", "",
        "empty (what imitate.obs says) | state: a diagnostic, D on windows of k proprioceptive "
        "observations (the state runs' mlp D; demonstrations with observations) while the "
        "policy and value still see frames: whether D's view of the frames or the pixel policy "
        "holds imitation back (run.device=cpu only: the state D has no CUDA path)");
  declare_ppo(c, PpoPreset::pixels);
  // The reward is D's, not the env's: no return-based scaling of it.
  c.set("ppo.reward_norm", json::Value(false), "imitation defaults");
  declare_discriminator(c, "disc");
  c.add("imitate.disc_passes", 1,
        "discriminator passes per iteration over the rollout's windows (0: D stays frozen)");
  c.add("imitate.disc_updates", 0,
        "at most this many discriminator updates per iteration (0: every minibatch of every "
        "pass); a cheaper D schedule for short CPU runs");
  c.add("imitate.disc_shift", 0,
        "random-shift augmentation of D's windows in its updates: each expert and agent window "
        "moves by a random (dy, dx) in [-s, s] pixels, its k frames together, edges replicated "
        "(DrQ's pad-and-crop; frames only). 0: off, as in the paper; the reward is always "
        "scored on the windows as rendered");
  c.add("imitate.disc_minibatch", 128,
        "agent windows per discriminator update (paired with as many expert windows)");
  c.add("imitate.reward_norm", "none",
        "none | return_std: divide D's reward by the running std of its discounted return "
        "(VecNormalize-style, per learner)");
  c.add("imitate.reward_clip", 10.0, "clip D's normalised reward to +-this (return_std only)");
  c.add("eval.deterministic", false, "replaced by eval.modes (kept so older configs load)");
  apply_variant(c);
}

const std::vector<std::string>& variant_keys() {
  static const std::vector<std::string> keys = {"net.arch",     "net.value_arch",
                                                "ppo.obs_norm", "disc.variant",
                                                "disc.frames",  "disc.frame_size"};
  return keys;
}

void apply_variant(Config& c) {
  const VariantNets n = variant_nets(parse_variant(c.get<std::string>("variant")));
  const std::string src = "variant " + c.get<std::string>("variant");
  if (c.get<std::string>("imitate.obs") == "state") {  // the expert's networks and normaliser
    c.set("net.arch", json::Value("mlp"), "imitate.obs state");
    c.set("net.value_arch", json::Value("mlp"), "imitate.obs state");
    c.set("ppo.obs_norm", json::Value(true), "imitate.obs state");
  } else {
    c.set("net.arch", json::Value(arch_name(n.policy)), src);
    c.set("net.value_arch", json::Value(arch_name(n.value)), src);
    c.set("ppo.obs_norm", json::Value(false), "imitate.obs frames");
  }
  c.set("disc.variant", json::Value(n.relational_reward ? "relational" : "baseline"), src);
  c.set("disc.frames", json::Value(c.get<int>("net.frames")), "net.frames");
  c.set("disc.frame_size", json::Value(c.get<int>("net.frame_size")), "net.frame_size");
}

ImitationSettings imitation_settings(const Config& c) {
  ImitationSettings s;
  s.variant = parse_variant(c.get<std::string>("variant"));
  const std::string obs = c.get<std::string>("imitate.obs");
  RM_CHECK(obs == "frames" || obs == "state", "config imitate.obs must be frames or state, got '",
           obs, "'");
  s.states = obs == "state";
  const std::string disc_obs = c.get<std::string>("imitate.disc_obs");
  RM_CHECK(disc_obs.empty() || disc_obs == obs || disc_obs == "state",
           "config imitate.disc_obs must be empty, state, or imitate.obs (", obs, "), got '",
           disc_obs, "'");
  s.disc_states = s.states || disc_obs == "state";
  s.demos = c.get<std::string>("demos");
  s.ppo = ppo_settings(c);
  s.disc = discriminator_config(c, 0);
  s.disc_passes = c.get<int>("imitate.disc_passes");
  s.disc_minibatch = c.get<int>("imitate.disc_minibatch");
  s.disc_updates = c.get<int>("imitate.disc_updates");
  s.disc_shift = c.get<int>("imitate.disc_shift");
  const std::string reward_norm = c.get<std::string>("imitate.reward_norm");
  RM_CHECK(reward_norm == "none" || reward_norm == "return_std",
           "config imitate.reward_norm must be none or return_std, got '", reward_norm, "'");
  s.reward_norm = reward_norm == "return_std";
  s.reward_clip = c.get<double>("imitate.reward_clip");
  s.eval = eval_settings(c, std::max(s.ppo.num_envs, s.ppo.minibatch));
  RM_CHECK(!c.get<bool>("eval.deterministic"),
           "config eval.deterministic is replaced by eval.modes (deterministic, stochastic or "
           "both)");

  const VariantNets n = variant_nets(s.variant);
  const char* v = variant_name(s.variant);
  if (s.states) {
    RM_CHECK(s.ppo.arch == Arch::mlp && s.ppo.value_arch == Arch::mlp,
             "config net.arch=", arch_name(s.ppo.arch),
             " / net.value_arch=", arch_name(s.ppo.value_arch),
             " contradict imitate.obs=state (mlp networks)");
    RM_CHECK(s.ppo.obs_norm,
             "config ppo.obs_norm=false contradicts imitate.obs=state (the "
             "policy normalises its observations as the expert's does)");
  } else {
    RM_CHECK(s.ppo.arch == n.policy, "config net.arch=", arch_name(s.ppo.arch),
             " contradicts variant ", v, " (policy ", arch_name(n.policy), ")");
    RM_CHECK(s.ppo.value_arch == n.value, "config net.value_arch=", arch_name(s.ppo.value_arch),
             " contradicts variant ", v, " (value ", arch_name(n.value), ")");
  }
  RM_CHECK(s.disc.relational == n.relational_reward, "config disc.variant contradicts variant ", v,
           " (reward ", n.relational_reward ? "relational" : "baseline", ")");
  RM_CHECK(s.disc.frames == s.ppo.frames && s.disc.height == s.ppo.frame_size,
           "config disc.frames/disc.frame_size (", s.disc.frames, "/", s.disc.height,
           ") must equal net.frames/net.frame_size (", s.ppo.frames, "/", s.ppo.frame_size,
           "): D scores the agent's stacked states");
  RM_CHECK(!s.ppo.reward_norm,
           "config ppo.reward_norm scales the env reward inside the rollout; imitation learns "
           "from D's reward (set ppo.reward_norm=false)");
  RM_CHECK(!s.demos.empty(), "config demos: no demonstration file given (--demos)");
  check(s.disc_passes >= 0, "imitate.disc_passes", ">= 0", s.disc_passes);
  check(s.disc_updates >= 0, "imitate.disc_updates", ">= 0", s.disc_updates);
  check(s.disc_shift >= 0 && s.disc_shift < s.ppo.frame_size, "imitate.disc_shift",
        "in [0, net.frame_size)", s.disc_shift);
  RM_CHECK(s.disc_shift == 0 || !s.disc_states,
           "config imitate.disc_shift shifts D's frames; D on states (imitate.obs or "
           "imitate.disc_obs = state) has none (set imitate.disc_shift=0)");
  check(s.reward_clip > 0, "imitate.reward_clip", "> 0", s.reward_clip);
  check(s.disc_minibatch >= 1 && s.disc_minibatch <= s.ppo.batch(), "imitate.disc_minibatch",
        "in [1, rollout_steps * num_envs]", s.disc_minibatch);
  return s;
}

Config ppo_config_of(const Config& c, long learner_seed) {
  Config p;
  declare_ppo(p, PpoPreset::pixels);
  for (const std::string& k : p.keys()) {
    switch (c.type(k)) {
      case Config::Type::Bool:
        p.set(k, json::Value(c.get<bool>(k)));
        break;
      case Config::Type::Int:
        p.set(k, json::Value(c.get<long>(k)));
        break;
      case Config::Type::Double:
        p.set(k, json::Value(c.get<double>(k)));
        break;
      case Config::Type::String:
        p.set(k, json::Value(c.get<std::string>(k)));
        break;
    }
  }
  p.set("seed", json::Value(learner_seed), "learner seed");
  return p;
}

// ---------------------------------------------------------------- ImitationTrainer

ImitationTrainer::ImitationTrainer(const Config& cfg, Comm& comm)
    : cfg_(cfg), comm_(comm), s_(imitation_settings(cfg)) {
  learner_seed_ = long(learner_seed(uint64_t(s_.ppo.seed), comm_.rank()));
  RM_CHECK(comm_.size() == 1 || s_.ppo.target_kl == 0,
           "config ppo.target_kl stops each learner's epochs on its own KL; with ", comm_.size(),
           " learners they would stop at different epochs (set ppo.target_kl=0)");
  env::DemoExpect expect;
  expect.env = env::task_name(s_.ppo.task);
  if (!s_.disc_states) expect.frame_height = expect.frame_width = s_.ppo.frame_size;
  expect.frame_skip = env::TaskConfig::defaults(s_.ppo.task).frame_skip;
  expect.k = s_.ppo.frames;
  expect.need_frames = !s_.disc_states;
  expect.need_obs = s_.disc_states;
  demos_ = std::make_unique<env::DemoSet>(s_.demos, expect);

  Config ppo_cfg = ppo_config_of(cfg_, learner_seed_);
  if (s_.ppo.device.is_cuda()) {
    // One learner keeps run.device; several take their local GPUs and average over NCCL.
    ops::check_device(comm_.size() == 1 ? s_.ppo.device : Device::cuda(0), "config run.device");
    dev_ = install_device_comm(comm_, s_.ppo.device).device;
    ppo_cfg.set("run.device", json::Value(dev_.str()), "the learner's GPU");
  }
  ppo_ = std::make_unique<PpoTrainer>(ppo_cfg);
  s_.disc.seed = Rng::derive(uint64_t(learner_seed_), kDiscStream);
  s_.disc.device = dev_;
  const int D = ppo_->pool().obs_dim();
  if (s_.disc_states) {
    if (!s_.states) ppo_->keep_raw_obs();  // a policy on frames: D's windows need the states
    RM_CHECK(demos_->obs_dim() == D, "demonstrations '", s_.demos, "': observations are ",
             demos_->obs_dim(), "-dimensional, this run's env has ", D);
    s_.disc.states = true;
    s_.disc.obs_dim = D;
    demos_->obs_moments(s_.disc.obs_mean, s_.disc.obs_std);
    // A feature the expert holds (nearly) constant must not blow up D's input scale.
    for (double& sd : s_.disc.obs_std) sd = std::max(sd, kMinObsStd);
  }
  disc_ = std::make_unique<Discriminator<float>>(s_.disc);
  expert_rng_ = Rng(Rng::derive(uint64_t(learner_seed_), kExpertStream));
  shuffle_rng_ = Rng(Rng::derive(uint64_t(learner_seed_), kShuffleStream));
  shift_rng_ = Rng(Rng::derive(uint64_t(learner_seed_), kShiftStream));
  // Rank 0 evaluates; its sampled actions have the imitation runs' own stream (1).
  eval_ = std::make_unique<PeriodicEvaluation>(s_.eval, uint64_t(s_.ppo.seed), 1);

  const long B = s_.ppo.batch();
  const int k = s_.ppo.frames, M = s_.disc_minibatch;
  per_ = s_.disc_states ? long(k) * D * long(sizeof(float)) : ppo_->rollout().obs_bytes;
  // The demonstrations' rows on the run's device (on the cpu: the DemoSet's own).
  const Tensor& rows = s_.disc_states ? demos_->obs_rows() : demos_->frame_rows();
  demo_rows_ = rows;
  if (dev_.is_cuda()) {
    demo_rows_ = Tensor::zeros(rows.shape(), rows.dtype(), dev_);
    ops::copy_from_host(dev_, demo_rows_.raw(), rows.raw(), rows.nbytes());
  }
  // Scratch of windows: a minibatch of each kind, and the reward's chunks of disc.max_batch.
  const int scratch = std::max(M, s_.disc.max_batch);
  agent_mb_ = Tensor::zeros({scratch, per_}, DType::u8, dev_);
  expert_mb_ = Tensor::zeros({M, per_}, DType::u8, dev_);
  if (s_.disc_shift > 0) {
    agent_shifted_ = Tensor::zeros({M, per_}, DType::u8, dev_);
    expert_shifted_ = Tensor::zeros({M, per_}, DType::u8, dev_);
    shifts_ = Tensor::zeros({2L * M}, DType::i32, dev_);
    shifts_host_.resize(size_t(2 * M));
  }
  index_ = Tensor::zeros({long(std::max(scratch, M * k))}, DType::i32, dev_);
  index_host_.resize(size_t(index_.numel()));
  if (s_.disc_states) {
    state_windows_ = Tensor::zeros({B, per_}, DType::u8);
    obs_stack_.assign(size_t(s_.ppo.num_envs) * k * D, 0.f);
    reset_obs_windows();
  }
  perm_.resize(size_t(B));
  rewards_.assign(size_t(B), 0.f);
  if (s_.reward_norm)
    reward_norm_ =
        std::make_unique<ReturnNormalizer>(s_.ppo.num_envs, s_.ppo.gamma, s_.reward_clip);
  if (comm_.size() > 1) ppo_->set_gradient_hook([this](float* g, long n) { average(g, n); });
  sync_parameters();
}

ImitationTrainer::~ImitationTrainer() = default;

// ---------------------------------------------------------------- Algorithm 1

ImitationStats ImitationTrainer::iterate() {
  profile::ScopedRange range("iteration");
  ImitationStats st;
  st.ppo = ppo_->collect();  // roll out pi for T steps of N envs: s_t, a_t and s^k_{t+1}
  reward_rollout(st);        // r_t = -log(1 - D(s^k_{t+1})) into the rollout's rewards
  update_discriminator(st);  // D: expert windows -> 1, the rollout's windows -> 0, + penalty
  ppo_->learn(st.ppo);       // PPO on D's reward: GAE, advantages, clipped epochs
  average_statistics(st);    // the learners' means (collective)
  evaluate_if_due(st);       // rank 0: every eval.every iterations and at the last
  return st;
}

void ImitationTrainer::reward_rollout(ImitationStats& st) {
  const auto t0 = std::chrono::steady_clock::now();
  profile::ScopedRange range("D reward");
  const long B = s_.ppo.batch();
  Rollout& r = ppo_->rollout();
  if (s_.disc_states) build_state_windows();
  // D frozen for the whole rollout, in chunks of disc.max_batch windows.
  std::vector<int32_t> samples(size_t(s_.disc.max_batch));
  for (long b0 = 0; b0 < B; b0 += s_.disc.max_batch) {
    const int c = int(std::min<long>(s_.disc.max_batch, B - b0));
    std::iota(samples.begin(), samples.begin() + c, int32_t(b0));
    disc_->reward(next_windows(samples.data(), c, agent_mb_), r.rewards.data<float>() + b0);
  }
  ops::copy_to_host(dev_, rewards_.data(), r.rewards.raw(), sizeof(float) * size_t(B));
  double sum = 0, sum2 = 0;
  for (float x : rewards_) sum += x, sum2 += double(x) * x;
  st.mean_reward = sum / double(B);
  reward_sq_ = sum2 / double(B);
  st.train_velocity = st.ppo.mean_velocity;
  if (reward_norm_) {
    reward_norm_->scale(s_.ppo.rollout_steps, rewards_.data(), r.host_terminated.data(),
                        r.host_truncated.data(), rewards_.data());
    ops::copy_from_host(dev_, r.rewards.raw(), rewards_.data(), sizeof(float) * size_t(B));
  }
  st.reward_seconds = seconds_since(t0);
}

void ImitationTrainer::update_discriminator(ImitationStats& st) {
  const auto t0 = std::chrono::steady_clock::now();
  profile::ScopedRange range("D update");
  const long B = s_.ppo.batch();
  const int M = s_.disc_minibatch;
  const Discriminator<float>::GradientHook hook =
      comm_.size() > 1
          ? Discriminator<float>::GradientHook([this](float* g, long n) { average(g, n); })
          : Discriminator<float>::GradientHook();
  UpdateStats sum;
  int updates = 0;
  std::iota(perm_.begin(), perm_.end(), 0);
  const long cap = s_.disc_updates > 0 ? s_.disc_updates : std::numeric_limits<long>::max();
  for (int pass = 0; pass < s_.disc_passes && updates < cap; ++pass) {
    for (long i = B - 1; i > 0; --i)
      std::swap(perm_[size_t(i)], perm_[size_t(shuffle_rng_.below(uint64_t(i + 1)))]);
    for (long start = 0; start < B && updates < cap; start += M) {
      const int c = int(std::min<long>(M, B - start));
      Tensor agent = next_windows(perm_.data() + start, c, agent_mb_);
      Tensor expert = expert_batch(c);
      if (s_.disc_shift > 0) {
        agent = shifted(agent, agent_shifted_);
        expert = shifted(expert, expert_shifted_);
      }
      add_stats(sum, disc_->update(expert, agent, hook), 1.0);
      ++updates;
    }
  }
  st.disc_updates = updates;
  if (updates > 0) {
    add_stats(st.disc, sum, 1.0 / updates);
  } else {  // D frozen (imitate.disc_passes = 0): no D statistics
    const double n = NAN;
    st.disc = UpdateStats{n, n, n, n, n, n, n, n, n, n};
  }
  st.disc_seconds = seconds_since(t0);
}

// ---------------------------------------------------------------- windows

Tensor ImitationTrainer::windows(const Tensor& rows, long count) const {
  void* p = rows.raw();
  if (s_.disc_states)
    return Tensor::view(p, {count, s_.ppo.frames, s_.disc.obs_dim}, DType::f32, dev_);
  return Tensor::view(p, {count, s_.ppo.frames, s_.ppo.frame_size, s_.ppo.frame_size}, DType::u8,
                      dev_);
}

Tensor ImitationTrainer::gather(const Tensor& source, long row_bytes, long count, Tensor& dst) {
  ops::copy_from_host(dev_, index_.raw(), index_host_.data(), sizeof(int32_t) * size_t(count));
  train_ops::gather_rows(dev_, count, row_bytes, index_.data<int32_t>(), source.raw(), dst.raw());
  return dst;
}

Tensor ImitationTrainer::next_windows(const int32_t* samples, int c, Tensor& dst) {
  // Frames: the rollout's observation rows hold every s^k_{t+1} once (Rollout::next_row).
  // States: the windows of raw observations build_state_windows() made, one per sample.
  const std::vector<int32_t>& next_row = ppo_->rollout().next_row;
  for (int j = 0; j < c; ++j)
    index_host_[size_t(j)] = s_.disc_states ? samples[j] : next_row[size_t(samples[j])];
  const Tensor& source = s_.disc_states ? state_windows_ : ppo_->rollout().obs;
  return windows(gather(source, per_, c, dst), c);
}

Tensor ImitationTrainer::next_windows() {
  const long B = s_.ppo.batch();
  std::vector<int32_t> all(static_cast<size_t>(B));
  std::iota(all.begin(), all.end(), 0);
  Tensor out = s_.disc_states
                   ? Tensor::zeros({B, s_.ppo.frames, s_.disc.obs_dim}, DType::f32, dev_)
                   : Tensor::zeros({B, s_.ppo.frames, s_.ppo.frame_size, s_.ppo.frame_size},
                                   DType::u8, dev_);
  for (long b0 = 0; b0 < B; b0 += long(index_host_.size())) {
    const int c = int(std::min<long>(long(index_host_.size()), B - b0));
    Tensor part = out.slice(b0, b0 + c);
    next_windows(all.data() + b0, c, part);
  }
  return out;
}

Tensor ImitationTrainer::shifted(const Tensor& src, Tensor& dst) {
  const int c = int(src.dim(0)), s = s_.disc_shift;
  for (int i = 0; i < 2 * c; ++i)
    shifts_host_[size_t(i)] = int32_t(shift_rng_.below(uint64_t(2 * s + 1))) - s;
  ops::copy_from_host(dev_, shifts_.raw(), shifts_host_.data(), sizeof(int32_t) * 2 * size_t(c));
  const int size = s_.ppo.frame_size;
  train_ops::shift_windows(dev_, c, s_.ppo.frames, size, size, shifts_.data<int32_t>(),
                           src.data<uint8_t>(), dst.data<uint8_t>());
  return windows(dst, c);
}

Tensor ImitationTrainer::expert_batch(int c) {
  RM_CHECK(c >= 1 && c <= s_.disc_minibatch, "expert_batch: ", c,
           " windows, expected [1, imitate.disc_minibatch = ", s_.disc_minibatch, "]");
  const int k = s_.ppo.frames;
  // Positions drawn on the host (the expert stream), rows gathered on the run's device.
  demos_->sample_window_rows(c, k, expert_rng_, index_host_.data(), 1);
  const long row_bytes = per_ / k;
  Tensor dst = expert_mb_;
  return windows(gather(demo_rows_, row_bytes, long(c) * k, dst), c);
}

void ImitationTrainer::reset_obs_windows() {
  const int N = s_.ppo.num_envs, k = s_.ppo.frames, D = s_.disc.obs_dim;
  const float* obs = ppo_->raw_obs();
  for (int n = 0; n < N; ++n)
    for (int j = 0; j < k; ++j)
      std::copy_n(obs + size_t(n) * D, D, obs_stack_.data() + (size_t(n) * k + j) * D);
}

void ImitationTrainer::build_state_windows() {
  const int N = s_.ppo.num_envs, T = s_.ppo.rollout_steps, k = s_.ppo.frames;
  const int D = s_.disc.obs_dim;
  const Rollout& r = ppo_->rollout();
  uint8_t* out = static_cast<uint8_t*>(state_windows_.raw());
  for (int t = 0; t < T; ++t)
    for (int n = 0; n < N; ++n) {
      const size_t i = size_t(t) * N + n;
      float* st = obs_stack_.data() + size_t(n) * k * D;
      std::copy(st + D, st + size_t(k) * D, st);  // drop the oldest
      // s_{t+1}: the finished episode's final observation on a done step.
      std::copy_n(r.raw_obs.data() + size_t(r.next_row[i]) * D, D, st + size_t(k - 1) * D);
      std::memcpy(out + i * size_t(per_), st, size_t(per_));
      if (r.host_terminated[i] || r.host_truncated[i]) {
        // The next episode starts from its reset observation, k times.
        const float* reset = r.raw_obs.data() + (size_t(t + 1) * N + n) * D;
        for (int j = 0; j < k; ++j) std::copy_n(reset, D, st + size_t(j) * D);
      }
    }
}

// ---------------------------------------------------------------- learners

void ImitationTrainer::average(float* grads, long n) {
  profile::ScopedRange range("gradient all-reduce");
  if (dev_.is_cuda()) {  // Comm's device backend (NCCL)
    Tensor g = Tensor::view(grads, {n}, DType::f32, dev_);
    comm_.allreduce(g, ReduceOp::mean);
    return;
  }
  comm_.allreduce_mean(grads, n);
}

void ImitationTrainer::sync_parameters() {
  if (comm_.size() == 1) return;
  auto bcast = [&](ParamSet<float>& ps) {
    if (ps.size() == 0) return;
    if (dev_.is_cuda()) {
      Tensor t = ps.values_tensor();
      comm_.broadcast(t);
    } else {
      comm_.broadcast(ps.values(), ps.size());
    }
  };
  bcast(ppo_->policy().parameters());
  bcast(ppo_->policy().buffers());
  bcast(ppo_->value().parameters());
  bcast(ppo_->value().buffers());
  bcast(disc_->parameters());
  bcast(disc_->net().buffers());
}

void ImitationTrainer::average_statistics(ImitationStats& st) {
  st.fps = double(s_.ppo.batch()) / std::max(1e-9, st.ppo.rollout_seconds + st.reward_seconds +
                                                       st.disc_seconds + st.ppo.update_seconds);
  double reward_sq = reward_sq_;
  // One all-reduce of the logged values: learner means, and the episode returns weighted by
  // whether a learner has finished any episode yet.
  IterationStats& p = st.ppo;
  double* const means[] = {&st.disc.loss,
                           &st.disc.expert_loss,
                           &st.disc.agent_loss,
                           &st.disc.penalty,
                           &st.disc.expert_accuracy,
                           &st.disc.agent_accuracy,
                           &st.disc.expert_d,
                           &st.disc.agent_d,
                           &st.disc.grad_norm,
                           &st.disc.logit_grad_norm,
                           &st.mean_reward,
                           &reward_sq,
                           &st.train_velocity,
                           &p.policy_loss,
                           &p.value_loss,
                           &p.entropy,
                           &p.approx_kl,
                           &p.clip_fraction,
                           &p.explained_variance};
  constexpr size_t M = std::size(means);
  const bool has = std::isfinite(p.mean_return);
  std::vector<double> v;
  for (const double* m : means) v.push_back(*m);
  v.insert(v.end(), {has ? p.mean_return : 0.0, has ? p.mean_length : 0.0, has ? 1.0 : 0.0,
                     double(p.episodes)});
  comm_.allreduce_sum(v.data(), long(v.size()));
  const double L = comm_.size();
  for (size_t i = 0; i < M; ++i) *means[i] = v[i] / L;
  const double learners_with_episodes = v[M + 2];
  st.train_return = learners_with_episodes > 0 ? v[M] / learners_with_episodes : NAN;
  st.train_length = learners_with_episodes > 0 ? v[M + 1] / learners_with_episodes : NAN;
  st.episodes = long(v[M + 3]);
  st.reward_std = std::sqrt(std::max(0.0, reward_sq - st.mean_reward * st.mean_reward));
}

void ImitationTrainer::evaluate_if_due(ImitationStats& st) {
  st.eval_return = st.eval_std = st.eval_det_return = st.eval_det_std = st.eval_stoch_return =
      st.eval_stoch_std = NAN;
  if (eval_->due(iteration(), s_.ppo.iterations())) {
    double best[2] = {0, eval_->best()};  // new best?, best so far: rank 0's, to every learner
    if (comm_.is_root()) {
      const double before = eval_->best();
      const Actor actor{cpu_policy(ppo_->policy(), eval_policy_), s_.ppo,
                        s_.states ? ppo_->obs_rms() : nullptr};
      const PeriodicEvaluation::Result r = eval_->run(actor, iteration(), s_.ppo.env_threads);
      st.eval_return = r.ret;
      st.eval_std = r.std;
      st.eval_det_return = r.det_return;
      st.eval_det_std = r.det_std;
      st.eval_stoch_return = r.stoch_return;
      st.eval_stoch_std = r.stoch_std;
      st.eval_seconds = r.seconds;
      if (eval_->best() > before) best[0] = 1;
      best[1] = eval_->best();
    }
    comm_.broadcast(best, 2);
    st.new_best = best[0] > 0;
    eval_->set_best(best[1]);
  }
  st.best_eval_return = eval_->best();
  st.eval_total = eval_->total();
}

}  // namespace relmimic::algos
