"""Tests of grokcore.reference_store: one Zarr zip file per experiment, written and read back unchanged."""

import numpy as np
import pytest
import xarray as xr

import grokcore
from grokcore.reference_store import REFERENCE_ENV, open_reference, read_recorded, reference_path, write_reference


def reduced_like() -> xr.Dataset:
    """A small Dataset with what a reference holds: floats, regimes (strings), a nested config attribute."""
    return xr.Dataset(
        {"final_test_acc": (("alpha", "seed"), np.array([[0.5, 0.25], [1.0, np.nan]], dtype="float32")),
         "regime": (("alpha", "seed"), np.array([["steady", "grok"], ["did-not-learn", "grok"]]))},
        coords={"alpha": [0.1, 10.0], "seed": [0, 1], "layer": ["conv1", "fc1"]},
        attrs={"experiment": "modadd-main", "config": {"train": {"epochs": 2, "lr": 5e-3}, "seeds": [0, 1]}})


def test_write_then_open_gives_the_same_dataset(tmp_path):
    path = write_reference(reduced_like(), reference_path("modadd-main", "tiny", tmp_path))
    assert path == tmp_path / "tiny" / "modadd-main.zarr.zip" and path.is_file()
    back = open_reference("modadd-main", "tiny", reference_dir=tmp_path)
    xr.testing.assert_identical(back, reduced_like())
    assert back.attrs["config"]["train"]["epochs"] == 2


def test_rewriting_replaces_the_file(tmp_path):
    path = reference_path("modadd-main", "tiny", tmp_path)
    write_reference(reduced_like().isel(alpha=[0]), path)
    write_reference(reduced_like(), path)
    assert open_reference("modadd-main", "tiny", tmp_path).sizes["alpha"] == 2
    assert [p.name for p in path.parent.iterdir()] == [path.name]  # no temporary folder left behind


def test_environment_variable_chooses_the_folder(tmp_path, monkeypatch):
    write_reference(reduced_like(), tmp_path / "full" / "modadd-main.zarr.zip")
    monkeypatch.setenv(REFERENCE_ENV, str(tmp_path))
    assert grokcore.open_reference("modadd-main").sizes["seed"] == 2
    assert "open_reference" in grokcore.__all__


def test_a_missing_reference_names_its_path(tmp_path):
    with pytest.raises(FileNotFoundError) as err:
        open_reference("ising-main", "full", reference_dir=tmp_path)
    message = str(err.value)
    assert str(tmp_path / "full" / "ising-main.zarr.zip") in message and "\n" not in message


def test_recorded_values_travel_in_the_same_file_and_leave_the_dataset_alone(tmp_path):
    recorded = {("regimes", "modadd-main"): reduced_like()[["regime"]], ("llc", "modadd-main"): np.arange(4.0)}
    path = write_reference(reduced_like(), reference_path("modadd-main", "tiny", tmp_path), recorded)
    back = read_recorded(path)
    assert set(back) == set(recorded)
    xr.testing.assert_identical(back[("regimes", "modadd-main")], recorded[("regimes", "modadd-main")])
    xr.testing.assert_identical(open_reference("modadd-main", "tiny", tmp_path), reduced_like())
    plain = write_reference(reduced_like(), reference_path("ising-main", "tiny", tmp_path))
    assert read_recorded(plain) == {}
