"""The pick bench, an analog of the paper's Table 4: pick attempts in the simulated cell with a robot.

Every source (ground-truth poses, a pose model with the cell's segmentation, or class-agnostic masks
for the model-free first pick) picks in its own cell built from the same seed, so the bins start alike.
A cycle is: capture, estimate, verify, choose and plan a grasp (``GraspPipeline``, or
``ModelFreePipeline`` without a model), execute it with physics. A cycle with no pick (no verified pose, no
reachable grasp, planning failed) is counted apart from the attempts; after two such cycles in a row
the bin is shaken (refilled), as an operator would. Success rate = successful picks / executed picks.
"""
from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from binpick.catalog.catalog import CatalogObject
from binpick.grasp.candidates import EstimatedPose
from binpick.grasp.motion import BuiltinPlanner
from binpick.grasp.pipeline import GraspPipeline, PickDecision, cloud_in_base
from binpick.perception.stereo import stereo_depth
from binpick.sim.cell import StereoCapture
from binpick.sim.generator import CellConfig
from binpick.sim.pick_cell import Q_PLACE, PickCell

# a source's decision for one frame: (the pick or why there is none, how many poses or instances it saw)
Decide = Callable[[StereoCapture, np.ndarray], tuple[PickDecision, int]]

NO_PICK = ('no verified pose', 'no instance', 'no reachable grasp', 'planning failed')
PICK_FAILURES = ('collision', 'slipped', 'wrong pose', 'picked several parts')


@dataclass
class PoseFrame:
    """One frame's poses for the grasp planner and the acceptance thresholds they must pass."""

    poses: list[EstimatedPose]
    tau_appearance: float | None
    tau_geometry_m: float | None


class PoseSource:
    """A source of poses for the CAD grasp pipeline; subclasses say where the poses come from."""

    name = ''

    def __call__(self, cap: StereoCapture, depth_m: np.ndarray) -> PoseFrame:
        raise NotImplementedError

    def for_cell(self, cell: PickCell, planner) -> Decide:
        """What decides the pick of a frame in ``cell``: the CAD grasp pipeline on this source's poses."""
        pipeline = GraspPipeline(cell.sim.obj, cell.T_base_cam, cell.tote, cell.kinematics, planner)

        def decide(cap: StereoCapture, depth_m: np.ndarray) -> tuple[PickDecision, int]:
            frame = self(cap, depth_m)
            return pipeline.plan(frame.poses, frame.tau_appearance, frame.tau_geometry_m,
                                 cloud_in_base(depth_m, cap.K, cell.T_base_cam), cell.q), len(frame.poses)
        return decide

    def after_pick(self, candidate, success: bool) -> None:
        """An executed pick's outcome (the CAD pipeline keeps no memory of it)."""


class GroundTruthPoses(PoseSource):
    """The simulator's exact poses of the parts at least ``min_visible_px`` visible: the ceiling of the
    grasp pipeline itself (nothing to verify)."""

    name = 'ground truth'

    def __init__(self, min_visible_px: int = 300) -> None:
        self.min_visible_px = min_visible_px

    def __call__(self, cap: StereoCapture, depth_m: np.ndarray) -> PoseFrame:
        poses = [EstimatedPose(T, 1.0, 0.0, 0.0) for i, T in cap.T_cam_obj.items()
                 if cap.visible_px[i] >= self.min_visible_px]
        return PoseFrame(poses, None, None)


class ModelPoses(PoseSource):
    """The cell's perception: segmentation, the pose model's full inference path, and verification
    scores (``PoseScorer``). ``gate``: ``bank`` (the cell's rule: mu + sigma over every pose scored so
    far, as the recorder computes it over its bank), ``calibrated`` (the fixed thresholds of a
    Calibration) or ``none`` (every pose may be picked)."""

    GATES = ('bank', 'calibrated', 'none')

    def __init__(self, name: str, segmenter, estimator, scorer, gate: str = 'bank', calibration=None) -> None:
        if gate not in self.GATES or (gate == 'calibrated') != (calibration is not None):
            raise ValueError(f'gate must be one of {", ".join(self.GATES)} (calibrated with a calibration), '
                             f'not {gate!r}')
        self.name, self.segmenter, self.estimator, self.scorer = name, segmenter, estimator, scorer
        self.gate, self.calibration = gate, calibration
        self.scored: list[tuple[float, float]] = []      # (d_a, d_g) of every pose scored so far

    def __call__(self, cap: StereoCapture, depth_m: np.ndarray) -> PoseFrame:
        from binpick.selftrain.selection import threshold
        masks = [i.mask for i in self.segmenter.segment(cap.left_rgb)]
        results = self.estimator.estimate(cap.left_rgb, depth_m, cap.K, masks)
        kept = [(m, r) for m, r in zip(masks, results) if r.T_cam_obj is not None]
        if not kept:
            return PoseFrame([], None, None)
        scores = self.scorer.score(cap.left_rgb, depth_m, cap.K, [m for m, _ in kept], [r.T_cam_obj for _, r in kept])
        poses = [EstimatedPose(r.T_cam_obj, r.confidence, s.d_appearance, s.d_geo_m) for (_, r), s in zip(kept, scores)]
        self.scored += [(p.d_appearance, p.d_geo_m) for p in poses]
        if self.gate == 'none':
            return PoseFrame(poses, None, None)
        if self.gate == 'calibrated':
            return PoseFrame(poses, self.calibration.tau_appearance, self.calibration.tau_geometry_m)
        d = np.array(self.scored, dtype=np.float64)
        return PoseFrame(poses, threshold(d[:, 0]), threshold(d[:, 1]))


class ModelFreeMasks:
    """The first pick of a part nobody registered: class-agnostic instance masks and the cost map, no
    model. ``segment``: callable(StereoCapture, depth_m) -> list of HxW bool masks; None takes the
    simulator's visible masks of the parts at least ``min_visible_px`` visible (the ceiling). ``config``: the
    cost map's and grasps' settings (``CostMapConfig``; default: its defaults); ``quality``: a grasp-quality
    model (``GraspQuality``) that ranks the grasps by their chance of holding as well."""

    def __init__(self, name: str, segment=None, min_visible_px: int = 300, config=None, quality=None) -> None:
        self.name, self.segment, self.min_visible_px, self.config = name, segment, min_visible_px, config
        self.quality = quality
        self.pipeline = None          # the cell's ModelFreePipeline, from for_cell
        self.last_masks: list[np.ndarray] = []     # the masks of the frame last decided (what instances index)
        self.first_frame: dict | None = None   # the first decided frame: what save_figure draws

    def masks(self, cap: StereoCapture, depth_m: np.ndarray) -> list[np.ndarray]:
        if self.segment is not None:
            return self.segment(cap, depth_m)
        return [cap.instance_image == i for i, px in cap.visible_px.items() if px >= self.min_visible_px]

    def for_cell(self, cell: PickCell, planner) -> Decide:
        """What decides the pick of a frame in ``cell``: the cost map and model-free grasps on the masks."""
        from binpick.modelfree.first_pick import CostMapConfig, ModelFreePipeline
        self.pipeline = pipeline = ModelFreePipeline(cell.T_base_cam, cell.tote, cell.kinematics, planner,
                                                     config=self.config or CostMapConfig(), quality=self.quality)

        def decide(cap: StereoCapture, depth_m: np.ndarray) -> tuple[PickDecision, int]:
            self.last_masks = masks = self.masks(cap, depth_m)
            decision = pipeline.plan(depth_m, cap.K, masks, cell.q)
            if self.first_frame is None:
                self.first_frame = {'rgb': cap.left_rgb, 'masks': masks, 'cost': pipeline.last_cost_map,
                                    'decision': decision, 'K': cap.K, 'T_base_cam': cell.T_base_cam}
            return decision, len(masks)
        return decide

    def save_figure(self, path: Path) -> Path | None:
        """The first decided frame's masks, cost map and chosen grasp as a PNG at ``path`` (None before any)."""
        if self.first_frame is None:
            return None
        from binpick.modelfree.cost_map_figure import save_cost_map_figure
        return save_cost_map_figure(path, **self.first_frame, title=f'{self.name}: first frame')

    def after_pick(self, candidate, success: bool) -> None:
        """An executed pick's outcome, for the pipeline's memory of failed grasps."""
        self.pipeline.report(candidate, success)


@dataclass
class PickCycle:
    """One cycle of one pose source."""

    source: str
    cycle: int
    executed: bool
    success: bool
    reason: str               # '' on success; else one of NO_PICK or PICK_FAILURES
    instance: int | None
    grasp_index: int | None
    poses: int                # poses (or, without a model, instances) the pick was chosen from
    verified: int
    candidates: int
    planning_ms: float        # from the poses to a planned pick
    tote_contacts: int        # simulation steps with the arm or hand touching the tote
    wall_s: float
    seed: int = 0             # the cell's seed


def run_source(obj: CatalogObject, cell_config: CellConfig, source, attempts: int, seed: int = 0,
               fill: str = 'full', max_cycles: int | None = None, progress=None) -> list[PickCycle]:
    """Cycles of one pose source until ``attempts`` picks were executed (or ``max_cycles``, default
    3 × attempts, ran). ``progress``: optional callable(PickCycle) after each cycle."""
    cycles: list[PickCycle] = []
    executed, idle = 0, 0
    with PickCell(obj, cell_config, fill=fill, seed=seed) as cell:
        decide = source.for_cell(cell, BuiltinPlanner(cell.kinematics, cell.kinematics.arm_is_free, Q_PLACE))
        while executed < attempts and len(cycles) < (max_cycles or 3 * attempts):
            t0 = time.perf_counter()
            if idle >= 2:
                cell.sim.refill()
                idle = 0
            cap = cell.capture()
            depth = stereo_depth(cap.left_rgb, cap.right_rgb, cap.K[0, 0], cap.baseline_m,
                                 cell_config.depth_min_m, cell_config.depth_max_m)
            decision, n_items = decide(cap, depth)
            record = PickCycle(source.name, len(cycles), False, False, decision.reason, None, None, n_items,
                               decision.verified, decision.candidates, 1000 * decision.planning_s, 0, 0.0, seed)
            if decision.plan is not None:
                outcome = cell.execute(decision.plan, decision.candidate.opening_m)
                source.after_pick(decision.candidate, outcome.success)
                executed += 1
                record.executed, record.success, record.instance = True, outcome.success, outcome.instance
                record.grasp_index, record.tote_contacts = decision.candidate.grasp_index, outcome.tote_contacts
                record.reason = outcome.reason
                idle = 0
            else:
                idle += 1
            record.wall_s = time.perf_counter() - t0
            cycles.append(record)
            if progress is not None:
                progress(record)
    return cycles


def summarize(cycles: list[PickCycle]) -> dict:
    """Figures of one source's cycles: success rate over executed picks, failures, timing."""
    executed = [c for c in cycles if c.executed]
    successes = sum(c.success for c in executed)
    planned = [c.planning_ms for c in cycles if c.executed]
    return {
        'cycles': len(cycles), 'attempts': len(executed), 'successes': successes,
        'success_rate': 100.0 * successes / len(executed) if executed else float('nan'),
        'collisions': sum(c.tote_contacts > 0 for c in executed),
        'failures': dict(Counter(c.reason for c in cycles if c.reason)),
        'plan_time_ms_median': float(np.median(planned)) if planned else float('nan'),
        'cycle_s_median': float(np.median([c.wall_s for c in cycles])) if cycles else float('nan'),
    }


def cycles_to_dicts(cycles: list[PickCycle]) -> list[dict]:
    return [asdict(c) for c in cycles]
