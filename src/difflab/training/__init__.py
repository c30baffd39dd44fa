"""Training: `train` fits a preset (or a flow, or an autoregressive model) to TrainingData.

config.py      TrainConfig: budget, optimiser, precision, data options
fit.py         train: the run directory, the data in the model's units, config.json, resume
prepare.py     scaling, σ_data and σ_max from the data, class moments
state.py       TrainState, one AdamW step, EMA, checkpoint save/restore
loop.py        the loop: budget, logging, progress bar, signals, NaN guard
batches.py     the step's rows (in memory or streamed), a function of (seed, step)
objectives.py  the per-sample loss of each model kind (DSM, maximum likelihood)
distributed.py torchrun / DDP
"""

from ..checkpoint import CHECKPOINT, read_history
from ..data.training import TrainingData, check_labels
from ..models import ModelConfig
from .config import PRECISIONS, TrainConfig
from .fit import train
from .loop import Progress, run_loop
from .prepare import class_moments, data_covariance, prepare_data
from .state import TrainState, ema_update, make_state, still_training

__all__ = [
    "CHECKPOINT",
    "PRECISIONS",
    "ModelConfig",
    "Progress",
    "TrainConfig",
    "TrainState",
    "TrainingData",
    "check_labels",
    "class_moments",
    "data_covariance",
    "ema_update",
    "make_state",
    "prepare_data",
    "read_history",
    "run_loop",
    "still_training",
    "train",
]
