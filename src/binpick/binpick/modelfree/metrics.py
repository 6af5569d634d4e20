"""Object-level scores of class-agnostic instance masks: precision, recall and F1 at IoU >= 0.5, the
measure of the model-free bin-picking report (unseen object instance segmentation)."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass
class ObjectScores:
    """Counts over images and the scores made of them (0 when undefined)."""

    true_positives: int = 0
    false_positives: int = 0
    false_negatives: int = 0

    @property
    def precision(self) -> float:
        n = self.true_positives + self.false_positives
        return self.true_positives / n if n else 0.0

    @property
    def recall(self) -> float:
        n = self.true_positives + self.false_negatives
        return self.true_positives / n if n else 0.0

    @property
    def f1(self) -> float:
        p, r = self.precision, self.recall
        return 2 * p * r / (p + r) if p + r else 0.0

    def add(self, predicted: list[np.ndarray], ground_truth: list[np.ndarray], iou_min: float = 0.5) -> None:
        """Match one image's predicted masks to its ground-truth masks one to one (largest IoU first)."""
        tp = len(match(predicted, ground_truth, iou_min))
        self.true_positives += tp
        self.false_positives += len(predicted) - tp
        self.false_negatives += len(ground_truth) - tp


def iou_matrix(a: list[np.ndarray], b: list[np.ndarray]) -> np.ndarray:
    """(len(a), len(b)) intersection over union of HxW bool masks."""
    if not a or not b:
        return np.zeros((len(a), len(b)))
    A = np.stack([m.reshape(-1) for m in a]).astype(np.float32)
    B = np.stack([m.reshape(-1) for m in b]).astype(np.float32)
    inter = A @ B.T
    union = A.sum(1)[:, None] + B.sum(1)[None, :] - inter
    return np.where(union > 0, inter / np.maximum(union, 1), 0.0)


def match(predicted: list[np.ndarray], ground_truth: list[np.ndarray], iou_min: float = 0.5) -> list[tuple[int, int]]:
    """(predicted index, ground-truth index) pairs with IoU >= ``iou_min``, each mask used once, the
    largest IoU first (at IoU >= 0.5 a mask can overlap at most one other that much, so greedy is exact)."""
    iou = iou_matrix(predicted, ground_truth)
    pairs, used_p, used_g = [], set(), set()
    for flat in np.argsort(-iou, axis=None):
        p, g = np.unravel_index(flat, iou.shape)
        if iou[p, g] < iou_min:
            break
        if p not in used_p and g not in used_g:
            pairs.append((int(p), int(g)))
            used_p.add(p)
            used_g.add(g)
    return pairs
