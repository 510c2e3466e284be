// Helpers shared by the LocomotionEnv tests.
#pragma once

#include <mujoco/mujoco.h>

#include <cmath>
#include <initializer_list>
#include <utility>
#include <vector>

#include "env/locomotion.h"

namespace relmimic::env::testing_util {

// The action sequence of tools/compare_gym.py: a[t][j] = 0.9 sin(0.37 t + 1.1 j + 0.3).
inline std::vector<double> test_action(int t, int nu) {
  std::vector<double> a(nu);
  for (int j = 0; j < nu; ++j) a[j] = 0.9 * std::sin(0.37 * t + 1.1 * j + 0.3);
  return a;
}

inline TaskConfig no_noise(Task t) {
  TaskConfig c = TaskConfig::defaults(t);
  c.reset_noise_scale = 0;
  return c;
}

// Puts the env in Gym's init state (qpos0, qvel 0) and overrides some qpos entries.
inline void set_qpos(LocomotionEnv& env, std::initializer_list<std::pair<int, double>> values) {
  mj_resetData(env.model(), env.data());
  for (auto [i, v] : values) env.data()->qpos[i] = v;
}

}  // namespace relmimic::env::testing_util
