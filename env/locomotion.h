// One MuJoCo locomotion task (Hopper-v3 / Walker2d-v3 semantics). No threads, no rendering:
// the env pool runs many of these on worker threads and the renderer draws them.
#pragma once

#include <memory>
#include <string>

#include "engine/rng.h"

struct mjModel_;
struct mjData_;

namespace relmimic::env {

enum class Task { Hopper, Walker2d };

Task parse_task(const std::string& name);  // "hopper" | "walker2d"; throws otherwise
const char* task_name(Task t);

struct TaskConfig {
  int frame_skip = 4;
  int max_episode_steps = 1000;
  double forward_reward_weight = 1.0;
  double ctrl_cost_weight = 1e-3;
  double healthy_reward = 1.0;
  double reset_noise_scale = 5e-3;  // Hopper 5e-3, Walker2d 5e-3 (Gym v3 defaults)
  static TaskConfig defaults(Task t);
};

struct StepResult {
  double reward = 0;
  bool terminated = false;  // unhealthy state
  bool truncated = false;   // time limit
  double x_velocity = 0, forward_reward = 0, ctrl_cost = 0, healthy_reward = 0;
};

class LocomotionEnv {
 public:
  explicit LocomotionEnv(Task task, const TaskConfig& cfg);
  explicit LocomotionEnv(Task task) : LocomotionEnv(task, TaskConfig::defaults(task)) {}
  ~LocomotionEnv();
  LocomotionEnv(const LocomotionEnv&) = delete;
  LocomotionEnv& operator=(const LocomotionEnv&) = delete;

  // Initial state plus uniform noise in [-scale, scale] on qpos and qvel.
  void reset(Rng& rng);
  // Applies action (length action_dim()) for frame_skip physics steps.
  StepResult step(const double* action);
  // Proprioceptive observation: qpos[1:], clip(qvel, -10, 10).
  void observation(double* obs) const;

  Task task() const { return task_; }
  const TaskConfig& config() const { return cfg_; }
  int obs_dim() const;
  int action_dim() const;
  int nq() const;
  int nv() const;
  double dt() const;  // frame_skip * timestep
  int elapsed_steps() const { return steps_; }
  bool healthy() const;
  const mjModel_* model() const { return model_; }
  mjModel_* model() { return model_; }
  mjData_* data() { return data_; }
  const mjData_* data() const { return data_; }

 private:
  Task task_;
  TaskConfig cfg_;
  mjModel_* model_ = nullptr;
  mjData_* data_ = nullptr;
  int steps_ = 0;
};

// Path of env/assets/<task>.xml (RELMIMIC_ASSETS overrides the build-time folder).
std::string asset_path(Task t);

}  // namespace relmimic::env
