"""The `repro` command line: its arguments and their checks; the commands themselves are in repro.commands."""

from __future__ import annotations

import argparse
import sys

from grokcore.store import RESULTS_DIR
from repro.commands import (
    UsageError,
    cmd_compare,
    cmd_data_import,
    cmd_data_ising,
    cmd_experiments,
    cmd_figures,
    cmd_reference,
    cmd_reproduce,
    cmd_run,
    cmd_status,
    cmd_train,
    cmd_verify,
)
from repro.config import SCALES, experiment_names


class OneLineParser(argparse.ArgumentParser):
    """An argument parser whose errors are one line (the usage is a --help away)."""

    def error(self, message):
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def _floats(text: str) -> tuple[float, ...]:
    try:
        return tuple(float(v) for v in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated numbers, got {text!r}") from None


def _wrap(parse):
    """An argparse type from a parser raising OverrideError: its message becomes argparse's one line."""
    from repro.derive import OverrideError

    def convert(text: str):
        try:
            return parse(text)
        except OverrideError as err:
            raise argparse.ArgumentTypeError(str(err)) from None

    convert.__name__ = parse.__name__
    return convert


def _seeds(text: str) -> list[int]:
    from repro.derive import parse_seeds

    return _wrap(parse_seeds)(text)


def _batch_size(text: str) -> int | str:
    return "full" if text == "full" else _positive_int(text)


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer, got {text!r}") from None
    if value <= 0:
        raise argparse.ArgumentTypeError(f"expected an integer > 0, got {value}")
    return value


def build_parser() -> argparse.ArgumentParser:
    parser = OneLineParser(prog="repro", description="Reproduce 'Grokking vs. Learning' (2502.01739).")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    data = sub.add_parser("data", help="generate or import data sets").add_subparsers(dest="what", required=True)
    ising = data.add_parser("ising", help="generate Ising snapshots by Glauber Monte Carlo (reused if present)")
    ising.add_argument("--temperatures", type=float, nargs=3, default=(1.0, 3.5, 50), metavar=("START", "STOP", "N"),
                       help="linspace of temperatures (default 1.0 3.5 50; GUESS, the paper's were lost)")
    ising.add_argument("--per-temperature", type=_positive_int, default=1000, help="snapshots per temperature")
    ising.add_argument("--updates", type=_positive_int, default=100_000,
                       help="single-spin updates per snapshot (default 1e5; GUESS)")
    ising.add_argument("--size", type=_positive_int, default=16, help="lattice side L (default 16)")
    ising.add_argument("--seed", type=int, default=0, help="Monte Carlo seed")
    ising.add_argument("--threads", type=_positive_int, default=None, help="numba threads (default: all cores)")
    ising.add_argument("--data-dir", default="data", help="where data stores live (default data/)")
    ising.set_defaults(func=cmd_data_ising)
    imp = data.add_parser("import", help="import the authors' Ising pickle (Zenodo 19949740) into a data store")
    imp.add_argument("pickle", help="path of IsingML_L16_traintest.pickle")
    imp.add_argument("--data-dir", default="data", help="where data stores live (default data/)")
    imp.set_defaults(func=cmd_data_import)

    exps = sub.add_parser("experiments", help="list the paper's experiments and their hyperparameters")
    exps.add_argument("--scale", choices=SCALES, default="full")
    exps.set_defaults(func=cmd_experiments)

    train = sub.add_parser("train", help="shortcut: one seed of <task>-main (full scale) with your α, epochs "
                           "and store")
    train.add_argument("--task", required=True, help="ising or modadd")
    train.add_argument("--alphas", type=_floats, required=True, help="weight multipliers, e.g. 0.1,10")
    train.add_argument("--seed", type=int, default=0, help="seed of data split, init, batch order, Fisher")
    train.add_argument("--epochs", type=_positive_int, required=True)
    train.add_argument("--out", required=True, help="Zarr store to write (must not hold other results)")
    train.add_argument("--checkpoint-every", type=_positive_int, help="θ/Fisher cadence (default epochs/10)")
    train.add_argument("--no-fisher", action="store_true", help="skip the Fisher diagonals")
    _override_options(train, grid=False)
    train.add_argument("--overwrite", action="store_true",
                       help="replace a store of another config, once the new run has finished")
    _grid_options(train)
    train.set_defaults(func=cmd_train, workers=1, results_dir=None)

    run = sub.add_parser("run", help="train an experiment's α × seed grid with Dask into one store")
    run.add_argument("experiment", help=f"a packaged experiment ({', '.join(experiment_names())}) or the path "
                     "of your own experiment file (.toml, same schema)")
    run.add_argument("--scale", help="apply the experiment's [scale.NAME] table: full, quick or tiny (packaged "
                     "experiments: default quick; your file: its top level unless given)")
    _override_options(run, grid=True)
    run.add_argument("--store", help="store path or URL (default results/<experiment>-<scale>[-<overrides>].zarr)")
    run.add_argument("--results-dir", default=RESULTS_DIR, help="where default stores go (default results/)")
    run.add_argument("--overwrite", action="store_true",
                     help="replace a store of another config, once the new run has finished")
    _grid_options(run)
    run.set_defaults(func=cmd_run)

    figures = sub.add_parser("figures", help="render the figures and the claims report from existing stores "
                                 "(or, with --reference, from the reference results)")
    figures.add_argument("--only", help="comma-separated figure names, e.g. fig02,fig05 (default: all + claims)")
    figures.add_argument("--store", action="append", metavar="[EXPERIMENT=]PATH",
                         help="draw from this store instead of results/ (repeatable); EXPERIMENT names the "
                         "paper experiment it stands for (default: the one it was derived from)")
    figures.add_argument("--scale", choices=SCALES, help="figure settings (default quick, or the stores' scale)")
    figures.add_argument("--data-dir", default="data", help="where data stores live (default data/)")
    figures.add_argument("--reference", nargs="?", const="", metavar="DIR",
                         help="draw from the reference results in DIR/<scale>/ instead of the results stores: no "
                         "store, data or training needed (DIR default: $GROKCORE_REFERENCE, else the repository's "
                         "reference/)")
    _figure_options(figures)
    _cluster_options(figures)  # the pruning curves, Fisher pruning and LLC chains run as tasks on the cluster
    figures.set_defaults(func=cmd_figures)

    reproduce = sub.add_parser("reproduce", help="data, every experiment, every figure and the claims report")
    reproduce.add_argument("--scale", choices=SCALES, default="quick", help="experiment scale (default quick)")
    _grid_options(reproduce)
    _figure_options(reproduce)
    reproduce.set_defaults(func=cmd_reproduce)

    reference = sub.add_parser("reference", help="draw a scale's figures, Table 1 and claims from its finished "
                               "stores and ship them in reference/<scale>/ with the reduced stores and what the "
                               "figures read",
                               epilog="A grid too long for one session is trained in chunks: `repro run "
                               "modadd-main --scale full --seeds 0-4 --store S1`, then `repro reference --scale full "
                               "--part modadd-main=S1` (commit the part); later seeds 5-9 likewise; then `repro "
                               "reference --scale full --merge modadd-main`. Ising is split by α instead (`--alphas "
                               "0.1,0.3,1,2`): its archetypes depend on every seed.")
    reference.add_argument("--scale", choices=SCALES, required=True)
    reference.add_argument("--data-dir", default="data", help="where data stores live (default data/)")
    reference.add_argument("--results-dir", default=RESULTS_DIR, help="where results stores live (default results/)")
    reference.add_argument("--figures-dir", default="figures", help="where the figures are drawn before they are "
                           "shipped (default figures/)")
    chunks = reference.add_mutually_exclusive_group()
    chunks.add_argument("--only", help="comma-separated experiments to reduce, e.g. ising-main (default: all)")
    chunks.add_argument("--part", metavar="[EXPERIMENT=]STORE",
                        help="reduce a chunk of the grid (a store of `repro run EXPERIMENT --seeds 0-4`, or of "
                        "--alphas 0.1,0.3) into reference/<scale>/parts/EXPERIMENT.seeds-0-4.zarr.zip (or "
                        ".alphas-0.1_0.3): its metrics and what its figures computed from θ; one chunk per session, "
                        "committed before the store is lost")
    chunks.add_argument("--merge", metavar="EXPERIMENT", choices=experiment_names(),
                        help="reduce EXPERIMENT from its parts once they hold every seed (α): the figures, claims "
                        "and reference as from one store of the whole grid")
    _reference_option(reference)
    reference.set_defaults(func=cmd_reference)

    compare = sub.add_parser("compare", help="your store's measures per α next to the reference results")
    compare.add_argument("store")
    compare.add_argument("--scale", choices=SCALES, default="full", help="the reference's scale (default full)")
    compare.add_argument("--experiment", help="the paper experiment the store stands for (default: the one it "
                         "was derived from)")
    compare.add_argument("--data-dir", default="data", help="where data stores live (default data/)")
    _reference_option(compare)
    compare.set_defaults(func=cmd_compare)

    status = sub.add_parser("status", help="epochs per cell of a store, its training rate and an ETA")
    status.add_argument("store")
    status.set_defaults(func=cmd_status)

    verify = sub.add_parser("verify", help="read every chunk of a results store and name the damaged ones")
    verify.add_argument("store")
    verify.add_argument("--reset", action="store_true",
                        help="mark the damaged cells for retraining by the next `repro run`")
    _lease_option(verify)
    verify.set_defaults(func=cmd_verify)
    return parser


def _lease_option(parser) -> None:
    parser.add_argument("--break-lock", action="store_true",
                        help="take the store's lease even from a process that seems alive (only if it is not)")


def _grid_options(parser) -> None:
    _cluster_options(parser)
    parser.add_argument("--device", choices=("cpu", "cuda"), help="override the experiments' device")
    parser.add_argument("--gpus", type=_positive_int, default=1, help="local GPU workers when --device cuda")
    parser.add_argument("--seed-group-size", type=_positive_int,
                        help="seeds one task trains as one ensemble (default: the experiment's; the numbers do "
                             "not depend on it)")
    parser.add_argument("--data-dir", default="data", help="where data stores live (default data/)")
    _lease_option(parser)


def _cluster_options(parser) -> None:
    parser.add_argument("--scheduler", help="address of a running Dask scheduler (else $DASK_SCHEDULER_ADDRESS)")
    parser.add_argument("--cluster", choices=("local", "slurm"), default="local")
    parser.add_argument("--cluster-config", help="TOML file of SLURMCluster settings (with --cluster slurm)")
    parser.add_argument("--workers", type=_positive_int, help="local worker processes (default: one per core)")
    parser.add_argument("--host", default="127.0.0.1", help="interface of the embedded cluster (default loopback)")


def _override_options(parser, grid: bool) -> None:
    """Options that derive a new experiment from the chosen one (recorded in the store's `derivation`)."""
    from repro.derive import parse_set

    if grid:
        parser.add_argument("--seeds", type=_seeds, help="seeds, e.g. 0-2 or 0,3,5")
        parser.add_argument("--alphas", type=_floats, help="weight multipliers α, e.g. 0.1,0.3,10")
        parser.add_argument("--epochs", type=_positive_int, help="epochs per cell (checkpoint ranges that ran "
                            "to the end are stretched to the new end)")
        parser.add_argument("--checkpoint-every", type=_positive_int, help="θ/Fisher every N epochs")
        parser.add_argument("--group-size", type=_positive_int, help="α values trained together by one task")
    parser.add_argument("--lr", type=float, help="learning rate (default: the experiment's)")
    parser.add_argument("--weight-decay", type=float, help="coupled L2 weight decay (default: the experiment's)")
    parser.add_argument("--batch-size", type=_batch_size, help="batch size, or 'full' (default: the experiment's)")
    parser.add_argument("--eval-every", type=_positive_int, help="test-set evaluation cadence in epochs")
    parser.add_argument("--set", type=_wrap(parse_set), action="append", metavar="KEY=VALUE",
                        help="any key of the experiment file in TOML syntax, e.g. fisher.variant=classif_logits, "
                        "data.n_train=150 (repeatable)")


def _reference_option(parser) -> None:
    parser.add_argument("--reference-dir", help="where reference results live (default $GROKCORE_REFERENCE, else "
                        "the repository's reference/)")


def _figure_options(parser) -> None:
    parser.add_argument("--results-dir", default=RESULTS_DIR, help="where results stores live (default results/)")
    parser.add_argument("--figures-dir", help="where figures go (default figures/, or figures/custom/ with --store)")


def main(argv: list[str] | None = None) -> None:
    from grokcore.lease import LeaseHeld, LeaseLost
    from repro.figures.pipeline import FiguresMissing
    from repro.figures.registry import MissingResults, NotPreloaded

    args = build_parser().parse_args(argv)
    try:
        args.func(args)
    except BrokenPipeError:  # e.g. `repro status STORE | head`
        sys.stderr.close()
    except FiguresMissing as err:  # each skipped figure was already named with its reason and command
        print(f"repro: error: {len(err.missing)} figures not drawn (each named above with its reason)",
              file=sys.stderr)
        raise SystemExit(1) from None
    except (UsageError, ValueError, OSError, LeaseHeld, LeaseLost, MissingResults, NotPreloaded) as err:
        # OSError: unreadable or read-only paths (named in the message), a store whose backend is missing
        print(f"repro: error: {err}", file=sys.stderr)
        raise SystemExit(2) from None
    except KeyboardInterrupt:
        raise SystemExit(130) from None


if __name__ == "__main__":
    main()
