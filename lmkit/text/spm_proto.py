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

PIECES, TRAINER_SPEC, NORMALIZER_SPEC, DENORMALIZER_SPEC = 1, 2, 3, 5
# TrainerSpec's settings that act when a text is encoded: model_type, treat_whitespace_as_suffix,
# allow_whitespace_only_pieces, the control and user-defined symbols, byte_fallback, the unk, bos, eos and pad ids.
# The rest steered the training only (the split_* settings shaped the pieces it made: the pieces are compared).
READING_SETTINGS = {3, 24, 26, 30, 31, 35, 40, 41, 42, 43}
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
    """(the varint at `at`, where the next field starts); ValueError where `data` ends inside it."""
    value = shift = 0
    while True:
        if at >= len(data):
            raise ValueError("the message ends inside a varint")
        byte = data[at]
        value, shift, at = value | (byte & 0x7F) << shift, shift + 7, at + 1
        if byte < 0x80:
            return value, at


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
    """(field number, wire type, where its value starts) of the key at `at`."""
    key, at = read_varint(message, at)
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


def reading_part(model: bytes) -> bytes:
    """What of `model` decides how a text is cut into pieces: the pieces, the normalizer and denormalizer, and the
    trainer's READING_SETTINGS. Two trainings on the same text differ only elsewhere (the files they read, a newer
    lmkit's training limits). ValueError where `model` is not a well-formed message."""
    kept, settings = [], []
    for number, written, payload in fields(model):
        if number == TRAINER_SPEC and payload is not None:  # a message written twice is one, merged
            settings += [w for n, w, _ in fields(payload) if n in READING_SETTINGS]
        elif number in (PIECES, NORMALIZER_SPEC, DENORMALIZER_SPEC):
            kept.append(written)
    return b"".join(kept) + field(TRAINER_SPEC, b"".join(settings))
