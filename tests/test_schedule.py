"""The LR schedule that knows its budget: warm-up, then cosine or linear decay to 0 where the budget ends,
by steps, by (fake) time or by epochs; resume continues the same curve. The plateau rule stays available."""
import math
from types import SimpleNamespace

import pytest
import torch

from lmkit.models.neural.rnn import RNNConfig, RNNLM
from lmkit.text.encode import encode_lines
from lmkit.text.tokenizers import fit_tokenizer
from lmkit.train.config import TrainConfig
from lmkit.train.resume_state import load_resume
from lmkit.train.schedule import budget_fraction, budget_lr
from lmkit.train.trainer import TrainCallbacks, Trainer

LINES = [f"the cat {i % 7} sat on the mat {i % 5}" for i in range(160)]
LR = 0.01


@pytest.fixture(scope="module")
def data():
    tok = fit_tokenizer("char", LINES)
    return tok, encode_lines(tok, LINES[:140]), encode_lines(tok, LINES[140:])


class LRs(TrainCallbacks):
    """Records the scheduled LR of every step; can stop the run after a given step, as SIGINT would."""

    def __init__(self, stop_after=None, clock=None):
        self.lrs, self.stop_after, self.clock, self.trainer = {}, stop_after, clock, None

    def on_step(self, info):
        self.lrs[info["step"]] = info["lr"]
        if info["step"] == self.stop_after:
            self.trainer.stop.received = "SIGINT"


def trainer(data, directory, callbacks, **settings):
    tok, train, valid = data
    torch.manual_seed(0)
    model = RNNLM(tok.vocab, RNNConfig(emb_size=8, hidden_size=8, layers=1))
    config = TrainConfig(**{"batch_size": 2, "bptt": 8, "lr": LR, "warmup": 0.0, "max_time": 0, "epochs": 1000,
                            "eval_every": 1000, "precision": "fp32", **settings})
    t = Trainer(model, tok, train, valid, config, directory, callbacks=callbacks)
    callbacks.trainer = t
    if callbacks.clock is not None:  # every step takes 10 fake seconds, inside the step as a real one's do
        step = t._train_step

        def timed_step(*args, **kwargs):
            callbacks.clock.now += 10.0
            return step(*args, **kwargs)

        t._train_step = timed_step
    return t


def test_the_budget_curve():
    assert budget_lr(1.0, 0.0, "cosine", 0.0) == 1.0
    assert budget_lr(1.0, 0.5, "cosine", 0.0) == pytest.approx(0.5)
    assert budget_lr(1.0, 1.0, "cosine", 0.0) == pytest.approx(0.0)
    assert budget_lr(1.0, 0.25, "linear", 0.0) == pytest.approx(0.75)
    assert budget_lr(1.0, 0.05, "linear", 0.1) == pytest.approx(0.5)  # half way up the warm-up
    assert budget_lr(1.0, 0.5, "cosine", 0.5) == pytest.approx(1.0)   # the warm-up ends at the LR itself
    assert budget_lr(1.0, 0.75, "linear", 0.5) == pytest.approx(0.5)  # ... and the decay has the rest
    assert budget_lr(1.0, 1.0, "cosine", 0.9) == pytest.approx(0.0)
    assert budget_fraction(10, 30.0, 0.5, 40, 60.0, 2) == 0.5    # the time budget is the first to run out
    assert budget_fraction(30, 30.0, 0.5, 40, None, 2) == 0.75   # no time budget: the steps
    assert budget_fraction(30, 30.0, 0.5, None, None, 2) == 0.25  # neither: the epochs


@pytest.mark.parametrize("shape", ["cosine", "linear"])
def test_a_step_budget_decays_the_lr_to_zero_at_its_end(tmp_path, data, shape):
    record = LRs()
    trainer(data, tmp_path, record, max_steps=40, schedule=shape).run()
    lrs = record.lrs
    assert sorted(lrs) == list(range(1, 41))
    assert lrs[1] == pytest.approx(LR)                 # step 1: nothing used yet
    assert lrs[21] == pytest.approx(0.5 * LR)          # step 21 starts half way through (both shapes)
    end = 0.5 * (1 + math.cos(math.pi * 39 / 40)) if shape == "cosine" else 1 / 40
    assert lrs[40] == pytest.approx(end * LR) and lrs[40] < 0.03 * LR
    assert all(a >= b for a, b in zip(list(lrs.values()), list(lrs.values())[1:]))


def test_warm_up_rises_linearly_first(tmp_path, data):
    record = LRs()
    trainer(data, tmp_path, record, max_steps=40, warmup=0.1).run()
    assert [record.lrs[s] / LR for s in (1, 2, 3)] == pytest.approx([0.0, 0.25, 0.5], abs=0.01)


def test_a_time_budget_is_kept_by_the_clock(tmp_path, data, monkeypatch):
    clock = SimpleNamespace(now=1000.0)
    monkeypatch.setattr("lmkit.train.trainer.time", SimpleNamespace(monotonic=lambda: clock.now))
    record = LRs(clock=clock)
    result = trainer(data, tmp_path, record, max_time=100.0).run()
    assert result.stopped == "max_time" and sorted(record.lrs) == list(range(1, 11))  # 10 steps of 10 s
    assert record.lrs[1] == pytest.approx(LR)
    assert record.lrs[6] == pytest.approx(0.5 * LR)  # 50 s used of 100
    assert record.lrs[10] == pytest.approx(0.5 * (1 + math.cos(0.9 * math.pi)) * LR)


def test_a_time_budget_counts_the_whole_run_across_resume(tmp_path, data, monkeypatch):
    clock = SimpleNamespace(now=1000.0)
    monkeypatch.setattr("lmkit.train.trainer.time", SimpleNamespace(monotonic=lambda: clock.now))
    straight = LRs(clock=clock)
    trainer(data, tmp_path / "a", straight, max_time=100.0).run()
    first = LRs(stop_after=4, clock=clock)
    trainer(data, tmp_path / "b", first, max_time=100.0).run()
    clock.now += 5000.0  # time between the runs does not count
    second = LRs(clock=clock)
    resumed = trainer(data, tmp_path / "b", second, max_time=100.0)
    model, _, _, state = load_resume(tmp_path / "b")
    resumed.model.load_state_dict(model.state_dict())
    resumed.restore(state)
    assert resumed.run().stopped == "max_time"
    assert sorted(second.lrs) == list(range(5, 11))  # 40 s were used before: 60 s are left
    assert {**first.lrs, **second.lrs} == pytest.approx(straight.lrs)


def test_without_a_budget_the_epochs_are_the_budget(tmp_path, data):
    record = LRs()
    t = trainer(data, tmp_path, record, epochs=2, max_steps=None)
    t.run()
    steps = max(record.lrs)
    assert steps == 2 * t.windows
    assert record.lrs[t.windows + 1] == pytest.approx(0.5 * LR, rel=0.02)  # the second epoch starts half way


def test_resume_continues_the_schedule_where_it_stopped(tmp_path, data):
    straight = LRs()
    trainer(data, tmp_path / "a", straight, max_steps=40).run()
    first = LRs(stop_after=17)
    assert trainer(data, tmp_path / "b", first, max_steps=40).run().stopped == "SIGINT"
    second = LRs()
    resumed = trainer(data, tmp_path / "b", second, max_steps=40)
    model, _, _, state = load_resume(tmp_path / "b")
    resumed.model.load_state_dict(model.state_dict())
    resumed.restore(state)
    resumed.run()
    assert sorted(second.lrs) == list(range(18, 41))
    assert {**first.lrs, **second.lrs} == pytest.approx(straight.lrs)


def test_the_plateau_rule_divides_the_lr_when_validation_does_not_improve(tmp_path, data, monkeypatch):
    record = LRs()
    t = trainer(data, tmp_path, record, schedule="plateau", lr_decay=4.0, eval_every=5, max_steps=15, patience=10)
    scores = iter([3.0, 3.5, 2.0])  # better, worse, better
    monkeypatch.setattr(t, "evaluate", lambda stream: SimpleNamespace(mean=next(scores), perplexity=1.0, tokens=1))
    t.run()
    assert [record.lrs[s] for s in (5, 6, 10, 11, 15)] == pytest.approx([LR, LR, LR, LR / 4, LR / 4])


@pytest.mark.parametrize("schedule,stopped_at", [("cosine", 70), ("linear", 70), ("plateau", 20)])
def test_early_stopping_under_a_budget_counts_only_the_last_quarter(tmp_path, data, monkeypatch, schedule, stopped_at):
    """Validation stalls from the first evaluation on: the plateau rule stops after --patience evaluations,
    a budget schedule only once --patience of them fall in the last quarter of its 80 steps (60, 65, 70)."""
    record = LRs()
    t = trainer(data, tmp_path, record, schedule=schedule, eval_every=5, max_steps=80, patience=3)
    scores = iter([3.0] + [3.5] * 20)
    monkeypatch.setattr(t, "evaluate", lambda stream: SimpleNamespace(mean=next(scores), perplexity=1.0, tokens=1))
    result = t.run()
    assert result.stopped == "early_stop" and max(record.lrs) == stopped_at
    assert t.progress.bad_evals == stopped_at // 5 - 1  # --asgd's --nonmono still counts every evaluation


@pytest.mark.parametrize("budget,eval_every,scores,stopped", [
    ({"epochs": 2}, 1000, [3.0, 3.5], "done"),                    # out at the last epoch's end
    ({"max_steps": 21}, 7, [3.0, 2.9, 3.5], "max_steps"),         # out at --max-steps
    ({"max_steps": 28}, 7, [3.0, 2.9, 3.5, 3.5], "early_stop"),   # out a validation before the budget's end
])
def test_patience_running_out_where_the_budget_ends_is_no_early_stop(tmp_path, data, monkeypatch, budget, eval_every,
                                                                     scores, stopped):
    """Patience (1) runs out at the last validation: where that is where the budget ends anyway, the whole budget
    ran and the run says so; a step before it, the run stopped early."""
    record = LRs()
    t = trainer(data, tmp_path, record, schedule="plateau", eval_every=eval_every, patience=1, **budget)
    means = iter(scores)
    monkeypatch.setattr(t, "evaluate", lambda stream: SimpleNamespace(mean=next(means), perplexity=1.0, tokens=1))
    result = t.run()
    assert result.stopped == stopped
    assert max(record.lrs) == (2 * t.windows if "epochs" in budget else 21)


def test_evaluations_counted_against_a_budget_since_grown_no_longer_count(tmp_path, data, monkeypatch):
    """A run stopped early in its last quarter, resumed with twice the budget, stopped again at its first
    evaluation (42% into the new budget): the two evaluations counted before still counted."""
    record = LRs()
    t = trainer(data, tmp_path, record, schedule="cosine", eval_every=5, max_steps=80, patience=2)
    t.progress.best_valid, t.progress.stale_evals = 1.0, 2  # as resumed: no new best since, two counted
    monkeypatch.setattr(t, "evaluate", lambda stream: SimpleNamespace(mean=3.0, perplexity=1.0, tokens=1))
    result = t.run()
    assert result.stopped == "early_stop" and max(record.lrs) == 65  # counted again from 60, 75% of 80


def test_a_state_saved_before_the_rule_keeps_its_count_toward_patience(tmp_path, data):
    first = LRs(stop_after=12)
    assert trainer(data, tmp_path / "a", first, schedule="plateau", max_steps=40).run().stopped == "SIGINT"
    model, _, _, state = load_resume(tmp_path / "a")
    state["progress"] = {k: v for k, v in state["progress"].items() if k != "stale_evals"}  # an older lmkit's
    state["progress"]["bad_evals"] = 2
    resumed = trainer(data, tmp_path / "a", LRs(), schedule="plateau", max_steps=40)
    resumed.restore(state)
    assert resumed.progress.stale_evals == 2


def test_a_run_its_steps_end_repeats_exactly_under_the_default_time_budget(tmp_path, data):
    """pass 74: the same --seed and --max-steps gave other weights each time, because the first step's LR was
    keyed to the seconds the setup took; time now counts as of each step's end, from exactly 0."""
    runs = []
    for name in ("a", "b"):
        record = LRs()
        t = trainer(data, tmp_path / name, record, max_steps=5, max_time=480.0, warmup=0.02)
        t.run()
        runs.append((record.lrs, {key: value.clone() for key, value in t.model.state_dict().items()}))
    (lrs_a, weights_a), (lrs_b, weights_b) = runs
    assert lrs_a == lrs_b and lrs_a[1] == 0.0  # step 1 starts the warm-up at 0
    assert all(torch.equal(weights_a[key], weights_b[key]) for key in weights_a)
