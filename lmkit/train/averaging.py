"""NT-ASGD's averaged weights (Merity et al. 2017), on torch.optim.swa_utils.AveragedModel.

Non-monotonically triggered averaging: training runs as usual until validation has not improved
for `nonmono` evaluations; from then on a running mean of the weights after every optimizer step
is kept beside them, and it is the mean that is validated and saved as the model (the raw weights
keep training). The mean and its count are saved for --resume.
"""
from __future__ import annotations

import torch
from torch.optim.swa_utils import AveragedModel


def should_start_averaging(enabled: bool, averaging: bool, bad_evals: int, nonmono: int) -> bool:
    """The trigger: averaging asked for, not yet started, and `nonmono` evaluations without improvement."""
    return enabled and not averaging and bad_evals >= nonmono


class WeightAverage:
    """The running mean of a model's parameters since averaging started."""

    def __init__(self, model: torch.nn.Module):
        self.averaged = AveragedModel(model)  # a deep copy of the model; its parameters are the mean

    @property
    def model(self) -> torch.nn.Module:
        return self.averaged.module

    @property
    def count(self) -> int:
        return int(self.averaged.n_averaged)

    def update(self, model: torch.nn.Module) -> None:
        """Fold the model's current parameters into the mean: mean += (w - mean) / (count + 1)."""
        self.averaged.update_parameters(model)

    def state_dict(self) -> dict:
        return {name: tensor.detach().cpu() for name, tensor in self.averaged.state_dict().items()}

    def load_state_dict(self, state: dict) -> None:
        self.averaged.load_state_dict(state)
