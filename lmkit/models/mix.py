"""Linear interpolation of language models over one vocabulary.

    p(w | h) = sum_i  lambda_i * p_i(w | h)          lambda_i >= 0, sum_i lambda_i = 1

Probabilities are mixed, not log-probabilities (a log-linear mix would need
renormalising). Any models with the same vocabulary can be mixed: an RNN and
a Kneser-Ney N-gram together usually beat both (Mikolov et al., 2011). The
weights are tuned on held-out text by EM: each token's responsibility
lambda_i p_i / p is averaged into the next lambda_i; the held-out likelihood
never decreases.
"""
from __future__ import annotations

import functools
import json
from pathlib import Path
from typing import Sequence

import numpy as np
import torch

from lmkit.config.settings import named
from lmkit.errors import CheckpointError, ConfigError, VocabError, counted
from lmkit.files.writing import write_json_atomic
from lmkit.models.base import ReordersStreams
from lmkit.models.weights_kind import INTERPOLATED, MEMBERS_DIR, check_weights_kind


def check_same_vocab(models: Sequence, names: Sequence[str] | None = None) -> None:
    """VocabError unless every model shares the first one's vocabulary (probabilities over different
    token sets cannot be added, and their perplexities measure different things)."""
    names = list(names or [f"model {i + 1}" for i in range(len(models))])
    first = models[0].vocab
    for model, name in zip(models[1:], names[1:]):
        if model.vocab != first:
            raise VocabError(
                f"{name} has a different vocabulary from {names[0]} ({len(model.vocab)} tokens, "
                f"fingerprint {model.vocab.fingerprint()} vs {len(first)}, {first.fingerprint()}): "
                "models can be interpolated only over the same vocabulary; compare them by bits/char instead"
            )


def check_weights(weights: Sequence[float], count: int) -> np.ndarray:
    if not isinstance(weights, (list, tuple, np.ndarray)) or not all(
            isinstance(w, (int, float, np.number)) and not isinstance(w, bool) for w in weights):
        raise ConfigError(f"{named('--weights')} must be a list of numbers, got {json.dumps(weights, default=str)}")
    weights = np.asarray([float(w) for w in weights], dtype=np.float64) + 0.0  # -0 is 0
    if len(weights) != count:
        raise ConfigError(f"{named('--weights')}: {counted(count, 'model')} need{'s' if count == 1 else ''} "
                          f"{counted(count, 'weight')}, got {len(weights)}")
    if not np.isfinite(weights).all():
        raise ConfigError(f"{named('--weights')} must be finite numbers, got {weights.tolist()}")
    if (weights < 0).any() or weights.sum() <= 0:
        raise ConfigError(f"{named('--weights')} must be non-negative with a positive sum, got {weights.tolist()}")
    if abs(weights.sum() - 1.0) > 1e-6:
        raise ConfigError(f"{named('--weights')} must sum to 1, got {weights.tolist()} (sum {weights.sum():g})")
    return weights


def mix_logprobs(logps: Sequence[np.ndarray], weights: Sequence[float]) -> np.ndarray:
    """log sum_i w_i exp(logp_i) for per-token log-probabilities (M arrays of shape (N,))."""
    with np.errstate(divide="ignore"):
        joint = np.stack(logps) + np.log(np.asarray(weights, dtype=np.float64))[:, None]  # (M, N)
    return np.logaddexp.reduce(joint, axis=0)


def tune_weights(logps: Sequence[np.ndarray], iterations: int = 200, tolerance: float = 1e-9) -> np.ndarray:
    """EM for the interpolation weights that maximise the likelihood of held-out tokens.

    `logps` holds each model's log-probability of every held-out token (M arrays of shape (N,)); a member may give
    some tokens probability zero (-inf: an unsmoothed N-gram), and tokens every member does are left out.
    Stops when the mean log-likelihood gains less than `tolerance` nats per token.
    """
    table = np.stack([np.asarray(lp, dtype=np.float64) for lp in logps])  # (M, N)
    scorable = np.isfinite(table).any(axis=0)  # a token no member can score (probability zero in each) weighs nothing
    if not scorable.any():
        return np.full(len(table), 1.0 / len(table))
    weights = np.full(len(table), 1.0 / len(table))
    previous = -np.inf
    for _ in range(iterations):
        with np.errstate(divide="ignore"):
            joint = table + np.log(weights)[:, None]                         # (M, N)
        total = np.logaddexp.reduce(joint, axis=0)                           # (N,)
        current = float(total[scorable].mean())
        with np.errstate(invalid="ignore"):
            responsibility = np.nan_to_num(np.exp(joint[:, scorable] - total[scorable]))  # (M, n)
        weights = responsibility.mean(axis=1)
        weights /= weights.sum()
        if current - previous < tolerance:
            break
        previous = current
    return weights


class Interpolated:
    """A LanguageModel whose next-token distribution is a weighted sum of its members' distributions.

    The state is the tuple of the members' states.
    """

    kind = INTERPOLATED

    def __init__(self, members: Sequence, weights: Sequence[float], names: Sequence[str] | None = None):
        if len(members) < 1:
            raise ConfigError("interpolation needs at least one model")
        check_same_vocab(members, names)
        self.members = list(members)
        self.weights = check_weights(weights, len(members))
        self.vocab = members[0].vocab

    def _mix(self, logps: list[torch.Tensor]) -> torch.Tensor:
        # logps: M tensors of one shape -> log sum_i w_i p_i, same shape
        dtype = functools.reduce(torch.promote_types, [lp.dtype for lp in logps])
        device = logps[0].device  # members may differ: an N-gram always answers on the CPU
        stacked = torch.stack([lp.to(device, dtype) for lp in logps])  # (M, ...)
        log_w = torch.log(torch.as_tensor(self.weights, dtype=dtype, device=stacked.device))
        return torch.logsumexp(stacked + log_w.view(-1, *[1] * (stacked.dim() - 1)), dim=0)

    # --- the protocol ---------------------------------------------------------
    def init_state(self, batch_size: int) -> tuple:
        return tuple(m.init_state(batch_size) for m in self.members)

    def select_state(self, state: tuple, index: torch.Tensor) -> tuple:
        """Each member's state for streams `index` (K,); every member must reorder its own."""
        for member in self.members:
            if not isinstance(member, ReordersStreams):
                raise ConfigError(f"a mixture member ({getattr(member, 'kind', type(member).__name__)}) cannot "
                                  "reorder its streams (it has no select_state)")
        return tuple(m.select_state(s, index) for m, s in zip(self.members, state))

    def step(self, ids: torch.Tensor, state: tuple):
        # ids: (B,) -> log-probs (B, V)
        outputs = [m.step(ids, s) for m, s in zip(self.members, state)]
        return self._mix([lp for lp, _ in outputs]), tuple(s for _, s in outputs)

    def score_targets(self, inputs: torch.Tensor, targets: torch.Tensor, state: tuple):
        # inputs, targets: (B, T) -> (B, T): p(target) mixes like the whole distribution does
        outputs = [m.score_targets(inputs, targets, s) for m, s in zip(self.members, state)]
        return self._mix([lp for lp, _ in outputs]), tuple(s for _, s in outputs)

    def score(self, ids: torch.Tensor) -> torch.Tensor:
        # ids: (B, T) -> (B, T-1)
        logp, _ = self.score_targets(ids[:, :-1], ids[:, 1:], self.init_state(ids.shape[0]))
        return logp

    def to(self, device) -> "Interpolated":
        for m in self.members:
            if hasattr(m, "to"):
                m.to(device)
        return self

    def eval(self) -> "Interpolated":
        for m in self.members:
            if hasattr(m, "eval"):
                m.eval()
        return self

    # --- persistence ----------------------------------------------------------
    def config(self) -> dict:
        return {"kind": self.kind, "weights": [float(w) for w in self.weights],
                "members": [m.config() for m in self.members]}

    def save(self, directory: Path, direction: str | None = None) -> None:
        for i, member in enumerate(self.members):
            folder = Path(directory) / MEMBERS_DIR / str(i)
            folder.mkdir(parents=True, exist_ok=True)
            member.save(folder, direction)
            write_json_atomic(folder / "config.json", member.config())

    @classmethod
    def load(cls, directory: Path, config: dict, vocab) -> "Interpolated":
        from lmkit.models import model_class

        configs = config.get("members")
        if not isinstance(configs, list) or not configs:
            raise CheckpointError(f"{directory}/config.json: an interpolated model needs a 'members' list")
        members = []
        for i, member_config in enumerate(configs):
            if not isinstance(member_config, dict):
                raise CheckpointError(f"{directory}/config.json: members[{i}] must be a model's settings (an object), "
                                      f"got {member_config!r}")
            folder = Path(directory) / MEMBERS_DIR / str(i)
            member_config = {"direction": config.get("direction", "forward"), **member_config}  # the mix's, saved with it
            where = f"{Path(directory) / 'config.json'}: members[{i}]:"
            try:
                kind = member_config.get("kind")
                if not isinstance(kind, str):
                    raise ConfigError(f"\"kind\" must be a model kind (a string), got {json.dumps(kind)}")
                check_weights_kind(folder, kind)
                members.append(model_class(kind).load(folder, member_config, vocab))
            except (CheckpointError, ConfigError) as exc:  # the settings read are this config.json's, not the folder's
                said, member_file = str(exc), f"{folder / 'config.json'}:"
                if member_file in said:  # the member's loader names the config.json of its folder, never read
                    said = said.replace(member_file, where)
                elif str(folder) not in said:  # a file of the member's folder keeps its own name
                    said = f"{where} {said}"
                raise CheckpointError(said) from exc
        try:
            return cls(members, config.get("weights") or [])
        except ConfigError as exc:
            raise CheckpointError(f"{directory}/config.json: {exc}") from exc
