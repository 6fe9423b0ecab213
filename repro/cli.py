"""The `repro` command line: data, training, experiment grids, status and verification of stores."""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from grokcore.store import RESULTS_DIR
from repro.config import SCALES, experiment_names


class UsageError(Exception):
    """A bad command-line value; printed as one line, never as a traceback."""


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


def cmd_data_ising(args) -> None:
    from grokcore.data.ising import IsingParams
    from grokcore.data.ising_io import ising_store_path, ising_summary, load_or_generate_ising

    start, stop, num = args.temperatures
    if not (float(num).is_integer() and num >= 1):
        raise UsageError(f"--temperatures N must be a whole number of temperatures >= 1, got {num:g}")
    import numpy as np

    params = IsingParams(L=args.size, temperatures=tuple(float(t) for t in np.linspace(start, stop, int(num))),
                         n_per_temperature=args.per_temperature, n_updates=args.updates, seed=args.seed)
    ds = load_or_generate_ising(params, data_dir=args.data_dir, progress=True, threads=args.threads)
    print(ising_summary(ds))
    print(f"Ising data: {ising_store_path(params, args.data_dir)}")


def cmd_data_import(args) -> None:
    from grokcore.data.ising_io import import_authors_pickle, ising_summary

    ds = import_authors_pickle(args.pickle, data_dir=args.data_dir)
    print(ising_summary(ds))
    print(f"Ising data: {ds.encoding.get('source', args.data_dir)}")


def cmd_experiments(args) -> None:
    from repro.config import load_experiment

    for name in experiment_names():
        exp = load_experiment(name, args.scale)
        print(f"{name}: {exp.description}\n"
              f"  task={exp.task} α={list(exp.weight_multipliers)} seeds={list(exp.seeds)} epochs={exp.epochs}\n"
              f"  lr={exp.lr} weight_decay={exp.weight_decay} batch={exp.batch_size or 'full'} "
              f"shuffle={exp.shuffle} eval_every={exp.eval_every} checkpoints={len(exp.checkpoint_epochs)} "
              f"Fisher={exp.fisher.variant if exp.fisher.enabled else 'off'}"
              f"({exp.fisher.split}, n={exp.fisher.n_samples or 'all'})\n"
              f"  figures: {', '.join(exp.figures)}")


def cmd_train(args) -> None:
    """`repro run <task>-main --scale full` for one seed, with the α grid, epochs and store given."""
    from grokcore import integrity, store

    if args.task not in ("ising", "modadd"):
        raise UsageError(f"unknown task {args.task!r}: expected ising or modadd")
    overrides = {"weight_multipliers": list(args.alphas), "seeds": [args.seed], "train.epochs": args.epochs,
                 "group_size": len(args.alphas),
                 "checkpoint_every": args.checkpoint_every or max(1, args.epochs // 10), **_overrides(args)}
    if args.no_fisher:
        overrides["fisher.enabled"] = False
    _run(f"{args.task}-main", "full", overrides, args.out, args)
    ds = store.open_results(args.out)
    diverged = integrity.cell_states(args.out, check_chunks=False).sel(seed=args.seed) == "diverged"
    epochs = store.diverged_epochs(args.out).sel(seed=args.seed)
    for alpha in ds.alpha.values:
        run = ds.sel(alpha=alpha, seed=args.seed)
        if diverged.sel(alpha=alpha):
            print(f"α = {alpha:g}: diverged at epoch {int(epochs.sel(alpha=alpha))} (θ or loss not finite)")
            continue
        print(f"α = {alpha:g}: final train acc {float(run.train_acc[-1]):.3f}, "
              f"test acc {float(run.test_acc[-1]):.3f}")
    print(f"results: {args.out}")


class ClientOnDemand:
    """Starts (or connects to) a Dask cluster the first time a grid needs one; closes what it started."""

    def __init__(self, args, device: str = "cpu"):
        self.args, self.device, self.client = args, device, None

    def __call__(self):
        from repro.cluster import connect

        if self.client is None:
            a = self.args
            # A cluster that fails to start also logs a warning; the error line below says it all.
            spec_log = logging.getLogger("distributed.deploy.spec")
            level = spec_log.level
            spec_log.setLevel(logging.ERROR)
            try:
                self.client = connect(a.scheduler, a.cluster, a.cluster_config, a.workers, host=a.host,
                                      gpus=a.gpus if self.device == "cuda" else 0)
            except (OSError, RuntimeError) as err:  # unreachable scheduler, host that is no interface of ours
                raise UsageError(f"no Dask cluster: {self._where()}: {err}") from None
            finally:
                spec_log.setLevel(level)
        return self.client

    def _where(self) -> str:
        import os

        a = self.args
        address = a.scheduler or os.environ.get("DASK_SCHEDULER_ADDRESS")
        if address:
            return f"cannot reach the scheduler {address}"
        return f"cannot start the {a.cluster} cluster" + (f" on --host {a.host}" if a.cluster == "local" else "")

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        if self.client is not None:
            cluster = self.client.cluster
            self.client.close()
            if cluster is not None:
                cluster.close()


def _experiments(names, args):
    import dataclasses

    from repro.config import load_experiment

    exps = [load_experiment(name, args.scale) for name in names]
    return [dataclasses.replace(e, device=args.device) if args.device else e for e in exps]


def cmd_run(args) -> None:
    _run(args.experiment, args.scale, _overrides(args), args.store, args)


def _overrides(args) -> dict:
    """The overrides of the command line's named options and --set KEY=VALUE, as TOML key paths."""
    from repro.derive import OPTION_KEYS

    overrides = {key: list(value) if isinstance(value, tuple) else value
                 for option, key in OPTION_KEYS.items() if (value := getattr(args, option, None)) is not None}
    if "train.batch_size" in overrides and overrides["train.batch_size"] == "full":
        overrides["train.batch_size"] = None  # no batch_size key: full batch
    if getattr(args, "checkpoint_every", None) is not None:
        overrides["checkpoint_every"] = args.checkpoint_every
    overrides.update(getattr(args, "set", None) or [])
    return overrides


def _run(source: str, scale: str | None, overrides: dict, store: str | None, args) -> str:
    """Resolve an experiment (packaged name or TOML file, with overrides) and train its grid into a store."""
    import dataclasses

    from repro.derive import resolve, store_name
    from repro.grid import run_experiment

    exp, derivation = resolve(source, scale, overrides)
    if args.device:
        exp = dataclasses.replace(exp, device=args.device)
    store = store or str(Path(args.results_dir) / f"{store_name(exp, derivation)}.zarr")
    with ClientOnDemand(args, exp.device) as client:
        return run_experiment(exp, store, client=client, data_dir=args.data_dir, overwrite=args.overwrite,
                              break_lock=args.break_lock, derivation=derivation)


def cmd_figures(args) -> None:
    from grokcore import store as st
    from repro.figures.pipeline import render_all, write_claims
    from repro.figures.registry import Context

    stores = _figure_stores(getattr(args, "store", None) or [])
    scale = args.scale or _stores_scale(stores)
    out_dir = args.figures_dir or ("figures/custom" if stores else "figures")
    ctx = Context(scale=scale, results_dir=args.results_dir, data_dir=args.data_dir, stores=stores)
    names = args.only.split(",") if args.only else None
    if stores:
        print("stores: " + ", ".join(f"{name} = {path}" for name, path in stores.items()))
    elif names is None and not any(ctx.store_path(name) and st.store_exists(ctx.store_path(name))
                                   for name in experiment_names()):
        raise UsageError(f"nothing to draw: no results stores of scale {scale!r} in {args.results_dir}/; "
                         f"run `repro reproduce --scale {scale}` or `repro run EXPERIMENT --scale {scale}`")
    render_all(ctx, names=names, out_dir=out_dir)
    if names is None:
        write_claims(ctx, out_dir=out_dir)


def _figure_stores(specs: list[str]) -> dict[str, str]:
    """--store [EXPERIMENT=]PATH ... -> {experiment: path}; a bare PATH is the experiment its attributes name."""
    from grokcore import store as st

    stores = {}
    for spec in specs:
        name, sep, path = spec.rpartition("=")
        if not st.store_exists(path):
            raise UsageError(f"--store {spec}: {path} is not a results store")
        name = name if sep else st.read_attrs(path).get("experiment", "")
        if name not in experiment_names():
            raise UsageError(f"--store {spec}: {name!r} is none of the paper's experiments "
                             f"({', '.join(experiment_names())}); write --store EXPERIMENT={path}")
        if name in stores:
            raise UsageError(f"--store: two stores for {name} ({stores[name]}, {path})")
        stores[name] = path
    return stores


def _stores_scale(stores: dict[str, str]) -> str:
    """The scale the figures use for their settings: the stores' common scale, else full."""
    from grokcore import store as st

    if not stores:
        return "quick"
    scales = {st.read_attrs(path).get("scale") for path in stores.values()}
    return next(iter(scales)) if len(scales) == 1 and scales <= set(SCALES) else "full"


def cmd_reproduce(args) -> None:
    from grokcore.store import default_store_path
    from repro.grid import run_experiment

    exps = _experiments(experiment_names(), args)
    with ClientOnDemand(args, exps[0].device) as client:
        for exp in exps:
            store = default_store_path(exp.name, exp.scale, args.results_dir)
            run_experiment(exp, store, client=client, data_dir=args.data_dir, break_lock=args.break_lock)
    args.only = None
    cmd_figures(args)
    figures = args.figures_dir or "figures"  # cmd_figures' default when no --store is given
    print(f"data: {args.data_dir}/  results: {args.results_dir}/  figures and claims: {figures}/{args.scale}/")


def _results_store(path: str) -> None:
    from grokcore import store

    if not store.is_results_store(path):
        raise UsageError(f"{path} is not a results store")


def cmd_status(args) -> None:
    from repro.status import status_lines

    _results_store(args.store)
    print("\n".join(status_lines(args.store)))


def cmd_verify(args) -> None:
    from grokcore import integrity, store
    from grokcore.lease import StoreLease

    _results_store(args.store)
    problems, n_read = integrity.verify_store(args.store)
    if not problems:
        print(f"{args.store}: all {n_read} chunks of the written cells read back intact (CRC-32C checked)")
        return
    for problem in problems:
        print(f"damaged: {problem.describe(args.store)}")
    cells = sorted({p.index for p in problems if p.index is not None})
    if args.reset and cells:
        with StoreLease(args.store, break_lock=args.break_lock):
            store.reset_cells(args.store, cells)
        print(f"{len(cells)} cells marked for retraining: rerun the `repro run` (or `repro train`) that wrote "
              f"{args.store}")
    elif cells:
        print(f"rerun with --reset to mark these {len(cells)} cells for retraining")
    raise UsageError(f"{args.store}: {len(problems)} damaged chunks in {len(cells)} cells"
                     + (" and the coordinates" if any(p.index is None for p in problems) else ""))


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

    figures = sub.add_parser("figures", help="render the figures and the claims report from existing stores")
    figures.add_argument("--only", help="comma-separated figure names, e.g. fig02,fig05 (default: all + claims)")
    figures.add_argument("--store", action="append", metavar="[EXPERIMENT=]PATH",
                         help="draw from this store instead of results/ (repeatable); EXPERIMENT names the "
                         "paper experiment it stands for (default: the one it was derived from)")
    figures.add_argument("--scale", choices=SCALES, help="figure settings (default quick, or the stores' scale)")
    figures.add_argument("--data-dir", default="data", help="where data stores live (default data/)")
    _figure_options(figures)
    figures.set_defaults(func=cmd_figures)

    reproduce = sub.add_parser("reproduce", help="data, every experiment, every figure and the claims report")
    reproduce.add_argument("--scale", choices=SCALES, default="quick", help="experiment scale (default quick)")
    _grid_options(reproduce)
    _figure_options(reproduce)
    reproduce.set_defaults(func=cmd_reproduce)

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
    parser.add_argument("--scheduler", help="address of a running Dask scheduler (else $DASK_SCHEDULER_ADDRESS)")
    parser.add_argument("--cluster", choices=("local", "slurm"), default="local")
    parser.add_argument("--cluster-config", help="TOML file of SLURMCluster settings (with --cluster slurm)")
    parser.add_argument("--workers", type=_positive_int, help="local worker processes (default: one per core)")
    parser.add_argument("--host", default="127.0.0.1", help="interface of the embedded cluster (default loopback)")
    parser.add_argument("--device", choices=("cpu", "cuda"), help="override the experiments' device")
    parser.add_argument("--gpus", type=_positive_int, default=1, help="local GPU workers when --device cuda")
    parser.add_argument("--data-dir", default="data", help="where data stores live (default data/)")
    _lease_option(parser)


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


def _figure_options(parser) -> None:
    parser.add_argument("--results-dir", default=RESULTS_DIR, help="where results stores live (default results/)")
    parser.add_argument("--figures-dir", help="where figures go (default figures/, or figures/custom/ with --store)")


def main(argv: list[str] | None = None) -> None:
    from grokcore.lease import LeaseHeld, LeaseLost
    from repro.figures.pipeline import FiguresMissing
    from repro.figures.registry import MissingResults

    args = build_parser().parse_args(argv)
    try:
        args.func(args)
    except BrokenPipeError:  # e.g. `repro status STORE | head`
        sys.stderr.close()
    except FiguresMissing as err:  # each skipped figure was already named with its reason and command
        print(f"repro: error: {len(err.missing)} figures not drawn (each named above with its reason)",
              file=sys.stderr)
        raise SystemExit(1) from None
    except (UsageError, ValueError, OSError, LeaseHeld, LeaseLost, MissingResults) as err:
        # OSError: unreadable or read-only paths (named in the message), a store whose backend is missing
        print(f"repro: error: {err}", file=sys.stderr)
        raise SystemExit(2) from None
    except KeyboardInterrupt:
        raise SystemExit(130) from None


if __name__ == "__main__":
    main()
