"""`lmkit eval --memory` (and report's): the kNN-LM, a memory of the train split read at every prediction, checked
against a brute-force search in float64, tuned on valid, reported apart from the static figures."""
from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch

from conftest import TINY, assert_one_line_error
from lm_fixtures import ngram_dir, rnn_dir
from lmkit.checkpoint.save_load import load_model, save_model
from lmkit.evaluate.cache import read_pointers
from lmkit.evaluate.text import EvalText
from lmkit.text.tokenizer_cache import get_tokenizer

pytestmark = pytest.mark.filterwarnings("ignore:Kneser-Ney discounts")


@pytest.fixture
def models(tiny_en, tmp_path):
    """A seeded LSTM whose weights are scaled up, so that its states lie apart as a trained model's do (an untrained
    one's lie within 1e-4 of each other, where float32 rounding alone reorders neighbours), and an N-gram model."""
    chars = get_tokenizer(tiny_en, "char")
    lstm = rnn_dir(tmp_path / "lstm", tiny_en, chars)
    model, tokenizer, config = load_model(lstm)
    with torch.no_grad():
        for weights in model.parameters():
            weights.mul_(6)
    save_model(lstm, model, tokenizer, config)
    return {"lstm": lstm, "kn": ngram_dir(tmp_path / "kn", tiny_en, chars)}


def eval_json(cli, *args) -> dict:
    result = cli("eval", *args, "--json")
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def pointers(model_dir, corpus, split: str, rows: int):
    model, tokenizer, _ = load_model(model_dir)
    return read_pointers(model.eval(), EvalText.from_split(corpus, split).stream(tokenizer), rows)


def brute_force_logp(keys, values, queries, targets, model_logp, neighbours, temperature, weight) -> np.ndarray:
    """log(w p_memory + (1 - w) p_model) of each target, each query's distances in float64 sorted by hand: the places
    nearer than the k-th vote exp(-d / T) each; the k-th distance's slots are shared evenly by every place at it
    (every piece of the train reading starts from the same state, so such ties are real)."""
    out = []
    for query, target, logp in zip(queries.double(), targets, model_logp):
        distances = (keys.double() - query).square().sum(1)                             # (M,)
        kth = distances.sort().values[min(neighbours, len(keys)) - 1]
        nearer, tied = distances < kth, distances == kth
        slots = min(neighbours, len(keys)) - int(nearer.sum())
        votes = torch.exp(-(distances - kth) / temperature)                             # scaled by exp(kth / T)
        total = float(votes[nearer].sum()) + slots                                     # each tied slot votes 1
        share = float(votes[nearer & (values == target)].sum()) + slots * float((tied & (values == target)).sum()) / float(tied.sum())
        out.append(math.log(weight * share / total + (1 - weight) * math.exp(logp)))
    return np.asarray(out)


@pytest.mark.parametrize("neighbours, temperature, weight", [(8, 1.0, 0.3), (10_000, 0.3, 0.5)])
def test_given_settings_score_each_token_as_a_brute_force_search_does(cli, models, tiny_en, neighbours, temperature,
                                                                     weight):
    out = eval_json(cli, models["lstm"], "--memory", "--memory-neighbours", str(neighbours), "--memory-temperature",
                    str(temperature), "--memory-weight", str(weight))
    memory = out["adaptive"]["memory"]
    train = pointers(models["lstm"], tiny_en, "train", 16)  # the train split read as the static evaluation reads
    test = pointers(models["lstm"], tiny_en, "test", 1)     # the test split as one stream, as every regime reads it
    assert memory["places"] == len(train.targets) and memory["tuned"] == [] and memory["tuned_on"] is None
    assert memory["remembered"].endswith(" train") and memory["neighbours"] == min(neighbours, memory["places"])
    expected = brute_force_logp(train.hidden, train.targets, test.hidden, test.targets, test.model_logp,
                                min(neighbours, len(train.targets)), temperature, weight)
    assert memory["evaluation"]["nll"] == pytest.approx(-expected.sum(), rel=1e-6)
    assert memory["static"]["nll"] == pytest.approx(-test.model_logp.sum(), rel=1e-9)
    assert out["models"] == eval_json(cli, models["lstm"])["models"]  # the static figures are the static model's


def test_settings_left_out_are_the_grid_point_best_on_valid(cli, models, tiny_en, monkeypatch):
    import lmkit.evaluate.adaptive as adaptive

    monkeypatch.setattr(adaptive, "MEMORY_NEIGHBOURS_GRID", (4, 32))
    monkeypatch.setattr(adaptive, "MEMORY_TEMPERATURE_GRID", (0.3, 3.0))
    monkeypatch.setattr(adaptive, "MEMORY_WEIGHT_GRID", (0.1, 0.4))
    memory = eval_json(cli, models["lstm"], "--memory", "--memory-weight", "0.4")["adaptive"]["memory"]
    assert memory["tuned"] == ["neighbours", "temperature"] and memory["tuned_on"].endswith(" valid")
    train = pointers(models["lstm"], tiny_en, "train", 16)
    valid = pointers(models["lstm"], tiny_en, "valid", 1)
    nll = {(k, t): -brute_force_logp(train.hidden, train.targets, valid.hidden, valid.targets, valid.model_logp, k, t,
                                     0.4).sum() for k in (4, 32) for t in (0.3, 3.0)}
    assert (memory["neighbours"], memory["temperature"], memory["weight"]) == (*min(nll, key=nll.get), 0.4)


def test_a_memory_that_holds_the_test_text_finds_each_token_and_one_that_is_it_is_refused(cli, models, tmp_path):
    """Remembering a text that holds the one it scores, the memory finds near each place its own twin (not at
    distance 0: the memory's reading begins each of its 16 pieces from a fresh state, where the test is read as one
    stream), and the perplexity falls by far. The very text it scores is refused (pass 61: it was reported as a
    gain of 65%)."""
    test, valid = str(TINY["en"]["test"]), str(TINY["en"]["valid"])
    holding = tmp_path / "holding.txt"
    holding.write_bytes(TINY["en"]["valid"].read_bytes() + TINY["en"]["test"].read_bytes())
    out = eval_json(cli, models["lstm"], "--train", holding, "--valid", valid, "--test", test,
                    "--memory", "--memory-neighbours", "4", "--memory-temperature", "0.01", "--memory-weight", "0.9")
    memory = out["adaptive"]["memory"]
    assert memory["evaluation"]["perplexity"] < memory["static"]["perplexity"] / 5
    assert_one_line_error(cli("eval", models["lstm"], "--memory", "--split", "train"),
                          "--memory would remember ", " train, the very text it scores")


def test_the_model_files_are_untouched_and_the_text_output_names_what_it_remembers(cli, models):
    before = {p.name: p.read_bytes() for p in models["lstm"].iterdir() if p.is_file()}
    result = cli("eval", models["lstm"], "--memory", "--memory-neighbours", "16")
    assert result.exit_code == 0, result.output
    assert {p.name: p.read_bytes() for p in models["lstm"].iterdir() if p.is_file()} == before
    assert "kNN-LM memory (reads the train text at every prediction, not the test text): neighbours 16, " in result.stdout
    assert "(temperature and weight tuned on train-" in result.stdout and " valid; remembers train-" in result.stdout


@pytest.mark.parametrize("args, fragments", [
    (["--memory-weight", "0.3"], ["there is no --memory: --memory-weight would be ignored"]),
    (["--memory", "--reset-per-line"], ["--memory reads the text in order as one stream"]),
    (["--memory", "--cache", "5", "--reset-per-line"], ["--cache and --memory reads the text in order"]),
])
def test_options_that_cannot_apply_are_refused(cli, models, args, fragments):
    assert_one_line_error(cli("eval", models["lstm"], *args), *fragments)


def test_models_without_features_and_a_mix_are_refused(cli, models):
    assert_one_line_error(cli("eval", models["kn"], "--memory"), "--memory in evaluation",
                          "this model's kind is ngram")
    assert_one_line_error(cli("eval", "--mix", f"{models['lstm']},{models['kn']}", "--memory"),
                          "--memory evaluates one MODEL, not a --mix")


@pytest.mark.parametrize("option, value", [("--memory-weight", "1"), ("--memory-weight", "0"),
                                           ("--memory-neighbours", "0"), ("--memory-temperature", "0")])
def test_bad_values_are_refused_while_parsing(cli, models, option, value):
    assert_one_line_error(cli("eval", models["lstm"], "--memory", option, value), option, usage=True)


def test_report_gives_the_memory_its_column_beside_the_other_regimes(cli, models, tmp_path):
    out = tmp_path / "report"
    result = cli("report", models["lstm"], models["kn"], "--memory", "--memory-neighbours", "16",
                 "--sample-tokens", "0", "--out", out)
    assert result.exit_code == 0, result.output
    rows = {row["name"]: row for row in json.loads((out / "report.json").read_text(encoding="utf-8"))["rows"]}
    assert set(rows["lstm"]["adaptive"]) == {"memory"} and rows["kn"]["adaptive"] == {}
    alone = eval_json(cli, models["lstm"], "--memory", "--memory-neighbours", "16")["adaptive"]["memory"]
    assert rows["lstm"]["adaptive"]["memory"]["evaluation"]["nll"] == pytest.approx(alone["evaluation"]["nll"])
    markdown = (out / "report.md").read_text(encoding="utf-8")
    assert "kNN memory test bits/char" in markdown and "temperature and weight tuned" in markdown
    assert math.isfinite(alone["evaluation"]["perplexity"])


def test_a_file_is_scored_with_a_memory_of_the_corpus_named_beside_it(cli, models, tiny_en, tmp_path):
    """Pass 61: with --file and the model's corpus gone, the advice said to pass --corpus or --train, which --file
    then refused. A corpus now goes with --file where a regime tunes on it and remembers it."""
    scored = tmp_path / "scored.txt"
    scored.write_bytes(TINY["en"]["test"].read_bytes())
    settings = ("--memory-neighbours", "8", "--memory-temperature", "1", "--memory-weight", "0.3")
    with_file = eval_json(cli, models["lstm"], "--file", scored, "--train", str(TINY["en"]["train"]), "--valid",
                          str(TINY["en"]["valid"]), "--test", str(TINY["en"]["test"]), "--memory", *settings)
    as_split = eval_json(cli, models["lstm"], "--memory", *settings)
    assert with_file["adaptive"]["memory"]["evaluation"]["nll"] == pytest.approx(
        as_split["adaptive"]["memory"]["evaluation"]["nll"])
    assert_one_line_error(cli("eval", models["lstm"], "--file", scored, "--train", str(TINY["en"]["train"])),
                          "give --file or a corpus (--corpus/--train), not both")
