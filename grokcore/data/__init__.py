"""Data sets of the two tasks: Ising snapshots from Glauber Monte Carlo, and modular addition mod 113."""

from grokcore.data.ising import (
    CRITICAL_TEMPERATURE,
    IsingParams,
    generate_ising,
    ising_energy,
    ising_split,
    magnetization,
)
from grokcore.data.ising_io import (
    import_authors_pickle,
    ising_store_path,
    ising_summary,
    load_or_generate_ising,
)
from grokcore.data.modadd import modadd_dataset, modadd_split
from grokcore.data.task import TaskData, ising_task_data, modadd_task_data

__all__ = [
    "CRITICAL_TEMPERATURE",
    "IsingParams",
    "TaskData",
    "generate_ising",
    "import_authors_pickle",
    "ising_energy",
    "ising_split",
    "ising_store_path",
    "ising_summary",
    "ising_task_data",
    "load_or_generate_ising",
    "magnetization",
    "modadd_dataset",
    "modadd_split",
    "modadd_task_data",
]
