"""lmkit/text/spm_proto.py: the fields of sentencepiece's model file that lmkit reads or sets, and when two
sentencepiece tokenizers read text alike (passes 50 and 51)."""
import pytest

from lmkit.text.spm_proto import NO_DUMMY_PREFIX, field, fields, reading_part, varint
from lmkit.text.tokenizers import SentencePieceTokenizer

LINES = ["the king went to the castle 1998", "a queen said", "白日依山尽，黄河入海流。"] * 40


@pytest.fixture(scope="module")
def pieces():
    return SentencePieceTokenizer.fit(LINES, vocab_size=60)


def with_trainer_setting(model: bytes, number: int, value: int) -> SentencePieceTokenizer:
    """`model` with one more TrainerSpec varint field (protobuf merges a repeated message field: the last wins)."""
    return SentencePieceTokenizer(model + field(2, varint(number << 3) + varint(value)))


def test_no_dummy_prefix_is_normalizer_spec_add_dummy_prefix_false(pieces):
    assert NO_DUMMY_PREFIX == bytes([3 << 3 | 2, 2, 3 << 3 | 0, 0])
    continuing = SentencePieceTokenizer(pieces.model_proto + NO_DUMMY_PREFIX)
    assert pieces.split("queen") == ["\u2581", *continuing.split("queen")] and continuing.split("queen")[0] != "\u2581"


def test_two_trainings_on_one_text_read_alike(pieces):
    again = SentencePieceTokenizer.fit(LINES, vocab_size=60)
    assert again.model_proto != pieces.model_proto  # the file names sentencepiece records differ
    assert again.reads_like(pieces)


def test_a_training_limit_does_not_change_the_reading_and_an_encoding_setting_does(pieces):
    """Pass 51: a tokenizer from an lmkit before max_sentence_length (TrainerSpec 18) was set was refused, though
    it cuts every text alike."""
    assert with_trainer_setting(pieces.model_proto, 18, 4192).reads_like(pieces)
    suffix = with_trainer_setting(pieces.model_proto, 24, 1)  # treat_whitespace_as_suffix: `a▁`, not `▁a`
    assert suffix.encode_line("a queen") != pieces.encode_line("a queen") and not suffix.reads_like(pieces)
    collapsed = SentencePieceTokenizer(pieces.model_proto + field(3, varint(4 << 3) + varint(1)))
    assert not collapsed.reads_like(pieces)  # remove_extra_whitespaces: a normalizer setting


def test_parts_sentencepiece_skips_are_read_past_or_compared_whole(pieces):
    """Pass 51: an unknown group field (wire types 3 and 4), which sentencepiece skips, broke lmkit's reading of the
    file with a traceback."""
    group = bytes([0x83, 0x08, 0x08, 0x80, 0x01, 0x84, 0x08])  # field 128: start group, a varint, end group
    grouped = SentencePieceTokenizer(pieces.model_proto + group)
    assert grouped.encode_line("the king") == pieces.encode_line("the king") and grouped.reads_like(pieces)
    assert [n for n, _, _ in fields(group)] == [128]
    for broken in (bytes([0x83, 0x08, 0x08, 0x01]), bytes([0x0a, 0x05, 0x01]), bytes([0x0a, 0x85])):  # a group, a
        # string cut short, a string's length cut short
        with pytest.raises(ValueError):
            reading_part(broken)
