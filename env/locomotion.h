// One MuJoCo locomotion task (Hopper-v3 / Walker2d-v3 semantics). No threads, no rendering:
// the env pool runs many of these on worker threads and the renderer draws them.
#pragma once

#include <limits>
#include <memory>
#include <string>
#include <vector>

#include "engine/rng.h"

struct mjModel_;
struct mjData_;

namespace relmimic::env {

enum class Task { Hopper, Walker2d };

Task parse_task(const std::string& name);  // "hopper" | "walker2d"; throws otherwise
const char* task_name(Task t);

// Gym v3 parameters (hopper_v3.py / walker2d_v3.py defaults; both tasks share all but the
// healthy ranges). A state is healthy while lo < value < hi for every range (strict, as Gym).
struct TaskConfig {
  int frame_skip = 4;
  int max_episode_steps = 1000;  // TimeLimit: truncated once this many steps were taken
  double forward_reward_weight = 1.0;
  double ctrl_cost_weight = 1e-3;
  double healthy_reward = 1.0;
  // Gym pays healthy_reward when healthy or when terminate_when_unhealthy (i.e. on every step).
  bool terminate_when_unhealthy = true;
  double reset_noise_scale = 5e-3;  // Hopper 5e-3, Walker2d 5e-3
  // Torso height qpos[1]: Hopper (0.7, inf), Walker2d (0.8, 2.0).
  double healthy_z_min = 0.7, healthy_z_max = std::numeric_limits<double>::infinity();
  // Torso pitch qpos[2]: Hopper (-0.2, 0.2), Walker2d (-1, 1).
  double healthy_angle_min = -0.2, healthy_angle_max = 0.2;
  // Hopper only: qpos[2:] and qvel within (-100, 100). Walker2d has no such check: +-inf here.
  double healthy_state_min = -100.0, healthy_state_max = 100.0;
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
  // Everything mj_step reads from mjData (plus the episode's step count): restoring it makes the
  // following steps bit-identical to those of the env it was taken from. The warm start matters:
  // the constraint solver starts from it, so its result depends on it.
  struct State {
    double time = 0;
    int elapsed_steps = 0;
    std::vector<double> qpos, qvel, act, ctrl, qacc_warmstart;  // [nq], [nv], [na], [nu], [nv]
  };

  explicit LocomotionEnv(Task task, const TaskConfig& cfg);
  explicit LocomotionEnv(Task task) : LocomotionEnv(task, TaskConfig::defaults(task)) {}
  ~LocomotionEnv();
  LocomotionEnv(const LocomotionEnv&) = delete;
  LocomotionEnv& operator=(const LocomotionEnv&) = delete;

  // Initial state plus uniform noise in [-scale, scale] on qpos and qvel.
  void reset(Rng& rng);
  // Sets ctrl = action (length action_dim(), not clipped: MuJoCo clamps ctrl to ctrlrange, the
  // control cost uses the action as given, as in Gym) for frame_skip physics steps.
  StepResult step(const double* action);
  State state() const;
  // Checks every size against the model; recomputes the derived quantities (mj_forward).
  void set_state(const State& s);

  // Proprioceptive observation: qpos[1:], clip(qvel, -10, 10).
  void observation(double* obs) const;
  // The generalised positions and velocities: qpos [nq], qvel [nv].
  void positions(double* qpos, double* qvel) const;

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

// Replaces MuJoCo's error and warning handlers (the defaults print and call exit()): errors throw
// relmimic::Error on the calling thread, each distinct warning is printed to stderr once.
// Idempotent; LocomotionEnv's constructor calls it, the renderer may call it before mjr_*.
void install_mujoco_handlers();

}  // namespace relmimic::env
