"""Running the regimes beyond the static model on a loaded model: tune on the valid text, then score the test text.

Each regime's figures carry a label that says what more than the model it reads
(the test text already scored, or the train text), and travel under their own
key, apart from the static evaluation. Every regime reads the test text as one
stream, so each carries beside its own figures the static model's read the same
way ("static"): the static evaluation's default 16 rows restart the state 16
times, which on a short text alone looks like a gain of several percent.
"""
from __future__ import annotations

import math
from dataclasses import replace
from typing import Callable

import numpy as np
import torch

from lmkit.evaluate import cache as neural_cache
from lmkit.evaluate import dynamic as dynamic_eval
from lmkit.evaluate import memory as neighbour_memory
from lmkit.evaluate.adaptive_config import (DYNAMIC_LR_GRID, LAMBDA_GRID, MEMORY_NEIGHBOURS_GRID,
                                            MEMORY_TEMPERATURE_GRID, MEMORY_WEIGHT_GRID, THETA_GRID, AdaptiveConfig)
from lmkit.evaluate.perplexity import ROWS, WINDOW, Progress, stream_logprobs, summarize
from lmkit.errors import ConfigError
from lmkit.evaluate.text import EvalText, is_backward

CACHE_LABEL = "neural cache (adapts to the test text it has read)"
DYNAMIC_LABEL = "dynamic evaluation (adapts to the test text it has read)"
MEMORY_LABEL = "kNN-LM memory (reads the train text at every prediction, not the test text)"
MEMORY_ROWS = ROWS  # the train split is read as one stream in this many pieces, as the static evaluation reads a text


SETTING_KEYS = ("size", "theta", "lambda", "lr", "decay", "segment", "neighbours", "temperature", "weight")


def chosen_settings(figures: dict) -> str:
    """What a regime used, for people: "size 100, theta 0.3, lambda 0.1" (counts in full, unset ones left out)."""
    return ", ".join(f"{k} {figures[k]}" if isinstance(figures[k], int) else f"{k} {figures[k]:g}"
                     for k in SETTING_KEYS if figures.get(k) is not None)


def tuning_source(figures: dict) -> str | None:
    """Which of a regime's settings were tuned, and on what: "theta and lambda tuned on tang300 valid"."""
    if not figures.get("tuned_on"):
        return None
    return f"{tuned_names(figures)} tuned on {figures['tuned_on']}".lstrip()


def tuned_names(figures: dict) -> str:
    """The settings a regime tuned, as a person lists them: "theta", "theta and lambda", "neighbours, temperature and
    weight"."""
    tuned = list(figures.get("tuned") or ())
    return ", ".join(tuned[:-1]) + " and " + tuned[-1] if len(tuned) > 1 else "".join(tuned)


def check_support(model, kind: str | None, options: AdaptiveConfig) -> None:
    if options.cache is not None:
        neural_cache.require_cache_support(model, kind)
    if options.dynamic:
        dynamic_eval.require_dynamic_support(model, kind)
    if options.memory and not neural_cache.supports_cache(model):
        raise ConfigError(f"--memory in evaluation mixes a memory into a left-to-right neural model's predictions "
                          f"(lstm, gru, rnn_tanh, rnn_relu); this model's kind is {kind or type(model).__name__}")


def supported(model, options: AdaptiveConfig) -> AdaptiveConfig:
    """`options` without the regimes `model` cannot run (a report shows those cells empty instead of refusing)."""
    neural = neural_cache.supports_cache(model)  # the cache and the memory both read the features the softmax reads
    return replace(options, cache=options.cache if neural else None, memory=options.memory and neural,
                   dynamic=options.dynamic and dynamic_eval.supports_dynamic(model))


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


def run_memory(model, streams: dict, text: EvalText, labels: dict, options: AdaptiveConfig, window: int, device,
               progress: Progress | None) -> dict:
    """The kNN-LM: every place of the train split remembered (the features the softmax reads there, read as the
    static evaluation reads a text, and the token that came), each test token's prediction mixed with the vote of
    the places nearest its own features. Settings not given are tuned on the valid text: one search at the largest
    number of neighbours, then every grid point from it. More neighbours than places means all of them."""
    neighbour_memory.check_room(len(streams["train"]), neighbour_memory.feature_width(model))
    remembered = neural_cache.read_pointers(model, streams["train"], MEMORY_ROWS, window, device)
    memory = neighbour_memory.NeighbourMemory(remembered.hidden, remembered.targets, len(model.vocab))
    del remembered
    given = {"neighbours": options.memory_neighbours, "temperature": options.memory_temperature,
             "weight": options.memory_weight}
    tuned = [name for name, value in given.items() if value is None]
    chosen = given
    if tuned:
        tune = neural_cache.read_pointers(model, streams["tune"], 1, window, device)
        chosen = tune_memory(memory, tune, given, progress)
    chosen["neighbours"] = min(chosen["neighbours"], len(memory))
    test = neural_cache.read_pointers(model, streams["test"], 1, window, device)
    setting = (chosen["neighbours"], chosen["temperature"])
    memory_p = memory.target_prob_table(test.hidden, test.targets, [setting], progress)[setting]
    logp = neighbour_memory.blend(memory_p, torch.from_numpy(test.model_logp), chosen["weight"]).numpy()
    return {"label": MEMORY_LABEL, **chosen, "remembered": labels["train"], "places": len(memory), "tuned": tuned,
            "tuned_on": labels["tune"] if tuned else None,
            "evaluation": summarize(streams["test"], logp, text.chars).to_dict()}


def tune_memory(memory, tune: neural_cache.Pointers, given: dict, progress: Progress | None) -> dict:
    """The memory's settings of the grid (those given held) with the lowest NLL on the valid text's pointers; of
    numbers of neighbours that reach every place, only the smallest is tried (they are all the same)."""
    grid = {"neighbours": MEMORY_NEIGHBOURS_GRID, "temperature": MEMORY_TEMPERATURE_GRID, "weight": MEMORY_WEIGHT_GRID}
    tried = {name: [value] if value is not None else grid[name] for name, value in given.items()}
    tried["neighbours"] = sorted({min(neighbours, len(memory)) for neighbours in tried["neighbours"]})
    settings = [(neighbours, temperature) for neighbours in tried["neighbours"] for temperature in tried["temperature"]]
    table = memory.target_prob_table(tune.hidden, tune.targets, settings, progress)
    model_logp = torch.from_numpy(tune.model_logp)
    best = (math.inf, None)
    for (neighbours, temperature), memory_p in table.items():
        for weight in tried["weight"]:
            nll = -float(neighbour_memory.blend(memory_p, model_logp, weight).sum())
            if nll < best[0]:
                best = (nll, {"neighbours": neighbours, "temperature": temperature, "weight": weight})
    return best[1]


def evaluate_adaptive(member, text: EvalText, split_text: Callable[[str], EvalText], options: AdaptiveConfig,
                      rows: int = ROWS, window: int = WINDOW, device="cpu", progress: Progress | None = None) -> dict:
    """{"cache": {...}, "dynamic": {...}, "memory": {...}} for the regimes `options` asks for (refused first where
    unsupported). `progress(done, total)`: the memory's searches, one pass each.

    `split_text("valid")` is the text settings are tuned on (its first `tune_tokens` tokens), and
    `split_text("train")` the text dynamic evaluation measures its mean squared gradients on (as many
    tokens, spread over it), as Krause et al. do: measured on the tuning text itself, MS fits exactly the
    gradients the tuning then sees, and the LR chosen there was too large for the test text (a word
    LSTM: tuned 3e-3, test perplexity 83.7 -> 364; with MS from train, tuned 3e-4, 83.7 -> 76.7).
    """
    check_support(member.model, member.config.get("kind"), options)
    member.model.to(device)
    reverse = is_backward(member.config)
    streams = {"test": text.stream(member.tokenizer, reverse=reverse)}
    labels = {"tune": None, "grads": None, "train": None}

    def ids(source: EvalText) -> np.ndarray:
        return np.asarray(source.stream(member.tokenizer, reverse=reverse))

    if options.needs_tuning():
        tune = split_text("valid")
        streams["tune"], labels["tune"] = ids(tune)[: options.tune_tokens], tune.label
    if options.dynamic or options.memory:
        train = split_text("train")
        if options.memory and train.digest == text.digest:
            raise ConfigError(f"--memory would remember {train.label}, the very text it scores (every token would "
                              "find itself): score another split or file")
        streams["train"], labels["train"] = ids(train), train.label
        if options.dynamic:
            streams["grads"], labels["grads"] = spread_sample(streams["train"], options.tune_tokens), train.label
    result = {}
    if options.cache is not None:
        result["cache"] = run_cache(member.model, streams, text, labels["tune"], options, rows, window, device)
    if options.dynamic:
        result["dynamic"] = run_dynamic(member.model, streams, text, labels, options, device)
    if options.memory:
        result["memory"] = run_memory(member.model, streams, text, labels, options, window, device, progress)
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
