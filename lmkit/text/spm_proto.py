"""The few facts about sentencepiece's model file (a protobuf ModelProto) that lmkit relies on, read and written
with protobuf's wire format directly (sentencepiece ships no parser for it without the protobuf package).

    ModelProto:      1 pieces (text, score, type), 2 trainer_spec, 3 normalizer_spec, 4 self_test_data,
                     5 denormalizer_spec
    TrainerSpec:     how it was trained (files, sizes, threads, sampling ...), and the few settings that also act
                     when a text is encoded (READING_SETTINGS)
    NormalizerSpec:  3 add_dummy_prefix, ...
"""
from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field as declared

PIECES, TRAINER_SPEC, NORMALIZER_SPEC, DENORMALIZER_SPEC = 1, 2, 3, 5
ADD_DUMMY_PREFIX = 3    # NormalizerSpec's
LENGTH_DELIMITED, START_GROUP, END_GROUP = 2, 3, 4  # wire types


def varint(value: int) -> bytes:
    out = bytearray()
    while True:
        byte, value = value & 0x7F, value >> 7
        out.append(byte | (0x80 if value else 0))
        if not value:
            return bytes(out)


def read_varint(data: bytes, at: int) -> tuple[int, int]:
    """(the varint at `at`, where the next field starts), its low 64 bits as protobuf keeps them (the tenth byte's
    higher bits are dropped: 80 .. 80 02 reads 0); ValueError where `data` ends inside it or it runs past ten
    bytes, which protobuf refuses."""
    value = shift = 0
    while True:
        if at >= len(data):
            raise ValueError("the message ends inside a varint")
        if shift == 70:
            raise ValueError("a varint longer than ten bytes")
        byte = data[at]
        value, shift, at = value | (byte & 0x7F) << shift, shift + 7, at + 1
        if byte < 0x80:
            return value & 0xFFFF_FFFF_FFFF_FFFF, at


def fields(message: bytes) -> Iterator[tuple[int, bytes, bytes | None]]:
    """(field number, the field as written, its payload where it is length-delimited) of each field of `message`.
    ValueError where it is not a well-formed message."""
    at = 0
    while at < len(message):
        start = at
        number, wire, at = read_key(message, at)
        payload = None
        if wire == LENGTH_DELIMITED:
            size, at = read_varint(message, at)
            payload, at = message[at:at + size], at + size
        else:
            at = skip(message, at, number, wire)
        if at > len(message):
            raise ValueError("a field runs past the end of the message")
        yield number, message[start:at], payload


def read_key(message: bytes, at: int) -> tuple[int, int, int]:
    """(field number, wire type, where its value starts) of the key at `at`. ValueError for a key past 32 bits:
    protobuf reads a key as 32 bits, so such a key may name a field that decides the reading (a normalizer_spec
    behind bits a 64-bit reading sees as another field number)."""
    key, at = read_varint(message, at)
    if key >= 1 << 32:
        raise ValueError("a field key past 32 bits")
    return key >> 3, key & 7, at


def skip(message: bytes, at: int, number: int, wire: int) -> int:
    """Where the field after the value at `at` starts (a value that is not length-delimited)."""
    if wire == 0:
        return read_varint(message, at)[1]
    if wire in (1, 5):  # 64-bit, 32-bit
        return at + (8 if wire == 1 else 4)
    if wire == START_GROUP:  # an old-style group: fields up to its end key
        while at < len(message):
            inner, inner_wire, at = read_key(message, at)
            if inner_wire == END_GROUP:
                if inner != number:
                    break
                return at
            if inner_wire == LENGTH_DELIMITED:
                size, at = read_varint(message, at)
                at += size
            else:
                at = skip(message, at, inner, inner_wire)
    raise ValueError(f"field {number} has wire type {wire}, or a group that does not end")


def field(number: int, payload: bytes) -> bytes:
    """A length-delimited field as written."""
    return varint(number << 3 | LENGTH_DELIMITED) + varint(len(payload)) + payload


# appended to a model: a second normalizer_spec holding add_dummy_prefix = false. Protobuf merges a message field
# that appears twice, so this one setting changes and the rest stay.
NO_DUMMY_PREFIX = field(NORMALIZER_SPEC, varint(ADD_DUMMY_PREFIX << 3 | 0) + varint(0))


@dataclass(frozen=True)
class Field:
    """One field of a message as sentencepiece_model.proto declares it."""
    kind: str                    # "int" (int32 or enum), "bool", "bytes" (string or bytes), "float" or "message"
    default: object = None       # what an absent field reads as
    repeated: bool = False
    fields: dict[int, "Field"] = declared(default_factory=dict)  # a message's own (kind "message")
    keeps_unknown: bool = False  # a message's: the fields it does not declare are compared as written
    values: range | None = None  # an enum's: protobuf reads any other value as an unknown field, not as this one


# ModelProto.SentencePiece: piece, score, type (NORMAL = 1)
PIECE = {1: Field("bytes", b""), 2: Field("float", bytes(4)), 3: Field("int", 1, values=range(1, 7))}  # a float:
# its four bytes as written (NaN is NaN)
# NormalizerSpec: name, precompiled_charsmap, add_dummy_prefix, remove_extra_whitespaces, escape_whitespaces,
# normalization_rule_tsv
NORMALIZER = {1: Field("bytes", b""), 2: Field("bytes", b""), 3: Field("bool", True), 4: Field("bool", True),
              5: Field("bool", True), 6: Field("bytes", b"")}
# TrainerSpec's settings that act when a text is encoded: model_type (UNIGRAM = 1), treat_whitespace_as_suffix,
# allow_whitespace_only_pieces, the control and user-defined symbols, byte_fallback, the unk, bos, eos and pad ids,
# unk_surface (how <unk> decodes) and the special pieces' names (sentencepiece finds their ids by them). The rest
# steered the training only (the split_* settings shaped the pieces it made: the pieces are compared).
READING_SETTINGS = {3: Field("int", 1, values=range(1, 5)), 24: Field("bool", False), 26: Field("bool", False),
                    30: Field("bytes", repeated=True), 31: Field("bytes", repeated=True), 35: Field("bool", False),
                    40: Field("int", 0), 41: Field("int", 1), 42: Field("int", 2), 43: Field("int", -1),
                    44: Field("bytes", " \u2047 ".encode()), 45: Field("bytes", b"<unk>"), 46: Field("bytes", b"<s>"),
                    47: Field("bytes", b"</s>"), 48: Field("bytes", b"<pad>")}
# ModelProto's parts that decide a reading (its other parts, the self-test data, do not); the fields a piece or a
# normalizer may gain in a later sentencepiece are compared as written, the trainer's other settings not at all
READING = {PIECES: Field("message", repeated=True, fields=PIECE, keeps_unknown=True),
           TRAINER_SPEC: Field("message", fields=READING_SETTINGS),
           NORMALIZER_SPEC: Field("message", fields=NORMALIZER, keeps_unknown=True),
           DENORMALIZER_SPEC: Field("message", fields=NORMALIZER, keeps_unknown=True)}
MODEL = Field("message", fields=READING)  # ModelProto, as far as a reading goes


def value(declared_as: Field, number: int, written: bytes, payload: bytes | None):
    """A field's value as read (a message: its fields, unmerged); ValueError where the wire type does not fit."""
    _, wire, start = read_key(written, 0)
    if declared_as.kind in ("bytes", "message") and wire == LENGTH_DELIMITED:
        return payload if declared_as.kind == "bytes" else read_message(payload, declared_as)
    if declared_as.kind == "float" and wire == 5:
        return written[-4:]
    if declared_as.kind in ("int", "bool") and wire == 0:
        number_read = read_varint(written, start)[0]
        if declared_as.kind == "bool":
            return number_read != 0
        number_read &= 0xFFFFFFFF  # an int32 is written as a 64-bit two's complement varint; it keeps its low 32 bits
        return number_read - (1 << 32) if number_read >= 1 << 31 else number_read
    raise ValueError(f"field {number} is written with wire type {wire}, not as a {declared_as.kind}")


def read_message(message: bytes, kind: Field) -> dict:
    """The fields of `message` that its `kind` declares, merged as protobuf merges them (merge_field), and under
    key None its other fields as written where it keeps them."""
    read: dict = {}
    for number, written, payload in fields(message):
        declared_as = kind.fields.get(number)
        if declared_as is None:
            if kind.keeps_unknown:
                merge_field(read, None, [written], kind.fields)
            continue
        got = value(declared_as, number, written, payload)
        if declared_as.values is not None and got not in declared_as.values:  # an enum's unknown value: the field
            continue                                                           # reads as before it
        merge_field(read, number, [got] if declared_as.repeated else got, kind.fields)
    return read


def merge_field(read: dict, number: int | None, got, declared: dict[int, Field]) -> None:
    """Fold field `number`'s value `got` (a list where repeated) into a message as read so far, as protobuf does
    when a field comes again: a scalar, the last; a repeated field, each; a message field, one, merged."""
    declared_as = declared.get(number)
    if number is None or declared_as.repeated:
        read.setdefault(number, []).extend(got)
    elif declared_as.kind == "message" and number in read:
        for inner, inner_got in got.items():
            merge_field(read[number], inner, inner_got, declared_as.fields)
    else:
        read[number] = got


def settled(read: dict, declared: dict[int, Field]) -> tuple:
    """A message as read, every declared field filled in with its default: equal for equal meanings."""
    out = []
    for number, declared_as in sorted(declared.items()):
        if declared_as.kind == "message":
            got = read.get(number, [] if declared_as.repeated else {})
            got = tuple(settled(one, declared_as.fields) for one in got) if declared_as.repeated else \
                settled(got, declared_as.fields)
        else:
            got = tuple(read.get(number, ())) if declared_as.repeated else read.get(number, declared_as.default)
        out.append(got)
    return (*out, tuple(read.get(None, ())))


def reading_part(model: bytes) -> tuple:
    """What of `model` decides how a text is cut into pieces: the pieces, the normalizer and denormalizer, and the
    trainer's READING_SETTINGS, each field read as sentencepiece reads it (a default written out or left out, a
    part written twice, the parts in any order). Two trainings on the same text differ only elsewhere (the files
    they read, a newer lmkit's training limits). ValueError where `model` is not a well-formed message."""
    return settled(read_message(model, MODEL), READING)
