"""Training a bidirectional (cloze) model on batches of whole lines: learning, exact resume mid-epoch,
and a trainer state saved when cloze models walked stream windows."""
import pytest
import torch

from lmkit.models.neural.cloze import ClozeConfig, ClozeRNN
from lmkit.text.encode import encode_lines
from lmkit.text.tokenizers import fit_tokenizer
from lmkit.train.config import TrainConfig
from lmkit.train.resume_state import load_resume
from lmkit.train.small_data import fitted_shape
from lmkit.train.trainer import POSITION_LINES, Trainer

# lines of very different lengths: a window grid would cut most of the long ones
LINES = [("我的手机坏了，我打算买一部新手机。" * (1 + i % 6)) if i % 3 else f"the cat {i % 7} sat" for i in range(120)]


@pytest.fixture(scope="module")
def data():
    tok = fit_tokenizer("char", LINES)
    return tok, encode_lines(tok, LINES[:100]), encode_lines(tok, LINES[100:])


def make_trainer(data, directory, **overrides):
    tok, train, valid = data
    torch.manual_seed(0)
    model = ClozeRNN(tok.vocab, ClozeConfig(kind="bilstm", emb_size=16, hidden_size=24, layers=1))
    settings = dict(epochs=2, batch_size=4, bptt=32, lr=1e-2, seed=7, schedule="plateau")
    settings.update(overrides)
    return Trainer(model, tok, train, valid, TrainConfig(**settings), directory)


def test_an_epoch_takes_every_line_once_and_pseudo_perplexity_falls(tmp_path, data):
    trainer = make_trainer(data, tmp_path, epochs=3)
    _, train, valid = data
    untrained = trainer.evaluate(valid).perplexity
    result = trainer.run()
    assert result.progress.tokens == 3 * len(train)  # every token of every line predicted once an epoch
    assert result.progress.step == 3 * len(trainer.lines)
    ppl = [r["valid_pseudo_ppl"] for r in result.progress.history]
    assert ppl[-1] < ppl[0] < 0.2 * untrained


def test_resume_mid_epoch_continues_with_the_same_batches(tmp_path, data):
    straight = make_trainer(data, tmp_path / "a", epochs=1).run()
    make_trainer(data, tmp_path / "b", epochs=1, max_steps=5).run()
    resumed = make_trainer(data, tmp_path / "b", epochs=1)
    model, _, _, state = load_resume(tmp_path / "b")
    assert state["position"] == POSITION_LINES
    resumed.model.load_state_dict(model.state_dict())
    resumed.restore(state)
    assert resumed.progress.column == 5 and resumed.windows_done() == 5
    assert resumed.run().progress.last_loss == pytest.approx(straight.progress.last_loss, abs=1e-6)


def test_a_state_from_stream_windows_starts_its_epoch_again(tmp_path, data):
    make_trainer(data, tmp_path, epochs=1, max_steps=3).run()
    _, _, _, state = load_resume(tmp_path)
    del state["position"]                        # saved before line batches: a column of the stream
    state["progress"]["column"] = 10_000
    resumed = make_trainer(data, tmp_path, epochs=1)
    resumed.restore(state)
    assert resumed.progress.column == 0 and resumed.progress.step == 3


def test_a_state_from_before_line_batches_in_eights_starts_its_epoch_again(tmp_path, data):
    make_trainer(data, tmp_path, epochs=1, max_steps=3).run()
    _, _, _, state = load_resume(tmp_path)
    assert state["line_rows"] == [8, 24]
    del state["line_rows"]  # an older lmkit cut its batches at any number of rows: index 3 means other lines
    messages = []
    resumed = make_trainer(data, tmp_path, epochs=1)
    resumed.callbacks.on_message = messages.append
    resumed.restore(state)
    assert resumed.progress.column == 0 and "an older lmkit" in messages[0]


def test_a_resume_with_other_line_batches_starts_its_epoch_again(tmp_path, data):
    make_trainer(data, tmp_path, epochs=1, max_steps=3).run()
    _, _, _, state = load_resume(tmp_path)
    messages = []
    resumed = make_trainer(data, tmp_path, epochs=1, batch_size=2)  # other batches: index 3 means other lines
    resumed.callbacks.on_message = messages.append
    resumed.restore(state)
    assert resumed.progress.column == 0 and "epoch 1 starts again" in messages[0]


def test_variable_bptt_is_refused_for_a_bidirectional_model_new_or_resumed(tmp_path, data):
    from lmkit.errors import ConfigError

    with pytest.raises(ConfigError, match="--variable-bptt does not apply to --model bilstm"):
        make_trainer(data, tmp_path, variable_bptt=True)


def test_a_short_text_shrinks_a_bidirectional_models_streams_before_its_lines():
    from lmkit.train.small_data import MIN_STEPS_PER_EPOCH, fitted_shape, steps_per_epoch

    windows = fitted_shape(5_000, 16, 128)
    lines = fitted_shape(5_000, 16, 128, whole_lines=True)
    assert windows == (16, 16) and lines == (2, 128)  # 256 tokens a step either way, but lines up to 255 tokens stay whole
    assert steps_per_epoch(5_000, *lines) >= MIN_STEPS_PER_EPOCH


@pytest.mark.parametrize("processes", [2, 3])
@pytest.mark.parametrize("whole_lines", [False, True])
def test_a_fitted_batch_stays_a_multiple_of_the_processes_sharing_it(processes, whole_lines):
    """Under --nproc the batch is split among the processes: fitting it to a short text must not pick 1 or 5."""
    for tokens in (300, 2_000, 5_000, 40_000):
        batch_size, bptt = fitted_shape(tokens, 16, 128, whole_lines, processes)
        assert batch_size % processes == 0 and batch_size >= processes, (tokens, batch_size)


def test_a_default_batch_the_processes_cannot_share_becomes_the_multiple_below_it():
    import dataclasses

    from lmkit.commands.train_fit import fit_shape_to_text

    said = []
    config = TrainConfig()  # --batch-size 16
    fitted = fit_shape_to_text(config, 10_000_000, set(), said.append, processes=3)
    assert fitted.batch_size == 15 and fitted.bptt == config.bptt and "using --batch-size 15 instead of 16" in said[0]
    chosen = fit_shape_to_text(dataclasses.replace(config, batch_size=16), 10_000_000, {"batch_size"}, said.append,
                               processes=3)
    assert chosen.batch_size == 16 and len(said) == 1  # a batch the user gave is theirs: the processes refuse it


def test_a_text_too_short_for_any_shape_gets_no_fitting_note_before_its_error():
    """Two processes on a 3-token text: no shape makes a step, so no note promising '0 steps per epoch'."""
    from lmkit.commands.train_fit import fit_shape_to_text

    said = []
    fitted = fit_shape_to_text(TrainConfig(), 3, set(), said.append, processes=2)
    assert said == [] and fitted.batch_size == 2  # the smallest the processes share: the error names it
