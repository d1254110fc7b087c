"""benchmarks/fill_accuracy.py: how it draws span blanks, and that its fillers rank a span they know by heart first."""
import argparse
import importlib.util
import math
import sys
from pathlib import Path

import pytest

from conftest import TINY
from lmkit.models.ngram.model import build_ngram
from lmkit.text.encode import encode_lines
from lmkit.text.tokenizers import WordTokenizer
from test_cloze import memorise
from test_fill import TWO_TOKENS, pair


def load_benchmark():
    """The script as a module (benchmarks/ is no package)."""
    path = Path(__file__).resolve().parent.parent / "benchmarks" / "fill_accuracy.py"
    spec = importlib.util.spec_from_file_location("fill_accuracy", path)
    module = sys.modules[spec.name] = importlib.util.module_from_spec(spec)  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


bench = load_benchmark()


@pytest.fixture(scope="module")
def tiny_test_ids():
    """tiny-en's test lines as ids of a 60-token vocabulary fitted on its train lines (each has <unk>s), and <unk>."""
    train, test = (TINY["en"][split].read_text(encoding="utf-8").splitlines() for split in ("train", "test"))
    tokenizer = WordTokenizer.fit(train, max_size=60)
    return [tokenizer.encode_line(line) for line in test], tokenizer.vocab.unk_id


@pytest.mark.parametrize("length", [1, 2, 3, 4])
def test_a_span_blank_is_a_run_of_known_tokens_of_one_test_line(tiny_test_ids, length):
    lines, unk = tiny_test_ids
    assert all(unk in ids for ids in lines)  # the <unk> rule has spans to refuse
    drawn = bench.blanks(lines, unk, length, 50, seed=1)
    assert len(drawn) == 50
    for left, span, right in drawn:
        assert len(span) == length and unk not in span
        assert [*left, *span, *right] in lines  # one unbroken run of one line, its context the rest of it
        assert len(left) + len(right) >= 2
    assert len({tuple(span) for _, span, _ in drawn}) > 10  # random places, not one span over and over


def test_a_span_blank_leaves_at_least_two_tokens_of_context():
    short, long = [5, 6, 7], [5, 6, 7, 8]  # a 2-token span leaves one token of the first, two of the second
    drawn = bench.blanks([short, long], unk_id=1, length=2, count=20, seed=0)
    assert {(*left, *span, *right) for left, span, right in drawn} == {tuple(long)}
    assert {len(left) for left, _, _ in drawn} == {0, 1, 2}  # the span anywhere in it, context on one side or both


def test_span_blanks_repeat_with_their_seed_and_change_with_it(tiny_test_ids):
    lines, unk = tiny_test_ids
    assert bench.blanks(lines, unk, 3, 20, seed=5) == bench.blanks(lines, unk, 3, 20, seed=5)
    assert bench.blanks(lines, unk, 3, 20, seed=5) != bench.blanks(lines, unk, 3, 20, seed=6)


def test_a_span_no_test_line_can_hold_is_refused(tiny_test_ids):
    lines, unk = tiny_test_ids
    with pytest.raises(SystemExit, match="--span-lengths 40: no test line has 40 known tokens in a row"):
        bench.blanks(lines, unk, 40, 5, seed=0)
    with pytest.raises(SystemExit, match="--span-lengths 2: no test line has 2 known tokens in a row"):
        bench.blanks([[5, unk, 6, unk, 7]], unk, 2, 5, seed=0)  # long enough, but an <unk> in every run of two


def test_every_neural_model_trains_with_the_same_tokens_per_step_and_dropout(tmp_path):
    args = argparse.Namespace(minutes=2.0, corpus="pku98", tokenizer="word", min_freq=1, max_size=5000, threads=1,
                              softmax="adaptive", dropout=0.25, batch_size=24, bptt=40,
                              train_option=["--epochs 200", "--rare-unk=0.5"])
    commands = bench.training_commands(tmp_path, args)

    def option(name, flag):
        return commands[name][commands[name].index(flag) + 1]

    for name in ("lstm-fwd", "lstm-bwd", "bilstm"):
        assert (option(name, "--batch-size"), option(name, "--bptt"), option(name, "--dropout")) == ("24", "40", "0.25")
    assert option("bilstm", "--max-time") == "240" and option("lstm-fwd", "--max-time") == "120"
    assert option("bilstm", "--model") == "bilstm" and option("ngram-bwd", "--direction") == "backward"
    assert {option(name, "--out") for name in commands} == {str(tmp_path / name) for name in commands}
    for name in ("lstm-fwd", "lstm-bwd", "bilstm"):  # --train-option reaches all three, split as a shell would
        assert option(name, "--epochs") == "200" and "--rare-unk=0.5" in commands[name]
    assert "--epochs" not in commands["ngram-fwd"]


def test_span_lengths_are_sorted_without_repeats():
    assert bench.span_lengths("4,2,2") == [2, 4]


@pytest.mark.parametrize("option, message", [
    (["--span-lengths", "2,0"], "argument --span-lengths: each span length must be at least 1, got '2,0'"),
    (["--span-lengths", "2,three"], "argument --span-lengths: expected comma-separated whole numbers"),
    (["--beam", "0"], "argument --beam: must be at least 1, got 0"),
])
def test_bad_span_options_stop_before_training_in_one_line(monkeypatch, capsys, option, message):
    monkeypatch.setattr(sys, "argv", ["fill_accuracy.py", *option])
    with pytest.raises(SystemExit):
        bench.main()
    assert message in capsys.readouterr().err.splitlines()[-1]


@pytest.fixture(scope="module")
def memorised_models():
    """The benchmark's five models as small stand-ins that know TWO_TOKENS by heart, and their tokenizer:
    an add-k 3-gram pair, a count-bigram pair, a BiLSTM (all of one character vocabulary)."""
    # --mask-rate: spans of several tokens are filled from <unk> placeholders, which a model trained without
    # masking never reads; this one fills its memorised spans first for every seed tried (0-7), without it 5 of 8
    bilstm, tokenizer = memorise(TWO_TOKENS, mask_rate=0.15)
    _, forward, backward = pair(TWO_TOKENS)
    options = {"order": 3, "smoothing": "add-k", "k": 0.1}  # Kneser-Ney cannot estimate discounts on 13 lines
    ngram_fwd = build_ngram(encode_lines(tokenizer, TWO_TOKENS), tokenizer.vocab, **options)
    ngram_bwd = build_ngram(encode_lines(tokenizer, TWO_TOKENS, reverse=True), tokenizer.vocab, direction="backward",
                            **options)
    models = {"ngram-fwd": ngram_fwd, "ngram-bwd": ngram_bwd, "lstm-fwd": forward, "lstm-bwd": backward,
              "bilstm": bilstm}
    return models, tokenizer


@pytest.mark.parametrize("left, span, right", [("我打算", "购买", "一部新手机"), ("我打算", "购买一", "部新手机"),
                                               ("他", "有一部新", "手机")])
def test_every_filler_ranks_a_memorised_span_first_and_misses_one_it_never_proposes(memorised_models, left, span,
                                                                                     right):
    models, tokenizer = memorised_models
    ids = tokenizer.encode_line
    never = ids("京" * len(span))  # no line has it: no beam proposes it
    cases = [(ids(left), ids(span), ids(right)), (ids(left), never, ids(right))]
    tallies = bench.score(models, cases, math.inf, size=200, beam=4, fillers=list(bench.FILLERS[:4]))
    assert {name: tally.ranks for name, tally in tallies.items()} == {name: [0, math.inf] for name in tallies}
    assert [tallies["bilstm"].share(k) for k in (math.inf, 1, 5)] == ["50.0%"] * 3


def test_the_rerank_weight_is_tried_at_every_setting_on_the_blanks_given(memorised_models):
    models, tokenizer = memorised_models
    ids = tokenizer.encode_line
    known = [(ids("我打算"), ids("购"), ids("买一部新手机")), (ids("他有一部新"), ids("手"), ids("机"))]
    unseen = [(ids("他"), ids("京"), ids("一部新手机"))]  # 京 never follows 他: no weight fills it
    tuned = bench.tune_context_weight(models["bilstm"], known + unseen)
    assert list(tuned) == list(bench.CONTEXT_WEIGHTS)
    assert all(share == pytest.approx(2 / 3) for share in tuned.values())


def test_frequency_bands_are_the_adaptive_softmax_clusters_and_cover_the_vocabulary():
    bands = bench.frequency_bands(20000)
    assert [(lo, end) for _, lo, end in bands] == [(0, 1000), (1000, 4000), (4000, 20000)]
    assert [name for name, _, _ in bands] == ["head, ids 0-999", "cluster 1, ids 1,000-3,999",
                                              "cluster 2, ids 4,000-19,999"]
    assert bench.frequency_bands(999) == []  # no adaptive softmax below 1,000 types: no bands to name


def test_a_span_counts_in_the_band_of_its_rarest_token():
    bands = [("frequent", 0, 10), ("rare", 10, 100)]
    cases = [([5], [4], [6]), ([5], [4, 50], [6]), ([5], [60], [6]), ([5], [7], [6])]
    tally = bench.Tally(ranks=[0, 0, math.inf, 3])  # right, right, never proposed, fourth
    assert bench.band_shares(tally, cases, bands) == ["50.0% of 2", "50.0% of 2"]
    assert bench.band_shares(bench.Tally(ranks=[0]), cases, bands) == ["100.0% of 1", "-"]  # cut short by a deadline


def test_the_memory_filler_ranks_a_remembered_span_first_and_misses_one_never_proposed(memorised_models):
    from lmkit.evaluate.memory import NeighbourMemory

    models, tokenizer = memorised_models
    ids = tokenizer.encode_line
    memory = NeighbourMemory.build(models["bilstm"], [ids(line) for line in TWO_TOKENS])
    cases = [(ids("我打算"), ids("购买"), ids("一部新手机")), (ids("我打算"), ids("京京"), ids("一部新手机"))]
    tallies = bench.score(models, cases, math.inf, size=200, beam=4, fillers=list(bench.FILLERS[:5]), memory=memory)
    assert tallies[bench.MEMORY_FILLER].ranks == [0, math.inf]
    assert set(tallies) == {"ngram", "lstm", "bilstm", "bilstm, no rerank", bench.MEMORY_FILLER}


def test_the_memory_is_tuned_at_every_setting_and_decides_where_it_weighs_most(memorised_models):
    """A memory of 我打算去一部新手机 holds the blank's very context with 去, which the model never saw there."""
    from lmkit.evaluate.memory import NeighbourMemory, MemorySettings

    models, tokenizer = memorised_models
    ids = tokenizer.encode_line
    memory = NeighbourMemory.build(models["bilstm"], [ids("我打算去一部新手机"), *(ids(line) for line in TWO_TOKENS)])
    shares = bench.tune_memory(models["bilstm"], memory, [(ids("我打算"), ids("去"), ids("一部新手机"))])
    grid = bench.MEMORY_GRID
    assert len(shares) == len(grid["neighbours"]) * len(grid["temperature"]) * len(grid["weight"])
    assert set(shares.values()) <= {0.0, 1.0}
    assert shares[MemorySettings(16, 1.0, 0.8)] == 1.0
    assert bench.tune_context_weight(models["bilstm"], [(ids("我打算"), ids("去"), ids("一部新手机"))],
                                     NeighbourMemory(memory.keys, memory.values, memory.vocab_size,
                                                 MemorySettings(16, 1.0, 0.8)))[0.0] == 1.0


def memorise_lm(tokenizer, lines: list[str], backward: bool = False, steps: int = 150):
    """A small character LSTM language model (eval mode) that has learnt `lines` by heart (each reversed: backward)."""
    import torch
    from lmkit.models.neural.rnn import RNNConfig, RNNLM
    from lmkit.text.lines import frame_lines, stream_lines

    torch.manual_seed(0)
    model = RNNLM(tokenizer.vocab, RNNConfig(cell="lstm", emb_size=16, hidden_size=32, layers=1))
    ids, lengths = frame_lines(stream_lines(encode_lines(tokenizer, lines, reverse=backward)))
    inside = torch.arange(ids.shape[1] - 1)[None, :] < (lengths - 1)[:, None]            # (N, L-1): not padding
    optimizer = torch.optim.Adam(model.parameters(), lr=0.02)
    for _ in range(steps):
        loss = -(model.score(ids) * inside).sum() / inside.sum()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    return model.eval()


@pytest.fixture(scope="module")
def lstm_pair_models(memorised_models):
    """memorised_models with the pair of count bigrams replaced by a pair of LSTMs that know TWO_TOKENS by heart."""
    models, tokenizer = memorised_models
    pair_of = {"lstm-fwd": memorise_lm(tokenizer, TWO_TOKENS), "lstm-bwd": memorise_lm(tokenizer, TWO_TOKENS, True)}
    return {**models, **pair_of}, tokenizer


def pair_memories(models, tokenizer, lines, settings=None):
    from lmkit.evaluate.memory import MemorySettings, NeighbourMemory

    encoded = [tokenizer.encode_line(line) for line in lines]
    settings = settings or MemorySettings()
    return (NeighbourMemory.build(models["lstm-fwd"], encoded, settings),
            NeighbourMemory.build(models["lstm-bwd"], [ids[::-1] for ids in encoded], settings))


def test_the_pair_memory_filler_ranks_a_remembered_span_first_and_misses_one_never_proposed(lstm_pair_models):
    models, tokenizer = lstm_pair_models
    ids = tokenizer.encode_line
    memories = pair_memories(models, tokenizer, TWO_TOKENS)
    cases = [(ids("我打算"), ids("购买"), ids("一部新手机")), (ids("我打算"), ids("京京"), ids("一部新手机")),
             (ids("他"), ids("有"), ids("一部新手机"))]
    tallies = bench.score(models, cases, math.inf, size=200, beam=4, fillers=["lstm", bench.PAIR_MEMORY_FILLER],
                          pair_memories=memories)
    assert set(tallies) == {"lstm", bench.PAIR_MEMORY_FILLER}
    assert tallies[bench.PAIR_MEMORY_FILLER].ranks == [0, math.inf, 0]


def test_the_pairs_memories_are_tuned_at_every_setting_and_decide_where_they_weigh_most(lstm_pair_models):
    """Memories of 我打算去一部新手机 hold the blank's very contexts with 去, which neither LSTM saw there."""
    from lmkit.evaluate.memory import MemorySettings

    models, tokenizer = lstm_pair_models
    ids = tokenizer.encode_line
    memories = pair_memories(models, tokenizer, ["我打算去一部新手机", *TWO_TOKENS])
    cases = [(ids("我打算"), ids("去"), ids("一部新手机"))]
    alone, shares = bench.tune_pair_memory(models["lstm-fwd"], models["lstm-bwd"], memories, cases)
    grid = bench.MEMORY_GRID
    assert alone == 0.0 and len(shares) == len(grid["neighbours"]) * len(grid["temperature"]) * len(grid["weight"])
    assert shares[MemorySettings(16, 1.0, 0.8)] == 1.0
    # each weight's share is what the filler itself gets at that weight, for a pair trained for a few steps only,
    # which the memory overrules at some weights and not at others (on this fixture: 去 first from weight 0.3 on)
    weak = {"lstm-fwd": memorise_lm(tokenizer, TWO_TOKENS, steps=10),
            "lstm-bwd": memorise_lm(tokenizer, TWO_TOKENS, backward=True, steps=10)}
    memories = pair_memories(weak, tokenizer, ["我打算去一部新手机", *TWO_TOKENS], MemorySettings(16, 1.0, 0.5))
    cases += [(ids("他"), ids("有"), ids("一部新手机")), (ids("我打算去"), ids("一"), ids("部新手机"))]
    weights = bench.tune_pair_weight(weak["lstm-fwd"], weak["lstm-bwd"], memories, cases, size=3)
    assert list(weights) == list(grid["weight"])
    for weight, share in weights.items():
        for memory in memories:
            memory.settings = MemorySettings(16, 1.0, weight)
        firsts = [bench.pair_fillers(weak["lstm-fwd"], weak["lstm-bwd"], left, right, 1, 3, 4, memories)[0]
                  for left, _, right in cases]
        assert share == sum(first == span for first, (_, span, _) in zip(firsts, cases)) / len(cases)
    assert bench.chosen_fillers("ngram, lstm + memory") == ["ngram", bench.PAIR_MEMORY_FILLER]
    assert bench.chosen_fillers("lstm,bilstm, no rerank") == ["lstm", "bilstm, no rerank"]  # the name's own comma
    assert bench.chosen_fillers("bilstm, no rerank,bilstm") == ["bilstm", "bilstm, no rerank"]
    with pytest.raises(argparse.ArgumentTypeError, match="expected names among ngram, lstm"):
        bench.chosen_fillers("ngram,transformer")


def test_ranks_of_separate_runs_merge_only_where_they_rank_the_same_blanks_alike(tmp_path, capsys, monkeypatch):
    import json

    monkeypatch.syspath_prepend(str(Path(bench.__file__).parent))  # fill_leads imports fill_accuracy, its neighbour
    import fill_leads

    first, second, other = tmp_path / "a.json", tmp_path / "b.json", tmp_path / "c.json"
    first.write_text(json.dumps({"1": {"ngram": [0, 3, None, 0], "bilstm": [0, 0, 1, 0]}}))
    second.write_text(json.dumps({"1": {"ngram": [0, 3, None], "lstm + memory": [1, 0, 0]}}))  # stopped earlier
    other.write_text(json.dumps({"1": {"ngram": [0, 2]}}))
    runs = fill_leads.merged([first, second])
    assert runs["1"]["ngram"] == [0, 3, math.inf, 0] and runs["1"]["lstm + memory"] == [1, 0, 0]
    monkeypatch.setattr(sys, "argv", ["fill_leads.py", str(first), str(second)])
    fill_leads.main()
    out = capsys.readouterr().out
    assert "the first 3 blanks" in out and "| lstm + memory | 66.7% | 100.0% |" in out
    assert "| lstm + memory | ngram | +33.3 |" in out and "| bilstm | ngram | +33.3 |" in out
    with pytest.raises(SystemExit, match="the filler 'ngram' ranks span length 1's blanks differently"):
        fill_leads.merged([first, other])
