// `relmimic eval`: rolls a checkpoint's policy out and reports returns and lengths (table or
// JSON), optionally an animated GIF of the first episode.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <string>

#include "algos/evaluate.h"
#include "engine/json.h"
#include "report/media.h"
#include "report/side_by_side.h"
#include "tools/cli.h"
#include "tools/commands.h"

namespace relmimic::cli {

namespace {
struct Summary {
  double mean = 0, std = 0, min = 0, max = 0;
};
template <class T>
Summary summarize(const std::vector<T>& v) {
  Summary s;
  s.min = double(*std::min_element(v.begin(), v.end()));
  s.max = double(*std::max_element(v.begin(), v.end()));
  for (T x : v) s.mean += double(x);
  s.mean /= double(v.size());
  for (T x : v) s.std += (double(x) - s.mean) * (double(x) - s.mean);
  s.std = std::sqrt(s.std / double(v.size()));
  return s;
}
}  // namespace

int cmd_eval(int argc, char** argv) {
  std::string checkpoint, gif, beside, beside_label = "expert";
  int episodes = 10, envs = 8, threads = 1, gif_size = 128, gif_fps = 25;
  long seed = 1;
  bool deterministic = false, as_json = false;
  Args a("eval",
         "rolls out a checkpoint's policy (state or pixel) for whole episodes on fresh envs and "
         "prints the mean/std/min/max return and length");
  a.add("--checkpoint", checkpoint,
        "a PPO checkpoint (runs/<name>/checkpoints/*.h5, experts/*.h5)");
  a.add("--episodes", episodes, "episodes N");
  a.add("--seed", seed, "seeds the envs' reset noise and the action samples");
  a.add("--envs", envs, "envs stepped together (the episodes are split among them)");
  a.add("--threads", threads, "env worker threads");
  a.flag("--deterministic", deterministic, "act with the policy's mean instead of sampling");
  a.flag("--json", as_json, "print a JSON object instead of a table");
  a.add("--gif", gif, "write the first episode as an animated GIF here");
  a.add("--gif-size", gif_size, "GIF frame width and height");
  a.add("--gif-fps", gif_fps, "GIF frames per second of simulated time");
  a.add("--beside", beside,
        "a second checkpoint (e.g. the expert, experts/hopper.h5) whose first episode, acting "
        "with its mean as when demonstrations are recorded, plays to the right in the GIF");
  a.add("--beside-label", beside_label, "caption of the --beside video");
  if (!a.parse(argc, argv)) return a.exit_code();
  auto usage = [](const std::string& m) { return usage_error("eval", m); };
  if (checkpoint.empty()) return usage("--checkpoint is required");
  if (episodes < 1 || episodes > 100000) return usage("--episodes must be in [1, 100000]");
  if (envs < 1 || envs > 1024) return usage("--envs must be in [1, 1024]");
  if (threads < 1) return usage("--threads must be >= 1");
  if (seed < 0) return usage("--seed must be >= 0");
  if (gif_size < 16 || gif_size > 1024) return usage("--gif-size must be in [16, 1024]");
  if (gif_fps < 1 || gif_fps > 50) return usage("--gif-fps must be in [1, 50]");
  if (!beside.empty() && gif.empty()) return usage("--beside needs --gif");

  algos::PpoPolicy policy(checkpoint, std::min(envs, episodes));
  const algos::PpoSettings& s = policy.settings();
  algos::EvalOptions o;
  o.episodes = episodes;
  o.deterministic = deterministic;
  o.seed = uint64_t(seed);
  o.num_envs = envs;
  o.threads = threads;
  if (!gif.empty()) {
    o.video_size = gif_size;
    o.video_fps = gif_fps;
  }
  const algos::EvalResult r = algos::evaluate(policy, o);
  const Summary ret = summarize(r.returns), len = summarize(r.lengths);

  if (as_json) {
    json::Value obj = json::Value::object();
    obj.set("checkpoint", checkpoint);
    obj.set("env", env::task_name(s.task));
    obj.set("arch", arch_name(s.arch));
    obj.set("episodes", long(r.returns.size()));
    obj.set("deterministic", deterministic);
    obj.set("seed", seed);
    obj.set("mean_return", ret.mean);
    obj.set("std_return", ret.std);
    obj.set("min_return", ret.min);
    obj.set("max_return", ret.max);
    obj.set("mean_length", len.mean);
    obj.set("std_length", len.std);
    obj.set("min_length", len.min);
    obj.set("max_length", len.max);
    json::Value rets = json::Value::array(), lens = json::Value::array();
    for (double x : r.returns) rets.push_back(x);
    for (int x : r.lengths) lens.push_back(x);
    obj.set("returns", rets);
    obj.set("lengths", lens);
    std::printf("%s\n", json::dump(obj).c_str());
  } else {
    std::printf("%s: %s %s policy, %ld training steps, %d episodes (%s, seed %ld)\n",
                checkpoint.c_str(), env::task_name(s.task), arch_name(s.arch), policy.timesteps(),
                episodes, deterministic ? "deterministic" : "stochastic", seed);
    std::printf("  return  mean %9.1f  std %8.1f  min %9.1f  max %9.1f\n", ret.mean, ret.std,
                ret.min, ret.max);
    std::printf("  length  mean %9.1f  std %8.1f  min %9.0f  max %9.0f\n", len.mean, len.std,
                len.min, len.max);
  }
  if (!gif.empty()) {
    // Browsers show GIF delays below 2 cs as 10 cs: 2 is the shortest that plays as written.
    const int delay = std::max(2, r.video_delay_cs);
    if (beside.empty()) {
      report::write_gif(gif, r.video.data(), r.video_frames, gif_size, gif_size, delay);
      std::fprintf(as_json ? stderr : stdout, "wrote %s: %d frames\n", gif.c_str(), r.video_frames);
    } else {
      algos::PpoPolicy other(beside, 1);
      RM_CHECK(other.settings().task == s.task, "--beside ", beside, " acts in ",
               env::task_name(other.settings().task), ", the policy in ", env::task_name(s.task));
      algos::EvalOptions ob = o;
      ob.episodes = 1;
      ob.num_envs = 1;
      ob.deterministic = true;
      const algos::EvalResult rb = algos::evaluate(other, ob);
      char left[64], right[96];
      std::snprintf(left, sizeof left, "agent %.0f", r.returns.front());
      std::snprintf(right, sizeof right, "%s %.0f", beside_label.c_str(), rb.returns.front());
      const report::GrayVideo v = report::side_by_side(
          r.video.data(), r.video_frames, rb.video.data(), rb.video_frames, gif_size, left, right);
      report::write_gif(gif, v.frames.data(), v.n, v.height, v.width, delay);
      std::fprintf(as_json ? stderr : stdout,
                   "wrote %s: %d frames, agent (return %.1f) left, %s (return %.1f) right\n",
                   gif.c_str(), v.n, r.returns.front(), beside_label.c_str(), rb.returns.front());
    }
  }
  return 0;
}

}  // namespace relmimic::cli
