"""Tests of the Dask client set-up: worker environment, the embedded cluster, SLURM job scripts."""

import os

import dask
import pytest

from repro.cluster import WORKER_ENV, configure_workers, connect, connected, slurm_cluster


def test_worker_environment_drops_malloc_trim_and_pins_one_thread():
    configure_workers()
    environ = dask.config.get("distributed.nanny.pre-spawn-environ")
    assert "MALLOC_TRIM_THRESHOLD_" not in environ and environ["OMP_NUM_THREADS"] == "1"
    assert dask.config.get("distributed.scheduler.worker-saturation") == 1.0


def test_embedded_cluster_listens_on_loopback_only_and_pins_worker_threads():
    with connected(n_workers=1, dashboard_address=None) as client:
        assert client.scheduler.address.startswith("tcp://127.0.0.1:")
        env = next(iter(client.run(lambda: dict(__import__("os").environ)).values()))
        assert all(env[key] == value for key, value in WORKER_ENV.items())
        cluster = client.cluster
    # the client first, then the cluster it started
    assert client.status == "closed" and cluster.status.name == "closed"
    # the client process keeps its own Monte Carlo threads (the nanny leaks pre-spawn variables into it)
    assert "NUMBA_NUM_THREADS" not in os.environ or os.environ["NUMBA_NUM_THREADS"] != "1"


def test_unknown_cluster_is_named():
    with pytest.raises(ValueError, match="unknown cluster 'pbs'"):
        connect(cluster="pbs")


def test_slurm_job_script_from_config(tmp_path):
    config = tmp_path / "slurm.toml"
    config.write_text('[cluster]\nqueue = "cpu"\naccount = "proj"\ncores = 1\nmemory = "4GB"\n'
                      'walltime = "01:00:00"\njob_script_prologue = ["source /opt/venv/bin/activate"]\n\n'
                      "[scale]\njobs = 0\n")
    cluster = slurm_cluster(str(config))
    try:
        script = cluster.job_script()
    finally:
        cluster.close()
    assert "#SBATCH -p cpu" in script and "#SBATCH -A proj" in script
    assert "source /opt/venv/bin/activate" in script
    assert all(f"export {key}={value}" in script for key, value in WORKER_ENV.items())


def test_slurm_needs_a_readable_config(tmp_path):
    with pytest.raises(ValueError, match="needs --cluster-config"):
        slurm_cluster(None)
    with pytest.raises(ValueError, match="is not a readable file"):
        slurm_cluster(str(tmp_path / "absent.toml"))
