"""One entry point for every decoding strategy: beam search when `config.beam` is set, sampling otherwise.

sampling.py (greedy, temperature, top-k, top-p) and beam.py (which builds on
sampling's priming and configuration) never import each other's callers, so
this is the one place that chooses between them.
"""
from __future__ import annotations

from lmkit.generate.beam import beam_search
from lmkit.generate.sampling import OnToken, Sample, SamplingConfig, sample


def decode(model, prompt_ids: list[int], config: SamplingConfig, on_token: OnToken | None = None) -> list[Sample]:
    """`config.beam` best hypotheses when beam is set (on_token unused), else `config.num_samples` samples."""
    if config.beam is not None:
        return beam_search(model, prompt_ids, config)
    return sample(model, prompt_ids, config, on_token)
