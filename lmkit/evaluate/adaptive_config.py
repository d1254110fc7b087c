"""The options of the adaptive evaluation regimes (neural cache, dynamic evaluation): one dataclass, one place.

These regimes adapt to the test text as they read it (past tokens only, never
future ones), so their figures are a separate evaluation regime, never the
model's perplexity. A setting left at None is tuned on the valid split from the
grid beside it.
"""
from __future__ import annotations

from dataclasses import dataclass

from lmkit.config.settings import check_settings, setting

THETA_GRID = (0.01, 0.03, 0.1, 0.3, 1.0, 3.0)              # cache flatness θ, tried on valid
LAMBDA_GRID = (0.0, 0.05, 0.1, 0.15, 0.2, 0.3, 0.4, 0.5)   # cache weight λ, tried on valid
DYNAMIC_LR_GRID = (1e-5, 3e-5, 1e-4, 3e-4, 1e-3, 3e-3)     # dynamic-evaluation learning rates, tried on valid
RMS_FLOOR = 0.2   # dynamic evaluation's ε as a fraction of the mean RMS gradient (lmkit.evaluate.dynamic)


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
    tune_tokens: int = setting(20_000, "Tokens of the valid split used to tune the regimes (dynamic evaluation "
                               "also measures its mean squared gradients on as many train tokens).", low=2,
                               high=2**40)

    def validate(self) -> None:
        check_settings(self)

    @property
    def any(self) -> bool:
        return self.cache is not None or self.dynamic

    def needs_tuning(self) -> bool:
        cache_tuning = self.cache is not None and (self.cache_theta is None or self.cache_lambda is None)
        return cache_tuning or (self.dynamic and self.dynamic_lr is None)
