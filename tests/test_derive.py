"""Tests of a researcher's own experiments: TOML files, overrides, their record and their stores' names."""

import pytest

from repro.config import load_experiment
from repro.derive import OverrideError, parse_seeds, parse_set, resolve, store_name

USER_TOML = """
task = "modadd"
weight_multipliers = [0.3, 3.0]
seeds = [4]
checkpoints = [[0, 6, 2]]

[train]
epochs = 6
lr = 1e-3
weight_decay = 1e-4
batch_size = 512

[fisher]
n_samples = 8

[scale.tiny]
seeds = [0, 1]
[scale.tiny.train]
epochs = 2
"""


@pytest.mark.parametrize(("text", "seeds"), [("0-2", [0, 1, 2]), ("0,3,5", [0, 3, 5]), ("0-2,7", [0, 1, 2, 7]),
                                             ("4", [4])])
def test_seed_syntax(text, seeds):
    assert parse_seeds(text) == seeds


@pytest.mark.parametrize("text", ["a", "2-0", "1-", "0,,1", "0-x"])
def test_bad_seed_syntax_is_named(text):
    with pytest.raises(OverrideError, match=f"--seeds expects .*got {text!r}"):
        parse_seeds(text)


@pytest.mark.parametrize(("text", "pair"), [("train.lr=1e-3", ("train.lr", 1e-3)),
                                            ("fisher.variant=classif_logits", ("fisher.variant", "classif_logits")),
                                            ('device="cuda"', ("device", "cuda")),
                                            ("train.shuffle=true", ("train.shuffle", True)),
                                            ("checkpoints=[[0, 10, 5]]", ("checkpoints", [[0, 10, 5]]))])
def test_set_syntax(text, pair):
    assert parse_set(text) == pair


@pytest.mark.parametrize(("text", "message"), [("train.lr", "--set expects KEY=VALUE"),
                                               ("=3", "--set expects KEY=VALUE"),
                                               ("seeds=[0,", "is not a TOML value")])
def test_bad_set_syntax_is_named(text, message):
    with pytest.raises(OverrideError, match=message):
        parse_set(text)


def test_every_override_is_applied_and_recorded():
    overrides = {"weight_multipliers": [0.1, 0.3, 10.0], "seeds": [0, 1, 2], "train.epochs": 2000,
                 "train.lr": 1e-3, "train.weight_decay": 1e-4, "train.batch_size": 128, "train.eval_every": 5,
                 "group_size": 2, "fisher.variant": "classif_logits", "train.shuffle": True}
    exp, derivation = resolve("modadd-main", "full", overrides)
    assert exp.weight_multipliers == (0.1, 0.3, 10.0) and exp.seeds == (0, 1, 2) and exp.epochs == 2000
    assert (exp.lr, exp.weight_decay, exp.batch_size, exp.eval_every) == (1e-3, 1e-4, 128, 5)
    assert exp.group_size == 2 and exp.fisher.variant == "classif_logits" and exp.shuffle
    assert derivation == {"source": "packaged experiment modadd-main", "scale": "full", "overrides": overrides}
    unchanged = load_experiment("modadd-main", "full")
    assert exp.data == unchanged.data and exp.fisher.n_samples == unchanged.fisher.n_samples


def test_new_epoch_count_stretches_checkpoints_that_ran_to_the_end():
    longer, _ = resolve("modadd-main", "full", {"train.epochs": 2000})
    assert longer.checkpoint_epochs == tuple(range(0, 2001, 100))
    shorter, _ = resolve("modadd-dynamics", "full", {"train.epochs": 300})
    assert shorter.checkpoint_epochs == tuple(range(301))
    every, _ = resolve("modadd-main", "full", {"train.epochs": 50, "checkpoint_every": 25})
    assert every.checkpoint_epochs == (0, 25, 50)


def test_full_batch_override_removes_the_batch_size():
    exp, _ = resolve("modadd-main", "tiny", {"train.batch_size": None})
    assert exp.batch_size is None


def test_user_file_at_its_top_level_and_at_a_scale(tmp_path):
    path = tmp_path / "my-grid.toml"
    path.write_text(USER_TOML)
    exp, derivation = resolve(str(path))
    assert (exp.name, exp.scale, exp.seeds, exp.epochs, exp.fisher.n_samples) == ("my-grid", "custom", (4,), 6, 8)
    assert exp.checkpoint_epochs == (0, 2, 4, 6) and derivation["source"] == str(path.resolve())
    tiny, _ = resolve(str(path), "tiny")
    assert (tiny.scale, tiny.seeds, tiny.epochs) == ("tiny", (0, 1), 2)
    with pytest.raises(ValueError, match=r"has no \[scale.full\] table \(it has tiny\)"):
        resolve(str(path), "full")


@pytest.mark.parametrize(("edit", "message"), [
    (lambda t: t.replace("lr = 1e-3", "learning_rate = 1e-3"), "unknown key train.learning_rate"),
    (lambda t: t.replace("epochs = 6", "epochs = \"six\""), "train.epochs must be an integer, got 'six'"),
    (lambda t: t.replace("n_samples = 8", "n_sample = 8"), "unknown key fisher.n_sample"),
    (lambda t: t.replace("seeds = [4]", "seeds = [4.5]"), r"seeds must be a list of integers, got \[4.5\]"),
    (lambda t: t.replace("task = \"modadd\"", "tasks = \"modadd\""), "unknown key tasks"),
    (lambda t: t.replace("lr = 1e-3", ""), "missing key train.lr"),
    (lambda t: t.replace("weight_decay = 1e-4", "weight_decay = -1.0"), "weight decay must be >= 0, got -1.0"),
    (lambda t: t.replace("[train]", "[train"), "is not valid TOML"),
])
def test_bad_user_file_gets_one_line_naming_the_key(tmp_path, edit, message):
    path = tmp_path / "bad.toml"
    path.write_text(edit(USER_TOML))
    with pytest.raises(ValueError, match=message) as error:
        resolve(str(path))
    assert "\n" not in str(error.value)


@pytest.mark.parametrize(("overrides", "message"), [
    ({"train.epochs": 0}, "epochs must be > 0, got 0"),
    ({"train.lrate": 1e-3}, "unknown key train.lrate"),
    ({"fisher.variant": "exact"}, "Fisher variant must be one of"),
    ({"weight_multipliers": [1.0, 1.0]}, "weight multipliers must be distinct"),
])
def test_bad_override_values_are_named(overrides, message):
    with pytest.raises(ValueError, match=message):
        resolve("modadd-main", "tiny", overrides)


def test_unknown_source_names_the_choices(tmp_path):
    with pytest.raises(ValueError, match="unknown experiment 'modadd'.*or the path of a .toml file"):
        resolve("modadd")
    with pytest.raises(ValueError, match="does not exist"):
        resolve(str(tmp_path / "absent.toml"))


def test_store_names_come_from_the_changes():
    exp, derivation = resolve("modadd-main", "full", {"seeds": [0, 1, 2], "weight_multipliers": [0.1, 0.3, 10.0],
                                                      "train.epochs": 2000})
    assert store_name(exp, derivation) == "modadd-main-full-alphas0.1_0.3_10-seeds0-2-epochs2000"
    exp, derivation = resolve("modadd-main", "full")
    assert store_name(exp, derivation) == "modadd-main-full"
    many = {"weight_multipliers": [0.1 * k for k in range(1, 30)]}
    exp, derivation = resolve("modadd-main", "full", many)
    assert store_name(exp, derivation).startswith("modadd-main-full-custom-")
    assert store_name(exp, derivation) != store_name(*resolve("modadd-main", "full", {"seeds": [3]}))
