"""Vectorised N-gram counting over an int32 id stream, with KenLM's sentence conventions.

Every sentence is read as `<s> w1 .. wn </s>`: `<s>` is context only, and an
N-gram never reaches back past its sentence's `<s>` (KenLM pads N-1 `<s>` and
collapses the n-grams that start with two of them; keeping one is the same).
So the k-gram ending at stream position p exists iff p is at least k-1
tokens after its sentence's `<s>`:

    words   <s>  the  cat  sat  </s>  <s>  a   dog  </s>
    depth    0    1    2    3    4     0   1    2    3       (distance from <s>)

An n-gram is identified by its prefix's index in the table one order down
and its last word, packed in one int64 key:

    key(w1 .. wk) = index(w1 .. wk-1 in order k-1) * V + wk        (order 1: key = word id)

Each order's table is the sorted array of distinct keys, so n-grams sharing a
context are contiguous and the (k-1)-gram table indexes the k-gram table.
Counting one order is one argsort over the positions where its n-grams end;
no Python loop touches a token, and memory for the tables is proportional to
the number of distinct n-grams.
"""
from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np

from lmkit.errors import ConfigError
from lmkit.models.ngram.tables import sorted_parts
from lmkit.text.vocab import BOS_ID, EOS_ID, PAD_ID

KEY_LIMIT = np.iinfo(np.int64).max


@dataclass
class OrderCounts:
    """The distinct n-grams of one order, in key order."""

    keys: np.ndarray         # (n,) int64 sorted: prefix index * V + last word (order 1: word id, dense)
    raw: np.ndarray          # (n,) int64 occurrences as a predicted token's n-gram
    suffix: np.ndarray       # (n,) int64 index of the n-gram without its first word, one order down (order 1: empty)
    bos_initial: np.ndarray  # (n,) bool: the n-gram starts with <s> (it can have no left extension)

    def __len__(self) -> int:
        return len(self.keys)


@dataclass
class NGramCounts:
    """Counts of every order 1..N over a corpus, the input of every smoothing."""

    vocab_size: int
    orders: list[OrderCounts]  # orders[k - 1] holds the k-grams

    @property
    def order(self) -> int:
        return len(self.orders)

    def sizes(self) -> list[int]:
        return [len(o) for o in self.orders]

    def contexts(self, k: int) -> np.ndarray:
        """(n_k,) index of each k-gram's (k-1)-word context in order k-1."""
        return self.orders[k - 1].keys // self.vocab_size

    def last_words(self, k: int) -> np.ndarray:
        return self.orders[k - 1].keys % self.vocab_size

    def adjusted(self, k: int) -> np.ndarray:
        """Kneser-Ney adjusted counts of the k-grams (KenLM's conventions).

        Highest order: raw counts. Lower orders: the number of distinct words
        seen to the left (`<s>` included), except n-grams starting with `<s>`,
        which keep their raw count. The unigram `<s>` gets 0: it is never predicted.
        """
        this = self.orders[k - 1]
        if k == self.order:
            counts = this.raw.copy()
        else:
            counts = np.bincount(self.orders[k].suffix, minlength=len(this)).astype(np.int64)
            counts[this.bos_initial] = this.raw[this.bos_initial]
        if k == 1:
            counts[BOS_ID] = 0
        return counts


def sentence_layout(stream: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(words, depth): the stream with `<s>` put before every sentence, and each position's distance from it.

    Literal `<s>` and `<pad>` ids in the stream are dropped with a warning (KenLM
    treats `<s>` in training text as whitespace too).
    """
    stream = np.asarray(stream)
    special = (stream == BOS_ID) | (stream == PAD_ID)
    if special.any():
        warnings.warn(f"ignored {int(special.sum())} literal <s>/<pad> tokens in the N-gram training text", stacklevel=3)
        stream = stream[~special]
    starts = np.flatnonzero(stream[:-1] == EOS_ID) + 1
    starts = np.concatenate([[0], starts]) if len(stream) else np.zeros(0, dtype=np.int64)
    words = np.insert(stream.astype(np.int32), starts, BOS_ID)  # (P,)
    positions = np.arange(len(words), dtype=np.int64)
    last_bos = np.maximum.accumulate(np.where(words == BOS_ID, positions, 0))
    return words, (positions - last_bos).astype(np.int32)


def group_keys(keys: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Distinct keys (sorted), each key's group (like np.unique's inverse), one position per group, group sizes.

    Sorted in one part (the usual case), groups follow from where runs of equal keys start; sorted in
    several, the parts' distinct keys are merged and each part finds its groups by sorted search.
    """
    n = len(keys)
    pieces = list(sorted_parts(keys))
    inverse = np.empty(n, dtype=np.int32)
    if len(pieces) == 1:
        (sorted_keys, positions), starts = pieces[0], run_starts(pieces[0][0])[0]
        sizes = np.diff(np.append(starts, n))
        inverse[positions] = np.repeat(np.arange(len(starts), dtype=np.int32), sizes)
        return sorted_keys[starts], inverse, positions[starts], sizes
    distinct = np.unique(np.concatenate([run_starts(sorted_keys)[1] for sorted_keys, _ in pieces]))
    first = np.empty(len(distinct), dtype=np.int64)
    for sorted_keys, positions in pieces:
        group = np.searchsorted(distinct, sorted_keys).astype(np.int32)
        inverse[positions] = group
        first[group] = positions
    return distinct, inverse, first, np.bincount(inverse, minlength=len(distinct))


def run_starts(ordered: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Where each run of equal values starts in a sorted array, and those values."""
    new = np.empty(len(ordered), dtype=bool)
    new[:1] = True
    np.not_equal(ordered[1:], ordered[:-1], out=new[1:])
    starts = np.flatnonzero(new)
    return starts, ordered[starts]


def check_stream(stream: np.ndarray, vocab_size: int) -> np.ndarray:
    stream = np.asarray(stream)
    if stream.ndim != 1:
        raise ConfigError(f"an N-gram model is counted from a 1-D id stream, got shape {stream.shape}")
    if not np.issubdtype(stream.dtype, np.integer):
        raise ConfigError(f"an N-gram model is counted from integer token ids, got {stream.dtype}")
    if len(stream) and (stream.min() < 0 or stream.max() >= vocab_size):
        raise ConfigError(f"token ids must lie in [0, {vocab_size}), got {stream.min()}..{stream.max()}")
    return stream


def count_ngrams(stream: np.ndarray, vocab_size: int, order: int) -> NGramCounts:
    """Count orders 1..`order` of an id stream whose lines end with `</s>` (lmkit.text.encode.encode_lines)."""
    stream = check_stream(stream, vocab_size)
    words, depth = sentence_layout(stream)
    predicted = depth >= 1
    unigram_raw = np.bincount(words[predicted], minlength=vocab_size).astype(np.int64)
    unigram_keys = np.arange(vocab_size, dtype=np.int64)
    orders = [OrderCounts(unigram_keys, unigram_raw, np.zeros(0, np.int64), unigram_keys == BOS_ID)]
    ids = words.copy()  # (P,) index of the (k-1)-gram ending at each position (only read where one ends)
    positions = np.arange(len(words), dtype=np.int64)
    for k in range(2, order + 1):
        positions = positions[depth[positions] >= k - 1]  # where a k-gram ends
        check_key_range(len(orders[-1]), vocab_size, k)
        keys = ids[positions - 1].astype(np.int64)
        keys *= vocab_size
        keys += words[positions]
        distinct, inverse, first, raw = group_keys(keys)
        del keys
        ends = positions[first]
        orders.append(OrderCounts(distinct, raw.astype(np.int64), ids[ends].astype(np.int64), depth[ends] == k - 1))
        ids[positions] = inverse  # positions that end no k-gram are never read again
    return NGramCounts(vocab_size, orders)


def check_key_range(previous_size: int, vocab_size: int, k: int) -> None:
    if previous_size * vocab_size >= KEY_LIMIT:
        raise ConfigError(f"too many distinct {k - 1}-grams ({previous_size:,}) for a vocabulary of {vocab_size:,}: "
                          "n-gram keys would overflow 64 bits")
