"""A network that falls into a state training never reached when read from a fresh line start is named (pass 86)."""
import numpy as np
import torch

from lmkit.evaluate.fresh_start import TOKENS, fresh_start_cost, fresh_start_warning, text_fresh_start
from lmkit.text.tokenizers import CharTokenizer
from lmkit.text.vocab import BOS_ID


class Latching(torch.nn.Module):
    """Scores every token at log(1/2), unless its stream began with <s>: then at log(1e-5) for ever after, as the
    short runs of pass 86 did (10.3 nats a character from <s>, 3.1 from the text's first character)."""

    def init_state(self, batch_size):
        return None

    def score_targets(self, inputs, targets, state):
        stuck = state if state is not None else bool((inputs[:, 0] == BOS_ID).any())
        value = np.log(1e-5) if stuck else np.log(0.5)
        return torch.full(targets.shape, float(value)), stuck


class Steady(Latching):
    def score_targets(self, inputs, targets, state):
        return torch.full(targets.shape, float(np.log(0.5))), state


def test_a_start_that_latches_is_told_from_one_that_reads_well():
    stream = np.arange(4, 4 + 3000) % 50 + 4
    latched = fresh_start_cost(Latching(), stream)
    assert latched.troubled and latched.from_line_start > 11 and abs(latched.from_text - np.log(2)) < 1e-6
    said = fresh_start_warning(latched, "the valid split")
    assert said.startswith(f"warning: read from a line start, as eval, generate and fill read a text, this model "
                           f"scores the first {TOKENS:,} tokens of the valid split at 11.51 nats each, and at 0.69")
    assert not fresh_start_cost(Steady(), stream).troubled and fresh_start_warning(fresh_start_cost(Steady(), stream),
                                                                                   "x") is None
    assert fresh_start_cost(Latching(), stream[:2]) is None  # too short to tell


def test_a_text_is_read_as_the_model_reads_it_and_an_ngram_is_not_asked():
    tokenizer = CharTokenizer.fit(["abc de"])
    assert text_fresh_start(Latching(), tokenizer, iter(["abc de"] * 3)).troubled
    assert text_fresh_start(object(), tokenizer, iter(["abc"])) is None  # not a network


def test_training_rows_that_begin_a_window_at_a_line_end_start_it_from_zero():
    """The start every reading from nothing begins with, zero state and a line end, shown to the network in
    training: rows carrying their state never saw it, and 1 of 12 short runs latched there (pass 86)."""
    from lmkit.text.vocab import EOS_ID
    from lmkit.train.hidden_state import fresh_at_line_starts

    h, c = torch.ones(2, 3, 4), torch.full((2, 3, 4), 2.0)  # (L, B, H)
    inputs = torch.tensor([[5, 6], [EOS_ID, 7], [8, EOS_ID]])  # row 1 begins at a line end; row 2 only ends one
    new_h, new_c = fresh_at_line_starts((h, c), inputs)
    assert new_h[:, 1].abs().sum() == 0 and new_c[:, 1].abs().sum() == 0
    assert torch.equal(new_h[:, [0, 2]], h[:, [0, 2]]) and torch.equal(new_c[:, [0, 2]], c[:, [0, 2]])
    assert fresh_at_line_starts(h, inputs)[:, 1].abs().sum() == 0  # a GRU's or Elman's one tensor
    assert fresh_at_line_starts(None, inputs) is None


def test_eval_names_each_network_it_warns_about(monkeypatch, capsys):
    """A mix's fresh-start warning looked at its last member alone and called it 'this model'."""
    from types import SimpleNamespace

    from lmkit.commands import evaluate_run

    tokenizer = CharTokenizer.fit(["abc de"])
    text = SimpleNamespace(label="notes.txt", reader=lambda t: t, lines=lambda: iter(["abc de"] * 3))
    for name, model in (("m/latching", Latching()), ("m/steady", Steady())):
        member = SimpleNamespace(model=model, tokenizer=tokenizer, config={}, name=name)
        evaluate_run.warn_if_fresh_start_latches(member, text)
    said = capsys.readouterr().err
    assert said.count("warning:") == 1
    assert "as eval, generate and fill read a text, m/latching scores the first 2,000 tokens of notes.txt" in said
