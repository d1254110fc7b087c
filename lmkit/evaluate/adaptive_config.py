"""The options of the evaluation regimes beyond the static model (neural cache, dynamic evaluation, memory): one
dataclass, one place.

The cache and dynamic evaluation adapt to the test text as they read it (past
tokens only, never future ones); the memory reads the train text at every
prediction. So their figures are separate evaluation regimes, never the model's
perplexity. A setting left at None is tuned on the valid split from the grid
beside it.
"""
from __future__ import annotations

from dataclasses import dataclass

from lmkit.config.settings import check_settings, setting

THETA_GRID = (0.01, 0.03, 0.1, 0.3, 1.0, 3.0)              # cache flatness θ, tried on valid
LAMBDA_GRID = (0.0, 0.05, 0.1, 0.15, 0.2, 0.3, 0.4, 0.5)   # cache weight λ, tried on valid
DYNAMIC_LR_GRID = (1e-5, 3e-5, 1e-4, 3e-4, 1e-3, 3e-3)     # dynamic-evaluation learning rates, tried on valid
MEMORY_NEIGHBOURS_GRID = (64, 256, 1024)                   # memory: neighbours that vote, tried on valid
MEMORY_TEMPERATURE_GRID = (0.1, 0.3, 1.0, 3.0, 10.0, 30.0, 100.0)  # memory: vote flatness, tried on valid
MEMORY_WEIGHT_GRID = (0.05, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7)     # memory: its share of the prediction, tried on valid
RMS_FLOOR = 0.2   # dynamic evaluation's ε as a fraction of the mean RMS gradient (lmkit.evaluate.dynamic)

# each regime's key in the figures -> (the option that asks for it, the models that can run it)
REGIMES = {
    "cache": ("--cache", "a left-to-right neural model (lstm, gru, rnn_tanh, rnn_relu)"),
    "dynamic": ("--dynamic", "a left-to-right model trained by gradients (lstm, gru, rnn_tanh, rnn_relu, scratch-rnn)"),
    "memory": ("--memory", "a left-to-right neural model (lstm, gru, rnn_tanh, rnn_relu)"),
}


@dataclass
class AdaptiveConfig:
    cache: int | None = setting(None, "Neural cache (Grave et al. 2016) over the last N hidden states, reported "
                                "apart from the static figures (RNNLM models).", low=1, high=2**20)
    cache_theta: float | None = setting(None, "Cache flatness θ [default: tuned on valid].", low=0, low_open=True,
                                        high=1e4)
    cache_lambda: float | None = setting(None, "Cache weight λ in (1-λ) p_model + λ p_cache [default: tuned on "
                                         "valid].", low=0, high=1, high_open=True)
    dynamic: bool = setting(False, "Dynamic evaluation (Krause et al. 2018): a gradient step on each scored "
                            "segment, reported apart from the static figures (recurrent models).")
    dynamic_lr: float | None = setting(None, "Dynamic-evaluation learning rate [default: tuned on valid].",
                                       low=0, low_open=True, high=10)
    dynamic_decay: float = setting(0.01, "Dynamic evaluation: pull toward the saved weights per step.", low=0, high=1)
    dynamic_segment: int = setting(32, "Dynamic evaluation: tokens scored before each update.", low=1, high=2**16)
    memory: bool = setting(False, "kNN-LM (Khandelwal et al. 2020): the places of the train split whose features "
                           "(what the softmax reads) lie nearest vote for the token that came there, mixed into each "
                           "prediction; reported apart from the static figures (left-to-right neural models).")
    memory_neighbours: int | None = setting(None, "Memory: how many nearest places vote [default: tuned on valid].",
                                            low=1, high=2**20)
    memory_temperature: float | None = setting(None, "Memory: each vote is exp(-squared distance / this) [default: "
                                               "tuned on valid].", low=1e-3, high=1e6)
    memory_weight: float | None = setting(None, "Memory: its share of the prediction [default: tuned on valid].",
                                          low=0, high=1, low_open=True, high_open=True)
    tune_tokens: int = setting(20_000, "Tokens of the valid split used to tune the regimes (dynamic evaluation "
                               "also measures its mean squared gradients on as many train tokens).", low=2,
                               high=2**40)

    def validate(self) -> None:
        check_settings(self)

    @property
    def any(self) -> bool:
        return bool(self.asked())

    def asked(self) -> list[str]:
        """The regimes asked for, by their keys in REGIMES and in the figures."""
        on = {"cache": self.cache is not None, "dynamic": self.dynamic, "memory": self.memory}
        return [regime for regime in REGIMES if on[regime]]

    def needs_tuning(self) -> bool:
        cache_tuning = (self.cache is not None and self.cache_lambda != 0  # at λ 0 the cache is off: θ is moot
                        and (self.cache_theta is None or self.cache_lambda is None))
        memory_tuning = self.memory and None in (self.memory_neighbours, self.memory_temperature, self.memory_weight)
        return cache_tuning or (self.dynamic and self.dynamic_lr is None) or memory_tuning
