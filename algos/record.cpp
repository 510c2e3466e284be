#include "algos/record.h"

#include <cstring>

#include "algos/logger.h"
#include "algos/ppo.h"
#include "engine/sha256.h"
#include "env/demos.h"
#include "env/pool.h"
#include "kernels/common.h"

namespace relmimic::algos {

RecordResult record_demos(const RecordOptions& o) {
  RM_CHECK(o.episodes >= 1, "record: episodes must be >= 1, got ", o.episodes);
  RM_CHECK(!o.out.empty(), "record: no output file");
  check_output_free(o.out, o.overwrite);
  PpoPolicy policy(o.expert, 1);
  const PpoSettings& s = policy.settings();
  // A pixel agent acts on its own stack; the demonstrations keep the newest frame of it.
  const int size = s.pixels() ? s.frame_size : o.frame_size;
  RM_CHECK(o.frames || !s.pixels(), "record: ", o.expert,
           " is a pixel agent, which acts on frames; record it with frames");
  RM_CHECK(!s.pixels() || o.frame_size == s.frame_size, "record: ", o.expert,
           " is a pixel agent on ", s.frame_size, "x", s.frame_size,
           " frames; record at that size");
  RM_CHECK(!o.frames || (size >= 16 && size <= 512),
           "record: frame size must be in [16, 512], got ", size);
  env::PoolConfig pc = pool_config(s, 1, o.seed);
  pc.task_config.reset();  // demonstrations run to the task's own time limit
  pc.render = o.frames;
  pc.frame_stack = s.pixels() ? s.frames : 1;
  pc.render_config.width = pc.render_config.height = size;
  env::EnvPool pool(pc);
  policy.check_env(pool);

  RecordResult res;
  res.env = env::task_name(s.task);
  res.expert_sha256 = sha256_file(o.expert);
  const env::LocomotionEnv& env0 = pool.env(0);
  const int D = pool.obs_dim(), nq = env0.nq(), nv = env0.nv();
  env::DemoMeta meta;
  meta.env = res.env;
  meta.has_frames = o.frames;
  meta.frame_height = meta.frame_width = o.frames ? size : 0;
  meta.frame_skip = env::TaskConfig::defaults(s.task).frame_skip;
  meta.camera = o.frames ? pc.render_config.camera : "none";
  meta.expert_sha256 = res.expert_sha256;
  meta.obs_dim = D;
  meta.nq = nq;
  meta.nv = nv;
  env::DemoWriter writer(o.out, meta);
  res.obs_dim = D;

  const size_t hw = o.frames ? size_t(size) * size : 0;
  const size_t stack = hw * size_t(pc.frame_stack);
  std::vector<uint8_t> frames(stack), episode;
  std::vector<float> obs(static_cast<size_t>(D)), act(size_t(pool.action_dim())), ep_obs;
  std::vector<double> ep_qpos, ep_qvel, qpos(static_cast<size_t>(nq)),
      qvel(static_cast<size_t>(nv));
  Rng rng(Rng::derive(o.seed, 0x5eed));
  pool.reset(o.frames ? frames.data() : nullptr, obs.data());
  // One row of the episode: the newest frame of a [k, H, W] stack and the same state's
  // observation, qpos and qvel.
  auto row = [&](const uint8_t* st, const float* ob, const double* qp, const double* qv) {
    if (o.frames) episode.insert(episode.end(), st + stack - hw, st + stack);
    ep_obs.insert(ep_obs.end(), ob, ob + D);
    ep_qpos.insert(ep_qpos.end(), qp, qp + nq);
    ep_qvel.insert(ep_qvel.end(), qv, qv + nv);
  };
  auto current = [&] {  // the state the pool's env is in now
    env0.positions(qpos.data(), qvel.data());
    row(frames.data(), obs.data(), qpos.data(), qvel.data());
  };
  for (int ep = 0; ep < o.episodes; ++ep) {
    episode.clear();
    ep_obs.clear();
    ep_qpos.clear();
    ep_qvel.clear();
    current();  // the reset state
    for (;;) {
      policy.act(1, obs.data(), frames.data(), o.deterministic, rng, act.data());
      pool.step(act.data(), o.frames ? frames.data() : nullptr, obs.data());
      if (!pool.done(0)) {
        current();
        continue;
      }
      // The pool now holds the next episode's reset: the finished episode's last state.
      row(o.frames ? pool.final_frames(0) : nullptr, pool.final_obs(0), pool.final_qpos(0),
          pool.final_qvel(0));
      const int len = pool.episode_lengths()[0];
      const double ret = pool.episode_returns()[0];
      RM_CHECK(ep_obs.size() == size_t(D) * size_t(len + 1), "record: episode ", ep, " has ",
               ep_obs.size() / size_t(D), " rows for ", len, " steps");
      env::DemoEpisode e;
      if (o.frames) e.frames = Tensor::view(episode.data(), {len + 1, size, size}, DType::u8);
      e.obs = Tensor::view(ep_obs.data(), {len + 1, D}, DType::f32);
      e.qpos = Tensor::view(ep_qpos.data(), {len + 1, nq}, DType::f64);
      e.qvel = Tensor::view(ep_qvel.data(), {len + 1, nv}, DType::f64);
      e.ret = ret;
      e.length = len;
      writer.add_episode(e);
      res.returns.push_back(ret);
      res.lengths.push_back(len);
      break;
    }
  }
  writer.commit();
  return res;
}

}  // namespace relmimic::algos
