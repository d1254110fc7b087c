"""Text in another Unicode form than a model's training text: read as written, and said (pass 85)."""
import unicodedata

import pytest

from lmkit.commands.common import display_token
from lmkit.text.normal_forms import better_form, escaped
from lmkit.text.tokenizers import CharTokenizer, WordTokenizer

pytestmark = pytest.mark.filterwarnings("ignore:Kneser-Ney discounts")

CAFE_NFD = unicodedata.normalize("NFD", "café")
TEXT = ["the café by the river", "a café and a naïve cat", "Ｈｅｌｌｏ world"] * 4


def test_a_token_not_in_nfc_is_shown_apart_from_the_one_it_prints_as():
    assert display_token(CAFE_NFD) == "'cafe\\u0301'" and display_token("café") == "café"
    assert escaped(unicodedata.normalize("NFD", "한")) == "'\\u1112\\u1161\\u11ab'"
    assert display_token("\u0301a") == "'\\u0301a'"  # a leading mark, as before


@pytest.mark.parametrize("kind", [CharTokenizer, WordTokenizer])
def test_the_form_that_reads_fewer_unknown_tokens_is_found(kind):
    tokenizer = kind.fit(TEXT)
    assert better_form(tokenizer, ["the café"]) is None  # as the training text wrote it
    form, written, fewer = better_form(tokenizer, [f"the {CAFE_NFD} by the river"])
    assert form == "NFC" and written >= 1 and fewer == 0
    assert better_form(tokenizer, ["ｔｈｅ river"])[0] == "NFKC"  # full width, where the model learnt the
    assert better_form(tokenizer, ["zebra"]) is None  # unknown in every form: nothing to advise


def test_eval_and_generate_say_when_the_text_would_read_better_in_nfc(cli, tmp_path):
    train = tmp_path / "train.txt"
    train.write_text("\n".join(TEXT * 5) + "\n", encoding="utf-8")
    model = tmp_path / "m"
    assert cli("ngram", "--train", train, "--tokenizer", "word", "--order", "2", "--out", model).exit_code == 0
    nfd = tmp_path / "nfd.txt"
    nfd.write_text(f"the {CAFE_NFD} by the river\n", encoding="utf-8")
    result = cli("eval", model, "--file", nfd)
    assert result.exit_code == 0, result.output
    assert (f"warning: {nfd}: 1 token of its first lines read as <unk>; in Unicode's NFC form it would be known "
            "(lmkit reads text exactly as written: normalize it to NFC first") in result.stderr
    nfc = tmp_path / "nfc.txt"
    nfc.write_text("the café by the river\n", encoding="utf-8")
    assert "NFC" not in cli("eval", model, "--file", nfc).stderr
    said = cli("generate", model, "--prompt", f"the {CAFE_NFD}", "--max-tokens", "2", "--seed", "1").stderr
    assert "'cafe\\u0301'; in Unicode's NFC form it would be known" in said
