"""Evaluation: one definition of perplexity, stream vs per-line scoring, OOVs and per-line scores."""
import math
from pathlib import Path

import numpy as np
import pytest
import torch

from lmkit.evaluate.text import EvalText, score_text
from lmkit.evaluate.perplexity import (
    line_logprobs, line_scores, stream_logprobs, stream_nll, summarize, token_logprobs,
)
from lmkit.models.base import StepScoring
from lmkit.models.neural.rnn import RNNConfig, RNNLM
from lmkit.text.tokenizers import CharTokenizer, WordTokenizer
from lmkit.text.vocab import BOS_ID, EOS_ID, UNK_ID

LINES = ["the cat sat", "a dog ran far", "the dog sat", "cat", "a cat ran to the dog"]


class UniformLM(StepScoring):
    kind = "uniform"

    def __init__(self, vocab):
        self.vocab = vocab

    def init_state(self, batch_size):
        return None

    def step(self, ids, state):
        size = len(self.vocab)
        return torch.full((ids.shape[0], size), -math.log(size)), state


def small_rnn(vocab, cell="lstm", seed=0):
    torch.manual_seed(seed)
    return RNNLM(vocab, RNNConfig(cell=cell, emb_size=8, hidden_size=12, layers=2)).eval()


@pytest.fixture
def words():
    return WordTokenizer.fit(LINES)


def stream_of(tokenizer, lines):
    from lmkit.text.encode import encode_lines

    return encode_lines(tokenizer, lines)


@pytest.mark.parametrize("reset", [False, True])
def test_uniform_model_has_perplexity_equal_to_vocabulary_size(words, reset):
    stream = stream_of(words, LINES)
    logp = token_logprobs(UniformLM(words.vocab), stream, reset_per_line=reset, rows=3, window=4)
    result = summarize(stream, logp)
    assert result.total.tokens == sum(len(line.split()) + 1 for line in LINES)
    assert result.total.perplexity == pytest.approx(len(words.vocab))
    assert result.total.bits_per_token == pytest.approx(math.log2(len(words.vocab)))
    assert result.lines == len(LINES)


def test_stream_scoring_carries_the_state_through_the_whole_split(words):
    model = small_rnn(words.vocab)
    stream = stream_of(words, LINES)
    state, expected = model.init_state(1), []
    previous = BOS_ID
    for token in stream:  # one token at a time from <s>, never resetting
        with torch.no_grad():
            logp, state = model.step(torch.tensor([previous]), state)
        expected.append(float(logp[0, token]))
        previous = int(token)
    got = stream_logprobs(model, stream, rows=1, window=5)
    assert np.allclose(got, expected, atol=1e-5)
    assert -got.sum() == pytest.approx(stream_nll(model, stream, rows=1, window=5).nll, rel=1e-9)


def test_rows_change_where_the_state_starts_but_count_every_token_once(words):
    model = small_rnn(words.vocab, cell="gru")
    stream = stream_of(words, LINES)
    for rows in (1, 2, 3, 7):
        logp = stream_logprobs(model, stream, rows=rows, window=3)
        assert logp.shape == stream.shape
        assert np.isfinite(logp).all()


def test_rows_begin_only_at_line_starts_so_a_one_line_text_is_one_row(words):
    """Adversarial pass 63: a one-line text was cut mid-line at the default 16 rows, each piece from nothing read,
    so eval scored it otherwise than --rows 1, --reset-per-line, fill and rescore (an N-gram too)."""
    model = small_rnn(words.vocab)
    one = stream_of(words, [" ".join(LINES)])                                 # every word on one line
    alone = line_logprobs(model, one, batch_lines=2, window=3)
    for rows in (1, 2, 16):
        assert np.allclose(stream_logprobs(model, one, rows=rows, window=3), alone, atol=1e-5)
    two = stream_of(words, LINES[:2])
    assert np.allclose(stream_logprobs(model, two, rows=16, window=3), line_logprobs(model, two, window=3), atol=1e-5)


def test_reset_per_line_scores_each_line_alone(words):
    model = small_rnn(words.vocab)
    stream = stream_of(words, LINES)
    got = line_logprobs(model, stream, batch_lines=2, window=3)
    expected = []
    for line in LINES:
        ids = torch.tensor([[BOS_ID, *words.encode_line(line), EOS_ID]])
        expected.extend(model.score(ids)[0].tolist())
    assert np.allclose(got, expected, atol=1e-5)


def test_oov_predictions_are_counted_and_left_out_of_the_kenlm_style_perplexity(words):
    stream = stream_of(words, ["the zebra sat", "a yak"])
    assert (stream == UNK_ID).sum() == 2
    logp = np.log(np.linspace(0.1, 0.9, len(stream)))
    result = summarize(stream, logp)
    known = stream != UNK_ID
    assert result.oov == 2 and result.oov_rate == pytest.approx(2 / len(stream))
    assert result.known.tokens == len(stream) - 2
    assert result.known.perplexity == pytest.approx(math.exp(-logp[known].mean()))
    assert result.total.perplexity == pytest.approx(math.exp(-logp.mean()))


def test_line_scores_add_up_to_the_total(words):
    stream = stream_of(words, LINES)
    logp = -np.arange(1, len(stream) + 1) / 10.0
    scores = line_scores(stream, logp)
    assert list(scores.tokens) == [len(line.split()) + 1 for line in LINES]
    assert scores.logprob.sum() == pytest.approx(logp.sum())
    assert scores.logprob[0] == pytest.approx(logp[:4].sum())


def test_bits_per_char_of_a_char_model_equals_bits_per_token(tmp_path):
    path = tmp_path / "text.txt"
    path.write_text("床前明月光\n疑是地上霜\nhello, world\n", encoding="utf-8")
    text = EvalText.from_file(path)
    tokenizer = CharTokenizer.fit(text.lines())
    scores = score_text(small_rnn(tokenizer.vocab), tokenizer, {}, text)
    result = scores.evaluation
    assert result.chars == result.total.tokens == len(path.read_text(encoding="utf-8"))
    assert result.bits_per_char == pytest.approx(result.total.bits_per_token)


def test_a_file_without_a_final_newline_counts_the_line_end_it_predicts(tmp_path):
    path = tmp_path / "text.txt"
    path.write_text("ab\ncd", encoding="utf-8")
    text = EvalText.from_file(path)
    assert text.chars == 6 and list(text.lines()) == ["ab", "cd"]


# --- N-gram models: numbers computed by hand and by KenLM -------------------------------------
def test_perplexity_of_a_tiny_add_one_bigram_computed_by_hand():
    from lmkit.models.ngram.model import build_ngram

    tokenizer = WordTokenizer.fit(["a b", "a"])  # V = 6; predictable: <unk> </s> a b (4)
    model = build_ngram(stream_of(tokenizer, ["a b", "a"]), tokenizer.vocab, order=2, smoothing="add-k", k=1.0)
    # p(a|<s>) = 3/6, p(b|a) = 2/6, p(</s>|b) = 2/5   -> "a b" has probability 1/15
    # p(b|<s>) = 1/6, p(</s>|b) = 2/5                 -> "b"   has probability 1/15
    stream = stream_of(tokenizer, ["a b", "b"])
    for reset in (False, True):
        result = summarize(stream, token_logprobs(model, stream, reset_per_line=reset, rows=2, window=2))
        assert result.total.tokens == 5
        assert result.total.perplexity == pytest.approx(15 ** (2 / 5))
        assert result.total.nll == pytest.approx(2 * math.log(15))


KENLM = Path(__file__).resolve().parent / "data" / "kenlm"  # tests/data/README.md


@pytest.fixture(scope="module")
def kenlm_reference():
    import gzip

    read = lambda name: gzip.open(KENLM / name, "rt", encoding="utf-8").read().splitlines()  # noqa: E731
    return read("train.txt.gz"), read("test.txt.gz")


def test_kneser_ney_trigram_perplexity_and_oovs_match_kenlm(kenlm_reference, tmp_path):
    from lmkit.evaluate.text import ModelScores, write_line_scores
    from lmkit.models.ngram.model import build_ngram

    train, test = kenlm_reference
    tokenizer = WordTokenizer.fit(train, split_punct=False)  # KenLM counts whitespace words
    model = build_ngram(stream_of(tokenizer, train), tokenizer.vocab, order=3, smoothing="kn")
    stream = stream_of(tokenizer, test)
    logp = token_logprobs(model, stream, rows=16, window=256)
    result = summarize(stream, logp)
    assert result.total.tokens == 52454 and result.oov == 2150
    assert result.total.perplexity == pytest.approx(373.2349, abs=1e-3)  # lmplz -o 3 + query
    # KenLM's "excluding OOVs" (from kenlm.Model(order3.arpa.gz).full_scores, OOV words dropped)
    assert result.known.perplexity == pytest.approx(283.6422, abs=1e-3) and result.known.tokens == 50304
    write_line_scores(tmp_path / "lines.tsv", ModelScores(result, stream, logp))
    ours = [row.split("\t") for row in (tmp_path / "lines.tsv").read_text().splitlines()[1:]]
    theirs = [row.split("\t") for row in (KENLM / "order3.test-scores.tsv").read_text().splitlines()[1:]]
    assert [(r[1], r[2]) for r in ours] == [(t[2], t[3]) for t in theirs]  # tokens and OOVs per line
    assert np.allclose([float(r[4]) for r in ours], [float(t[1]) for t in theirs], atol=1e-3)  # log10 per line


def test_a_zero_probability_token_is_refused_not_reported_as_a_huge_perplexity():
    import numpy as np
    import pytest

    from lmkit.errors import LmkitError
    from lmkit.evaluate.perplexity import summarize

    stream = np.array([5, 6, 3, 7, 3])
    logp = np.array([-1.0, -2.0, -0.5, -np.inf, -0.1])
    with pytest.raises(LmkitError, match=r"^line 2, token 1: has probability zero under this model"):
        summarize(stream, logp)


def test_a_backward_models_zero_probability_token_is_placed_as_the_line_is_written():
    """A backward stream holds each line reversed, `</s>` last: token k of the reversed line is token n - k + 1 of
    the written one, and its `</s>` (read after the line's first token) stands at the line's start (adversarial
    passes 70 and 71: counted from the end, and `</s>` put past the line)."""
    import numpy as np
    import pytest

    from lmkit.errors import LmkitError
    from lmkit.evaluate.perplexity import summarize

    stream = np.array([5, 6, 3, 7, 8, 9, 3])  # line 2 written 9 8 7, read backward as 7 8 9 </s>
    for bad, place in ((3, "token 3"), (5, "token 1"), (6, "the line's start")):
        logp = np.zeros(len(stream))
        logp[bad] = -np.inf
        with pytest.raises(LmkitError, match=rf"^line 2, {place}: has probability zero"):
            summarize(stream, logp, backward=True)


def test_a_huge_perplexity_is_true_or_inf_and_printed_with_an_exponent():
    """A diverged model (706 nats a token, as dynamic evaluation at a reckless LR gives) was shown as exp(700)."""
    import math

    from lmkit.evaluate.perplexity import NLL, shown

    assert NLL(706.0 * 10, 10).perplexity == pytest.approx(math.exp(706.0))
    assert NLL(800.0, 1).perplexity == math.inf
    assert shown(math.exp(706.0)).strip() == f"{math.exp(706.0):.4e}" and shown(4.5391).strip() == "4.5391"
    assert shown(math.inf).strip() == "inf"


def test_json_outputs_write_an_infinite_perplexity_as_null():
    """Python's json writes Infinity, which no other JSON reader accepts (jq even turns it into 1.8e308)."""
    import json
    import math

    from lmkit.files.json_text import json_text

    text = json_text({"perplexity": math.inf, "rows": [1.5, math.nan, {"x": -math.inf}], "n": 3})
    assert json.loads(text) == {"perplexity": None, "rows": [1.5, None, {"x": None}], "n": 3}
    assert "Infinity" not in text and "NaN" not in text
