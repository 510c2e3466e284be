#include "algos/evaluate.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <memory>
#include <numeric>
#include <string>
#include <utility>

#include "engine/h5.h"
#include "env/pool.h"
#include "env/renderer.h"
#include "kernels/common.h"

namespace relmimic::algos {

double EvalResult::mean_return() const {
  if (returns.empty()) return NAN;
  double s = 0;
  for (double r : returns) s += r;
  return s / double(returns.size());
}

double EvalResult::std_return() const {
  if (returns.empty()) return NAN;
  const double m = mean_return();
  double s = 0;
  for (double r : returns) s += (r - m) * (r - m);
  return std::sqrt(s / double(returns.size()));
}

namespace {

// The loop of both evaluate()s; a checkpoint is checked against the pool before it acts.
EvalResult run_episodes(const Actor& actor, const EvalOptions& o, const PpoPolicy* checkpoint) {
  RM_CHECK(o.episodes >= 1, "evaluate: episodes must be >= 1, got ", o.episodes);
  RM_CHECK(o.num_envs >= 1, "evaluate: num_envs must be >= 1, got ", o.num_envs);
  RM_CHECK(o.video_size == 0 || (o.video_fps >= 1 && o.video_fps <= 100),
           "evaluate: video_fps must be in [1, 100], got ", o.video_fps);
  const PpoSettings& s = actor.settings;
  const int n = std::min(o.episodes, o.num_envs);
  RM_CHECK(n <= actor.net.config().max_batch, "evaluate: ", n,
           " envs exceed the policy's max batch ", actor.net.config().max_batch);
  env::PoolConfig pc = pool_config(s, n, o.seed);
  pc.num_threads = o.threads;
  env::EnvPool pool(pc);
  if (checkpoint) checkpoint->check_env(pool);
  const int A = pool.action_dim();

  // Env i plays quota[i] episodes; the split does not favour short episodes.
  std::vector<int> quota(size_t(n), o.episodes / n), finished(size_t(n), 0);
  for (int i = 0; i < o.episodes % n; ++i) ++quota[size_t(i)];
  std::vector<std::vector<double>> rets(static_cast<size_t>(n));
  std::vector<std::vector<int>> lens(static_cast<size_t>(n));

  const long fsz = s.pixels() ? long(s.frames) * s.frame_size * s.frame_size : 0;
  std::vector<uint8_t> frames(size_t(n * fsz));
  std::vector<float> obs(size_t(n) * pool.obs_dim()), actions(size_t(n) * A), obs_scratch;
  uint8_t* const frames_out = s.pixels() ? frames.data() : nullptr;
  pool.reset(frames_out, obs.data());
  Rng rng(Rng::derive(o.seed, o.action_stream));

  EvalResult res;
  // One video frame every `every` env steps of dt seconds.
  const double dt = pool.env(0).dt();
  const int every = std::max(1, int(std::lround(1.0 / (o.video_fps * dt))));
  res.video_delay_cs = std::max(1, int(std::lround(100.0 * every * dt)));
  std::unique_ptr<env::Renderer> renderer;
  bool recording = o.video_size > 0;
  long step0 = 0;  // env 0's steps in its first episode
  auto grab = [&] {
    const size_t hw = size_t(o.video_size) * o.video_size;
    res.video.resize(res.video.size() + hw);
    renderer->render_gray(pool.env(0).data(), res.video.data() + res.video.size() - hw);
    ++res.video_frames;
  };
  if (recording) {
    env::RenderConfig rc;
    rc.width = rc.height = o.video_size;
    renderer = std::make_unique<env::Renderer>(pool.env(0).model(), rc);
    grab();
  }

  int remaining = o.episodes;
  while (remaining > 0) {
    act(actor, n, obs.data(), frames_out, o.deterministic, rng, actions.data(), obs_scratch);
    pool.step(actions.data(), frames_out, obs.data());
    ++step0;
    for (int i = 0; i < n; ++i) {
      if (!pool.done(i)) continue;
      if (i == 0) recording = false;
      if (finished[size_t(i)] < quota[size_t(i)]) {
        rets[size_t(i)].push_back(pool.episode_returns()[i]);
        lens[size_t(i)].push_back(pool.episode_lengths()[i]);
        ++finished[size_t(i)];
        --remaining;
      }
    }
    if (recording && step0 % every == 0) grab();
  }
  for (int i = 0; i < n; ++i) {
    res.returns.insert(res.returns.end(), rets[size_t(i)].begin(), rets[size_t(i)].end());
    res.lengths.insert(res.lengths.end(), lens[size_t(i)].begin(), lens[size_t(i)].end());
  }
  return res;
}

}  // namespace

EvalResult evaluate(const Actor& actor, const EvalOptions& o) {
  return run_episodes(actor, o, nullptr);
}

EvalResult evaluate(PpoPolicy& policy, const EvalOptions& o) {
  return run_episodes(policy.actor(), o, &policy);
}

AgentNet<float>& cpu_policy(AgentNet<float>& net, std::unique_ptr<AgentNet<float>>& copy) {
  if (net.device().is_cpu()) return net;
  if (!copy) {
    AgentConfig c = net.config();
    c.device = Device::cpu();
    copy = std::make_unique<AgentNet<float>>(c);
  }
  copy->parameters().copy_values_from(net.parameters());
  if (net.buffers().size() > 0) copy->buffers().copy_values_from(net.buffers());
  return *copy;
}

// ---------------------------------------------------------------- periodic evaluation

void declare_eval(Config& c) {
  c.add("eval.every", 10, "iterations between evaluations (rank 0; 0: never)");
  c.add("eval.episodes", 10, "episodes per evaluation");
  c.add("eval.window", 100, "evaluation episodes averaged for the logged eval_return");
  c.add("eval.envs", 10, "envs stepped together during an evaluation");
  c.add("eval.modes", "both",
        "both | deterministic | stochastic: evaluate the policy's mean, sampled actions, or "
        "both side by side (same initial states)");
}

EvalSettings eval_settings(const Config& c, int max_envs) {
  EvalSettings s;
  s.every = c.get<int>("eval.every");
  s.episodes = c.get<int>("eval.episodes");
  s.window = c.get<int>("eval.window");
  s.envs = c.get<int>("eval.envs");
  const std::string modes = c.get<std::string>("eval.modes");
  RM_CHECK(modes == "both" || modes == "deterministic" || modes == "stochastic",
           "config eval.modes must be both, deterministic or stochastic, got '", modes, "'");
  s.deterministic = modes != "stochastic";
  s.stochastic = modes != "deterministic";
  auto check = [](bool ok, const char* key, const char* want, int got) {
    RM_CHECK(ok, "config ", key, " must be ", want, ", got ", got);
  };
  check(s.every >= 0, "eval.every", ">= 0", s.every);
  check(s.episodes >= 1, "eval.episodes", ">= 1", s.episodes);
  check(s.window >= 1, "eval.window", ">= 1", s.window);
  check(s.envs >= 1 && s.envs <= max_envs, "eval.envs", "in [1, max(env.num_envs, ppo.minibatch)]",
        s.envs);
  return s;
}

namespace {
constexpr uint64_t kEvalStream = 400;  // Rng::derive stream of the evaluation pools' seeds
constexpr const char* kModes[2] = {"deterministic", "stochastic"};
}  // namespace

PeriodicEvaluation::PeriodicEvaluation(const EvalSettings& s, uint64_t run_seed,
                                       uint64_t action_stream)
    : s_(s), seed_(Rng::derive(run_seed, kEvalStream)), action_stream_(action_stream) {}

bool PeriodicEvaluation::due(long iteration, long iterations) const {
  // Also at the last iteration, so a run shorter than eval.every iterations has an evaluation.
  return s_.every > 0 && (iteration % s_.every == 0 || iteration == iterations);
}

PeriodicEvaluation::Result PeriodicEvaluation::run(const Actor& actor, long iteration,
                                                   int threads) {
  const auto t0 = std::chrono::steady_clock::now();
  Result r;
  EvalOptions o;
  o.episodes = s_.episodes;
  o.num_envs = s_.envs;
  o.threads = threads;
  // A fresh pool per evaluation, seeded by the iteration: nothing to checkpoint but the windows.
  o.seed = Rng::derive(seed_, uint64_t(iteration));
  o.action_stream = action_stream_;
  // One mode into its window; returns this evaluation's mean, sets the window's mean / std.
  auto mode = [&](bool deterministic, Window& w, double& mean, double& sd) {
    o.deterministic = deterministic;
    const std::vector<double> rets = evaluate(actor, o).returns;
    w.returns.insert(w.returns.end(), rets.begin(), rets.end());
    w.total += long(rets.size());
    const size_t keep = size_t(s_.window);
    if (w.returns.size() > keep)
      w.returns.erase(w.returns.begin(), w.returns.begin() + ptrdiff_t(w.returns.size() - keep));
    double m = 0, m2 = 0;
    for (double x : w.returns) m += x, m2 += x * x;
    const double n = double(w.returns.size());
    mean = m / n;
    sd = std::sqrt(std::max(0.0, m2 / n - mean * mean));
    return std::accumulate(rets.begin(), rets.end(), 0.0) / double(rets.size());
  };
  if (s_.stochastic) r.now = mode(false, stoch_, r.stoch_return, r.stoch_std);
  if (s_.deterministic) r.now = mode(true, det_, r.det_return, r.det_std);
  r.ret = s_.deterministic ? r.det_return : r.stoch_return;
  r.std = s_.deterministic ? r.det_std : r.stoch_std;
  if (r.now > best_) best_ = r.now;
  r.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  return r;
}

void PeriodicEvaluation::save(h5::File& f) const {
  const Window* windows[2] = {&det_, &stoch_};
  for (int i = 0; i < 2; ++i) {
    const std::string mode = kModes[i];
    f.set_attr("/", "eval_total_" + mode, windows[i]->total);
    f.set_attr("/", "eval_window_" + mode, long(windows[i]->returns.size()));
    if (!windows[i]->returns.empty()) f.write("eval/" + mode, windows[i]->returns);
  }
  f.set_attr("/", "best_eval_return", best_);
}

void PeriodicEvaluation::load(const h5::File& f) {
  Window* windows[2] = {&det_, &stoch_};
  for (int i = 0; i < 2; ++i) {
    const std::string mode = kModes[i];
    Window& w = *windows[i];
    w = Window{};
    // A checkpoint from before the evaluation modes carries no windows: they start empty.
    if (!f.has_attr("/", "eval_total_" + mode)) continue;
    w.total = f.attr_long("/", "eval_total_" + mode);
    if (f.attr_long("/", "eval_window_" + mode) > 0) {
      const Tensor t = f.read("eval/" + mode);
      w.returns.assign(t.data<double>(), t.data<double>() + t.numel());
    }
  }
  best_ = f.has_attr("/", "best_eval_return") ? f.attr_double("/", "best_eval_return") : -INFINITY;
}

}  // namespace relmimic::algos
