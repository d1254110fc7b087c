"""Reports: fair comparisons only, every file written, the suite trains real model directories."""
import html
import json
from pathlib import Path

import pytest

from lm_fixtures import ngram_dir, rnn_dir
from lmkit.errors import VocabError
from lmkit.report.compare import build_report, check_perplexity_comparable, describe_mixture, describe_model, write_report
from lmkit.report.tables import best_rows
from lmkit.text.tokenizer_cache import get_tokenizer

pytestmark = pytest.mark.filterwarnings("ignore:Kneser-Ney discounts")  # tiny fixtures, default discounts


@pytest.fixture
def char_rows(tiny_en, tmp_path):
    chars = get_tokenizer(tiny_en, "char")
    lstm = rnn_dir(tmp_path / "lstm", tiny_en, chars)
    kn = ngram_dir(tmp_path / "kn", tiny_en, chars)
    return [describe_model(lstm, tiny_en, name="LSTM", sample_tokens=20),
            describe_model(kn, tiny_en, name="KN 3-gram", sample_tokens=20)]


@pytest.fixture
def word_row(tiny_en, tmp_path):
    return describe_model(ngram_dir(tmp_path / "word", tiny_en, get_tokenizer(tiny_en, "word"), order=2), tiny_en,
                          name="word bigram", sample_tokens=5)


def test_rows_hold_the_numbers_of_one_definition(char_rows, tiny_en):
    lstm, kn = char_rows
    assert lstm.test["chars"] == tiny_en.num_chars("test") == lstm.test["tokens"]
    assert lstm.test["bits_per_char"] == pytest.approx(lstm.test["bits_per_token"])
    assert lstm.parameters > 0 and kn.parameters is None and kn.disk_bytes > 0
    assert [p["tokens"] for p in lstm.curve] == [1000, 2000, 3000] and lstm.train_seconds == 4.5
    assert lstm.sample and lstm.command == "lmkit train --model lstm"


def test_each_row_says_what_was_trained_which_its_command_may_not(char_rows, tiny_en, tmp_path):
    """Pass 76: the report showed `lmkit train --train x.txt` for a model whose shape and precision the machine chose
    (one layer of 384 in bf16 here, 2 x 256 on an AMX CPU), and nothing else told two such runs apart."""
    from lmkit.report.compare import architecture

    lstm, kn = char_rows
    config = json.loads((Path(lstm.directory) / "config.json").read_text(encoding="utf-8"))
    shape = f"lstm {config['model']['layers']} x {config['model']['hidden_size']}"
    assert lstm.architecture in (shape, f"{shape}, {(config.get('runtime') or {}).get('precision')}")
    assert kn.architecture == f"{json.loads((Path(kn.directory) / 'config.json').read_text())['order']}-gram kn"
    assert architecture({"kind": "bilstm", "model": {"layers": 2, "hidden_size": 256},
                         "runtime": {"precision": "bf16", "threads": 2}}) == "bilstm 2 x 256, bf16"
    assert architecture({"kind": "scratch-rnn", "model": {"hidden_size": 64}}) == "scratch-rnn 1 x 64"
    assert architecture({"kind": "lstm", "model": "damaged"}) == "lstm"
    write_report(build_report(char_rows, "tiny"), tmp_path / "out")
    markdown = (tmp_path / "out" / "report.md").read_text(encoding="utf-8")
    assert f"| {lstm.architecture}; " in markdown and f"| {kn.architecture}; " in markdown
    data = json.loads((tmp_path / "out" / "report.json").read_text(encoding="utf-8"))
    assert [row["architecture"] for row in data["rows"]] == [lstm.architecture, kn.architecture]


def test_models_with_different_vocabularies_never_share_a_perplexity_column(char_rows, word_row, tmp_path):
    check_perplexity_comparable(char_rows)  # same vocabulary, same text: fine
    with pytest.raises(VocabError, match="different tokenizers or vocabularies"):
        check_perplexity_comparable(char_rows + [word_row])
    report = build_report(char_rows + [word_row], "mixed")
    assert len(report.groups) == 2
    assert any("bits per character" in note for note in report.notes)
    write_report(report, tmp_path / "out")
    markdown = (tmp_path / "out" / "report.md").read_text(encoding="utf-8")
    main_table = markdown.split("\n\n")[2]
    assert "test bits/char" in main_table and "test ppl" not in main_table  # bits/char compares all three
    assert markdown.count("### Perplexity:") == 2  # one perplexity table per vocabulary


def test_the_same_ids_read_by_another_tokenizer_never_share_a_perplexity_column(char_rows):
    """pass 78: an ARPA file read as words beside the character model whose vocabulary it held (tang300's 2,505
    types) shared its perplexity column: 2,032.9 over 263 words beside 155.4 over 1,491 characters."""
    lstm, kn = char_rows
    as_words = type(kn)(**{**vars(kn), "name": "ARPA as words", "tokenizer": "word(lowercase=False, split_punct=False)"})
    assert as_words.vocab_fingerprint == lstm.vocab_fingerprint
    with pytest.raises(VocabError, match=r"different tokenizers or vocabularies \(char.* V=\d+, word\("):
        check_perplexity_comparable([lstm, as_words])
    assert [[row.name for row in group] for group in build_report([lstm, kn, as_words], "mixed").groups] == \
        [["LSTM", "KN 3-gram"], ["ARPA as words"]]


def test_different_test_texts_are_refused_too(char_rows):
    other = type(char_rows[0])(**{**vars(char_rows[0]), "test_digest": "elsewhere", "test_text": "other test"})
    with pytest.raises(VocabError, match="different texts"):
        check_perplexity_comparable([char_rows[1], other])


def test_report_files(char_rows, tmp_path):
    written = write_report(build_report(char_rows, "tiny-en (char)", ["lmkit report ..."]), tmp_path / "out")
    for name in ("report.md", "report.json", "report.html", "bits_per_char.png", "learning_curves.png"):
        assert (tmp_path / "out" / name).stat().st_size > 0, name
    data = json.loads(written["json"].read_text(encoding="utf-8"))
    assert [r["name"] for r in data["rows"]] == ["LSTM", "KN 3-gram"]
    assert data["rows"][1]["test"]["perplexity"] == pytest.approx(char_rows[1].test["perplexity"])
    assert data["commands"] == ["lmkit report ..."] and data["environment"]["torch"]
    page = written["html"].read_text(encoding="utf-8")
    assert page.count('src="data:image/png;base64,') == 2 and "http" not in page  # opens without a server
    assert (tmp_path / "out" / "bits_per_char.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    markdown = written["markdown"].read_text(encoding="utf-8")
    assert "| **KN 3-gram** |" in markdown  # the lowest bits/char is marked
    # pass 82: the page left out what report.md says first: the text scored, and what the marked row means
    said = f"Test text: {char_rows[0].test_text} ({char_rows[0].test['chars']:,} characters, sha256"
    assert said in markdown and "**Marked best** (bold): lowest bits/char among" in markdown
    assert html.escape(said) in page and '<span class="best">Marked best</span> (highlighted): lowest' in page
    assert "<code>&lt;/s&gt;</code> predicted" in page


def test_a_mixture_row_with_tuned_weights(char_rows, tiny_en):
    lstm, kn = char_rows
    row = describe_mixture([lstm.directory, kn.directory], ["LSTM", "KN"], tiny_en, sample_tokens=10)
    assert row.kind == "interpolated" and row.vocab_fingerprint == kn.vocab_fingerprint
    assert row.valid["nll"] <= min(lstm.valid["nll"], kn.valid["nll"]) + 1e-6  # EM never loses on its own data


def test_the_suite_trains_model_directories_within_its_budget(tiny_en, tmp_path):
    from lmkit.checkpoint.learning_curve import read_metrics
    from lmkit.checkpoint.save_load import read_config
    from lmkit.report.suite import SuiteConfig, run_suite

    config = SuiteConfig(budget_minutes=0.04, orders=(1, 2), cells=("gru",), tokenizer_flags=["--tokenizer", "char"],
                         model_changes={"layers": 1, "hidden_size": 16, "emb_size": 8},
                         train_changes={"batch_size": 4, "bptt": 16, "epochs": 1000})
    models = run_suite(tiny_en, get_tokenizer(tiny_en, "char"), tmp_path, config)
    assert [m.name for m in models] == ["1-gram add-k", "2-gram add-k", "1-gram Kneser-Ney", "2-gram Kneser-Ney", "GRU"]
    for model in models:
        saved = read_config(model.directory)
        assert saved["train"]["command"] == model.command and "seconds" in saved["train"]
        assert model.command.startswith(f"lmkit train --corpus {tiny_en.name} --tokenizer char --model ")
    gru = models[-1]
    assert "--max-time 2 " in gru.command  # 0.04 minutes for its one neural model
    assert "--hidden-size 16 " in gru.command and "--bptt 16 " in gru.command  # what differs from the defaults
    assert "--lr " not in gru.command  # a default is not repeated
    assert read_metrics(gru.directory), "the GRU validated at least once"
    again = run_suite(tiny_en, get_tokenizer(tiny_en, "char"), tmp_path, SuiteConfig(**{**vars(config), "reuse": True}))
    assert [m.command for m in again] == [m.command for m in models]  # reused, not retrained


def test_a_link_planted_among_the_suites_models_is_refused_before_any_work(tiny_en, tmp_path):
    from lmkit.errors import ConfigError
    from lmkit.report.suite import SuiteConfig, run_suite

    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / "kept.txt").write_text("mine")
    (tmp_path / "out" / "models").mkdir(parents=True)
    (tmp_path / "out" / "models" / "gru").symlink_to(elsewhere)
    config = SuiteConfig(budget_minutes=0.04, orders=(1,), cells=("gru",), tokenizer_flags=["--tokenizer", "char"])
    with pytest.raises(ConfigError, match="models/gru: is a symbolic link, which lmkit does not make in a report folder"):
        run_suite(tiny_en, get_tokenizer(tiny_en, "char"), tmp_path / "out", config)
    assert sorted(p.name for p in (tmp_path / "out" / "models").iterdir()) == ["gru"]  # nothing built first
    assert [p.name for p in elsewhere.iterdir()] == ["kept.txt"]


def test_report_command_runs_the_baseline_suite_end_to_end(cli, tmp_path):
    from conftest import TINY

    paths = TINY["zh"]
    result = cli("report", "--train", paths["train"], "--valid", paths["valid"], "--test", paths["test"],
                 "--tokenizer", "char", "--suite", "baseline", "--budget-minutes", "0.1", "--out", tmp_path / "r",
                 "--quiet")
    assert result.exit_code == 0, result.output
    data = json.loads((tmp_path / "r" / "report.json").read_text(encoding="utf-8"))
    names = [r["name"] for r in data["rows"]]
    assert names[:10] == [f"{n}-gram {s}" for s in ("add-k", "Kneser-Ney") for n in range(1, 6)]
    assert names[10:13] == ["Elman RNN", "GRU", "LSTM"] and " + " in names[13]
    assert len(data["groups"]) == 1 and "| test ppl |" in result.stdout  # one vocabulary: one perplexity column


def test_report_records_the_tokenizer_options_as_flags():
    from lmkit.commands.common import TokenizerSpec
    from lmkit.commands.report_run import tokenizer_flags

    spec = TokenizerSpec("word", {"min_freq": 2, "split_punct": False, "lowercase": True})
    assert tokenizer_flags(spec) == ["--tokenizer", "word", "--min-freq", "2", "--no-split-punct", "--lowercase"]
    assert tokenizer_flags(TokenizerSpec("spm", {"model_type": "unigram"})) == ["--tokenizer", "spm", "--spm-type", "unigram"]


def with_test(row, name=None, **figures):
    return type(row)(**{**vars(row), "name": name or row.name, "test": {**row.test, **figures}})


def test_a_model_with_oov_tokens_is_not_marked_best_over_models_that_score_every_character(char_rows):
    """Adversarial pass: a word model with 36% OOV read the lowest bits/char (each unknown word one cheap <unk>)
    and was marked best above the models that pay for every character."""
    lstm, kn = char_rows
    small_vocabulary = with_test(kn, "word, small vocabulary", bits_per_char=0.5 * min(lstm.test["bits_per_char"], kn.test["bits_per_char"]),
                                 oov=40, oov_rate=0.36)
    rows = [lstm, kn, small_vocabulary]
    lowest_exact = min((0, 1), key=lambda i: rows[i].test["bits_per_char"])
    assert best_rows(rows) == [lowest_exact]
    some_oov = with_test(small_vocabulary, oov_rate=0.19)
    everyone_oov = [with_test(lstm, oov=1), with_test(kn, oov=1), some_oov]
    assert best_rows(everyone_oov) == [2]  # all flattered alike: the lowest is marked
    mostly_oov = [with_test(lstm, oov=1), with_test(kn, oov=1), small_vocabulary]
    assert best_rows(mostly_oov) == [lowest_exact]  # 36% <unk>: its figures mean little, whatever the others'
    markdown = write_report(build_report(rows, "oov"), Path(kn.directory).parent / "out")["markdown"].read_text("utf-8")
    assert f"| **{rows[lowest_exact].name}** |" in markdown and f"| **{small_vocabulary.name}** |" not in markdown
    assert ("- word, small vocabulary: 36.0% of its test tokens are outside its vocabulary, so its figures mean little "
            "and it is not marked best (was it trained on another text, or with another tokenizer?).") in markdown


def test_an_arpa_file_read_as_words_is_named_with_the_tokenizer_to_give(char_rows):
    """Adversarial pass 69: a character model's ARPA file, read as whitespace words, scored a Chinese text as 36%
    <unk> and was marked best, with no word of why; lmkit eval warned of the same model."""
    lstm, kn = char_rows
    misread = type(kn)(**{**vars(with_test(kn, "kn.arpa", bits_per_char=0.1, oov=19, oov_rate=0.358)),
                          "reads_arpa_words": True})
    notes = build_report([lstm, misread], "arpa").notes
    assert best_rows([lstm, misread]) == [0]
    assert ("kn.arpa: 35.8% of its test tokens are outside its vocabulary, so its figures mean little and it is not "
            "marked best (an ARPA file's text is read as whitespace-separated words: for a model of characters, "
            "subword pieces or words split from their punctuation (lmkit's word default), pass --tokenizer-from with "
            "its model directory or tokenizer.json).") in notes


def test_an_unsmoothed_model_is_a_row_of_infinite_figures_never_best_and_drawn_in_no_chart(char_rows, tiny_en,
                                                                                           tmp_path):
    """A report of add-k, Kneser-Ney and an unsmoothed (mle) N-gram, the textbook comparison, stopped at the mle
    model's first unseen event with an error; its row now says infinity, and a note says why."""
    lstm, kn = char_rows
    mle = describe_model(ngram_dir(tmp_path / "mle", tiny_en, get_tokenizer(tiny_en, "char"), order=4,
                                   smoothing="mle"), tiny_en, name="MLE 4-gram", sample_tokens=10)
    assert 0 < mle.zero_probability < mle.test["tokens"] and mle.test["perplexity"] == float("inf")
    assert mle.passage == [] and mle.sample  # no token view of infinite surprisals; a sample all the same
    rows = [mle, lstm, kn]
    assert best_rows([with_test(mle, bits_per_char=0.01), lstm, kn]) == [1 + i for i in best_rows([lstm, kn])]
    assert best_rows([mle]) == []
    written = write_report(build_report(rows, "mle"), tmp_path / "out")
    markdown = written["markdown"].read_text("utf-8")
    assert "| MLE 4-gram |" in markdown and "| inf | inf | inf | inf |" in markdown
    assert (f"- MLE 4-gram: {mle.zero_probability:,} test tokens have probability zero under it (an unsmoothed "
            "N-gram's unseen events), so its perplexity is infinite and it is not marked best") in markdown
    data = json.loads(written["json"].read_text(encoding="utf-8"))
    assert data["rows"][0]["test"]["perplexity"] is None  # JSON has no infinity
    assert data["rows"][0]["test"]["zero_probability"] == mle.zero_probability


@pytest.mark.parametrize("low, high", [(1.2, 1.45), (13.0, 40.0), (100.0, 2000.0)])
def test_the_log_axis_of_the_curves_is_labelled_in_plain_numbers(low, high):
    """Mathtext labels (1.4×10^0) looked for STIX fonts, and every report printed 21 findfont lines to stderr."""
    from matplotlib.figure import Figure

    from lmkit.report.plots import plain_log_scale, png_bytes

    figure = Figure()
    axes = figure.add_subplot()
    axes.plot([1, 2, 3], [low, (low + high) / 2, high])
    plain_log_scale(axes)
    png_bytes(figure)
    labels = [t.get_text() for minor in (False, True) for t in axes.get_yticklabels(minor=minor) if t.get_text()]
    assert labels and not any("$" in label or "times" in label for label in labels), labels
    assert all(float(label) > 0 for label in labels)


def test_a_stop_signal_while_the_suite_trains_stops_the_whole_report(tiny_en, tmp_path):
    """First-hour pass, session 51: Ctrl-C stopped only the model in training; the next trained, and the report
    was written with the cut-short model as if finished, exit 0. And --reuse kept that model."""
    import os
    import signal

    from lmkit.checkpoint.save_load import read_config
    from lmkit.report.suite import SuiteConfig, reusable, run_suite, suite_model
    from lmkit.stop_signals import Terminated
    from lmkit.train.trainer import TrainCallbacks

    class Stop(TrainCallbacks):  # SIGTERM: a background job (CI under nohup ... &) ignores SIGINT, and lmkit then too
        def on_step(self, info):
            os.kill(os.getpid(), signal.SIGTERM)  # the trainer saves and stops, as for Ctrl-C

    started = []

    def callbacks(name):
        started.append(name)
        return Stop()

    config = SuiteConfig(budget_minutes=0.1, orders=(1,), cells=("gru", "lstm"), tokenizer_flags=["--tokenizer", "char"],
                         model_changes={"layers": 1, "hidden_size": 16, "emb_size": 8},
                         train_changes={"batch_size": 4, "bptt": 16, "epochs": 1000})
    chars = get_tokenizer(tiny_en, "char")
    previous = signal.signal(signal.SIGTERM, signal.SIG_DFL)  # not ignored, whatever started the tests
    try:
        with pytest.raises(Terminated) as stopped:
            run_suite(tiny_en, chars, tmp_path, config, callbacks=callbacks)
    finally:
        signal.signal(signal.SIGTERM, previous)
    assert stopped.value.signum == signal.SIGTERM and len(started) == 1  # the LSTM never started
    gru = tmp_path / "models" / "gru"
    assert not (gru / "config.json").exists() or "stopped" not in read_config(gru).get("train", {})
    assert not reusable(gru, tiny_en, chars, model=suite_model(config, "gru", len(chars.vocab)))  # --reuse trains it again


def test_a_report_folder_given_as_a_model_is_named_as_one(cli, char_rows, tmp_path):
    """First-hour pass, session 51: `lmkit eval REPORT_FOLDER` asked whether training was interrupted."""
    write_report(build_report(char_rows, "tiny-en (char)"), tmp_path / "out")
    result = cli("eval", tmp_path / "out")
    assert result.exit_code != 0 and "is an lmkit report folder, not a model directory" in result.output
    assert "Traceback" not in result.output


def test_no_model_is_marked_best_across_different_test_texts(char_rows):
    """First-hour pass: models tested on different texts were bolded by their bits/char, beside the note that
    those are not comparable."""
    lstm, kn = char_rows
    elsewhere = type(kn)(**{**vars(kn), "name": "kn, other text", "test_digest": "0" * 64, "test_text": "other.txt"})
    rows = [lstm, kn, elsewhere]
    assert best_rows(rows) == []
    report = build_report(rows, "texts")
    markdown = write_report(report, Path(kn.directory).parent / "texts")["markdown"].read_text("utf-8")
    assert "**" not in markdown.split("\n### ")[0].split("| model |", 1)[1].split("\n\n")[0]  # the main table
    # pass 82: the note said each model saw a different text where two of the three shared one
    assert (f"Bits per character compare only models tested on the same text: {kn.test_text}: {lstm.name}, "
            f"{kn.name}; other.txt: kn, other text.") in markdown
    assert best_rows([lstm, kn]) != []  # the same models on one text still compete


def test_the_plots_keep_models_of_other_texts_apart(char_rows):
    """Pass 82: bits_per_char.png was titled with one text's name over bars of two texts, and the learning curves'
    'best N-gram' line of one corpus sat under another corpus's curves."""
    from lmkit.report.plots import reference_value

    lstm, kn = char_rows
    elsewhere = type(lstm)(**{**vars(lstm), "name": "lstm, other text", "test_digest": "0" * 64,
                              "test_text": "other.txt"})
    key = "valid_bpc" if "valid_bpc" in lstm.curve[-1] else "valid_ppl"
    assert reference_value([lstm, kn], key) is not None  # one corpus: the N-gram is their reference
    assert reference_value([lstm, kn, elsewhere], key) is None  # a curve of another text: no one reference


def test_the_suite_records_the_batch_lmkit_train_would_choose_otherwise():
    """Adversarial pass 64: a word suite's recorded command gave no --batch-size, and `lmkit train` run with it
    trains words at 32 (characters on AMX too) where the suite trained 16."""
    from lmkit.report.suite import SuiteConfig, neural_flags

    flags = neural_flags("lstm", SuiteConfig(), eval_every=50, seconds=60)
    assert flags.count("--batch-size") == 1 and flags[flags.index("--batch-size") + 1] == "16"
    assert flags[flags.index("--bptt") + 1] == "64"
    given = neural_flags("gru", SuiteConfig(train_changes={"batch_size": 4, "bptt": 16}), eval_every=5, seconds=6)
    assert given.count("--batch-size") == 1 and given[given.index("--batch-size") + 1] == "4"
