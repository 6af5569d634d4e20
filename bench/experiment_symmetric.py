"""The self-training experiment on a symmetric part at a medium size that fits a few hours on 2 cores
(about 40 min here): smaller datasets and shorter training than `binpick experiment`'s defaults.

    .venv/bin/python bench/experiment_symmetric.py --object hex_nut --out results/experiment_hex_nut_medium
"""
from __future__ import annotations

import argparse
import time

from binpick.commands.args import set_threads
from binpick.perception.pose.train import PoseTrainConfig
from binpick.selftrain.experiment import ExperimentConfig, run_experiment
from binpick.selftrain.loop import SelfTrainConfig
from binpick.selftrain.report import gap_closed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--object', default='hex_nut')
    parser.add_argument('--out', required=True)
    parser.add_argument('--threads', type=int, default=2)
    args = parser.parse_args()
    set_threads(args.threads)
    config = ExperimentConfig(args.object, syn_scenes=20, syn_test_scenes=2, real_scenes=8, real_test_scenes=4,
                              seg_epochs=3, teacher=PoseTrainConfig(epochs=4),
                              selftrain=SelfTrainConfig(iterations=3, student_epochs=1), ablation_iterations=1)
    t0 = time.perf_counter()
    results = run_experiment(args.out, config)
    both = results['selftrain']['both']
    recall = both[-1]['evaluation']['recall']
    print(f'{args.object}: LB {100 * results["recall_lb"]:.1f} %, UB {100 * results["recall_ub"]:.1f} %, '
          f'self-training (both, {len(both)} iterations) {100 * recall:.1f} %, gap closed '
          f'{100 * gap_closed(recall, results["recall_lb"], results["recall_ub"]):.0f} %; iteration-1 precision of '
          f'accepted labels {100 * both[0]["evaluation"]["precision_accepted"]:.1f} %; '
          f'{time.perf_counter() - t0:.0f} s')


if __name__ == '__main__':
    main()
