"""Tests of repro.figures.claims_runs: the grokking onset and the end of training, verdicts both ways."""

from __future__ import annotations

import numpy as np
import synthetic as syn

from repro.figures import claims_runs

ISING, MODADD = syn.ISING, syn.MODADD


def onset(experiment, per_alpha):
    def build(ctx):
        (syn.modadd if experiment == MODADD else syn.ising)(ctx, per_alpha=per_alpha, alphas=(0.1, 0.3, 1.0, 3.0))
    return build


def seed_fails(failing: bool):
    grok = ("grok", "grok", "steady") if failing else "grok"
    return lambda ctx: syn.ising(ctx, ("steady", "steady", grok, grok))


def variability(grok_acc, learn_acc):
    def build(ctx):
        syn.ising(ctx)
        acc = [learn_acc, [1.0] * 3, [1.0] * 3, grok_acc]
        syn.final_metrics(ctx, ISING, test_acc=syn.per_run(syn.ISING_ALPHAS, acc))
    return build


def training_time(experiment, learn_settles, grok_settles):
    """Train losses that settle (drop to their final value) at the given epochs; other α settle at 50."""
    alphas = syn.ISING_ALPHAS if experiment == ISING else syn.MOD_ALPHAS
    settle = np.full(len(alphas), 50)
    settle[0], settle[-1] = learn_settles, grok_settles
    loss = np.where(np.arange(100) >= settle[:, None], 0.1, 1.0)[:, None, :]

    def build(ctx):
        (syn.ising if experiment == ISING else syn.modadd)(ctx, train_loss=loss)
    return build


def spread_beside_an_alpha_that_did_not_learn(ctx):
    """α 0.1 at chance with a 10-point spread over seeds (left out), the α that learned exactly 5 points apart
    as float32 stores it (0.0500000119)."""
    syn.ising(ctx, ("did-not-learn", "steady", "grok", "grok"))
    learned = [1, np.float32(0.95), 1]
    syn.final_metrics(ctx, ISING, test_acc=syn.per_run(syn.ISING_ALPHAS, [[0.45, 0.55, 0.5]] + [learned] * 3))


CASES = {  # key: (builder of a case that must agree, builder of one that must not)
    "onset-ising": (onset(ISING, ("did-not-learn", "steady", "grok", "grok")), onset(ISING, ("grok", "steady",
                                                                                                "grok", "grok"))),
    "onset-modadd": (onset(MODADD, ("steady", "steady", "grok", "grok")), onset(MODADD, ("steady",) * 4)),
    "modadd-all-100": (syn.final(MODADD), syn.final(MODADD, test_acc=[[1, 1, 1]] * 4 + [[1, 1, 0.98]])),
    "modadd-loss-spread": (syn.final(MODADD), syn.final(MODADD, train_loss=[[0.1, 0.1, 0.12]] + [[0.1] * 3] * 4)),
    "ising-acc-spread": (spread_beside_an_alpha_that_did_not_learn,
                         syn.final(ISING, train_acc=[[1, 1, 0.9]] + [[1] * 3] * 3)),
    "ising-loss-spread": (syn.final(ISING, test_loss=[[0.1, 0.1, 0.2]] * 4), syn.final(ISING)),
    "ising-seed-fails-to-grok": (seed_fails(True), seed_fails(False)),
    "ising-variability-grows-with-alpha": (variability([1.0, 0.9, 0.95], [1.0] * 3),
                                           variability([1.0] * 3, [1.0, 0.97, 0.99])),
    "ising-training-time-grows": (training_time(ISING, 80, 20), training_time(ISING, 20, 80)),
    "modadd-training-time-grows": (training_time(MODADD, 80, 20), training_time(MODADD, 20, 80)),
}

UNTESTABLE = {  # key: a case the data cannot decide, which must say so rather than agree or differ
    "onset-ising": onset(ISING, ("did-not-learn",) * 3 + ("grok",)),
    "ising-acc-spread": lambda ctx: syn.ising(ctx, ("did-not-learn",) * 4),
}

# the verdict tests, from the tables above
test_claim_verdict_both_ways, test_every_claim_has_both_cases, test_undecidable_claims_are_not_testable = (
    syn.claim_tests(claims_runs, CASES, UNTESTABLE))
