"""Tests of the `repro` command line: every command's help, real runs, and one clear message per bad input."""

import pickle

import numpy as np
import pytest

from grokcore import store as st
from repro.cli import build_parser, main


def run_cli(capsys, *argv):
    """Run `repro argv…`; return (exit code, stdout, stderr)."""
    try:
        main(list(argv))
        code = 0
    except SystemExit as exit_:
        code = exit_.code
    out, err = capsys.readouterr()
    return code, out, err


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
    assert code == 2 and "fig09: needs ising-main, and none of the given stores is one" in err


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
