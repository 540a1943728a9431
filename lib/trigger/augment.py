"""Spectral augmentation of log-mel training batches, against over-fitting to the voices.

The training speech comes from espeak-ng and flite; the dev voices (festival) and real users
sound different in timbre, formants and channel. Three cheap feature-space changes, each
drawn per example from a generator the caller seeds from ``(seed, epoch, batch)`` so resumed
runs see the same batches:

- **Random equaliser** (``eq_db``): a smooth random curve over the mel bins (a few cosine
  components, at most ``eq_db`` dB) added to the log-mel energies — a different microphone,
  room or voice quality.
- **Mel-axis warp** (``warp``): the mel axis stretched by a factor in ``[1 - warp, 1 + warp]``,
  an approximation of vocal-tract-length perturbation (formants and pitch harmonics move).
- **Frequency masks** (``mask_bins``): one band of up to ``mask_bins`` bins set to the
  example's mean (SpecAugment); time masks are left out, they could hide the trigger.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from lib.errors import ConfigError

_DB_TO_LN = np.log(10.0) / 10.0  # dB of power -> natural-log offset of energies


@dataclass(frozen=True)
class SpectralAugment:
    eq_db: float = 0.0
    warp: float = 0.0
    mask_bins: int = 0
    probability: float = 0.8

    def __post_init__(self) -> None:
        if not 0.0 <= self.eq_db <= 20.0:
            raise ConfigError(
                f"trigger parameter 'eq_augment_db' must be in [0, 20], got {self.eq_db}"
            )
        if not 0.0 <= self.warp < 0.5:
            raise ConfigError(
                f"trigger parameter 'warp_augment' must be in [0, 0.5), got {self.warp}"
            )
        if self.mask_bins < 0:
            raise ConfigError(
                f"trigger parameter 'mask_bins' must be 0 or more, got {self.mask_bins}"
            )
        if not 0.0 <= self.probability <= 1.0:
            raise ConfigError(
                f"trigger parameter 'spectral_augment_probability' must be in [0, 1], "
                f"got {self.probability}"
            )

    @property
    def active(self) -> bool:
        return self.probability > 0 and (self.eq_db > 0 or self.warp > 0 or self.mask_bins > 0)

    def __call__(self, x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """Augment a ``(batch, frames, bins)`` log-mel batch in place; returns it."""
        if not self.active:
            return x
        n, _, bins = x.shape
        grid = np.arange(bins, dtype=np.float64)
        for i in range(n):
            if rng.random() >= self.probability:
                continue
            if self.warp > 0:
                alpha = rng.uniform(1.0 - self.warp, 1.0 + self.warp)
                src = np.clip(grid * alpha, 0, bins - 1)
                lo = np.floor(src).astype(int)
                hi = np.minimum(lo + 1, bins - 1)
                w = (src - lo).astype(np.float32)
                x[i] = x[i][:, lo] * (1 - w) + x[i][:, hi] * w
            if self.eq_db > 0:
                k = np.arange(1, 4)[:, None]
                amps = rng.uniform(-1.0, 1.0, (3, 1)) / k
                curve = (amps * np.cos(np.pi * k * (grid + 0.5) / bins)).sum(axis=0)
                curve *= self.eq_db / max(1e-9, float(np.max(np.abs(curve))))
                curve *= rng.uniform(0.0, 1.0)
                x[i] += (curve * _DB_TO_LN).astype(np.float32)[None, :]
            if self.mask_bins > 0:
                width = int(rng.integers(0, self.mask_bins + 1))
                if width:
                    f0 = int(rng.integers(0, bins - width + 1))
                    x[i][:, f0 : f0 + width] = x[i].mean()
        return x
