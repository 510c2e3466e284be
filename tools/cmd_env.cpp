// `relmimic rollout` (random-action trajectories to HDF5) and `relmimic render` (frames to PNG,
// optionally an animated GIF): the env, renderer and media layers from the command line.
#include <mujoco/mujoco.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <string>
#include <vector>

#include "engine/h5.h"
#include "engine/rng.h"
#include "engine/tensor.h"
#include "env/locomotion.h"
#include "env/media.h"
#include "env/renderer.h"
#include "tools/cli.h"
#include "tools/commands.h"

namespace relmimic::cli {

namespace {

int usage_error(const char* command, const std::string& msg) {
  std::fprintf(stderr, "relmimic %s: %s (see relmimic %s --help)\n", command, msg.c_str(), command);
  return 2;
}

// The env's reset noise comes from the stream an EnvPool with this seed gives env 0, so a
// rollout and a one-env pool fed the same actions follow the same states.
uint64_t env_stream(long seed) {
  return Rng::derive(uint64_t(seed), 0);
}

}  // namespace

int cmd_rollout(int argc, char** argv) {
  std::string env_name = "hopper", out;
  long seed = 0, steps = 1000;
  Args a(
      "rollout",
      "steps one env with uniform random actions in [-1, 1] and writes the trajectory to HDF5:\n"
      "qpos [N+1, nq], qvel [N+1, nv], obs [N+1, obs_dim] (row t: the state before step t;\n"
      "after an episode ends the next row is the reset state), action [N, A] (float32), reward\n"
      "[N], terminated [N], truncated [N] (uint8); attributes env, frame_skip, dt, seed, steps.\n"
      "The env's reset noise uses the stream EnvPool gives env 0 for the same seed.");
  a.add("--env", env_name, "hopper or walker2d");
  a.add("--seed", seed, "seeds the actions and the env's reset noise");
  a.add("--steps", steps, "number of env steps N");
  a.add("--out", out, "output HDF5 file (required)");
  if (!a.parse(argc, argv)) return a.exit_code();
  if (out.empty()) return usage_error("rollout", "--out is required");
  if (steps < 1 || steps > 100000000)
    return usage_error("rollout", "--steps must be in [1, 1e8], got " + std::to_string(steps));
  if (seed < 0) return usage_error("rollout", "--seed must be >= 0");
  env::Task task;
  try {
    task = env::parse_task(env_name);
  } catch (const Error& e) {
    return usage_error("rollout", "--env: unknown env '" + env_name + "' (hopper or walker2d)");
  }

  env::LocomotionEnv e(task);
  Rng env_rng(env_stream(seed)), act_rng(static_cast<uint64_t>(seed));
  const int nq = e.nq(), nv = e.nv(), na = e.action_dim(), nd = e.obs_dim();
  const int64_t n = steps;
  Tensor qpos = Tensor::zeros({n + 1, nq}, DType::f64),
         qvel = Tensor::zeros({n + 1, nv}, DType::f64);
  Tensor obs = Tensor::zeros({n + 1, nd}, DType::f64), action = Tensor::zeros({n, na}, DType::f32);
  Tensor reward = Tensor::zeros({n}, DType::f64);
  Tensor terminated = Tensor::zeros({n}, DType::u8), truncated = Tensor::zeros({n}, DType::u8);
  auto record = [&](int64_t row) {
    const mjData* d = e.data();
    std::copy(d->qpos, d->qpos + nq, qpos.data<double>() + row * nq);
    std::copy(d->qvel, d->qvel + nv, qvel.data<double>() + row * nv);
    e.observation(obs.data<double>() + row * nd);
  };

  std::vector<double> act_d(static_cast<size_t>(na));
  e.reset(env_rng);
  record(0);
  long episodes = 0;
  for (int64_t t = 0; t < n; ++t) {
    // float32 actions, as a policy emits them: the file replays exactly through an EnvPool.
    float* act = action.data<float>() + t * na;
    for (int j = 0; j < na; ++j) {
      act[j] = float(act_rng.uniform(-1.0, 1.0));
      act_d[size_t(j)] = act[j];
    }
    const env::StepResult r = e.step(act_d.data());
    reward.data<double>()[t] = r.reward;
    terminated.data<uint8_t>()[t] = r.terminated;
    truncated.data<uint8_t>()[t] = r.truncated;
    if (r.terminated || r.truncated) {
      e.reset(env_rng);
      ++episodes;
    }
    record(t + 1);
  }

  h5::AtomicWriter w(out);
  h5::File& f = w.file();
  f.write("qpos", qpos);
  f.write("qvel", qvel);
  f.write("obs", obs);
  f.write("action", action);
  f.write("reward", reward);
  f.write("terminated", terminated);
  f.write("truncated", truncated);
  f.set_attr("/", "env", env::task_name(task));
  f.set_attr("/", "frame_skip", long(e.config().frame_skip));
  f.set_attr("/", "dt", e.dt());
  f.set_attr("/", "seed", seed);
  f.set_attr("/", "steps", steps);
  w.commit();
  std::printf("wrote %s: %s, %ld steps, %ld finished episodes (seed %ld)\n", out.c_str(),
              env::task_name(task), steps, episodes, seed);
  return 0;
}

int cmd_render(int argc, char** argv) {
  std::string env_name = "hopper", out, gif, egl;
  long seed = 0, steps = 16;
  int size = 84, cols = 0, fps = 25;
  bool rgb = false, shadows = false;
  Args a("render",
         "renders one env under uniform random actions in [-1, 1] from its track camera: the\n"
         "reset frame and one frame per step (N+1 frames), laid out on a grid in a PNG, and\n"
         "optionally as an animated GIF");
  a.add("--env", env_name, "hopper or walker2d");
  a.add("--seed", seed, "seeds the actions and the env's reset noise");
  a.add("--steps", steps, "number of env steps N");
  a.add("--out", out, "output PNG (required)");
  a.add("--gif", gif, "also write the frames as an animated GIF here");
  a.add("--size", size, "frame width and height in pixels");
  a.add("--cols", cols,
        "frames per grid row (0: one row up to 10 frames, else a near-square grid)");
  a.add("--fps", fps, "GIF frame rate");
  a.add("--egl", egl, "EGL platform: auto, nvidia or mesa (default: $RELMIMIC_EGL or auto)");
  a.flag("--rgb", rgb, "write the PNG in colour (the GIF stays gray)");
  a.flag("--shadows", shadows, "render shadows (slower)");
  if (!a.parse(argc, argv)) return a.exit_code();
  if (out.empty()) return usage_error("render", "--out is required");
  if (steps < 0 || steps > 100000)
    return usage_error("render", "--steps must be in [0, 100000], got " + std::to_string(steps));
  if (size < 16 || size > 1024)
    return usage_error("render", "--size must be in [16, 1024], got " + std::to_string(size));
  if (cols < 0) return usage_error("render", "--cols must be >= 0");
  if (fps < 1 || fps > 100) return usage_error("render", "--fps must be in [1, 100]");
  if (seed < 0) return usage_error("render", "--seed must be >= 0");
  if (!egl.empty() && egl != "auto" && egl != "nvidia" && egl != "mesa")
    return usage_error("render", "--egl must be auto, nvidia or mesa, got '" + egl + "'");
  env::Task task;
  try {
    task = env::parse_task(env_name);
  } catch (const Error& e) {
    return usage_error("render", "--env: unknown env '" + env_name + "' (hopper or walker2d)");
  }

  env::LocomotionEnv e(task);
  env::RenderConfig rc;
  rc.width = rc.height = size;
  rc.egl = egl;
  rc.shadows = shadows;
  env::Renderer r(e.model(), rc);
  Rng env_rng(env_stream(seed)), act_rng(static_cast<uint64_t>(seed));
  const int n = int(steps) + 1, ch = rgb ? 3 : 1;
  const size_t hw = size_t(size) * size;
  std::vector<uint8_t> frames(n * hw), colour(rgb ? n * hw * 3 : 0);
  std::vector<double> act(size_t(e.action_dim()));
  e.reset(env_rng);
  for (int i = 0; i < n; ++i) {
    if (i > 0) {
      for (double& x : act) x = float(act_rng.uniform(-1.0, 1.0));  // as rollout draws them
      const env::StepResult s = e.step(act.data());
      if (s.terminated || s.truncated) e.reset(env_rng);
    }
    r.render_gray(e.data(), &frames[i * hw]);
    if (rgb) r.render_rgb(e.data(), &colour[i * hw * 3]);
  }
  if (cols == 0) cols = n <= 10 ? n : std::max(10, int(std::ceil(std::sqrt(double(n)))));
  env::Image grid =
      env::tile_images(rgb ? colour.data() : frames.data(), n, size, size, ch, cols, 2, 255);
  env::write_png(out, grid.pixels.data(), grid.height, grid.width, ch);
  std::printf("wrote %s: %d frames of %dx%d (%s, seed %ld), %dx%d grid\n", out.c_str(), n, size,
              size, env::task_name(task), seed, grid.width, grid.height);
  if (!gif.empty()) {
    env::write_gif(gif, frames.data(), n, size, size, int(std::lround(100.0 / fps)));
    std::printf("wrote %s: %d frames at %d fps\n", gif.c_str(), n, fps);
  }
  return 0;
}

}  // namespace relmimic::cli
