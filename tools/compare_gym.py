#!/usr/bin/env python3
"""Compares env/assets/{hopper,walker2d}.xml with Gym's Hopper / Walker2d models.

Optional developer check, not part of the build or the tests. It needs the Python packages
`mujoco` and (for the default reference models and the reference rollouts) `gymnasium`:

    python3 -m venv /tmp/gymref && /tmp/gymref/bin/pip install gymnasium mujoco
    /tmp/gymref/bin/python tools/compare_gym.py

1. Loads our model and the reference model with the same MuJoCo and compares the compiled
   quantities that affect physics (masses, inertias, frames, geoms, joints, actuators, options).
2. Replays the same actions from the same initial state in both and reports the max qpos
   difference, and the reference model's qpos after --ref-steps steps.
3. With gymnasium importable, rolls out Gym's Hopper-v4 / Walker2d-v4 env (v3 semantics) from
   its initial state without noise and prints the reference numbers used by
   tests/env/test_locomotion.cpp.

--reference DIR compares against another folder of XMLs, e.g. openai/gym's original
global-coordinate gym/envs/mujoco/assets/{hopper,walker2d}.xml, which need mujoco < 2.3.3
(`pip install mujoco==2.3.2`; the v3 numbers in the test come from that run).
Exit status 1 when a compiled quantity differs by more than --tol.
"""

import argparse
import math
import os
import sys
import warnings

import mujoco
import numpy as np

TASKS = {"hopper": ("hopper.xml", "Hopper-v4"), "walker2d": ("walker2d.xml", "Walker2d-v4")}

# Compiled fields compared element by element: (attribute, what it is).
MODEL_FIELDS = [
    ("body_parentid", "body tree"),
    ("body_pos", "body frame position in parent"),
    ("body_quat", "body frame orientation in parent"),
    ("body_ipos", "inertial frame position"),
    ("body_iquat", "inertial frame orientation"),
    ("body_mass", "body mass"),
    ("body_inertia", "principal inertia"),
    ("geom_type", "geom type"),
    ("geom_bodyid", "geom body"),
    ("geom_size", "geom size"),
    ("geom_pos", "geom position"),
    ("geom_quat", "geom orientation"),
    ("geom_friction", "friction"),
    ("geom_condim", "contact dimension"),
    ("geom_contype", "contype"),
    ("geom_conaffinity", "conaffinity"),
    ("geom_margin", "contact margin"),
    ("geom_gap", "contact gap"),
    ("geom_solref", "solref"),
    ("geom_solimp", "solimp"),
    ("geom_solmix", "solmix"),
    ("jnt_type", "joint type"),
    ("jnt_bodyid", "joint body"),
    ("jnt_pos", "joint anchor"),
    ("jnt_axis", "joint axis"),
    ("jnt_limited", "joint limited"),
    ("jnt_range", "joint range"),
    ("jnt_stiffness", "joint stiffness"),
    ("qpos0", "reference qpos"),
    ("dof_damping", "dof damping"),
    ("dof_armature", "dof armature"),
    ("dof_frictionloss", "dof friction loss"),
    ("actuator_trnid", "actuator joint"),
    ("actuator_gear", "actuator gear"),
    ("actuator_ctrllimited", "ctrl limited"),
    ("actuator_ctrlrange", "ctrl range"),
    ("actuator_biasprm", "actuator bias"),
    ("actuator_gainprm", "actuator gain"),
]
OPTION_FIELDS = ["timestep", "integrator", "gravity", "cone", "solver", "iterations", "tolerance",
                 "impratio", "density", "viscosity", "wind", "o_margin"]


def compare_models(ours, ref, tol):
    """Prints each compared field's max abs difference; returns the number of mismatches."""
    bad = 0
    for name in ["nq", "nv", "nu", "nbody", "ngeom", "njnt"]:
        a, b = getattr(ours, name), getattr(ref, name)
        if a != b:
            print(f"  {name}: ours {a} ref {b}  MISMATCH")
            bad += 1
    if bad:
        return bad
    for field, what in MODEL_FIELDS:
        if not hasattr(ours, field):
            continue
        a = np.array(getattr(ours, field), dtype=np.float64)
        b = np.array(getattr(ref, field), dtype=np.float64)
        if field == "geom_size":
            # A plane's third size is its render grid spacing; planes collide as infinite.
            planes = np.asarray(ours.geom_type) == mujoco.mjtGeom.mjGEOM_PLANE
            for g in np.flatnonzero(planes):
                print(f"  plane geom {g} grid spacing (render only): ours {a[g, 2]:g} ref {b[g, 2]:g}")
            a[planes, 2] = b[planes, 2]
        diff = float(np.max(np.abs(a - b))) if a.size else 0.0
        flag = "" if diff <= tol else "  MISMATCH"
        bad += diff > tol
        print(f"  {field:22s} max|diff| {diff:.3e}  ({what}){flag}")
    # A capsule is symmetric end to end: compare the geom axis up to sign, not the quaternion.
    worst = 0.0
    for g in range(ours.ngeom):
        za, zb = np.zeros(9), np.zeros(9)
        mujoco.mju_quat2Mat(za, ours.geom_quat[g])
        mujoco.mju_quat2Mat(zb, ref.geom_quat[g])
        axis_a, axis_b = za.reshape(3, 3)[:, 2], zb.reshape(3, 3)[:, 2]
        worst = max(worst, min(np.max(np.abs(axis_a - axis_b)), np.max(np.abs(axis_a + axis_b))))
    bad += worst > tol
    print(f"  {'geom axis (up to sign)':22s} max|diff| {worst:.3e}{'  MISMATCH' if worst > tol else ''}")
    for field in OPTION_FIELDS:
        if not hasattr(ours.opt, field):
            continue
        a = np.asarray(getattr(ours.opt, field), dtype=np.float64)
        b = np.asarray(getattr(ref.opt, field), dtype=np.float64)
        diff = float(np.max(np.abs(a - b)))
        bad += diff > tol
        print(f"  opt.{field:18s} max|diff| {diff:.3e}{'  MISMATCH' if diff > tol else ''}")
    return bad


def test_actions(steps, nu):
    """The fixed action sequence of the C++ test: a[t][j] = 0.9 sin(0.37 t + 1.1 j + 0.3)."""
    return [[0.9 * math.sin(0.37 * t + 1.1 * j + 0.3) for j in range(nu)] for t in range(steps)]


def replay(model, actions, frame_skip=4):
    """qpos after every env step from qpos0, qvel 0 (Gym's init state without noise)."""
    data = mujoco.MjData(model)
    mujoco.mj_forward(model, data)
    out = []
    for a in actions:
        data.ctrl[:] = a
        for _ in range(frame_skip):
            mujoco.mj_step(model, data)
        out.append(data.qpos.copy())
    return np.array(out)


def gym_reference(env_id, steps):
    """Gym's env from its init state without noise: final qpos, per-step rewards, terminations."""
    import gymnasium as gym

    warnings.filterwarnings("ignore", category=DeprecationWarning)

    env = gym.make(env_id).unwrapped
    env.reset(seed=0)
    env.set_state(env.init_qpos, env.init_qvel)
    rewards, terms = [], []
    for a in test_actions(steps, env.model.nu):
        _, r, term, _, _ = env.step(np.array(a))
        rewards.append(r)
        terms.append(term)
    return env.data.qpos.copy(), np.array(rewards), terms


def fmt(values):
    return ", ".join(f"{v:.17g}" for v in values)


def main():
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ours", default=os.path.join(root, "env", "assets"))
    parser.add_argument("--reference", help="folder of reference XMLs (default: gymnasium's)")
    parser.add_argument("--tol", type=float, default=0.0, help="compiled-field tolerance")
    parser.add_argument("--replay-steps", type=int, default=1000)
    parser.add_argument("--ref-steps", type=int, default=20, help="steps of the test reference")
    args = parser.parse_args()

    ref_dir = args.reference
    if ref_dir is None:
        import gymnasium

        ref_dir = os.path.join(os.path.dirname(gymnasium.__file__), "envs", "mujoco", "assets")
    print(f"mujoco {mujoco.__version__}; ours {args.ours}; reference {ref_dir}")

    failures = 0
    for task, (xml, env_id) in TASKS.items():
        ours = mujoco.MjModel.from_xml_path(os.path.join(args.ours, xml))
        ref = mujoco.MjModel.from_xml_path(os.path.join(ref_dir, xml))
        print(f"\n== {task}: compiled model")
        failures += compare_models(ours, ref, args.tol)
        print(f"  body_mass (ours) = [{fmt(ours.body_mass)}]")

        actions = test_actions(args.replay_steps, ours.nu)
        qa, qb = replay(ours, actions), replay(ref, actions)
        diff = np.max(np.abs(qa - qb), axis=1)
        print(f"== {task}: replay of {args.replay_steps} env steps from the init state")
        for n in (1, 20, 100, args.replay_steps):
            if n <= len(diff):
                print(f"  max|qpos diff| over the first {n:4d} steps: {np.max(diff[:n]):.3e}")
        if args.ref_steps <= len(qb):
            final = fmt(qb[args.ref_steps - 1])
            print(f"  reference model qpos after {args.ref_steps} steps = {{{final}}}")

        try:
            qpos, rewards, terms = gym_reference(env_id, args.ref_steps)
        except ImportError as e:
            print(f"== {task}: gymnasium env not available ({e}); no reference rollout")
            continue
        ours_q = replay(ours, actions[: args.ref_steps])[-1]
        print(f"== {task}: {env_id} (gymnasium) after {args.ref_steps} steps, no reset noise")
        print(f"  qpos    = {{{fmt(qpos)}}}")
        print(f"  rewards = {{{fmt(rewards)}}}")
        print(f"  terminated after steps (1-based): {[i + 1 for i, t in enumerate(terms) if t]}")
        print(f"  ours vs gymnasium env: max|qpos diff| {np.max(np.abs(ours_q - qpos)):.3e}")
    print(f"\n{'OK' if failures == 0 else f'{failures} MISMATCHES'}")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
