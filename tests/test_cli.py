"""Tests of the `repro` command line: every command's help, real runs, and one clear message per bad input."""

import pickle
import shutil
from pathlib import Path

import numpy as np
import pytest
import xarray as xr
from command_line import one_error_line, run_cli

from grokcore import store as st
from grokcore.reference_store import read_recorded, reference_path
from repro.cli import build_parser
from repro.config import experiment_names


def test_every_command_has_help(capsys):
    commands = build_parser()._subparsers._group_actions[0].choices
    assert {"data", "experiments", "train", "run", "figures", "reproduce", "status"} <= set(commands)
    for command in commands:
        code, out, _ = run_cli(capsys, command, "--help")
        assert code == 0 and "usage: repro" in out


def test_train_writes_a_store_and_prints_final_accuracies(capsys, tmp_path):
    out_path = tmp_path / "run.zarr"
    code, out, err = run_cli(capsys, "train", "--task", "modadd", "--alphas", "0.5,2", "--epochs", "1",
                             "--batch-size", "4096", "--out", str(out_path))
    assert code == 0, err
    assert "α = 0.5: final train acc" in out and f"results: {out_path}" in out
    ds = st.open_results(str(out_path))
    assert list(ds.alpha.values) == [0.5, 2.0] and (ds.done_epoch.values == 1).all()


def test_status_lists_cells(capsys, tmp_path):
    out_path = tmp_path / "run.zarr"
    run_cli(capsys, "train", "--task", "modadd", "--alphas", "1", "--epochs", "1", "--batch-size", "4096",
            "--no-fisher", "--out", str(out_path))
    code, out, _ = run_cli(capsys, "status", str(out_path))
    assert code == 0 and "seed 0   1/1 epochs  finished" in out and "grid: finished" in out


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["train", "--task", "mnist", "--alphas", "1", "--epochs", "1", "--out", "x.zarr"], "unknown task 'mnist'"),
        (["train", "--task", "modadd", "--alphas", "0.5,-1", "--epochs", "1", "--out", "x.zarr"],
         "weight multipliers must be > 0"),
        (["train", "--task", "modadd", "--alphas", "1", "--epochs", "0", "--out", "x.zarr"],
         "expected an integer > 0, got 0"),
        (["train", "--task", "modadd", "--alphas", "one", "--epochs", "1", "--out", "x.zarr"],
         "expected comma-separated numbers, got 'one'"),
        (["run", "no-such-experiment"], "unknown experiment 'no-such-experiment'"),
        (["run", "mine.toml"], "experiment file mine.toml does not exist"),
        (["run", "modadd-main", "--seeds", "0-x"], "--seeds expects integers and ranges"),
        (["run", "modadd-main", "--alphas", "0.1;3"], "expected comma-separated numbers, got '0.1;3'"),
        (["run", "modadd-main", "--batch-size", "half"], "expected an integer, got 'half'"),
        (["run", "modadd-main", "--set", "train.lr"], "--set expects KEY=VALUE"),
        (["run", "modadd-main", "--set", "train.lrate=1e-3"], "unknown key train.lrate"),
        (["run", "modadd-main", "--scale", "huge"], "has no [scale.huge] table (it has full, quick, tiny)"),
        (["run", "modadd-main", "--epochs", "0"], "expected an integer > 0, got 0"),
        (["figures", "--store", "nowhere.zarr"], "nowhere.zarr is not a results store"),
        (["status", "nowhere.zarr"], "nowhere.zarr is not a results store"),
        (["compare", "nowhere.zarr"], "nowhere.zarr is not a results store"),
        (["reference", "--scale", "tiny"], "nothing to reduce: no finished results store of scale 'tiny' in results/"),
        (["reference", "--scale", "tiny", "--only", "ising-main,mnist"], "--only ising-main,mnist: mnist is none of"),
    ],
)
def test_bad_input_gets_one_clear_message(capsys, tmp_path, monkeypatch, argv, message):
    monkeypatch.chdir(tmp_path)
    code, _, err = run_cli(capsys, *argv)
    assert code == 2
    assert message in err and "Traceback" not in err
    assert len(err.strip().splitlines()) == 1, err
    assert not (tmp_path / "x.zarr").exists() and not (tmp_path / "results").exists()


def test_figures_from_a_users_store_say_what_cannot_be_drawn(capsys, tiny_context, tmp_path):
    store = st.default_store_path("modadd-main", "tiny", tiny_context.results_dir)
    code, out, err = run_cli(capsys, "figures", "--store", store, "--only", "fig10,fig09",
                             "--data-dir", tiny_context.data_dir, "--figures-dir", str(tmp_path))
    assert (tmp_path / "tiny" / "fig10.png").stat().st_size > 0 and not (tmp_path / "tiny" / "fig09.png").exists()
    assert f"modadd-main = {store}" in out
    assert "fig09: skipped: needs ising-main, and none of the given stores is one" in out
    assert code == 1 and err.strip() == "repro: error: 1 figures not drawn (each named above with its reason)"


def test_output_path_with_other_contents_is_refused_and_kept(capsys, tmp_path):
    other = tmp_path / "notes"
    other.mkdir()
    (other / "keep.txt").write_text("precious")
    code, _, err = run_cli(capsys, "train", "--task", "modadd", "--alphas", "1", "--epochs", "1",
                           "--out", str(other))
    assert code == 2 and "is not a results store" in err
    assert (other / "keep.txt").read_text() == "precious"


def test_existing_store_of_another_config_is_refused_and_kept(capsys, tmp_path):
    out_path = tmp_path / "run.zarr"
    common = ["train", "--task", "modadd", "--alphas", "1", "--batch-size", "4096", "--no-fisher",
              "--out", str(out_path)]
    assert run_cli(capsys, *common, "--epochs", "1")[0] == 0
    before = st.open_results(str(out_path)).theta.values.copy()
    code, _, err = run_cli(capsys, *common, "--epochs", "2")
    assert code == 2 and "epochs: stored 1, requested 2" in err
    np.testing.assert_array_equal(st.open_results(str(out_path)).theta.values, before)


def write_pickle(path, payload):
    with open(path, "wb") as f:
        pickle.dump(payload, f)


class Evil:
    def __reduce__(self):
        import os

        return (os.system, ("echo pwned",))


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda p: p.write_bytes(b"not a pickle at all"), "not a readable pickle"),
        (lambda p: write_pickle(p, {"wrong": "structure"}), "expected [description, list of triples], got dict"),
        (lambda p: write_pickle(p, Evil()), "refusing to unpickle global posix.system"),
        (lambda p: write_pickle(p, ["desc", [(np.ones((8, 8)), 1, 1.0)]]), "has shape (8, 8), expected (16, 16)"),
    ],
    ids=["unreadable", "malformed", "code-carrying", "wrong-lattice"],
)
def test_bad_ising_pickles_are_refused(capsys, tmp_path, make, message):
    path = tmp_path / "IsingML.pickle"
    make(path)
    code, _, err = run_cli(capsys, "data", "import", str(path), "--data-dir", str(tmp_path / "data"))
    assert code == 2 and "Traceback" not in err
    assert message.lower() in err.lower(), err


def test_missing_pickle_is_named(capsys, tmp_path):
    code, _, err = run_cli(capsys, "data", "import", str(tmp_path / "absent.pickle"))
    assert code == 2 and "absent.pickle" in err


def files(root):
    """Every file under root with its size and modification time: a store left as it was keeps all three."""
    return {p: (p.stat().st_size, p.stat().st_mtime_ns) for p in sorted(root.rglob("*")) if p.is_file()}


TRAIN = ["train", "--task", "modadd", "--alphas", "1", "--epochs", "1", "--batch-size", "4096", "--no-fisher"]


@pytest.fixture
def finished(capsys, tmp_path):
    """A finished `repro train` store in tmp_path/results."""
    path = tmp_path / "results" / "run.zarr"
    assert run_cli(capsys, *TRAIN, "--out", str(path))[0] == 0
    return path


def free_port():
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--alphas", "inf"], "weight multipliers must be finite, got [inf]"),
        (["--lr", "inf"], "lr must be a finite number > 0, got inf"),
        (["--weight-decay", "inf"], "weight_decay must be a finite number >= 0, got inf"),
        (["--lr", "0"], "learning rate must be > 0, got 0.0"),
    ],
)
def test_bad_training_values_leave_no_store(capsys, tmp_path, argv, message):
    code, _, err = run_cli(capsys, *TRAIN, *argv, "--out", str(tmp_path / "x.zarr"))
    one_error_line(code, err, message)
    assert list(tmp_path.iterdir()) == []


def test_temperature_count_must_be_whole(capsys, tmp_path):
    code, _, err = run_cli(capsys, "data", "ising", "--temperatures", "1", "3", "2.7", "--data-dir", str(tmp_path))
    one_error_line(code, err, "--temperatures N must be a whole number of temperatures >= 1, got 2.7")
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (lambda: ["--scheduler", f"tcp://127.0.0.1:{free_port()}"], "cannot reach the scheduler tcp://127.0.0.1:"),
        (lambda: ["--host", "256.1.1.1", "--workers", "1"], "cannot start the local cluster on --host 256.1.1.1"),
        (lambda: ["--cluster", "slurm"], "--cluster slurm needs --cluster-config FILE"),
    ],
    ids=["unreachable-scheduler", "invalid-host", "slurm-without-config"],
)
def test_cluster_errors_leave_stores_as_they_were(capsys, tmp_path, finished, monkeypatch, options, message):
    import dask

    monkeypatch.delenv("DASK_SCHEDULER_ADDRESS", raising=False)
    before = files(tmp_path)
    with dask.config.set({"distributed.comm.timeouts.connect": "1s"}):
        for store in (finished, tmp_path / "results" / "new.zarr"):  # --overwrite of another config; a new store
            code, _, err = run_cli(capsys, "run", "modadd-main", "--scale", "tiny", "--store", str(store),
                                   "--overwrite", "--data-dir", str(tmp_path / "data"), *options())
            one_error_line(code, err, message)
    assert files(tmp_path) == before


def test_damaged_metadata_is_named(capsys, tmp_path, finished):
    metadata = finished / "zarr.json"
    metadata.write_text(metadata.read_text()[:50])
    before = files(tmp_path)
    for argv in (["status", str(finished)], [*TRAIN, "--out", str(finished)]):
        code, _, err = run_cli(capsys, *argv)
        one_error_line(code, err, f"damaged store metadata: {metadata} is not valid JSON")
    assert files(tmp_path) == before


def test_a_url_without_its_backend_is_one_line(capsys, tmp_path):
    try:
        import s3fs  # noqa: F401
    except ImportError:
        pass
    else:
        pytest.skip("s3fs is installed")
    for argv in (["status", "s3://bucket/x.zarr"], [*TRAIN, "--out", "s3://bucket/x.zarr"]):
        code, _, err = run_cli(capsys, *argv)
        one_error_line(code, err, "cannot open s3://bucket/x.zarr: Install s3fs")


def test_figures_with_nothing_to_draw(capsys, tmp_path):
    code, _, err = run_cli(capsys, "figures", "--scale", "tiny", "--results-dir", str(tmp_path / "results"),
                           "--figures-dir", str(tmp_path / "figures"))
    one_error_line(code, err, "nothing to draw: no results stores of scale 'tiny'")
    assert list(tmp_path.iterdir()) == []


def test_an_overflowing_alpha_is_reported_as_diverged(capsys, tmp_path):
    out_path = tmp_path / "run.zarr"
    code, out, err = run_cli(capsys, *TRAIN[:4], "1,1e300", *TRAIN[5:], "--out", str(out_path))
    assert code == 0, err
    assert "α = 1e+300: diverged at epoch 0" in out and "α = 1: final train acc" in out
    code, out, _ = run_cli(capsys, "status", str(out_path))
    assert "seed 0   1/1 epochs  diverged at epoch 0" in out and "cells: 1 finished, 1 diverged" in out


def test_verify_names_a_damaged_chunk_and_reset_retrains_it(capsys, tmp_path, finished):
    code, out, _ = run_cli(capsys, "verify", str(finished))
    assert code == 0 and "read back intact" in out
    before = st.open_results(str(finished)).theta.values.copy()
    chunk = finished / "theta" / "c" / "0" / "0" / "0" / "0"
    chunk.write_bytes(chunk.read_bytes()[:-7])
    code, out, err = run_cli(capsys, "verify", str(finished))
    one_error_line(code, err, "1 damaged chunks in 1 cells")
    assert f"damaged: {chunk} (α=1 seed=0): ValueError: Stored and computed checksum do not match" in out
    assert run_cli(capsys, "verify", str(finished), "--reset")[0] != 0
    code, out, err = run_cli(capsys, *TRAIN, "--out", str(finished))
    assert code == 0, err
    np.testing.assert_array_equal(st.open_results(str(finished)).theta.values, before)
    assert run_cli(capsys, "verify", str(finished))[0] == 0


def test_a_deleted_chunk_shows_as_damaged_and_is_trained_again(capsys, finished):
    before = st.open_results(str(finished)).theta.values.copy()
    (finished / "theta" / "c" / "0" / "0" / "0" / "0").unlink()
    code, out, _ = run_cli(capsys, "status", str(finished))
    assert "0/1 epochs  damaged (chunks missing" in out and "1 damaged" in out
    code, out, err = run_cli(capsys, *TRAIN, "--out", str(finished))
    assert code == 0 and "chunks are missing in 1 cells; training them again: α=1 seed=0" in out, err
    np.testing.assert_array_equal(st.open_results(str(finished)).theta.values, before)


def test_a_held_store_is_refused_with_its_holder(capsys, tmp_path, finished):
    from test_lease import holding

    from grokcore.store import reset_cells

    reset_cells(str(finished), [(0, 0)])
    from test_lease import read_holder

    lease = finished.with_name(finished.name + ".lease")
    with holding(str(finished)) as holder:
        before = files(tmp_path)
        code, _, err = run_cli(capsys, *TRAIN, "--out", str(finished))
        one_error_line(code, err, f"is being written by pid {holder.pid}")
        # The holder's heartbeat may rewrite its lease meanwhile; everything else is as it was.
        after = files(tmp_path)
        assert after.pop(lease) and before.pop(lease) and after == before
        assert read_holder(str(finished)).pid == holder.pid


def test_read_only_stores_are_read_and_never_written(capsys, tmp_path, tiny_context):
    import shutil

    from test_store_files import read_only

    results = tmp_path / "results"
    shutil.copytree(f"{tiny_context.results_dir}/modadd-main-tiny.zarr", results / "modadd-main-tiny.zarr")
    store = results / "modadd-main-tiny.zarr"
    partial = results / "partial.zarr"
    shutil.copytree(store, partial)
    st.reset_cells(str(partial), [(0, 0)])
    before = files(tmp_path)
    with read_only(results):
        code, out, _ = run_cli(capsys, "status", str(store))
        assert code == 0 and "cells: 4 finished" in out
        code, out, err = run_cli(capsys, "run", "modadd-main", "--scale", "tiny", "--store", str(store),
                                 "--data-dir", tiny_context.data_dir)
        assert code == 0 and "4 of 4 cells already finished" in out, err
        code, out, err = run_cli(capsys, "figures", "--scale", "tiny", "--only", "fig10", "--results-dir",
                                 str(results), "--data-dir", tiny_context.data_dir, "--figures-dir",
                                 str(tmp_path / "figures"))
        assert code == 0 and (tmp_path / "figures" / "tiny" / "fig10.png").exists(), err
        for argv in (["--store", str(partial)], ["--store", str(results / "new.zarr")]):
            code, _, err = run_cli(capsys, "run", "modadd-main", "--scale", "tiny", *argv, "--workers", "1",
                                   "--data-dir", tiny_context.data_dir)
            one_error_line(code, err, str(results))
    assert {p: v for p, v in files(tmp_path).items() if "figures" not in p.parts} == before


def test_figures_drawn_from_the_reference_are_those_drawn_from_the_stores(capsys, tiny_reference, tmp_path):
    reference, drawn_from_stores = tiny_reference  # `repro reference` of every tiny store
    folder = reference / "tiny"
    shipped = {path.name for path in folder.iterdir()}
    assert {f"{name}.zarr.zip" for name in experiment_names()} <= shipped
    assert {"fig02.png", "fig02.txt", "table1.md", "claims.md", "claims.json", "provenance.txt"} <= shipped
    assert "fig02.pdf" not in shipped
    provenance = (folder / "provenance.txt").read_text()
    assert all(key in provenance for key in ("git_revision:", "lock_sha256:", "created:", "machine:"))
    for name in experiment_names():  # the shipped tiny references stand in for unreduced experiments
        shipped_keys = set(read_recorded(reference_path(name, "tiny")))
        assert set(read_recorded(folder / f"{name}.zarr.zip")) <= shipped_keys, (
            f"reference/tiny/{name}.zarr.zip is stale: `make reproduce reference SCALE=tiny`")
    # no stores and no data: everything comes from the reference files
    code, out, err = run_cli(capsys, "figures", "--scale", "tiny", "--reference", str(reference),
                             "--results-dir", str(tmp_path / "no-results"), "--data-dir", str(tmp_path / "no-data"),
                             "--figures-dir", str(tmp_path / "drawn"))
    assert code == 0, err
    assert f"drawing from the reference results in {folder}/" in out and "skipped" not in out
    stores, again = drawn_from_stores / "tiny", tmp_path / "drawn" / "tiny"
    assert sorted(p.name for p in again.iterdir()) == sorted(p.name for p in stores.iterdir())
    assert (again / "claims.json").read_text() == (stores / "claims.json").read_text()
    assert (again / "table1.md").read_text() == (stores / "table1.md").read_text()
    assert not (tmp_path / "no-results").exists() and not (tmp_path / "no-data").exists()


def test_figures_from_a_reference_without_the_scale_or_with_a_store_say_so(capsys, tiny_context, tmp_path):
    code, _, err = run_cli(capsys, "figures", "--scale", "full", "--reference", str(tmp_path))
    one_error_line(code, err, f"nothing to draw: no reference results of scale 'full' in {tmp_path}/full/")
    code, _, err = run_cli(capsys, "figures", "--reference", str(tmp_path), "--store",
                           tiny_context.store_path("modadd-main"))
    one_error_line(code, err, "--reference and --store: draw from one or the other")


def test_compare_prints_a_tiny_store_beside_the_reference(capsys, tiny_context, tmp_path):
    from grokcore.reference_store import reference_path, write_reference
    from repro.reference import reduce_experiment

    write_reference(reduce_experiment(tiny_context, "modadd-main"), reference_path("modadd-main", "tiny", tmp_path))
    store = tiny_context.store_path("modadd-main")
    code, out, err = run_cli(capsys, "compare", store, "--scale", "tiny", "--reference-dir", str(tmp_path),
                             "--data-dir", tiny_context.data_dir)
    assert code == 0, err
    lines = out.splitlines()
    assert lines[0].startswith(f"modadd-main: yours {store} (scale tiny) against {tmp_path}")
    assert lines[1].split() == ["measure", "α", "yours", "reference"]
    for alpha in ("0.5", "2"):
        row = next(line for line in lines if line.split()[:2] == ["final_test_acc", alpha])
        assert row.count("(n = ") == 2
    assert any(line.split()[0] == "llc" for line in lines[2:]) and any(" ± " in line for line in lines)


def test_a_tiny_store_is_compared_with_the_shipped_full_scale_reference(capsys, tiny_context):
    import grokcore

    shipped = grokcore.open_reference("modadd-dynamics")  # reference/full/ of this repository
    assert shipped.attrs["scale"] == "full" and shipped.sizes["seed"] == 10
    assert list(shipped["alpha"].values) == [0.1, 10.0] and (shipped["final_test_acc"] > 0.99).all()
    store = tiny_context.store_path("modadd-dynamics")
    code, out, err = run_cli(capsys, "compare", store, "--data-dir", tiny_context.data_dir)
    assert code == 0, err
    rows = {tuple(line.split()[:2]): line for line in out.splitlines()[2:]}
    assert "(n = 10)" in rows["final_test_acc", "10"] and rows["final_test_acc", "2"].rstrip().endswith("—")


def test_compare_without_a_reference_names_the_missing_file(capsys, tiny_context, tmp_path):
    code, _, err = run_cli(capsys, "compare", tiny_context.store_path("ising-main"), "--reference-dir", str(tmp_path))
    assert code == 2 and len(err.strip().splitlines()) == 1
    assert f"{tmp_path}/full/ising-main.zarr.zip does not exist" in err


def test_compare_asks_which_experiment_a_store_of_another_stands_for(capsys, tiny_context, tmp_path):
    store = tiny_context.store_path("modadd-main")
    code, _, err = run_cli(capsys, "compare", store, "--experiment", "my-wd")
    assert code == 2 and len(err.strip().splitlines()) == 1
    assert f"{store}: 'my-wd' is none of the paper's experiments" in err and "--experiment" in err
    from grokcore.reference_store import reference_path, write_reference

    write_reference(xr.Dataset(attrs={"scale": "tiny"}), reference_path("ising-main", "tiny", tmp_path))
    code, _, err = run_cli(capsys, "compare", store, "--experiment", "ising-main", "--scale", "tiny",
                           "--reference-dir", str(tmp_path))
    assert code == 2 and err.strip() == f"repro: error: {store} is a modadd store; ising-main needs ising"


def test_compare_refuses_a_data_store(capsys, tiny_context):

    data_store = str(next(Path(tiny_context.data_dir).glob("ising-*.zarr")))
    code, _, err = run_cli(capsys, "compare", data_store)
    assert code == 2 and err.strip() == f"repro: error: {data_store} is not a results store"


def test_reference_draws_the_figures_of_what_it_reduced(capsys, tiny_context, tmp_path):
    results = tmp_path / "results"
    results.mkdir()
    name = "modadd-main-tiny.zarr"
    (results / name).symlink_to(f"{tiny_context.results_dir}/{name}")
    code, out, err = run_cli(capsys, "reference", "--scale", "tiny", "--results-dir", str(results),
                             "--data-dir", tiny_context.data_dir, "--figures-dir", str(tmp_path / "figures"),
                             "--reference-dir", str(tmp_path / "reference"))
    assert code == 0, err
    shipped = {path.name for path in (tmp_path / "reference" / "tiny").iterdir()}
    assert {"modadd-main.zarr.zip", "fig15.png", "fig15.txt", "table1.md", "claims.md", "claims.json"} <= shipped
    assert "ising-main.zarr.zip" not in shipped and "fig03.png" not in shipped
    assert "skipped ising-main: ising-main has not been run at scale 'tiny'" in out


def only_stores(tiny_context, folder: Path, *experiments: str) -> Path:
    """A results folder holding only the tiny stores of `experiments` (linked from tiny_context)."""
    folder.mkdir()
    for experiment in experiments:
        name = f"{experiment}-tiny.zarr"
        (folder / name).symlink_to(f"{tiny_context.results_dir}/{name}")
    return folder


def test_reference_one_experiment_at_a_time_reads_those_reduced_before(capsys, monkeypatch, tiny_context, tmp_path):
    # two machines, one experiment each: the first pass reads a stand-in for ising-main (here the shipped tiny
    # reference, under another scale's name), the second the first one's reference file, so that the figures of
    # both (fig08 reads ising-main and modadd-dynamics) are drawn from the files and each records its values
    from repro.figures import registry

    reference, figures = tmp_path / "reference", tmp_path / "figures"
    monkeypatch.setattr(registry, "STAND_IN_SCALE", "stand-in")
    (reference / "stand-in").mkdir(parents=True)
    shutil.copy(reference_path("ising-main", "tiny"), reference / "stand-in")
    common = ("--scale", "tiny", "--data-dir", tiny_context.data_dir, "--reference-dir", str(reference))
    first = only_stores(tiny_context, tmp_path / "first", "modadd-dynamics")
    code, out, err = run_cli(capsys, "reference", *common, "--results-dir", str(first),
                             "--figures-dir", str(figures / "first"))
    assert code == 0, err
    assert "ising-main: read from " in out and "(a stand-in: figures reading it are not kept)" in out
    assert "fig08: skipped: drawn only to record what it reads of the others: ising-main has no reference" in out
    assert not (reference / "tiny" / "fig08.png").exists()
    second = only_stores(tiny_context, tmp_path / "second", "ising-main")
    code, out, err = run_cli(capsys, "reference", *common, "--results-dir", str(second),
                             "--figures-dir", str(figures / "second"))
    assert code == 0, err
    assert f"modadd-dynamics: read from {reference / 'tiny' / 'modadd-dynamics.zarr.zip'}" in out
    assert "fig08: skipped" not in out and (reference / "tiny" / "fig08.png").exists()
    provenance = (reference / "tiny" / "provenance.txt").read_text()
    assert all(f"{name}.zarr.zip: trained at git " in provenance for name in ("ising-main", "modadd-dynamics"))
    # every figure of the two is drawn again from the two files alone
    code, out, err = run_cli(capsys, "figures", "--scale", "tiny", "--reference", str(reference), "--only",
                             "fig08,fig20,fig32,fig33,fig34", "--figures-dir", str(figures / "again"))
    assert code == 0, err
    assert "skipped" not in out and len(list((figures / "again" / "tiny").glob("fig*.png"))) == 5


def test_reference_only_one_draws_the_other_finished_stores_from_their_stores(capsys, tiny_context, tmp_path):
    reference = tmp_path / "reference"
    (reference / "tiny").mkdir(parents=True)
    shutil.copy(reference_path("ising-main", "tiny"), reference / "tiny")  # reduced before, on another machine
    both = only_stores(tiny_context, tmp_path / "both", "ising-main", "modadd-dynamics")
    code, out, err = run_cli(capsys, "reference", "--scale", "tiny", "--only", "modadd-dynamics", "--results-dir",
                             str(both), "--data-dir", tiny_context.data_dir, "--reference-dir", str(reference),
                             "--figures-dir", str(tmp_path / "figures"))
    assert code == 0, err
    assert "ising-main: read from" not in out and "fig08: skipped" not in out
