"""Generation speed: incremental sampling (one `step` per token) against re-running the whole prefix.

    python benchmarks/generate_speed.py                  # 2x256 char LSTM, 1 and 64 streams, 200 and 2000 tokens
    python benchmarks/generate_speed.py --threads 2 --lengths 200

The model is the default `lmkit train` character LSTM (emb 64, 2 layers x 256)
over a ~100-character vocabulary, with random weights: speed does not depend
on training. Every stream runs to the full length (no stopping at `</s>`).
The naive loop is what a generator without state would do: for each new
token, score the whole prefix again (one batched `score_targets` pass, the
fastest way the model offers) and step its last token for the distribution.
Prints a markdown table of tokens per second (all streams together).
Use one thread on a shared machine: two OpenMP threads on a busy 2-core
box wait on each other and run several times slower.
"""
from __future__ import annotations

import argparse
import platform
import string
import time

import torch

from lmkit.models.neural.rnn import RNNConfig, RNNLM
from lmkit.generate.sampling import SamplingConfig, banned_ids, choose_next, make_generator, sample
from lmkit.models.base import evaluating
from lmkit.text.vocab import SPECIALS, Vocab


def default_char_lstm() -> RNNLM:
    vocab = Vocab(list(SPECIALS) + sorted(set(string.printable) - set("\n\r\x0b\x0c")))  # 4 + 96 tokens
    torch.manual_seed(0)
    return RNNLM(vocab, RNNConfig(cell="lstm", emb_size=64, hidden_size=256, layers=2)).eval()


def incremental(model, streams: int, tokens: int) -> float:
    """Seconds for `streams` samples of `tokens` tokens through lmkit.generate.sampling."""
    config = SamplingConfig(max_tokens=tokens, sentences=0, num_samples=streams, seed=0)
    start = time.perf_counter()
    outs = sample(model, [], config)
    elapsed = time.perf_counter() - start
    assert all(len(o.ids) == tokens for o in outs)
    return elapsed


def naive_step(model, prefix: torch.Tensor, config, banned, generator) -> torch.Tensor:
    """One token the naive way: re-read all of prefix (B, t) from `<s>`, then sample the next ids (B,)."""
    state = model.init_state(prefix.shape[0])
    if prefix.shape[1] > 1:
        _, state = model.score_targets(prefix[:, :-1], prefix[:, 1:], state)
    logp, _ = model.step(prefix[:, -1], state)  # (B, V)
    return choose_next(logp, config, banned, generator)


def naive(model, streams: int, tokens: int, exact: bool) -> float:
    """Seconds for the same work when every new token re-reads the whole prefix.

    exact=False times single steps at 8 evenly spaced prefix lengths and adds them up as if
    every step had been timed (the cost grows linearly with the prefix, so this is close).
    """
    config = SamplingConfig(max_tokens=tokens, sentences=0, num_samples=streams, seed=0)
    banned, generator = banned_ids(model.vocab), make_generator(0, torch.device("cpu"))
    prefix = torch.full((streams, 1), model.vocab.bos_id)  # (B, t)
    with evaluating(model):
        if exact:
            start = time.perf_counter()
            for _ in range(tokens):
                prefix = torch.cat([prefix, naive_step(model, prefix, config, banned, generator)[:, None]], dim=1)
            return time.perf_counter() - start
        lengths = [1 + (tokens - 1) * (2 * k + 1) // 16 for k in range(8)]  # midpoints of 8 equal slices
        costs = []
        for length in lengths:
            prefix = torch.randint(4, len(model.vocab), (streams, length))
            start = time.perf_counter()
            naive_step(model, prefix, config, banned, generator)
            costs.append(time.perf_counter() - start)
    return sum(costs) / len(costs) * tokens


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--threads", type=int, default=1, help="torch intra-op threads (default 1)")
    parser.add_argument("--lengths", type=int, nargs="+", default=[200, 2000])
    parser.add_argument("--streams", type=int, nargs="+", default=[1, 64])
    parser.add_argument("--naive-exact-limit", type=int, default=20000,
                        help="streams x tokens above which the naive loop is estimated from 8 timed steps")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    model = default_char_lstm()
    incremental(model, 1, 20)  # warm up
    print(f"# torch {torch.__version__}, {args.threads} thread(s), {platform.processor() or platform.machine()}, "
          f"vocab {len(model.vocab)}, LSTM 2x256 emb 64, {model.num_parameters():,} parameters")
    print("| streams | tokens | incremental tok/s | naive re-run tok/s | speed-up |")
    print("|---:|---:|---:|---:|---:|")
    for streams in args.streams:
        for tokens in args.lengths:
            fast = streams * tokens / incremental(model, streams, tokens)
            exact = streams * tokens <= args.naive_exact_limit
            slow = streams * tokens / naive(model, streams, tokens, exact)
            mark = "" if exact else " (est.)"
            print(f"| {streams} | {tokens} | {fast:,.0f} | {slow:,.0f}{mark} | {fast / slow:.0f}x |", flush=True)


if __name__ == "__main__":
    main()
