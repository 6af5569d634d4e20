"""Procedural textures for domain randomisation (HxWx3 uint8 RGB): noise, checks, stripes, speckle."""
from __future__ import annotations

import cv2
import numpy as np


def procedural_texture(rng: np.random.Generator, size: int = 128) -> np.ndarray:
    """One random texture: a pattern between two random colours."""
    a, b = rng.uniform(0, 255, 3), rng.uniform(0, 255, 3)
    kind = rng.integers(4)
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32)
    if kind == 0:    # smooth noise (cardboard, paint)
        t = cv2.resize(rng.random((8, 8)).astype(np.float32), (size, size), interpolation=cv2.INTER_CUBIC)
    elif kind == 1:  # checks
        n = rng.integers(2, 9)
        t = ((xx * n // size + yy * n // size) % 2).astype(np.float32)
    elif kind == 2:  # stripes at a random angle
        ang, n = rng.uniform(0, np.pi), rng.integers(3, 12)
        t = 0.5 + 0.5 * np.sin((np.cos(ang) * xx + np.sin(ang) * yy) * 2 * np.pi * n / size)
    else:            # speckle (dust, scratches)
        t = cv2.GaussianBlur(rng.random((size, size)).astype(np.float32), (0, 0), rng.uniform(0.5, 2.0))
        t = (t - t.min()) / max(float(np.ptp(t)), 1e-6)
    t = np.clip(t, 0, 1)[..., None]
    return (a * (1 - t) + b * t).astype(np.uint8)


def speckle_texture(seed: int, size: int = 256, base_rgb=(70, 70, 78), contrast: float = 40.0) -> np.ndarray:
    """A fixed fine speckle (a used tote's floor): gives stereo matching something to hold on to."""
    rng = np.random.default_rng(seed)
    noise = cv2.GaussianBlur(rng.normal(0, 1, (size, size)).astype(np.float32), (0, 0), 1.0)
    noise /= max(float(noise.std()), 1e-6)
    return np.clip(np.asarray(base_rgb, np.float32) + contrast * noise[..., None], 0, 255).astype(np.uint8)
