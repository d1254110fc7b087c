"""The nearest-neighbour memory of a text for a cloze model (lmkit.evaluate.memory) and fill's use of it (a pair's
memories: test_pair_memory.py)."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from lmkit.errors import ConfigError
from lmkit.generate.cloze_fill import cloze_fill, filled_loglik, framed
from lmkit.evaluate.memory import NeighbourMemory, MemorySettings
from test_cloze import bimodel, memorised  # noqa: F401  fixtures: a bigru trained by the CLI; a BiLSTM knowing ONE_TOKEN
from test_fill import ONE_TOKEN


def random_memory(positions: int = 500, width: int = 6, vocab_size: int = 9, seed: int = 0, **settings) -> NeighbourMemory:
    generator = torch.Generator().manual_seed(seed)
    keys = torch.randn(positions, width, generator=generator)
    values = torch.randint(0, vocab_size, (positions,), generator=generator)
    return NeighbourMemory(keys, values, vocab_size, MemorySettings(**settings))


def test_the_memory_holds_every_position_of_its_text_with_the_features_the_softmax_reads_there(memorised):
    model, tokenizer = memorised
    lines = [tokenizer.encode_line(text) for text in ("我打算去北京", "他有一部新手机", "")]  # an empty line: nothing
    memory = NeighbourMemory.build(model, lines, batch_lines=1)
    assert len(memory) == 6 + 1 + 7 + 1  # each token and each line's </s>
    expected_keys, expected_values = [], []
    for ids in lines[:2]:
        framed_ids, lengths = framed(model, [ids])
        with torch.no_grad():
            expected_keys.append(model.features(framed_ids, lengths)[0])           # (L-1, D)
        expected_values += [*ids, model.vocab.eos_id]
    # batch_lines=1 and sorted by length: the shorter line comes first
    assert memory.values.tolist() == expected_values
    torch.testing.assert_close(memory.keys, torch.cat(expected_keys).float())
    batched = NeighbourMemory.build(model, lines)  # both lines in one padded batch: the same positions
    torch.testing.assert_close(batched.keys, memory.keys, atol=1e-5, rtol=1e-5)
    assert batched.values.tolist() == memory.values.tolist()


def test_the_nearest_neighbours_are_those_a_brute_force_search_finds():
    memory = random_memory(neighbours=7)
    queries = torch.randn(40, 6, generator=torch.Generator().manual_seed(1))  # more than one block of QUERY_ROWS
    near = memory.nearest(queries)
    truth = torch.cdist(queries.double(), memory.keys.double()).pow(2).topk(7, largest=False)
    torch.testing.assert_close(near.distances, truth.values, atol=1e-12, rtol=1e-12)
    assert torch.equal(near.positions, truth.indices) and near.beyond == {}


def test_near_places_far_from_the_origin_are_told_apart_exactly():
    """Pass 61: |q|^2 - 2 q.k + |k|^2 in float32 cancels for places that lie close together far from the origin
    (distances of 1e-14 came out as 3e-6), so the wrong neighbours voted and false ties shared votes."""
    generator = torch.Generator().manual_seed(2)
    keys = 30 + 1e-3 * torch.randn(400, 16, generator=generator)                  # |k|^2 about 14,400
    memory = NeighbourMemory(keys, torch.arange(400) % 9, 9, MemorySettings(neighbours=3))
    queries = keys[[5, 77, 300]] + 1e-6 * torch.randn(3, 16, generator=generator)
    near = memory.nearest(queries)
    truth = torch.cdist(queries.double(), keys.double()).pow(2).topk(3, largest=False)
    assert near.positions[:, 0].tolist() == [5, 77, 300] and torch.equal(near.positions, truth.indices)
    torch.testing.assert_close(near.distances, truth.values, atol=1e-15, rtol=1e-9)
    assert near.beyond == {}


def test_fewer_positions_than_neighbours_vote_all_of_them():
    memory = random_memory(positions=3, neighbours=50)
    near = memory.nearest(torch.zeros(2, 6))
    assert near.distances.shape == (2, 3) and sorted(near.positions[0].tolist()) == [0, 1, 2] and near.beyond == {}


def test_the_mixture_is_the_weighted_sum_of_the_two_distributions():
    memory = random_memory(neighbours=5, temperature=2.0, weight=0.3)
    queries = torch.randn(4, 6, generator=torch.Generator().manual_seed(2))
    model_logp = torch.log_softmax(torch.randn(4, 9, generator=torch.Generator().manual_seed(3)), dim=1)
    mixed = memory.mix(queries, model_logp)
    near = memory.nearest(queries)
    for row in range(4):
        votes = torch.zeros(9, dtype=torch.double)
        for d, p in zip(near.distances[row].double(), near.positions[row]):
            votes[memory.values[p]] += math.exp(-d / 2.0)
        expected = 0.3 * votes / votes.sum() + 0.7 * model_logp[row].double().exp()
        torch.testing.assert_close(mixed[row].exp(), expected)
    torch.testing.assert_close(mixed.exp().sum(1), torch.ones(4, dtype=torch.double))
    targets = torch.tensor([0, 3, 8, 5])
    torch.testing.assert_close(memory.mix_targets(queries, model_logp[torch.arange(4), targets], targets),
                               mixed[torch.arange(4), targets])


def tied_memory(**settings) -> NeighbourMemory:
    """Places 0-9 at one point (tokens 1 x 3, 2 x 7), place 10 nearer the origin (token 4), 11 far (token 5)."""
    keys = torch.cat([torch.ones(10, 2), torch.full((1, 2), 0.5), torch.full((1, 2), 9.0)])
    values = torch.tensor([1, 2, 2, 1, 2, 2, 1, 2, 2, 2, 4, 5])
    return NeighbourMemory(keys, values, 6, MemorySettings(**settings))


@pytest.mark.parametrize("order", ["as built", "reversed"])
def test_places_tied_at_the_last_neighbours_distance_share_its_votes_evenly_wherever_they_are(order):
    """Every line's first place holds one and the same output for a left-to-right model: which of them the search
    returns must not decide the vote. Three slots are left for ten equally near places, 30% of them token 1."""
    memory = tied_memory(neighbours=4, temperature=1.0, weight=0.5)
    if order == "reversed":  # the same text stored the other way round: another choice of tied places to return
        memory = NeighbourMemory(memory.keys.flip(0), memory.values.flip(0), 6, memory.settings)
    near = memory.nearest(torch.zeros(1, 2))
    assert len(near.beyond[0]) == 7 and near.distances[0].tolist() == pytest.approx([0.5, 2, 2, 2])
    near_vote, tied_vote = (math.exp(-float(near.distances[0, 0])),  # place 10, and the three tied slots together
                            3 * math.exp(-float(near.distances[0, -1])))
    total = near_vote + tied_vote
    expected = torch.tensor([0, 0.3 * tied_vote, 0.7 * tied_vote, 0, near_vote, 0], dtype=torch.double) / total
    torch.testing.assert_close(memory.probabilities(near, 1.0)[0], expected)
    model_logp = torch.full((1, 6), -math.log(6))
    mixed = memory.mix(torch.zeros(1, 2), model_logp)
    torch.testing.assert_close(mixed[0].exp(), 0.5 * expected + 0.5 / 6)
    for token in range(6):
        torch.testing.assert_close(memory.mix_targets(torch.zeros(1, 2), model_logp[:, token], torch.tensor([token])),
                                   mixed[:, token])


def test_fewer_neighbours_of_a_search_keep_the_places_tied_at_their_own_last_distance():
    memory = tied_memory()
    wide = memory.nearest(torch.zeros(1, 2), neighbours=11)
    assert wide.beyond == {}  # all ten tied places fit
    for k in (2, 4, 10, 11):
        narrow, direct = wide.first(k), memory.nearest(torch.zeros(1, 2), neighbours=k)
        assert torch.equal(narrow.distances, direct.distances)
        assert sorted(narrow.positions[0].tolist() + narrow.beyond.get(0, torch.tensor([], dtype=torch.long)).tolist()) \
            == sorted(direct.positions[0].tolist() + direct.beyond.get(0, torch.tensor([], dtype=torch.long)).tolist())
        torch.testing.assert_close(memory.probabilities(narrow, 1.0), memory.probabilities(direct, 1.0))
    few = memory.nearest(torch.zeros(1, 2), neighbours=3)
    assert len(few.first(2).beyond[0]) == 9 and len(few.first(1).beyond) == 0


def test_a_memory_of_another_text_brings_its_filler_for_the_same_context_first(memorised):
    """The model learnt 我打算买一部新手机; a memory of 我打算去一部新手机 holds the blank's very context with 去."""
    model, tokenizer = memorised
    left, right = tokenizer.encode_line("我打算"), tokenizer.encode_line("一部新手机")
    assert tokenizer.decode(cloze_fill(model, left, right)[0].ids) == "买"
    before = {name: value.clone() for name, value in model.state_dict().items()}
    memory = NeighbourMemory.build(model, [tokenizer.encode_line("我打算去一部新手机")],
                               MemorySettings(neighbours=1, weight=0.9))
    remembered = cloze_fill(model, left, right, memory=memory)
    assert tokenizer.decode(remembered[0].ids) == "去"
    assert all(torch.equal(value, before[name]) for name, value in model.state_dict().items())  # never changed


def test_with_a_memory_single_token_fillers_still_score_as_their_filled_sentences_would(memorised):
    """The one cloze row at the blank and the filled sentences read the memory at the same place alike."""
    model, tokenizer = memorised
    left, right = tokenizer.encode_line("我打算"), tokenizer.encode_line("一部新手机")
    memory = NeighbourMemory.build(model, [tokenizer.encode_line(text) for text in ONE_TOKEN], MemorySettings(weight=0.5))
    fillers = cloze_fill(model, left, right, rerank=3, memory=memory)
    one_by_one = filled_loglik(model, left, right, [tuple(f.ids) for f in fillers], memory=memory)
    np.testing.assert_allclose([f.own for f in fillers], [own for own, _ in one_by_one], atol=1e-5)
    plain = filled_loglik(model, left, right, [tuple(f.ids) for f in fillers])
    np.testing.assert_allclose([c for _, c in one_by_one], [c for _, c in plain], atol=1e-5)  # the rest: no memory
    assert [f.context for f in fillers[:3]] == pytest.approx([c for _, c in one_by_one[:3]], abs=1e-5)


def test_longer_fillers_read_the_memory_at_each_of_their_places(memorised):
    model, tokenizer = memorised
    left, right = tokenizer.encode_line("我打算"), tokenizer.encode_line("部新手机")
    memory = NeighbourMemory.build(model, [tokenizer.encode_line("我打算去有部新手机")], MemorySettings(neighbours=1, weight=0.9))
    def best_pair(**options) -> str:
        fillers = cloze_fill(model, left, right, max_len=2, beam=4, rerank=0, **options)
        return tokenizer.decode(next(f.ids for f in fillers if len(f.ids) == 2))

    assert best_pair() == "买一"
    assert best_pair(memory=memory) == "去有"


@pytest.mark.parametrize("settings, words", [
    ({"neighbours": 0}, "--memory-neighbours must be at least 1, got 0"),
    ({"neighbours": 2.5}, "--memory-neighbours must be an integer, got 2.5"),
    ({"temperature": 0.0}, "--memory-temperature must be at least 0.001, got 0.0"),
    ({"temperature": 1e-320}, "--memory-temperature must be at least 0.001, got 1e-320"),  # -d / T would overflow
    ({"temperature": float("nan")}, "--memory-temperature must be a finite number, got nan"),
    ({"temperature": float("inf")}, "--memory-temperature must be a finite number, got inf"),
    ({"weight": 0.0}, "--memory-weight must be > 0, got 0.0"),
    ({"weight": 1.0}, "--memory-weight must be < 1, got 1.0"),
    ({"weight": "0.5"}, "--memory-weight must be a number, got '0.5'"),
])
def test_bad_memory_settings_are_refused_by_name(settings, words):
    with pytest.raises(ConfigError, match=f"^{words.replace('.', '[.]')}$"):
        MemorySettings(**settings)


def test_a_memory_of_no_text_and_one_for_a_model_without_features_are_refused(memorised):
    model, _ = memorised
    with pytest.raises(ConfigError, match="the memory's text has no tokens to remember"):
        NeighbourMemory.build(model, [[], []])

    class LeftToRight(torch.nn.Module):
        pass

    with pytest.raises(ConfigError, match=r"the model \(LeftToRight\) does not expose the features its softmax reads"):
        NeighbourMemory.build(LeftToRight(), [[1, 2]])


# --- through the CLI ---------------------------------------------------------------------


def rows(result) -> list[dict]:
    import json

    assert result.exit_code == 0, result.output
    return [json.loads(line) for line in result.stdout.splitlines()]


def test_fill_reads_a_memory_of_the_models_own_train_split_or_of_a_file(cli, bimodel, monkeypatch):
    from conftest import TINY

    monkeypatch.setenv("LMKIT_CORPORA", str(bimodel.parent / "corpora"))  # where the fixture's text was cached
    plain = rows(cli("fill", bimodel, "我_", "--top", "3", "--json", "--rerank", "0"))
    own = cli("fill", bimodel, "我_", "--top", "3", "--json", "--rerank", "0", "--memory", "--memory-weight", "0.9")
    remembered = rows(own)
    assert "remembering " in own.stderr and f" train for {bimodel} ..." in own.stderr
    train_tokens = sum(len(line) + 1 for line in TINY["zh"]["train"].read_text(encoding="utf-8").splitlines() if line)
    assert f"remembered {train_tokens:,} places" in own.stderr  # a character model: every character, every line's end
    assert [r["pseudo_loglik"] for r in remembered] != [r["pseudo_loglik"] for r in plain]
    from_file = cli("fill", bimodel, "我_", "--top", "3", "--json", "--rerank", "0", "--memory-file",
                    TINY["zh"]["train"], "--memory-weight", "0.9")
    assert [r["pseudo_loglik"] for r in rows(from_file)] == pytest.approx([r["pseudo_loglik"] for r in remembered])
    assert f"remembering {TINY['zh']['train']} for {bimodel} ..." in from_file.stderr


def test_a_memory_of_one_line_fills_the_same_context_with_its_token(cli, bimodel, tmp_path):
    text = tmp_path / "memory.txt"
    text.write_text("老船夫在港旁边\n", encoding="utf-8")
    top = rows(cli("fill", bimodel, "老船夫在_旁边", "--top", "1", "--json", "--memory-file", text,
                   "--memory-neighbours", "1", "--memory-weight", "0.99", "--rerank", "0"))
    assert top[0]["filler"] == "港"  # the one remembered place with this very context holds 港


@pytest.mark.parametrize("args, words", [
    (["--memory-neighbours", "5"], "neither --memory nor --memory-file is given, so no memory is read: "
                                   "--memory-neighbours would be ignored; drop it"),
    (["--memory-weight", "0.3", "--memory-temperature", "2"], "--memory-temperature --memory-weight would be ignored; "
                                                               "drop them"),
])
def test_memory_settings_without_a_memory_are_refused(cli, bimodel, args, words):
    from conftest import assert_one_line_error

    assert_one_line_error(cli("fill", bimodel, "我_", *args), words)


def test_a_memory_is_refused_for_a_missing_file_or_a_folder(cli, bimodel, tmp_path):
    from conftest import assert_one_line_error

    assert_one_line_error(cli("fill", bimodel, "我_", "--memory-file", tmp_path / "none.txt"),
                          str(tmp_path / "none.txt"))
    assert_one_line_error(cli("fill", bimodel, "我_", "--memory-file", tmp_path), str(tmp_path))


@pytest.mark.parametrize("option, value, words", [
    ("--memory-weight", "1", "--memory-weight must be < 1, got 1.0"),
    ("--memory-weight", "nan", "--memory-weight must be a finite number, got nan"),
    ("--memory-neighbours", "0", "--memory-neighbours must be at least 1, got 0"),
    ("--memory-temperature", "-1", "--memory-temperature must be at least 0.001, got -1.0"),
    ("--memory-temperature", "1e-320", "--memory-temperature must be at least 0.001, got 1e-320"),
])
def test_bad_memory_values_are_refused_by_option(cli, bimodel, option, value, words):
    from conftest import assert_one_line_error

    assert_one_line_error(cli("fill", bimodel, "我_", "--memory", option, value), words, usage=True)


def test_a_memory_larger_than_the_free_ram_is_refused_before_it_is_built(memorised, monkeypatch):
    import os

    model, tokenizer = memorised  # features 2 x 32 wide: 7 x (64 x 4 + 4 + 8) bytes, twice over
    page = os.sysconf("SC_PAGE_SIZE")
    monkeypatch.setattr(os, "sysconf", lambda name: 0 if name == "SC_AVPHYS_PAGES" else page)
    with pytest.raises(ConfigError, match=r"^a memory of 7 positions needs about 3\.66 KiB, and 0 B is free: "
                                          "remember a shorter text$"):
        NeighbourMemory.build(model, [tokenizer.encode_line("我打算去北京")])


def test_a_memory_file_that_is_not_utf8_is_refused_or_read_with_replacements(cli, bimodel, tmp_path):
    from conftest import assert_one_line_error

    text = tmp_path / "latin1.txt"
    text.write_bytes("老船夫在港旁边 caf\u00e9\n".encode("utf-8").replace("\u00e9".encode("utf-8"), b"\xe9"))
    assert_one_line_error(cli("fill", bimodel, "我_", "--memory-file", text),
                          f"{text}: not valid UTF-8 at byte offset", "pass --encoding-errors replace")
    replaced = cli("fill", bimodel, "我_", "--memory-file", text, "--encoding-errors", "replace", "--top", "1")
    assert replaced.exit_code == 0, replaced.output
    assert_one_line_error(cli("fill", bimodel, "我_", "--memory", "--encoding-errors", "replace"),
                          "--encoding-errors says how --memory-file is read, and none is given: --encoding-errors would be ignored")
