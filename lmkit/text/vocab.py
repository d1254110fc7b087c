"""Vocab: the one mapping between tokens and ids that every model shares.

Ids 0..3 are always the specials `<pad> <unk> <s> </s>`; the rest follow in a
deterministic order (higher count first, then the token itself), built from
the training split only.
"""
from __future__ import annotations

from collections import Counter
from typing import Iterable, Sequence

from lmkit.errors import VocabError

PAD, UNK, BOS, EOS = "<pad>", "<unk>", "<s>", "</s>"
SPECIALS = (PAD, UNK, BOS, EOS)
PAD_ID, UNK_ID, BOS_ID, EOS_ID = 0, 1, 2, 3


class Vocab:
    """Token <-> id lookup with fixed special ids; unknown tokens map to `<unk>`."""

    pad_id, unk_id, bos_id, eos_id = PAD_ID, UNK_ID, BOS_ID, EOS_ID

    def __init__(self, tokens: Sequence[str], counts: dict[str, int] | None = None):
        tokens = list(tokens)
        if tuple(tokens[: len(SPECIALS)]) != SPECIALS:
            raise VocabError(f"vocabulary must start with the specials {list(SPECIALS)}, got {tokens[:4]}")
        index: dict[str, int] = {}
        for i, token in enumerate(tokens):
            if not isinstance(token, str) or token == "":
                raise VocabError(f"vocabulary entry {i} is not a non-empty string: {token!r}")
            if token in index:
                raise VocabError(f"vocabulary lists {token!r} twice (ids {index[token]} and {i})")
            index[token] = i
        self.itos: list[str] = tokens
        self.stoi: dict[str, int] = index
        self.counts: dict[str, int] = dict(counts or {})

    @classmethod
    def build(cls, counts: Counter | dict[str, int], min_freq: int = 1, max_size: int | None = None) -> "Vocab":
        """Keep tokens seen at least `min_freq` times, the `max_size` most frequent (specials included in the size)."""
        if min_freq < 1:
            raise VocabError(f"min_freq cannot be less than 1. Got: {min_freq}")
        if max_size is not None and max_size <= len(SPECIALS):
            raise VocabError(f"max_size must leave room beyond the {len(SPECIALS)} specials. Got: {max_size}")
        kept = [(t, c) for t, c in counts.items() if c >= min_freq and t not in SPECIALS]
        kept.sort(key=lambda tc: (-tc[1], tc[0]))
        if max_size is not None:
            kept = kept[: max_size - len(SPECIALS)]
        if not kept:
            raise VocabError(f"--min-freq {min_freq}: no token of the training text occurs that often, so the "
                             "vocabulary would hold only the specials; give a smaller --min-freq")
        return cls(list(SPECIALS) + [t for t, _ in kept], {t: c for t, c in kept})

    @classmethod
    def from_tokens(cls, tokens: Iterable[str], min_freq: int = 1, max_size: int | None = None) -> "Vocab":
        return cls.build(Counter(tokens), min_freq=min_freq, max_size=max_size)

    def __len__(self) -> int:
        return len(self.itos)

    def __contains__(self, token: str) -> bool:
        return token in self.stoi

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Vocab) and self.itos == other.itos

    def __hash__(self) -> int:
        return hash(tuple(self.itos))

    def id(self, token: str) -> int:
        return self.stoi.get(token, UNK_ID)

    def token(self, idx: int) -> str:
        if not 0 <= idx < len(self.itos):
            raise VocabError(f"token id {idx} is outside the vocabulary of size {len(self.itos)}")
        return self.itos[idx]

    def encode(self, tokens: Iterable[str]) -> list[int]:
        get = self.stoi.get
        return [get(t, UNK_ID) for t in tokens]

    def decode(self, ids: Iterable[int]) -> list[str]:
        return [self.token(int(i)) for i in ids]

    def oov(self, tokens: Iterable[str]) -> tuple[int, int]:
        """(number of tokens not in the vocabulary, number of tokens)."""
        missing = total = 0
        for t in tokens:
            total += 1
            missing += t not in self.stoi
        return missing, total

    def to_json(self) -> dict:
        return {"tokens": self.itos, "counts": [self.counts.get(t, 0) for t in self.itos]}

    @classmethod
    def from_json(cls, obj: dict) -> "Vocab":
        if not isinstance(obj, dict) or not isinstance(obj.get("tokens"), list):
            raise VocabError("vocabulary JSON must be an object with a 'tokens' list")
        tokens = obj["tokens"]
        counts = obj.get("counts") or [0] * len(tokens)
        if not isinstance(counts, list) or len(counts) != len(tokens) or \
                not all(isinstance(c, int) and not isinstance(c, bool) and c >= 0 for c in counts):
            raise VocabError(f"vocabulary 'counts' must list a count (an integer, at least 0) for each of the "
                             f"{len(tokens)} tokens")
        return cls(tokens, {t: c for t, c in zip(tokens, counts) if c})

    def fingerprint(self) -> str:
        """Short stable hash of the token list: two models are comparable only if these match."""
        import hashlib

        return hashlib.sha256("\n".join(self.itos).encode("utf-8", "surrogatepass")).hexdigest()[:16]
