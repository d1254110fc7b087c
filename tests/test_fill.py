"""Fill in the blank: a planted answer that only fits both sides is ranked first."""
import pytest
import torch

from lmkit.errors import ConfigError
from lmkit.generate.fill import fill_blank, sentence_logprobs, split_blank
from lmkit.models.base import StepScoring
from lmkit.models.neural.rnn import RNNConfig, RNNLM
from lmkit.text.tokenizers import CharTokenizer
from lmkit.text.vocab import Vocab

# after 打算 the corpus most often has 去; before 一部 it most often has 有; only 买 is seen on both sides
ONE_TOKEN = ["我打算去北京"] * 5 + ["他有一部新手机"] * 5 + ["我打算买一部新手机"] * 2 + ["我打算睡觉"] * 2
# the planted answer is two characters long: 购买
TWO_TOKENS = ["我打算去北京"] * 5 + ["他有一部新手机"] * 5 + ["我打算购买一部新手机"] * 2 + ["她想买书"]


class CountBigram(StepScoring):
    """Add-k smoothed bigram counted from lines (reversed lines for a backward model); state = previous id."""

    kind = "count-bigram"

    def __init__(self, tokenizer, lines, backward=False, k=0.01):
        self.vocab = vocab = tokenizer.vocab
        counts = torch.full((len(vocab), len(vocab)), k)
        counts[:, [vocab.pad_id, vocab.bos_id]] = 0.0  # never predicted
        for line in lines:
            ids = tokenizer.encode_line(line)
            ids = [vocab.bos_id, *(ids[::-1] if backward else ids), vocab.eos_id]
            for prev, nxt in zip(ids, ids[1:]):
                counts[prev, nxt] += 1
        self.logp = (counts / counts.sum(dim=1, keepdim=True)).log()  # (V, V)

    def init_state(self, batch_size):
        return torch.zeros(batch_size, dtype=torch.long)

    def step(self, ids, state):
        return self.logp[ids], ids

    def select_state(self, state, index):
        return state[index]


def pair(lines):
    tokenizer = CharTokenizer.fit(lines)
    return tokenizer, CountBigram(tokenizer, lines), CountBigram(tokenizer, lines, backward=True)


def fill_text(tokenizer, forward, backward, text, **options):
    left, right = split_blank(text)
    fillers = fill_blank(forward, backward, tokenizer.encode_line(left), tokenizer.encode_line(right), **options)
    return fillers, ["".join(tokenizer.vocab.decode(f.ids)) for f in fillers]


def test_the_filler_that_fits_both_sides_wins():
    tokenizer, forward, backward = pair(ONE_TOKEN)
    # each side alone prefers something else: 去 after 打算, 有 before 一部
    after_left = forward.logp[tokenizer.vocab.id("算")].argmax()
    before_right = backward.logp[tokenizer.vocab.id("一")].argmax()
    assert tokenizer.vocab.decode([after_left, before_right]) == ["去", "有"]
    fillers, texts = fill_text(tokenizer, forward, backward, "我打算____一部新手机")
    assert texts[0] == "买"
    assert len(texts) == len(tokenizer.vocab) - 4  # every ordinary token was a candidate


def test_scores_are_the_two_sentence_log_probs():
    tokenizer, forward, backward = pair(ONE_TOKEN)
    fillers, _ = fill_text(tokenizer, forward, backward, "我打算_一部新手机")
    best = fillers[0]
    ids = tokenizer.encode_line("我打算买一部新手机")
    sentence = torch.tensor([[2, *ids, 3]])
    reversed_sentence = torch.tensor([[2, *ids[::-1], 3]])
    assert best.forward == pytest.approx(float(forward.score(sentence).sum()), abs=1e-5)
    assert best.backward == pytest.approx(float(backward.score(reversed_sentence).sum()), abs=1e-5)
    assert best.total == pytest.approx(best.forward + best.backward)
    totals = [f.total for f in fillers]
    assert totals == sorted(totals, reverse=True)


def test_multi_token_fillers_up_to_max_len():
    tokenizer, forward, backward = pair(TWO_TOKENS)
    _, texts = fill_text(tokenizer, forward, backward, "我打算_一部新手机", max_len=2, beam=4)
    assert texts[0] == "购买"
    assert max(len(t) for t in texts) == 2


def test_given_candidates_are_ranked():
    tokenizer, forward, backward = pair(ONE_TOKEN)
    candidates = [tokenizer.encode_line(c) for c in ("去", "买", "睡觉", "有")]
    fillers, texts = fill_text(tokenizer, forward, backward, "我打算_一部新手机", candidates=candidates)
    assert texts[0] == "买" and sorted(texts) == sorted(["去", "买", "睡觉", "有"])


def test_batched_scores_equal_one_at_a_time():
    tokenizer, forward, _ = pair(ONE_TOKEN)
    sentences = [tokenizer.encode_line(line) for line in ("我打算去北京", "他有", "我", "我打算买一部新手机")]
    batched = sentence_logprobs(forward, sentences, batch_size=3)
    alone = [sentence_logprobs(forward, [s])[0] for s in sentences]
    assert batched == pytest.approx(alone, abs=1e-6)


def test_same_code_runs_on_rnn_models():
    tokenizer = CharTokenizer.fit(ONE_TOKEN)
    torch.manual_seed(0)
    forward, backward = (RNNLM(tokenizer.vocab, RNNConfig(cell="lstm", emb_size=8, hidden_size=16, layers=2)) for _ in "fb")
    fillers, texts = fill_text(tokenizer, forward, backward, "我打算_一部新手机", max_len=3, beam=3)
    ids = tokenizer.encode_line(f"我打算{texts[0]}一部新手机")
    with torch.no_grad():
        expected = float(forward.eval().score(torch.tensor([[2, *ids, 3]])).sum())
    assert fillers[0].forward == pytest.approx(expected, abs=1e-4)
    assert {len(t) for t in texts} == {1, 2, 3}


@pytest.mark.parametrize("text, marker, message", [
    ("我打算一部新手机", "_", "no blank"),
    ("我_算_一部", "_", "2 blanks"),
    ("a [] b", "", "--blank must be a non-empty marker"),
    ("a _ b", "\n", "--blank must be a non-empty marker on one line"),
    ("我打算\n_一部", "_", "holds a line break: give one sentence on one line"),
    ("a _ b\r\nc", "_", "holds a line break"),
    ("a _ b\u2028c", "_", "holds a line break"),
    ("a _ b\x85", "_", "holds a line break"),
    # a marker run that would leave part of a marker behind as text
    ("中午___师", "__", "--blank '__' in '中午___师': the blank would be '__' and leave '_' behind as text"),
    ("ababa", "aba", "the blank would be 'aba' and leave 'ba' behind as text"),
    ("中午＿＿师", "__", "no blank in '中午＿＿师': mark the gap to fill with '__'$"),
])
def test_bad_blanks(text, marker, message):
    with pytest.raises(ConfigError, match=message):
        split_blank(text, marker)


def test_a_run_of_markers_is_one_blank_and_the_marker_can_change():
    assert split_blank("我打算____一部") == ("我打算", "一部")
    assert split_blank("I want [MASK] a phone", "[MASK]") == ("I want ", " a phone")


def test_models_with_different_vocabularies_are_refused():
    tokenizer, forward, _ = pair(ONE_TOKEN)
    other = CountBigram(CharTokenizer(Vocab(["<pad>", "<unk>", "<s>", "</s>", "x"])), ["x"])
    with pytest.raises(ConfigError, match="different vocabularies"):
        fill_blank(forward, other, [4], [5])


@pytest.mark.parametrize("lines, max_len, answer", [(ONE_TOKEN, 1, "买"), (TWO_TOKENS, 2, "购买")])
def test_ngram_models_fill_the_blank(lines, max_len, answer):
    from lmkit.text.encode import encode_lines
    from lmkit.models.ngram.model import build_ngram

    tokenizer = CharTokenizer.fit(lines)
    options = {"order": 3, "smoothing": "add-k", "k": 0.1}  # Kneser-Ney cannot estimate discounts on 14 lines
    forward = build_ngram(encode_lines(tokenizer, lines), tokenizer.vocab, **options)
    backward = build_ngram(encode_lines(tokenizer, lines, reverse=True), tokenizer.vocab, direction="backward", **options)
    _, texts = fill_text(tokenizer, forward, backward, "我打算_一部新手机", max_len=max_len)
    assert texts[0] == answer


def test_the_default_marker_also_matches_the_full_width_blank():
    assert split_blank("中午＿师") == split_blank("中午_＿_师") == ("中午", "师")
    assert split_blank("中午____师", "__") == ("中午", "师")  # whole markers, however they overlap inside the run
    with pytest.raises(ConfigError, match=r"no blank in '中午师': mark the gap to fill with '_' \(or '＿'\)"):
        split_blank("中午师")
