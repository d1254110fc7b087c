"""`lmkit eval --cache N / --dynamic`: a separate, labelled regime, tuned on valid, the model's files untouched."""
from __future__ import annotations

import json

import pytest

from conftest import assert_one_line_error
from lm_fixtures import ngram_dir, rnn_dir
from lmkit.text.tokenizer_cache import get_tokenizer

pytestmark = pytest.mark.filterwarnings("ignore:Kneser-Ney discounts")


@pytest.fixture
def models(tiny_en, tmp_path):
    chars = get_tokenizer(tiny_en, "char")
    return {"lstm": rnn_dir(tmp_path / "lstm", tiny_en, chars), "kn": ngram_dir(tmp_path / "kn", tiny_en, chars)}


def eval_json(cli, *args):
    result = cli("eval", *args, "--json")
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def files_state(folder):
    return {p.name: (p.read_bytes(), p.stat().st_mtime_ns) for p in sorted(folder.rglob("*")) if p.is_file()}


def test_cache_is_tuned_on_valid_and_reported_apart_from_the_static_figures(cli, models):
    static = eval_json(cli, models["lstm"])
    out = eval_json(cli, models["lstm"], "--cache", "50")
    assert out["models"] == static["models"]  # the static perplexity is not touched by the regime
    cache = out["adaptive"]["cache"]
    assert cache["label"] == "neural cache (adapts to the test text it has read)"
    assert cache["tuned_on"].endswith(" valid") and cache["size"] == 50
    assert cache["theta"] > 0 and 0 <= cache["lambda"] < 1
    assert cache["evaluation"]["tokens"] == static["models"][0]["evaluation"]["tokens"]


def test_given_cache_settings_are_used_as_given(cli, models):
    out = eval_json(cli, models["lstm"], "--cache", "20", "--cache-theta", "0.5", "--cache-lambda", "0")
    cache = out["adaptive"]["cache"]
    assert (cache["theta"], cache["lambda"], cache["tuned_on"]) == (0.5, 0.0, None)
    # λ = 0 is the static model, scored in one row instead of 16
    assert cache["evaluation"]["perplexity"] == pytest.approx(out["models"][0]["evaluation"]["perplexity"], rel=0.02)


def test_text_output_labels_each_regime_and_prints_what_it_chose(cli, models):
    result = cli("eval", models["lstm"], "--cache", "30", "--dynamic", "--tune-tokens", "300")
    assert result.exit_code == 0, result.output
    out = result.stdout
    assert "neural cache (adapts to the test text it has read): size 30, theta" in out
    assert "dynamic evaluation (adapts to the test text it has read): lr" in out
    assert "(theta and lambda tuned on " in out and "(lr tuned on " in out
    assert " valid; gradient RMS from " in out and " train)" in out
    assert out.index("perplexity") < out.index("neural cache")  # the static block comes first, on its own


def test_a_cache_of_a_million_is_shown_in_full_and_lambda_0_tunes_nothing(cli, models):
    """Pass 44: `size 1.04858e+06`; and with --cache-lambda 0 (the static model) the line said both were tuned."""
    result = cli("eval", models["lstm"], "--cache", "1048576", "--tune-tokens", "50")
    assert result.exit_code == 0, result.output
    assert "size 1048576, theta " in result.stdout and "(theta and lambda tuned on " in result.stdout
    result = cli("eval", models["lstm"], "--cache", "100", "--cache-lambda", "0")
    assert result.exit_code == 0, result.output
    line = next(line for line in result.stdout.splitlines() if line.startswith("neural cache"))
    assert line.endswith(": size 100, lambda 0"), line  # nothing tuned, no theta: it changes nothing at lambda 0
    cache = eval_json(cli, models["lstm"], "--cache", "100", "--cache-theta", "0.5", "--tune-tokens", "50")["adaptive"]
    assert cache["cache"]["tuned"] == ["lambda"] and cache["cache"]["theta"] == 0.5


def test_dynamic_and_cache_leave_the_model_files_untouched(cli, models):
    before = files_state(models["lstm"])
    out = eval_json(cli, models["lstm"], "--dynamic", "--dynamic-lr", "0.01", "--cache", "10", "--tune-tokens", "300")
    dynamic = out["adaptive"]["dynamic"]
    assert dynamic["lr"] == 0.01 and dynamic["tuned_on"] is None
    assert dynamic["mean_squares_from"].endswith(" train")  # as Krause et al.: not the text the LR is tuned on
    assert files_state(models["lstm"]) == before
    again = eval_json(cli, models["lstm"])
    assert again["models"] == out["models"]


@pytest.mark.parametrize("args, fragments", [
    (["--cache", "10"], ["--cache needs a torch recurrent model", "this model's kind is ngram"]),
    (["--dynamic"], ["--dynamic needs a left-to-right model trained by gradients", "this model's kind is ngram"]),
])
def test_models_without_the_capability_are_refused_naming_their_kind(cli, models, args, fragments):
    assert_one_line_error(cli("eval", models["kn"], *args), *fragments)


@pytest.mark.parametrize("args, fragments", [
    (["--cache", "10", "--reset-per-line"], ["--cache reads the text in order", "--reset-per-line"]),
    (["--dynamic", "--cache", "5", "--reset-per-line"], ["--cache and --dynamic reads the text in order"]),
])
def test_regimes_that_cannot_combine_are_refused(cli, models, args, fragments):
    assert_one_line_error(cli("eval", models["lstm"], *args), *fragments)


@pytest.mark.parametrize("args, regimes", [
    (["--cache", "10", "--cache-theta", "0.3", "--cache-lambda", "0.1"], "--cache"),
    (["--cache", "10", "--cache-lambda", "0"], "--cache"),
    (["--memory", "--memory-neighbours", "8", "--memory-temperature", "2", "--memory-weight", "0.3"], "--memory"),
])
def test_tune_tokens_is_refused_where_every_setting_is_given(cli, models, args, regimes):
    """Pass 80: --tune-tokens was accepted and changed nothing where no regime had anything left to tune (dynamic
    evaluation reads it for its mean squared gradients too, so it is kept there)."""
    assert_one_line_error(cli("eval", models["lstm"], *args, "--tune-tokens", "100"),
                          f"every setting of {regimes} is given, so nothing is tuned: --tune-tokens would be ignored")
    assert cli("eval", models["lstm"], "--dynamic", "--dynamic-lr", "0.01", "--tune-tokens", "300").exit_code == 0


def test_a_mix_is_refused(cli, models):
    result = cli("eval", "--mix", f"{models['lstm']},{models['kn']}", "--dynamic")
    assert_one_line_error(result, "--dynamic evaluates one MODEL, not a --mix")


@pytest.mark.parametrize("option, value", [("--cache", "0"), ("--cache-lambda", "1"), ("--cache-theta", "0"),
                                           ("--dynamic-lr", "-1"), ("--dynamic-segment", "0"), ("--cache", "nan")])
def test_bad_values_are_refused_while_parsing(cli, models, option, value):
    assert_one_line_error(cli("eval", models["lstm"], option, value), option, usage=True)


def test_report_gives_the_regimes_a_table_of_their_own(cli, models, tmp_path):
    out = tmp_path / "report"
    result = cli("report", models["lstm"], models["kn"], "--cache", "20", "--dynamic", "--tune-tokens", "300",
                 "--sample-tokens", "0", "--out", out)
    assert result.exit_code == 0, result.output
    rows = {row["name"]: row for row in json.loads((out / "report.json").read_text(encoding="utf-8"))["rows"]}
    assert set(rows["lstm"]["adaptive"]) == {"cache", "dynamic"} and rows["kn"]["adaptive"] == {}
    static = eval_json(cli, models["lstm"], "--cache", "20", "--dynamic", "--tune-tokens", "300")
    assert rows["lstm"]["test"] == static["models"][0]["evaluation"]  # the true perplexity columns stay static
    for regime in ("cache", "dynamic"):
        assert rows["lstm"]["adaptive"][regime]["evaluation"]["bits_per_char"] == pytest.approx(
            static["adaptive"][regime]["evaluation"]["bits_per_char"])
    markdown = (out / "report.md").read_text(encoding="utf-8")
    main, adaptive = markdown.split("### Adaptive evaluation (separate regimes", 1)
    assert "neural cache" not in main and "dynamic eval" not in main
    assert "neural cache test bits/char" in adaptive and "not supported by this model" in adaptive
    assert "Adaptive evaluation" in (out / "report.html").read_text(encoding="utf-8")
    assert "Adaptive evaluation" in result.stdout


def test_report_says_which_settings_of_each_regime_were_tuned(cli, models, tmp_path):
    """Pass 45: the heading said the settings were tuned on valid whatever was given, and the row did not say."""
    out = tmp_path / "report"
    result = cli("report", models["lstm"], "--cache", "20", "--cache-lambda", "0.1", "--dynamic", "--dynamic-lr",
                 "0.001", "--tune-tokens", "300", "--sample-tokens", "0", "--out", out)
    assert result.exit_code == 0, result.output
    markdown = (out / "report.md").read_text(encoding="utf-8")
    assert "lambda 0.1; theta tuned |" in markdown and "segment 32; none tuned |" in markdown


def test_report_says_so_when_no_model_can_run_a_regime_asked_for(cli, models, tmp_path):
    """An N-gram model alone with --cache, --dynamic and --memory printed no table and no word of why."""
    out = tmp_path / "report"
    result = cli("report", models["kn"], "--cache", "20", "--dynamic", "--memory", "--sample-tokens", "0", "--out", out)
    assert result.exit_code == 0, result.output
    for option in ("--cache", "--dynamic", "--memory"):
        note = f"{option} was asked for, but no model in this report can run it: it needs a left-to-right"
        assert note in result.stdout and note in (out / "report.md").read_text(encoding="utf-8")
    assert "Adaptive evaluation" not in result.stdout
    ran = cli("report", models["lstm"], models["kn"], "--cache", "20", "--cache-theta", "1", "--cache-lambda", "0.1",
              "--sample-tokens", "0", "--out", tmp_path / "both")
    assert ran.exit_code == 0 and "was asked for" not in ran.stdout  # one model ran it: its table says the rest


def test_report_without_the_options_has_no_adaptive_table(cli, models, tmp_path):
    result = cli("report", models["lstm"], "--sample-tokens", "0", "--out", tmp_path / "report")
    assert result.exit_code == 0, result.output
    assert "Adaptive" not in (tmp_path / "report" / "report.md").read_text(encoding="utf-8")


def test_each_regime_is_measured_against_the_static_model_read_as_it_reads(cli, models):
    """The regimes read the text as one stream; the static default's 16 rows restart the state 16 times, which
    on a short text alone looked like a gain: a cache with lambda 0 (no cache at all) showed one."""
    one_stream = eval_json(cli, models["lstm"], "--rows", "1")["models"][0]["evaluation"]
    out = eval_json(cli, models["lstm"], "--cache", "50", "--cache-theta", "1", "--cache-lambda", "0", "--dynamic")
    for regime in ("cache", "dynamic"):
        assert out["adaptive"][regime]["static"]["bits_per_token"] == pytest.approx(one_stream["bits_per_token"])
    assert out["adaptive"]["cache"]["evaluation"]["bits_per_token"] == pytest.approx(one_stream["bits_per_token"])
    text = cli("eval", models["lstm"], "--cache", "50", "--cache-theta", "1", "--cache-lambda", "0").stdout
    assert "(+0.0% against that static reading)" in text
