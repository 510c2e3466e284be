// LocomotionEnv against Gym: compiled models, reference rollouts, reward terms and observation.
// Episode logic (health, truncation, reset noise, determinism, errors):
// test_locomotion_episode.cpp.
//
// Reference numbers come from tools/compare_gym.py (an optional script that needs the Python
// packages gymnasium and mujoco). Its summary:
//   - compiled models, ours vs gymnasium 1.4.0's XML under mujoco 4.0.0 and ours vs openai/gym's
//     original global-coordinate v3 XML under mujoco 2.3.2: every physics field identical
//     (max |diff| 0; masses, inertias, frames, geoms, joints, actuators, options); the only
//     difference is the Hopper floor's render grid spacing (1 vs Gym's 0.125).
//   - 1000 env steps of the same actions from the init state: max |qpos diff| 0 in both
//     comparisons, i.e. bit-identical trajectories under the same MuJoCo.
//   - gymnasium's Hopper-v4 / Walker2d-v4 envs (v3 semantics) after 20 steps of test_action():
//     our XML replayed under mujoco 4.0.0 matches them with max |qpos diff| 0.
// This library links Debian's MuJoCo 2.2.2, whose results equal 2.3.2's bit for bit on these
// rollouts but differ from 4.0.0's where contacts have a margin: see the tolerances below.
#include <gtest/gtest.h>
#include <mujoco/mujoco.h>

#include <cmath>
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include "env/locomotion.h"
#include "tests/env/locomotion_test_util.h"

namespace relmimic::env {
namespace {

using testing_util::no_noise;
using testing_util::set_qpos;
using testing_util::test_action;

constexpr double kPi = 3.14159265358979323846;

// ---- models ------------------------------------------------------------------------------

// Body masses of Gym's compiled models (world, torso, thigh, leg, foot[, left leg]), printed by
// tools/compare_gym.py; capsules at density 1000.
const std::vector<double> kHopperMass = {0, 3.6651914291880923, 4.0578905108868177,
                                         2.7813566959781637, 5.3155747698739306};
const std::vector<double> kWalkerMass = {0,
                                         3.6651914291880923,
                                         4.0578905108868177,
                                         2.7813566959781637,
                                         3.1667253948185117,
                                         4.0578905108868177,
                                         2.7813566959781637,
                                         3.1667253948185117};

TEST(LocomotionModel, HopperMatchesGym) {
  LocomotionEnv env(Task::Hopper);
  const mjModel* m = env.model();
  EXPECT_EQ(env.nq(), 6);
  EXPECT_EQ(env.nv(), 6);
  EXPECT_EQ(env.action_dim(), 3);
  EXPECT_EQ(env.obs_dim(), 11);
  ASSERT_EQ(m->nbody, int(kHopperMass.size()));
  for (int b = 0; b < m->nbody; ++b) EXPECT_NEAR(m->body_mass[b], kHopperMass[b], 1e-6) << b;
  EXPECT_EQ(m->opt.timestep, 0.002);
  EXPECT_EQ(m->opt.integrator, mjINT_RK4);
  EXPECT_DOUBLE_EQ(env.dt(), 0.008);
  EXPECT_EQ(m->qpos0[1], 1.25);  // rootz ref: qpos[1] is the torso height
  for (int a = 0; a < m->nu; ++a) {
    EXPECT_EQ(m->actuator_gear[6 * a], 200.0) << a;
    EXPECT_TRUE(m->actuator_ctrllimited[a]);
    EXPECT_EQ(m->actuator_ctrlrange[2 * a], -1.0);
    EXPECT_EQ(m->actuator_ctrlrange[2 * a + 1], 1.0);
  }
  // Leg joints: armature 1, damping 1, ranges thigh/leg [-150, 0] deg, foot [-45, 45] deg.
  for (int d = 3; d < 6; ++d) {
    EXPECT_EQ(m->dof_armature[d], 1.0);
    EXPECT_EQ(m->dof_damping[d], 1.0);
  }
  for (int d = 0; d < 3; ++d) EXPECT_EQ(m->dof_damping[d], 0.0);
  EXPECT_NEAR(m->jnt_range[2 * 3], -150 * kPi / 180, 1e-12);
  EXPECT_NEAR(m->jnt_range[2 * 5 + 1], 45 * kPi / 180, 1e-12);
  // Foot friction 2.0, contact margin 0.001 on the robot.
  const int foot = mj_name2id(m, mjOBJ_GEOM, "foot_geom");
  ASSERT_GE(foot, 0);
  EXPECT_EQ(m->geom_friction[3 * foot], 2.0);
  EXPECT_EQ(m->geom_margin[foot], 0.001);
  EXPECT_EQ(m->geom_size[3 * foot + 1], 0.195);  // half-length of Gym's fromto -0.13 .. 0.26
}

TEST(LocomotionModel, Walker2dMatchesGym) {
  LocomotionEnv env(Task::Walker2d);
  const mjModel* m = env.model();
  EXPECT_EQ(env.nq(), 9);
  EXPECT_EQ(env.nv(), 9);
  EXPECT_EQ(env.action_dim(), 6);
  EXPECT_EQ(env.obs_dim(), 17);
  ASSERT_EQ(m->nbody, int(kWalkerMass.size()));
  for (int b = 0; b < m->nbody; ++b) EXPECT_NEAR(m->body_mass[b], kWalkerMass[b], 1e-6) << b;
  EXPECT_EQ(m->opt.timestep, 0.002);
  EXPECT_EQ(m->opt.integrator, mjINT_RK4);
  for (int a = 0; a < m->nu; ++a) EXPECT_EQ(m->actuator_gear[6 * a], 100.0) << a;
  for (int d = 3; d < 9; ++d) {
    EXPECT_EQ(m->dof_armature[d], 0.01);
    EXPECT_EQ(m->dof_damping[d], 0.1);
  }
  // v3's asymmetric feet: right 0.9, left 1.9.
  EXPECT_EQ(m->geom_friction[3 * mj_name2id(m, mjOBJ_GEOM, "foot_geom")], 0.9);
  EXPECT_EQ(m->geom_friction[3 * mj_name2id(m, mjOBJ_GEOM, "foot_left_geom")], 1.9);
}

TEST(LocomotionModel, TrackCameraIsThere) {
  for (Task t : {Task::Hopper, Task::Walker2d}) {
    LocomotionEnv env(t);
    const int cam = mj_name2id(env.model(), mjOBJ_CAMERA, "track");
    ASSERT_GE(cam, 0) << task_name(t);
    EXPECT_EQ(env.model()->cam_mode[cam], mjCAMLIGHT_TRACKCOM);
    EXPECT_EQ(env.model()->cam_pos[3 * cam + 1], -3.0);
  }
}

// ---- Gym reference rollouts --------------------------------------------------------------

// qpos after 20 steps of test_action() from the init state without reset noise.
struct GymReference {
  std::vector<double> qpos20;
  std::vector<double> rewards;  // per step; empty where only the physics was replayed
  int first_terminated;         // 1-based step of the first termination, 0 for none
  double qpos_tol, reward_tol;
};

// openai/gym's original v3 XML (coordinate="global") replayed with the mujoco 2.3.2 Python
// package, the newest that still reads global coordinates and the closest to the 2.2.2 linked
// here: same contact code, so the tolerance only allows for round-off of other builds.
const GymReference kV3HopperMj232 = {
    {-0.10590897444275295, 1.2141175440444347, -0.49552077468990674, -0.34991785602090247,
     -0.23536455619874122, 0.070620533331500146},
    {},
    15,
    1e-9,
    0};
const GymReference kV3WalkerMj232 = {
    {-0.11625175308776092, 1.1920548761443457, -0.59217433414177412, -0.42177701878114715,
     -0.21149347367290219, 1.1347146516826809, -0.51271439249843709, -0.15195949496377323,
     -0.33188270912343343},
    {},
    0,
    1e-9,
    0};

// gymnasium 1.4.0 Hopper-v4 / Walker2d-v4 envs (v3 semantics) with mujoco 4.0.0: checks the reward
// and termination logic end to end. MuJoCo after 2.3.2 handles a contact margin differently;
// Hopper's geoms have margin 0.001 (Walker2d's 0), so once the Hopper's foot touches the floor
// (step 9) the versions part: 2.8e-3 in qpos and 2.7e-2 in reward after 20 steps (with the margin
// set to 0 in both, 2.3.2 and 4.0.0 agree to 5e-16). Walker2d agrees to round-off (5e-15).
const GymReference kGymHopperMj400 = {
    {-0.10643625261550708, 1.2147821548350985, -0.49674888371920689, -0.35119617252553964,
     -0.23328134598711017, 0.073436168862344595},
    {1.0203387543463993,   1.0301987654330582,   1.0290281760168398,    1.0182928936610909,
     0.99900057907487161,  0.97138835119566513,  0.91884898811450977,   0.83065837522196562,
     0.69355724722486434,  0.38291546157053852,  0.075561450026735963,  -0.17978674158764379,
     -0.36376304013614486, -0.45979492441470349, -0.46605443621965847,  -0.40975991868197742,
     -0.30840576217861182, -0.17643215359042291, -0.033803093709057146, 0.09934318160096034},
    15,  // the pitch passes -0.2 rad; Gym reports terminated on every later step too
    1e-2,
    0.1};
const GymReference kGymWalkerMj400 = {
    {-0.11625175308776128, 1.1920548761443452, -0.59217433414177645, -0.42177701878114721,
     -0.21149347367290738, 1.1347146516826805, -0.51271439249843931, -0.15195949496377328,
     -0.33188270912343187},
    {0.91180927356914343,  0.7073485772209136,    0.53617473867094589,   0.44089482109809064,
     0.44208295488206334,  0.51501103153486305,   0.61199833539640813,   0.69300298144333061,
     0.73791644163648429,  0.78644189179876067,   0.72831442003958324,   0.30768377422246967,
     -0.01484900160271733, -0.054387703984277683, -0.048440570681994352, -0.11676241512549533,
     -0.27333109569279329, -0.48174669115464525,  -0.53359867210913803,  -0.47533479651779309},
    0,
    1e-9,
    1e-6};

void check_against(Task task, const GymReference& ref, const char* what) {
  LocomotionEnv env(task, no_noise(task));
  Rng rng(1);
  env.reset(rng);
  double max_qpos_diff = 0, max_reward_diff = 0;
  for (int t = 0; t < 20; ++t) {
    StepResult r = env.step(test_action(t, env.action_dim()).data());
    if (!ref.rewards.empty())
      max_reward_diff = std::max(max_reward_diff, std::abs(r.reward - ref.rewards[t]));
    EXPECT_EQ(r.terminated, ref.first_terminated > 0 && t + 1 >= ref.first_terminated)
        << task_name(task) << " step " << t + 1;
    EXPECT_FALSE(r.truncated);
  }
  for (int i = 0; i < env.nq(); ++i)
    max_qpos_diff = std::max(max_qpos_diff, std::abs(env.data()->qpos[i] - ref.qpos20[i]));
  EXPECT_LE(max_qpos_diff, ref.qpos_tol) << task_name(task) << " vs " << what;
  EXPECT_LE(max_reward_diff, ref.reward_tol) << task_name(task) << " vs " << what;
  std::printf("%s vs %s after 20 steps: max |qpos diff| %.3e, max |reward diff| %.3e\n",
              task_name(task), what, max_qpos_diff, max_reward_diff);
}

TEST(LocomotionGym, HopperMatchesGymV3ModelUnderMujoco232) {
  check_against(Task::Hopper, kV3HopperMj232, "openai/gym v3 XML, mujoco 2.3.2");
}

TEST(LocomotionGym, Walker2dMatchesGymV3ModelUnderMujoco232) {
  check_against(Task::Walker2d, kV3WalkerMj232, "openai/gym v3 XML, mujoco 2.3.2");
}

TEST(LocomotionGym, HopperMatchesGymnasiumEnv) {
  check_against(Task::Hopper, kGymHopperMj400, "gymnasium Hopper-v4, mujoco 4.0.0");
}

TEST(LocomotionGym, Walker2dMatchesGymnasiumEnv) {
  check_against(Task::Walker2d, kGymWalkerMj400, "gymnasium Walker2d-v4, mujoco 4.0.0");
}

// ---- reward, observation ------------------------------------------------------------------

TEST(LocomotionStep, RewardTermsFollowGymV3) {
  for (Task task : {Task::Hopper, Task::Walker2d}) {
    LocomotionEnv env(task);
    Rng rng(7);
    env.reset(rng);
    // Two steps so the torso moves; check the terms of the second.
    env.step(test_action(0, env.action_dim()).data());
    const std::vector<double> a = test_action(1, env.action_dim());
    const double x_before = env.data()->qpos[0];
    StepResult r = env.step(a.data());
    const double x_after = env.data()->qpos[0];
    double sum_sq = 0;
    for (double v : a) sum_sq += v * v;
    ASSERT_NE(x_after, x_before) << task_name(task);
    EXPECT_EQ(r.x_velocity, (x_after - x_before) / 0.008) << task_name(task);
    EXPECT_EQ(r.forward_reward, r.x_velocity);
    EXPECT_DOUBLE_EQ(r.ctrl_cost, 1e-3 * sum_sq);
    EXPECT_EQ(r.healthy_reward, 1.0);
    EXPECT_DOUBLE_EQ(r.reward, r.forward_reward + 1.0 - r.ctrl_cost);
    EXPECT_FALSE(r.terminated);
    EXPECT_FALSE(r.truncated);
    EXPECT_EQ(env.elapsed_steps(), 2);
    EXPECT_EQ(env.data()->time, 2 * 4 * 0.002) << "frame_skip 4 physics steps per env step";
  }
}

TEST(LocomotionStep, ActionsAreClampedByMujocoButCostedAsGiven) {
  // Gym sets ctrl = action unclipped: ctrllimited clamps the force, ctrl_cost sees the raw value.
  LocomotionEnv big(Task::Hopper, no_noise(Task::Hopper));
  LocomotionEnv unit(Task::Hopper, no_noise(Task::Hopper));
  const double a_big[3] = {2.0, -3.0, 0.5}, a_unit[3] = {1.0, -1.0, 0.5};
  for (int t = 0; t < 5; ++t) {
    StepResult rb = big.step(a_big), ru = unit.step(a_unit);
    EXPECT_DOUBLE_EQ(rb.ctrl_cost, 1e-3 * (4.0 + 9.0 + 0.25));
    EXPECT_DOUBLE_EQ(ru.ctrl_cost, 1e-3 * (1.0 + 1.0 + 0.25));
  }
  EXPECT_EQ(0, std::memcmp(big.data()->qpos, unit.data()->qpos, sizeof(double) * 6));
  EXPECT_EQ(0, std::memcmp(big.data()->qvel, unit.data()->qvel, sizeof(double) * 6));
}

TEST(LocomotionStep, HealthyRewardWithoutTermination) {
  // terminate_when_unhealthy = false: never terminated, healthy_reward only while healthy.
  TaskConfig cfg = TaskConfig::defaults(Task::Hopper);
  cfg.terminate_when_unhealthy = false;
  LocomotionEnv env(Task::Hopper, cfg);
  set_qpos(env, {{2, 0.5}});  // pitch 0.5 rad: unhealthy, and still so after one step
  const double zero[3] = {0, 0, 0};
  StepResult r = env.step(zero);
  EXPECT_FALSE(env.healthy());
  EXPECT_FALSE(r.terminated);
  EXPECT_EQ(r.healthy_reward, 0.0);
  EXPECT_EQ(r.reward, r.forward_reward - r.ctrl_cost);
}

TEST(LocomotionStep, ObservationIsQposWithoutXThenClippedQvel) {
  LocomotionEnv env(Task::Walker2d);
  mj_resetData(env.model(), env.data());
  for (int i = 0; i < 9; ++i) env.data()->qpos[i] = 0.1 * (i + 1);
  const double qvel[9] = {-25, -10, -3, 0, 2.5, 9.99, 10, 11, 1e6};
  const double want_v[9] = {-10, -10, -3, 0, 2.5, 9.99, 10, 10, 10};
  std::memcpy(env.data()->qvel, qvel, sizeof(qvel));
  std::vector<double> obs(env.obs_dim());
  env.observation(obs.data());
  for (int i = 0; i < 8; ++i) EXPECT_EQ(obs[i], 0.1 * (i + 2)) << i;
  for (int i = 0; i < 9; ++i) EXPECT_EQ(obs[8 + i], want_v[i]) << i;
}

}  // namespace
}  // namespace relmimic::env
