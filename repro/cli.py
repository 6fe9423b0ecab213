"""The `repro` command line."""


def main(argv=None):
    raise SystemExit("repro: not built yet")
