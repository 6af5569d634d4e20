"""ADD(-S) recall: the share of ground-truth instances whose pose was estimated correctly.

Estimates are matched to ground truth per image and object as in the BOP toolkit: in order of
decreasing score, each estimate takes the still-unmatched ground-truth instance with the smallest
error among those it estimates correctly (error below 10 % of the object diameter).

Which instances count and which estimates are scored is the evaluation rule (:mod:`.rules`).
"""
from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field

import numpy as np

from binpick.catalog.models_info import ModelInfo
from binpick.data.bop_results import PoseEstimate
from binpick.evaluation.pose_error import add_or_adds, is_correct
from binpick.evaluation.rules import DEFAULT_RULE, RULES, EvalRule


@dataclass
class GtTarget:
    """A ground-truth instance to be found: where, which object, its pose (metres), visibility."""

    scene_id: int
    im_id: int
    obj_id: int
    T_cam_obj: np.ndarray
    visib_fract: float = 1.0


@dataclass
class RecallReport:
    """Recall per object id, their mean, and the ADD(-S) error of every target (inf = no match)."""

    correct: dict[int, int]
    total: dict[int, int]
    errors_m: list[float] = field(default_factory=list)

    @property
    def per_object(self) -> dict[int, float]:
        return {k: self.correct.get(k, 0) / n for k, n in sorted(self.total.items()) if n}

    @property
    def mean(self) -> float:
        """Mean of the per-object recalls (0 when there are no targets)."""
        values = list(self.per_object.values())
        return float(np.mean(values)) if values else 0.0


def recall(targets: list[GtTarget], estimates: list[PoseEstimate], model_points_m: dict[int, np.ndarray],
           model_infos: dict[int, ModelInfo], rule: EvalRule = RULES[DEFAULT_RULE],
           fraction: float = 0.1) -> RecallReport:
    """ADD(-S) recall of ``estimates`` against ``targets``.

    Args:
        targets: ground-truth instances; those under ``rule.min_visib_fract`` are not counted.
        estimates: pose estimates (any number per image and object; ``rule`` says which are scored).
        model_points_m: obj_id -> (N, 3) model points, object frame, metres.
        model_infos: obj_id -> ModelInfo (diameter and symmetries decide ADD or ADD-S).
        rule: the evaluation rule (``RULES``).
        fraction: correctness threshold as a fraction of the diameter.
    """
    gts = defaultdict(list)
    for g in targets:
        if g.visib_fract >= rule.min_visib_fract:
            gts[(g.scene_id, g.im_id, g.obj_id)].append(g)
    ests = defaultdict(list)
    for e in estimates:
        ests[(e.scene_id, e.im_id, e.obj_id)].append(e)

    correct: dict[int, int] = defaultdict(int)
    total: dict[int, int] = defaultdict(int)
    errors: list[float] = []
    for key, group in gts.items():
        obj_id = key[2]
        info, pts = model_infos[obj_id], model_points_m[obj_id]
        total[obj_id] += len(group)
        scored = sorted(ests.get(key, []), key=lambda e: -e.score)
        if rule.top_n_per_target:
            scored = scored[:len(group)]
        err = np.array([[add_or_adds(e.T_cam_obj, g.T_cam_obj, pts, info.is_symmetric) for g in group]
                        for e in scored]).reshape(-1, len(group))
        matched = np.full(len(group), np.inf)
        for row in err:  # in order of decreasing score
            free = np.where(np.isinf(matched) & is_correct(row, info.diameter_m, fraction), row, np.inf)
            if np.isfinite(free.min()):
                matched[int(np.argmin(free))] = free.min()
        correct[obj_id] += int(np.isfinite(matched).sum())
        # unmatched targets report the smallest error of any estimate, for diagnosis
        closest = err.min(axis=0) if len(err) else np.full(len(group), np.inf)
        errors.extend(np.where(np.isfinite(matched), matched, closest).tolist())
    return RecallReport(dict(correct), dict(total), errors)
