"""Explicit, independent seeds for data split, initialisation, batch order and Fisher samples."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

# Each role draws from its own stream, so equal integers for two roles never give correlated draws.
_ROLE_TAG = {"data": 0, "init": 1, "batch": 2, "fisher": 3}


def role_rng(seed: int, role: str) -> np.random.Generator:
    """A NumPy generator of `seed` for `role` ('data', 'init', 'batch' or 'fisher'), from that role's stream."""
    return np.random.default_rng(np.random.SeedSequence([seed, _ROLE_TAG[role]]))


@dataclass(frozen=True)
class RunSeeds:
    """The four seeds of one run (spec §3.4); the authors ran (k, k, k, k) for k = 0..9."""

    data: int
    init: int
    batch: int
    fisher: int

    @classmethod
    def from_seed(cls, seed: int) -> RunSeeds:
        """All four roles set to `seed`, as the authors' `all_seeds_same` did."""
        return cls(seed, seed, seed, seed)

    def numpy(self, role: str) -> np.random.Generator:
        """A NumPy generator for `role` ('data', 'init', 'batch' or 'fisher')."""
        return role_rng(getattr(self, role), role)

    def torch(self, role: str) -> torch.Generator:
        """A CPU torch generator for `role`, seeded from the same stream as `numpy(role)`."""
        seed = int(self.numpy(role).integers(2**63 - 1))
        return torch.Generator().manual_seed(seed)
