"""Instances from unit pixel embeddings: von Mises-Fisher mean shift on the sphere (as UCN clusters).

Foreground pixels (a subsample) are shifted from seeds to the modes of their density,
``m <- normalise(sum_i exp(kappa m.x_i) x_i)``; modes closer than ``merge_distance`` (1 - cos) merge,
every foreground pixel joins its nearest mode, and each cluster is split into its connected pieces
(parts with alike embeddings far apart in the image stay apart).
"""
from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
import torch


@dataclass(frozen=True)
class ClusterConfig:
    """Settings of the clustering (no weight depends on them). The defaults were chosen on held-out scenes
    of the training shapes (``runs/uois/shapes_real/test``; README), never on the unseen test parts."""

    kappa: float = 20.0                 # concentration of the von Mises-Fisher kernel on the sphere
    merge_distance: float = 0.15        # modes closer than this (1 - cos) are one cluster
    foreground_threshold: float = 0.7   # foreground probability a pixel needs
    min_pixels: int = 250               # smaller instances are dropped (pixels of the frame)


@dataclass
class Instance:
    """One class-agnostic instance: HxW bool mask and a confidence in [0, 1]."""

    mask: np.ndarray
    score: float


def mean_shift_modes(points: torch.Tensor, kappa: float, n_seeds: int = 64, iterations: int = 15,
                     merge_distance: float = 0.15, seed: int = 0) -> torch.Tensor:
    """(M,D) modes of (N,D) unit vectors, densest first."""
    g = torch.Generator().manual_seed(seed)
    seeds = points[torch.randperm(len(points), generator=g)[:n_seeds]].clone()
    for _ in range(iterations):
        weights = torch.exp(kappa * (seeds @ points.t() - 1.0))      # -1: no overflow, same normalised result
        seeds = torch.nn.functional.normalize(weights @ points, dim=1)
    density = torch.exp(kappa * (seeds @ points.t() - 1.0)).sum(dim=1)
    modes: list[torch.Tensor] = []
    for i in torch.argsort(density, descending=True).tolist():
        if all(1.0 - float(seeds[i] @ m) > merge_distance for m in modes):
            modes.append(seeds[i])
    return torch.stack(modes)


def cluster_instances(embedding: torch.Tensor, foreground_logit: torch.Tensor, config: ClusterConfig | None = None,
                      pixel_area: float = 1.0, max_points: int = 4000, seed: int = 0) -> list[Instance]:
    """Instances of one image from (D,H,W) unit embeddings and (H,W) foreground logits, best first;
    ``pixel_area``: frame pixels per pixel of these maps (for ``min_pixels``)."""
    c = config or ClusterConfig()
    min_pixels = max(1, int(c.min_pixels / pixel_area))
    probability = torch.sigmoid(foreground_logit)
    foreground = probability > c.foreground_threshold
    if int(foreground.sum()) < min_pixels:
        return []
    vectors = embedding[:, foreground].t().contiguous()                   # (F, D)
    g = torch.Generator().manual_seed(seed)
    sample = vectors[torch.randperm(len(vectors), generator=g)[:max_points]]
    modes = mean_shift_modes(sample, c.kappa, merge_distance=c.merge_distance, seed=seed)
    similarity = vectors @ modes.t()
    nearest = similarity.argmax(dim=1)
    closeness = similarity.max(dim=1).values
    h, w = foreground.shape
    labels = np.zeros((h, w), np.int32)
    labels[foreground.numpy()] = nearest.numpy() + 1
    closeness_map = np.zeros((h, w), np.float32)
    closeness_map[foreground.numpy()] = closeness.numpy()
    probability = probability.numpy()
    instances = []
    for k in range(1, len(modes) + 1):
        n, pieces = cv2.connectedComponents((labels == k).astype(np.uint8), connectivity=8)
        for piece in range(1, n):
            mask = pieces == piece
            if mask.sum() >= min_pixels:
                instances.append(Instance(mask, float(probability[mask].mean() * closeness_map[mask].mean())))
    return sorted(instances, key=lambda i: -i.score)
