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
    from repro.figures.pipeline import load_figure_modules
    from repro.figures.registry import REGISTRY

    load_figure_modules()
    text = README.read_text()
    assert all(f"| {name} |" in text for name in REGISTRY), "a registered figure is missing from the README table"
