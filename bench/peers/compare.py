#!/usr/bin/env python3
"""Runs our network benchmarks and their PyTorch CPU peers side by side and prints the ratios.

Builds nothing: it runs bench_networks and bench_discriminator from a build folder (with
--benchmark_format=json, filtered to the cases bench/peers/torch_nets.py has) and
torch_nets.py with a Python that has PyTorch, interleaved per program and round (ours, PyTorch,
ours, PyTorch, ...) so that load on the machine affects both alike. Every run gets the same
thread count (OMP_NUM_THREADS for ours, torch.set_num_threads for PyTorch) and the same
OMP_WAIT_POLICY. Per case, the repetitions of all rounds are pooled and their median compared:
ratio = relmimic speed / PyTorch speed = PyTorch time / relmimic time (> 1: ours is faster).

  bench/peers/compare.py --build build --python /tmp/peer/bin/python --out result.json

Only the Python standard library is needed here; PyTorch only in the --python interpreter
(bench/peers/README.md says how to install it).
"""

import argparse
import glob
import json
import os
import platform
import re
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
INSTALL = """PyTorch CPU is not importable with --python {python}. Install the peer in a venv
(PyPI's CUDA wheel runs on the CPU once its CUDA libraries are present; nothing else of the
project needs it):

    python3 -m venv /tmp/peer
    /tmp/peer/bin/pip install --no-deps torch numpy typing_extensions sympy mpmath filelock \\
        jinja2 networkx fsspec
    /tmp/peer/bin/pip install --no-deps nvidia-cufile nvidia-cusparselt-cu13 \\
        nvidia-nvshmem-cu13 nvidia-nccl-cu13

then run this script with --python /tmp/peer/bin/python (it puts the venv's nvidia/*/lib folders
on LD_LIBRARY_PATH itself)."""

# What we run of our programs: the cases torch_nets.py has.
PROGRAMS = {
    "bench_networks": r"^BM_(Agent/(local|nonlocal)|Reward/reward(_baseline)?"
    r"|RewardPenalty/reward(_baseline)?)/",
    "bench_discriminator": r"^BM_(Update|Reward)/(relational|baseline)/",
}

# Rows of the summary table: label, program, case names per batch column.
ROWS = [
    ("local", "bench_networks", "BM_Agent/local/{}", (1, 32, 128)),
    ("nonlocal", "bench_networks", "BM_Agent/nonlocal/{}", (1, 32, 128)),
    ("reward (relational)", "bench_networks", "BM_Reward/reward/{}", (1, 32, 128)),
    ("reward_baseline", "bench_networks", "BM_Reward/reward_baseline/{}", (1, 32, 128)),
    ("reward + gradient penalty", "bench_networks", "BM_RewardPenalty/reward/{}", (32,)),
    (
        "reward_baseline + gradient penalty",
        "bench_networks",
        "BM_RewardPenalty/reward_baseline/{}",
        (32,),
    ),
    (
        "discriminator update, relational",
        "bench_discriminator",
        "BM_Update/relational/{}",
        (32, 128),
    ),
    ("discriminator update, baseline", "bench_discriminator", "BM_Update/baseline/{}", (32, 128)),
    (
        "reward() of 256 windows, relational",
        "bench_discriminator",
        "BM_Reward/relational/{}",
        (256,),
    ),
    ("reward() of 256 windows, baseline", "bench_discriminator", "BM_Reward/baseline/{}", (256,)),
]

UNIT_MS = {"ns": 1e-6, "us": 1e-3, "ms": 1.0, "s": 1e3}


def fail(msg):
    sys.exit(f"compare.py: {msg}")


def peer_env(python, threads, wait_policy):
    """The environment of every run: threads, wait policy, and the venv's CUDA libraries."""
    env = dict(os.environ)
    env["OMP_NUM_THREADS"] = str(threads)
    if wait_policy:
        env["OMP_WAIT_POLICY"] = wait_policy
    else:
        env.pop("OMP_WAIT_POLICY", None)
    prefix = os.path.dirname(os.path.dirname(os.path.abspath(python)))
    libs = sorted(
        glob.glob(os.path.join(prefix, "lib", "python3*", "site-packages", "nvidia", "*", "lib"))
    )
    if os.path.isdir("/usr/local/cuda/lib64"):
        libs.append("/usr/local/cuda/lib64")
    if env.get("LD_LIBRARY_PATH"):
        libs.append(env["LD_LIBRARY_PATH"])
    if libs:
        env["LD_LIBRARY_PATH"] = ":".join(libs)
    return env


def run(cmd, env):
    p = subprocess.run(cmd, env=env, capture_output=True, text=True)
    if p.returncode != 0:
        fail(f"{' '.join(cmd)} exited with {p.returncode}:\n{p.stderr.strip()[-2000:]}")
    try:
        return json.loads(p.stdout)
    except json.JSONDecodeError as e:
        fail(f"{' '.join(cmd)} printed no JSON ({e}):\n{p.stdout[-2000:]}")


def source_commit(build):
    """The commit (and whether the tree differs from it) of the sources the build was made from."""
    src = None
    try:
        with open(os.path.join(build, "CMakeCache.txt")) as f:
            for line in f:
                if line.startswith("CMAKE_HOME_DIRECTORY:"):
                    src = line.split("=", 1)[1].strip()
    except OSError:
        pass
    if not src:
        return "unknown"

    def git(*a):
        p = subprocess.run(["git", "-C", src, *a], capture_output=True, text=True)
        return p.stdout.strip() if p.returncode == 0 else ""

    commit = git("rev-parse", "--short", "HEAD") or "unknown"
    dirty = git("status", "--porcelain", "--untracked-files=no")
    return commit + (" (modified tree)" if dirty else "")


def cpu_model():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def load():
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def ours_times(doc):
    """case name -> repetition times (ms) and counters, from Google Benchmark JSON."""
    out = {}
    for b in doc["benchmarks"]:
        if b.get("run_type", "iteration") != "iteration":
            continue
        name = re.sub(r"/real_time$", "", b.get("run_name", b["name"]))
        e = out.setdefault(name, {"ms": [], "params": b.get("params")})
        e["ms"].append(b["real_time"] * UNIT_MS[b.get("time_unit", "ns")])
    return out


def theirs_times(doc):
    return {
        b["name"]: {"ms": list(b["repetitions_ms"]), "params": b["params"]}
        for b in doc["benchmarks"]
    }


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument(
        "--build",
        required=True,
        help="build folder with bench/bench_networks and bench/bench_discriminator",
    )
    ap.add_argument(
        "--python", default=sys.executable, help="a Python with PyTorch (default this one)"
    )
    ap.add_argument("--threads", type=int, default=2, help="threads of both (default 2)")
    ap.add_argument(
        "--rounds", type=int, default=2, help="ours/PyTorch alternations per program (default 2)"
    )
    ap.add_argument(
        "--repetitions", type=int, default=3, help="repetitions per case and run (default 3)"
    )
    ap.add_argument(
        "--min-time", type=float, default=0.5, help="seconds per repetition (default 0.5)"
    )
    ap.add_argument(
        "--omp-wait-policy",
        default="passive",
        help="OMP_WAIT_POLICY of both ('' leaves it unset; default passive)",
    )
    ap.add_argument("--out", help="write the raw runs, context and table here (JSON)")
    args = ap.parse_args()
    if args.threads < 1 or args.rounds < 1 or args.repetitions < 1 or args.min_time <= 0:
        fail("--threads, --rounds and --repetitions must be >= 1 and --min-time > 0")

    bins = {p: os.path.join(args.build, "bench", p) for p in PROGRAMS}
    for p, path in bins.items():
        if not os.access(path, os.X_OK):
            fail(
                f"no {path}: build it first (cmake --build {args.build}"
                " --target bench_networks bench_discriminator)"
            )
    env = peer_env(args.python, args.threads, args.omp_wait_policy)
    probe = subprocess.run(
        [args.python, "-c", "import torch, sympy, mpmath"], env=env, capture_output=True, text=True
    )
    if probe.returncode != 0:
        fail(probe.stderr.strip().splitlines()[-1] + "\n" + INSTALL.format(python=args.python))

    commit = source_commit(args.build)
    context = {
        "date": time.strftime("%Y-%m-%dT%H:%M:%S+00:00", time.gmtime()),
        "commit": commit,
        "cpu": cpu_model(),
        "num_cpus": os.cpu_count(),
        "threads": args.threads,
        "omp_wait_policy": args.omp_wait_policy,
        "rounds": args.rounds,
        "repetitions": args.repetitions,
        "min_time_s": args.min_time,
        "load_start": load(),
    }
    print(
        f"# {context['date']}  commit {commit}  {context['cpu']} x{context['num_cpus']}  "
        f"{args.threads} threads  load {context['load_start']}",
        file=sys.stderr,
    )
    cpu = context["cpu"].replace(",", " ")
    gb_context = f"commit={commit.split()[0]},cores={os.cpu_count()},cpu={cpu},gpu=none"
    runs = []
    for r in range(args.rounds):
        for program, pattern in PROGRAMS.items():
            cmd = [
                bins[program],
                f"--benchmark_filter={pattern}",
                "--benchmark_format=json",
                f"--benchmark_repetitions={args.repetitions}",
                f"--benchmark_min_time={args.min_time}",
                "--benchmark_min_warmup_time=0.2",
                f"--benchmark_context={gb_context},load={load()}",
            ]
            print(f"# round {r + 1}: relmimic {program}", file=sys.stderr)
            runs.append(
                {
                    "round": r + 1,
                    "who": "relmimic",
                    "program": program,
                    "load": load(),
                    "output": run(cmd, env),
                }
            )
            cmd = [
                args.python,
                os.path.join(HERE, "torch_nets.py"),
                f"--program={program}",
                f"--threads={args.threads}",
                f"--repetitions={args.repetitions}",
                f"--min-time={args.min_time}",
            ]
            print(f"# round {r + 1}: PyTorch {program}", file=sys.stderr)
            runs.append(
                {
                    "round": r + 1,
                    "who": "pytorch",
                    "program": program,
                    "load": load(),
                    "output": run(cmd, env),
                }
            )
    context["load_end"] = load()
    context["torch"] = next(x["output"]["context"]["torch"] for x in runs if x["who"] == "pytorch")

    # Pool each case's repetitions over the rounds.
    ours, theirs = {}, {}
    for x in runs:
        parsed = ours_times(x["output"]) if x["who"] == "relmimic" else theirs_times(x["output"])
        pool = ours if x["who"] == "relmimic" else theirs
        for name, e in parsed.items():
            p = pool.setdefault((x["program"], name), {"ms": [], "params": e["params"]})
            p["ms"] += e["ms"]

    table, lines = [], []
    for label, program, fmt, batches in ROWS:
        cells = []
        for b in batches:
            key = (program, fmt.format(b))
            if key not in ours or key not in theirs:
                fail(
                    f"no result for {key[1]} of {program} from "
                    + ("relmimic" if key not in ours else "PyTorch")
                )
            o, t = statistics.median(ours[key]["ms"]), statistics.median(theirs[key]["ms"])
            row = {
                "network": label,
                "program": program,
                "case": key[1],
                "batch": b,
                "relmimic_ms": o,
                "pytorch_ms": t,
                "ratio": t / o,
            }
            if ours[key]["params"] is not None and ours[key]["params"] != theirs[key]["params"]:
                row["params_differ"] = [ours[key]["params"], theirs[key]["params"]]
                print(
                    f"warning: {key[1]}: relmimic has {ours[key]['params']:.0f} parameters, "
                    f"PyTorch {theirs[key]['params']}",
                    file=sys.stderr,
                )
            table.append(row)
            cells.append(row)
        batch_txt = " / ".join(str(c["batch"]) for c in cells)
        ratio_txt = " / ".join(f"{c['ratio']:.2f}×" for c in cells)
        ms_txt = " / ".join(f"{c['relmimic_ms']:.3g}" for c in cells)
        pt_txt = " / ".join(f"{c['pytorch_ms']:.3g}" for c in cells)
        lines.append(f"| {label}, batch {batch_txt} | {ratio_txt} | {ms_txt} | {pt_txt} |")

    print(
        f"\nrelmimic / PyTorch {context['torch']} CPU speed, {args.threads} threads, float32, "
        f"median of {args.rounds} x {args.repetitions} repetitions; commit {commit}, "
        f"{context['date'][:10]}, load {context['load_start']} -> {context['load_end']}\n"
    )
    print("| network | relmimic / PyTorch CPU speed | relmimic ms | PyTorch ms |")
    print("|---|---|---|---|")
    print("\n".join(lines))
    if args.out:
        with open(args.out, "w") as f:
            json.dump({"context": context, "table": table, "runs": runs}, f, indent=1)
            f.write("\n")


if __name__ == "__main__":
    main()
