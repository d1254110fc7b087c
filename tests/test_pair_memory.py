"""A nearest-neighbour memory for each model of a forward/backward pair (lmkit.evaluate.memory, the kNN-LM proper)
and `lmkit fill FORWARD BACKWARD TEXT --memory`."""
from __future__ import annotations

import json
import math
from types import SimpleNamespace

import pytest
import torch

from lmkit.errors import ConfigError
from lmkit.generate.fill import fill_blank, memory_gains
from lmkit.evaluate.memory import MemorySettings, NeighbourMemory
from lmkit.models.neural.rnn import RNNConfig, RNNLM
from lmkit.text.tokenizers import CharTokenizer
from test_fill import ONE_TOKEN, pair as count_pair


def untrained_pair(seed: int = 0) -> tuple[CharTokenizer, RNNLM, RNNLM]:
    tokenizer = CharTokenizer.fit(ONE_TOKEN)
    torch.manual_seed(seed)
    forward, backward = (RNNLM(tokenizer.vocab, RNNConfig(cell="lstm", emb_size=8, hidden_size=16, layers=2)).eval()
                         for _ in "fb")
    return tokenizer, forward, backward


def outputs(model, ids: list[int]) -> torch.Tensor:
    """(len(ids) + 1, H): the top-layer output that predicts each token of `ids` and then `</s>`."""
    with torch.no_grad():
        line = torch.tensor([[model.vocab.bos_id, *ids]])
        return model.hidden_states(line, model.init_state(1))[0][0]


def brute_force_logp(model, memory: NeighbourMemory, ids: list[int], places: range) -> float:
    """log p(<s> ids </s>) under `model`, with the predictions at `places` (indices into ids) mixed with `memory`'s,
    its neighbours found by exact distances in double precision."""
    target = [*ids, model.vocab.eos_id]
    feats = outputs(model, ids)                                                        # (T, H)
    with torch.no_grad():
        logp = model.head.log_probs(feats).double()                                    # (T, V)
    total = 0.0
    for t, token in enumerate(target):
        p_model = math.exp(float(logp[t, token]))
        if t in places:
            distances = ((memory.keys.double() - feats[t].double()) ** 2).sum(1)       # (M,)
            near = distances.topk(min(memory.settings.neighbours, len(memory)), largest=False)
            shares = torch.softmax(-near.values / memory.settings.temperature, 0)
            p_memory = float(shares[memory.values[near.indices] == token].sum())
            weight = memory.settings.weight
            total += math.log(weight * p_memory + (1 - weight) * p_model)
        else:
            total += math.log(p_model)
    return total


def test_a_left_to_right_memory_holds_the_output_that_predicts_each_token_of_its_text():
    tokenizer, forward, _ = untrained_pair()
    lines = [tokenizer.encode_line(text) for text in ("我打算去北京", "他有一部新手机", "")]
    memory = NeighbourMemory.build(forward, lines, batch_lines=2)  # the two lines padded into one batch
    assert len(memory) == 6 + 1 + 7 + 1 and memory.keys.shape[1] == 16
    order = [lines[0], lines[1]]  # sorted by length: the shorter first
    torch.testing.assert_close(memory.keys, torch.cat([outputs(forward, ids) for ids in order]), atol=1e-5, rtol=1e-5)
    assert memory.values.tolist() == [t for ids in order for t in (*ids, forward.vocab.eos_id)]


@pytest.mark.parametrize("fillers", [["买", "去", "有"], ["购买", "买了", "去", "购物车"]])
def test_a_pairs_scores_with_memories_are_its_sentences_with_the_fillers_places_mixed(fillers):
    tokenizer, forward, backward = untrained_pair()
    settings = MemorySettings(neighbours=5, temperature=0.5, weight=0.4)
    lines = [tokenizer.encode_line(text) for text in ONE_TOKEN[::3]]
    memories = (NeighbourMemory.build(forward, lines, settings), NeighbourMemory.build(backward, [ids[::-1] for ids in lines], settings))
    left, right = tokenizer.encode_line("我打算"), tokenizer.encode_line("一部新手机")
    candidates = [tokenizer.encode_line(text) for text in fillers]
    scored = fill_blank(forward, backward, left, right, candidates, memories=memories)
    assert sorted(f.ids for f in scored) == sorted(candidates)
    for filler in scored:
        sentence, k = [*left, *filler.ids, *right], len(filler.ids)
        assert filler.forward == pytest.approx(brute_force_logp(forward, memories[0], sentence,
                                                                range(len(left), len(left) + k)), abs=1e-4)
        assert filler.backward == pytest.approx(brute_force_logp(backward, memories[1], sentence[::-1],
                                                                 range(len(right), len(right) + k)), abs=1e-4)


def test_a_pair_reports_its_memories_searches_as_one_pass_of_both_directions_distinct_prefixes():
    tokenizer, forward, backward = untrained_pair()
    lines = [tokenizer.encode_line(text) for text in ONE_TOKEN[::3]]
    memories = (NeighbourMemory.build(forward, lines), NeighbourMemory.build(backward, [ids[::-1] for ids in lines]))
    candidates = [tokenizer.encode_line(text) for text in ["去北京", "去北", "买", "有一"]]
    heard = []
    fill_blank(forward, backward, tokenizer.encode_line("我"), tokenizer.encode_line("手机"), candidates,
               memories=memories, memory_progress=lambda done, total: heard.append((done, total)))
    # forward: (), 去, 去北, 有 -- backward, each filler reversed: (), 京, 京北, 北, 一
    assert heard[0] == (0, 9) and heard[-1] == (9, 9) and [d for d, _ in heard] == sorted(d for d, _ in heard)


def test_the_gains_of_fillers_that_share_a_prefix_read_it_once_and_no_filler_gains_nothing():
    tokenizer, forward, _ = untrained_pair()
    memory = NeighbourMemory.build(forward, [tokenizer.encode_line(text) for text in ONE_TOKEN])
    searched = []
    nearest = memory.nearest
    memory.nearest = lambda queries, neighbours=None: searched.append(len(queries)) or nearest(queries, neighbours)
    fillers = [(5,), (6,), (7,), (5, 6), (5, 7)]
    gains = memory_gains(forward, memory, tokenizer.encode_line("我打算"), fillers)
    assert sum(searched) == 2  # the prefixes () and (5,)
    assert memory_gains(forward, memory, [], [()]) == [0.0] and len(gains) == 5


def test_at_a_lines_start_every_remembered_line_votes_for_its_first_token_alike():
    """Nothing read yet: the forward model's output there is one and the same for every line of its memory, twenty
    places equally near for 3 neighbours; 16 lines begin with 我 and 4 with 他, so the memory says 0.8 and 0.2,
    which no choice of 3 of the places could say."""
    tokenizer, forward, _ = untrained_pair()
    lines = [tokenizer.encode_line(text) for text in ["我打算去北京"] * 16 + ["他有一部新手机"] * 4]
    memory = NeighbourMemory.build(forward, lines, MemorySettings(neighbours=3, weight=0.5))
    first = [tokenizer.vocab.id("我"), tokenizer.vocab.id("他")]
    with torch.no_grad():
        model_p = forward.head.log_probs(outputs(forward, [])[0]).exp()             # (V,) after <s>
    gains = memory_gains(forward, memory, [], [(first[0],), (first[1],), (tokenizer.vocab.id("京"),)])
    expected = [math.log(0.5 * share + 0.5 * float(model_p[t])) - math.log(float(model_p[t]))
                for share, t in zip((0.8, 0.2), first)]
    assert gains[:2] == pytest.approx(expected, abs=1e-6) and gains[2] == pytest.approx(math.log(0.5), abs=1e-6)


def test_a_memory_of_one_line_brings_its_filler_first_for_a_pair():
    """Each model's one remembered place with this very context holds 买: with one neighbour and most of the weight the
    memory overrules models that have never seen it."""
    tokenizer, forward, backward = untrained_pair()
    settings = MemorySettings(neighbours=1, weight=0.99)
    line = tokenizer.encode_line("我打算买一部新手机")
    memories = (NeighbourMemory.build(forward, [line], settings), NeighbourMemory.build(backward, [line[::-1]], settings))
    left, right = tokenizer.encode_line("我打算"), tokenizer.encode_line("一部新手机")
    plain = fill_blank(forward, backward, left, right)
    remembered = fill_blank(forward, backward, left, right, memories=memories)
    assert tokenizer.decode(remembered[0].ids) == "买" != tokenizer.decode(plain[0].ids)


def test_a_memory_needs_neural_models():
    tokenizer, counts, _ = count_pair(ONE_TOKEN)
    with pytest.raises(ConfigError, match=r"^the model \(CountBigram\) does not expose the features its softmax reads"):
        NeighbourMemory.build(counts, [tokenizer.encode_line("我打算")])


# --- through the CLI ---------------------------------------------------------------------


@pytest.fixture(scope="module")
def lstm_pair(tmp_path_factory):
    """A forward and a backward character LSTM trained by the CLI on the tiny Chinese fixture, and its corpora."""
    from conftest import train_zh

    folder = tmp_path_factory.mktemp("pair")
    for direction in ("forward", "backward"):
        train_zh(folder / direction, "--model", "lstm", "--hidden-size", "16", "--emb-size", "8", "--max-steps", "2",
                 "--batch-size", "4", "--bptt", "16", "--eval-every", "2", "--sample-tokens", "0",
                 "--direction", direction)
    return folder


def rows(result) -> list[dict]:
    assert result.exit_code == 0, result.output
    return [json.loads(line) for line in result.stdout.splitlines()]


def test_fill_with_two_models_reads_each_ones_memory_of_its_own_train_split(cli, lstm_pair, monkeypatch):
    from conftest import TINY

    monkeypatch.setenv("LMKIT_CORPORA", str(lstm_pair / "corpora"))
    forward, backward = lstm_pair / "forward", lstm_pair / "backward"
    plain = rows(cli("fill", forward, backward, "我_", "--json", "--top", "3"))
    result = cli("fill", forward, backward, "我_", "--json", "--top", "3", "--memory", "--memory-weight", "0.9")
    train_tokens = sum(len(line) + 1 for line in TINY["zh"]["train"].read_text(encoding="utf-8").splitlines() if line)
    assert result.stderr.count(f"remembered {train_tokens:,} places") == 2
    assert f"for {forward} ..." in result.stderr and f"for {backward} ..." in result.stderr
    assert [r["forward"] for r in rows(result)] != [r["forward"] for r in plain]


def test_a_pair_reads_its_memories_with_the_pairs_defaults_and_a_given_setting_changes_only_itself(cli, lstm_pair,
                                                                                                       monkeypatch):
    from lmkit.evaluate.memory import PairMemorySettings

    monkeypatch.setenv("LMKIT_CORPORA", str(lstm_pair / "corpora"))
    pair = PairMemorySettings()
    spelled = lambda settings: ["--memory-neighbours", str(settings.neighbours), "--memory-temperature",
                                str(settings.temperature), "--memory-weight", str(settings.weight)]
    fill = lambda *options: rows(cli("fill", lstm_pair / "forward", lstm_pair / "backward", "我_", "--json", "--top",
                                     "5", "--memory", *options))
    assert fill() == fill(*spelled(pair)) != fill(*spelled(MemorySettings()))
    assert fill("--memory-weight", "0.9") == fill(*spelled(PairMemorySettings(weight=0.9))) != fill()


def test_a_backward_model_remembers_each_line_of_a_file_reversed(lstm_pair, tmp_path):
    from lmkit.checkpoint.save_load import load_model
    from lmkit.commands.fill import build_memory

    text = tmp_path / "memory.txt"
    text.write_text("老船夫\n在港旁边\n", encoding="utf-8")
    built = {}
    for direction in ("forward", "backward"):
        model, tokenizer, config = load_model(lstm_pair / direction)
        member = SimpleNamespace(model=model, tokenizer=tokenizer, config=config, path=lstm_pair / direction)
        built[direction] = build_memory(member, text, "strict", MemorySettings()).values.tolist()
    eos = model.vocab.eos_id
    lines = [tokenizer.encode_line(line) for line in ("老船夫", "在港旁边")]  # shorter lines first
    assert built["forward"] == [t for ids in lines for t in (*ids, eos)]
    assert built["backward"] == [t for ids in lines for t in (*ids[::-1], eos)]


def test_a_memory_for_an_ngram_pair_is_refused_naming_the_model(cli, tmp_path):
    from conftest import TINY, assert_one_line_error

    zh = TINY["zh"]
    for direction in ("forward", "backward"):
        built = cli("ngram", "--train", zh["train"], "--order", "3", "--direction", direction,
                    "--out", tmp_path / direction)
        assert built.exit_code == 0, built.output
    assert_one_line_error(cli("fill", tmp_path / "forward", tmp_path / "backward", "我_", "--memory"),
                          f"{tmp_path / 'forward'} (", "does not expose the features its softmax reads: a memory "
                          "needs a neural model trained by lmkit train")


def test_an_ngram_backward_model_is_refused_before_the_forward_models_memory_is_built(cli, lstm_pair, tmp_path):
    from conftest import TINY, assert_one_line_error

    zh = TINY["zh"]  # the three splits, as the LSTMs had them: one vocabulary
    built = cli("ngram", "--train", zh["train"], "--valid", zh["valid"], "--test", zh["test"], "--order", "3",
                "--direction", "backward", "--out", tmp_path / "ngram")
    assert built.exit_code == 0, built.output
    for memory in (["--memory"], ["--memory-file", tmp_path / "missing.txt"]):  # nothing is read for the LSTM first
        result = cli("fill", lstm_pair / "forward", tmp_path / "ngram", "我_", *memory)
        assert_one_line_error(result, f"{tmp_path / 'ngram'} (NGramLM) does not expose the features")
        assert "remembering" not in result.stderr
