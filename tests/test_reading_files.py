"""Input files that block, never end or are too big for memory, through the CLI: one line, before a byte is read.

Every option that names a file to read (and every file a model directory holds) goes through
lmkit.files.reading (`open_regular`, `read_bounded`): a FIFO, a device or a folder where a file is expected is refused by what it is.
The device here is /dev/null (a character device like /dev/zero and /dev/urandom, but harmless if
a regression read it). A FIFO gets a writer that closes at once, so a regression that opens the FIFO
reads an empty file and fails the test instead of hanging it.
"""
from __future__ import annotations

import json
import os
import warnings
import shutil
import threading
from contextlib import contextmanager, nullcontext
from pathlib import Path

import pytest
from conftest import ENGLISH, TINY, assert_one_line_error
from lm_fixtures import ngram_dir, rnn_dir

from lmkit.checkpoint.save_load import load_model
from lmkit.commands.generate import PROMPT_MAX_BYTES
from lmkit.corpus.text_files import MAX_LINE_BYTES
from lmkit.errors import CorpusError
from lmkit.train.resume_state import save_last

KINDS = {"fifo": "is a FIFO (named pipe), not a regular file", "device": "is a character device, not a regular file",
         "folder": "is a directory, not a regular file"}


@contextmanager
def unblocked(fifo: Path):
    """While inside, any reader that opens `fifo` gets end-of-file at once instead of waiting for a writer."""
    done = threading.Event()

    def write_nothing():
        while not done.wait(0.05):
            try:
                os.close(os.open(fifo, os.O_WRONLY | os.O_NONBLOCK))  # fails (ENXIO) until a reader has it open
            except OSError:
                continue

    thread = threading.Thread(target=write_nothing, daemon=True)
    thread.start()
    try:
        yield
    finally:
        done.set()
        thread.join()


def special(kind: str, path: Path) -> Path:
    """A file system entry of `kind` at `path` (the device is /dev/null itself)."""
    if kind == "fifo":
        os.mkfifo(path)
    elif kind == "folder":
        path.mkdir()
    else:
        return Path("/dev/null")
    return path


@pytest.fixture
def model_dir(tmp_path, tiny_en):
    from lmkit.text.tokenizer_cache import get_tokenizer

    return rnn_dir(tmp_path / "model", tiny_en, get_tokenizer(tiny_en, "char"))


INPUT_OPTIONS = {
    "--prompt-file": lambda p, m, out: ["generate", m, "--prompt-file", p],
    "eval --file": lambda p, m, out: ["eval", m, "--file", p],
    "--train": lambda p, m, out: ["train", "--train", p, "--out", out],
    "--valid": lambda p, m, out: ["ngram", "--train", ENGLISH, "--valid", p, "--test", ENGLISH, "--out", out],
    "tokenize --from": lambda p, m, out: ["tokenize", "--from", p, "hello"],
    "vocab show": lambda p, m, out: ["vocab", "show", p],
}
FOLDERS_ALLOWED = {"--train", "--valid", "tokenize --from", "vocab show"}  # a folder means something there
STDIN_TAKEN = {"--prompt-file", "eval --file"}  # a pipe there is pointed to `-` (pass 74)


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("option", INPUT_OPTIONS)
def test_an_input_that_is_not_a_regular_file_is_refused(cli, model_dir, tmp_path, option, kind):
    if kind == "folder" and option in FOLDERS_ALLOWED:
        pytest.skip(f"{option} reads the files in a folder")
    path = special(kind, tmp_path / "input")
    with unblocked(path) if kind == "fifo" else nullcontext():
        result = cli(*INPUT_OPTIONS[option](path, model_dir, tmp_path / "out"))
    if kind == "fifo" and option in STDIN_TAKEN:
        flag = option.split()[-1]
        assert_one_line_error(result, f"{flag} {path}: is a FIFO (named pipe, or the shell's <(...)), which lmkit "
                                      f"does not read as a file; give {flag} - and pipe the text to standard input")
    elif option in STDIN_TAKEN:  # pass 75: a device or folder there named the path but not the option
        assert_one_line_error(result, f"{option.split()[-1]} {path}: {KINDS[kind]}")
    else:
        assert_one_line_error(result, f"{path}: {KINDS[kind]}")
    assert not (tmp_path / "out").exists()


MODEL_FILES = ["config.json", "tokenizer.json", "model.safetensors"]


@pytest.mark.parametrize("kind", ["fifo", "folder"])
@pytest.mark.parametrize("name", MODEL_FILES)
def test_a_model_directory_file_that_is_not_a_regular_file_is_refused(cli, model_dir, name, kind):
    target = model_dir / name
    target.unlink()
    special(kind, target)
    with unblocked(target) if kind == "fifo" else nullcontext():
        result = cli("generate", model_dir, "--max-tokens", "3")
    assert_one_line_error(result, f"{target}: {KINDS[kind]}")


def test_fifos_for_ngram_weights_trainer_state_and_metrics_are_refused(cli, tmp_path, tiny_en):
    from lmkit.text.tokenizer_cache import get_tokenizer

    tokenizer = get_tokenizer(tiny_en, "char")
    ngram = ngram_dir(tmp_path / "ngram", tiny_en, tokenizer, order=2)
    resumable = rnn_dir(tmp_path / "rnn", tiny_en, tokenizer)
    model, tokenizer, config = load_model(resumable)
    save_last(resumable, model, tokenizer, {"step": 1}, {"corpus": config["corpus"]})
    cases = [(ngram / "model.ngram.npz", ["generate", ngram, "--max-tokens", "3"]),
             (resumable / "last" / "trainer_state.pt", ["train", "--resume", resumable, "--quiet"]),
             (resumable / "metrics.jsonl", ["report", resumable, "--out", tmp_path / "report"])]
    for target, command in cases:
        target.unlink()
        os.mkfifo(target)
        with unblocked(target):
            result = cli(*command)
        assert_one_line_error(result, f"{target}: {KINDS['fifo']}")


def test_a_prompt_file_larger_than_the_bound_is_refused_and_one_at_the_bound_is_read(cli, model_dir, tmp_path):
    big = tmp_path / "big.txt"
    big.write_bytes(b"a" * (PROMPT_MAX_BYTES + 1))
    assert_one_line_error(cli("generate", model_dir, "--prompt-file", big),
                          f"{big}: holds more than {PROMPT_MAX_BYTES:,} bytes, the most lmkit reads as a prompt")
    fits = tmp_path / "fits.txt"
    fits.write_bytes(b"ab\n" * 1000)
    result = cli("generate", model_dir, "--prompt-file", fits, "--max-tokens", "2", "--seed", "1")
    assert result.exit_code == 0, result.output


def test_eval_file_is_streamed_and_scores_like_the_same_text_read_whole(cli, model_dir, tmp_path):
    crlf = tmp_path / "crlf.txt"
    crlf.write_bytes(b"\xef\xbb\xbf" + TINY["en"]["test"].read_bytes().replace(b"\n", b"\r\n"))
    plain = cli("eval", model_dir, "--file", TINY["en"]["test"], "--json")
    windows = cli("eval", model_dir, "--file", crlf, "--json")
    assert plain.exit_code == 0 and windows.exit_code == 0, windows.output
    plain, windows = json.loads(plain.stdout), json.loads(windows.stdout)
    assert plain["models"][0]["evaluation"] == windows["models"][0]["evaluation"]
    assert plain["text_sha256"] == windows["text_sha256"]


def test_a_train_folder_skips_fifos_inside_it(cli, tmp_path):
    folder = tmp_path / "texts"
    folder.mkdir()
    shutil.copy(ENGLISH, folder / "a.txt")
    os.mkfifo(folder / "pipe.txt")
    with unblocked(folder / "pipe.txt"):
        with pytest.warns(UserWarning, match="left out 1 file that is not text .*: pipe.txt"):
            result = cli("vocab", "build", "--train", folder)
    assert result.exit_code == 0, result.output


LATIN1 = os.fsdecode("café".encode("latin-1"))  # as Python hands over argv bytes that are not UTF-8


@pytest.mark.parametrize("command,where", [
    pytest.param(lambda m: ["generate", m, "--prompt", LATIN1], "--prompt", id="prompt"),
    pytest.param(lambda m: ["fill", m, m, f"{LATIN1} _"], "[TEXT]", id="fill text"),
    pytest.param(lambda m: ["fill", m, m, "a _", "--candidates", LATIN1], "--candidates", id="candidates"),
    pytest.param(lambda m: ["tokenize", "--from", m, LATIN1], "[TEXTS]...", id="tokenize text"),
])
def test_text_arguments_that_are_not_utf8_are_refused(cli, model_dir, command, where):
    result = cli(*command(model_dir))
    assert result.exit_code == 2, result.output  # a usage error, like any invalid option value
    assert f"Invalid value for '{where}': not valid UTF-8 (byte 0xe9 after 3 characters)" in result.output


@pytest.mark.parametrize("data,words", [
    pytest.param(b"fine\ncaf\xe9\n", "standard input: line 2 is not valid UTF-8 (byte 0xe9 at byte offset 3)",
                 id="latin-1"),
    pytest.param(b"a" * (MAX_LINE_BYTES + 1), f"standard input: line 1 is longer than {MAX_LINE_BYTES:,} bytes",
                 id="endless line"),
])
def test_tokenize_reads_standard_input_line_by_line_within_a_bound(model_dir, data, words):
    from click.testing import CliRunner

    from lmkit.cli import app

    result = CliRunner().invoke(app, ["tokenize", "--from", str(model_dir)], input=data)
    assert_one_line_error(result, words)


def test_a_train_folder_leaves_out_the_model_directories_and_reports_lmkit_made_in_it(tiny_en, tmp_path):
    """`--train texts/` read a model directory inside it as text: its config.json, tokenizer.json, metrics.jsonl;
    one from before the marker is told by its lmkit config.json."""
    from lm_fixtures import ngram_dir
    from lmkit.corpus.text_files import list_text_files
    from lmkit.files.folder_markers import REPORT_MARKER
    from lmkit.text.tokenizer_cache import get_tokenizer

    folder = tmp_path / "texts"
    folder.mkdir()
    shutil.copy(ENGLISH, folder / "a.txt")
    ngram_dir(folder / "models" / "kn", tiny_en, get_tokenizer(tiny_en, "char"), order=2)
    (folder / "report").mkdir()
    REPORT_MARKER.write(folder / "report")
    (folder / "report" / "report.md").write_text("# a report\n")
    (folder / "mine").mkdir()  # a folder of the user's that merely holds a config.json: read as before
    (folder / "mine" / "config.json").write_text('{"notes": "mine"}\n')
    shutil.copytree(folder / "models" / "kn", folder / "old")  # a model directory from before the marker
    (folder / "old" / ".lmkit-model").unlink()
    assert [p.relative_to(folder).as_posix() for p in list_text_files(folder)] == ["a.txt", "mine/config.json"]


def test_a_link_to_a_folder_inside_a_train_folder_is_named_not_skipped_in_silence(tmp_path):
    """Pass 83: a folder of text linked inside a --train folder was left out without a word (a linked file is
    read, a linked folder given to the option itself too); it is not followed, and said so."""
    from lmkit.corpus.text_files import list_text_files

    (tmp_path / "own").mkdir()
    (tmp_path / "own" / "a.txt").write_text("text\n", encoding="utf-8")
    (tmp_path / "elsewhere").mkdir()
    (tmp_path / "elsewhere" / "b.txt").write_text("more text\n", encoding="utf-8")
    (tmp_path / "own" / "more").symlink_to(tmp_path / "elsewhere")
    with pytest.warns(UserWarning, match=r"own: left out 1 link to a folder, which lmkit does not follow inside a "
                                         r"folder it reads: more \(give such a folder to the option itself"):
        assert list_text_files(tmp_path / "own") == [tmp_path / "own" / "a.txt"]
    (tmp_path / "only").mkdir()
    (tmp_path / "only" / "more").symlink_to(tmp_path / "elsewhere")
    with pytest.raises(CorpusError, match=r"only: the directory holds no text files; links to folders inside it are "
                                          r"not followed \(more\)"):
        list_text_files(tmp_path / "only")


@pytest.mark.parametrize("chunk", [3, 5, 64 * 1024])
def test_byte_order_marks_inside_a_file_are_kept_and_said(tmp_path, monkeypatch, chunk):
    """Pass 85: `cat a.txt b.txt`, b.txt starting with a BOM, put U+FEFF at a line's start: read as a character
    (a vocabulary entry '\\ufeff我的手机坏了') with no word. Kept, as text is read as written, and warned about
    once a file, with the line of the first; one cut between two chunks of the scan counts too."""
    from lmkit.corpus import text_files

    monkeypatch.setattr(text_files, "CHUNK_BYTES", chunk)
    path = tmp_path / "joined.txt"
    path.write_bytes("\ufeffone\r\ntwo\n".encode() + "\ufeffthree\nfour \ufeff\n".encode())
    with pytest.warns(UserWarning, match=r"joined.txt: 2 byte-order marks \(U\+FEFF\) inside the text, the first "
                                         r"on line 3, as where files are joined with cat"):
        text_files.scan_text_file(path)
    assert list(text_files.stream_lines(path)) == ["one", "two", "\ufeffthree", "four \ufeff"]
    alone = tmp_path / "alone.txt"
    alone.write_bytes("\ufeffone\ntwo\n".encode())
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        text_files.scan_text_file(alone)  # the one at the start is dropped, as every reader drops it: nothing said


def test_utf8_text_on_the_command_line_of_a_c_locale_is_read_as_utf8(tmp_path):
    """Pass 87: under LC_ALL=C with UTF-8 mode off, Python hands argv's bytes over undecoded, and a correct UTF-8
    --prompt was called 'not valid UTF-8'."""
    import subprocess
    import sys

    text = tmp_path / "zh.txt"
    text.write_text("我 昨天 上学 迟到 了\n" * 200, encoding="utf-8")
    env = {**os.environ, "PYTHONUTF8": "0", "LC_ALL": "C", "LMKIT_CORPORA": str(tmp_path / "corpora")}
    done = subprocess.run([sys.executable, "-m", "lmkit", "tokenize", "--train", str(text), "--tokenizer", "char",
                           "--format", "tokens", "我昨天"], env=env, capture_output=True)
    assert done.returncode == 0, done.stderr
    assert done.stdout.decode("utf-8") == "我 昨 天 </s>\n"
