"""The few facts about sentencepiece's model file (a protobuf ModelProto) that lmkit relies on, read and written
with protobuf's wire format directly (sentencepiece ships no parser for it without the protobuf package).

    ModelProto:      1 pieces, 2 trainer_spec, 3 normalizer_spec, ...
    TrainerSpec:     1 input, 2 model_prefix, 7 input_format (where the training text was: file names)
    NormalizerSpec:  3 add_dummy_prefix
"""
from __future__ import annotations

from collections.abc import Iterator

TRAINER_SPEC, NORMALIZER_SPEC = 2, 3
FILE_NAMES = {1, 2, 7}  # TrainerSpec's input, model_prefix and input_format
ADD_DUMMY_PREFIX = 3    # NormalizerSpec's
LENGTH_DELIMITED = 2    # the wire type of a message, a string or bytes


def varint(value: int) -> bytes:
    out = bytearray()
    while True:
        byte, value = value & 0x7F, value >> 7
        out.append(byte | (0x80 if value else 0))
        if not value:
            return bytes(out)


def read_varint(data: bytes, at: int) -> tuple[int, int]:
    """(the varint at `at`, where the next field starts)."""
    value = shift = 0
    while True:
        byte = data[at]
        value, shift, at = value | (byte & 0x7F) << shift, shift + 7, at + 1
        if byte < 0x80:
            return value, at


def fields(message: bytes) -> Iterator[tuple[int, bytes, bytes | None]]:
    """(field number, the field as written, its payload where it is length-delimited) of each field of `message`,
    a well-formed message (one sentencepiece has loaded)."""
    at = 0
    while at < len(message):
        start = at
        key, at = read_varint(message, at)
        number, wire = key >> 3, key & 7
        payload = None
        if wire == 0:
            _, at = read_varint(message, at)
        elif wire == LENGTH_DELIMITED:
            size, at = read_varint(message, at)
            payload, at = message[at:at + size], at + size
        else:  # 1: 64-bit, 5: 32-bit (groups, 3 and 4, are not in ModelProto)
            at += 8 if wire == 1 else 4
        yield number, message[start:at], payload


def field(number: int, payload: bytes) -> bytes:
    """A length-delimited field as written."""
    return varint(number << 3 | LENGTH_DELIMITED) + varint(len(payload)) + payload


# appended to a model: a second normalizer_spec holding add_dummy_prefix = false. Protobuf merges a message field
# that appears twice, so this one setting changes and the rest stay.
NO_DUMMY_PREFIX = field(NORMALIZER_SPEC, varint(ADD_DUMMY_PREFIX << 3 | 0) + varint(0))


def without_file_names(model: bytes) -> bytes:
    """`model` with the names of the files it was trained from left out: two trainings on the same text in
    different folders differ only there, and read text alike."""
    kept = []
    for number, written, payload in fields(model):
        if number == TRAINER_SPEC and payload is not None:
            written = field(number, b"".join(w for n, w, _ in fields(payload) if n not in FILE_NAMES))
        kept.append(written)
    return b"".join(kept)
