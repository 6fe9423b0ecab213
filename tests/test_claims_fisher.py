"""Tests of repro.figures.claims_fisher: the Fisher spectra and Fisher pruning, verdicts both ways."""

from __future__ import annotations

import math

import numpy as np
import pytest
import synthetic as syn
import xarray as xr

from repro.figures import claims_fisher


@pytest.mark.parametrize("spectrum, size, position", [
    (np.r_[np.full(6, 1e-6), np.full(4, 1e-2)], 4.0, 0.5),
    (np.r_[0.0, 0.0, 1e-3, 1e-2, 1e-1, 1.0], 1.0, 2 / 6),  # zeros are not a gap
    (np.logspace(-4, 0, 5), 1.0, 0.0),
])
def test_spectrum_gap_finds_the_largest_jump_in_decades(spectrum, size, position):
    found = claims_fisher.spectrum_gap(spectrum)
    assert found == pytest.approx((size, position))


def test_spectrum_gap_is_undefined_without_two_positive_values():
    assert all(math.isnan(v) for v in claims_fisher.spectrum_gap(np.array([0.0, 0.0, 1.0])))


def test_spectrum_gap_spans_a_share_of_the_ranks_and_ignores_the_far_tail():
    # 1000 values: a rise of 3 decades spread over 5 ranks is one gap at 1% of the ranks
    spectrum = np.r_[np.full(500, 1e-3), np.logspace(-3, 0, 7)[1:-1], np.full(495, 1.0)]
    size, position = claims_fisher.spectrum_gap(spectrum)
    assert size == pytest.approx(3.0) and 0.49 <= position <= 0.5
    tail = np.r_[1e-30, 1e-20, spectrum[2:]]  # far below 1e-6 of the largest: not a gap
    assert claims_fisher.spectrum_gap(tail)[0] == pytest.approx(3.0)


ISING, MODADD, DYN = syn.ISING, syn.MODADD, "modadd-dynamics"


def spectra(gap: bool):
    spectrum = np.r_[np.full(500, 1e-4), np.ones(500)] if gap else np.logspace(-4, 0, 1000)

    def build(ctx):
        for experiment, task in ((ISING, "ising"), (DYN, "modadd")):
            syn.regimes(ctx, experiment, task, (0.1, 10.0), ("steady", "grok"))
            syn.put_per_alpha(ctx, ("fisher_spectra", experiment), xr.DataArray(
                np.stack([spectrum, spectrum]), dims=("alpha", "rank"), coords={"alpha": [10.0, 0.1]}))
    return build


def fisher_vs_magnitude(experiment, fisher_c, magnitude_c):
    def build(ctx):
        (syn.ising if experiment == ISING else syn.modadd)(ctx)
        alphas = syn.ISING_ALPHAS if experiment == ISING else syn.MOD_ALPHAS
        syn.fisher_pruning(ctx, experiment, alphas, [fisher_c] * len(alphas))
        syn.final_pruning(ctx, experiment, alphas, [magnitude_c] * len(alphas))
        syn.final_pruning(ctx, experiment, alphas, [magnitude_c] * len(alphas),
                          key=("magnitude_pruning", experiment, "global", None))
    return build


def grok_advantage(ising_ratio):
    def build(ctx):
        syn.ising(ctx)
        syn.modadd(ctx)
        syn.fisher_pruning(ctx, ISING, syn.ISING_ALPHAS, [2.0, 2.0, 2.0, 2.0 * ising_ratio])
        syn.fisher_pruning(ctx, MODADD, syn.MOD_ALPHAS, [2.0] * 5)
    return build


def global_artefact(global_c, fc1_c):
    def build(ctx):
        syn.ising(ctx)
        alphas = syn.ISING_ALPHAS
        for scheme, layer, c in (("per_layer", None, 3.0), ("global", None, global_c), ("layer", "fc1.weight", fc1_c),
                                 ("layer", "conv1.weight", 3.0)):
            syn.final_pruning(ctx, ISING, alphas, [c] * len(alphas), key=("magnitude_pruning", ISING, scheme, layer))
    return build


CASES = {  # key: (builder of a case that must agree, builder of one that must not)
    "fisher-spectrum-gaps": (spectra(gap=True), spectra(gap=False)),
    "fisher-prune-worse-ising": (fisher_vs_magnitude(ISING, 2.0, 5.0), fisher_vs_magnitude(ISING, 5.0, 2.0)),
    "fisher-prune-worse-modadd": (fisher_vs_magnitude(MODADD, 2.0, 5.0), fisher_vs_magnitude(MODADD, 5.0, 2.0)),
    "fisher-prune-no-grok-advantage": (grok_advantage(1.05), grok_advantage(2.0)),
    "ising-global-pruning-artefact": (global_artefact(5.0, 5.0), global_artefact(2.0, 5.0)),
}

# the verdict tests, from the tables above
test_claim_verdict_both_ways, test_every_claim_has_both_cases, _ = syn.claim_tests(claims_fisher, CASES)


def test_fisher_worse_leaves_out_runs_at_chance(tmp_path):
    """α that never learned (flat curves at chance: c huge or infinite) would outvote the rest; they are left
    out of the comparison, the medians and the count, and the global magnitude scheme is reported beside."""
    def build(ctx):
        syn.ising(ctx, per_alpha=("did-not-learn", "did-not-learn", "steady", "grok"))
        alphas = syn.ISING_ALPHAS
        syn.fisher_pruning(ctx, ISING, alphas, [1e4, 1e4, 2.0, 2.0])
        syn.final_pruning(ctx, ISING, alphas, [3.0, 3.0, 5.0, 5.0])
        syn.final_pruning(ctx, ISING, alphas, [4.0] * 4, key=("magnitude_pruning", ISING, "global", None))

    result = syn.verdict("fisher-prune-worse-ising", build, tmp_path)
    n = 2 * len(syn.SEEDS)
    assert result.verdict == "agrees"
    assert result.ours.startswith("Fisher c 2.00 vs magnitude c 5.0")  # 5 up to the step curve's grid
    assert result.ours.endswith(f"(medians); Fisher worse in 100% of {n} runs that learned")
    assert "naive global magnitude pruning, ranked jointly like Fisher: median c 4.00, Fisher worse in 100%" \
        in result.detail
