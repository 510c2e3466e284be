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
  RM_CHECK(!s.pixels() || o.frame_size == s.frame_size, "record: ", o.expert,
           " is a pixel agent on ", s.frame_size, "x", s.frame_size,
           " frames; record at that size");
  RM_CHECK(size >= 16 && size <= 512, "record: frame size must be in [16, 512], got ", size);
  env::PoolConfig pc;
  pc.task = s.task;
  pc.num_envs = 1;
  pc.num_threads = 1;
  pc.seed = o.seed;
  pc.render = true;
  pc.frame_stack = s.pixels() ? s.frames : 1;
  pc.render_config.width = pc.render_config.height = size;
  env::EnvPool pool(pc);
  policy.check_env(pool);

  RecordResult res;
  res.env = env::task_name(s.task);
  res.expert_sha256 = sha256_file(o.expert);
  env::DemoMeta meta;
  meta.env = res.env;
  meta.frame_height = meta.frame_width = size;
  meta.frame_skip = env::TaskConfig::defaults(s.task).frame_skip;
  meta.camera = pc.render_config.camera;
  meta.expert_sha256 = res.expert_sha256;
  env::DemoWriter writer(o.out, meta);

  const size_t hw = size_t(size) * size;
  const size_t stack = hw * size_t(pc.frame_stack);
  std::vector<uint8_t> frames(stack), episode;
  std::vector<float> obs(size_t(pool.obs_dim())), act(size_t(pool.action_dim()));
  Rng rng(Rng::derive(o.seed, 0x5eed));
  pool.reset(frames.data(), obs.data());
  auto newest = [&](const uint8_t* st) {  // the last slot of a [k, H, W] stack
    episode.insert(episode.end(), st + stack - hw, st + stack);
  };
  for (int ep = 0; ep < o.episodes; ++ep) {
    episode.clear();
    newest(frames.data());  // the reset frame
    for (;;) {
      policy.act(1, obs.data(), frames.data(), o.deterministic, rng, act.data());
      pool.step(act.data(), frames.data(), obs.data());
      if (!pool.done(0)) {
        newest(frames.data());
        continue;
      }
      newest(pool.final_frames(0));  // the frames now hold the next episode's reset
      const int len = pool.episode_lengths()[0];
      const double ret = pool.episode_returns()[0];
      RM_CHECK(episode.size() == hw * size_t(len + 1), "record: episode ", ep, " has ",
               episode.size() / hw, " frames for ", len, " steps");
      writer.add_episode(Tensor::view(episode.data(), {len + 1, size, size}, DType::u8), ret, len);
      res.returns.push_back(ret);
      res.lengths.push_back(len);
      break;
    }
  }
  writer.commit();
  return res;
}

}  // namespace relmimic::algos
