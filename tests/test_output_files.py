"""Files a user names for lmkit to write (--per-line, --arpa, rescore's --out): a regular file is replaced
whole, a symbolic link is written through (the link stays), and a directory, FIFO, socket or device (or a
link to one) is refused with one line and left as it was; so is a file the same command reads, or one inside
an lmkit model directory or cached corpus. A report's folder is lmkit's: new, empty or one it made, never a
user's, and a link planted where a report file goes is refused, not followed. No test here writes to a real
device: the device cases are symbolic links in a temporary folder that lead to /dev/null, refused before any
write.
"""
from __future__ import annotations

import json
import os
import re
import shutil
import socket
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import TINY, assert_one_line_error

from lmkit.files.temporary_names import TEMP_PREFIX, temporary_name, temporary_of
from lmkit.files.writing import NotAFileError, OwnPathLinkError, atomic_write, write_text_atomic

pytestmark = pytest.mark.filterwarnings("ignore:Kneser-Ney discounts")  # tiny fixtures, default discounts


def make_fifo(path: Path) -> str:
    os.mkfifo(path)
    return "a FIFO (named pipe)"


def make_directory(path: Path) -> str:
    path.mkdir()
    (path / "kept.txt").write_text("mine")
    return "a directory"


def make_socket(path: Path) -> str:
    server = socket.socket(socket.AF_UNIX)
    server.bind(str(path))  # the socket file stays after the socket is closed
    server.close()
    return "a socket"


def link_to_device(path: Path) -> str:
    path.symlink_to("/dev/null")
    return "a character device"


def link_to_fifo(path: Path) -> str:
    make_fifo(path.with_name(path.name + ".fifo"))
    path.symlink_to(path.name + ".fifo")
    return "a FIFO (named pipe)"


def link_to_directory(path: Path) -> str:
    make_directory(path.with_name(path.name + ".dir"))
    path.symlink_to(path.name + ".dir")
    return "a directory"


def link_loop(path: Path) -> str:
    path.symlink_to(path.name)
    return "a symbolic link that cannot be followed"


NOT_FILES = {"fifo": make_fifo, "directory": make_directory, "socket": make_socket, "link-to-device": link_to_device,
             "link-to-fifo": link_to_fifo, "link-to-directory": link_to_directory, "link-loop": link_loop}


def state(folder: Path) -> dict[str, tuple]:
    """Each entry of `folder` (not following links): its type, a link's target, a file's content."""
    found = {}
    for entry in sorted(folder.iterdir()):
        info = entry.lstat()
        detail = os.readlink(entry) if entry.is_symlink() else entry.read_bytes() if stat.S_ISREG(info.st_mode) else None
        found[entry.name] = (stat.S_IFMT(info.st_mode), detail)
    return found


@pytest.mark.parametrize("kind", NOT_FILES)
def test_atomic_write_never_replaces_what_is_not_a_regular_file(tmp_path, kind):
    target = tmp_path / "out.txt"
    what = NOT_FILES[kind](target)
    before = state(tmp_path)
    with pytest.raises(NotAFileError, match=re.escape(what)):
        write_text_atomic(target, "new\n", follow_link=True)  # as for a file the user named
    assert state(tmp_path) == before  # nothing replaced, no temporary left


def test_atomic_write_writes_through_a_symbolic_link(tmp_path):
    (tmp_path / "real").mkdir()
    (tmp_path / "real" / "scores.tsv").write_text("old\n")
    os.chmod(tmp_path / "real" / "scores.tsv", 0o640)
    link = tmp_path / "link.tsv"
    link.symlink_to("real/scores.tsv")
    write_text_atomic(link, "new\n", follow_link=True)  # a file the user named (--per-line, --arpa)
    assert link.is_symlink() and os.readlink(link) == "real/scores.tsv"
    assert (tmp_path / "real" / "scores.tsv").read_text() == "new\n"
    assert stat.S_IMODE((tmp_path / "real" / "scores.tsv").stat().st_mode) == 0o640
    dangling = tmp_path / "new.tsv"
    dangling.symlink_to("real/created.tsv")  # a link to a file not made yet: the file is made there
    write_text_atomic(dangling, "made\n", follow_link=True)
    assert dangling.is_symlink() and (tmp_path / "real" / "created.tsv").read_text() == "made\n"
    assert not [p for p in (tmp_path / "real").iterdir() if p.name.startswith(TEMP_PREFIX)]
    with pytest.raises(RuntimeError):  # a write that fails half-way keeps the file the link leads to
        with atomic_write(link, "w", encoding="utf-8", follow_link=True) as handle:
            handle.write("half")
            raise RuntimeError("killed mid-write")
    assert (tmp_path / "real" / "scores.tsv").read_text() == "new\n" and link.is_symlink()
    assert sorted(p.name for p in (tmp_path / "real").iterdir()) == ["created.tsv", "scores.tsv"]


def test_a_link_where_lmkit_keeps_its_own_file_is_refused_not_followed(tmp_path):
    (tmp_path / "keep.txt").write_text("precious\n")
    (tmp_path / "cache.json").symlink_to(tmp_path / "keep.txt")
    (tmp_path / "new.json").symlink_to(tmp_path / "made.txt")  # dangling: following it would create made.txt
    before = state(tmp_path)
    for path in (tmp_path / "cache.json", tmp_path / "new.json"):
        with pytest.raises(OwnPathLinkError, match=f"{re.escape(str(path))}: is a symbolic link where lmkit keeps"):
            write_text_atomic(path, "{}\n")
    assert state(tmp_path) == before


@pytest.fixture
def model(tiny_en, tmp_path):
    from lm_fixtures import ngram_dir
    from lmkit.text.tokenizer_cache import get_tokenizer

    return ngram_dir(tmp_path / "kn", tiny_en, get_tokenizer(tiny_en, "char"), order=2)


def per_line(model, path: Path) -> list:
    return ["eval", model, "--file", TINY["en"]["test"], "--per-line", path]


def arpa(model, path: Path) -> list:
    paths = TINY["en"]
    return ["ngram", "--train", paths["train"], "--valid", paths["valid"], "--test", paths["test"], "--order", "2",
            "--tokenizer", "word", "--out", model.parent / "built", "--arpa", path]


def report(model, path: Path) -> list:
    return ["report", model, "--out", path.parent, "--sample-tokens", "0"]


def rescore(model, path: Path) -> list:
    nbest = model.parent / "nbest.tsv"
    nbest.write_text("u1\tthe cat\t-1.0\nu1\tthe the\t-1.2\n", encoding="utf-8")
    return ["rescore", model, nbest, "--out", path]


OUTPUTS = {  # option -> (the file it writes in a folder, its command line)
    "--per-line": ("lines.tsv", per_line), "--arpa": ("model.arpa", arpa), "rescore --out": ("out.tsv", rescore)}
WRITTEN = {"--per-line": "line\t", "--arpa": "\\data\\", "rescore --out": "u1\t"}  # how each file begins


@pytest.mark.parametrize("kind", NOT_FILES)
@pytest.mark.parametrize("option", OUTPUTS)
def test_every_user_named_output_refuses_what_is_not_a_regular_file(cli, model, tmp_path, option, kind):
    folder = tmp_path / "outputs"
    folder.mkdir()
    name, command = OUTPUTS[option]
    what = NOT_FILES[kind](folder / name)
    before = state(folder)
    assert_one_line_error(cli(*command(model, folder / name)), what, "not a regular file")
    assert state(folder) == before
    assert not (model.parent / "built").exists()  # --arpa is refused before the model is built


@pytest.mark.parametrize("through_link", [False, True])
@pytest.mark.parametrize("option", OUTPUTS)
def test_a_file_already_at_a_user_named_output_is_replaced_only_with_overwrite(cli, model, tmp_path, option,
                                                                               through_link):
    """Adversarial pass 27: --arpa, rescore's --out (and --per-line) replaced a user's file, and the file a link
    led to, without a word. lmkit cannot prove it wrote a file it finds there, so it asks for --overwrite, and
    then writes through the link, which stays."""
    folder = tmp_path / "outputs"
    folder.mkdir()
    name, command = OUTPUTS[option]
    mine = folder / ("real.txt" if through_link else name)
    mine.write_text("my thesis\n")
    if through_link:
        (folder / name).symlink_to("real.txt")
    before = state(folder)
    assert_one_line_error(cli(*command(model, folder / name)), f"{folder / name}: the file exists",
                          "give --overwrite to replace it", *(["the link leads to"] if through_link else []))
    assert state(folder) == before and mine.read_text() == "my thesis\n"
    assert not (model.parent / "built").exists()  # --arpa is refused before the model is built
    result = cli(*command(model, folder / name), "--overwrite")
    assert result.exit_code == 0, result.output
    if through_link:
        assert (folder / name).is_symlink() and os.readlink(folder / name) == "real.txt"
    written = mine.read_text(encoding="utf-8")
    assert written.startswith(WRITTEN[option]), written[:50]


@pytest.mark.parametrize("through_link", [False, True])
def test_a_file_made_while_lmkit_writes_is_kept_without_replace(tmp_path, through_link):
    """Adversarial pass 28: a file the user made at the output path after the check, while lmkit wrote its
    temporary, was replaced by the rename. Without `replace` the file goes in place only where none is."""
    from lmkit.files.writing import WriteError

    path = tmp_path / ("link.tsv" if through_link else "out.tsv")
    mine = tmp_path / "out.tsv"
    if through_link:
        path.symlink_to("out.tsv")  # dangling until the user's file appears
    with pytest.raises(WriteError, match="a file appeared there while lmkit worked; it is kept"):
        with atomic_write(path, "w", follow_link=True, replace=False) as handle:
            handle.write("lmkit's\n")
            mine.write_text("USERDATA\n")
    assert mine.read_text() == "USERDATA\n"
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(TEMP_PREFIX)]
    fresh = tmp_path / "fresh.tsv"
    with atomic_write(fresh, "w", follow_link=True, replace=False) as handle:  # where nothing appears: written
        handle.write("lmkit's\n")
    assert fresh.read_text() == "lmkit's\n" and fresh.stat().st_nlink == 1  # the temporary's name is gone


@pytest.mark.parametrize("plant", ["file", "link"])
def test_eval_keeps_a_per_line_file_made_while_it_scores(cli, model, tmp_path, monkeypatch, plant):
    """Pass 29: a link that appeared was reported as a link loop; whatever appears is the user's, said so."""
    import lmkit.evaluate.text as text

    out, elsewhere = tmp_path / "lines.tsv", tmp_path / "victim.txt"
    real = text.perplexity_of

    def user_writes_meanwhile(*args):  # called for each row, as lmkit writes its temporary file
        if not os.path.lexists(out):
            if plant == "file":
                out.write_text("USERDATA\n")
            else:
                elsewhere.write_text("USERDATA\n")
                out.symlink_to(elsewhere)
        return real(*args)

    monkeypatch.setattr(text, "perplexity_of", user_writes_meanwhile)
    assert_one_line_error(cli(*per_line(model, out)), f"could not write {out}: a file appeared there while lmkit "
                          "worked; it is kept (give --overwrite to replace it)")
    assert out.read_text() == "USERDATA\n" and out.is_symlink() is (plant == "link")


@pytest.mark.parametrize("option", OUTPUTS)
def test_a_new_file_is_written_without_overwrite(cli, model, tmp_path, option):
    name, command = OUTPUTS[option]
    result = cli(*command(model, tmp_path / name))
    assert result.exit_code == 0, result.output
    assert (tmp_path / name).read_text(encoding="utf-8").startswith(WRITTEN[option])


@pytest.mark.parametrize("option", OUTPUTS)
def test_a_name_with_a_byte_that_is_not_utf8_is_written(cli, model, tmp_path, option):
    """pass 77: Linux takes any byte but / and NUL in a name; Python holds an undecodable one as a lone surrogate,
    which the temporary name's check could not encode (a traceback, after --arpa's model was already built)."""
    name, command = OUTPUTS[option]
    target = tmp_path / os.fsdecode(b"bad\xff" + name.encode())
    result = cli(*command(model, target))
    assert result.exit_code == 0, result.output
    assert os.fsencode(target.name) in os.listdir(os.fsencode(tmp_path))
    assert target.read_text(encoding="utf-8").startswith(WRITTEN[option])
    assert not [n for n in os.listdir(tmp_path) if n.startswith(".lmkit-tmp.")]


@pytest.mark.parametrize("command", [["eval", "MODEL", "--file", TINY["en"]["test"], "--overwrite"],
                                     ["rescore", "MODEL", "NBEST", "--overwrite"],
                                     ["rescore", "MODEL", "NBEST", "--out", "-", "--overwrite"]])
def test_overwrite_without_a_file_to_replace_is_refused(cli, model, tmp_path, command):
    nbest = rescore(model, tmp_path / "unused")[2]
    line = [{"MODEL": model, "NBEST": nbest}.get(word, word) for word in command]
    assert_one_line_error(cli(*line), "--overwrite would be ignored")


def test_the_error_names_the_option_and_a_links_destination(cli, model, tmp_path):
    link = tmp_path / "scores.tsv"
    link.symlink_to("/dev/null")
    assert_one_line_error(cli(*per_line(model, link)), f"--per-line {link}: leads to /dev/null, a character device")
    assert_one_line_error(cli(*arpa(model, tmp_path)), f"--arpa {tmp_path}: is a directory")


def test_a_report_folder_that_is_a_file_is_refused(cli, model, tmp_path):
    (tmp_path / "notes.txt").write_text("mine")
    assert_one_line_error(cli("report", model, "--out", tmp_path / "notes.txt"), "is not a folder")
    assert (tmp_path / "notes.txt").read_text() == "mine"


def test_library_callers_get_the_same_refusal(model, tmp_path):
    from lmkit.checkpoint.save_load import load_model
    from lmkit.models.ngram.arpa_write import write_arpa

    make_fifo(tmp_path / "model.arpa")
    with pytest.raises(NotAFileError, match="a FIFO"):
        write_arpa(load_model(model)[0], tmp_path / "model.arpa")
    assert stat.S_ISFIFO((tmp_path / "model.arpa").lstat().st_mode)


def test_standard_output_on_a_pipe_is_named_as_a_pipe(tmp_path):
    """Adversarial pass 72: `--out /dev/stdout | cat` said "could not write /dev/stdout: No such file or directory":
    /proc's link to a pipe resolves to the name "pipe:[N]", which is nowhere, and is not shown as a path."""
    from lmkit.files.writing import check_output_file

    read_end, write_end = os.pipe()
    try:
        link = tmp_path / "stdout"
        link.symlink_to(f"/proc/self/fd/{write_end}")  # as /dev/stdout leads to /proc/self/fd/1
        with pytest.raises(NotAFileError, match=r"stdout: leads to a FIFO \(named pipe\), not a regular"):
            check_output_file(link)
    finally:
        os.close(read_end)
        os.close(write_end)


def test_a_link_through_a_missing_folder_and_dotdot_is_refused_not_resolved_as_text(cli, model, tmp_path):
    """Pass 84: a link to DIR/gone/../out.tsv was read as DIR/out.tsv, which lmkit wrote, though the link leads
    nowhere (the kernel cannot pass through gone); the next run said the file the link leads to existed."""
    text = tmp_path / "text.txt"
    text.write_text(TINY["en"]["test"].read_text())
    link = tmp_path / "scores.tsv"
    link.symlink_to(tmp_path / "gone" / ".." / "out.tsv")
    assert_one_line_error(cli("eval", model, "--file", text, "--per-line", link),
                          f"--per-line {link}: it is a symbolic link to {tmp_path}/gone/../out.tsv, which leads "
                          f"nowhere: {tmp_path}/gone/.. is not a folder that can be reached")
    assert not (tmp_path / "out.tsv").exists()
    (tmp_path / "there").mkdir()  # through a folder that is there, `..` is the kernel's to follow
    link.unlink()
    link.symlink_to(tmp_path / "there" / ".." / "out.tsv")
    assert cli("eval", model, "--file", text, "--per-line", link).exit_code == 0
    assert (tmp_path / "out.tsv").read_text() == link.read_text() != ""


def test_an_output_file_is_never_one_the_command_reads(cli, model, tmp_path):
    text = tmp_path / "text.txt"
    text.write_text(TINY["en"]["test"].read_text())
    link = tmp_path / "link.tsv"
    link.symlink_to(text.name)
    hard = tmp_path / "hard.tsv"
    os.link(text, hard)
    for out in (text, link, hard):
        assert_one_line_error(cli("eval", model, "--file", text, "--per-line", out),
                              f"--per-line {out}: is {text}, which this command reads")
    nbest = tmp_path / "nbest.tsv"
    nbest.write_text("u1\tthe cat\t-1.0\nu1\tthe hat\t-1.5\n")
    assert_one_line_error(cli("rescore", model, nbest, "--out", nbest), f"--out {nbest}: is {nbest}, which this command reads")
    paths = TINY["en"]
    train = tmp_path / "train.txt"
    train.write_text(paths["train"].read_text())
    assert_one_line_error(cli("ngram", "--train", train, "--valid", paths["valid"], "--test", paths["test"], "--order", "2",
                              "--out", tmp_path / "built", "--arpa", train), f"--arpa {train}: is {train}, which this command reads")
    assert text.read_text() == TINY["en"]["test"].read_text() and train.read_text() == paths["train"].read_text()
    assert nbest.read_text().startswith("u1\tthe cat") and not (tmp_path / "built").exists()


def test_an_output_file_never_lands_in_an_lmkit_model_directory_or_corpus(cli, model, tmp_path, corpora_root):
    before = state(model)
    for name in ("config.json", "model.ngram.npz", "new.tsv"):
        assert_one_line_error(cli(*per_line(model, model / name)), f"--per-line {model / name}: is inside the model "
                              f"directory {model.resolve()}, whose files are lmkit's")
    assert state(model) == before
    built = tmp_path / "built"
    assert_one_line_error(cli(*arpa(model, built / "config.json")),
                          f"--arpa {built / 'config.json'}: is inside {built}, the model directory this command writes")
    assert not built.exists()
    cached = next(p for p in corpora_root.iterdir() if (p / "manifest.json").is_file())  # the fixture's corpus
    assert_one_line_error(cli(*per_line(model, cached / "test.txt")), f"is inside the corpus folder {cached.resolve()}")


def test_a_report_goes_only_into_a_folder_lmkit_made(cli, model, tmp_path):
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "report.md").write_text("my notes")
    assert_one_line_error(cli(*report(model, mine / "report.md")), f"--out {mine}: holds files and is not an lmkit "
                          "report folder")
    assert (mine / "report.md").read_text() == "my notes"
    made = tmp_path / "made"
    assert cli(*report(model, made / "report.md")).exit_code == 0
    assert (made / ".lmkit-report").is_file() and cli(*report(model, made / "report.md")).exit_code == 0  # again
    written = (made / "report.md").read_bytes()
    (made / "report.md").write_bytes(written + "我的笔记\n".encode())  # adversarial pass 72: an edit was replaced
    assert_one_line_error(cli(*report(model, made / "report.md")), f"--out {made}: report.md there has changed since "
                          "lmkit wrote it (its sha256 is not the one report.json records); lmkit replaces only a file "
                          "it can show it wrote: move it away or choose another --out")
    assert (made / "report.md").read_bytes() == written + "我的笔记\n".encode()
    record = json.loads((made / "report.json").read_text())
    for damage in ("dropped", "removed", "garbled"):  # adversarial pass 73: no record is no proof either
        if damage == "dropped":
            (made / "report.json").write_text(json.dumps({k: v for k, v in record.items()
                                                          if k not in ("file_sha256", "replaced_sha256")}))
        elif damage == "removed":
            (made / "report.json").unlink()
        else:
            (made / "report.json").write_text("{bad")
        assert_one_line_error(cli(*report(model, made / "report.md")), f"--out {made}: report.md there is not "
                              "recorded in report.json (an older lmkit's report, or report.json removed or edited), so "
                              "lmkit cannot tell it from a file of yours")
        assert (made / "report.md").read_bytes() == written + "我的笔记\n".encode()
    (made / "report.json").write_text(json.dumps(record))
    (made / "report.md").write_bytes(written)  # as lmkit wrote it: lmkit's again
    assert cli(*report(model, made / "report.md")).exit_code == 0
    (tmp_path / "other.txt").write_text("other")
    (made / "report.json").unlink()
    (made / "report.json").symlink_to(tmp_path / "other.txt")
    assert_one_line_error(cli(*report(model, made / "report.md")), "report.json there is a symbolic link")
    assert (tmp_path / "other.txt").read_text() == "other"
    (made / "report.json").unlink()
    (made / "tokens.png").unlink()
    (made / "tokens.png").mkdir()  # a folder of the user's by a plot's name: neither replaced nor called writable
    (made / "tokens.png" / "mine.txt").write_text("mine")
    assert_one_line_error(cli(*report(model, made / "report.md")), f"--out {made}: tokens.png there is a directory, "
                          "not a file lmkit wrote, and lmkit will not replace it; remove it or choose another --out")
    assert (made / "tokens.png" / "mine.txt").read_text() == "mine"
    shutil.rmtree(made / "tokens.png")
    (made / ".lmkit-report").unlink()  # a report folder from before the marker: its report.json is lmkit's
    assert cli(*report(model, made / "report.md")).exit_code != 0  # no marker and no report.json: not provably lmkit's
    assert cli(*report(model, tmp_path / "again" / "report.md")).exit_code == 0
    (tmp_path / "again" / ".lmkit-report").unlink()
    assert cli(*report(model, tmp_path / "again" / "report.md")).exit_code == 0


def test_no_output_goes_into_a_folder_the_command_reads_or_over_its_own_out(cli, model, tmp_path):
    paths = TINY["en"]
    folder = tmp_path / "texts"
    folder.mkdir()
    (folder / "a.txt").write_text(paths["train"].read_text())
    before = state(folder)
    assert_one_line_error(cli("ngram", "--train", folder, "--valid", paths["valid"], "--test", paths["test"],
                              "--order", "2", "--out", tmp_path / "built", "--arpa", folder / "a.txt"),
                          f"--arpa {folder / 'a.txt'}: is inside {folder}, which this command reads")
    assert_one_line_error(cli(*arpa(model, tmp_path / "built")),
                          f"--arpa {tmp_path / 'built'}: is {tmp_path / 'built'}, the model directory this command writes")
    tokenizer = tmp_path / "tokenizer.json"
    tokenizer.write_text((model / "tokenizer.json").read_text())
    assert_one_line_error(cli("eval", model, "--file", paths["test"], "--tokenizer-from", tokenizer, "--per-line", tokenizer),
                          f"--per-line {tokenizer}: is {tokenizer}, which this command reads")
    assert state(folder) == before and tokenizer.read_text() == (model / "tokenizer.json").read_text()
    assert not (tmp_path / "built").exists()


def test_no_model_or_report_folder_goes_inside_a_model_directory_or_corpus(cli, model, tmp_path, corpora_root):
    paths = TINY["en"]
    corpus = ["--train", paths["train"], "--valid", paths["valid"], "--test", paths["test"]]
    before = state(model)
    for command in (["train", *corpus, "--max-steps", "1", "--out", model / "sub"],
                    ["ngram", *corpus, "--order", "2", "--out", model / "sub"],
                    ["report", model, "--sample-tokens", "0", "--out", model / "sub"]):
        assert_one_line_error(cli(*command), f"--out {model / 'sub'}: is inside the model directory {model.resolve()}")
    assert state(model) == before
    cached = next(p for p in corpora_root.iterdir() if (p / "manifest.json").is_file())
    assert_one_line_error(cli("ngram", *corpus, "--order", "2", "--out", cached / "kn"),
                          f"is inside the corpus folder {cached.resolve()}")


@pytest.mark.parametrize("option", ["--per-line", "--arpa"])  # rescore's --out - is standard output
def test_dash_is_not_quietly_a_file_named_dash(cli, model, tmp_path, monkeypatch, option):
    """`-` reads standard input elsewhere; an option that writes a file refuses it instead of making ./-."""
    monkeypatch.chdir(tmp_path)
    _, command = OUTPUTS[option]
    assert_one_line_error(cli(*command(model, Path("-"))), f"{option} -: this option writes a file, not standard output")
    assert not (tmp_path / "-").exists() and not (model.parent / "built").exists()


@pytest.mark.parametrize("command", [["train", "--train", TINY["en"]["train"], "--max-steps", "1"], ["report"]])
def test_dash_is_not_quietly_a_folder_named_dash(cli, model, tmp_path, monkeypatch, command):
    monkeypatch.chdir(tmp_path)
    args = [*command, model] if command == ["report"] else command
    assert_one_line_error(cli(*args, "--out", "-"), "--out -: this option writes a folder, not standard output")
    assert not (tmp_path / "-").exists()


EMPTY_PATHS = {  # Path("") is ".": each of these read or wrote the current folder (--train "" trained on its files)
    "--train": lambda model: ["train", "--train", "", "--max-steps", "1"],
    "--out": lambda model: ["train", "--train", TINY["en"]["train"], "--max-steps", "1", "--out", ""],
    "--resume": lambda model: ["train", "--resume", ""],
    "--file": lambda model: ["eval", model, "--file", ""],
    "MODEL": lambda model: ["generate", ""],
    "BACKWARD": lambda model: ["fill", model, "", "a_b"],
    "--from": lambda model: ["tokenize", "--from", "", "abc"],
    "--arpa": lambda model: ["ngram", "--train", TINY["en"]["train"], "--arpa", ""],
    "--per-line": lambda model: ["eval", model, "--per-line", ""],
    "NBEST": lambda model: ["rescore", model, ""],
    "--corpus ''": lambda model: ["train", "--corpus", "", "--max-steps", "1"],
}


@pytest.mark.parametrize("option", EMPTY_PATHS)
def test_an_empty_path_or_name_is_refused_not_read_as_the_current_folder(cli, model, tmp_path, monkeypatch, option):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "notes.txt").write_text("a user's text, not a corpus\n")
    before = sorted(tmp_path.iterdir())
    assert_one_line_error(cli(*EMPTY_PATHS[option](model)), f"{option}:", "empty")
    assert sorted(tmp_path.iterdir()) == before


def test_an_empty_item_in_a_mix_is_refused_not_skipped(cli, model, tmp_path):
    assert_one_line_error(cli("eval", "--mix", f"{model},,{model}", "--file", TINY["en"]["test"]),
                          f"--mix '{model},,{model}': an empty model path among its commas")


def test_reports_size_counts_only_the_models_own_files(model, tmp_path):
    from lmkit.checkpoint.model_source import open_model

    before = open_model(model).disk_bytes()
    (tmp_path / "big.bin").write_bytes(bytes(1 << 20))
    (model / "notes.bin").symlink_to(tmp_path / "big.bin")  # a user's link beside the model: not its size
    (model / "notes.txt").write_text("mine\n")
    assert open_model(model).disk_bytes() == before < 1 << 20


@pytest.mark.parametrize("path, says", [
    (" ", "the path is only spaces"), ("\u3000", "the path is only spaces"),
    ("\u200b", "the path has no visible character"), ("\u2800", "the path has no visible character"),
    ("\u3164/\u200b", "the name '\u3164' in the path has no visible character"),
    ("\u0301", "the path has no visible character"), ("pl/ ", "the name ' ' in the path is only spaces"),
    ("rz/\u200b", "the name '\\u200b' in the path has no visible character"),
    ("x\n", "the path holds a control character ('\\n')"), ("a\tb", "the path holds a control character")])
def test_a_path_nobody_can_see_or_type_is_refused(cli, model, tmp_path, monkeypatch, path, says):
    monkeypatch.chdir(tmp_path)
    before = state(tmp_path)
    assert_one_line_error(cli("ngram", "--train", TINY["en"]["train"], "--order", "2", "--out", path),
                          f"--out {path!r}: {says}")
    assert_one_line_error(cli(*per_line(model, Path(path))), f"--per-line {path!r}: {says}")
    assert state(tmp_path) == before


@pytest.mark.parametrize("path, says", [
    ("a" * 256, "the name 'aaaaaaaaaaaaaaaaaaaa...' in the path is 256 bytes long, more than the 255"),
    ("sub/" + "日" * 90 + ".txt", "the name '日日日日日日日日日日日日日日日日日日日日...' in the path is 274 bytes long"),
    ("/".join(["d" * 250] * 17) + "/x", "the path is 4,268 bytes long, more than the 4,095 a path may have here"),  # 75
])
def test_a_name_longer_than_the_file_system_takes_is_refused_naming_the_option(cli, model, tmp_path, monkeypatch,
                                                                                 path, says):
    """pass 74: open(2)'s bare "File name too long" named the path but not the option."""
    monkeypatch.chdir(tmp_path)
    before = state(tmp_path)
    assert_one_line_error(cli("ngram", "--train", TINY["en"]["train"], "--order", "2", "--out", path), f"--out: {says}")
    assert_one_line_error(cli(*per_line(model, Path(path))), f"--per-line: {says}")
    assert state(tmp_path) == before


def test_a_corpus_or_mix_name_too_long_for_a_file_is_named_by_its_own_rule(cli, model, tmp_path, monkeypatch):
    """pass 75: a 256-byte --corpus name reached open(2) under the corpora folder (corpora/NAME/manifest.json: File
    name too long), and a --mix path was not checked as other paths are."""
    monkeypatch.setenv("LMKIT_CORPORA", str(tmp_path / "corpora"))
    for name in ("e" * 256, "床" * 86):
        assert_one_line_error(cli("eval", model, "--corpus", name), f"corpus name {name!r}: a corpus name is 1 to 100")
    assert_one_line_error(cli("eval", "--mix", f"{model},{'床' * 86}", "--file", TINY["en"]["test"]),
                          "--mix: the name '床床床床床床床床床床床床床床床床床床床床...' in the path is 258 bytes long")


def test_a_report_folder_is_written_by_one_report_at_a_time(cli, model, tmp_path):
    from lmkit.report.folder import ReportLock

    out = tmp_path / "reports" / "kn"
    with ReportLock(out):  # as another `lmkit report --out` holds it while it trains its suite
        before = state(out)
        assert_one_line_error(cli(*report(model, out / "report.md")),
                              f"--out {out}: another lmkit report is writing into this folder")
        assert state(out) == before
    assert not (tmp_path / "reports").exists()  # the folders the lock made, nothing written: removed on release
    assert cli(*report(model, out / "report.md")).exit_code == 0
    assert not (out / ".lock").exists() and (out / "report.md").is_file()


def test_a_failed_report_leaves_no_folder_and_a_killed_ones_lock_is_no_obstacle(cli, model, tmp_path):
    out = tmp_path / "new" / "report"
    assert_one_line_error(cli("report", model, tmp_path / "missing", "--out", out), "missing")
    assert not (tmp_path / "new").exists()
    out.mkdir(parents=True)
    (out / ".lock").write_text("4242\n")  # all a report killed before it wrote anything leaves
    assert cli(*report(model, out / "report.md")).exit_code == 0
    assert (out / "report.md").is_file() and not (out / ".lock").exists()
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / ".lock").write_text("my notes on locks\n")  # not a process number: the user's file
    assert_one_line_error(cli(*report(model, mine / "report.md")), f"--out {mine}: holds files")
    assert (mine / ".lock").read_text() == "my notes on locks\n"


def test_a_temporary_file_is_proved_lmkits_by_its_name(tmp_path):
    """atomic_write's temporary names carry a check of their random token: lmkit can tell its own leftovers, and
    a user's file named like one (any 8 characters after the name, as mkstemp's were) is never taken for one."""
    target = tmp_path / "报告.json"
    with atomic_write(target) as handle:
        handle.write(b"{}")
        (temporary,) = [p for p in tmp_path.iterdir() if p.name.startswith(TEMP_PREFIX)]
        assert temporary_of(temporary.name) == target.name
    assert target.read_bytes() == b"{}" and [p.name for p in tmp_path.iterdir()] == [target.name]
    wrong = temporary.name[:-1] + ("1" if temporary.name.endswith("0") else "0")
    assert temporary_of(temporary_name("report.json", "k1ll3dax")) == "report.json"
    for name in (wrong, f"{TEMP_PREFIX}report.json.abcdefgh", f"{TEMP_PREFIX}report.json.k1ll3d_a.00000000", "x.json"):
        assert temporary_of(name) is None, name


WRITER = """
import sys, time
from lmkit.files.writing import atomic_write
with atomic_write(sys.argv[1], follow_link=True) as handle:
    handle.write(b"half of it")
    handle.flush()
    print("writing", flush=True)
    time.sleep(600)
"""


def writer_midway(target: Path) -> subprocess.Popen:
    """A process inside atomic_write of `target`, its temporary file made and written to, waiting."""
    process = subprocess.Popen([sys.executable, "-c", WRITER, str(target)], stdout=subprocess.PIPE, text=True)
    assert process.stdout.readline() == "writing\n"
    return process


def temporaries(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.name.startswith(TEMP_PREFIX))


def aged(path: Path) -> None:
    os.utime(path, (time.time() - 60, time.time() - 60))  # past FRESH_SECONDS: a writer had time to lock it


def test_a_killed_writers_temporary_file_is_removed_by_the_next_write_and_a_live_ones_is_kept(tmp_path):
    """kill -9 inside atomic_write (`lmkit ngram --arpa big.arpa` killed while writing) left its temporary file
    beside the output for good. Its name proves it lmkit's, and its lock, let go when the process died, proves
    the writer gone: the next write of that file removes it. A live writer's holds its lock and stays."""
    target = tmp_path / "模型.arpa"
    target.write_bytes(b"the old file")
    killed = writer_midway(target)
    (left,) = temporaries(tmp_path)
    killed.kill()
    killed.wait()
    live = writer_midway(target)
    try:
        (theirs,) = [path for path in temporaries(tmp_path) if path != left]
        for path in (left, theirs):
            aged(path)
        user = tmp_path / f"{TEMP_PREFIX}模型.arpa.abcdefgh"  # named like one, but no check: the user's
        user.write_bytes(b"mine")
        aged(user)
        assert target.read_bytes() == b"the old file"  # the killed write left the old file whole
        with atomic_write(target) as handle:
            handle.write(b"the new file")
        assert target.read_bytes() == b"the new file"
        assert not left.exists() and theirs.read_bytes() == b"half of it" and user.read_bytes() == b"mine"
    finally:
        live.kill()
        live.wait()


def test_a_dead_writers_name_is_reclaimed_only_for_a_regular_file_of_the_same_target(tmp_path):
    target = tmp_path / "out.txt"
    other = tmp_path / temporary_name("notes.txt", "k1ll3dax")        # lmkit's, but of another file
    folder = tmp_path / temporary_name("out.txt", "k1ll3dbx")        # a folder by such a name
    link = tmp_path / temporary_name("out.txt", "k1ll3dcx")          # a link by such a name, to the user's file
    fresh = tmp_path / temporary_name("out.txt", "k1ll3ddx")         # made a moment ago: its writer may not have
    dead = tmp_path / temporary_name("out.txt", "k1ll3dex")          # locked it yet
    (tmp_path / "mine.txt").write_text("mine")
    other.write_text("x")
    folder.mkdir()
    link.symlink_to(tmp_path / "mine.txt")
    fresh.write_text("x")
    dead.write_text("x")
    for path in (other, folder, dead):
        aged(path)
    with atomic_write(target) as handle:
        handle.write(b"new")
    assert not dead.exists()
    assert other.exists() and folder.is_dir() and link.is_symlink() and fresh.exists()
    assert (tmp_path / "mine.txt").read_text() == "mine"


@pytest.mark.parametrize("name", ["诗" * 83 + "ab.tsv", "a" * 251 + ".tsv"])
def test_an_output_name_as_long_as_the_file_system_takes_is_written(tmp_path, name):
    """The temporary's name adds 29 bytes to the target's: cut short where it would not fit (255 bytes)."""
    target = tmp_path / name
    assert len(os.fsencode(name)) == 255
    with atomic_write(target) as handle:
        handle.write(b"x\n")
        (temporary,) = [p for p in tmp_path.iterdir() if p.name.startswith(TEMP_PREFIX)]
        assert len(os.fsencode(temporary.name)) <= 255 and name.startswith(temporary_of(temporary.name))
    assert target.read_bytes() == b"x\n" and [p.name for p in tmp_path.iterdir()] == [name]


def test_a_report_removes_what_a_killed_report_left_and_nothing_else(cli, model, tmp_path):
    out = tmp_path / "report"
    assert cli(*report(model, out / "report.md")).exit_code == 0
    left = [temporary_name("tokens.png", "k1ll3dax"), temporary_name("report.json", "k1ll3dbx")]  # atomic_write's
    theirs = [f"{TEMP_PREFIX}notes.txt.abcdefgh", f"{TEMP_PREFIX}report.md.mine", temporary_name("notes.txt", "abcdefgh"),
              f"{TEMP_PREFIX}report.json.abcdefgh"]  # an older lmkit's name (mkstemp's), or a user's: no check
    for name in left + theirs:
        (out / name).write_text("x")
    (out / f"{TEMP_PREFIX}report.html.abcdefgh").mkdir()  # a folder: not what atomic_write leaves
    assert cli(*report(model, out / "report.md")).exit_code == 0
    assert not any((out / name).exists() for name in left)
    assert all((out / name).exists() for name in theirs) and (out / f"{TEMP_PREFIX}report.html.abcdefgh").is_dir()


def test_a_failed_report_removes_only_the_folders_it_made(cli, model, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert_one_line_error(cli("report", model, model, "--out", "new/report"), "is listed twice")
    assert not Path("new").exists()
    Path("mine").mkdir()  # empty, and the user's: `ghost2/../mine` is it, once ghost2 is made
    from lmkit.train.resume_state import DirectoryLock

    with pytest.raises(RuntimeError):
        with DirectoryLock(Path("ghost2/../mine")):  # as training holds it, then fails before it saves
            raise RuntimeError("training failed")
    assert Path("mine").is_dir() and list(Path("mine").iterdir()) == [] and not Path("ghost2").exists()


def test_a_path_through_what_is_not_a_folder_is_refused(cli, tmp_path, monkeypatch):
    """`--out ghost/../keep` saw nothing at ghost/../keep (ghost did not exist), then made ghost and trained over
    the model in keep without --overwrite; --per-line past a dangling link wrote where the link would lead."""
    monkeypatch.chdir(tmp_path)
    from conftest import TINY_TRAIN

    paths = TINY["en"]
    args = ["train", "--train", paths["train"], "--valid", paths["valid"], "--test", paths["test"], *TINY_TRAIN]
    assert cli(*args, "--out", "keep").exit_code == 0
    before = state(tmp_path / "keep")
    assert_one_line_error(cli(*args, "--out", "ghost/../keep"),
                          "--out ghost/../keep: ghost does not exist, so the ghost/.. in the path names nothing")
    assert state(tmp_path / "keep") == before and not Path("ghost").exists()
    Path("notes.txt").write_text("mine")  # a file or a dangling link before `..`: the kernel cannot resolve it
    Path("dangling").symlink_to("nowhere/deep")
    for path, says in (("notes.txt/../pl.tsv", "notes.txt is a file, not a folder"),
                       ("dangling/../pl.tsv", "dangling is a symbolic link that leads nowhere"),
                       ("dta/../notes.txt", "dta does not exist")):  # a typo no longer reads another file
        assert_one_line_error(cli("eval", "keep", "--file", "notes.txt", "--per-line", path), says)
        assert_one_line_error(cli("eval", "keep", "--file", path), says)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["corpora", "dangling", "keep", "notes.txt"]


@pytest.mark.parametrize("sent", [["SIGTERM"], ["SIGINT", "SIGINT"], ["SIGHUP", "SIGTERM"]])
def test_files_written_together_land_all_new_or_all_as_they_were(tmp_path, monkeypatch, sent):
    """A report's pages and plots: a stop while they are renamed into place acts once all are (a second Ctrl-C
    too: it raised at once, leaving report.html new beside the old report.md), and a failure while they are
    written (here a folder where a file goes) leaves every one as it was."""
    import signal

    from lmkit.cli import CommandStops, Terminated
    from lmkit.files.writing import WriteError, write_files_together

    paths = [tmp_path / name for name in ("report.md", "report.json", "plot.png")]
    for path in paths:
        path.write_bytes(b"old")
    replace = os.replace

    def stop_on_the_first_rename(source, target):
        monkeypatch.setattr(os, "replace", replace)
        for name in sent:
            os.kill(os.getpid(), signal.Signals[name])
        replace(source, target)

    stops, names = CommandStops(), sorted(set(sent))
    previous = {name: signal.signal(signal.Signals[name], stops) for name in names}  # as lmkit.cli.main does
    try:
        monkeypatch.setattr(os, "replace", stop_on_the_first_rename)
        with pytest.raises(Terminated) as raised:
            write_files_together({path: b"new" for path in paths})
    finally:
        for name, handler in previous.items():
            signal.signal(signal.Signals[name], handler)
    assert [path.read_bytes() for path in paths] == [b"new"] * 3
    assert raised.value.signum.name == sent[0]  # the first signal is the one acted on

    (tmp_path / "in-the-way").mkdir()
    with pytest.raises(WriteError):
        write_files_together({**{path: b"newer" for path in paths}, tmp_path / "in-the-way": b"x"})
    assert [path.read_bytes() for path in paths] == [b"new"] * 3
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in-the-way", "plot.png", "report.json", "report.md"]
