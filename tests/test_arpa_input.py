"""ARPA files as untrusted input: numbers are ASCII only, and a file that is not one cannot hang or fill memory.

Python's int() and float() take "1_0", "٣" (Arabic-Indic three) and "５" (fullwidth five); no ARPA
writer makes them, so reading them as numbers would be a silently different model (`-0_4` is -4.0).
"""
import os
import re
import threading

import pytest

from lmkit.errors import ArpaError
from lmkit.models.ngram.arpa import MAX_LINE_BYTES, read_arpa

HEADER = "\\data\\\nngram 1={count}\n\n\\1-grams:\n"
BODY = "-1.0\t<unk>\n-99\t<s>\t-0.5\n-0.5\t</s>\n{prob}\tcat\t{backoff}\n\n\\end\\\n"


def arpa(tmp_path, count="4", prob="-0.4", backoff="-0.5"):
    path = tmp_path / "model.arpa"
    path.write_text(HEADER.format(count=count) + BODY.format(prob=prob, backoff=backoff), encoding="utf-8")
    return path


@pytest.mark.parametrize("count", ["5²", "4_0", "٤", "４", "+4", "4.0", "0x4"])
def test_ngram_counts_are_ascii_digits_only(tmp_path, count):
    with pytest.raises(ArpaError, match=re.escape(f"got 'ngram 1={count}'")):
        read_arpa(arpa(tmp_path, count=count))


@pytest.mark.parametrize("field", ["prob", "backoff"])
@pytest.mark.parametrize("text", ["-0_4", "-٣", "-０.5", "−0.5", "-0x1", "-1e", "--1", "-.", "-1e1_0"])
def test_log10_values_are_ascii_numbers_only(tmp_path, field, text):
    with pytest.raises(ArpaError, match=r"model.arpa:8: (probability|backoff) '.*' is not a number"):
        read_arpa(arpa(tmp_path, **{field: text}))


@pytest.mark.parametrize("prob,backoff,expected", [
    ("-inf", "-0.5", float("-inf")), ("-Infinity", "0", float("-inf")), ("-.5", "+0.25", -0.5),
    ("-5.", "-1e-3", -5.0), ("-1E+1", "0", -10.0), ("-99", "0", float("-inf")),
])
def test_every_ascii_spelling_of_a_number_is_still_read(tmp_path, prob, backoff, expected):
    model = read_arpa(arpa(tmp_path, prob=prob, backoff=backoff))
    assert float(model.tables.logp[0][model.vocab.id("cat")]) == pytest.approx(expected)


def test_a_fifo_or_device_is_refused_before_reading(tmp_path):
    fifo = tmp_path / "pipe.arpa"
    os.mkfifo(fifo)
    done = threading.Event()

    def write_nothing():  # a regression that opened the FIFO gets end-of-file rather than hanging the test
        while not done.wait(0.05):
            try:
                os.close(os.open(fifo, os.O_WRONLY | os.O_NONBLOCK))
            except OSError:
                continue

    threading.Thread(target=write_nothing, daemon=True).start()
    try:
        with pytest.raises(ArpaError, match="pipe.arpa: is a FIFO \\(named pipe\\)"):
            read_arpa(fifo)
    finally:
        done.set()
    with pytest.raises(ArpaError, match="/dev/null: is a character device"):
        read_arpa("/dev/null")


def test_a_line_that_never_ends_is_refused_after_the_bound(tmp_path):
    path = tmp_path / "long.arpa"
    path.write_bytes(HEADER.format(count=4).encode() + b"-1.0\t" + b"a" * (MAX_LINE_BYTES + 10))
    with pytest.raises(ArpaError, match=f"long.arpa:5: line longer than {MAX_LINE_BYTES:,} bytes: not an ARPA file"):
        read_arpa(path)


def test_a_byte_order_mark_before_the_header_is_read_as_an_editor_wrote_it(tmp_path):
    """Adversarial pass 72: an ARPA file saved as "UTF-8 with BOM" was called no ARPA file at all; every other
    text lmkit reads drops the mark."""
    path = arpa(tmp_path)
    plain = read_arpa(path)
    path.write_bytes(b"\xef\xbb\xbf" + path.read_bytes())
    model = read_arpa(path)
    assert model.vocab == plain.vocab and model.tables.logp[0].tolist() == plain.tables.logp[0].tolist()


@pytest.mark.parametrize("encoding, said", [
    ("utf-16", "is UTF-16 text (it begins with a UTF-16 byte-order mark)"),
    ("utf-16-le", "looks like UTF-16LE text without a byte-order mark")])
def test_utf16_arpa_text_is_named_as_such(tmp_path, encoding, said):
    """Adversarial pass 73: a UTF-16 ARPA file was "not valid UTF-8 (byte 0 of the line)", or no ARPA file at all."""
    path = arpa(tmp_path)
    path.write_bytes(path.read_text(encoding="utf-8").encode(encoding))
    with pytest.raises(ArpaError) as error:
        read_arpa(path)
    assert str(error.value).startswith(f"{path}: {said}") and str(error.value).endswith("save it as UTF-8")
