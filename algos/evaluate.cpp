#include "algos/evaluate.h"

#include <algorithm>
#include <cmath>
#include <memory>

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

}  // namespace relmimic::algos
