"""The report's bar chart marks the model its table marks best, not merely the lowest bar."""
from __future__ import annotations

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
