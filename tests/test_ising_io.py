"""Tests of grokcore.data.ising_io: the Zarr cache and the safe import of the authors' pickle."""

from __future__ import annotations

import os
import pickle
import warnings

import numpy as np
import pytest
import xarray as xr

from grokcore.data.ising import CRITICAL_TEMPERATURE, IsingParams, generate_ising
from grokcore.data.ising_io import (
    _write_atomically,
    import_authors_pickle,
    ising_store_path,
    ising_summary,
    load_or_generate_ising,
    params_hash,
)

PARAMS = IsingParams(L=8, temperatures=(1.0, 1.5, 3.0), n_per_temperature=10, n_updates=3_000, seed=1)


def store_files(path):
    return {p: p.stat().st_mtime_ns for p in path.rglob("*") if p.is_file()}


def test_generate_then_reuse(tmp_path):
    ds = load_or_generate_ising(PARAMS, tmp_path, progress=False, threads=1)
    path = ising_store_path(PARAMS, tmp_path)
    assert path == tmp_path / f"ising-{params_hash(PARAMS)}.zarr"
    assert [p.name for p in tmp_path.iterdir()] == [path.name]
    assert ds.encoding["source"] == str(path)
    xr.testing.assert_identical(ds, generate_ising(PARAMS))
    before = store_files(path)
    again = load_or_generate_ising(PARAMS, tmp_path, progress=False)
    assert store_files(path) == before
    xr.testing.assert_identical(again, ds)
    assert again.attrs["content_hash"] == ds.attrs["content_hash"]


def test_store_opens_without_warnings(tmp_path):
    load_or_generate_ising(PARAMS, tmp_path, progress=False)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for consolidated in (None, True, False):
            xr.open_zarr(ising_store_path(PARAMS, tmp_path), consolidated=consolidated)


def test_other_params_get_another_store(tmp_path):
    other = IsingParams(**{**PARAMS.to_dict(), "seed": 2})
    assert params_hash(other) != params_hash(PARAMS)
    load_or_generate_ising(PARAMS, tmp_path, progress=False)
    load_or_generate_ising(other, tmp_path, progress=False)
    assert len(list(tmp_path.glob("ising-*.zarr"))) == 2


def test_progress_messages(tmp_path, capsys):
    load_or_generate_ising(PARAMS, tmp_path)
    assert "generating 30 snapshots" in capsys.readouterr().out
    load_or_generate_ising(PARAMS, tmp_path)
    assert "reusing" in capsys.readouterr().out


def test_failed_write_leaves_no_store(tmp_path):
    # xarray cannot encode an object variable, so the write fails after the temporary directory exists.
    bad = generate_ising(PARAMS).assign(broken=("snapshot", np.array([object()] * 30)))
    with pytest.raises(ValueError, match="serialize"):
        _write_atomically(bad, tmp_path / "ising-x.zarr")
    assert list(tmp_path.iterdir()) == []


def test_summary_counts():
    ds = generate_ising(PARAMS)
    m = np.abs(ds["magnetization"].values[:20]) / 64
    text = ising_summary(ds)
    assert "30 snapshots of 8x8" in text and "3 temperatures in [1.000, 3.000]" in text
    assert "ordered 20, disordered 10" in text
    assert f"|m| < 0.5: {(m < 0.5).sum()} (" in text


def authors_items(n=6, L=16, seed=0, dtype=np.float64):
    rng = np.random.default_rng(seed)
    temperatures = np.linspace(1.0, 3.5, n)
    return [(rng.choice([-1, 1], size=(L, L)).astype(dtype), int(t < 2.27), float(t)) for t in temperatures]


def write_pickle(path, content, protocol=pickle.DEFAULT_PROTOCOL):
    path.write_bytes(pickle.dumps(content, protocol=protocol))
    return path


@pytest.mark.parametrize("protocol", [2, 4, 5, "numpy1"])
@pytest.mark.parametrize("dtype", [np.float64, np.int8])
def test_import_round_trip(tmp_path, protocol, dtype):
    items = authors_items(dtype=dtype)
    # The authors' labels are flipped here to show that `phase` is recomputed from T, not copied.
    items = [(s, 1 - label, t) for s, label, t in items]
    content = ["Ising L=16 snapshots", items]
    source = tmp_path / "authors.pickle"
    if protocol == "numpy1":
        # A file written under numpy 1.x names its globals numpy.core.* instead of numpy._core.*.
        data = pickle.dumps(content, protocol=2)
        assert b"cnumpy._core." in data
        source.write_bytes(data.replace(b"cnumpy._core.", b"cnumpy.core."))
    else:
        write_pickle(source, content, protocol)
    ds = import_authors_pickle(source, tmp_path / "data")
    np.testing.assert_array_equal(ds["spins"].values, np.stack([s for s, _, _ in items]))
    assert ds["spins"].dtype == np.int8
    np.testing.assert_array_equal(ds["temperature"].values, [t for _, _, t in items])
    np.testing.assert_array_equal(ds["authors_label"].values, [label for _, label, _ in items])
    np.testing.assert_array_equal(ds["phase"].values, ds["temperature"].values < CRITICAL_TEMPERATURE)
    assert ds.attrs["description"] == "Ising L=16 snapshots"
    assert ds.attrs["source_file"] == str(source)
    assert ds.attrs["temperatures"] == sorted(t for _, _, t in items)
    assert ds.attrs["L"] == 16
    assert ds.sizes == {"snapshot": 6, "y": 16, "x": 16}


def test_import_reuses_store_and_accepts_flat_snapshots(tmp_path):
    items = [(s.ravel(), label, t) for s, label, t in authors_items()]
    source = write_pickle(tmp_path / "flat.pickle", ("desc", items))
    first = import_authors_pickle(source, tmp_path / "data")
    (store,) = (tmp_path / "data").iterdir()
    before = store_files(store)
    again = import_authors_pickle(source, tmp_path / "data")
    assert store_files(store) == before
    xr.testing.assert_identical(first, again)
    assert first["spins"].shape == (6, 16, 16)


class Payload:
    """A class the restricted unpickler must refuse to look up."""


class RunsShell:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return os.system, (f"touch {self.marker}",)


@pytest.mark.parametrize(
    ("payload", "refused"),
    [
        (lambda tmp: RunsShell(tmp / "ran"), "os.system|posix.system"),
        (lambda tmp: Payload(), "test_ising_io.Payload"),
        (lambda tmp: np.array([Payload()], dtype=object), "test_ising_io.Payload"),
    ],
)
def test_import_refuses_code(tmp_path, payload, refused):
    source = write_pickle(tmp_path / "evil.pickle", ["desc", [payload(tmp_path)]])
    with pytest.raises(ValueError, match=f"evil.pickle.*refusing to unpickle global ({refused})"):
        import_authors_pickle(source, tmp_path / "data")
    assert not (tmp_path / "ran").exists()
    assert not (tmp_path / "data").exists()


@pytest.mark.parametrize(
    ("content", "match"),
    [
        ({"a": 1}, "expected \\[description, list of triples\\], got dict"),
        (["desc"], "expected \\[description"),
        (["desc", []], "empty"),
        (["desc", [(np.ones((16, 16)), 1)]], "item 0 must be a .* triple"),
        (["desc", [(np.ones((8, 8)), 1, 2.0)]], "shape \\(8, 8\\), expected \\(16, 16\\)"),
        (["desc", [(np.ones((16, 16, 2)), 1, 2.0)]], "shape \\(16, 16, 2\\)"),
        (["desc", [(np.zeros((16, 16)), 1, 2.0)]], "±1 \\(0/1 is not accepted\\), found values \\[0."),
        (["desc", [(np.ones((16, 16)), 2, 2.0)]], "phase label 2"),
        (["desc", [(np.ones((16, 16)), 1, "hot")]], "non-numeric"),
        (["desc", [(np.ones((16, 16)), 1, -1.0)]], "temperature -1.0"),
    ],
)
def test_import_rejects_malformed_content(tmp_path, content, match):
    source = write_pickle(tmp_path / "bad.pickle", content)
    with pytest.raises(ValueError, match=match) as error:
        import_authors_pickle(source, tmp_path / "data")
    assert "bad.pickle" in str(error.value)


def test_import_checks_expected_lattice_size(tmp_path):
    source = write_pickle(tmp_path / "l16.pickle", ["desc", authors_items()])
    match = "l16.pickle: snapshot 0 has shape \\(16, 16\\), expected \\(8, 8\\)"
    with pytest.raises(ValueError, match=match):
        import_authors_pickle(source, tmp_path / "data", L=8)


@pytest.mark.parametrize("data", [b"not a pickle at all", b"", pickle.dumps(["desc", [1, 2]])[:-5]])
def test_import_rejects_unreadable_bytes(tmp_path, data):
    source = tmp_path / "broken.pickle"
    source.write_bytes(data)
    with pytest.raises(ValueError, match="broken.pickle is not a readable pickle"):
        import_authors_pickle(source, tmp_path / "data")


def test_import_missing_file(tmp_path):
    with pytest.raises(ValueError, match="cannot read Ising pickle .*missing.pickle"):
        import_authors_pickle(tmp_path / "missing.pickle", tmp_path / "data")
