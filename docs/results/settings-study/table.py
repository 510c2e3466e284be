#!/usr/bin/env python3
"""Prints the settings study's table (README.md) from the progress.csv and config.json of every
cell under this folder, or under the run folders given as arguments (<grid>/<cell>/progress.csv):

    python3 docs/results/settings-study/table.py
    python3 docs/results/settings-study/table.py runs/study

Per cell: the env steps so far ("running" below the config's ppo.total_steps), the final, the
mean of the last 5 and the best deterministic evaluation return, the final stochastic one, D's
accuracy on expert / agent windows and the training episodes' length at the end, and their
forward velocity (train_velocity) averaged over the last 10 iterations."""
import csv
import glob
import json
import os
import sys


def cells(roots):
    for root in roots:
        for f in sorted(glob.glob(os.path.join(root, '*', '*', 'progress.csv'))):
            yield os.path.dirname(f)


def row(cell):
    grid, name = cell.rstrip('/').split('/')[-2:]
    r = list(csv.DictReader(open(os.path.join(cell, 'progress.csv'))))
    ev = [x for x in r if x['eval_det_return'] != 'nan']
    if not ev:
        return None
    cfg = json.load(open(os.path.join(cell, 'config.json')))
    steps = int(r[-1]['timesteps'])
    done = steps >= int(cfg['ppo']['total_steps'])
    det = [float(x['eval_det_return']) for x in ev]
    best = max(range(len(det)), key=lambda i: det[i])
    last, tail = r[-1], r[-10:]
    velocity = sum(float(x['train_velocity']) for x in tail) / len(tail)
    seed = name.rsplit('-', 1)[-1]
    return (f"| {grid} | {seed} | {steps:,}{'' if done else ' (running)'} | {det[-1]:.0f} | "
            f"{sum(det[-5:]) / len(det[-5:]):.0f} | {det[best]:.0f} "
            f"({int(ev[best]['timesteps']) // 1000}k) | {float(ev[-1]['eval_stoch_return']):.0f} | "
            f"{float(last['disc_expert_acc']):.2f} / {float(last['disc_agent_acc']):.2f} | "
            f"{float(last['train_length']):.0f} | {velocity:.2f} |")


def main():
    roots = sys.argv[1:] or [os.path.dirname(os.path.abspath(__file__))]
    print('| grid | seed | steps | final det | mean of last 5 det | best det (at) | final stoch | '
          'D acc expert / agent | train ep. length | forward velocity, last 10 it. |')
    print('|---|---|---|---|---|---|---|---|---|---|')
    for cell in cells(roots):
        line = row(cell)
        if line:
            print(line)


if __name__ == '__main__':
    main()
