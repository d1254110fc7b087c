"""Counts in messages agree with their nouns (lmkit.errors.counted)."""
from lmkit.commands.train_fit import fit_shape_to_text
from lmkit.train.config import TrainConfig
from lmkit.errors import counted


def test_one_is_singular_and_others_plural_with_thousands_separated():
    assert [counted(n, "token") for n in (0, 1, 2, 2048)] == ["0 tokens", "1 token", "2 tokens", "2,048 tokens"]
    assert counted(1, "such token") == "1 such token" and counted(3, "child", "children") == "3 children"


def test_the_fitting_note_counts_steps_in_words_that_agree():
    said = []
    fit_shape_to_text(TrainConfig(batch_size=2, bptt=16), 34, {"batch_size"}, said.append)
    assert said and "makes 1 step per epoch" in said[0] and "(1 step per epoch)" not in said[0], said


def test_no_shape_is_suggested_or_taken_that_makes_no_more_steps():
    # 40 tokens, 2 processes: --bptt 17 and its fitted 16 both make 2 steps an epoch
    said = []
    chosen = fit_shape_to_text(TrainConfig(batch_size=2, bptt=17), 40, {"bptt"}, said.append, processes=2)
    fitted = fit_shape_to_text(TrainConfig(batch_size=2, bptt=17), 40, set(), said.append, processes=2)
    assert said == [] and (chosen.bptt, fitted.bptt) == (17, 17)
