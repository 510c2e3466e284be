// What `relmimic rollout` and `relmimic render` share: one env stepped with uniform random
// actions, seeded like env 0 of an EnvPool with the same seed.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "engine/rng.h"
#include "env/locomotion.h"
#include "kernels/common.h"
#include "tools/cli.h"

namespace relmimic::cli {

// The flags both commands take, in this order: --env, --seed, --steps.
inline void add_random_env_flags(Args& a, std::string& env_name, long& seed, long& steps) {
  a.add("--env", env_name, "hopper or walker2d");
  a.add("--seed", seed, "seeds the actions and the env's reset noise");
  a.add("--steps", steps, "number of env steps N");
}

// The env's reset noise comes from the stream an EnvPool with this seed gives env 0, so a
// rollout and a one-env pool fed the same actions follow the same states.
inline uint64_t env_stream(long seed) {
  return Rng::derive(uint64_t(seed), 0);
}

// The next action component: uniform in [-1, 1], rounded to float32 as a policy emits it.
inline float random_action(Rng& rng) {
  return float(rng.uniform(-1.0, 1.0));
}

// The task --env names; nothing for an unknown name.
inline std::optional<env::Task> env_task(const std::string& name) {
  try {
    return env::parse_task(name);
  } catch (const Error&) {
    return std::nullopt;
  }
}

}  // namespace relmimic::cli
