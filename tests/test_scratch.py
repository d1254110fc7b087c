"""ScratchRNN: the hand-written Elman RNN agrees with torch's nn.RNN, with itself, and learns."""
from __future__ import annotations

import pytest
import safetensors.torch
import torch

from lmkit.models.base import HandWrittenGradients
import torch.nn.functional as F
from torch import nn

from lmkit.text.batches import window, window_starts
from lmkit.errors import CheckpointError, ConfigError
from lmkit.models.neural.elman_bptt import bptt, forward_pass
from lmkit.models.neural.scratch import ScratchConfig, ScratchRNN
from lmkit.text.tokenizers import CharTokenizer
from lmkit.text.vocab import BOS_ID, EOS_ID

TEXT = [
    "the cat sat on the mat",
    "the dog sat on the log",
    "a cat and a dog met on the mat",
    "床前明月光，疑是地上霜。",
    "举头望明月，低头思故乡。",
]


@pytest.fixture(scope="module")
def tokenizer():
    return CharTokenizer.fit(TEXT)


def stream(tokenizer, repeat: int = 1) -> torch.Tensor:
    ids = []
    for _ in range(repeat):
        for line in TEXT:
            ids += [tokenizer.vocab.bos_id, *tokenizer.encode_line(line), tokenizer.vocab.eos_id]
    return torch.tensor(ids)


def random_batch(vocab_size: int, batch: int = 3, steps: int = 7, seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    inputs = torch.randint(0, vocab_size, (batch, steps), generator=g)
    targets = torch.randint(0, vocab_size, (batch, steps), generator=g)
    return inputs.masked_fill(inputs == BOS_ID, EOS_ID), targets, g  # as in training windows: no <s> is read


class TorchReference(nn.Module):
    """embedding (or one-hot) -> nn.RNN -> linear -> log_softmax, written with torch's own modules."""

    def __init__(self, model: ScratchRNN):
        super().__init__()
        cfg, params = model.cfg, model.params()
        self.one_hot = cfg.emb_size is None
        self.size = len(model.vocab)
        input_size = self.size if self.one_hot else cfg.emb_size
        self.embedding = None if self.one_hot else nn.Embedding(self.size, cfg.emb_size)
        self.rnn = nn.RNN(input_size, cfg.hidden_size, nonlinearity=cfg.nonlinearity, batch_first=True)
        self.linear = nn.Linear(cfg.hidden_size, self.size)
        self.double()
        with torch.no_grad():  # the tutorial's single b becomes b_ih + b_hh = b/2 + b/2
            if self.embedding is not None:
                self.embedding.weight.copy_(params["E"])
            self.rnn.weight_ih_l0.copy_(params["U"])
            self.rnn.weight_hh_l0.copy_(params["W"])
            self.rnn.bias_ih_l0.copy_(params["b"] / 2)
            self.rnn.bias_hh_l0.copy_(params["b"] / 2)
            self.linear.weight.copy_(params["V"])
            self.linear.bias.copy_(params["c"])

    def loss(self, inputs, targets, state):
        x = F.one_hot(inputs, self.size).double() if self.one_hot else self.embedding(inputs)
        out, last = self.rnn(x, state)  # (B, T, H), (1, B, H)
        logp = torch.log_softmax(self.linear(out), dim=-1)
        return F.nll_loss(logp.flatten(0, 1), targets.flatten()), last

    def grads(self) -> dict:
        grads = {"U": self.rnn.weight_ih_l0.grad, "W": self.rnn.weight_hh_l0.grad, "b": self.rnn.bias_ih_l0.grad,
                 "V": self.linear.weight.grad, "c": self.linear.bias.grad}
        if self.embedding is not None:
            grads["E"] = self.embedding.weight.grad
        return grads


@pytest.mark.parametrize("nonlinearity", ["tanh", "relu"])
@pytest.mark.parametrize("emb_size", [None, 4])
def test_identical_to_torch_rnn_given_the_same_weights(tokenizer, nonlinearity, emb_size):
    config = ScratchConfig(hidden_size=6, emb_size=emb_size, nonlinearity=nonlinearity, init_scale=0.5, seed=3)
    model = ScratchRNN(tokenizer.vocab, config).double()
    inputs, targets, g = random_batch(len(tokenizer.vocab))
    with torch.no_grad():  # biases start at 0: give them values so that the b = b_ih + b_hh mapping is tested
        model.b.uniform_(-0.5, 0.5, generator=g)
        model.c.uniform_(-0.5, 0.5, generator=g)
    reference = TorchReference(model)
    state = torch.randn(1, 3, 6, generator=g, dtype=torch.float64)  # a state carried in from a previous window
    loss, last = model.loss_and_grads(inputs, targets, state)
    ref_loss, ref_last = reference.loss(inputs, targets, state)
    ref_loss.backward()
    assert abs(float(loss) - float(ref_loss.detach())) < 1e-12
    torch.testing.assert_close(last, ref_last.detach(), rtol=0, atol=1e-12)
    torch.testing.assert_close(reference.rnn.bias_ih_l0.grad, reference.rnn.bias_hh_l0.grad)
    for name, expected in reference.grads().items():
        torch.testing.assert_close(getattr(model, name).grad, expected, rtol=1e-10, atol=1e-13, msg=name)


def test_float32_training_path_matches_torch_closely(tokenizer):
    model = ScratchRNN(tokenizer.vocab, ScratchConfig(hidden_size=16, emb_size=8, seed=1))
    reference = TorchReference(model)
    inputs, targets, _ = random_batch(len(tokenizer.vocab), batch=4, steps=20)
    loss, _ = model.loss_and_grads(inputs, targets, model.init_state(4))
    ref_loss, _ = reference.loss(inputs, targets, model.init_state(4).double())
    ref_loss.backward()
    assert loss.dtype == torch.float32 and not loss.requires_grad
    assert abs(float(loss) - float(ref_loss.detach())) < 1e-5
    for name, expected in reference.grads().items():
        torch.testing.assert_close(getattr(model, name).grad.double(), expected, rtol=1e-4, atol=1e-6, msg=name)


@pytest.mark.parametrize("emb_size", [None, 5])
def test_step_equals_score(tokenizer, emb_size):
    model = ScratchRNN(tokenizer.vocab, ScratchConfig(hidden_size=8, emb_size=emb_size, init_scale=0.4))
    ids = stream(tokenizer)[None, :40].repeat(2, 1)  # (2, 40)
    scored = model.score(ids)  # (2, 39)
    state, stepped = model.init_state(2), []
    for t in range(ids.shape[1] - 1):
        logp, state = model.step(ids[:, t], state)
        assert torch.allclose(logp.exp().sum(-1), torch.ones(2), atol=1e-5)
        stepped.append(logp.gather(1, ids[:, t + 1 : t + 2]))
    torch.testing.assert_close(scored, torch.cat(stepped, dim=1), rtol=0, atol=1e-5)


def test_state_carried_across_windows_equals_one_pass(tokenizer):
    model = ScratchRNN(tokenizer.vocab, ScratchConfig(hidden_size=8, emb_size=4, seed=2))
    ids = stream(tokenizer)[None, :31]
    whole, _ = model.score_targets(ids[:, :-1], ids[:, 1:], model.init_state(1))
    first, state = model.score_targets(ids[:, :12], ids[:, 1:13], model.init_state(1))
    second, _ = model.score_targets(ids[:, 12:-1], ids[:, 13:], state)
    torch.testing.assert_close(torch.cat([first, second], dim=1), whole)
    empty, same = model.score_targets(ids[:, :0], ids[:, :0], state)
    assert empty.shape == (1, 0) and same.equal(state)


def test_loss_is_the_mean_negative_log_probability(tokenizer):
    model = ScratchRNN(tokenizer.vocab, ScratchConfig(hidden_size=8))
    inputs, targets, _ = random_batch(len(tokenizer.vocab))
    loss, _ = model.loss_and_grads(inputs, targets, model.init_state(3))
    logp, _ = model.score_targets(inputs, targets, model.init_state(3))
    assert float(loss) == pytest.approx(-float(logp.mean()), rel=1e-6)


def test_truncation_at_or_beyond_the_window_is_full_bptt(tokenizer):
    inputs, targets, _ = random_batch(len(tokenizer.vocab), steps=6)
    grads = {}
    for k in (None, 5, 50, 2):
        model = ScratchRNN(tokenizer.vocab, ScratchConfig(hidden_size=5, bptt_truncate=k, init_scale=0.7)).double()
        model.loss_and_grads(inputs, targets, model.init_state(3))
        grads[k] = {name: p.grad for name, p in model.named_parameters()}
    for name, full in grads[None].items():
        torch.testing.assert_close(grads[5][name], full, rtol=1e-12, atol=1e-15)  # same sums, other order
        torch.testing.assert_close(grads[50][name], full, rtol=1e-12, atol=1e-15)
    assert not torch.allclose(grads[2]["W"], grads[None]["W"])
    torch.testing.assert_close(grads[2]["V"], grads[None]["V"])  # truncation only changes the recurrent path


def test_zero_truncation_stops_the_error_at_its_own_step(tokenizer):
    model = ScratchRNN(tokenizer.vocab, ScratchConfig(hidden_size=5, init_scale=0.7)).double()
    params = {name: p.detach() for name, p in model.named_parameters()}
    inputs, targets, _ = random_batch(len(tokenizer.vocab), steps=4)
    trace = forward_pass(params, inputs, model.init_state(3)[0], "tanh")
    weights = torch.full(targets.shape, 1 / targets.numel(), dtype=torch.float64)
    _, ds = bptt(params, trace, targets, weights, "tanh", truncate=0)
    dz = (trace.logp.exp() - F.one_hot(targets, len(tokenizer.vocab))) * weights[..., None]
    torch.testing.assert_close(ds, dz @ params["V"])  # ds_t = dz_t V: nothing arrives from t+1


def test_training_steps_lower_the_loss(tokenizer):
    data = stream(tokenizer, repeat=4)
    rows = data[: len(data) // 4 * 4].view(4, -1)  # (4, N/4)
    for emb_size in (None, 8):
        model = ScratchRNN(tokenizer.vocab, ScratchConfig(hidden_size=24, emb_size=emb_size, seed=0))
        inputs, targets = rows[:, :-1], rows[:, 1:]
        losses = [float(model.sgd_step(inputs, targets, model.init_state(4), lr=1.0, max_norm=5.0)[0]) for _ in range(30)]
        assert losses[-1] < 0.8 * losses[0], (emb_size, losses[0], losses[-1])


def test_torch_optimizer_steps_on_manual_gradients(tokenizer):
    data = stream(tokenizer, repeat=2)
    rows = data[: len(data) // 2 * 2].view(2, -1)
    model = ScratchRNN(tokenizer.vocab, ScratchConfig(hidden_size=16, emb_size=8))
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-2)
    losses = []
    for _ in range(20):
        state = model.init_state(2)
        for start in window_starts(rows.shape[1], 16):  # TBPTT windows with the state carried
            optimizer.zero_grad(set_to_none=True)
            loss, state = model.loss_and_grads(*window(rows, start, 16), state)
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            optimizer.step()
            losses.append(float(loss))
    assert sum(losses[-5:]) < 0.8 * sum(losses[:5])


def test_clipping_caps_the_update(tokenizer):
    inputs, targets, _ = random_batch(len(tokenizer.vocab))
    model = ScratchRNN(tokenizer.vocab, ScratchConfig(hidden_size=8, seed=4))
    before = {name: p.detach().clone() for name, p in model.named_parameters()}
    model.sgd_step(inputs, targets, model.init_state(3), lr=1.0, max_norm=1e-3)
    moved = torch.sqrt(sum(((p.detach() - before[name]) ** 2).sum() for name, p in model.named_parameters()))
    assert float(moved) == pytest.approx(1e-3, rel=1e-2)


def test_save_and_load_give_identical_scores(tokenizer, tmp_path):
    model = ScratchRNN(tokenizer.vocab, ScratchConfig(hidden_size=7, emb_size=3, nonlinearity="relu", bptt_truncate=4))
    model.save(tmp_path)
    config = model.config()
    assert config["kind"] == "scratch-rnn" and config["model"]["bptt_truncate"] == 4
    loaded = ScratchRNN.load(tmp_path, {"format": 1, **config}, tokenizer.vocab)
    ids = stream(tokenizer)[None, :20]
    assert loaded.score(ids).equal(model.score(ids))
    assert loaded.cfg == model.cfg


def test_load_refuses_weights_of_another_shape(tokenizer, tmp_path):
    ScratchRNN(tokenizer.vocab, ScratchConfig(hidden_size=7)).save(tmp_path)
    config = ScratchRNN(tokenizer.vocab, ScratchConfig(hidden_size=9)).config()
    with pytest.raises(CheckpointError, match='"hidden_size": 9 does not fit model.safetensors, which holds the weights '
                                              'of "hidden_size": 7'):
        ScratchRNN.load(tmp_path, config, tokenizer.vocab)
    tensors = safetensors.torch.load_file(tmp_path / "model.safetensors")
    safetensors.torch.save_file(tensors, tmp_path / "model.safetensors")  # as saved before the weights had a record
    with pytest.raises(CheckpointError, match=r"weight U has shape \(7, 36\), the model expects \(9, 36\)"):
        ScratchRNN.load(tmp_path, config, tokenizer.vocab)
    (tmp_path / "model.safetensors").write_bytes(b"not a safetensors file")
    with pytest.raises(CheckpointError, match="safetensors"):
        ScratchRNN.load(tmp_path, config, tokenizer.vocab)
    with pytest.raises(CheckpointError, match="nonlinearity"):
        ScratchRNN.load(tmp_path, {"kind": "scratch-rnn", "model": {"nonlinearity": "sigmoid"}}, tokenizer.vocab)


@pytest.mark.parametrize("field, value, option", [
    ("hidden_size", 0, "--hidden-size"),
    ("emb_size", -1, "--emb-size"),
    ("nonlinearity", "sigmoid", "--nonlinearity"),
    ("bptt_truncate", -2, "--bptt-truncate"),
    ("init_scale", 0.0, "--init-scale"),
])
def test_bad_settings_name_the_option(tokenizer, field, value, option):
    with pytest.raises(ConfigError, match=option):
        ScratchRNN(tokenizer.vocab, ScratchConfig(**{field: value}))


def test_one_hot_and_embedding_parameters_have_tutorial_shapes(tokenizer):
    K = len(tokenizer.vocab)
    one_hot = ScratchRNN(tokenizer.vocab, ScratchConfig(hidden_size=6))
    embedded = ScratchRNN(tokenizer.vocab, ScratchConfig(hidden_size=6, emb_size=3))
    assert {n: tuple(p.shape) for n, p in one_hot.named_parameters()} == {
        "U": (6, K), "W": (6, 6), "b": (6,), "V": (K, 6), "c": (K,)}
    assert {n: tuple(p.shape) for n, p in embedded.named_parameters()} == {
        "E": (K, 3), "U": (6, 3), "W": (6, 6), "b": (6,), "V": (K, 6), "c": (K,)}
    assert one_hot.kind == "scratch-rnn" and isinstance(one_hot, HandWrittenGradients)
