#!/usr/bin/env python3
"""PyTorch CPU peers of bench/bench_networks.cpp and bench/bench_discriminator.cpp.

Builds SPEC.md's networks in PyTorch at the sizes of our benchmarks (84x84 frames, k = 4,
float32) and times the same cases under the same names:

  bench_networks
    BM_Agent/{local,nonlocal}/{1,32,128}       policy form (A = 3): forward + backward of a
                                               random gradient of the mean (Table 1)
    BM_Reward/{reward,reward_baseline}/{1,32,128}
                                               logit forward + backward, with the gradient of
                                               the standardized input as RewardNet::backward
                                               (Table 3; baseline = without rows 5 and 7)
    BM_RewardPenalty/{reward,reward_baseline}/32
                                               the gradient penalty on the logit with its
                                               parameter gradient through autograd's double
                                               backward (DiscriminatorNet::gradient_penalty)
  bench_discriminator
    BM_Update/{relational,baseline}/{32,128}   one discriminator update: power iteration,
                                               expert + agent cross-entropy, penalty, clip, Adam
    BM_Reward/{relational,baseline}/256        reward() of 256 windows in passes of 128

Each case: warm-up, then --repetitions repetitions of enough iterations to last --min-time
seconds; the median repetition is reported (real time per iteration). Prints JSON.

PyTorch is an optional peer, never a build dependency: see bench/peers/README.md for how to
install it.
"""

import argparse
import json
import math
import os
import re
import statistics
import sys
import time

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch.nn.utils.parametrizations import spectral_norm

from compare import cpu_model  # bench/peers/compare.py, next to this file

FRAMES, SIZE, ACTIONS = 4, 84, 3
GAIN = math.sqrt(2.0)


def init_layer(layer, gain=GAIN):
    """Orthogonal weights (gain sqrt 2 unless told), zero biases: engine/layers.h."""
    nn.init.orthogonal_(layer.weight, gain)
    nn.init.zeros_(layer.bias)
    return layer


def conv(cin, cout, kernel, stride=1, pad=0, sn=False):
    layer = init_layer(nn.Conv2d(cin, cout, kernel, stride, pad))
    return spectral_norm(layer) if sn else layer


def linear(cin, cout, gain=GAIN, sn=False):
    layer = init_layer(nn.Linear(cin, cout), gain)
    return spectral_norm(layer) if sn else layer


def standardize(frames_u8):
    """uint8 frames -> float in [0, 1] (engine Standardize)."""
    return frames_u8.float() * (1.0 / 255.0)


class ResidualBlock(nn.Module):
    """Pre-activation: ReLU -> 1x1 (c -> c/2) -> ReLU -> 3x3 pad 1 -> ReLU -> 1x1 (-> c); x + F."""

    def __init__(self, c):
        super().__init__()
        m = c // 2
        self.c0 = conv(c, m, 1)
        self.c1 = conv(m, m, 3, 1, 1)
        self.c2 = conv(m, c, 1)

    def forward(self, x):
        return x + self.c2(F.relu(self.c1(F.relu(self.c0(F.relu(x))))))


class RelationalBlock(nn.Module):
    """Non-local block, embedded Gaussian without 1/sqrt(C') scaling (kernels/attention.h):
    theta, phi, g = 1x1 convs C -> C'; y = g softmax_rows(theta^T phi)^T; z = 1x1(y) + x."""

    def __init__(self, c, embed, sn=False):
        super().__init__()
        self.theta = conv(c, embed, 1, sn=sn)
        self.phi = conv(c, embed, 1, sn=sn)
        self.g = conv(c, embed, 1, sn=sn)
        self.out = conv(embed, c, 1, sn=sn)

    def forward(self, x):
        b, _, h, w = x.shape
        th = self.theta(x).flatten(2)  # [B, C', N]
        ph = self.phi(x).flatten(2)
        g = self.g(x).flatten(2)
        a = torch.softmax(torch.bmm(th.transpose(1, 2), ph), dim=-1)  # [B, N, N]
        y = torch.bmm(g, a.transpose(1, 2))  # [B, C', N]
        return self.out(y.view(b, -1, h, w)) + x


class AgentNet(nn.Module):
    """Table 1 in policy form: the Local agent, or the Non-local agent with row 5 (C' = 2)."""

    def __init__(self, relational, embed=2):
        super().__init__()
        self.c1 = conv(FRAMES, 32, 5, 2, 1)  # 41x41x32
        # Row 3: MaxPool3D over (channel, H, W), window (2, 3, 3), stride 2, pad (0, 1, 1).
        self.p1 = nn.MaxPool3d((2, 3, 3), (2, 2, 2), (0, 1, 1))  # 21x21x16
        self.rb1 = ResidualBlock(16)
        self.rel = RelationalBlock(16, embed) if relational else None
        self.rb2 = ResidualBlock(16)
        self.p2 = nn.MaxPool3d((2, 1, 1), (2, 1, 1))  # row 7: 21x21x8
        self.rb3 = ResidualBlock(8)
        self.rb4 = ResidualBlock(8)
        self.fc = linear(8 * 21 * 21, 128)
        self.ln = nn.LayerNorm(128, eps=1e-5)
        self.mean = linear(128, ACTIONS, gain=0.01)
        self.log_std = nn.Parameter(torch.full((ACTIONS,), math.log(0.6)))

    def forward(self, obs_u8):
        h = F.relu(self.c1(standardize(obs_u8)))
        h = self.p1(h.unsqueeze(1)).squeeze(1)  # pool over channels as a depth axis
        h = self.rb1(h)
        if self.rel is not None:
            h = self.rel(h)
        h = self.p2(F.relu(self.rb2(h)).unsqueeze(1)).squeeze(1)
        h = F.relu(self.rb4(self.rb3(h)))
        return self.mean(F.relu(self.ln(self.fc(h.flatten(1)))))


class RewardNet(nn.Module):
    """Table 3: spectral norm on every conv/FC (relational 1x1 convs too), LeakyReLU(0.1) after
    every conv; the baseline (GAIfO) drops the relational rows 5 and 7."""

    def __init__(self, relational, slope=0.1):
        super().__init__()
        self.slope = slope
        self.c1 = conv(FRAMES, 32, 4, 2, 1, sn=True)  # 42x42
        self.c2 = conv(32, 64, 4, 2, 1, sn=True)  # 21x21
        self.c3 = conv(64, 64, 3, 1, 1, sn=True)  # 21x21
        self.r1 = RelationalBlock(64, 8, sn=True) if relational else None
        self.c4 = conv(64, 128, 4, 2, 1, sn=True)  # 10x10
        self.r2 = RelationalBlock(128, 16, sn=True) if relational else None
        self.c5 = conv(128, 128, 4, 2, 1, sn=True)  # 5x5
        self.fc = linear(128 * 5 * 5, 1, sn=True)

    def act(self, x):
        return F.leaky_relu(x, self.slope)

    def forward_float(self, x):
        h = self.act(self.c3(self.act(self.c2(self.act(self.c1(x))))))
        if self.r1 is not None:
            h = self.r1(h)
        h = self.act(self.c4(h))
        if self.r2 is not None:
            h = self.r2(h)
        return self.fc(self.act(self.c5(h)).flatten(1))

    def forward(self, frames_u8):
        return self.forward_float(standardize(frames_u8))


def penalty(net, x_hat, lam):
    """lambda * mean_b (||grad_x logit(x_hat_b)|| - 1)^2 with the graph kept for its gradient."""
    x_hat = x_hat.detach().requires_grad_(True)
    logit = net.forward_float(x_hat)
    (g,) = torch.autograd.grad(logit.sum(), x_hat, create_graph=True)
    return lam * ((g.flatten(1).norm(dim=1) - 1.0) ** 2).mean()


def random_frames(batch, gen):
    return torch.randint(0, 256, (batch, FRAMES, SIZE, SIZE), dtype=torch.uint8, generator=gen)


# ---------------------------------------------------------------- cases


def agent_case(arch, batch):
    net = AgentNet(arch == "nonlocal")
    gen = torch.Generator().manual_seed(1)
    obs = random_frames(batch, gen)
    dmean = torch.randn(batch, ACTIONS, generator=gen)

    def step():
        net(obs).backward(dmean)  # the input needs no gradient (conv1 has need_dx = false)

    return step, net


def reward_case(relational, batch):
    net = RewardNet(relational)
    gen = torch.Generator().manual_seed(2)
    frames = random_frames(batch, gen)
    dlogit = torch.randn(batch, 1, generator=gen)

    def step():
        # RewardNet::backward returns d/dx of the standardized input too.
        x = standardize(frames).requires_grad_(True)
        net.forward_float(x).backward(dlogit)

    return step, net


def penalty_case(relational, batch, lam=10.0):
    net = RewardNet(relational)
    gen = torch.Generator().manual_seed(3)
    x = torch.rand(batch, FRAMES, SIZE, SIZE, generator=gen)
    params = list(net.parameters())

    def step():
        penalty(net, x, lam).backward(inputs=params)

    return step, net


def update_case(relational, batch, lam=10.0, max_grad_norm=0.5):
    net = RewardNet(relational)
    gen = torch.Generator().manual_seed(2)
    expert, agent = random_frames(batch, gen), random_frames(batch, gen)
    params = list(net.parameters())
    adam = torch.optim.Adam(params, lr=3e-4, betas=(0.9, 0.999), eps=1e-8)
    ones, zeros = torch.ones(batch, 1), torch.zeros(batch, 1)

    def step():
        # As algos/discriminator.cpp: one power iteration (a training-mode forward of one expert
        # window), then every term with u frozen; BCE on each batch, the penalty on the logit of
        # eps x_agent + (1 - eps) x_expert, global-norm clip, one Adam step.
        eps = torch.rand(batch, 1, 1, 1, generator=gen)
        net.train()
        with torch.no_grad():
            net(expert[:1])
        net.eval()
        adam.zero_grad()
        F.binary_cross_entropy_with_logits(net(expert), ones).backward()
        F.binary_cross_entropy_with_logits(net(agent), zeros).backward()
        x_hat = eps * standardize(agent) + (1 - eps) * standardize(expert)
        penalty(net, x_hat, lam).backward(inputs=params)
        nn.utils.clip_grad_norm_(params, max_grad_norm)
        adam.step()

    return step, net


def score_case(relational, batch, chunk=128):
    net = RewardNet(relational).eval()
    gen = torch.Generator().manual_seed(3)
    states = random_frames(batch, gen)

    def step():
        with torch.no_grad():
            for b0 in range(0, batch, chunk):
                d = torch.sigmoid(net(states[b0 : b0 + chunk]))
                -torch.log(1 - d + 1e-8)

    return step, net


# Our benchmark families in their order: program, family, variants (name, first argument of the
# factory), batches, samples per batch element (an update takes B expert + B agent windows), and
# factory(argument, batch) -> (step, net).
# fmt: off
FAMILIES = [
    ("bench_networks", "BM_Agent", (("local", "local"), ("nonlocal", "nonlocal")),
     (1, 32, 128), 1, agent_case),
    ("bench_networks", "BM_Reward", (("reward", True), ("reward_baseline", False)),
     (1, 32, 128), 1, reward_case),
    ("bench_networks", "BM_RewardPenalty", (("reward", True), ("reward_baseline", False)),
     (32,), 1, penalty_case),
    ("bench_discriminator", "BM_Update", (("relational", True), ("baseline", False)),
     (32, 128), 2, update_case),
    ("bench_discriminator", "BM_Reward", (("relational", True), ("baseline", False)),
     (256,), 1, score_case),
]
# fmt: on


def cases():
    """(program, name, batch, samples per iteration, factory) in our benchmarks' order."""
    return [
        (program, f"{family}/{name}/{b}", b, per * b, lambda f=factory, a=arg, b=b: f(a, b))
        for program, family, variants, batches, per, factory in FAMILIES
        for name, arg in variants
        for b in batches
    ]


def measure(step, repetitions, min_time, warmup):
    """Seconds per iteration of each repetition, after warm-up (at least one iteration)."""
    t0, n = time.perf_counter(), 0
    while n < 1 or time.perf_counter() - t0 < warmup:
        step()
        n += 1
    per = (time.perf_counter() - t0) / n
    iters = max(1, math.ceil(min_time / max(per, 1e-9)))
    reps = []
    for _ in range(repetitions):
        t = time.perf_counter()
        for _ in range(iters):
            step()
        reps.append((time.perf_counter() - t) / iters)
    return reps, iters


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--threads", type=int, default=2, help="torch.set_num_threads (default 2)")
    ap.add_argument("--repetitions", type=int, default=3, help="timed repetitions (default 3)")
    ap.add_argument(
        "--min-time", type=float, default=0.5, help="seconds per repetition (default 0.5)"
    )
    ap.add_argument(
        "--warmup", type=float, default=0.2, help="seconds of warm-up per case (default 0.2)"
    )
    ap.add_argument("--filter", default="", help="regex on the case names (default all)")
    ap.add_argument(
        "--program",
        choices=("bench_networks", "bench_discriminator"),
        help="only this program's cases",
    )
    ap.add_argument(
        "--list", action="store_true", help="list the cases and their parameter counts, run nothing"
    )
    args = ap.parse_args()
    if args.threads < 1 or args.repetitions < 1 or args.min_time < 0 or args.warmup < 0:
        sys.exit(
            "torch_nets.py: --threads and --repetitions must be >= 1, --min-time and --warmup >= 0"
        )
    try:
        pattern = re.compile(args.filter)
    except re.error as e:
        sys.exit(f"torch_nets.py: bad --filter '{args.filter}': {e}")

    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    selected = [c for c in cases() if pattern.search(c[1]) and (args.program in (None, c[0]))]
    if not selected:
        sys.exit(f"torch_nets.py: no case matches --filter '{args.filter}'")
    results = []
    for program, name, batch, samples, factory in selected:
        step, net = factory()
        params = sum(p.numel() for p in net.parameters())
        if args.list:
            print(f"{program} {name} params={params}")
            continue
        reps, iters = measure(step, args.repetitions, args.min_time, args.warmup)
        med = statistics.median(reps)
        results.append(
            {
                "program": program,
                "name": name,
                "batch": batch,
                "params": params,
                "iterations": iters,
                "repetitions_ms": [r * 1e3 for r in reps],
                "median_ms": med * 1e3,
                "samples_per_s": samples / med,
            }
        )
        del step, net
    if args.list:
        return
    context = {
        "date": time.strftime("%Y-%m-%dT%H:%M:%S+00:00", time.gmtime()),
        "torch": torch.__version__,
        "threads": torch.get_num_threads(),
        "interop_threads": torch.get_num_interop_threads(),
        "mkldnn": torch.backends.mkldnn.is_available(),
        "cpu_capability": torch.backends.cpu.get_cpu_capability(),
        "cpu": cpu_model(),
        "num_cpus": os.cpu_count(),
        "load_avg": list(os.getloadavg()),
        "omp_wait_policy": os.environ.get("OMP_WAIT_POLICY", ""),
        "repetitions": args.repetitions,
        "min_time_s": args.min_time,
        "warmup_s": args.warmup,
    }
    json.dump({"context": context, "benchmarks": results}, sys.stdout, indent=1)
    print()


if __name__ == "__main__":
    main()
