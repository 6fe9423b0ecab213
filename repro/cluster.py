"""Dask clients: an existing scheduler, an embedded LocalCluster, or SLURM through dask-jobqueue."""

from __future__ import annotations

import os
import tomllib
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

import dask

if TYPE_CHECKING:
    from distributed import Client

# Workers run one single-threaded task at a time. The nanny's default pre-spawn environment also sets
# MALLOC_TRIM_THRESHOLD_, which made torch training in workers 1.8-3× slower (engineering notes); ours drops it.
# The nanny applies pre-spawn variables to its *own* process too (os.environ.update before spawning), so
# NUMBA_NUM_THREADS, which would cap the client's Monte Carlo threads, is set inside the workers only.
PRE_SPAWN_ENV = {"OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1"}
WORKER_ONLY_ENV = {"NUMBA_NUM_THREADS": "1"}
WORKER_ENV = {**PRE_SPAWN_ENV, **WORKER_ONLY_ENV}
CLUSTERS = ("local", "slurm")


def configure_workers() -> None:
    """Set the worker environment and scheduling policy before any cluster is created."""
    dask.config.set({"distributed.nanny.pre-spawn-environ": dict(PRE_SPAWN_ENV),
                     "distributed.nanny.environ": dict(WORKER_ONLY_ENV),
                     "distributed.worker.daemon": False,
                     # The default 1.1 lets a one-thread worker take two tasks at once while another worker
                     # idles; our tasks run for minutes to hours, so hand out exactly one per thread.
                     "distributed.scheduler.worker-saturation": 1.0})


def connect(scheduler: str | None = None, cluster: str = "local", cluster_config: str | None = None,
            n_workers: int | None = None, host: str = "127.0.0.1", dashboard_address: str | None = ":8787",
            gpus: int = 0):
    """A distributed.Client: to `scheduler` or $DASK_SCHEDULER_ADDRESS if set, else a new cluster.

    The embedded LocalCluster has one single-threaded worker process per core and listens on `host`
    (loopback unless asked otherwise). `gpus` > 0 gives each local worker a Dask resource GPU=1. The client is
    not dask's default scheduler: the cluster runs the tasks submitted to it, and lazy arrays of this process
    (the figure pass reads the stores lazily) are computed here.
    """
    from distributed import Client, LocalCluster

    configure_workers()
    address = scheduler or os.environ.get("DASK_SCHEDULER_ADDRESS")
    if address:
        return Client(address, set_as_default=False)
    if cluster not in CLUSTERS:
        raise ValueError(f"unknown cluster {cluster!r}: expected one of {', '.join(CLUSTERS)}")
    if cluster == "slurm":
        return Client(slurm_cluster(cluster_config), set_as_default=False)
    n = n_workers or (gpus if gpus > 0 else os.cpu_count() or 1)
    if dashboard_address and dashboard_address.startswith(":"):
        dashboard_address = f"{host}{dashboard_address}"
    local = LocalCluster(n_workers=n, threads_per_worker=1, processes=True, host=host,
                         dashboard_address=dashboard_address, resources={"GPU": 1} if gpus > 0 else None)
    return Client(local, set_as_default=False)


def disconnect(client: Client) -> None:
    """Close `client`, then the cluster it was given (none for a running scheduler): in that order, so that no
    heartbeat of the client reaches a scheduler already closed (a CommClosedError traceback at exit)."""
    cluster = client.cluster
    client.close()
    if cluster is not None:
        cluster.close()


@contextmanager
def connected(*args, **kwargs) -> Iterator[Client]:
    """`connect(*args, **kwargs)` for a with block, disconnected at its end (`disconnect`)."""
    client = connect(*args, **kwargs)
    try:
        yield client
    finally:
        disconnect(client)


def slurm_cluster(config_file: str | None):
    """A dask-jobqueue SLURMCluster from a TOML file: a [cluster] table of SLURMCluster keywords and
    an optional [scale] table of `cluster.scale` keywords (see README, "Scale-out")."""
    if config_file is None:
        raise ValueError("--cluster slurm needs --cluster-config FILE (a TOML file of SLURMCluster settings)")
    path = Path(config_file)
    if not path.is_file():
        raise ValueError(f"cluster config {config_file!r} is not a readable file")
    settings = tomllib.loads(path.read_text())
    from dask_jobqueue import SLURMCluster

    kwargs = settings.get("cluster", {})
    env = [f"export {k}={v}" for k, v in WORKER_ENV.items()]
    kwargs["job_script_prologue"] = env + list(kwargs.get("job_script_prologue", []))
    slurm = SLURMCluster(**kwargs)
    slurm.scale(**settings.get("scale", {"jobs": 1}))
    return slurm
