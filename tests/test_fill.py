"""Fill in the blank: a planted answer that only fits both sides is ranked first."""
import base64

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
    ("a _ b\rc", "_", "holds a line break"),
    # a marker run that would leave part of a marker behind as text
    ("中午___师", "__", "--blank '__' in '中午___师': the blank would be '__' and leave '_' behind as text"),
    ("ababa", "aba", "the blank would be 'aba' and leave 'ba' behind as text"),
    ("中午＿＿师", "__", "no blank in '中午＿＿师': mark the gap to fill with '__'$"),
])
def test_bad_blanks(text, marker, message):
    with pytest.raises(ConfigError, match=message):
        split_blank(text, marker)


@pytest.mark.parametrize("separator", ["\u2028", "\u2029", "\x85", "\x0b", "\x0c", "\x1c"])
def test_separators_that_training_keeps_inside_a_line_are_inside_the_sentence(separator, tmp_path):
    """Only \n and \r end a line of a training text (tests/test_corpus.py); fill reads a sentence the same way."""
    from lmkit.corpus.text_files import stream_lines

    path = tmp_path / "line.txt"
    path.write_text(f"a{separator}b _ c\n", encoding="utf-8")
    assert [line.rstrip("\n") for line in stream_lines(path)] == [f"a{separator}b _ c"]
    assert split_blank(f"a{separator}b _ c") == (f"a{separator}b ", " c")


def words_of(lines):
    from lmkit.text.tokenizers import WordTokenizer

    return WordTokenizer.fit(lines, min_freq=1)


@pytest.mark.parametrize("text, filler, shown", [
    ("the king_to", "of", "the king of to"),        # scored as four words, shown as four words
    ("the king _ to", "of", "the king of to"),      # spaced as typed: nothing added
    ("_king", "the", "the king"),
    ("the king_", "of", "the king of"),
    ("the kingg_to", "of", "the kingg of to"),     # an unknown word is a word apart too
    ("the king_,", "of", "the king of,"),          # punctuation keeps to its word, as the tokenizer writes it
])
def test_a_blank_touching_words_is_shown_as_the_sentence_scored(text, filler, shown):
    from lmkit.generate.fill import filler_gaps

    tokenizer = words_of(["the king of the land ,", "go to the king"])
    left, right = split_blank(text)
    ids = tokenizer.encode_line(filler)
    before, after = filler_gaps(tokenizer, left, filler, ids, right)
    sentence = left + before + filler + after + right
    assert sentence == shown
    assert tokenizer.encode_line(sentence) == [*tokenizer.encode_line(left), *ids, *tokenizer.encode_line(right)]


def test_chinese_words_are_shown_without_spaces():
    from lmkit.generate.fill import filler_gaps

    pytest.importorskip("jieba")
    from lmkit.text.tokenizers import WordTokenizer

    tokenizer = WordTokenizer.fit(["我的手机坏了，我打算买一部新手机。"], min_freq=1, segment="jieba")
    left, right = split_blank("我的手机坏了，我打算_一部新手机。")
    assert filler_gaps(tokenizer, left, "买", tokenizer.encode_line("买"), right) == ("", "")


def shown_reads_as_scored(tokenizer, text, filler, ids=None):
    """The sentence fill shows for `filler` (its ids: those it reads as in the blank, unless given) in the blank of
    `text`, and whether it reads, to the tokenizer, as the tokens scored."""
    from lmkit.generate.fill import filler_gaps

    left, right = split_blank(text)
    left_ids, (filler_ids,), right_ids = tokenizer.encode_around(left, right, [filler])
    ids = filler_ids if ids is None else ids
    gaps = filler_gaps(tokenizer, left, filler, ids, right)
    before, after = gaps or ("", "")
    shown = left + before + filler + after + right
    assert (gaps is not None) == (tokenizer.encode_line(shown) == [*left_ids, *ids, *right_ids])
    return shown, gaps is not None


def spm_words():
    from lmkit.text.tokenizers import SentencePieceTokenizer

    words = "the king of to a queen and castle was in by red blue green sword horse said went".split()
    lines = [" ".join(words[(i * 7 + j * 3) % len(words)] for j in range(8)) for i in range(300)]
    return SentencePieceTokenizer.fit(lines + ["白日依山尽，黄河入海流。", "欲穷千里目，更上一层楼。"] * 20, vocab_size=90)


def test_sentencepiece_and_jieba_fillers_are_shown_as_they_were_scored():
    """Pass 45: a sentencepiece filler was shown glued (`the kingwentto`, read as ▁king w ent t o, scored as
    ▁king ▁went ▁t o), and a jieba one merged into its neighbour (春风明月 reads 春风 明月; scored 春风 明 月)."""
    pytest.importorskip("jieba")
    from lmkit.text.tokenizers import WordTokenizer

    pieces = spm_words()
    went = pieces.encode_line("went")  # the vocabulary's word-start piece, chosen by a model in a glued blank
    shown, read = shown_reads_as_scored(pieces, "the king_to the castle", "went", went)
    assert read and shown.startswith("the king went")
    chinese = WordTokenizer.fit(["春风明月光", "春风 明 月"] * 3, min_freq=1, segment="jieba")
    shown, read = shown_reads_as_scored(chinese, "春风明_", "月")
    assert read and (shown == "春风明月" or shown == "春风明 月")


@pytest.mark.parametrize("text, filler", [
    ("the king _ to the castle", "went"), ("_ king went", "the"), ("the king went _", "to"),
    ("白日依山_，黄河入海流。", "尽"), ("_日依山尽，", "白"), ("欲穷千里目，_", "更上一层楼。"), ("the king _，黄河", "went"),
])
def test_sentencepiece_reads_the_context_and_a_typed_filler_as_the_filled_sentence(text, filler):
    """Pass 46: the two sides of the blank were encoded apart, each with sentencepiece's line-start `▁`, so
    `the king _ to` was scored as ▁the ▁king ▁ | of | ▁ ▁to and `白日依山_，黄河` as ... 山 | 尽 | ▁ ， 黄 河."""
    pieces = spm_words()
    left, right = split_blank(text)
    left_ids, (filler_ids,), right_ids = pieces.encode_around(left, right, [filler])
    assert [*left_ids, *filler_ids, *right_ids] == pieces.encode_line(left + filler + right)
    assert shown_reads_as_scored(pieces, text, filler) == (left + filler + right, True)


COLLAPSED_SPACES = bytes([3 << 3 | 2, 2, 4 << 3 | 0, 1])  # normalizer_spec.remove_extra_whitespaces = true
SPM_LINES = ["the king of to a queen", "red blue  green", "said went 白日依山尽 horse", " a queen ", "a \u2581queen",
             "a\u3000queen\tsaid\u00a0went", "the  \u2581 king"]


def sentencepiece_made_elsewhere():
    """A model trained by sentencepiece's own defaults, as a tokenizer made outside lmkit is: NFKC (a tab, a
    full-width or no-break space read as a space) and spaces collapsed."""
    import io

    import sentencepiece as spm
    from lmkit.text.tokenizers import SentencePieceTokenizer

    words = "the king of to a queen and castle was in by red blue green sword horse said went".split()
    lines = [" ".join(words[(i * 7 + j * 3) % len(words)] for j in range(8)) for i in range(300)]
    model = io.BytesIO()
    spm.SentencePieceTrainer.train(sentence_iterator=iter(lines + ["白日依山尽，黄河入海流。"] * 20), model_writer=model,
                                   vocab_size=90, hard_vocab_limit=False, minloglevel=2, unk_id=1, bos_id=2,
                                   eos_id=3, pad_id=0)
    return SentencePieceTokenizer(model.getvalue())


@pytest.mark.parametrize("variant", ["lmkit's", "spaces collapsed", "made elsewhere"])
def test_sentencepiece_reads_a_blank_between_words_as_the_whole_line_does(variant):
    """Every gap at a space, in every line of a text: the parts, encoded as they read beside the filler, are the
    whole line's pieces (a space belongs to the piece after it; only the line's first part starts with `▁`). Also
    for models whose normalizer collapses spaces or reads other characters as spaces (passes 48 and 49); what is a
    space is each model's own to say."""
    import re

    from lmkit.text.tokenizers import SentencePieceTokenizer

    pieces = sentencepiece_made_elsewhere() if variant == "made elsewhere" else spm_words()
    spaces = " \u2581\t\u3000\u00a0" if variant == "made elsewhere" else " \u2581"
    if variant == "spaces collapsed":
        pieces = SentencePieceTokenizer(pieces.model_proto + COLLAPSED_SPACES)
    if variant != "lmkit's":
        assert pieces.encode_line("a  queen ") == pieces.encode_line("a queen")
    for line in SPM_LINES:
        for word in re.finditer(f"[^{spaces}]+", line):
            left, filler, right = line[:word.start()], word.group(), line[word.end():]
            left_ids, (filler_ids,), right_ids = pieces.encode_around(left, right, [filler])
            assert [*left_ids, *filler_ids, *right_ids] == pieces.encode_line(line), (variant, line, filler)
            assert filler_ids[0] in pieces.filler_starts(left)


def test_sentencepiece_fillers_begin_a_word_after_a_space_and_continue_one_elsewhere():
    pieces = spm_words()
    word_starts = pieces.filler_starts("the king ")
    assert word_starts == pieces.filler_starts("") == pieces.filler_starts("the king\u2581")
    assert {pieces.vocab.token(i)[0] for i in word_starts} == {"\u2581"}
    assert word_starts.isdisjoint(pieces.filler_starts("白日依山")) and pieces.filler_starts("the king") == (
        pieces.filler_starts("白日依山"))
    assert CharTokenizer.fit(["ab"]).filler_starts("a ") is None  # words and characters: any token


def test_a_sentencepiece_model_with_a_piece_that_is_not_utf8_is_refused_in_one_line():
    """Pass 48: one byte changed inside a piece's text gave a UnicodeDecodeError traceback."""
    from lmkit.errors import TokenizerError
    from lmkit.text.tokenizers import SentencePieceTokenizer

    proto = spm_words().model_proto
    damaged = proto.replace("黄".encode(), "黄".encode()[:2] + b" ", 1)
    assert damaged != proto
    with pytest.raises(TokenizerError, match="not a valid sentencepiece model"):
        SentencePieceTokenizer.from_json({"options": {"model": base64.b64encode(damaged).decode("ascii")}})


def test_characters_and_their_spaces_are_shown_as_typed():
    from lmkit.generate.fill import filler_gaps

    tokenizer = CharTokenizer.fit(["我打算买一部新手机", "a b"])
    for left, right in [("我打算", "一部"), ("a", "b"), ("a ", " b")]:
        assert filler_gaps(tokenizer, left, "买", tokenizer.encode_line("买"), right) == ("", "")


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


class Counting(CountBigram):
    """A bigram that counts the tokens it reads: every step of every stream."""

    read = 0

    def step(self, ids, state):
        Counting.read += len(ids)
        return super().step(ids, state)


@pytest.mark.parametrize("max_len, beam", [(1, 32), (3, 4), (5, 2)])
def test_the_search_size_known_before_the_search_bounds_what_it_reads(max_len, beam):
    from lmkit.generate.fill import pair_search_size

    tokenizer = CharTokenizer.fit(TWO_TOKENS)
    forward, backward = Counting(tokenizer, TWO_TOKENS), Counting(tokenizer, TWO_TOKENS, backward=True)
    left, right = tokenizer.encode_line("我打算"), tokenizer.encode_line("一部新手机")
    Counting.read = 0
    fillers = fill_blank(forward, backward, left, right, max_len=max_len, beam=beam, batch_size=1)  # no padding
    size = pair_search_size(len(tokenizer.vocab), len(left) + len(right), max_len, beam)
    assert len(fillers) <= size.fillers
    # an upper bound, and a near one: fillers that both beams propose, scored once, are what it leaves apart
    assert Counting.read <= size.tokens < 1.5 * Counting.read
