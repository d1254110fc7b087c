"""The AWD-LSTM regularisers of RNNLM: weight drop, locked dropout, whole-word dropout; each must act in
training mode, leave eval mode on the raw weights, and keep step == score."""
import pytest
import torch

from lmkit.models.neural.dropouts import locked_dropout, word_dropout
from lmkit.models.neural.rnn import CELLS, RNNConfig, RNNLM
from lmkit.text.vocab import SPECIALS, Vocab

VOCAB = Vocab(list(SPECIALS) + [chr(c) for c in range(ord("a"), ord("a") + 26)])
QUIET = dict(dropout=0.0, emb_dropout=0.0, out_dropout=0.0)  # no dropout but the one under test


def model(cell="lstm", layers=2, **settings):
    torch.manual_seed(0)
    return RNNLM(VOCAB, RNNConfig(cell=cell, emb_size=12, hidden_size=16, layers=layers, **{**QUIET, **settings}))


def ids(batch=3, steps=9, seed=1):
    return torch.randint(4, len(VOCAB), (batch, steps), generator=torch.Generator().manual_seed(seed))


def top(m, tokens):
    """The top layer's outputs (B, T, H) before output dropout."""
    raw, _, _ = m.top_outputs(tokens, m.init_state(tokens.shape[0]))
    return raw


@pytest.mark.parametrize("cell", sorted(CELLS))
@pytest.mark.parametrize("locked_between", [False, True])
def test_weight_drop_acts_in_training_only_and_gradients_reach_the_raw_weights(cell, locked_between):
    tokens = ids()
    plain, dropped = model(cell), model(cell, weight_drop=0.5, locked_dropout=locked_between,
                                        dropout=1e-6 if locked_between else 0.0)  # the layer-by-layer path too
    raw_before = {n: p.detach().clone() for n, p in dropped.named_parameters()}
    expected = top(plain.eval(), tokens)
    assert torch.equal(top(dropped.eval(), tokens), expected)  # eval: the raw weights, untouched
    train_out = top(dropped.train(), tokens)
    assert not torch.allclose(train_out, expected, atol=1e-3)
    assert not torch.allclose(top(dropped, tokens), train_out, atol=1e-3)  # a new mask per call
    train_out.pow(2).sum().backward()
    for layer in range(2):
        hh, ih = (getattr(dropped.rnn, f"{kind}_l{layer}").grad for kind in ("weight_hh", "weight_ih"))
        hh_zeros, ih_zeros = (float((g == 0).float().mean()) for g in (hh, ih))
        # about half the hidden-to-hidden entries were dropped, and got no gradient; the input weights were not
        # (a relu unit that never fired has a zero gradient in both)
        assert hh_zeros > 0.35 and hh_zeros - ih_zeros > 0.3, (layer, hh_zeros, ih_zeros)
    assert all(torch.equal(p, raw_before[n]) for n, p in dropped.named_parameters())  # dropped out of place


def test_locked_dropout_keeps_one_mask_across_time():
    x = torch.ones(4, 50, 32)
    torch.manual_seed(3)
    y = locked_dropout(x, 0.5, training=True)
    assert torch.equal(y, y[:, :1].expand_as(y))  # every time step the same as the first
    assert set(y.unique().tolist()) == {0.0, 2.0}  # kept ones scaled by 1 / (1 - p)
    assert torch.equal(locked_dropout(x, 0.5, training=False), x)


@pytest.mark.parametrize("where", ["out_dropout", "emb_dropout"])
def test_locked_dropout_in_the_model_drops_the_same_units_at_every_step(where):
    m = model(locked_dropout=True, **{where: 0.5}).train()
    seen = {}
    m.rnn.register_forward_pre_hook(lambda module, args: seen.setdefault("input", args[0]))
    _, dropped, _ = m.top_outputs(ids(steps=20), None)
    units = dropped if where == "out_dropout" else seen["input"]
    zeros = units == 0                                          # (B, T, D)
    assert zeros.any() and torch.equal(zeros, zeros[:, :1].expand_as(zeros))


def test_locked_dropout_between_layers_drops_the_same_units_of_the_lower_layer_at_every_step():
    m = model(layers=3, locked_dropout=True, dropout=0.5).train()
    inputs = []
    for shell in m.shells[1:]:
        shell.register_forward_pre_hook(lambda module, args: inputs.append(args[0]))
    m.top_outputs(ids(steps=20), None)
    assert len(inputs) == 2
    for x in inputs:  # an LSTM's output is never exactly 0: the zeros are the mask
        zeros = x == 0
        assert zeros.any() and torch.equal(zeros, zeros[:, :1].expand_as(zeros))


def test_locked_dropout_between_layers_runs_the_same_network_when_nothing_is_dropped():
    fused, layered = model(layers=3), model(layers=3, locked_dropout=True, dropout=0.3)
    layered.drops = type(layered.drops)(weight=0.0, between=1e-12)  # layer by layer, (almost) nothing dropped
    tokens = ids()
    assert torch.allclose(top(fused.train(), tokens), top(layered.train(), tokens), atol=1e-5)


def test_word_dropout_zeroes_whole_rows_of_the_embedding():
    embedding = torch.nn.Embedding(30, 8)
    tokens = torch.arange(30).repeat(4, 3)  # every type 12 times
    torch.manual_seed(5)
    out = word_dropout(embedding, tokens, 0.5, training=True)  # (4, 90, 8)
    rows = embedding.weight.detach()
    dropped_types = set()
    for position in range(tokens.shape[1]):
        for b in range(tokens.shape[0]):
            vector, word = out[b, position], int(tokens[b, position])
            if torch.all(vector == 0):
                dropped_types.add(word)
            else:
                assert torch.allclose(vector, 2.0 * rows[word])  # a kept word is scaled by 1 / (1 - p)
    assert 0 < len(dropped_types) < 30
    for word in dropped_types:  # dropped wherever it occurs in the window
        assert torch.all(out[tokens == word] == 0)
    assert torch.equal(word_dropout(embedding, tokens, 0.5, training=False), embedding(tokens))


@pytest.mark.parametrize("cell", ["lstm", "gru"])
def test_step_equals_score_with_every_regulariser_on(cell):
    m = model(cell, layers=3, locked_dropout=True, dropout=0.3, emb_dropout=0.2, out_dropout=0.3,
              word_dropout=0.1, weight_drop=0.5).eval()
    tokens = ids(batch=2, steps=8)
    scored = m.score(tokens)
    state, columns = m.init_state(2), []
    for t in range(tokens.shape[1] - 1):
        logp, state = m.step(tokens[:, t], state)
        columns.append(logp.gather(1, tokens[:, t + 1 : t + 2]))
    assert torch.allclose(torch.cat(columns, 1), scored, atol=1e-5)


def test_forward_with_outputs_gives_the_top_layer_before_and_after_dropout():
    m = model(out_dropout=0.5).train()
    tokens = ids()
    logp, _, (raw, dropped) = m(tokens[:, :-1], tokens[:, 1:], None, outputs=True)
    assert raw.shape == dropped.shape == (3, 8, 16) and logp.shape == (3, 8)
    kept = dropped != 0
    assert torch.allclose(dropped[kept], 2.0 * raw[kept]) and not kept.all()
