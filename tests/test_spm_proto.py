"""lmkit/text/spm_proto.py: the fields of sentencepiece's model file that lmkit reads or sets, and when two
sentencepiece tokenizers read text alike (passes 50 and 51)."""
import pytest

from lmkit.text.spm_proto import NO_DUMMY_PREFIX, field, fields, read_varint, reading_part, varint
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


def split_parts(model: bytes) -> dict[int, list[bytes]]:
    parts: dict[int, list[bytes]] = {}
    for number, written, _ in fields(model):
        parts.setdefault(number, []).append(written)
    return parts


def without_trainer_setting(model: bytes, number: int) -> bytes:
    """`model` with TrainerSpec field `number` left out (the other parts as they were, in the same order)."""
    return b"".join(field(2, b"".join(w for n, w, _ in fields(payload) if n != number)) if part == 2 else written
                    for part, written, payload in fields(model))


def test_a_default_written_out_or_the_parts_in_another_order_read_alike(pieces):
    """Pass 52: a model file writing out a default (add_dummy_prefix = true, byte_fallback = false, pad_id = -1 as a
    ten-byte varint, a piece's type NORMAL, an enum value proto2 sets aside) or holding its normalizer before its pieces was refused beside one that
    does not, though both cut every text alike. Values are compared as sentencepiece reads them."""
    model = without_trainer_setting(pieces.model_proto, 43)  # lmkit's models have pad_id 0: here, the default -1
    parts = split_parts(model)
    minus_one = varint((1 << 64) - 1)  # int32 -1 as protobuf writes it
    alike = {
        "add_dummy_prefix written": model + field(3, varint(3 << 3) + varint(1)),
        "byte_fallback written": model + field(2, varint(35 << 3) + varint(0)),
        "pad_id -1 written": model + field(2, varint(43 << 3) + minus_one),
        "model_type 7 (none such: protobuf keeps the type before)": model + field(2, varint(3 << 3) + varint(7)),
        "normalizer first": b"".join(parts[3] + [w for n in sorted(parts) if n != 3 for w in parts[n]]),
        "a piece's type written": model + field(1, field(1, "zz".encode()) + bytes([2 << 3 | 5]) + bytes(4) +
                                                varint(3 << 3) + varint(1)),
    }
    plain = model + field(1, field(1, "zz".encode()) + bytes([2 << 3 | 5]) + bytes(4))
    for name, variant in alike.items():
        base = plain if name == "a piece's type written" else model
        assert SentencePieceTokenizer(variant).encode_line("the king 白日") == \
            SentencePieceTokenizer(base).encode_line("the king 白日"), name
        assert SentencePieceTokenizer(variant).reads_like(SentencePieceTokenizer(base)), name
        assert reading_part(variant) == reading_part(base), name


def test_a_setting_changed_by_a_later_copy_of_its_part_is_read_as_changed(pieces):
    """Protobuf merges a part written twice, the later value of a setting winning: compared after the merge."""
    model = pieces.model_proto
    off_then_on = model + NO_DUMMY_PREFIX + field(3, varint(3 << 3) + varint(1))
    assert reading_part(off_then_on) == reading_part(model)
    assert reading_part(model + NO_DUMMY_PREFIX) != reading_part(model)
    assert reading_part(model + field(2, varint(43 << 3) + varint(7))) != reading_part(model)  # pad_id 7
    assert reading_part(model + field(3, bytes([7 << 3 | 0, 1]))) != reading_part(model)  # a normalizer field lmkit
    # does not know is compared as written


def test_a_field_written_with_another_wire_type_is_not_read_as_its_value(pieces):
    with pytest.raises(ValueError):
        reading_part(pieces.model_proto + field(3, field(3, b"\x01")))  # add_dummy_prefix length-delimited


def test_a_varint_keeps_its_low_64_bits_as_protobuf_does(pieces):
    """Pass 53: a bool written as ten bytes with bits past the 64th (80 .. 80 02, 2^64) reads false to protobuf and
    sentencepiece, but read true here, so a model with add_dummy_prefix off was taken to read like one with it on."""
    beyond = bytes([0x80] * 9 + [0x02])  # 2^64: zero in 64 bits
    assert read_varint(beyond, 0) == (0, 10) and read_varint(bytes([0xFF] * 9 + [0x01]), 0) == ((1 << 64) - 1, 10)
    with pytest.raises(ValueError, match="longer than ten bytes"):
        read_varint(bytes([0x80] * 10 + [0x00]), 0)
    model = pieces.model_proto
    off = SentencePieceTokenizer(model + field(3, varint(3 << 3) + beyond))  # add_dummy_prefix = 2^64: false
    assert off.split("queen") != pieces.split("queen")
    assert reading_part(model + NO_DUMMY_PREFIX) == reading_part(model + field(3, varint(3 << 3) + beyond))
    assert not off.reads_like(pieces)


def test_how_unk_decodes_is_compared(pieces):
    """Pass 53: unk_surface (TrainerSpec 44) changes what lmkit's decode writes for <unk>."""
    surfaced = SentencePieceTokenizer(pieces.model_proto + field(2, field(44, b"ZZ")))
    unk = pieces.vocab.unk_id
    assert surfaced.decode([unk]) != pieces.decode([unk]) and not surfaced.reads_like(pieces)
    written_out = SentencePieceTokenizer(pieces.model_proto + field(2, field(44, " \u2047 ".encode())))
    assert written_out.reads_like(pieces)  # the default written out


def test_unknown_pieces_decode_as_unk_as_the_other_tokenizers_write_them(pieces):
    """Pass 85: an unknown piece came back as " ⁇ ", where character and word models write <unk>."""
    unk = pieces.vocab.unk_id
    assert pieces.decode([unk]) == "<unk>"
    assert pieces.decode(pieces.encode("the 中 queen")) == "the <unk> queen"


def test_a_key_past_32_bits_is_not_read_as_another_field(pieces):
    """Pass 54: protobuf reads a key as 32 bits, so a five-byte key with bit 32 set is normalizer_spec to
    sentencepiece but was field 2^29 + 3 here, skipped, and a hidden add_dummy_prefix = false passed as reading
    alike. Such keys now send the comparison to the whole bytes."""
    hidden = varint((3 << 3 | 2) | 1 << 32) + varint(2) + varint(3 << 3) + varint(0)
    model = pieces.model_proto
    off = SentencePieceTokenizer(model + hidden)
    assert off.split("queen") != pieces.split("queen") and not off.reads_like(pieces)
    with pytest.raises(ValueError, match="past 32 bits"):
        reading_part(model + hidden)


def test_the_special_pieces_names_are_compared(pieces):
    """Pass 54: unk_piece, bos_piece, eos_piece (TrainerSpec 45-47) change which ids sentencepiece gives them."""
    renamed = SentencePieceTokenizer(pieces.model_proto + field(2, field(45, b"e")))
    assert not renamed.reads_like(pieces)
    assert SentencePieceTokenizer(pieces.model_proto + field(2, field(46, b"<s>"))).reads_like(pieces)
