"""Tests of repro.parts: tiny mod-add trained as two one-seed chunks, reduced into parts and merged into the
reference of the whole two-seed store; the merge rules one by one."""

import re
import shutil
from pathlib import Path

import numpy as np
import pytest
import xarray as xr
from command_line import one_error_line, run_cli

from grokcore.reference_store import part_path, read_recorded, read_reference, reference_path, write_reference
from repro import parts
from repro.cli import main
from repro.derive import resolve
from repro.figures import compression
from repro.figures.registry import RAW, Context, NotPreloaded
from repro.reference import METRICS

MODADD = "modadd-main"


@pytest.fixture(scope="module")
def chunked(tiny_context, train_tiny, tmp_path_factory):
    """Every tiny reference from the whole stores (modadd-main's kept aside as whole.zarr.zip), then modadd-main's
    parts of two one-seed chunk stores, merged into its reference: (reference folder, whole file, figures)."""
    root = tmp_path_factory.mktemp("chunked")
    common = ["--scale", "tiny", "--data-dir", tiny_context.data_dir, "--reference-dir", str(root / "reference")]
    main(["reference", *common, "--results-dir", tiny_context.results_dir, "--figures-dir", str(root / "whole")])
    whole = Path(shutil.copy(reference_path(MODADD, "tiny", root / "reference"), root / "whole.zarr.zip"))
    for seed in (0, 1):
        exp, derivation = resolve(MODADD, "tiny", {"seeds": [seed]})
        store = train_tiny(exp, str(root / f"seed{seed}.zarr"), tiny_context.data_dir, derivation)
        main(["reference", *common, "--part", f"{MODADD}={store}"])
    main(["reference", *common, "--merge", MODADD, "--results-dir", str(root / "no-results"),
          "--figures-dir", str(root / "merged")])
    return root / "reference", whole, root


def assert_same_value(key, ours, theirs):
    """Recorded values equal: xarray values to float32 rounding (attributes too), others exactly."""
    if isinstance(ours, xr.Dataset | xr.DataArray):
        xr.testing.assert_allclose(ours, theirs, rtol=1e-6)
        assert ours.attrs.keys() == theirs.attrs.keys(), key
        for name, attr in theirs.attrs.items():  # zero_share: a weighted mean of the parts' means
            assert ours.attrs[name] == (pytest.approx(attr, rel=1e-12) if isinstance(attr, float) else attr), key
        return
    (tree, arrays), (their_tree, their_arrays) = parts.described(ours), parts.described(theirs)
    assert tree == their_tree, key
    for name, array in arrays.items():
        np.testing.assert_array_equal(array, their_arrays[name], err_msg=str(key))


def test_merged_parts_give_the_reference_of_the_whole_store(chunked):
    reference, whole, _ = chunked
    merged_path = reference_path(MODADD, "tiny", reference)
    ours, theirs = read_reference(merged_path), read_reference(whole)
    xr.testing.assert_allclose(ours, theirs)
    assert {k: v for k, v in ours.attrs.items() if k != "created"} == {
        k: v for k, v in theirs.attrs.items() if k != "created"}
    assert ours.attrs["config"]["seeds"] == [0, 1]
    recorded, expected = read_recorded(merged_path), read_recorded(whole)
    assert set(recorded) == set(expected)
    assert {key[0] for key in recorded} & set(parts.RULES) >= {"llc", "neuron_iprs", "ipr_variants"}
    for key, value in expected.items():
        assert_same_value(key, recorded[key], value)


def test_figures_are_drawn_from_the_merged_reference(chunked, capsys):
    reference, _, root = chunked
    code, out, err = run_cli(capsys, "figures", "--scale", "tiny", "--reference", str(reference),
                             "--figures-dir", str(root / "again"))
    assert code == 0, err
    assert "skipped" not in out and (root / "again" / "tiny" / "fig04.png").exists()
    again, stores = root / "again" / "tiny", root / "whole" / "tiny"
    assert (again / "claims.json").read_text() == (stores / "claims.json").read_text()


def test_a_part_holds_its_chunks_metrics_and_theta_values(chunked):
    reference, _, _ = chunked
    path = part_path(MODADD, [1], "tiny", reference)
    assert path.name == "modadd-main.seeds-1-1.zarr.zip"
    ds, recorded = read_reference(path), read_recorded(path)
    assert set(ds.data_vars) == set(METRICS) and ds["test_acc"].dims == ("alpha", "seed", "epoch")
    assert ds["test_acc"].dtype == np.float32 and ds["seed"].values.tolist() == [1] and "checkpoint" in ds.coords
    assert ds.attrs["config"]["seeds"] == [1] and ds.attrs["kind"] == "grokcore-reference-part"
    assert ds.attrs["machine"] and ds.attrs["store_git_revision"]
    assert ("llc", MODADD) in recorded and ("unembedding_spectrum", MODADD, 2.0, 1) in recorded  # Fig. 4's first seed
    assert not {key[0] for key in recorded} & (parts.RECOMPUTED | set(RAW))


def only_parts(reference: Path, folder: Path, *seeds: int) -> Path:
    """A reference folder holding the tiny parts of `seeds` (copied from `reference`)."""
    for seed in seeds:
        source = part_path(MODADD, [seed], "tiny", reference)
        (folder / "tiny" / "parts").mkdir(parents=True, exist_ok=True)
        shutil.copy(source, folder / "tiny" / "parts" / source.name)
    return folder


def merge(capsys, folder: Path):
    return run_cli(capsys, "reference", "--scale", "tiny", "--merge", MODADD, "--reference-dir", str(folder),
                   "--figures-dir", str(folder / "figures"))


def test_merging_with_a_seed_missing_names_it_and_the_command(chunked, capsys, tmp_path):
    code, _, err = merge(capsys, only_parts(chunked[0], tmp_path, 0))
    one_error_line(code, err, "modadd-main: seeds 1 are in none of its parts (modadd-main.seeds-0-0.zarr.zip)",
                   "--seeds 1 --store STORE", "--part modadd-main=STORE")
    code, _, err = merge(capsys, tmp_path / "empty")
    one_error_line(code, err, f"no parts of modadd-main at scale 'tiny' in {tmp_path}/empty/tiny/parts/")


def test_merging_overlapping_parts_names_the_seed(chunked, capsys, tmp_path):
    folder = only_parts(chunked[0], tmp_path, 0, 1)
    shutil.copy(part_path(MODADD, [0], "tiny", folder), folder / "tiny" / "parts" / "modadd-main.seeds-0-1.zarr.zip")
    code, _, err = merge(capsys, folder)
    one_error_line(code, err, "modadd-main.seeds-0-1.zarr.zip and", "modadd-main.seeds-0-0.zarr.zip both hold seed 0")


def test_merging_a_part_of_another_alpha_grid_names_the_difference(chunked, capsys, tmp_path):
    folder = only_parts(chunked[0], tmp_path, 0)
    source = part_path(MODADD, [1], "tiny", chunked[0])
    ds = read_reference(source).sel(alpha=[2.0])
    ds.attrs["config"] = {**ds.attrs["config"], "weight_multipliers": [2.0]}
    write_reference(ds, folder / "tiny" / "parts" / source.name, read_recorded(source))
    code, _, err = merge(capsys, folder)
    one_error_line(code, err, "modadd-main.seeds-1-1.zarr.zip was trained with another config than modadd-main at "
                   "scale tiny: weight_multipliers [2.0] ≠ [0.5, 2.0]")


def test_a_theta_value_no_part_recorded_is_one_clear_line(chunked):
    values = parts.merged_values(MODADD, "tiny", chunked[0])
    ctx = Context(scale="tiny", metrics_only={MODADD: parts.RECOMPUTED})
    ctx.preload({key: value for key, value in values.items() if key[0] != "llc"})
    assert compression.magnitude_pruning(ctx, MODADD) is values["magnitude_pruning", MODADD, "per_layer", None]
    assert ctx.experiment(MODADD).seeds == (0, 1)
    with pytest.raises(NotPreloaded, match=r"^llc_modadd-main \('llc', 'modadd-main'\) needs the θ"):
        compression.llc(ctx, MODADD)
    assert ("llc", MODADD) not in ctx.derived(MODADD) and ("fisher_pruning", MODADD, None) not in ctx.derived(MODADD)


def test_every_derived_function_is_merged_or_recomputed():
    sources = "".join(path.read_text() for path in Path(compression.__file__).parent.glob("*.py"))
    functions = set(re.findall(r"\.cached\(\(\"(\w+)\"", sources))
    assert functions - set(RAW) == set(parts.RULES) | parts.RECOMPUTED
    assert not set(parts.RULES) & parts.RECOMPUTED


# ------------------------------------------------------------------------------------------------ merge rules

SEEDS = [[0, 2], [1]]  # interleaved chunks: each rule puts the seeds in order


def per_seed(values, seeds, **attrs):
    return xr.Dataset({"c": (("alpha", "seed"), [values])}, coords={"alpha": [0.5], "seed": seeds}, attrs=attrs)


def test_along_seed_concatenates_sorted_by_seed():
    merged = parts.along_seed([per_seed([0.0, 2.0], [0, 2]), per_seed([1.0], [1])], SEEDS)
    assert merged["seed"].values.tolist() == [0, 1, 2] and merged["c"].values.tolist() == [[0.0, 1.0, 2.0]]


def test_run_weighted_means_attributes_over_every_run():
    merged = parts.run_weighted([per_seed([0.0, 2.0], [0, 2], zero_share=0.3), per_seed([1.0], [1], zero_share=0.6)],
                                SEEDS)
    assert merged.attrs["zero_share"] == pytest.approx(0.4) and merged.sizes["seed"] == 3


def test_per_seed_lists_are_concatenated_in_seed_order():
    merged = parts.per_seed_lists([{("real", "all"): [0.0, 2.0]}, {("real", "all"): [1.0]}], SEEDS)
    assert merged == {("real", "all"): [0.0, 1.0, 2.0]}


def test_pooled_neurons_follow_their_seeds():
    def pool(*seeds):
        return xr.Dataset({"output": ("output_neuron", np.repeat(np.array(seeds, dtype=np.float32), 2))})

    merged = parts.pooled([pool(0, 2), pool(1)], SEEDS)
    assert merged["output"].values.tolist() == [0, 0, 1, 1, 2, 2] and merged["output"].dtype == np.float32


def test_seed_dicts_unite_and_single_seed_keys_keep_their_one_value():
    assert list(parts.seed_union([{0: "a", 2: "c"}, {1: "b"}], SEEDS)) == [0, 1, 2]
    assert parts.only([np.ones(2)], [[1]]).tolist() == [1.0, 1.0]


def test_values_of_the_data_must_agree():
    snapshots = (np.arange(3), 0.5)
    assert parts.same([snapshots, (np.arange(3), 0.5)], SEEDS) is snapshots
    with pytest.raises(ValueError, match="differs between the parts"):
        parts.same([snapshots, (np.arange(3), 0.25)], SEEDS)


def test_an_unmergeable_value_says_why():
    with pytest.raises(ValueError, match="cannot merge the parts: a seed mean; train the experiment in one store"):
        parts.unmergeable("a seed mean")([1.0, 2.0], SEEDS)


def test_a_key_in_only_some_parts_or_without_a_rule_is_one_line():
    def part(seed, recorded):
        return parts.Part(Path(f"p{seed}.zarr.zip"), per_seed([0.0], [seed]), recorded)

    key = ("llc", MODADD)
    with pytest.raises(ValueError, match=r"^llc_modadd-main is recorded by p0.zarr.zip of the parts p0.zarr.zip, "
                                         r"p1.zarr.zip: each must record it$"):
        parts.merge_recorded([part(0, {key: 1.0}), part(1, {})])
    with pytest.raises(ValueError, match=r"^novel_modadd-main: no merge rule for novel in repro.parts.RULES$"):
        parts.merge_recorded([part(0, {("novel", MODADD): 1.0})])
    spectrum = ("unembedding_spectrum", MODADD, 10.0, 0)
    assert parts.merge_recorded([part(0, {spectrum: 1.0}), part(1, {})]) == {spectrum: 1.0}


def test_seed_ranges_read_as_seeds_options():
    assert parts.seed_ranges([5, 0, 1, 2, 7, 8]) == "0-2,5,7-8" and parts.seed_ranges([3]) == "3"
