"""binpick demo: the whole online loop on the simulated cell, with a before/after ADD(-S) table."""
from __future__ import annotations

import argparse
import signal
import time
from collections import Counter
from datetime import datetime
from pathlib import Path

from binpick.commands.args import positive
from binpick.data import atomic
from binpick.errors import BinpickError, WaitTimeout

NAMESPACE = '/binpick_demo'
REFILL_EVERY = 3    # captures of one simulated bin while frames are banked: more arrangements

DEMO_PARAMS = """# written by binpick demo
/**:
  ros__parameters:
    perceptual: effnet-lite0
    student_epochs: {student_epochs}
    holdout_every: 5
/**/sim_cell:
  ros__parameters:
    period_s: {period_s}
    fill: full
    refill_every: {refill_every}
    seed: {seed}
"""


def wait_on_graph(predicate, timeout_s: float, procs, what: str, bar=None, value=None) -> None:
    """Wait for ``predicate``; fail if a node of the graph dies or the time is up."""
    end = time.monotonic() + timeout_s
    while not predicate():
        dead = [n for n, p in procs.items() if p.poll() is not None]
        if dead:
            raise BinpickError(f'node {", ".join(dead)} exited while {what}; see its log above')
        if time.monotonic() > end:
            raise WaitTimeout(f'timed out after {timeout_s:.0f} s while {what}')
        if bar is not None:
            bar.n = min(bar.total, value())
            bar.refresh()
        time.sleep(0.2)
    if bar is not None:
        bar.n = bar.total
        bar.close()


def _picks(cell, n: int, wait) -> list:
    """``n`` picks with the model in service, one line each. The simulated bin is not refilled meanwhile: a
    pick is planned on a frame of the bin it is executed in."""
    outcomes = []
    if not n:
        return outcomes
    print(f'== picking: {n} picks by the simulated Panda with the model in service', flush=True)
    cell.set_parameter('sim_cell', 'refill_every', 0, wait)
    for k in range(n):
        o = cell.pick(wait)
        outcomes.append(o)
        print(f'   pick {k + 1}/{n}: ' + (f'placed instance {o.instance_id}' if o.success else o.failure_reason)
              + f' (planned in {o.planning_time_s:.1f} s)', flush=True)
    cell.set_parameter('sim_cell', 'refill_every', REFILL_EVERY, wait)
    return outcomes


def _models(args: argparse.Namespace, obj) -> dict[str, Path]:
    """The segmentation and pose checkpoints the demo runs: the given ones, or the shipped ones."""
    from binpick.demo_models import SHIPPED, model_paths
    if args.seg_ckpt and args.pose_ckpt:
        return {'seg': Path(args.seg_ckpt), 'pose': Path(args.pose_ckpt)}
    models = model_paths(SHIPPED, obj.name)
    if not all(p.is_file() for p in models.values()):
        raise BinpickError(f'no demo models for {obj.name} in {SHIPPED}: pass --seg-ckpt and --pose-ckpt, or make them '
                           f'with `bash bench/pose_bounds.sh {obj.name} WORK` and `python -m binpick.demo_models WORK`')
    return models


def _start(args: argparse.Namespace, obj, run: Path) -> dict:
    """Write the demo's parameters into the run folder and start the simulated cell's graph."""
    from binpick.commands.cell import start_graph
    models = _models(args, obj)
    params = run / 'demo_params.yaml'
    params.write_text(DEMO_PARAMS.format(period_s=args.period, student_epochs=args.student_epochs, seed=args.seed,
                                         refill_every=REFILL_EVERY))
    values = {'use_sim': 'true', 'object_id': obj.name, 'segmentation_checkpoint': str(models['seg'].resolve()),
              'pose_checkpoint': str(models['pose'].resolve()), 'bank_dir': str((run / 'bank').resolve()),
              'model_dir': str((run / 'models').resolve())}
    print(f'== starting the simulated cell and its nodes (run folder {run})', flush=True)
    return start_graph(values, [str(params)], NAMESPACE)


def _bank(cell, args: argparse.Namespace, wait) -> None:
    """Wait for the first poses, then for ``args.frames`` banked frames."""
    from tqdm import tqdm
    probe = cell.probe
    wait(lambda: probe.serving() != '', 300, 'waiting for the first poses')
    print('== recording: the recorder scores every pose and banks the frames', flush=True)
    bar = tqdm(total=args.frames, desc='frames banked', unit='frame')
    wait(lambda: probe.stats is not None and probe.stats.frames >= args.frames, 60 * args.frames,
         'banking frames', bar, lambda: probe.stats.frames if probe.stats else 0)
    s = probe.stats
    print(f'   bank: {s.frames} frames, {s.candidates} candidates, {s.accepted} verified '
          f'({100 * s.acceptance_rate:.0f} %), tau_a {s.tau_appearance:.3f}, tau_g '
          f'{1000 * s.tau_geometry:.1f} mm, {s.bytes_used / 1e6:.1f} MB', flush=True)


def _self_train(cell, args: argparse.Namespace, wait):
    """One job through the service, followed through the action; waits for the swap when published.
    Returns the job's result and the model version in service after it."""
    from tqdm import tqdm
    print('== self-training: service call, then the action for progress', flush=True)
    wait(cell.retrainer_ready, 30, 'waiting for the retrainer')
    print(f'   {cell.trigger(args.iterations, wait, max_frames=args.job_frames)}', flush=True)
    bar, stage = tqdm(total=100, desc='job', unit='%'), ['']

    def feedback(job_id, now, iteration, iterations, progress):
        if now != stage[0]:
            stage[0] = now
            bar.set_description(f'job {job_id}: {now} (iteration {iteration}/{iterations})')
        if int(100 * progress) != bar.n:
            bar.n = int(100 * progress)
            bar.refresh()
    result = cell.follow_job(feedback, wait)
    bar.close()
    print(f'   {result.message}', flush=True)
    if not result.success:
        raise BinpickError(f'self-training failed: {result.message}')
    before = cell.probe.serving()
    if result.model_version <= 0:          # not published: the model in service stays
        return result, before
    after = f'pose-v{result.model_version}'
    wait(lambda: cell.probe.serving() == after, 120, f'waiting for the pose node to serve {after}')
    print(f'== the pose node swapped {before} -> {after} without stopping', flush=True)
    return result, after


def _estimate(cell, args: argparse.Namespace, wait, version: str) -> None:
    """Wait until ``args.after_frames`` frames estimated by ``version`` have arrived with their ground truth."""
    from tqdm import tqdm
    bar = tqdm(total=args.after_frames, desc=f'frames with {version}', unit='frame')

    def count() -> int:
        return sum(1 for p, _, _ in cell.probe.frames if p.model_version == version)
    wait(lambda: count() >= args.after_frames, 60 * args.after_frames, f'estimating with {version}', bar, count)


def _report(obj, run: Path, pairs, picks: dict, jobs: list, seconds: float) -> None:
    """Print the before/after table and the picks; write demo_results.json into the run folder."""
    from binpick.evaluation.online_eval import OnlineScore, table
    pts_m = obj.sample_points(1000)
    rows: dict[str, OnlineScore] = {}
    for version, estimates, parts in pairs:
        rows.setdefault(version, OnlineScore()).add(estimates, parts, obj, pts_m)
    metric = 'ADD-S' if obj.info.is_symmetric else 'ADD'
    print(f'\n{metric} < 10 % of the diameter on the simulated cell ({obj.name}), ground truth from sim_cell:\n')
    print(table(rows, metric))
    if any(picks.values()):
        print('\nPicks by the simulated Panda (grasp_planner, action binpick/pick):\n')
        print('| model | picked | failures |\n| --- | --- | --- |')
        for version, outcomes in picks.items():
            failures = Counter(o.failure_reason for o in outcomes if not o.success)
            print(f'| {version} | {sum(o.success for o in outcomes)} / {len(outcomes)} | '
                  + (', '.join(f'{k} {v}' for k, v in failures.items()) or '–') + ' |')
    results = {'object': obj.name, 'metric': metric, 'seconds': seconds,
               'jobs': [{'message': j.message, 'model_version': j.model_version, 'metrics': j.metrics} for j in jobs],
               'rows': {k: vars(v) for k, v in rows.items()},
               'picks': {k: [vars(o) for o in v] for k, v in picks.items()}}
    atomic.write_json(run / 'demo_results.json', results)
    print(f'\ndemo finished in {seconds / 60:.1f} min; results in {run / "demo_results.json"}')


# the full demo's settings, and the shortest demo (--quick): every stage once, on as few frames as they need
FULL = dict(frames=30, after_frames=100, jobs=2, job_frames=40, picks=5, student_epochs=2)
QUICK = dict(frames=10, after_frames=10, jobs=1, job_frames=10, picks=2, student_epochs=1)


def _apply_quick(args: argparse.Namespace) -> None:
    """--quick: the QUICK settings wherever the command line left the FULL default."""
    for name, value in QUICK.items():
        if getattr(args, name) == FULL[name]:
            setattr(args, name, value)


def _cmd_demo(args: argparse.Namespace) -> int:
    from binpick.catalog import Catalog
    from binpick.commands.cell import cell_environment, local_dds_for_sim, stop_all
    from binpick.nodes.cell_probe import CellClient
    from binpick.stopping import stop_on_signals

    def interrupted(signum: int) -> None:   # unwinds to the `finally` that stops the nodes
        raise BinpickError(f'demo stopped by {signal.Signals(signum).name}; the run folder keeps what was recorded')
    stop_on_signals(interrupted)   # also when started as a background job, where SIGINT arrives ignored
    t_start = time.monotonic()
    if args.quick:
        _apply_quick(args)
    local_dds_for_sim()
    cell_environment()
    obj = Catalog().get(args.object)
    run = Path(args.work) / f'run-{datetime.now():%Y%m%d-%H%M%S}'           # never reuses recorded data
    run.mkdir(parents=True)
    procs = _start(args, obj, run)
    try:
        with CellClient(NAMESPACE) as cell:
            def wait(predicate, timeout_s, what, bar=None, value=None):
                wait_on_graph(predicate, timeout_s, procs, what, bar, value)
            _bank(cell, args, wait)
            first = cell.probe.serving()
            _estimate(cell, args, wait, first)
            picks, jobs = {first: _picks(cell, args.picks, wait)}, []
            for _ in range(args.jobs):           # each job trains on the bank as it is then
                result, serving = _self_train(cell, args, wait)
                jobs.append(result)
                _estimate(cell, args, wait, serving)
            pairs = cell.probe.pose_pairs()
            if serving not in picks:
                picks[serving] = _picks(cell, args.picks, wait)
    finally:
        stop_all(procs)
    _report(obj, run, pairs, picks, jobs, time.monotonic() - t_start)
    return 0


def register(sub) -> None:
    p = sub.add_parser('demo', help='the whole loop on the simulated cell: record, self-train, swap, before/after')
    p.add_argument('--object', default='zigzag_bracket')
    p.add_argument('--work', default='binpick_demo', help='folder for the runs (each run in its own subfolder)')
    p.add_argument('--frames', type=positive, default=FULL['frames'], help='frames to bank before self-training')
    p.add_argument('--after-frames', type=positive, default=FULL['after_frames'],
                   help='frames estimated by each model in service (v0 and after each job) for the table')
    p.add_argument('--jobs', type=positive, default=FULL['jobs'], help='self-training jobs, one after the other')
    p.add_argument('--iterations', type=positive, default=1, help='teacher-student iterations of each job')
    p.add_argument('--job-frames', type=int, default=FULL['job_frames'],
                   help='each job trains on the newest this many banked frames (0: all; a job\'s time grows with '
                   'them: about 20 min for 90 frames on 2 cores beside the running cell)')
    p.add_argument('--picks', type=int, default=FULL['picks'],
                   help='picks by the simulated Panda with each model (0: none)')
    p.add_argument('--student-epochs', type=positive, default=FULL['student_epochs'])
    p.add_argument('--quick', action='store_true',
                   help='the shortest demo, every stage once: ' + ', '.join(f'{k.replace("_", "-")} {v}'
                                                                          for k, v in QUICK.items())
                   + ' (an option given another value wins)')
    p.add_argument('--period', type=float, default=1.0, help='seconds between captures of the simulated camera')
    p.add_argument('--seed', type=int, default=0)
    p.add_argument('--seg-ckpt', help='segmentation checkpoint (with --pose-ckpt) instead of models/demo/')
    p.add_argument('--pose-ckpt', help='pose teacher checkpoint')
    p.set_defaults(func=_cmd_demo)
