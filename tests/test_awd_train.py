"""The AWD-LSTM training options: AR/TAR in the loss, variable-length BPTT, NT-ASGD's averaged weights,
each exact across --resume."""
import pytest
import torch

from lmkit.checkpoint.save_load import load_model
from lmkit.errors import ConfigError
from lmkit.models.neural.rnn import RNNConfig, RNNLM
from lmkit.models.neural.scratch import ScratchConfig, ScratchRNN
from lmkit.text.encode import encode_lines
from lmkit.text.tokenizers import fit_tokenizer
from lmkit.train.averaging import WeightAverage, should_start_averaging
from lmkit.train.config import TrainConfig
from lmkit.train.penalties import activation_penalty
from lmkit.train.resume_state import load_resume
from lmkit.train.trainer import TrainCallbacks, Trainer
from lmkit.train.window_lengths import WindowLengths

LINES = [f"the cat {i % 7} sat on the mat {i % 5}" for i in range(160)]


@pytest.fixture(scope="module")
def data():
    tok = fit_tokenizer("char", LINES)
    return tok, encode_lines(tok, LINES[:140]), encode_lines(tok, LINES[140:])


def make_trainer(data, directory, callbacks=None, model_settings=None, **settings):
    tok, train, valid = data
    torch.manual_seed(0)
    model = RNNLM(tok.vocab, RNNConfig(emb_size=8, hidden_size=12, layers=2, **(model_settings or {})))
    config = TrainConfig(**{"batch_size": 4, "bptt": 12, "lr": 5e-3, "max_time": 0, "epochs": 50, "seed": 3,
                            "precision": "fp32", **settings})  # fp32: the same figures on every CPU
    return Trainer(model, tok, train, valid, config, directory, callbacks=callbacks)


class StopAt(TrainCallbacks):
    """Stops the run after `step`, as SIGINT would (the budget, and so the LR schedule, stays the straight run's)."""

    def __init__(self, step: int):
        self.step, self.trainer = step, None

    def on_step(self, info):
        if info["step"] == self.step:
            self.trainer.stop.received = "SIGINT"


def interrupted(data, directory, step: int, **settings):
    stop = StopAt(step)
    stop.trainer = make_trainer(data, directory, stop, **settings)
    assert stop.trainer.run().stopped == "SIGINT"


def resumed(data, directory, callbacks=None, **settings):
    t = make_trainer(data, directory, callbacks, **settings)
    model, _, _, state = load_resume(directory)
    t.model.load_state_dict(model.state_dict())
    t.restore(state)
    return t


# --- AR / TAR ------------------------------------------------------------------------------
def test_activation_penalty_by_hand():
    raw = torch.tensor([[[1.0, 2.0], [3.0, 5.0], [0.0, 1.0]]])  # (1, 3, 2)
    dropped = torch.tensor([[[2.0, 0.0], [6.0, 0.0], [0.0, 2.0]]])
    ar = (4 + 36 + 4) / 6          # mean of dropped^2
    tar = (4 + 9 + 9 + 16) / 4     # mean of (h_t - h_{t-1})^2: differences (2, 3), (-3, -4)
    assert float(activation_penalty(raw, dropped, 2.0, 0.0)) == pytest.approx(2 * ar)
    assert float(activation_penalty(raw, dropped, 0.0, 1.0)) == pytest.approx(tar)
    assert float(activation_penalty(raw, dropped, 2.0, 1.0)) == pytest.approx(2 * ar + tar)
    assert float(activation_penalty(raw[:, :1], dropped[:, :1], 0.0, 1.0)) == 0.0  # one step: no difference


def test_the_trainer_adds_ar_and_tar_to_what_it_minimises_and_reports_the_cross_entropy(tmp_path, data):
    t = make_trainer(data, tmp_path, ar=50.0, tar=20.0, model_settings=dict(dropout=0.0, out_dropout=0.0))
    inputs, targets = t.batch[:, :12], t.batch[:, 1:13]
    loss, objective = (float(x.detach()) for x in t._losses(inputs, targets, targets.numel()))
    with torch.no_grad():
        logp, _, (raw, dropped) = t.model(inputs, targets, None, outputs=True)
    ar, tar = float(dropped.pow(2).mean()), float((raw[:, 1:] - raw[:, :-1]).pow(2).mean())
    assert loss == pytest.approx(float(-logp.mean()), rel=1e-6)
    assert objective == pytest.approx(loss + 50.0 * ar + 20.0 * tar, rel=1e-6) and 50.0 * ar + 20.0 * tar > 0.05


def test_ar_and_tar_need_a_model_that_exposes_its_outputs(tmp_path, data):
    tok, train, valid = data
    model = ScratchRNN(tok.vocab, ScratchConfig(hidden_size=8, emb_size=8))
    with pytest.raises(ConfigError, match="--ar and --tar need a model that exposes its top-layer outputs"):
        Trainer(model, tok, train, valid, TrainConfig(tar=1.0, batch_size=4, bptt=8), tmp_path)


# --- variable-length BPTT -----------------------------------------------------------------
def test_window_lengths_vary_around_bptt_and_repeat_with_the_seed():
    first, again, other = (WindowLengths(70, seed=seed) for seed in (11, 11, 12))
    sample = [first.next() for _ in range(4000)]
    assert [again.next() for _ in range(100)] == sample[:100] != [other.next() for _ in range(100)]
    assert min(sample) >= 5 and max(sample) <= 90
    assert 67 < sum(sample) / len(sample) < 70                      # 0.95 * 70 + 0.05 * 35 = 68.25
    assert 0.03 < sum(n < 50 for n in sample) / len(sample) < 0.07  # the bptt/2 windows
    assert len(set(sample)) > 20


def test_variable_bptt_scales_each_windows_lr_by_its_length(tmp_path, data):
    t = make_trainer(data, tmp_path, variable_bptt=True, max_steps=30, schedule="plateau", bptt=12)
    seen = []
    original = t._train_step

    def spy(inputs, targets, tokens):
        seen.append((inputs.shape[1], t.optimizer.param_groups[0]["lr"]))
        return original(inputs, targets, tokens)

    t._train_step = spy
    t.run()
    assert len({length for length, _ in seen}) > 3
    assert all(lr == pytest.approx(5e-3 * length / 12) for length, lr in seen)


def test_variable_bptt_resumes_exactly(tmp_path, data):
    straight = make_trainer(data, tmp_path / "a", variable_bptt=True, max_steps=30).run()
    interrupted(data, tmp_path / "b", 13, variable_bptt=True, max_steps=30)
    result = resumed(data, tmp_path / "b", variable_bptt=True, max_steps=30).run()
    assert result.progress.tokens == straight.progress.tokens  # the same window lengths
    assert result.progress.last_loss == straight.progress.last_loss


# --- NT-ASGD ------------------------------------------------------------------------------
def test_the_averaging_trigger():
    assert should_start_averaging(True, False, 5, 5)
    assert not should_start_averaging(True, False, 4, 5)
    assert not should_start_averaging(False, False, 9, 5)
    assert not should_start_averaging(True, True, 9, 5)  # started already


def test_the_weight_average_is_the_running_mean():
    model = torch.nn.Linear(3, 2)
    average = WeightAverage(model)
    seen = []
    for k in range(5):
        with torch.no_grad():
            model.weight.fill_(float(k * k))
        average.update(model)
        seen.append(model.weight.detach().clone())
    assert torch.allclose(average.model.weight, torch.stack(seen).mean(0)) and average.count == 5


class Snapshots(StopAt):
    """The weights after every optimizer step, and the messages; stops after `step` when given."""

    def __init__(self, step: int | None = None):
        super().__init__(step)
        self.weights, self.messages = {}, []

    def on_step(self, info):
        self.weights[info["step"]] = {n: p.detach().clone() for n, p in self.trainer.model.named_parameters()}
        super().on_step(info)

    def on_message(self, text):
        self.messages.append(text)


def averaging_run(data, directory, monkeypatch, stop_after=None, **settings):
    """A run whose averaging starts at its first evaluation (step 4)."""
    monkeypatch.setattr("lmkit.train.trainer.should_start_averaging", lambda on, started, bad, nonmono: on and not started)
    snapshots = Snapshots(stop_after)
    t = make_trainer(data, directory, snapshots, asgd=True, eval_every=4, patience=50, **settings)
    snapshots.trainer = t
    return t, snapshots


def mean_of(snapshots: Snapshots, first: int, last: int) -> dict:
    steps = range(first, last + 1)
    return {n: torch.stack([snapshots.weights[s][n] for s in steps]).mean(0) for n in snapshots.weights[first]}


def test_asgd_validates_and_saves_the_running_mean_of_the_weights(tmp_path, data, monkeypatch):
    t, snapshots = averaging_run(data, tmp_path, monkeypatch, max_steps=15)
    t.run()
    assert "averaging the weights from here on" in snapshots.messages[0] and t.progress.averaging_since == 4
    expected = mean_of(snapshots, 4, 15)
    averaged = dict(t.average.model.named_parameters())
    assert all(torch.allclose(averaged[n], expected[n], atol=1e-6) for n in expected)
    assert not torch.allclose(averaged["rnn.weight_hh_l0"], snapshots.weights[15]["rnn.weight_hh_l0"])
    saved, _, config = load_model(tmp_path)  # the best model: the mean at the step it was validated
    at = config["valid"]["step"]
    expected = mean_of(snapshots, 4, at)
    assert config["valid"]["averaged"] == at - 3
    assert all(torch.allclose(p, expected[n], atol=1e-6) for n, p in saved.named_parameters())


def test_asgd_resume_restores_the_average(tmp_path, data, monkeypatch):
    straight, _ = averaging_run(data, tmp_path / "a", monkeypatch, max_steps=15)
    straight.run()
    assert averaging_run(data, tmp_path / "b", monkeypatch, stop_after=10, max_steps=15)[0].run().stopped == "SIGINT"
    t = resumed(data, tmp_path / "b", asgd=True, eval_every=4, patience=50, max_steps=15)
    assert t.average is not None and t.average.count == 7  # steps 4 to 10
    t.run()
    for (name, a), b in zip(straight.average.model.named_parameters(), t.average.model.parameters()):
        assert torch.equal(a, b), name
