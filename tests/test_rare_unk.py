"""--rare-unk: tokens seen once in training stand in for unknown ones, so <unk> gets a learnt probability."""
import json

import numpy as np
import pytest
import torch

from conftest import TINY
from lmkit.models.neural.rnn import RNNConfig, RNNLM
from lmkit.text.encode import encode_lines
from lmkit.text.tokenizers import fit_tokenizer
from lmkit.text.vocab import BOS_ID, SPECIALS, UNK_ID, Vocab
from lmkit.train.config import TrainConfig
from lmkit.train.rare_tokens import once_seen, rare_to_unk
from lmkit.train.trainer import Trainer

RARE = "甲乙丙丁戊己庚辛壬癸子丑寅卯辰巳午未申酉戌亥"  # each used once below: the line's last character varies
LINES = [f"the cat sat on the mat {RARE[i % len(RARE)] if i < len(RARE) else 'x'}" for i in range(120)]


def test_once_seen_marks_the_tokens_counted_once_and_never_a_special():
    vocab = Vocab.build({"a": 5, "b": 1, "c": 1, "d": 2, "<unk>": 1})
    rare = once_seen(vocab)
    assert {vocab.itos[i] for i in torch.nonzero(rare).flatten().tolist()} == {"b", "c"}
    assert not any(rare[vocab.id(special)] for special in SPECIALS)


def test_rare_to_unk_replaces_only_rare_tokens_with_the_given_probability():
    torch.manual_seed(0)
    rare = torch.tensor([False, False, False, False, True, False])
    ids = torch.tensor([[4, 5] * 5000])
    assert torch.equal(rare_to_unk(ids, rare, 0.0), ids)
    assert torch.equal(rare_to_unk(ids, rare, 1.0), torch.tensor([[UNK_ID, 5] * 5000]))
    half = rare_to_unk(ids, rare, 0.5)
    assert (half[:, 1::2] == 5).all()
    assert 0.47 < (half[:, ::2] == UNK_ID).float().mean().item() < 0.53


def unk_logprob(rare_unk: float, tmp_path) -> float:
    tok = fit_tokenizer("char", LINES)
    assert once_seen(tok.vocab).sum().item() == len(RARE)
    torch.manual_seed(0)
    model = RNNLM(tok.vocab, RNNConfig(cell="lstm", emb_size=16, hidden_size=24, layers=1))
    config = TrainConfig(epochs=6, batch_size=4, bptt=32, lr=1e-2, seed=3, rare_unk=rare_unk)
    Trainer(model, tok, encode_lines(tok, LINES), encode_lines(tok, LINES[:20]), config, tmp_path / str(rare_unk)).run()
    model.eval()
    prefix = torch.tensor([[BOS_ID, *tok.encode("the cat sat on the mat ")]])
    with torch.no_grad():
        logp, _ = model.step(prefix[:, -1], model(prefix[:, :-1], prefix[:, 1:], model.init_state(1))[1])
    return logp[0, UNK_ID].item()


def test_training_with_rare_unk_gives_unknown_tokens_where_rare_ones_came_a_real_probability(tmp_path):
    without, with_rare = unk_logprob(0.0, tmp_path), unk_logprob(1.0, tmp_path)
    # 24 of 120 lines end in a character seen once, so p(<unk>) there should approach 0.2; in this short run
    # it rose from about 0.0015 to 0.02
    assert with_rare > np.log(0.01) and with_rare > without + 1.5


def test_rare_unk_is_an_option_saved_with_the_run(cli, tmp_path):
    result = cli("train", "--train", TINY["zh"]["train"], "--valid", TINY["zh"]["valid"], "--test", TINY["zh"]["test"],
                 "--rare-unk", "0.5", "--hidden-size", "8", "--emb-size", "8", "--max-steps", "2", "--quiet",
                 "--sample-tokens", "0", "--out", tmp_path / "m")
    assert result.exit_code == 0, result.output
    assert json.loads((tmp_path / "m" / "config.json").read_text())["train"]["config"]["rare_unk"] == 0.5


@pytest.mark.parametrize("value", ["-0.1", "1.5", "nan"])
def test_rare_unk_outside_zero_to_one_is_one_line(cli, tmp_path, value):
    result = cli("train", "--train", TINY["zh"]["train"], "--rare-unk", value, "--out", tmp_path / "m")
    assert result.exit_code != 0 and "--rare-unk" in result.output and "Traceback" not in result.output
    assert not (tmp_path / "m").exists()


@pytest.mark.parametrize("vocabulary, why", [(["--min-freq", "2"], "--min-freq above 1"),
                                             (["--tokenizer", "spm", "--vocab-size", "250"], "records no counts")])
def test_rare_unk_with_nothing_seen_once_says_so(cli, tmp_path, vocabulary, why):
    result = cli("train", "--train", TINY["zh"]["train"], "--valid", TINY["zh"]["valid"], "--test", TINY["zh"]["test"],
                 "--rare-unk", "0.5", *vocabulary, "--hidden-size", "8", "--emb-size", "8", "--max-steps", "2",
                 "--quiet", "--sample-tokens", "0", "--out", tmp_path / "m")
    assert result.exit_code == 0, result.output
    assert "warning: --rare-unk 0.5 has nothing to replace" in result.stderr and why in result.stderr
