"""The README's ad-hoc analysis example runs as written against tiny-scale stores."""

import re
from pathlib import Path

README = Path(__file__).resolve().parent.parent / "README.md"


def readme_example() -> str:
    text = README.read_text()
    match = re.search(r"<!-- readme-example[^>]*-->\n```python\n(.*?)```", text, re.S)
    assert match, "the README lost its marked Python example"
    return match.group(1)


def test_readme_example_runs(tiny_context, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "results").symlink_to(tiny_context.results_dir)
    exec(compile(readme_example().replace('scale="quick"', 'scale="tiny"'), "README.md", "exec"), {})
    assert "final test accuracy: learning" in capsys.readouterr().out
    assert (tmp_path / "ipr.png").stat().st_size > 0


def test_readme_lists_every_figure():
    from repro.figures.pipeline import REGISTRY  # importing the pipeline registers every figure

    text = README.read_text()
    assert all(f"| {name} |" in text for name in REGISTRY), "a registered figure is missing from the README table"


def own_experiment_blocks() -> tuple[str, list[tuple[str, str]]]:
    """The README's experiment file, and its commands as (command line, the store it names)."""
    text = README.read_text()
    toml = re.search(r"<!-- readme-own-experiment[^>]*-->\n```toml\n(.*?)```", text, re.S)
    bash = re.search(r"<!-- readme-own-commands -->\n```bash\n(.*?)```", text, re.S)
    assert toml and bash, "the README lost its own-experiment example"
    commands = re.findall(r"^(repro run [^#\n]*?)\s*(?:#\s*→ (\S+))?\n(?:\s+#\s*→ (\S+)\n)?", bash.group(1), re.M)
    return toml.group(1), [(line, first or second) for line, first, second in commands]


def test_own_experiment_section_runs_at_tiny_scale(tmp_path, monkeypatch, capsys):
    from grokcore import store as st
    from repro.cli import main

    toml, commands = own_experiment_blocks()
    monkeypatch.chdir(tmp_path)
    (tmp_path / "my-wd.toml").write_text(toml)
    # The file's own tiny scale as written; the full-scale override example shrunk to one seed and one epoch.
    shrink = {"--scale full": "--scale tiny", "--seeds 0-2": "--seeds 0", "--epochs 2000": "--epochs 1",
              "full-alphas": "tiny-alphas", "seeds0-2": "seeds0", "epochs2000": "epochs1"}
    runs = [(line, store) for line, store in commands if "--scale" in line]
    assert len(runs) == 2
    for line, store in runs:
        for old, new in shrink.items():
            line, store = line.replace(old, new), store.replace(old, new)
        main([*line.split()[1:], "--workers", "1", "--data-dir", str(tmp_path / "data")])
        attrs = st.read_attrs(store)
        assert (st.cell_status(store).values == attrs["config"]["epochs"]).all(), line
    derived = st.read_attrs("results/modadd-main-tiny-alphas0.1_0.3_10-seeds0-epochs1.zarr")
    assert derived["derivation"]["overrides"] == {"weight_multipliers": [0.1, 0.3, 10.0], "seeds": [0],
                                                  "train.epochs": 1}
    assert st.read_attrs("results/my-wd-tiny.zarr")["config"]["weight_decay"] == 3e-4
    assert "finished α = 0.5, seed 0" in capsys.readouterr().out
