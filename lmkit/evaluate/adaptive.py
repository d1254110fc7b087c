"""Running the adaptive regimes on a loaded model: tune on the valid text, then score the test text.

Each regime's figures carry a label that says it adapts to the text it has read,
and travel under their own key, apart from the static evaluation. Both regimes
read the test text as one stream, so each carries beside its own figures the
static model's read the same way ("static"): the static evaluation's default
16 rows restart the state 16 times, which on a short text alone looks like a
gain of several percent.
"""
from __future__ import annotations

from dataclasses import replace
from typing import Callable

import numpy as np

from lmkit.evaluate import cache as neural_cache
from lmkit.evaluate import dynamic as dynamic_eval
from lmkit.evaluate.adaptive_config import DYNAMIC_LR_GRID, LAMBDA_GRID, THETA_GRID, AdaptiveConfig
from lmkit.evaluate.perplexity import stream_logprobs, summarize
from lmkit.evaluate.text import EvalText, is_backward

CACHE_LABEL = "neural cache (adapts to the test text it has read)"
DYNAMIC_LABEL = "dynamic evaluation (adapts to the test text it has read)"


SETTING_KEYS = ("size", "theta", "lambda", "lr", "decay", "segment")


def chosen_settings(figures: dict) -> str:
    """What a regime used, for people: "size 100, theta 0.3, lambda 0.1" (counts in full, unset ones left out)."""
    return ", ".join(f"{k} {figures[k]}" if isinstance(figures[k], int) else f"{k} {figures[k]:g}"
                     for k in SETTING_KEYS if figures.get(k) is not None)


def tuning_source(figures: dict) -> str | None:
    """Which of a regime's settings were tuned, and on what: "theta and lambda tuned on tang300 valid"."""
    if not figures.get("tuned_on"):
        return None
    return f"{' and '.join(figures.get('tuned') or ())} tuned on {figures['tuned_on']}".lstrip()


def check_support(model, kind: str | None, options: AdaptiveConfig) -> None:
    if options.cache is not None:
        neural_cache.require_cache_support(model, kind)
    if options.dynamic:
        dynamic_eval.require_dynamic_support(model, kind)


def supported(model, options: AdaptiveConfig) -> AdaptiveConfig:
    """`options` without the regimes `model` cannot run (a report shows those cells empty instead of refusing)."""
    cache = options.cache if neural_cache.supports_cache(model) else None
    return replace(options, cache=cache, dynamic=options.dynamic and dynamic_eval.supports_dynamic(model))


def run_cache(model, streams: dict, text: EvalText, tune_label: str | None, options: AdaptiveConfig,
              rows: int, window: int, device) -> dict:
    theta, lam = options.cache_theta, options.cache_lambda
    # a given lambda 0 is the static model: the cache's theta changes nothing, and is neither tuned nor shown
    tuned = [name for name, value in (("theta", theta), ("lambda", lam)) if value is None and lam != 0]
    if tuned:
        tune = neural_cache.read_pointers(model, streams["tune"], 1, window, device)
        theta, lam = neural_cache.tune_cache(tune, options.cache, [theta] if theta else THETA_GRID,
                                             [lam] if lam is not None else LAMBDA_GRID)
    test = neural_cache.read_pointers(model, streams["test"], 1, window, device)
    p_cache = neural_cache.cache_probs(test, theta, options.cache) if lam else 0.0
    logp = neural_cache.mix_logp(test.model_logp, p_cache, lam)
    return {"label": CACHE_LABEL, "size": options.cache, "theta": theta, "lambda": lam,
            "tuned": tuned, "tuned_on": tune_label if tuned else None,
            "evaluation": summarize(streams["test"], logp, text.chars).to_dict()}


def run_dynamic(model, streams: dict, text: EvalText, labels: dict, options: AdaptiveConfig, device) -> dict:
    segment, decay = options.dynamic_segment, options.dynamic_decay
    ms = dynamic_eval.mean_squares(model, streams["grads"], segment, device)
    lr = options.dynamic_lr
    if lr is None:
        lr = dynamic_eval.tune_dynamic_lr(model, streams["tune"], ms, decay, segment, DYNAMIC_LR_GRID, device)
    logp = dynamic_eval.dynamic_logprobs(model, streams["test"], ms, lr, decay, segment, device)
    return {"label": DYNAMIC_LABEL, "lr": lr, "decay": decay, "segment": segment,
            "mean_squares_from": labels["grads"], "tuned": ["lr"] if options.dynamic_lr is None else [],
            "tuned_on": labels["tune"] if options.dynamic_lr is None else None,
            "evaluation": summarize(streams["test"], logp, text.chars).to_dict()}


def evaluate_adaptive(member, text: EvalText, split_text: Callable[[str], EvalText], options: AdaptiveConfig,
                      rows: int = 16, window: int = 256, device="cpu") -> dict:
    """{"cache": {...}, "dynamic": {...}} for the regimes `options` asks for (refused first where unsupported).

    `split_text("valid")` is the text settings are tuned on (its first `tune_tokens` tokens), and
    `split_text("train")` the text dynamic evaluation measures its mean squared gradients on (as many
    tokens, spread over it), as Krause et al. do: measured on the tuning text itself, MS fits exactly the
    gradients the tuning then sees, and the LR chosen there was too large for the test text (a word
    LSTM: tuned 3e-3, test perplexity 83.7 -> 364; with MS from train, tuned 3e-4, 83.7 -> 76.7).
    """
    check_support(member.model, member.config.get("kind"), options)
    member.model.to(device)
    reverse = is_backward(member.config)
    streams, labels = {"test": text.stream(member.tokenizer, reverse=reverse)}, {"tune": None, "grads": None}

    def ids(source: EvalText) -> np.ndarray:
        return np.asarray(source.stream(member.tokenizer, reverse=reverse))

    if options.needs_tuning():
        tune = split_text("valid")
        streams["tune"], labels["tune"] = ids(tune)[: options.tune_tokens], tune.label
    if options.dynamic:
        train = split_text("train")
        streams["grads"], labels["grads"] = spread_sample(ids(train), options.tune_tokens), train.label
    result = {}
    if options.cache is not None:
        result["cache"] = run_cache(member.model, streams, text, labels["tune"], options, rows, window, device)
    if options.dynamic:
        result["dynamic"] = run_dynamic(member.model, streams, text, labels, options, device)
    static = stream_logprobs(member.model, streams["test"], rows=1, window=window, device=device)  # as they read it
    for figures in result.values():
        figures["static"] = summarize(streams["test"], static, text.chars).to_dict()
    return result


def spread_sample(stream: np.ndarray, tokens: int, pieces: int = 20) -> np.ndarray:
    """About `tokens` tokens of `stream` in `pieces` runs spaced evenly over it (all of it if shorter)."""
    if len(stream) <= tokens:
        return stream
    size = max(1, tokens // pieces)
    starts = np.linspace(0, len(stream) - size, pieces).astype(int)
    return np.concatenate([stream[start:start + size] for start in starts])
