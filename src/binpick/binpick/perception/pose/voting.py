"""Translation from per-point unit vectors: RANSAC voting for the point where the rays meet
(Tian et al., ICRA 2020; PVNet-style hypotheses from pairs of rays, least-squares refinement).
"""
from __future__ import annotations

import numpy as np


def closest_point_to_lines(points: np.ndarray, dirs: np.ndarray) -> np.ndarray:
    """Least-squares point nearest to the lines p_i + s d_i (d_i unit); (N, 3) each -> (3,)."""
    P = np.eye(3)[None] - dirs[:, :, None] * dirs[:, None, :]        # projectors orthogonal to each line
    A = P.sum(axis=0)
    b = (P @ points[:, :, None]).sum(axis=0)[:, 0]
    return np.linalg.lstsq(A, b, rcond=None)[0]


def vote_center(points: np.ndarray, unit_vectors: np.ndarray, iterations: int = 128,
                inlier_cos: float = 0.99, rng: np.random.Generator | None = None) -> tuple[np.ndarray, float]:
    """Object centre from rays cast from ``points`` along ``unit_vectors`` (camera frame, metres).

    Hypotheses come from pairs of rays; each is scored by the rays that point at it (cosine above
    ``inlier_cos``, and the centre in front of the ray); the best is refined on its inliers.

    Returns:
        (centre (3,), inlier fraction in [0, 1]).
    """
    n = len(points)
    if n < 2:
        raise ValueError(f'need at least 2 points to vote, got {n}')
    rng = rng or np.random.default_rng(0)
    dirs = unit_vectors / np.linalg.norm(unit_vectors, axis=1, keepdims=True).clip(min=1e-9)
    pairs = rng.integers(0, n, size=(iterations, 2))
    pairs = pairs[pairs[:, 0] != pairs[:, 1]]
    # all hypotheses at once: the point nearest to each pair of lines (tiny ridge for parallel rays)
    P = np.eye(3)[None] - dirs[:, :, None] * dirs[:, None, :]                       # (N, 3, 3)
    Pp = (P @ points[:, :, None])[..., 0]                                           # (N, 3)
    A = P[pairs[:, 0]] + P[pairs[:, 1]] + 1e-9 * np.eye(3)
    centres = np.linalg.solve(A, (Pp[pairs[:, 0]] + Pp[pairs[:, 1]])[..., None])[..., 0]   # (H, 3)
    # a ray points at a centre when cos(ray, centre - point) > inlier_cos: with dot = (c - p).d and
    # dist2 = |c - p|^2, dot > 0 and dot^2 > inlier_cos^2 dist2, each as (H, 3) x (3, N) products
    dot = centres @ dirs.T - np.einsum('nk,nk->n', points, dirs)[None]               # (H, N)
    dist2 = (centres ** 2).sum(1)[:, None] - 2 * centres @ points.T + (points ** 2).sum(1)[None]
    inlier = (dot > 0) & (dot * dot > inlier_cos * inlier_cos * dist2)
    counts = inlier.sum(axis=1)
    best_count = int(counts.max()) if len(counts) else 0
    best = inlier[int(np.argmax(counts))] if len(counts) else None
    if best_count < 2:
        return closest_point_to_lines(points, dirs), 0.0
    return closest_point_to_lines(points[best], dirs[best]), best_count / n
