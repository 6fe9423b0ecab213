"""The figure pass's recorded values as Zarr groups: an explicit codec (arrays plus a JSON description, no pickle).

A value is described by a JSON tree whose numeric arrays are stored beside it as Zarr arrays. It covers what the
figure pass caches: xarray Datasets and DataArrays, numpy arrays and scalars, and python None, bool, int, float,
str, tuples, lists and dicts (any of these as keys). Floats are written as their repr, so they come back exactly,
NaN and ±inf included; arrays keep their dtype.
"""

from __future__ import annotations

import re
from typing import Any

import numpy as np
import xarray as xr
import zarr

TEXT_KINDS = "OUS"  # numpy string and object arrays: kept in the JSON (Zarr v3 has no fixed-width strings)


def encode(value: Any, arrays: dict[str, np.ndarray]) -> Any:
    """The JSON description of `value`; its numeric arrays are added to `arrays` under the names it refers to."""
    if value is None or isinstance(value, bool | str) or type(value) is int:
        return value
    if isinstance(value, float):  # np.float64 too: it is a float
        return {"float": repr(float(value))}
    if isinstance(value, tuple | list):
        return {type(value).__name__: [encode(item, arrays) for item in value]}
    if isinstance(value, dict):
        return {"dict": [[encode(k, arrays), encode(v, arrays)] for k, v in value.items()]}
    if isinstance(value, np.ndarray | np.generic):
        return encode_array(np.asarray(value), arrays, scalar=isinstance(value, np.generic))
    if isinstance(value, xr.DataArray):
        return {"dataarray": {"name": encode(value.name, arrays), "variable": encode_variable(value.variable, arrays),
                              "coords": encode_variables(value.coords, arrays)}}
    if isinstance(value, xr.Dataset):
        return {"dataset": {"data_vars": encode_variables(value.data_vars, arrays),
                            "coords": encode_variables(value.coords, arrays), "attrs": encode(value.attrs, arrays)}}
    raise TypeError(f"cannot record a value of type {type(value).__name__}: the reference codec takes xarray, "
                    "numpy and python scalars, str, tuples, lists and dicts")


def encode_array(values: np.ndarray, arrays: dict[str, np.ndarray], scalar: bool = False) -> dict:
    """An array (or, if `scalar`, a numpy scalar): text in the JSON, numbers by reference into `arrays`."""
    kind = "scalar" if scalar else "array"
    if values.dtype.kind in TEXT_KINDS:
        return {kind: {"text": values.tolist(), "dtype": values.dtype.str, "shape": list(values.shape)}}
    if values.dtype.kind not in "biufc":
        raise TypeError(f"cannot record an array of dtype {values.dtype}")
    name = str(len(arrays))
    arrays[name] = values
    return {kind: name}


def encode_variables(variables, arrays: dict[str, np.ndarray]) -> list:
    """[[name, variable], ...] of a Dataset's or DataArray's variables, in their order."""
    return [[name, encode_variable(variables[name].variable, arrays)] for name in variables]


def encode_variable(variable: xr.Variable, arrays: dict[str, np.ndarray]) -> dict:
    return {"dims": list(variable.dims), "data": encode(np.asarray(variable.values), arrays),
            "attrs": encode(variable.attrs, arrays)}


def decode(tree: Any, arrays: dict[str, np.ndarray]) -> Any:
    """The value `encode` described as `tree`, its arrays read from `arrays`."""
    if not isinstance(tree, dict):
        return tree
    (kind, body), = tree.items()
    if kind == "float":
        return float(body)
    if kind in ("tuple", "list"):
        items = [decode(item, arrays) for item in body]
        return tuple(items) if kind == "tuple" else items
    if kind == "dict":
        return {decode(k, arrays): decode(v, arrays) for k, v in body}
    if kind in ("array", "scalar"):
        values = (np.array(body["text"], dtype=body["dtype"]).reshape(body["shape"]) if isinstance(body, dict)
                  else arrays[body])
        return values[()] if kind == "scalar" else values
    if kind == "dataarray":
        return xr.DataArray(decode_variable(body["variable"], arrays), coords=decode_variables(body["coords"], arrays),
                            name=decode(body["name"], arrays))
    if kind == "dataset":
        return xr.Dataset(decode_variables(body["data_vars"], arrays), coords=decode_variables(body["coords"], arrays),
                          attrs=decode(body["attrs"], arrays))
    raise ValueError(f"unknown recorded value kind {kind!r}")


def decode_variables(pairs: list, arrays: dict[str, np.ndarray]) -> dict[str, xr.Variable]:
    return {name: decode_variable(variable, arrays) for name, variable in pairs}


def decode_variable(tree: dict, arrays: dict[str, np.ndarray]) -> xr.Variable:
    return xr.Variable(tree["dims"], decode(tree["data"], arrays), decode(tree["attrs"], arrays))


def key_name(key: tuple) -> str:
    """A readable Zarr node name for a cache key, e.g. ("ipr_dynamics", "modadd-dynamics", (10.0, 0.1), "output")
    -> "ipr_dynamics_modadd-dynamics_10.0_0.1_output"."""

    def parts(item):
        return [p for sub in item for p in parts(sub)] if isinstance(item, tuple) else [str(item)]

    return re.sub(r"[^A-Za-z0-9._-]", "-", "_".join(parts(key)))


def write_values(group: zarr.Group, values: dict[tuple, Any]) -> None:
    """Write each {key: value} as a subgroup of `group` named by `key_name`: the key and the value's description
    in its attributes, the value's numeric arrays as its arrays."""
    for key, value in values.items():
        arrays: dict[str, np.ndarray] = {}
        name = key_name(key)
        while name in group:
            name += "_"
        entry = group.create_group(name, attributes={"key": encode(key, {}), "value": encode(value, arrays)})
        for array_name, data in arrays.items():
            entry.create_array(array_name, data=data)


def read_values(group: zarr.Group) -> dict[tuple, Any]:
    """{key: value} of every subgroup `write_values` wrote into `group`."""
    values = {}
    for _, entry in group.groups():
        arrays = {name: np.asarray(array[...]) for name, array in entry.arrays()}
        values[decode(entry.attrs["key"], {})] = decode(entry.attrs["value"], arrays)
    return values
