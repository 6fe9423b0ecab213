"""Finding drawn series by gid in the figure tests: every figure names its series ("prune α=10", ...)."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np

from repro.figures.pipeline import REGISTRY  # importing the pipeline registers every figure


def drawn(ctx, names):
    """A module fixture's body: {name: figure} of the registered figures `names` drawn from ctx, closed after."""
    with plt.rc_context({"figure.max_open_warning": 0}):
        figures = {name: REGISTRY[name].draw(ctx) for name in names}
    yield figures
    for fig in figures.values():
        plt.close(fig)


def artists(fig, kind=object) -> dict[str, list]:
    """Artists of `kind` with a gid, by gid, over every axis of `fig`, insets included."""
    found: dict[str, list] = {}
    for ax in fig.get_axes():
        for artist in ax.get_children() + [c for inset in ax.child_axes for c in inset.get_children()]:
            if artist.get_gid() and isinstance(artist, kind):
                found.setdefault(artist.get_gid(), []).append(artist)
    return found


def gids(fig, kind=object) -> list[str]:
    """The gid of every artist of `kind` (default: any) of `fig`, once per artist."""
    return [gid for gid, found in artists(fig, kind).items() for _ in found]


def one(fig, gid: str, kind=object):
    """The one artist of `kind` with this gid (asserts there is exactly one)."""
    matches = artists(fig, kind).get(gid, [])
    assert len(matches) == 1, f"{len(matches)} artists with gid {gid!r}"
    return matches[0]


def offsets(collection) -> np.ndarray:
    """The (x, y) points of a scatter as floats, masked points NaN."""
    return np.ma.filled(np.ma.asarray(collection.get_offsets(), dtype=float), np.nan)
