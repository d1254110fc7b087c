"""The report's token view: per-token surprisal of a test passage, the difference of two models, in HTML and PNG."""
import math
import re
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

from lm_fixtures import ngram_dir
from lmkit.evaluate.text import EvalText, score_text
from lmkit.report.compare import build_report, describe_model, write_report
from lmkit.report.tokens import (END_MARK, PASSAGE_TOKENS, contrast_pair, differences, passage_surprisal,
                                 tokens_html)
from lmkit.text.tokenizer_cache import get_tokenizer
from test_report import char_rows  # noqa: F401  (the fixture: a char LSTM and a KN 3-gram of tiny-en)

pytestmark = pytest.mark.filterwarnings("ignore:Kneser-Ney discounts")


def test_the_passage_holds_each_tokens_bits_in_reading_order(tiny_en, tmp_path):
    chars = get_tokenizer(tiny_en, "char")
    member = describe_model(ngram_dir(tmp_path / "kn", tiny_en, chars), tiny_en)
    text = EvalText.from_split(tiny_en, "test")
    lines = list(text.lines())
    assert ["".join(p for p, _ in line[:-1]) for line in member.passage] == lines[: len(member.passage)]
    assert all(line[-1][0] == END_MARK for line in member.passage)
    shown = sum(len(line) for line in member.passage)
    assert shown >= PASSAGE_TOKENS and shown - len(member.passage[-1]) < PASSAGE_TOKENS  # whole lines, no more
    from lmkit.checkpoint.model_source import open_model

    loaded = open_model(tmp_path / "kn")
    scores = score_text(loaded.model, loaded.tokenizer, loaded.config, text)
    bits = [b for line in member.passage for _, b in line]
    assert bits == pytest.approx(-scores.logp[: len(bits)] / math.log(2))


def test_a_backward_models_bits_are_turned_around_to_their_tokens():
    tokenizer = SimpleNamespace(split=list, encode_line=list)
    text = SimpleNamespace(lines=lambda: iter(["abc"]), reader=lambda tokenizer: tokenizer)
    logp = -np.log(2) * np.asarray([3.0, 2.0, 1.0, 9.0])     # the reversed line c b a, then </s>
    passage = passage_surprisal(tokenizer, text, SimpleNamespace(logp=logp), backward=True)
    assert passage == [[("a", pytest.approx(1.0)), ("b", pytest.approx(2.0)), ("c", pytest.approx(3.0)),
                        (END_MARK, pytest.approx(9.0))]]


def test_the_contrast_is_neural_against_ngram_of_one_vocabulary(char_rows, tiny_en, tmp_path):  # noqa: F811
    lstm, kn = char_rows
    assert contrast_pair([kn, lstm]) == (lstm, kn)
    word = describe_model(ngram_dir(tmp_path / "w", tiny_en, get_tokenizer(tiny_en, "word"), order=2), tiny_en)
    assert contrast_pair([lstm, word]) is None and contrast_pair([kn]) is None
    diffs = [d for line in differences((lstm, kn)) for d in line]
    assert all(delta == pytest.approx(b - a) for _, a, b, delta in diffs)


def test_html_has_a_tooltip_per_token_and_escapes_the_text(char_rows):  # noqa: F811
    lstm, kn = char_rows
    page = tokens_html(char_rows, (lstm, kn))
    tokens = sum(len(line) for line in lstm.passage)
    assert page.count("<span") == 3 * tokens                         # two models and their difference
    first_piece, first_bits = lstm.passage[0][0]
    assert f'title="{first_piece}: {first_bits:.2f} bits"' in page
    odd = SimpleNamespace(**{**vars(kn), "passage": [[("<b>&", 1.0), (END_MARK, 2.0)]], "name": "x<y"})
    page = tokens_html([odd], None)
    assert "<b>&" not in page and "&lt;b&gt;&amp;" in page and "x&lt;y" in page
    assert tokens_html([SimpleNamespace(**{**vars(kn), "passage": []})], None) == ""


def test_report_writes_the_token_view_in_html_and_png(char_rows, tmp_path):  # noqa: F811
    written = write_report(build_report(char_rows, "tiny-en (char)"), tmp_path / "out")
    assert written["tokens"].read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    page = written["html"].read_text(encoding="utf-8")
    assert "Where the models differ" in page and "LSTM against KN 3-gram" in page
    assert not re.search(r"https?://|<script", page)                 # self-contained, no JS
    markdown = written["markdown"].read_text(encoding="utf-8")
    assert "![Token surprisal](tokens.png)" in markdown and "LSTM gives" in markdown


def test_the_picture_falls_back_to_fonts_that_have_the_characters_and_warns_for_the_rest(char_rows, tmp_path,  # noqa: F811
                                                                                      monkeypatch):
    import warnings

    import lmkit.report.tokens_plot as tokens_plot

    from matplotlib import font_manager

    families, missing = tokens_plot.font_families(["abc", "中文"])
    assert families[0] == "monospace" and set(missing) <= {"中", "文"}  # Latin letters are always drawn
    assert not any(tokens_plot.PLACEHOLDER_FONT.search(family) for family in families)
    if not any("CJK" in f.name or "WenQuanYi" in f.name or "Droid Sans Fallback" in f.name
               for f in font_manager.fontManager.ttflist):
        assert missing == ["中", "文"]  # this machine has no CJK font (matplotlib's Last Resort draws boxes)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        tokens_plot.draw_tokens_png(char_rows, None, "a.png")
    assert not caught  # the tiny English text: every character has a glyph
    monkeypatch.setattr(tokens_plot, "font_families", lambda texts: (["monospace"], ["中", "文"]))
    with pytest.warns(UserWarning, match=r"b.png: no installed font has 2 of the text's characters \(中文\)"):
        drawn = tokens_plot.draw_tokens_png(char_rows, None, "b.png")
    assert drawn[:4] == b"\x89PNG"


def test_a_report_rewritten_without_a_plot_removes_the_one_it_wrote_before(char_rows, tmp_path):  # noqa: F811
    lstm, kn = char_rows
    out = tmp_path / "out"
    first = write_report(build_report(char_rows, "tiny-en (char)"), out)
    assert first["curves"].exists()
    (out / "notes.png").write_bytes(b"the user's")  # not a name lmkit writes: kept
    second = write_report(build_report([kn], "tiny-en (char)"), out)
    assert "curves" not in second and not first["curves"].exists()
    assert (out / "notes.png").read_bytes() == b"the user's" and second["bits_per_char"].exists()


@pytest.mark.parametrize("renamed", [1, 2, 3])
def test_a_report_stopped_between_its_renames_is_written_again(char_rows, tmp_path, monkeypatch, renamed):  # noqa: F811
    """Pass 84: kill -9 after report.json's rename and before the rest left report.md, report.html or a plot of
    the report before, which the new report.json did not record, and every later report into that folder was
    refused ("has changed since lmkit wrote it")."""
    import os

    from lmkit.files import writing
    from lmkit.report.folder import check_report_folder

    out = tmp_path / "out"
    write_report(build_report(char_rows, "tiny-en (char)"), out)
    renames, real_replace = [], os.replace

    def stopped_after_some(source, target):
        if len(renames) == renamed:
            raise KeyboardInterrupt  # as a kill would end it there: the files renamed so far stay renamed
        renames.append(Path(target).name)
        real_replace(source, target)

    monkeypatch.setattr(writing.os, "replace", stopped_after_some)
    with pytest.raises(KeyboardInterrupt):
        write_report(build_report(char_rows[::-1], "tiny-en (char), again"), out)
    monkeypatch.setattr(writing.os, "replace", real_replace)
    assert renames[0] == "report.json"  # first, so no file is ever newer than the record that proves it
    check_report_folder(out)  # no refusal: each file there is the old report's or the new one's
    third = write_report(build_report(char_rows, "tiny-en (char), third"), out)
    assert "third" in third["markdown"].read_text(encoding="utf-8")


def test_a_plot_named_file_is_kept_unless_lmkit_can_show_it_wrote_it(char_rows, tmp_path):  # noqa: F811
    """A folder accepted for an older lmkit's report.json alone (no marker), or a file that is not a PNG under
    a plot's name, is the user's: a rewritten report that lacks that plot leaves it."""
    import shutil

    lstm, kn = char_rows
    first = write_report(build_report(char_rows, "tiny-en (char)"), tmp_path / "out")
    legacy = tmp_path / "legacy"
    legacy.mkdir()
    shutil.copy(first["json"], legacy / "report.json")
    (legacy / "learning_curves.png").write_text("my own chart\n")
    write_report(build_report([kn], "tiny-en (char)"), legacy)
    assert (legacy / "learning_curves.png").read_text() == "my own chart\n"
    first["curves"].write_bytes(first["bits_per_char"].read_bytes())  # a PNG in lmkit's folder, but not the one
    write_report(build_report([kn], "tiny-en (char)"), tmp_path / "out")    # lmkit wrote under that name
    assert first["curves"].read_bytes()[:4] == b"\x89PNG"


def test_a_report_stopped_while_drawing_leaves_the_folder_as_it_was(char_rows, tmp_path, monkeypatch):  # noqa: F811
    """A hangup while the token picture was drawn left the new bits_per_char.png beside the old tables."""
    from lmkit.report import plots

    out = tmp_path / "out"
    write_report(build_report(char_rows, "tiny-en (char)"), out)
    before = {path.name: path.read_bytes() for path in out.iterdir()}

    def stopped(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(plots, "draw_tokens_png", stopped)  # drawn after the bar chart
    with pytest.raises(KeyboardInterrupt):
        write_report(build_report(char_rows[:1], "another title"), out)
    assert {path.name: path.read_bytes() for path in out.iterdir()} == before


@pytest.mark.parametrize("first_bits, said", [(1.0, "spends 2.0 bits fewer than it"), (5.0, "spends 6.0 bits more than it")])
def test_the_difference_summary_says_which_model_spends_more_bits(first_bits, said):
    """Pass 82: '(-318.5 bits over the passage)' read as a saving where the first model paid 318.5 bits more."""
    from types import SimpleNamespace

    from lmkit.report.tokens import difference_summary

    first = SimpleNamespace(name="lstm", passage=[[("a", first_bits), ("b", first_bits)]])
    second = SimpleNamespace(name="kn", passage=[[("a", 3.0), ("b", 1.0)]])
    summary = difference_summary((first, second))
    assert summary.startswith(f"lstm gives {int(first_bits < 3)} of the 2 tokens a higher probability than kn")
    assert summary.endswith(f"over the passage {said}.")


def test_the_token_view_pairs_models_that_read_in_one_direction(char_rows):  # noqa: F811
    """Pass 82: a backward LSTM, the best neural model by NLL, was coloured against a forward N-gram: p(x_t | the
    text after it) against p(x_t | the text before it), token by token."""
    lstm, kn = char_rows
    backward = type(lstm)(**{**vars(lstm), "name": "lstm-backward", "backward": True,
                             "test": {**lstm.test, "nll": lstm.test["nll"] / 2}})
    assert contrast_pair([kn, backward, lstm]) == (lstm, kn)
    assert contrast_pair([kn, backward]) is None
    backward_kn = type(kn)(**{**vars(kn), "name": "kn-backward", "backward": True})
    assert contrast_pair([kn, backward, lstm, backward_kn]) == (backward, backward_kn)
