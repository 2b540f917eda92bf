"""Optimisers and learning-rate schedulers, shaped like torch.optim.

    from convpool import optim
    opt = optim.AdamW(model.parameters(), lr=1e-3)
    sched = optim.lr_scheduler.OneCycleLR(opt, max_lr=1e-2, total_steps=1000)

Every update follows torch.optim's formulas; see each module's docstring.
"""

from . import lr_scheduler
from .adadelta import Adadelta
from .adagrad import Adagrad
from .adam import Adam, AdamW
from .optimizer import Optimizer, merge_state_dict, split_state_dict
from .rmsprop import RMSprop
from .sgd import SGD

__all__ = ["Optimizer", "SGD", "Adam", "AdamW", "RMSprop", "Adagrad", "Adadelta", "lr_scheduler",
           "split_state_dict", "merge_state_dict"]
