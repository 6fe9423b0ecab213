"""Running `repro` in-process in the tests, and what a one-line error looks like."""

from __future__ import annotations

from repro.cli import main


def run_cli(capsys, *argv):
    """Run `repro argv…`; return (exit code, stdout, stderr)."""
    try:
        main(list(argv))
        code = 0
    except SystemExit as exit_:
        code = exit_.code
    out, err = capsys.readouterr()
    return code, out, err


def one_error_line(code, err, *messages):
    """The command failed with one line `repro: error: …` holding every one of `messages`, and no traceback."""
    lines = [line for line in err.splitlines() if line.strip()]
    assert code not in (0, None) and "Traceback" not in err, err
    assert len(lines) == 1 and lines[0].startswith("repro: error: ") and all(m in lines[0] for m in messages), err
