"""The `repro` commands: what each subcommand does with its parsed arguments (repro.cli parses them)."""

from __future__ import annotations

import logging
from pathlib import Path

from repro.config import SCALES, experiment_names


class UsageError(Exception):
    """A bad command-line value; printed as one line, never as a traceback."""



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
        from repro.cluster import disconnect

        if self.client is not None:
            disconnect(self.client)


def _experiments(names, args):

    from repro.config import load_experiment

    return [_laid_out(load_experiment(name, args.scale), args) for name in names]


def _laid_out(exp, args):
    """`exp` with the command line's --device and --seed-group-size: how its grid runs, not what it computes."""
    import dataclasses

    changes = {"device": args.device, "seed_group_size": getattr(args, "seed_group_size", None)}
    changes = {key: value for key, value in changes.items() if value is not None}
    return dataclasses.replace(exp, **changes) if changes else exp


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

    from repro.derive import resolve, store_name
    from repro.grid import run_experiment

    exp, derivation = resolve(source, scale, overrides)
    exp = _laid_out(exp, args)
    store = store or str(Path(args.results_dir) / f"{store_name(exp, derivation)}.zarr")
    with ClientOnDemand(args, exp.device) as client:
        return run_experiment(exp, store, client=client, data_dir=args.data_dir, overwrite=args.overwrite,
                              break_lock=args.break_lock, derivation=derivation)


def cmd_figures(args) -> None:
    with ClientOnDemand(args) as client:
        _figures(args, client)


def _figures(args, client: ClientOnDemand) -> None:
    """Render the figures and the claims; their expensive derived data are tasks on `client`'s cluster, which
    starts only when one is needed."""
    from grokcore import store as st
    from repro.figures.pipeline import render_all, write_claims
    from repro.figures.registry import Context

    stores = _figure_stores(getattr(args, "store", None) or [])
    scale = args.scale or _stores_scale(stores)
    out_dir = args.figures_dir or ("figures/custom" if stores else "figures")
    reference = _figure_reference(args, scale, stores)
    ctx = Context(scale=scale, results_dir=args.results_dir, data_dir=args.data_dir, stores=stores, client=client,
                  reference_dir=reference)
    names = args.only.split(",") if args.only else None
    if stores:
        print("stores: " + ", ".join(f"{name} = {path}" for name, path in stores.items()))
    elif reference is not None:
        print(f"drawing from the reference results in {Path(reference) / scale}/ (no results stores are read)")
    elif names is None and not any(ctx.store_path(name) and st.store_exists(ctx.store_path(name))
                                   for name in experiment_names()):
        raise UsageError(f"nothing to draw: no results stores of scale {scale!r} in {args.results_dir}/; "
                         f"run `repro reproduce --scale {scale}` or `repro run EXPERIMENT --scale {scale}`")
    render_all(ctx, names=names, out_dir=out_dir)
    if names is None:
        write_claims(ctx, out_dir=out_dir)


def _figure_reference(args, scale: str, stores: dict[str, str]) -> str | None:
    """The reference folder (holding <scale>/) that --reference [DIR] draws from, None without it; a usage error
    with --store or where it holds no reference results of the scale."""
    from grokcore.reference_store import SUFFIX, reference_folder

    if getattr(args, "reference", None) is None:
        return None
    if stores:
        raise UsageError("--reference and --store: draw from one or the other")
    folder = reference_folder(scale, args.reference or None)
    if not list(folder.glob(f"*{SUFFIX}")):
        raise UsageError(f"nothing to draw: no reference results of scale {scale!r} in {folder}/; write them with "
                         f"`repro reference --scale {scale}`")
    return str(folder.parent)


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
        _figures(args, client)  # on the cluster that trained
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


def cmd_reference(args) -> None:
    """Reduce every finished store of a scale (or those --only names; or with --merge, an experiment's parts) into
    <reference-dir>/<scale>/, beside that scale's figures, Table 1, claims and a provenance file. The figures and
    claims are drawn first, and each reference file records the derived values that pass read, so that `repro
    figures --reference` draws them again without the stores; reducing reuses the pass's numbers (no second pruning
    or LLC pass). With --part, a seed-chunk store is reduced into a part instead (repro.parts)."""
    from grokcore.reference_store import reference_folder, reference_path, write_reference
    from repro.reference import copy_figures, provenance_text, reduce_experiment

    if args.part:
        return _reference_part(args)
    ctx, finished, present = _merged_parts(args) if args.merge else _finished_stores(args)
    recorded = _figure_pass(ctx, finished, present, args.figures_dir, args.reference_dir)
    written = [write_reference(reduce_experiment(ctx, name), reference_path(name, args.scale, args.reference_dir),
                               recorded[name]) for name in finished]
    for path in written:
        print(f"reference: {path} ({path.stat().st_size / 1e3:.0f} kB)")
    folder = reference_folder(args.scale, args.reference_dir)
    figures = Path(args.figures_dir) / args.scale
    copied = copy_figures(figures, folder)
    (folder / "provenance.txt").write_text(provenance_text(args.scale, folder, copied))
    print(f"{len(copied)} figure and claims files copied from {figures}/; provenance: {folder / 'provenance.txt'}")


def _finished_stores(args):
    """A Context over the scale's results stores, and the experiments (of --only) whose stores are finished."""
    from repro.figures.registry import Context, MissingResults

    names = args.only.split(",") if args.only else experiment_names()
    unknown = [name for name in names if name not in experiment_names()]
    if unknown:
        raise UsageError(f"--only {args.only}: {', '.join(unknown)} is none of the paper's experiments "
                         f"({', '.join(experiment_names())})")
    ctx = Context(scale=args.scale, results_dir=args.results_dir, data_dir=args.data_dir)
    finished = []
    for name in experiment_names():
        try:
            ctx.results(name)
            finished.append(name)
        except MissingResults as err:
            if name in names:
                print(f"skipped {name}: {err}")
    if not set(finished) & set(names):
        raise UsageError(f"nothing to reduce: no finished results store of scale {args.scale!r} in "
                         f"{args.results_dir}/; run `repro reproduce --scale {args.scale}`")
    return ctx, [name for name in finished if name in names], finished


def _merged_parts(args):
    """A Context whose results of --merge are its parts' metrics, merged, with their recorded values preloaded."""
    from repro.figures.registry import Context
    from repro.parts import merged_values

    merged = merged_values(args.merge, args.scale, args.reference_dir)
    ctx = Context(scale=args.scale, results_dir=args.results_dir, data_dir=args.data_dir,
                  metrics_only={args.merge: merged.recomputed})
    ctx.preload(merged.values)
    print(f"{args.merge}: merged from the parts of {merged.summary}")
    if merged.left_out:
        print(f"{args.merge}: left out, as not every part recorded them (a figure or claim reading one stops on it): "
              + "; ".join(merged.left_out))
    return ctx, [args.merge], [args.merge]


def _figure_pass(ctx, finished: list[str], present: list[str], figures_dir: str | None, reference_dir: str | None,
                 claims_dir: str | None = None) -> dict[str, dict]:
    """Draw every figure and the claims from `ctx` (the experiments not `present` as stores from the references
    reduced before) into figures_dir (None: draw the figures only for what they read, the claims into claims_dir);
    {experiment: the derived values read} of each of `finished`."""
    from repro.figures.pipeline import render_all, write_claims

    _read_reduced_before(ctx, reference_dir, unfinished=[n for n in experiment_names() if n not in present])
    render_all(ctx, out_dir=figures_dir, strict=False)
    write_claims(ctx, out_dir=claims_dir or figures_dir)
    return {name: ctx.derived(name) for name in finished}  # before reducing adds what no figure reads


def _reference_part(args) -> None:
    """The part of a chunk store (--part [EXPERIMENT=]STORE), from a figure pass on it alone."""
    import tempfile

    from repro.figures.registry import Context
    from repro.parts import SPLITS, missing, read_parts, split_of, values_text, write_part

    stores = _figure_stores([args.part])
    (name, store), = stores.items()
    ctx = Context(scale=args.scale, data_dir=args.data_dir, stores=stores)
    attrs = ctx.results(name).attrs
    if attrs["scale"] != args.scale:
        raise UsageError(f"--part {args.part}: {store} is of scale {attrs['scale']!r}, not {args.scale!r}")
    try:
        split_of(attrs["config"], name, args.scale)  # before the figure pass: one line, not hours later
    except ValueError as error:
        raise UsageError(f"--part {args.part}: {error}") from None
    failure = None
    with tempfile.TemporaryDirectory() as claims:  # one chunk's figures: drawn for what they read, not shipped
        try:
            _figure_pass(ctx, [name], [name], None, args.reference_dir, claims_dir=claims)
        except Exception as error:  # the store is hours of training, lost with the session: keep what was read
            failure = f"the figure pass failed ({type(error).__name__}: {error})"
    try:
        path = write_part(ctx, name, args.reference_dir)
    except Exception as error:
        if failure is None:
            raise
        raise UsageError(f"--part {args.part}: {failure}, then writing its part failed too "
                         f"({type(error).__name__}: {error})") from error
    print(f"part: {path} ({path.stat().st_size / 1e3:.0f} kB)")
    if failure:
        raise UsageError(f"--part {args.part}: {failure}; its part was written ({path}), but values the pass would "
                         f"have read after the failure may be missing: `--merge` names any it needs")
    parts = read_parts(name, args.scale, args.reference_dir)
    absent = missing(parts, name, args.scale)
    what = SPLITS[parts[0].split].replace("_", " ")
    print(f"{name}: {what} {values_text(parts[0].split, absent)} still missing" if absent else
          f"{name}: every one of its {what} is in a part: merge them with `repro reference --scale {args.scale} "
          f"--merge {name}`")


def _read_reduced_before(ctx, reference_dir: str | None, unfinished: list[str]) -> None:
    """Let `ctx` read each experiment of `unfinished` from its reference at ctx.scale (reduced by an earlier pass,
    maybe on another machine), else from its STAND_IN_SCALE reference, so that the figures and claims that also
    read an experiment being reduced record its values (Context.stand_ins)."""
    from grokcore.reference_store import reference_path
    from repro.figures.registry import STAND_IN_SCALE

    stand_ins = set()
    for name in unfinished:
        path = reference_path(name, ctx.scale, reference_dir)
        if not path.is_file():
            path = reference_path(name, STAND_IN_SCALE, reference_dir)
            if not path.is_file():
                continue
            stand_ins.add(name)
        ctx.references[name] = str(path)
        print(f"{name}: read from {path}" + (" (a stand-in: figures reading it are not kept)" * (name in stand_ins)))
    ctx.stand_ins = frozenset(stand_ins)


def cmd_compare(args) -> None:
    """A user's store, reduced as the reference is, next to the reference of its experiment."""
    from grokcore import store as st
    from grokcore.reference_store import open_reference, reference_path
    from repro.figures.registry import Context
    from repro.reference import compare_lines, reduce_experiment, short_revisions

    _results_store(args.store)
    experiment = args.experiment or st.read_attrs(args.store).get("experiment", "")
    if experiment not in experiment_names():
        raise UsageError(f"{args.store}: {experiment!r} is none of the paper's experiments "
                         f"({', '.join(experiment_names())}); name the one it stands for with --experiment")
    reference = open_reference(experiment, args.scale, args.reference_dir)
    stores = {experiment: args.store}
    ctx = Context(scale=_stores_scale(stores), data_dir=args.data_dir, stores=stores)
    yours = reduce_experiment(ctx, experiment)
    path = reference_path(experiment, args.scale, args.reference_dir)
    trained = short_revisions(reference.attrs["store_git_revision"], 7)
    print(f"{experiment}: yours {args.store} (scale {yours.attrs['scale']}) against {path} (scale "
          f"{reference.attrs['scale']}, trained at git {trained}, reduced {reference.attrs['created']})")
    print("\n".join(compare_lines(yours, reference)))
