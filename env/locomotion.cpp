#include "env/locomotion.h"

#include <mujoco/mujoco.h>

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <mutex>
#include <set>

#include "kernels/common.h"

namespace relmimic::env {

namespace {

// Model sizes of Gym's Hopper-v3 / Walker2d-v3; a model file with other sizes is the wrong file.
struct TaskShape {
  int nq, nv, nu;
};
TaskShape task_shape(Task t) {
  return t == Task::Hopper ? TaskShape{6, 6, 3} : TaskShape{9, 9, 6};
}

// MuJoCo calls this instead of exit(). Throwing unwinds through MuJoCo's C frames (built with
// unwind tables on every Debian target); callers reset the env after an error.
void throw_mujoco_error(const char* msg) {
  throw Error(std::string("MuJoCo error: ") + msg);
}

std::mutex& warning_mutex() {
  static std::mutex m;
  return m;
}

void log_mujoco_warning_once(const char* msg) {
  static std::set<std::string> seen;
  std::lock_guard<std::mutex> lock(warning_mutex());
  if (seen.insert(msg).second) std::fprintf(stderr, "relmimic: MuJoCo warning: %s\n", msg);
}

// lo < x < hi, false for NaN (Gym's healthy test).
bool inside(double x, double lo, double hi) {
  return lo < x && x < hi;
}

}  // namespace

void install_mujoco_handlers() {
  static std::once_flag once;
  std::call_once(once, [] {
    mju_user_error = throw_mujoco_error;
    mju_user_warning = log_mujoco_warning_once;
  });
}

Task parse_task(const std::string& name) {
  std::string lower = name;
  std::transform(lower.begin(), lower.end(), lower.begin(),
                 [](unsigned char c) { return char(std::tolower(c)); });
  if (lower == "hopper") return Task::Hopper;
  if (lower == "walker2d") return Task::Walker2d;
  RM_FAIL("unknown task '", name, "' (expected hopper or walker2d)");
}

const char* task_name(Task t) {
  return t == Task::Hopper ? "hopper" : "walker2d";
}

TaskConfig TaskConfig::defaults(Task t) {
  TaskConfig c;  // the member defaults are Hopper-v3's
  if (t == Task::Walker2d) {
    c.healthy_z_min = 0.8;
    c.healthy_z_max = 2.0;
    c.healthy_angle_min = -1.0;
    c.healthy_angle_max = 1.0;
    c.healthy_state_min = -std::numeric_limits<double>::infinity();
    c.healthy_state_max = std::numeric_limits<double>::infinity();
  }
  return c;
}

std::string asset_path(Task t) {
  const char* env_dir = std::getenv("RELMIMIC_ASSETS");
  std::string dir = (env_dir && *env_dir) ? env_dir : RELMIMIC_ASSET_DIR;
  return (std::filesystem::path(dir) / (std::string(task_name(t)) + ".xml")).string();
}

LocomotionEnv::LocomotionEnv(Task task, const TaskConfig& cfg) : task_(task), cfg_(cfg) {
  RM_CHECK(cfg.frame_skip >= 1, "frame_skip must be >= 1, got ", cfg.frame_skip);
  RM_CHECK(cfg.max_episode_steps >= 1, "max_episode_steps must be >= 1, got ",
           cfg.max_episode_steps);
  RM_CHECK(cfg.reset_noise_scale >= 0, "reset_noise_scale must be >= 0, got ",
           cfg.reset_noise_scale);
  install_mujoco_handlers();

  const std::string path = asset_path(task);
  RM_CHECK(std::filesystem::is_regular_file(path), "MuJoCo model file not found: ", path,
           " (RELMIMIC_ASSETS names the folder holding hopper.xml and walker2d.xml)");
  char err[1024] = "";
  {
    // mj_loadXML records the last model in process-wide state (for mj_saveLastXML): one load
    // at a time.
    static std::mutex load_mutex;
    std::lock_guard<std::mutex> lock(load_mutex);
    model_ = mj_loadXML(path.c_str(), nullptr, err, sizeof(err));
  }
  if (!model_) RM_FAIL("cannot load MuJoCo model ", path, ": ", err);

  const TaskShape want = task_shape(task);
  if (model_->nq != want.nq || model_->nv != want.nv || model_->nu != want.nu) {
    const int nq = model_->nq, nv = model_->nv, nu = model_->nu;
    mj_deleteModel(model_);
    model_ = nullptr;
    RM_FAIL("model ", path, " has nq/nv/nu ", nq, "/", nv, "/", nu, ", ", task_name(task),
            " needs ", want.nq, "/", want.nv, "/", want.nu);
  }
  data_ = mj_makeData(model_);
  if (!data_) {
    mj_deleteModel(model_);
    model_ = nullptr;
    RM_FAIL("mj_makeData failed for ", path);
  }
  mj_forward(model_, data_);  // valid kinematics for a renderer before the first reset
}

LocomotionEnv::~LocomotionEnv() {
  if (data_) mj_deleteData(data_);
  if (model_) mj_deleteModel(model_);
}

int LocomotionEnv::nq() const {
  return model_->nq;
}
int LocomotionEnv::nv() const {
  return model_->nv;
}
int LocomotionEnv::action_dim() const {
  return model_->nu;
}
int LocomotionEnv::obs_dim() const {
  return model_->nq - 1 + model_->nv;
}
double LocomotionEnv::dt() const {
  return model_->opt.timestep * cfg_.frame_skip;
}

void LocomotionEnv::reset(Rng& rng) {
  mj_resetData(model_, data_);  // qpos0, zero qvel/ctrl/warm start, time 0
  const double s = cfg_.reset_noise_scale;
  // Gym draws all qpos noise, then all qvel noise: init + U(-s, s).
  for (int i = 0; i < model_->nq; ++i) data_->qpos[i] = model_->qpos0[i] + rng.uniform(-s, s);
  for (int i = 0; i < model_->nv; ++i) data_->qvel[i] = rng.uniform(-s, s);
  mj_forward(model_, data_);
  steps_ = 0;
}

StepResult LocomotionEnv::step(const double* action) {
  const int nu = model_->nu;
  double sum_sq = 0;
  for (int i = 0; i < nu; ++i) {
    RM_CHECK(std::isfinite(action[i]), "action[", i, "] is ", action[i], " (", task_name(task_),
             " step ", steps_, ")");
    data_->ctrl[i] = action[i];
    sum_sq += action[i] * action[i];
  }
  const double x_before = data_->qpos[0];
  for (int k = 0; k < cfg_.frame_skip; ++k) mj_step(model_, data_);
  ++steps_;

  StepResult r;
  const bool is_healthy = healthy();
  r.x_velocity = (data_->qpos[0] - x_before) / dt();
  r.forward_reward = cfg_.forward_reward_weight * r.x_velocity;
  r.ctrl_cost = cfg_.ctrl_cost_weight * sum_sq;
  r.healthy_reward = (is_healthy || cfg_.terminate_when_unhealthy) ? cfg_.healthy_reward : 0.0;
  r.reward = r.forward_reward + r.healthy_reward - r.ctrl_cost;
  r.terminated = cfg_.terminate_when_unhealthy && !is_healthy;
  r.truncated = steps_ >= cfg_.max_episode_steps;
  return r;
}

LocomotionEnv::State LocomotionEnv::state() const {
  const mjModel* m = model_;
  const mjData* d = data_;
  State s;
  s.time = d->time;
  s.elapsed_steps = steps_;
  s.qpos.assign(d->qpos, d->qpos + m->nq);
  s.qvel.assign(d->qvel, d->qvel + m->nv);
  s.act.assign(d->act, d->act + m->na);
  s.ctrl.assign(d->ctrl, d->ctrl + m->nu);
  s.qacc_warmstart.assign(d->qacc_warmstart, d->qacc_warmstart + m->nv);
  return s;
}

void LocomotionEnv::set_state(const State& s) {
  const mjModel* m = model_;
  auto check = [&](const std::vector<double>& v, int want, const char* what) {
    RM_CHECK(int(v.size()) == want, task_name(task_), " set_state: ", what, " has ", v.size(),
             " values, the model needs ", want);
  };
  check(s.qpos, m->nq, "qpos");
  check(s.qvel, m->nv, "qvel");
  check(s.act, m->na, "act");
  check(s.ctrl, m->nu, "ctrl");
  check(s.qacc_warmstart, m->nv, "qacc_warmstart");
  RM_CHECK(s.elapsed_steps >= 0, task_name(task_), " set_state: elapsed_steps must be >= 0, got ",
           s.elapsed_steps);
  mjData* d = data_;
  d->time = s.time;
  std::copy(s.qpos.begin(), s.qpos.end(), d->qpos);
  std::copy(s.qvel.begin(), s.qvel.end(), d->qvel);
  std::copy(s.act.begin(), s.act.end(), d->act);
  std::copy(s.ctrl.begin(), s.ctrl.end(), d->ctrl);
  mj_forward(model_, data_);
  // After mj_forward, which reads but does not write the warm start.
  std::copy(s.qacc_warmstart.begin(), s.qacc_warmstart.end(), d->qacc_warmstart);
  steps_ = s.elapsed_steps;
}

void LocomotionEnv::observation(double* obs) const {
  const int nq = model_->nq, nv = model_->nv;
  for (int i = 1; i < nq; ++i) obs[i - 1] = data_->qpos[i];  // qpos[1:], root x excluded
  for (int i = 0; i < nv; ++i) obs[nq - 1 + i] = std::clamp(data_->qvel[i], -10.0, 10.0);
}

void LocomotionEnv::positions(double* qpos, double* qvel) const {
  std::copy(data_->qpos, data_->qpos + model_->nq, qpos);
  std::copy(data_->qvel, data_->qvel + model_->nv, qvel);
}

bool LocomotionEnv::healthy() const {
  const double* qpos = data_->qpos;
  const double* qvel = data_->qvel;
  if (!inside(qpos[1], cfg_.healthy_z_min, cfg_.healthy_z_max)) return false;
  if (!inside(qpos[2], cfg_.healthy_angle_min, cfg_.healthy_angle_max)) return false;
  const double lo = cfg_.healthy_state_min, hi = cfg_.healthy_state_max;
  if (std::isinf(lo) && std::isinf(hi)) return true;  // no state range (Walker2d)
  for (int i = 2; i < model_->nq; ++i)
    if (!inside(qpos[i], lo, hi)) return false;
  for (int i = 0; i < model_->nv; ++i)
    if (!inside(qvel[i], lo, hi)) return false;
  return true;
}

}  // namespace relmimic::env
