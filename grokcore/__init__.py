"""grokcore: the science of 'Grokking vs. Learning' (data, models, training, Fisher, measures, storage).

The public API is listed in `__all__`; the measures live in `grokcore.measures.<family>` (curves, fourier,
ising_features, pruning, geometry, llc) and their lazy, store-level forms in `grokcore.measures.lazy`.
"""

from grokcore.data import (
    IsingParams,
    TaskData,
    import_authors_pickle,
    ising_task_data,
    load_or_generate_ising,
    modadd_task_data,
)
from grokcore.fisher import fim_diag, fisher_samples
from grokcore.integrity import cell_states, without_diverged
from grokcore.models import build_model, model_at, n_params, param_tensor_names, scaled_init
from grokcore.reference_store import open_reference
from grokcore.seeds import RunSeeds
from grokcore.store import open_results
from grokcore.train import EnsembleTrainer, TrainConfig

__all__ = [
    "EnsembleTrainer",
    "IsingParams",
    "RunSeeds",
    "TaskData",
    "TrainConfig",
    "build_model",
    "cell_states",
    "fim_diag",
    "fisher_samples",
    "import_authors_pickle",
    "ising_task_data",
    "load_or_generate_ising",
    "model_at",
    "modadd_task_data",
    "n_params",
    "open_reference",
    "open_results",
    "param_tensor_names",
    "scaled_init",
    "without_diverged",
]
