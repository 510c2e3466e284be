// `relmimic rollout`: one env stepped with random actions, the trajectory written to HDF5.
#include <mujoco/mujoco.h>

#include <algorithm>
#include <cstdio>
#include <optional>
#include <string>
#include <vector>

#include "engine/h5.h"
#include "engine/tensor.h"
#include "tools/cli.h"
#include "tools/commands.h"
#include "tools/random_env.h"

namespace relmimic::cli {

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
  add_random_env_flags(a, env_name, seed, steps);
  a.add("--out", out, "output HDF5 file (required)");
  if (!a.parse(argc, argv)) return a.exit_code();
  if (out.empty()) return usage_error("rollout", "--out is required");
  if (steps < 1 || steps > 100000000)
    return usage_error("rollout", "--steps must be in [1, 1e8], got " + std::to_string(steps));
  if (seed < 0) return usage_error("rollout", "--seed must be >= 0");
  const std::optional<env::Task> task = env_task(env_name);
  if (!task)
    return usage_error("rollout", "--env: unknown env '" + env_name + "' (hopper or walker2d)");

  env::LocomotionEnv e(*task);
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
      act[j] = random_action(act_rng);
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
  f.set_attr("/", "env", env::task_name(*task));
  f.set_attr("/", "frame_skip", long(e.config().frame_skip));
  f.set_attr("/", "dt", e.dt());
  f.set_attr("/", "seed", seed);
  f.set_attr("/", "steps", steps);
  w.commit();
  std::printf("wrote %s: %s, %ld steps, %ld finished episodes (seed %ld)\n", out.c_str(),
              env::task_name(*task), steps, episodes, seed);
  return 0;
}

}  // namespace relmimic::cli
