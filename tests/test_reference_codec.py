"""Tests of grokcore.reference_codec: the figure pass's values written to a Zarr group on disk and read back."""

from __future__ import annotations

import numpy as np
import pytest
import xarray as xr
import zarr

from grokcore.reference_codec import key_name, read_values, write_values

RUNS = xr.Dataset(
    {"t_test": (("alpha", "seed"), np.array([[10.0, np.nan], [np.inf, 3.5]])),
     "regime": (("alpha", "seed"), np.array([["grok", "steady"], ["did-not-learn", "undetermined"]])),
     "count": (("alpha",), np.array([1, 2], dtype=np.int32), {"units": "runs"})},
    coords={"alpha": [0.1, 10.0], "seed": [0, 1], "fraction": ("alpha", [0.25, 0.5]), "checkpoint": 100},
    attrs={"eval_every": 10, "note": "Def. 1-2", "nested": {"a": (1, 2.5)}})

VALUES = {
    "dataset": RUNS,
    "dataarray": RUNS["t_test"].rename("c"),
    "unnamed dataarray": xr.DataArray(np.arange(3.0), dims="checkpoint"),
    "float64 array": np.array([[0.1, -2.0], [np.nan, 1e-300]]),
    "float32 array": np.array([1.5, np.inf], dtype=np.float32),
    "bool array": np.array([True, False]),
    "empty array": np.zeros((0, 3)),
    "0-d array": np.array(2.0),
    "string array": np.array(["conv1", "fc1"]),
    "numpy scalar": np.float32(0.25),
    "numpy int": np.int64(7),
    "python scalars": (None, True, 3, 0.1 + 0.2, float("nan"), float("-inf"), "α = 10"),
    "list": [0.43, 0.53],
    "nested dict": {0: {"fc1": (np.ones((2, 3)), np.zeros(2))}, 1: {}},
    "tuple keys": {("two_sided", "all"): [0.1, 0.2], ("real", "alive"): []},
}


@pytest.mark.parametrize("kind", list(VALUES))
def test_a_value_comes_back_identical(kind, tmp_path):
    value = VALUES[kind]
    key = ("figure_value", "modadd-main", 10.0, None, (10.0, 0.1))
    write_values(zarr.open_group(tmp_path / "store", mode="w"), {key: value})
    (back_key, back), = read_values(zarr.open_group(tmp_path / "store", mode="r")).items()
    assert back_key == key and type(back_key[-1]) is tuple
    assert_same(back, value)


def assert_same(back, value):
    assert type(back) is type(value)
    if isinstance(value, xr.Dataset | xr.DataArray):
        xr.testing.assert_identical(back, value)
        for name in value.coords:
            assert back[name].dtype == value[name].dtype
    elif isinstance(value, np.ndarray | np.generic):
        assert back.dtype == value.dtype and back.shape == value.shape
        np.testing.assert_array_equal(back, value)
    elif isinstance(value, dict):
        assert list(back) == list(value)
        for k in value:
            assert_same(back[k], value[k])
    elif isinstance(value, tuple | list):
        assert len(back) == len(value)
        for b, v in zip(back, value, strict=True):
            assert_same(b, v)
    elif isinstance(value, float) and np.isnan(value):
        assert np.isnan(back)
    else:
        assert back == value


def test_keys_get_readable_names_distinct_even_where_they_clash(tmp_path):
    keys = [("ipr_dynamics", "modadd-dynamics", (10.0, 0.1), "output"), ("llc", "modadd-main"),
            ("magnitude_pruning", "ising-main", "layer", "fc1/weight"), ("magnitude_pruning", "ising-main", "layer",
                                                                         "fc1-weight")]
    assert key_name(keys[0]) == "ipr_dynamics_modadd-dynamics_10.0_0.1_output"
    group = zarr.open_group(tmp_path / "store", mode="w")
    write_values(group, {key: 1.0 for key in keys})
    names = sorted(name for name, _ in group.groups())
    assert names == ["ipr_dynamics_modadd-dynamics_10.0_0.1_output", "llc_modadd-main",
                     "magnitude_pruning_ising-main_layer_fc1-weight", "magnitude_pruning_ising-main_layer_fc1-weight_"]
    assert set(read_values(group)) == set(keys)


@pytest.mark.parametrize("value", [object(), np.array(["2026-12-02"], dtype="datetime64[D]"), {1, 2}])
def test_a_value_it_cannot_write_is_refused_by_type(value, tmp_path):
    with pytest.raises(TypeError, match="cannot record"):
        write_values(zarr.open_group(tmp_path / "store", mode="w"), {("f", "e"): value})
