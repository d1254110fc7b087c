"""A left-to-right network reads `<s>` as `</s>`: the line start it trained on (lmkit.models.base.line_start_read_as_end).

It trains on TBPTT windows of the stream of its lines, where `<s>` never comes; a prompt, a sample or a line scored
alone (fill, rescore, --reset-per-line) used to begin from `<s>`'s untrained input vector instead (first-hour pass,
session 51: a Shakespeare word LSTM scored its test lines one by one at perplexity 167.6, and at 85.8 so)."""
from __future__ import annotations

import pytest
import torch

from lmkit.generate.sampling import prime
from lmkit.models.neural.rnn import CELLS, RNNConfig, RNNLM
from lmkit.models.neural.scratch import ScratchConfig, ScratchRNN
from lmkit.text.tokenizers import fit_tokenizer
from lmkit.text.vocab import BOS_ID, EOS_ID

LINES = ["Xabc", "Xbca", "Xcab", "Xacb", "我的手机坏了"]


@pytest.fixture(scope="module")
def tokenizer():
    return fit_tokenizer("char", LINES)


def networks(vocab):
    torch.manual_seed(0)
    for cell in sorted(CELLS):
        yield RNNLM(vocab, RNNConfig(cell=cell, emb_size=8, hidden_size=8, layers=2, dropout=0.0, out_dropout=0.0))
    for emb_size in (None, 5):
        yield ScratchRNN(vocab, ScratchConfig(hidden_size=8, emb_size=emb_size, init_scale=0.5))


def bos_input_weights(model) -> torch.Tensor:
    """The weights a network reads `<s>` by: its embedding row, or the one-hot input's column of U."""
    if isinstance(model, RNNLM):
        return model.embedding.weight[BOS_ID]
    return model.E[BOS_ID] if model.cfg.emb_size else model.U[:, BOS_ID]


def test_a_network_scores_a_line_from_bos_as_from_eos(tokenizer):
    line = tokenizer.encode(LINES[4])
    for model in networks(tokenizer.vocab):
        model.eval()
        with torch.no_grad():
            bos_input_weights(model).fill_(3.0)  # unlike </s>'s: read as <s>, the line would score otherwise
        from_bos = model.score(torch.tensor([[BOS_ID, *line, EOS_ID]]))
        from_eos = model.score(torch.tensor([[EOS_ID, *line, EOS_ID]]))
        torch.testing.assert_close(from_bos, from_eos, msg=type(model).__name__)
        logp, _ = prime(model, line[:2], 1)                            # a prompt, as generate reads it
        state = model.init_state(1)
        _, state = model.score_targets(torch.tensor([[EOS_ID, line[0]]]), torch.tensor([line[:2]]), state)
        expected, _ = model.step(torch.tensor([line[1]]), state)
        torch.testing.assert_close(logp, expected)


def test_a_network_trained_on_the_stream_begins_a_fresh_line_as_its_lines_begin(tokenizer):
    """Trained as lmkit trains (windows of the stream, no <s>), a fresh line's first token is the lines' first."""
    torch.manual_seed(0)
    model = RNNLM(tokenizer.vocab, RNNConfig(cell="lstm", emb_size=16, hidden_size=32, layers=1, dropout=0.0,
                                              out_dropout=0.0))
    stream = torch.tensor([i for line in LINES[:4] * 8 for i in (*tokenizer.encode(line), EOS_ID)])
    optimizer = torch.optim.Adam(model.parameters(), lr=0.02)
    for _ in range(300):
        optimizer.zero_grad()
        logp, _ = model(stream[None, :-1], stream[None, 1:], model.init_state(1))
        (-logp.mean()).backward()
        optimizer.step()
    model.eval()
    x = tokenizer.encode("X")[0]
    with torch.no_grad():
        first = model.score(torch.tensor([[BOS_ID, x]]))
    assert float(first.exp()) > 0.8
