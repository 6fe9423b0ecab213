"""Dask worker preload for scripts/slurm-test.sh: appends each task the worker finishes to $TASK_LOG_DIR/<job>.tasks,
<job> being the SLURM job the worker runs in, so that the test can tell which job trained which cells."""

import os

from distributed.diagnostics.plugin import WorkerPlugin


class TaskLog(WorkerPlugin):
    """Writes `key` to the job's file when the task reaches memory (it returned)."""

    def __init__(self, path: str):
        self.path = path

    def transition(self, key, start, finish, **kwargs):
        if finish == "memory":
            with open(self.path, "a") as log:
                log.write(f"{key}\n")


async def dask_setup(worker):
    job = os.environ.get("SLURM_JOB_ID", "no-slurm-job")
    await worker.plugin_add(TaskLog(os.path.join(os.environ["TASK_LOG_DIR"], f"{job}.tasks")), name="task-log")
