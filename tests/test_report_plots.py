"""The report's bar chart marks the model its table marks best, not merely the lowest bar."""
from __future__ import annotations

import warnings
from types import SimpleNamespace

from matplotlib.axes import Axes

from lmkit.report.plots import bits_per_char_chart

BEST, OTHER = "#2a7f62", "#5b7db1"


def row(name: str, bits: float, oov: int = 0, mostly_unknown: bool = False):
    return SimpleNamespace(name=name, test={"bits_per_char": bits, "oov": oov}, test_digest="same", test_text="test",
                           zero_probability=False, mostly_unknown=mostly_unknown)


def drawn_colours(rows, monkeypatch) -> list[str]:
    seen = {}
    barh = Axes.barh

    def recording(self, y, width, *args, color=None, **kwargs):
        seen["colours"] = list(color)
        return barh(self, y, width, *args, color=color, **kwargs)

    monkeypatch.setattr(Axes, "barh", recording)
    with warnings.catch_warnings():  # Chinese names without a CJK font: the warnings have a test of their own below
        warnings.simplefilter("ignore")
        assert bits_per_char_chart(rows).startswith(b"\x89PNG")
    return seen["colours"]


def test_a_model_flattered_by_unknown_tokens_is_not_the_green_bar(monkeypatch):
    """pass 75: an ARPA file read as words (46% of the test tokens <unk>) drew the lowest, green bar, where the
    table said it was not marked best."""
    rows = [row("唐诗-lstm", 2.31), row("唐诗3.arpa", 1.94, oov=700, mostly_unknown=True), row("tang-ng", 2.20)]
    assert drawn_colours(rows, monkeypatch) == [OTHER, OTHER, BEST]


def test_models_on_different_texts_have_no_green_bar(monkeypatch):
    rows = [row("a", 2.0), row("b", 1.9)]
    rows[1].test_digest = "other"
    assert drawn_colours(rows, monkeypatch) == [OTHER, OTHER]


def test_model_names_no_font_can_draw_are_warned_about_once(monkeypatch):
    """pass 75: Chinese model names were drawn as boxes in bits_per_char.png without a word (only tokens.png warned),
    and matplotlib's own line per missing glyph is not repeated beside lmkit's."""
    from lmkit.report import plots, tokens_plot

    monkeypatch.setattr(tokens_plot, "font_families", lambda texts: (["monospace"], ["唐", "诗"]))
    report = SimpleNamespace(rows=[row("唐诗-lstm", 2.31), row("tang-ng", 2.20)], title="tang300")
    monkeypatch.setattr(plots, "learning_curves", lambda report: None)
    monkeypatch.setattr(plots, "contrast_pair", lambda rows: None)
    monkeypatch.setattr(plots, "draw_tokens_png", lambda *args: None)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        drawn = plots.draw_plots(report)
    assert drawn["bits_per_char"][1].startswith(b"\x89PNG")
    assert [str(w.message) for w in caught] == [
        "bits_per_char.png: no installed font has 2 of the text's characters (唐诗); they are drawn as boxes "
        "(report.html shows them; installing a CJK font such as Noto Sans CJK fixes the picture)"]
