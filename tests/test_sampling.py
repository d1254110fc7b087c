"""Sampling and beam search on a bigram table whose probabilities we know exactly, then on real models."""
import math

import pytest
import torch

from lmkit.errors import ConfigError
from lmkit.models.base import StepScoring
from lmkit.models.neural.rnn import RNNConfig, RNNLM
from lmkit.generate.beam import beam_search, best_first, state_selector
from lmkit.generate.sampling import SamplingConfig, keep_top_k, keep_top_p, sample
from lmkit.text.vocab import Vocab

TOKENS = ["<pad>", "<unk>", "<s>", "</s>", "a", "b", "c", "d"]
# previous token -> distribution of the next one (rows sum to 1; a missing entry has probability 0)
TABLE = {
    "<pad>": {"a": 1.0},
    "<unk>": {"a": 1.0},
    "<s>": {"<unk>": 0.4, "a": 0.3, "b": 0.2, "c": 0.1},
    "</s>": {"a": 0.6, "b": 0.4},
    "a": {"b": 0.5, "c": 0.3, "</s>": 0.2},
    "b": {"c": 0.6, "a": 0.3, "</s>": 0.1},
    "c": {"</s>": 0.7, "d": 0.2, "a": 0.1},
    "d": {"a": 0.5, "</s>": 0.5},
}


class TableLM(StepScoring):
    """p(next | previous) read from a fixed table; the state is the previous id."""

    kind = "table"

    def __init__(self, vocab: Vocab, table: dict[str, dict[str, float]]):
        self.vocab = vocab
        probs = torch.zeros(len(vocab), len(vocab))
        for prev, row in table.items():
            for token, p in row.items():
                probs[vocab.id(prev), vocab.id(token)] = p
        self.logp = probs.log()  # (V, V)
        self.steps: list[int] = []  # batch size of each step call, to count the work done

    def init_state(self, batch_size):
        return torch.full((batch_size,), -1)

    def step(self, ids, state):
        self.steps.append(len(ids))
        return self.logp[ids], ids.clone()

    def select_state(self, state, index):
        return state[index]


@pytest.fixture
def table():
    return TableLM(Vocab(TOKENS), TABLE)


def words(model, ids):
    return " ".join(model.vocab.decode(ids))


def score_of(model, prompt, ids):
    """Per-token log-probs of `ids` after `<s> prompt`, from model.score."""
    full = torch.tensor([[model.vocab.bos_id, *prompt, *ids]])
    return model.score(full)[0, len(prompt):].tolist()


def test_greedy_follows_the_most_likely_allowed_token(table):
    (out,) = sample(table, [], SamplingConfig(greedy=True))
    assert words(table, out.ids) == "a b c </s>"  # <unk> (0.4) is the likeliest first token but never generated
    assert out.total == pytest.approx(math.log(0.3 * 0.5 * 0.6 * 0.7))
    assert out.finished


def test_allow_unk_lets_unk_through(table):
    (out,) = sample(table, [], SamplingConfig(greedy=True, allow_unk=True, max_tokens=2))
    assert words(table, out.ids) == "<unk> a"
    assert not out.finished


def test_sentences_and_max_tokens_stop_a_stream(table):
    (two,) = sample(table, [], SamplingConfig(greedy=True, sentences=2))
    assert words(table, two.ids) == "a b c </s> a b c </s>"
    (endless,) = sample(table, [], SamplingConfig(greedy=True, sentences=0, max_tokens=10))
    assert len(endless.ids) == 10


def test_seeded_samples_are_identical(table):
    config = SamplingConfig(num_samples=8, sentences=0, max_tokens=30, seed=7)
    first, second = sample(table, [], config), sample(table, [], config)
    assert [s.ids for s in first] == [s.ids for s in second]
    other = sample(table, [], SamplingConfig(num_samples=8, sentences=0, max_tokens=30, seed=8))
    assert [s.ids for s in other] != [s.ids for s in first]


def test_top_k_1_equals_greedy(table):
    greedy = sample(table, [4], SamplingConfig(greedy=True, sentences=3))
    top1 = sample(table, [4], SamplingConfig(top_k=1, temperature=2.0, sentences=3, num_samples=5, seed=1))
    assert all(s.ids == greedy[0].ids for s in top1)


def test_keep_top_p_keeps_the_smallest_set_reaching_p():
    scores = torch.tensor([[0.05, 0.5, 0.15, 0.3]]).log()
    kept = lambda p: torch.isfinite(keep_top_p(scores, p))[0].tolist()
    assert kept(0.4) == [False, True, False, False]
    assert kept(0.79) == [False, True, False, True]
    assert kept(0.81) == [False, True, True, True]
    assert kept(1.0) == [True, True, True, True]
    assert torch.isfinite(keep_top_k(scores, 2))[0].tolist() == [False, True, False, True]


def test_top_p_samples_only_from_the_nucleus(table):
    # after <s> without <unk>: a 0.5, b 0.33, c 0.17 -> the nucleus for p=0.6 is {a, b}
    outs = sample(table, [], SamplingConfig(top_p=0.6, num_samples=300, max_tokens=1, seed=3))
    assert {words(table, s.ids) for s in outs} == {"a", "b"}


@pytest.mark.parametrize("temperature", [0.2, 1.0, 10.0])
def test_temperature_reshapes_the_distribution(table, temperature):
    # after <s> without <unk>: a, b, c in proportion 0.3 : 0.2 : 0.1, raised to 1 / temperature
    weights = [p ** (1 / temperature) for p in (0.3, 0.2, 0.1)]
    outs = sample(table, [], SamplingConfig(temperature=temperature, num_samples=4000, max_tokens=1, seed=5))
    share_of_a = sum(s.ids == [4] for s in outs) / len(outs)
    assert share_of_a == pytest.approx(weights[0] / sum(weights), abs=0.03)  # about 4 standard deviations


def test_sample_log_probs_match_score_and_each_token_costs_one_step(table):
    prompt = [4, 5]  # "a b"
    outs = sample(table, prompt, SamplingConfig(num_samples=3, sentences=0, max_tokens=12, seed=11))
    # prompt: <s> a through score_targets (2 steps for this model), b through step, read once for all three
    # samples (pass 78: B copies of a long prompt took memory in proportion); then one step of 3 streams a token
    assert table.steps == [1] * (2 + 1) + [3] * 11
    for out in outs:
        assert out.logprobs == pytest.approx(score_of(table, prompt, out.ids), abs=1e-6)


def test_a_prompt_read_in_windows_samples_as_one_read_whole(table, monkeypatch):
    prompt = [4, 5, 4, 5, 4]
    whole = sample(table, prompt, SamplingConfig(num_samples=2, sentences=0, max_tokens=6, seed=3))
    monkeypatch.setattr("lmkit.generate.sampling.WINDOW", 2)
    windowed = sample(table, prompt, SamplingConfig(num_samples=2, sentences=0, max_tokens=6, seed=3))
    assert [out.ids for out in windowed] == [out.ids for out in whole]
    for out in windowed:
        assert out.logprobs == pytest.approx(score_of(table, prompt, out.ids), abs=1e-6)


def test_best_first_breaks_ties_like_argmax():
    scores = torch.tensor([1.0, 3.0, 3.0, 2.0, 3.0])
    assert best_first(scores, 2).tolist() == [1, 2]
    assert best_first(scores, 4).tolist() == [1, 2, 4, 3]
    assert best_first(scores, 0).tolist() == []


def test_beam_1_equals_greedy(table):
    (greedy,) = sample(table, [], SamplingConfig(greedy=True, sentences=2))
    (beam,) = beam_search(table, [], SamplingConfig(beam=1, sentences=2))
    assert beam.ids == greedy.ids and beam.logprobs == pytest.approx(greedy.logprobs)


def test_beam_returns_best_first_with_exact_log_probs(table):
    # worked by hand: `b c </s>` (0.084) beats greedy's `a b c </s>` (0.063) on total log-prob,
    # and loses once scores are divided by length (alpha = 1)
    raw = beam_search(table, [], SamplingConfig(beam=2, length_penalty=0.0))
    assert [words(table, s.ids) for s in raw] == ["b c </s>", "a b c </s>"]
    assert [s.total for s in raw] == pytest.approx([math.log(0.084), math.log(0.063)])
    normalised = beam_search(table, [], SamplingConfig(beam=2, length_penalty=1.0))
    assert [words(table, s.ids) for s in normalised] == ["a b c </s>", "b c </s>"]
    assert normalised[0].score == pytest.approx(math.log(0.063) / 4)
    for out in raw + normalised:
        assert out.logprobs == pytest.approx(score_of(table, [], out.ids), abs=1e-6)


def test_beam_scores_are_sorted_and_cut_at_max_tokens(table):
    outs = beam_search(table, [5], SamplingConfig(beam=5, sentences=0, max_tokens=6))
    assert len(outs) == 5 and all(len(s.ids) == 6 and not s.finished for s in outs)
    scores = [s.score for s in outs]
    assert scores == sorted(scores, reverse=True)
    assert len({tuple(s.ids) for s in outs}) == 5


@pytest.mark.parametrize("options, message", [
    ({"top_p": 1.5}, "--top-p must be at most 1, got 1.5"),
    ({"top_p": 0.0}, "--top-p must be > 0"),
    ({"top_p": float("nan")}, "--top-p must be a finite number, got nan"),
    ({"top_k": 0}, "--top-k must be at least 1, got 0"),
    ({"temperature": 0.0}, "use --greedy"),
    ({"temperature": -1.0}, "--temperature must be at least 0.001"),
    ({"temperature": float("inf")}, "--temperature must be a finite number"),
    ({"seed": 2**70}, "--seed must be at most"),
    ({"beam": 6}, "--beam must be between 1 and the 5 tokens"),
    ({"beam": 2, "top_k": 3}, "--beam does not sample"),
    ({"greedy": True, "num_samples": 2}, "--greedy is deterministic"),
    ({"max_tokens": 0}, "--max-tokens must be at least 1"),
])
def test_bad_options_name_the_option(table, options, message):
    with pytest.raises(ConfigError, match=message.replace("(", r"\(").replace(")", r"\)").replace("[", r"\[")):
        sample(table, [], SamplingConfig(**options))


@pytest.fixture(params=["lstm", "gru", "rnn_tanh"])
def rnn(request):
    torch.manual_seed(0)
    model = RNNLM(Vocab(TOKENS), RNNConfig(cell=request.param, emb_size=8, hidden_size=16, layers=2))
    output_layer = [m for m in model.modules() if isinstance(m, torch.nn.Linear)][-1]
    output_layer.weight.data.mul_(30)  # a peaked distribution, so greedy and beam differ from uniform noise
    return model.eval()


def test_same_code_runs_on_rnn_models(rnn):
    prompt = [4, 6]
    outs = sample(rnn, prompt, SamplingConfig(num_samples=4, sentences=0, max_tokens=15, seed=2))
    assert [s.ids for s in outs] == [s.ids for s in sample(rnn, prompt, SamplingConfig(num_samples=4, sentences=0, max_tokens=15, seed=2))]
    for out in outs:
        assert out.logprobs == pytest.approx(score_of(rnn, prompt, out.ids), abs=1e-4)
    (greedy,) = sample(rnn, prompt, SamplingConfig(greedy=True, sentences=0, max_tokens=15))
    (beam,) = beam_search(rnn, prompt, SamplingConfig(beam=1, sentences=0, max_tokens=15))
    assert beam.ids == greedy.ids
    for hyp in beam_search(rnn, prompt, SamplingConfig(beam=4, sentences=2, max_tokens=15)):
        assert hyp.logprobs == pytest.approx(score_of(rnn, prompt, hyp.ids), abs=1e-4)


def test_sampling_leaves_a_training_model_in_training_mode(rnn):
    rnn.train()
    sample(rnn, [], SamplingConfig(max_tokens=3, seed=0))
    assert rnn.training


def test_state_selector_reorders_rows_of_any_state(rnn, table):
    from lmkit.models.neural.scratch import ScratchConfig, ScratchRNN

    for model in (rnn, table, ScratchRNN(rnn.vocab, ScratchConfig(hidden_size=4))):
        select = state_selector(model)
        ids = torch.tensor([4, 5, 6])
        _, state = model.step(ids, model.init_state(3))
        picked = select(state, torch.tensor([2, 0]))
        logp_picked, _ = model.step(torch.tensor([7, 7]), picked)
        logp_all, _ = model.step(torch.tensor([7, 7, 7]), state)
        assert torch.allclose(logp_picked, logp_all[[2, 0]])


def test_beam_search_refuses_a_model_that_cannot_reorder_its_streams(table):
    class NoReorder(StepScoring):  # the LanguageModel protocol without select_state
        kind = "plain"
        vocab, init_state, step = table.vocab, table.init_state, table.step

    with pytest.raises(ConfigError, match="a plain model cannot reorder its streams"):
        beam_search(NoReorder(), [], SamplingConfig(beam=2))


def test_every_model_kind_declares_how_to_reorder_streams(rnn, table):
    from lmkit.models.base import ReordersStreams
    from lmkit.models.neural.scratch import ScratchConfig, ScratchRNN

    assert isinstance(rnn, ReordersStreams) and isinstance(ScratchRNN(rnn.vocab, ScratchConfig(hidden_size=4)),
                                                           ReordersStreams)


def test_same_code_runs_on_an_ngram_model():
    from lmkit.text.encode import encode_lines
    from lmkit.models.ngram.model import build_ngram
    from lmkit.text.tokenizers import CharTokenizer

    lines = ["abcab", "bca", "cabbac", "aab"]
    tokenizer = CharTokenizer.fit(lines)
    model = build_ngram(encode_lines(tokenizer, lines), tokenizer.vocab, order=3, smoothing="add-k", k=0.1)
    config = SamplingConfig(num_samples=5, sentences=2, max_tokens=20, seed=4)
    outs = sample(model, [4], config)
    assert [s.ids for s in outs] == [s.ids for s in sample(model, [4], config)]
    (greedy,) = sample(model, [4], SamplingConfig(greedy=True, sentences=0, max_tokens=12))
    (beam,) = beam_search(model, [4], SamplingConfig(beam=1, sentences=0, max_tokens=12))
    assert beam.ids == greedy.ids
    for out in outs + beam_search(model, [4], SamplingConfig(beam=3, sentences=2, max_tokens=20)):
        assert out.logprobs == pytest.approx(score_of(model, [4], out.ids), abs=1e-5)


def test_a_line_end_right_after_the_prompt_or_an_empty_line_is_not_a_sentence(table):
    """Prompt `ROMEO.` on a play whose speaker lines end there: the first line end closes the prompt's
    line, so one sentence means one line the model wrote, not the prompt alone."""
    eos = table.vocab.eos_id
    (out,) = sample(table, [table.vocab.id("c")], SamplingConfig(greedy=True, sentences=1))  # after c comes </s>
    assert words(table, out.ids) == "</s> a b c </s>" and out.finished
    (two,) = sample(table, [], SamplingConfig(greedy=True, sentences=2))
    assert two.ids.count(eos) == 2  # lines with text count as before


# after a line end another line end (an empty line) is likely; `a` always ends its line
EMPTY_LINES = {"<s>": {"a": 1.0}, "a": {"</s>": 1.0}, "</s>": {"</s>": 0.9, "a": 0.1}}


def lines_with_text(model, ids):
    eos = model.vocab.eos_id
    return sum(1 for previous, i in zip([eos, *ids], ids) if i == eos and previous != eos)


def test_sampling_may_write_empty_lines_and_counts_none_as_a_sentence():
    model = TableLM(Vocab(TOKENS), EMPTY_LINES)
    outs = sample(model, [], SamplingConfig(sentences=2, max_tokens=40, num_samples=20, seed=0))
    assert any("</s> </s>" in words(model, out.ids) for out in outs)  # the model's own choice, drawn
    assert all(lines_with_text(model, out.ids) == 2 for out in outs if out.finished)


def test_greedy_and_beam_search_write_no_empty_line_where_the_model_prefers_one():
    """Adversarial pass 72: on a play's model (blank lines between speeches) `</s>` is the likeliest token at a
    line's start, and after an empty line the model reads a line's start again: greedy decoding and beam search,
    which take the best, wrote nothing but line ends to --max-tokens. At a line's start they take the best
    token but `</s>`."""
    model = TableLM(Vocab(TOKENS), {**EMPTY_LINES, "<s>": {"</s>": 0.9, "a": 0.1}})
    (greedy,) = sample(model, [], SamplingConfig(greedy=True, sentences=2, max_tokens=10))
    assert words(model, greedy.ids) == "a </s> a </s>" and greedy.finished
    hyps = beam_search(model, [], SamplingConfig(beam=2, sentences=2, max_tokens=10, length_penalty=0.0))
    assert words(model, hyps[0].ids) == "a </s> a </s>"
    assert all("</s> </s>" not in words(model, h.ids) and not h.ids[0] == model.vocab.eos_id for h in hyps)
    (beam,) = beam_search(model, [], SamplingConfig(beam=1, sentences=2, max_tokens=10))
    assert beam.ids == greedy.ids  # beam 1 is still greedy
    prompt = [model.vocab.id("a"), model.vocab.eos_id]  # a prompt ending a line: the next token starts one
    (after,) = sample(model, prompt, SamplingConfig(greedy=True, sentences=1, max_tokens=10))
    assert words(model, after.ids) == "a </s>"


def test_greedy_still_ends_a_line_where_nothing_else_can_follow():
    model = TableLM(Vocab(TOKENS), {"<s>": {"</s>": 1.0}, "</s>": {"</s>": 1.0}})
    (greedy,) = sample(model, [], SamplingConfig(greedy=True, max_tokens=3))
    (beam,) = beam_search(model, [], SamplingConfig(beam=2, max_tokens=3))
    assert words(model, greedy.ids) == words(model, beam.ids) == "</s> </s> </s>"  # never <pad> or <unk>


def test_beam_search_does_not_count_the_line_end_closing_the_prompt(table):
    (greedy,) = sample(table, [table.vocab.id("c")], SamplingConfig(greedy=True, sentences=1))
    (beam,) = beam_search(table, [table.vocab.id("c")], SamplingConfig(beam=1, sentences=1))
    assert words(table, beam.ids) == words(table, greedy.ids) == "</s> a b c </s>"


@pytest.mark.parametrize("options, message", [
    ({"greedy": True, "seed": 1}, "--greedy does not sample, so --seed would be ignored: drop one"),
    ({"beam": 2, "seed": 1}, "--beam does not sample, so --seed would be ignored: drop one"),
    ({"temperature": 1001.0}, "--temperature must be at most 1000, got 1001.0; near 0, use --greedy for the most "
                              "likely token; at 1000 the draw is already almost uniform"),
])
def test_options_that_would_do_nothing_or_mislead_are_refused(table, options, message):
    with pytest.raises(ConfigError, match=message.replace("(", r"\(").replace(")", r"\)")):
        SamplingConfig(**options).validate(table.vocab)


def test_a_backward_models_sample_is_turned_around_by_its_ids_not_cut_again(monkeypatch):
    """Cutting the decoded text again would read another model's words: with punctuation split, "<unk>"
    reads back as < unk >, and jieba cuts Chinese its own way."""
    from types import SimpleNamespace

    from lmkit.generate import sampling
    from lmkit.text.tokenizers import WordTokenizer
    from lmkit.text.vocab import EOS_ID, UNK_ID

    tokenizer = WordTokenizer.fit(["the cat sat"])
    ids = [tokenizer.vocab.id("sat"), UNK_ID, tokenizer.vocab.id("the"), EOS_ID, tokenizer.vocab.id("cat")]
    monkeypatch.setattr(sampling, "sample", lambda model, prompt, config: [SimpleNamespace(ids=ids)])
    assert sampling.sample_text(None, tokenizer, 5, seed=0, reverse=True) == "the <unk> sat\ncat"
    assert sampling.id_lines([5, EOS_ID, EOS_ID, 6], EOS_ID) == [[5], [], [6]]


def test_beam_search_waits_for_a_likely_hypothesis_still_going():
    """First-hour pass, session 51: the search stopped at its K-th complete hypothesis, so short, unlikely lines
    that end early beat the likely long one still going (a 5-gram: greedy's whole poem at log p -0.13, beam 3
    a line at -6.65). Here b </s> and b d </s> (0.2 each) complete before a e f g </s> (0.6) does."""
    tokens = ["<pad>", "<unk>", "<s>", "</s>", "a", "b", "d", "e", "f", "g"]
    model = TableLM(Vocab(tokens), {"<s>": {"a": 0.6, "b": 0.4}, "a": {"e": 1.0}, "e": {"f": 1.0},
                                    "f": {"g": 1.0}, "g": {"</s>": 1.0}, "b": {"</s>": 0.5, "d": 0.5},
                                    "d": {"</s>": 1.0}, "</s>": {"a": 1.0}})
    (greedy,) = sample(model, [], SamplingConfig(greedy=True))
    assert words(model, greedy.ids) == "a e f g </s>"
    for penalty in (0.0, 1.0):
        beams = beam_search(model, [], SamplingConfig(beam=2, length_penalty=penalty))
        assert [words(model, b.ids) for b in beams][0] == "a e f g </s>", penalty
        assert beams[0].total == pytest.approx(math.log(0.6))
        assert beams[1].total == pytest.approx(math.log(0.2))
