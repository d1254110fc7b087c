"""Trainer: learning, exact resume, seeds, NaN handling, locks and unsafe trainer state."""
import json
import math

import pytest
import torch
from conftest import assert_one_line_error, requires_bf16

from lmkit.errors import CheckpointError, ConfigError, TrainingError
from lmkit.models.neural.rnn import RNNConfig, RNNLM
from lmkit.text.encode import encode_lines
from lmkit.text.tokenizers import fit_tokenizer
from lmkit.train.config import TrainConfig
from lmkit.train.resume_state import DirectoryLock, load_resume
from lmkit.train.trainer import Trainer

LINES = [f"the cat {i % 7} sat on the mat {i % 5}" if i % 4 else "春眠不觉晓，处处闻啼鸟。" for i in range(200)]


@pytest.fixture(scope="module")
def data():
    tok = fit_tokenizer("char", LINES)
    return tok, encode_lines(tok, LINES[:170]), encode_lines(tok, LINES[170:])


def make_trainer(data, directory, **overrides):
    tok, train, valid = data
    torch.manual_seed(0)
    model = RNNLM(tok.vocab, RNNConfig(cell="lstm", emb_size=16, hidden_size=24, layers=1, out_dropout=0.2))
    settings = dict(epochs=2, batch_size=4, bptt=16, lr=5e-3, seed=7, schedule="plateau")  # constant LR: the
    # learning figures below were set for it; the budget schedules have tests of their own
    overwrite = overrides.pop("overwrite", False)
    settings.update(overrides)
    return Trainer(model, tok, train, valid, TrainConfig(**settings), directory, overwrite=overwrite)


def test_validation_perplexity_falls_and_best_and_last_are_kept(tmp_path, data):
    result = make_trainer(data, tmp_path, eval_every=20).run()
    ppl = [r["valid_ppl"] for r in result.progress.history]
    assert ppl[-1] < 0.6 * ppl[0]
    assert (tmp_path / "model.safetensors").exists() and (tmp_path / "last" / "trainer_state.pt").exists()
    assert len((tmp_path / "metrics.jsonl").read_text().splitlines()) == len(ppl)


@requires_bf16()
def test_bf16_training_tracks_fp32(tmp_path, data):
    """bf16 autocast: matmuls in bf16, loss in fp32; after the same steps the validation NLL is close to fp32's."""
    runs = {p: make_trainer(data, tmp_path / p, eval_every=20, precision=p).run().progress for p in ("fp32", "bf16")}
    first, last = (runs["bf16"].history[i]["valid_nll"] for i in (0, -1))
    assert last < 0.6 * first
    assert runs["bf16"].last_loss != runs["fp32"].last_loss  # the matmuls did run in bf16
    assert runs["bf16"].best_valid == pytest.approx(runs["fp32"].best_valid, rel=0.02)


def test_two_epochs_equal_one_plus_one_with_resume(tmp_path, data):
    straight = make_trainer(data, tmp_path / "a").run()
    make_trainer(data, tmp_path / "b", epochs=1).run()
    resumed = make_trainer(data, tmp_path / "b")
    model, _, _, state = load_resume(tmp_path / "b")
    resumed.model.load_state_dict(model.state_dict())
    resumed.restore(state)
    result = resumed.run()
    assert result.progress.step == straight.progress.step
    assert result.progress.last_loss == straight.progress.last_loss


def test_resume_mid_epoch_carries_hidden_state_and_position(tmp_path, data):
    straight = make_trainer(data, tmp_path / "a", epochs=1).run()
    make_trainer(data, tmp_path / "b", epochs=1, max_steps=7).run()
    resumed = make_trainer(data, tmp_path / "b", epochs=1)
    model, _, _, state = load_resume(tmp_path / "b")
    resumed.model.load_state_dict(model.state_dict())
    resumed.restore(state)
    assert resumed.hidden is not None and resumed.progress.column == 7 * 16
    assert resumed.run().progress.last_loss == pytest.approx(straight.progress.last_loss, abs=1e-6)


def test_a_resume_drops_the_curves_rows_a_killed_run_wrote_after_its_saved_state(tmp_path, data):
    """pass 77: kill -9 between a validation's curve row and its resumable state left that row, and the resumed
    run wrote the step again: metrics.jsonl (and the report's plot) showed two timelines."""
    straight = make_trainer(data, tmp_path / "a", epochs=1, eval_every=5, max_steps=20).run()
    make_trainer(data, tmp_path / "b", epochs=1, eval_every=5, max_steps=10).run()
    curve = tmp_path / "b" / "metrics.jsonl"
    lost = {**json.loads(curve.read_text().splitlines()[-1]), "step": 15, "valid_nll": 9.0}  # the killed run's
    curve.write_text(curve.read_text() + json.dumps(lost) + "\n" + "not a record\n")
    resumed = make_trainer(data, tmp_path / "b", epochs=1, eval_every=5, max_steps=20)
    model, _, _, state = load_resume(tmp_path / "b")
    resumed.model.load_state_dict(model.state_dict())
    resumed.restore(state)
    resumed.run()
    lines = curve.read_text().splitlines()
    assert "not a record" in lines  # not lmkit's to judge: the reader skips it with a warning, as before
    records = [json.loads(line) for line in lines if line != "not a record"]
    assert [r["step"] for r in records] == [5, 10, 15, 20]
    assert [r["valid_nll"] for r in records] == pytest.approx([r["valid_nll"] for r in straight.progress.history])


def test_a_record_cut_short_stays_a_line_of_its_own_and_the_next_is_whole(tmp_path, data):
    """Pass 84: a run stopped by a full disk mid-record left metrics.jsonl without its last newline, and the resumed
    run's first record was glued onto the cut one, so the reader skipped both."""
    from lmkit.checkpoint.learning_curve import append_metrics, read_metrics

    make_trainer(data, tmp_path / "m", epochs=1, eval_every=5, max_steps=10).run()
    curve = tmp_path / "m" / "metrics.jsonl"
    curve.write_text(curve.read_text() + '{"step": 15, "valid_n')  # cut short
    append_metrics(tmp_path / "m", {"step": 20, "tokens": 1, "time": 1.0, "valid_nll": 2.0})
    assert curve.read_text().endswith('{"step": 15, "valid_n\n{"step": 20, "tokens": 1, "time": 1.0, "valid_nll": 2.0}\n')
    with pytest.warns(UserWarning, match="skipped 1 of 4 lines"):
        assert [r["step"] for r in read_metrics(tmp_path / "m")] == [5, 10, 20]


def test_same_seed_same_losses(tmp_path, data):
    runs = [make_trainer(data, tmp_path / str(i), epochs=1).run().progress for i in range(2)]
    curves = [[(r["train_loss"], r["valid_nll"]) for r in run.history] for run in runs]
    assert runs[0].last_loss == runs[1].last_loss and curves[0] == curves[1]


def test_a_fresh_run_into_a_saved_one_is_refused_unless_told_to_replace_it(tmp_path, data):
    """pass 75: the README's Python example run twice replaced the model and appended a second learning curve to
    the first one's metrics.jsonl."""
    first = make_trainer(data, tmp_path / "m", epochs=1).run().progress
    curve = (tmp_path / "m" / "metrics.jsonl").read_text()
    with pytest.raises(CheckpointError, match="holds a run saved before .*; pass overwrite=True to replace it"):
        make_trainer(data, tmp_path / "m", epochs=1).run()
    assert (tmp_path / "m" / "metrics.jsonl").read_text() == curve
    again = make_trainer(data, tmp_path / "m", epochs=1, overwrite=True).run().progress
    steps = [json.loads(line)["step"] for line in (tmp_path / "m" / "metrics.jsonl").read_text().splitlines()]
    assert len(steps) == len(curve.splitlines()) and steps == sorted(set(steps))  # one curve, not appended
    assert again.last_loss == first.last_loss


class Exploding(RNNLM):
    """An RNNLM whose loss turns NaN from its 6th training window on."""

    calls = 0

    def forward(self, inputs, targets, state):
        logp, state = super().forward(inputs, targets, state)
        if self.training:
            Exploding.calls += 1
            if Exploding.calls >= 6:
                logp = logp * float("nan")
        return logp, state


def test_nan_loss_stops_and_keeps_the_last_good_checkpoint(tmp_path, data):
    tok, train, valid = data
    Exploding.calls = 0
    model = Exploding(tok.vocab, RNNConfig(emb_size=8, hidden_size=8, layers=1))
    trainer = Trainer(model, tok, train, valid, TrainConfig(batch_size=4, bptt=16, save_every=2), tmp_path)
    with pytest.raises(TrainingError, match=r"step 6: training loss is nan; stopped, the last good checkpoint .* lower --lr"):
        trainer.run()
    _, _, _, state = load_resume(tmp_path)
    assert state["step"] == 4
    assert all(math.isfinite(v.float().sum()) for v in torch.load(tmp_path / "last" / "trainer_state.pt", weights_only=True)["hidden"])


def test_nan_loss_rolls_back_when_asked(tmp_path, data):
    tok, train, valid = data
    Exploding.calls = 0
    model = Exploding(tok.vocab, RNNConfig(emb_size=8, hidden_size=8, layers=1))
    messages = []
    trainer = Trainer(model, tok, train, valid, TrainConfig(batch_size=4, bptt=16, save_every=2, on_nan="rollback", lr=1e-3),
                      tmp_path)
    trainer.callbacks.on_message = messages.append
    with pytest.raises(TrainingError, match="training loss is nan"):
        trainer.run()  # the fault persists, so after 3 rollbacks it stops
    assert len(messages) == 3 and "rolled back to the last checkpoint (step 4)" in messages[0]


def test_pickled_code_in_trainer_state_is_refused(tmp_path, data):
    make_trainer(data, tmp_path, epochs=1, max_steps=2).run()
    marker = tmp_path / "ran"

    class Evil:
        def __reduce__(self):
            import os
            return (os.system, (f"touch {marker}",))

    torch.save({"step": 1, "payload": Evil()}, tmp_path / "last" / "trainer_state.pt", pickle_protocol=2)
    with pytest.raises(CheckpointError, match="refused to load"):
        load_resume(tmp_path)
    assert not marker.exists()


def test_resume_from_directory_without_state(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(CheckpointError, match="no resumable state"):
        load_resume(tmp_path / "empty")


def test_second_lock_on_the_same_directory_is_refused(tmp_path):
    with DirectoryLock(tmp_path):
        with pytest.raises(ConfigError, match="another lmkit process is training into this directory"):
            with DirectoryLock(tmp_path):
                pass
    with DirectoryLock(tmp_path):  # released: free again
        pass


def test_resume_into_a_busy_directory_names_the_busy_run_not_the_files_it_is_rewriting(cli, tmp_path):
    """A resume used to read last/ first: caught while the running process replaced it, it blamed the files."""
    from conftest import TINY

    out = tmp_path / "run"
    args = ["--train", TINY["en"]["train"], "--hidden-size", "8", "--emb-size", "8", "--max-steps", "2",
            "--save-every", "1", "--quiet", "--sample-tokens", "0", "--out", out]
    assert cli("train", *args).exit_code == 0
    (out / "last" / "config.json").unlink()  # as seen halfway through the other process's save
    with DirectoryLock(out):
        result = cli("train", "--resume", out)
    assert result.exit_code == 1 and "another lmkit process is training into this directory" in result.output
    with DirectoryLock(out):  # pass 84: a fresh run into it said "pass --resume", which the lock then refused
        result = cli("train", *args)
    assert_one_line_error(result, f"{out}: another lmkit process is training into this directory (it holds .lock); "
                          "choose another --out or wait for it")
    assert DirectoryLock.refuse_if_held(out) is None  # released: free again, and nothing was created
    assert not (tmp_path / "elsewhere" / ".lock").exists()
    DirectoryLock.refuse_if_held(tmp_path / "elsewhere")
    assert not (tmp_path / "elsewhere").exists()


def test_batch_too_large_for_the_data(tmp_path, data):
    with pytest.raises(ConfigError, match="too few for --batch-size 100000"):
        make_trainer(data, tmp_path, batch_size=100_000)


@pytest.mark.parametrize("field,value,message", [
    ("bptt", 0, "--bptt must be at least 1"), ("lr", -1.0, "--lr must be > 0"),
    ("optimizer", "adam", "--optimizer must be one of sgd, adamw"), ("precision", "fp8", "--precision must be one of"),
])
def test_bad_train_config(tmp_path, data, field, value, message):
    with pytest.raises(ConfigError, match=message):
        make_trainer(data, tmp_path, **{field: value})


def test_the_run_records_the_precision_and_threads_it_used(tmp_path, data, cpu_without_bf16):
    from lmkit.checkpoint.learning_curve import read_metrics
    from lmkit.checkpoint.save_load import read_config

    torch.set_num_threads(1)
    trainer = make_trainer(data, tmp_path, max_steps=4, eval_every=2)  # precision auto: fp32 on this CPU
    assert trainer.precision.describe().startswith("fp32 (auto: this CPU (test CPU with AVX2 only")
    trainer.run()
    assert read_config(tmp_path)["runtime"] == {"precision": "fp32", "threads": 1, "device": "cpu", "processes": 1}
    assert [(r["precision"], r["threads"]) for r in read_metrics(tmp_path)] == [("fp32", 1), ("fp32", 1)]


def test_a_state_saved_under_bf16_resumes_in_the_weights_dtype(tmp_path, data):
    """Under bf16 autocast the carried hidden state is bf16; resumed in fp32 (on a CPU without bf16) it must be
    fp32 again, or the LSTM asks oneDNN for bf16 kernels that CPU refuses."""
    trainer = make_trainer(data, tmp_path, precision="fp32", max_steps=3)
    trainer.run()
    state = trainer.trainer_state()
    state["hidden"] = [h.to(torch.bfloat16) for h in state["hidden"]]
    resumed = make_trainer(data, tmp_path, precision="fp32")
    resumed.restore(state)
    assert [h.dtype for h in resumed.hidden] == [torch.float32, torch.float32]


def test_a_resume_already_at_its_max_steps_trains_no_further(tmp_path, data):
    make_trainer(data, tmp_path, epochs=1, max_steps=5).run()
    for limit in (5, 3):  # at the limit, or past it
        resumed = make_trainer(data, tmp_path, epochs=1, max_steps=limit)
        model, _, _, state = load_resume(tmp_path)
        resumed.model.load_state_dict(model.state_dict())
        resumed.restore(state)
        result = resumed.run()
        assert result.stopped == "max_steps" and result.progress.step == 5
    assert [r["step"] for r in result.progress.history][-1] == 5
