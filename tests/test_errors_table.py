"""Every bad input in docs/errors.md, run through the CLI: exit code != 0, the documented message, no traceback,
and not a byte changed in the case's folder (inputs, model directories, output directory).

docs/errors.md is the single source: this test reads its table. A row's command uses placeholders
(`{empty}`, `{model}`, `{out}`, ...) for the files that `case_folder` below makes; the message column
is matched as a substring of the output after the same substitution.
"""
from __future__ import annotations

import gzip
import hashlib
import json
import os
import lzma
import re
import shlex
import shutil
import stat
from pathlib import Path

import pytest
from click.testing import CliRunner
from conftest import CHINESE, ENGLISH, TINY

REPO = Path(__file__).resolve().parent.parent
TABLE = REPO / "docs" / "errors.md"
ROW = re.compile(r"^\|\s*(\d+)\s*\|\s*`(lmkit [^`]+)`\s*\|\s*`([^`]+)`\s*\|\s*`?([^|`]*?)`?\s*\|\s*$")
TINY_TRAIN = ["--hidden-size", "16", "--emb-size", "8", "--layers", "1", "--batch-size", "4", "--bptt", "16"]
ARPA = ("\\data\\\nngram 1=5\nngram 2=4\n\n\\1-grams:\n-1.0\t<unk>\t0\n-99\t<s>\t-0.3\n-0.7\t</s>\t0\n"
        "-0.5\tthe\t-0.2\n-0.6\tcat\t-0.2\n\n\\2-grams:\n-0.3\t<s> the\n-0.2\tthe cat\n-0.1\tcat </s>\n"
        "-0.4\tthe </s>\n\n\\end\\\n").encode()  # a word bigram: lines 13-16 are its 2-grams


def table_rows() -> list:
    """One pytest.param(command, message) per row of the table in docs/errors.md; pending rows are strict xfails."""
    rows = [m.groups() for line in TABLE.read_text(encoding="utf-8").splitlines() if (m := ROW.match(line))]
    assert [int(number) for number, *_ in rows] == list(range(1, len(rows) + 1)), "rows are numbered 1, 2, 3, ..."
    return [pytest.param(command, message, id=f"row{number}",
                         marks=[pytest.mark.xfail(strict=True, reason=f"pending a fix in {pending} (notes/requests.md)")]
                         if pending else [])
            for number, command, message, pending in rows]


def invoke(*args: str):
    from lmkit.cli import app

    return CliRunner().invoke(app, [str(a) for a in args], prog_name="lmkit")


@pytest.fixture(scope="module")
def models(tmp_path_factory) -> Path:
    """Model directories made once: a resumable char LSTM and a char BiLSTM on english.txt, a Chinese char bigram."""
    folder = tmp_path_factory.mktemp("table-models")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("LMKIT_CORPORA", str(folder / "corpora"))
        result = invoke("train", "--train", ENGLISH, *TINY_TRAIN, "--max-steps", "4", "--eval-every", "2",
                        "--sample-tokens", "0", "--quiet", "--out", folder / "model")
        assert result.exit_code == 0, result.output
        result = invoke("train", "--model", "bilstm", "--train", ENGLISH, *TINY_TRAIN, "--max-steps", "2",
                        "--sample-tokens", "0", "--quiet", "--out", folder / "bimodel")
        assert result.exit_code == 0, result.output
        zh = TINY["zh"]
        result = invoke("ngram", "--train", zh["train"], "--valid", zh["valid"], "--test", zh["test"], "--order", "2",
                        "--out", folder / "other")
        assert result.exit_code == 0, result.output
    (folder / "corpora" / "song100").mkdir()  # a folder of the user's where the song100 corpus would be cached
    (folder / "corpora" / "song100" / "notes.txt").write_text("mine\n")
    user_deb = folder / "corpora" / ".downloads" / "fortunes_1.0_all.deb"  # a folder of the user's by a download's name
    user_deb.mkdir(parents=True)
    (user_deb / "notes.txt").write_text("mine\n")
    return folder


def damaged(folder: Path, name: str, change) -> Path:
    shutil.copytree(folder / "model", folder / name, ignore=shutil.ignore_patterns("last"))
    change(folder / name)
    return folder / name


def edit_config(**fields):
    def change(directory: Path) -> None:
        config = json.loads((directory / "config.json").read_text())
        for key, value in fields.items():
            target = config
            *parents, last = key.split("__")
            for parent in parents:
                target = target[parent]
            target[last] = value
        (directory / "config.json").write_text(json.dumps(config))
    return change


def write(name: str, data: bytes):
    def change(directory: Path) -> None:
        (directory / name).write_bytes(data)
    return change


def remove(name: str):
    return lambda directory: (directory / name).unlink()


def case_folder(root: Path, models: Path) -> dict[str, str]:
    """The files a row may name, made under `root`; placeholder -> path."""
    root.mkdir()
    files = {"missing": root / "missing.txt", "out": root / "out", "emptydir": root / "emptydir",
             "userdir": root / "userdir", "fifo": root / "fifo", "devlink": root / "devlink", "deadlink": root / "deadlink"}
    files["emptydir"].mkdir()
    for name, data in {".draft.tmp": b"1\n", ".save.x/f": b"2\n", "last/mine.txt": b"3\n", "notes.txt": b"4\n"}.items():
        (files["userdir"] / name).parent.mkdir(parents=True, exist_ok=True)
        (files["userdir"] / name).write_bytes(data)
    os.mkfifo(files["fifo"])
    files["devlink"].symlink_to("/dev/null")  # refused before any write: no row writes to a device
    files["deadlink"].symlink_to(root / "nowhere" / "x.arpa")  # a link into a folder that does not exist
    contents = {"empty": b"", "blank": b"\n\n  \n", "binary": b"text\x00\x01\x02 more\n", "text": ENGLISH.read_bytes(), "zh": CHINESE.read_bytes(),
                "latin1": "caf\u00e9 au lait\n".encode("latin-1") * 40, "notjson": b"{ this is not json",
                "hugeint": b'{"kind": "char", "count": ' + b"9" * 5000 + b"}",
                "spaced": b"a b c\n" * 200, "crlf": b"one line\r\n" * 3, "oneline": b"word " * 2000,
                "nbest": b"u1\tthe cat\t-2.0\nu1\tcat the\t-1.0\n", "badnbest": b"u1\tthe cat\t-2.0\nu1\tthe cat\n",
                "infnbest": b"u1\tthe cat\tinf\n", "kaldi": b"u1-1 the cat\nu1-2 cat the\n", "kaldiscores": b"u1-1 -2\n",
                "refs": b"u2 the cat\n", "utf16": "我的手机坏了。\n".encode("utf-16") * 20,
                "utf16le": "My phone broke.\r\n".encode("utf-16-le") * 20}
    arpa_files = {"arpa": ARPA, "cutarpa": ARPA[: ARPA.index(b"-0.1\tcat")], "arpagz": gzip.compress(ARPA)[:-12],
                  "arpaxz": lzma.compress(ARPA)[:-24], "noend": ARPA.replace(b"-0.7\t</s>\t0\n", b"").replace(b"1=5", b"1=4"),
                  "kenlmbin": b"mmap lm http://kheafield.com/code format version 5\n\x00\x00\x01"}
    for name, data in arpa_files.items():
        files[name] = root / f"{name}.arpa{'.' + name[-2:] if name in ('arpagz', 'arpaxz') else ''}"
        files[name].write_bytes(data)
    for name, data in contents.items():
        files[name] = root / f"{name}.txt"
        files[name].write_bytes(data)
    for name in ("model", "other", "bimodel"):
        files[name] = Path(shutil.copytree(models / name, root / name))
    weights = (files["model"] / "model.safetensors").read_bytes()
    variants = {
        "badconfig": write("config.json", b"{ not json"),
        "format2": edit_config(format=2),
        "unknownkind": edit_config(kind="transformer"),
        "noweights": remove("model.safetensors"),
        "cutweights": write("model.safetensors", weights[: len(weights) // 2]),
        "wrongshape": edit_config(model__hidden_size=32),
        "notokenizer": remove("tokenizer.json"),
        "badtype": edit_config(model__hidden_size="32"),
        "badcorpus": edit_config(corpus=123),
        "huge": edit_config(model__hidden_size=10**12),
        "nanweight": nan_weight,
        "othertokenizer": swap_two_tokens,
        "wordtokenizer": read_as_words,
        "relabelled": edit_config(kind="gru"),
        "redirected": edit_config(direction="backward"),
    }
    for name, change in variants.items():
        files[name] = damaged(root, name, change)
    for name, change in {"sumjoin": edit_config(model__join="sum"),
                         "biggerbimodel": edit_config(model__hidden_size=60_000)}.items():
        files[name] = Path(shutil.copytree(files["bimodel"], root / name, ignore=shutil.ignore_patterns("last")))
        change(files[name])
    files["badstate"] = Path(shutil.copytree(files["model"], root / "badstate"))
    bad_state(files["badstate"] / "last" / "trainer_state.pt")
    return {name: str(path) for name, path in files.items()}


def nan_weight(directory: Path) -> None:
    from safetensors.torch import load_file, save_file

    tensors = load_file(directory / "model.safetensors")
    tensors["rnn.weight_hh_l0"][0, 0] = float("nan")
    save_file(tensors, directory / "model.safetensors")


def swap_two_tokens(directory: Path) -> None:
    tokenizer = json.loads((directory / "tokenizer.json").read_text(encoding="utf-8"))
    tokens = tokenizer["vocab"]["tokens"]
    tokens[10], tokens[11] = tokens[11], tokens[10]
    (directory / "tokenizer.json").write_text(json.dumps(tokenizer), encoding="utf-8")


def read_as_words(directory: Path) -> None:
    tokenizer = json.loads((directory / "tokenizer.json").read_text(encoding="utf-8"))
    tokenizer["kind"] = "word"  # the same tokens, but text cut into words
    (directory / "tokenizer.json").write_text(json.dumps(tokenizer), encoding="utf-8")


def bad_state(path: Path) -> None:
    import torch

    state = torch.load(path, weights_only=True)
    state["progress"]["lr"] = "fast"
    torch.save(state, path)


def snapshot(folder: Path) -> dict[str, tuple]:
    """Every entry under `folder`: relative name -> (size, mtime_ns, sha256) for files, 'dir' for folders,
    the type and a link's target for anything else (a FIFO is never opened, a link never followed)."""
    found = {}
    for path in sorted(folder.rglob("*")):
        info = path.lstat()
        if stat.S_ISREG(info.st_mode):
            found[str(path.relative_to(folder))] = (info.st_size, info.st_mtime_ns, hashlib.sha256(path.read_bytes()).hexdigest())
        else:
            found[str(path.relative_to(folder))] = "dir" if stat.S_ISDIR(info.st_mode) else (
                stat.S_IFMT(info.st_mode), os.readlink(path) if path.is_symlink() else None)
    return found


ROWS = table_rows()


def test_the_table_lists_at_least_30_cases():
    assert len(ROWS) >= 30


@pytest.mark.parametrize("command,message", ROWS)
def test_bad_input(command, message, models, tmp_path, monkeypatch, cpu_without_bf16):
    files = case_folder(tmp_path / "case", models)
    monkeypatch.setenv("LMKIT_CORPORA", str(models / "corpora"))  # caches may be written: they are outside the case
    monkeypatch.chdir(tmp_path / "case")  # a default output folder would land in the snapshot
    before = snapshot(tmp_path / "case")
    args = [arg.format(**files) for arg in shlex.split(command)[1:]]
    result = invoke(*args)
    output = result.output  # stdout and stderr together
    assert result.exit_code not in (0, None), output
    assert message.format(**files) in output, output
    assert "Traceback" not in output and not isinstance(result.exception, (AssertionError, TypeError, KeyError))
    assert isinstance(result.exception, SystemExit), repr(result.exception)
    assert snapshot(tmp_path / "case") == before
