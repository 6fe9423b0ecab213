"""Tests of repro.parts and repro.part_rules: tiny mod-add trained as two one-seed chunks, tiny Ising and mod-add
dynamics as two one-α chunks, each reduced into parts and merged into the reference of the whole store; the merge
rules one by one."""

import dataclasses
import re
import shutil
from pathlib import Path

import numpy as np
import pytest
import xarray as xr
from command_line import one_error_line, run_cli

from grokcore import store as st
from grokcore.reference_store import part_path, read_recorded, read_reference, reference_path, write_reference
from repro import part_rules, parts
from repro.cli import main
from repro.derive import resolve
from repro.figures import compression
from repro.figures.registry import RAW, REGISTRY, Context, NotPreloaded
from repro.reference import METRICS

MODADD = "modadd-main"


@pytest.fixture(scope="module")
def chunked(tiny_context, tiny_reference, train_tiny, tmp_path_factory):
    """Every tiny reference from the whole stores (modadd-main's kept aside as whole.zarr.zip), then modadd-main's
    parts of two one-seed chunk stores, merged into its reference: (reference folder, whole file, figures)."""
    root = tmp_path_factory.mktemp("chunked")
    common = ["--scale", "tiny", "--data-dir", tiny_context.data_dir, "--reference-dir", str(root / "reference")]
    shutil.copytree(tiny_reference[0], root / "reference")
    shutil.copytree(tiny_reference[1], root / "whole")
    whole = Path(shutil.copy(reference_path(MODADD, "tiny", root / "reference"), root / "whole.zarr.zip"))
    for seed in (0, 1):
        exp, derivation = resolve(MODADD, "tiny", {"seeds": [seed]})
        store = train_tiny(exp, str(root / f"seed{seed}.zarr"), tiny_context.data_dir, derivation)
        main(["reference", *common, "--part", f"{MODADD}={store}"])
    main(["reference", *common, "--merge", MODADD, "--results-dir", str(root / "no-results"),
          "--figures-dir", str(root / "merged")])
    return root / "reference", whole, root


def assert_same_value(key, ours, theirs, rel: float = 1e-12):
    """Recorded values equal: xarray values to float32 rounding, float attributes to `rel`, others exactly."""
    if isinstance(ours, xr.Dataset | xr.DataArray):
        xr.testing.assert_allclose(ours, theirs, rtol=1e-6)
        assert ours.attrs.keys() == theirs.attrs.keys(), key
        for name, attr in theirs.attrs.items():  # zero_share: a weighted mean of the parts' means
            assert ours.attrs[name] == (pytest.approx(attr, rel=rel) if isinstance(attr, float) else attr), key
        return
    (tree, arrays), (their_tree, their_arrays) = part_rules.described(ours), part_rules.described(theirs)
    assert tree == their_tree, key
    for name, array in arrays.items():
        np.testing.assert_allclose(array, their_arrays[name], rtol=rel, atol=rel / 10, err_msg=str(key))


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
    assert {key[0] for key in recorded} & set(part_rules.SEED_RULES) >= {"llc", "neuron_iprs", "ipr_variants"}
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
    path = part_path(MODADD, "seeds-1-1", "tiny", reference)
    assert path.name == "modadd-main.seeds-1-1.zarr.zip"
    ds, recorded = read_reference(path), read_recorded(path)
    assert set(ds.data_vars) == set(METRICS) and ds["test_acc"].dims == ("alpha", "seed", "epoch")
    assert ds["test_acc"].dtype == np.float32 and ds["seed"].values.tolist() == [1] and "checkpoint" in ds.coords
    assert ds.attrs["config"]["seeds"] == [1] and ds.attrs["kind"] == "grokcore-reference-part"
    assert ds.attrs["machine"] and ds.attrs["store_git_revision"]
    assert ("llc", MODADD) in recorded and ("unembedding_spectrum", MODADD, 2.0, 1) in recorded  # Fig. 4's first seed
    assert not {key[0] for key in recorded} & (part_rules.RECOMPUTED | set(RAW))


def test_a_part_is_written_when_a_figure_fails(chunked, tiny_context, monkeypatch, capsys, tmp_path):
    def raising(error):
        def raise_(*_):
            raise error
        return raise_

    def part_pass():
        return run_cli(capsys, "reference", "--scale", "tiny", "--data-dir", tiny_context.data_dir,
                       "--reference-dir", str(tmp_path), "--part", f"{MODADD}={chunked[2] / 'seed0.zarr'}")

    monkeypatch.setitem(REGISTRY, "fig10", dataclasses.replace(REGISTRY["fig10"], draw=raising(RuntimeError("boom"))))
    code, out, err = part_pass()
    one_error_line(code, err, "the figure pass failed (RuntimeError: boom)", "its part was written")
    path, whole = part_path(MODADD, "seeds-0-0", "tiny", tmp_path), part_path(MODADD, "seeds-0-0", "tiny", chunked[0])
    assert f"part: {path}" in out
    xr.testing.assert_equal(read_reference(path), read_reference(whole))  # the chunk's metrics
    recorded = read_recorded(path)
    assert ("unembedding_spectrum", MODADD, 2.0, 0) in recorded  # Fig. 4, drawn before Fig. 10 failed
    assert set(recorded) < set(read_recorded(whole))
    monkeypatch.setattr(parts, "write_part", raising(OSError("disk full")))
    code, _, err = part_pass()  # the figure's failure is still named
    one_error_line(code, err, "the figure pass failed (RuntimeError: boom), then writing its part failed too "
                   "(OSError: disk full)")


def only_parts(reference: Path, folder: Path, *seeds: int) -> Path:
    """A reference folder holding the tiny parts of `seeds` (copied from `reference`)."""
    for seed in seeds:
        source = part_path(MODADD, f"seeds-{seed}-{seed}", "tiny", reference)
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
    shutil.copy(part_path(MODADD, "seeds-0-0", "tiny", folder), part_path(MODADD, "seeds-0-1", "tiny", folder))
    code, _, err = merge(capsys, folder)
    one_error_line(code, err, "modadd-main.seeds-0-1.zarr.zip and", "modadd-main.seeds-0-0.zarr.zip both hold seed 0")


def test_merging_a_part_of_another_alpha_grid_names_the_difference(chunked, capsys, tmp_path):
    folder = only_parts(chunked[0], tmp_path, 0)
    source = part_path(MODADD, "seeds-1-1", "tiny", chunked[0])
    ds = read_reference(source).sel(alpha=[2.0])
    ds.attrs["config"] = {**ds.attrs["config"], "weight_multipliers": [2.0]}
    write_reference(ds, folder / "tiny" / "parts" / source.name, read_recorded(source))
    code, _, err = merge(capsys, folder)
    one_error_line(code, err, "modadd-main.seeds-1-1.zarr.zip was trained with another config than modadd-main at "
                   "scale tiny: weight_multipliers [2.0] ≠ [0.5, 2.0]")


def test_a_theta_value_no_part_recorded_is_one_clear_line(chunked):
    values = parts.merged_values(MODADD, "tiny", chunked[0]).values
    ctx = Context(scale="tiny", metrics_only={MODADD: part_rules.RECOMPUTED})
    ctx.preload({key: value for key, value in values.items() if key[0] != "llc"})
    assert compression.magnitude_pruning(ctx, MODADD) is values["magnitude_pruning", MODADD, "per_layer", None]
    assert ctx.experiment(MODADD).seeds == (0, 1)
    with pytest.raises(NotPreloaded, match=r"^llc_modadd-main \('llc', 'modadd-main'\) needs the θ"):
        compression.llc(ctx, MODADD)
    assert ("llc", MODADD) not in ctx.derived(MODADD) and ("fisher_pruning", MODADD, None) not in ctx.derived(MODADD)


def test_every_derived_function_is_merged_or_recomputed():
    sources = "".join(path.read_text() for path in Path(compression.__file__).parent.glob("*.py"))
    functions = set(re.findall(r"\.(?:cached|per_alpha)\(\(\"(\w+)\"", sources)) - set(RAW)
    assert functions == set(part_rules.SEED_RULES) | part_rules.RECOMPUTED == set(part_rules.ALPHA_RULES)
    assert not set(part_rules.SEED_RULES) & part_rules.RECOMPUTED


# ------------------------------------------------------------------------------------------- split by α

BY_ALPHA = ("ising-main", "modadd-dynamics")  # archetypes, trajectory checkpoints and spectra span every seed


@pytest.fixture(scope="module")
def alpha_chunked(chunked, train_tiny, tiny_context, tmp_path_factory):
    """For each of BY_ALPHA, the reference of its whole grid trained one α per ensemble, as its one-α chunks are
    (tiny: α 0.5 and 2.0), and their parts merged, beside the whole-store references of the others: (reference
    folder, {experiment: whole file}, root)."""
    root = tmp_path_factory.mktemp("alpha-chunked")
    reference = root / "reference"
    shutil.copytree(chunked[0] / "tiny", reference / "tiny", ignore=shutil.ignore_patterns("parts"))
    common = ["--scale", "tiny", "--data-dir", tiny_context.data_dir, "--reference-dir", str(reference)]
    results, whole = root / "results", {}
    for name in BY_ALPHA:
        exp, derivation = resolve(name, "tiny", {"group_size": 1})
        train_tiny(exp, st.default_store_path(name, "tiny", str(results)), tiny_context.data_dir, derivation)
    main(["reference", *common, "--only", ",".join(BY_ALPHA), "--results-dir", str(results),
          "--figures-dir", str(root / "whole")])
    for name in BY_ALPHA:
        whole[name] = Path(shutil.copy(reference_path(name, "tiny", reference), root / f"{name}.whole.zarr.zip"))
        for alpha in (0.5, 2.0):
            exp, derivation = resolve(name, "tiny", {"weight_multipliers": [alpha]})
            store = train_tiny(exp, str(root / f"{name}-{alpha}.zarr"), tiny_context.data_dir, derivation)
            main(["reference", *common, "--part", f"{name}={store}"])
    for name in BY_ALPHA:  # the other one's reference is then merged too, or still its whole store's
        main(["reference", *common, "--merge", name, "--results-dir", str(root / "no-results"),
              "--figures-dir", str(root / "merged" / name)])
    return reference, whole, root


@pytest.mark.parametrize("experiment", BY_ALPHA)
def test_parts_split_by_alpha_merge_into_the_reference_of_the_whole_store(alpha_chunked, experiment):
    reference, whole, root = alpha_chunked
    merged_path = reference_path(experiment, "tiny", reference)
    ours, theirs = read_reference(merged_path), read_reference(whole[experiment])
    xr.testing.assert_allclose(ours, theirs)
    # the whole store's config is the packaged config of the merged grid, but for its group size
    assert theirs.attrs.pop("derivation")["overrides"] == {"group_size": 1}
    theirs.attrs["config"]["group_size"] = ours.attrs["config"]["group_size"]
    assert {k: v for k, v in ours.attrs.items() if k != "created"} == {
        k: v for k, v in theirs.attrs.items() if k != "created"}
    recorded, expected = read_recorded(merged_path), read_recorded(whole[experiment])
    assert set(recorded) == set(expected)
    for key, value in expected.items():
        assert_same_value(key, recorded[key], value)
    merged, drawn = root / "merged" / experiment / "tiny" / "claims.json", root / "whole" / "tiny" / "claims.json"
    assert merged.read_text() == drawn.read_text()


def test_a_part_split_by_alpha_holds_every_value_of_one_alpha(alpha_chunked):
    path = part_path("ising-main", "alphas-0.5", "tiny", alpha_chunked[0])
    ds, recorded = read_reference(path), read_recorded(path)
    assert ds.attrs["split"] == "alpha" and ds["alpha"].values.tolist() == [0.5] and ds.sizes["seed"] == 2
    assert ds["epoch"].values.tolist() == ds["checkpoint"].values[1:].tolist()  # the metrics at the checkpoints
    for name in ("feature_dynamics", "dynamics_compressibility", "step_measures", "fisher_spectra", "plateaus"):
        assert (name, "ising-main", 0.5) in recorded, name  # whichever α the whole grid picks as an archetype
    assert ("final_metrics", "ising-main") in recorded
    assert ("seed_mean_curve", "ising-main", 0.5, "test_acc") in recorded


def test_parts_of_both_splits_are_one_line(alpha_chunked, chunked, capsys, tmp_path):
    folder = only_parts(chunked[0], tmp_path, 0, 1)
    source = part_path("ising-main", "alphas-0.5", "tiny", alpha_chunked[0])
    shutil.copy(source, part_path(MODADD, "alphas-0.5", "tiny", folder))
    code, _, err = merge(capsys, folder)
    one_error_line(code, err, "the parts of modadd-main at scale tiny split its grid both by seed and by α")


def test_a_part_of_a_whole_grid_is_one_line_before_any_figure(tiny_context, capsys, tmp_path):
    store = Path(tiny_context.results_dir) / "modadd-main-tiny.zarr"
    code, out, err = run_cli(capsys, "reference", "--scale", "tiny", "--part", f"modadd-main={store}",
                             "--data-dir", tiny_context.data_dir, "--reference-dir", str(tmp_path))
    one_error_line(code, err, "a part holds some seeds and every α, or some α and every seed, of modadd-main at "
                   "scale tiny; this store holds seeds [0, 1] and α [0.5, 2.0]")
    assert "fig01" not in out and not (tmp_path / "tiny" / "parts").exists()


def test_merging_with_an_alpha_missing_names_it_and_the_command(alpha_chunked, capsys, tmp_path):
    parts_dir = tmp_path / "tiny" / "parts"
    parts_dir.mkdir(parents=True)
    shutil.copy(part_path("ising-main", "alphas-0.5", "tiny", alpha_chunked[0]), parts_dir)
    code, _, err = run_cli(capsys, "reference", "--scale", "tiny", "--merge", "ising-main", "--reference-dir",
                           str(tmp_path), "--figures-dir", str(tmp_path / "figures"))
    one_error_line(code, err, "ising-main: weight multipliers 2 are in none of its parts (ising-main.alphas-0.5",
                   "--alphas 2 --store STORE")


# ------------------------------------------------------------------------------------------------ merge rules

SEEDS = [[0, 2], [1]]  # interleaved chunks: each rule puts the seeds in order


def per_seed(values, seeds, **attrs):
    return xr.Dataset({"c": (("alpha", "seed"), [values])}, coords={"alpha": [0.5], "seed": seeds}, attrs=attrs)


def test_along_seed_concatenates_sorted_by_seed():
    merged = part_rules.along_seed([per_seed([0.0, 2.0], [0, 2]), per_seed([1.0], [1])], SEEDS)
    assert merged["seed"].values.tolist() == [0, 1, 2] and merged["c"].values.tolist() == [[0.0, 1.0, 2.0]]


def test_run_weighted_means_attributes_over_every_run():
    merged = part_rules.run_weighted("seed")([per_seed([0.0, 2.0], [0, 2], zero_share=0.3),
                                              per_seed([1.0], [1], zero_share=0.6)], SEEDS)
    assert merged.attrs["zero_share"] == pytest.approx(0.4) and merged.sizes["seed"] == 3


def test_per_seed_lists_are_concatenated_in_seed_order():
    merged = part_rules.per_seed_lists([{("real", "all"): [0.0, 2.0]}, {("real", "all"): [1.0]}], SEEDS)
    assert merged == {("real", "all"): [0.0, 1.0, 2.0]}


def test_pooled_neurons_follow_their_seeds():
    def pool(*seeds):
        return xr.Dataset({"output": ("output_neuron", np.repeat(np.array(seeds, dtype=np.float32), 2))})

    merged = part_rules.pooled([pool(0, 2), pool(1)], SEEDS)
    assert merged["output"].values.tolist() == [0, 0, 1, 1, 2, 2] and merged["output"].dtype == np.float32


def test_seed_dicts_unite_and_single_seed_keys_keep_their_one_value():
    assert list(part_rules.seed_union([{0: "a", 2: "c"}, {1: "b"}], SEEDS)) == [0, 1, 2]
    assert part_rules.only([np.ones(2)], [[1]]).tolist() == [1.0, 1.0]


def test_values_of_the_data_must_agree():
    snapshots = (np.arange(3), 0.5)
    assert part_rules.same([snapshots, (np.arange(3), 0.5)], SEEDS) is snapshots
    with pytest.raises(ValueError, match="differs between the parts"):
        part_rules.same([snapshots, (np.arange(3), 0.25)], SEEDS)


def test_an_unmergeable_value_says_why():
    with pytest.raises(ValueError, match=r"cannot merge the parts: a seed mean; split the grid by α instead"):
        part_rules.unmergeable("a seed mean")([1.0, 2.0], SEEDS)


def test_a_key_in_only_some_parts_is_left_out_and_named_and_one_without_a_rule_is_one_line():
    def part(seed, recorded):
        return parts.Part(Path(f"p{seed}.zarr.zip"), per_seed([0.0], [seed]), recorded)

    key, kept = ("ipr_variants", MODADD, 0.3), ("llc", MODADD)  # 0.3: the α of p0's own choosing
    merged, left_out = parts.merge_recorded([part(0, {key: {}, kept: per_seed([1.0], [0])}),
                                             part(1, {kept: per_seed([2.0], [1])})])
    assert list(merged) == [kept] and merged[kept].equals(per_seed([1.0, 2.0], [0, 1]))
    assert left_out == ("ipr_variants_modadd-main_0.3 (only in p0.zarr.zip)",)
    with pytest.raises(ValueError, match=r"^novel_modadd-main: no merge rule for novel in "
                                         r"repro.part_rules.SEED_RULES$"):
        parts.merge_recorded([part(0, {("novel", MODADD): 1.0})])
    spectrum = ("unembedding_spectrum", MODADD, 10.0, 0)
    assert parts.merge_recorded([part(0, {spectrum: 1.0}), part(1, {})]) == ({spectrum: 1.0}, ())
    with pytest.raises(ValueError, match=r"^unembedding_spectrum_modadd-main_10.0_0 is recorded by p0.zarr.zip, "
                                         r"p1.zarr.zip: one seed, one part$"):
        parts.merge_recorded([part(0, {spectrum: 1.0}), part(1, {spectrum: 2.0})])


def test_seed_ranges_read_as_seeds_options():
    assert parts.seed_ranges([5, 0, 1, 2, 7, 8]) == "0-2,5,7-8" and parts.seed_ranges([3]) == "3"
