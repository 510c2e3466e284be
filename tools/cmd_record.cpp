// `relmimic record`: renders an expert's episodes into an HDF5 demonstration file, with the
// observations (and qpos / qvel) of the same states; --no-frames records observations only.
#include <cstdio>
#include <string>

#include "algos/record.h"
#include "tools/cli.h"
#include "tools/commands.h"

namespace relmimic::cli {

int cmd_record(int argc, char** argv) {
  std::string expert, out;
  int episodes = 8, frame_size = 84;
  long seed = 0;
  bool deterministic = false, force = false, no_frames = false;
  Args a("record",
         "runs an expert checkpoint in its env and renders every visited state (the reset frame, "
         "then one frame per env step, as the imitating agent sees them) into an HDF5 "
         "demonstration file, with each state's observation vector, qpos and qvel, the "
         "episodes' returns and the expert's SHA-256");
  a.add("--expert", expert, "the expert's PPO checkpoint (e.g. experts/hopper.h5)");
  a.add("--episodes", episodes, "episodes to record");
  a.add("--out", out,
        "demonstration file to write (e.g. demos/hopper.h5); an existing file is replaced only "
        "with --force");
  a.add("--seed", seed, "seeds the env's reset noise and the action samples");
  a.add("--frame-size", frame_size, "rendered frame height = width");
  a.flag("--deterministic", deterministic, "act with the policy's mean instead of sampling");
  a.flag("--force", force, "replace --out if it exists");
  a.flag("--no-frames", no_frames,
         "render nothing: observations, qpos and qvel only (for imitate --obs state; fast)");
  if (!a.parse(argc, argv)) return a.exit_code();
  auto usage = [](const std::string& m) { return usage_error("record", m); };
  if (expert.empty()) return usage("--expert is required");
  if (out.empty()) return usage("--out is required");
  if (episodes < 1 || episodes > 10000) return usage("--episodes must be in [1, 10000]");
  if (seed < 0) return usage("--seed must be >= 0");
  if (frame_size < 16 || frame_size > 512) return usage("--frame-size must be in [16, 512]");

  algos::RecordOptions o;
  o.expert = expert;
  o.out = out;
  o.episodes = episodes;
  o.seed = uint64_t(seed);
  o.deterministic = deterministic;
  o.frame_size = frame_size;
  o.overwrite = force;
  o.frames = !no_frames;
  const algos::RecordResult r = algos::record_demos(o);
  double sum = 0;
  long frames = 0;
  for (size_t i = 0; i < r.returns.size(); ++i) {
    std::printf("episode %zu: return %.1f, length %d\n", i, r.returns[i], r.lengths[i]);
    sum += r.returns[i];
    frames += r.lengths[i] + 1;
  }
  const std::string what = no_frames
                               ? std::to_string(frames) + " observations of " +
                                     std::to_string(r.obs_dim) + " values (no frames)"
                               : std::to_string(frames) + " frames of " +
                                     std::to_string(frame_size) + "x" + std::to_string(frame_size) +
                                     " with " + std::to_string(r.obs_dim) + "-value observations";
  std::printf("wrote %s: %s, %d episodes, %s, mean return %.1f (%s, seed %ld), expert sha256 %s\n",
              out.c_str(), r.env.c_str(), episodes, what.c_str(), sum / double(r.returns.size()),
              deterministic ? "deterministic" : "stochastic", seed, r.expert_sha256.c_str());
  return 0;
}

}  // namespace relmimic::cli
