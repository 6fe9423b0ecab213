"""Tests of repro.figures.claims_features: Ising correlations and the Fourier IPR, verdicts both ways."""

from __future__ import annotations

import numpy as np
import synthetic as syn
import xarray as xr

from grokcore.measures import fourier
from repro.figures import claims_features

ISING, MODADD = syn.ISING, syn.MODADD


def ipr(grok, learn, experiment=MODADD):
    """Every IPR variant of the mod-add archetypes at the given seed-mean values."""
    def build(ctx):
        syn.modadd(ctx, experiment)
        for alpha, value in ((10.0, grok), (0.1, learn)):
            syn.put(ctx, ("ipr_variants", experiment, alpha), {
                (b, n): [value] * len(syn.SEEDS) for b in fourier.BASES for n in fourier.NEURON_SETS})
    return build


def domain_walls(walls: int):
    """100 ordered 4×4 snapshots of which `walls` have |m| < 0.5, and 50 disordered ones."""
    def build(ctx):
        from grokcore.data.ising_io import ising_store_path
        from repro.grid import ising_params

        path = ising_store_path(ising_params(ctx.experiment(ISING)), ctx.data_dir)
        path.mkdir(parents=True)
        magnetization = np.r_[np.full(walls, 4.0), np.full(100 - walls, 16.0), np.zeros(50)]
        syn.put(ctx, ("ising_source", str(path)), xr.Dataset(
            {"magnetization": ("sample", magnetization), "phase": ("sample", np.r_[np.ones(100), np.zeros(50)]),
             "spins": (("sample", "y", "x"), np.ones((150, 4, 4)))}))
    return build


CASES = {  # key: (builder of a case that must agree, builder of one that must not)
    "ising-fc-energy-grok": (syn.correlations(), syn.correlations(grok={"fc1": (0.7, 0.1, 0.9)})),
    "ising-fc-absmag-grok": (syn.correlations(), syn.correlations(grok={"fc1": (0.99, 0.1, 0.5)})),
    "ising-fc-energy-learn": (syn.correlations(), syn.correlations(learn={"fc1": (0.9, 0.1, 0.9)})),
    "ising-fc-absmag-learn": (syn.correlations(), syn.correlations(learn={"fc1": (0.99, 0.1, 0.75)})),
    "ising-energy-majority": (syn.correlations(), syn.correlations(learn=[{}, {"conv2": (0.5, 0.1, 0.9)}, {}])),
    "ipr-grok": (ipr(0.43, 0.5), ipr(0.3, 0.5)),
    "ipr-learn": (ipr(0.4, 0.53), ipr(0.4, 0.45)),
    "ipr-order": (ipr(0.4, 0.5), ipr(0.5, 0.4)),
    "ising-domain-walls": (domain_walls(10), domain_walls(0)),
    "ising-energy-deepens": (syn.correlations(*[{"conv1": (0.3, 0.1, 0.2), "conv2": (0.6, 0.1, 0.2)}] * 2),
                             syn.correlations()),
    "ising-grok-noisier": (syn.correlations(grok=[{"fc1": (0.5, 0.1, 0.9)}, {}, {}]), syn.correlations()),
}

UNTESTABLE = {  # key: a case the data cannot decide, which must say so rather than agree or differ
    "ipr-learn": ipr(0.4, np.nan),
}

# the verdict tests, from the tables above
test_claim_verdict_both_ways, test_every_claim_has_both_cases, test_undecidable_claims_are_not_testable = (
    syn.claim_tests(claims_features, CASES, UNTESTABLE))
