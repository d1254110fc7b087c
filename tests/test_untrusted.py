"""Untrusted model directories and corpus downloads: nothing in them runs code or reaches outside.

Every crafted pickle below would `touch` a marker file when unpickled; each test checks that the
command refuses (or ignores) the file with a one-line error, and that the marker never appears.
"""
from __future__ import annotations

import io
import json
import os
import pickle
import shutil
import tarfile

import numpy as np
import pytest
import torch
from conftest import ENGLISH, assert_one_line_error
from debian_package import crafted_deb
from lm_fixtures import ngram_dir, rnn_dir

from lmkit.checkpoint.save_load import load_model
from lmkit.train.resume_state import save_last


class Payload:
    """Unpickling this runs `touch marker`."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return os.system, (f"touch {self.marker}",)


@pytest.fixture
def marker(tmp_path):
    path = tmp_path / "pwned"
    yield path
    assert not path.exists(), "a crafted file ran code"


@pytest.fixture
def model_dir(tmp_path, tiny_en):
    from lmkit.text.tokenizer_cache import get_tokenizer

    return rnn_dir(tmp_path / "model", tiny_en, get_tokenizer(tiny_en, "char"))


@pytest.fixture
def resumable_dir(model_dir):
    model, tokenizer, config = load_model(model_dir)
    save_last(model_dir, model, tokenizer, {"step": 1}, {"corpus": config["corpus"]})
    return model_dir


def torch_pickle(marker) -> bytes:
    buffer = io.BytesIO()
    torch.save({"step": 1, "payload": Payload(marker)}, buffer)
    return buffer.getvalue()


def raw_pickle(marker) -> bytes:
    return pickle.dumps({"step": 1, "payload": Payload(marker)}, protocol=2)


@pytest.mark.parametrize("make, words", [
    (torch_pickle, ("trainer_state.pt: refused to load", "only weights_only files are accepted")),
    (raw_pickle, ("trainer_state.pt: unreadable trainer state: not the zip file torch.save writes",)),  # never read
])
def test_pickled_code_in_trainer_state_is_refused(cli, resumable_dir, marker, make, words):
    (resumable_dir / "last" / "trainer_state.pt").write_bytes(make(marker))
    result = cli("train", "--resume", resumable_dir)
    assert_one_line_error(result, *words)


@pytest.mark.parametrize("make", [torch_pickle, raw_pickle])
def test_pickle_posing_as_safetensors_weights_is_refused(cli, model_dir, marker, make):
    (model_dir / "model.safetensors").write_bytes(make(marker))
    assert_one_line_error(cli("generate", model_dir, "--max-tokens", "3"), "model.safetensors: not a valid safetensors file")


def test_stray_torch_files_in_a_model_directory_are_never_opened(cli, model_dir, marker):
    for name in ("pytorch_model.bin", "model.pt", "trainer_state.pt", "optimizer.pt"):
        (model_dir / name).write_bytes(torch_pickle(marker))
    result = cli("generate", model_dir, "--max-tokens", "3", "--seed", "1")
    assert result.exit_code == 0, result.output


def test_object_arrays_in_ngram_weights_are_refused(cli, tmp_path, tiny_en, marker):
    from lmkit.text.tokenizer_cache import get_tokenizer

    directory = ngram_dir(tmp_path / "ngram", tiny_en, get_tokenizer(tiny_en, "char"), order=2)
    payload = np.array([Payload(marker)], dtype=object)
    with open(directory / "model.ngram.npz", "wb") as handle:
        np.savez(handle, keys1=payload, logp1=payload, logbo1=payload)
    assert_one_line_error(cli("generate", directory, "--max-tokens", "3"), "model.ngram.npz: not a readable N-gram weights file")


@pytest.mark.parametrize("kind", ["os:system", "builtins.eval", "../../lstm", "lmkit.models.neural.rnn:RNNLM"])
def test_config_kind_cannot_name_arbitrary_code(cli, model_dir, kind):
    config = json.loads((model_dir / "config.json").read_text())
    (model_dir / "config.json").write_text(json.dumps({**config, "kind": kind}))
    assert_one_line_error(cli("generate", model_dir, "--max-tokens", "3"), f"unknown model kind {kind!r}")


@pytest.mark.parametrize("where", ["../outside/model.ngram.npz", "/{outside}/model.ngram.npz"])
def test_file_names_in_config_cannot_point_outside(tmp_path, tiny_en, where):
    """model.ngram.npz is named by config.json's "weights"; another model's weights outside are never read."""
    from lmkit.text.tokenizer_cache import get_tokenizer

    tokenizer = get_tokenizer(tiny_en, "char")
    directory = ngram_dir(tmp_path / "ngram", tiny_en, tokenizer, order=2)
    outside = ngram_dir(tmp_path / "outside", tiny_en, tokenizer, order=2, smoothing="add-k")
    config = json.loads((directory / "config.json").read_text())
    (directory / "config.json").write_text(json.dumps({**config, "weights": where.format(outside=str(outside).lstrip("/"))}))
    ids = torch.tensor([tokenizer.encode("the cat sat\n")])
    loaded, inside, foreign = (load_model(d)[0].score(ids) for d in (directory, tmp_path / "ngram", outside))
    assert torch.equal(loaded, inside) and not torch.equal(loaded, foreign)


def test_symlinked_weights_leading_outside_are_refused(cli, tmp_path, model_dir):
    secret = tmp_path / "secret.safetensors"
    shutil.move(model_dir / "model.safetensors", secret)
    (model_dir / "model.safetensors").symlink_to(secret)
    assert_one_line_error(cli("generate", model_dir, "--max-tokens", "3"), "model.safetensors: a symbolic link to",
                          "outside the model directory")


def test_symlinked_resume_state_leading_outside_is_refused(cli, tmp_path, resumable_dir):
    shutil.move(resumable_dir / "last", tmp_path / "elsewhere")
    (resumable_dir / "last").symlink_to(tmp_path / "elsewhere")
    assert_one_line_error(cli("train", "--resume", resumable_dir), "last: a symbolic link to", "outside the model directory")


def test_symlinks_that_stay_inside_are_fine(cli, model_dir):
    (model_dir / "files").mkdir()
    shutil.move(model_dir / "tokenizer.json", model_dir / "files" / "tokenizer.json")
    (model_dir / "tokenizer.json").symlink_to("files/tokenizer.json")
    assert cli("generate", model_dir, "--max-tokens", "3", "--seed", "1").exit_code == 0


def test_corrupt_sentencepiece_model_in_tokenizer_json_is_one_line(cli, model_dir):
    import base64

    spm = {"kind": "spm", "options": {"model_type": "bpe", "model": base64.b64encode(b"\x08not a model").decode()}}
    (model_dir / "tokenizer.json").write_text(json.dumps(spm))
    assert_one_line_error(cli("generate", model_dir, "--max-tokens", "3"), "tokenizer.json")


@pytest.fixture(scope="module")
def spm_files(tmp_path_factory):
    """Two sentencepiece tokenizer.json files of different sizes, fitted on the English fixture."""
    from lmkit.text.tokenizers import fit_tokenizer

    lines = ENGLISH.read_text(encoding="utf-8").splitlines()
    folder = tmp_path_factory.mktemp("spm")
    for size in (120, 150):
        fit_tokenizer("spm", lines, vocab_size=size).save(folder / f"{size}.json")
    return folder


def test_an_empty_sentencepiece_model_is_named(cli, spm_files, tmp_path):
    saved = json.loads((spm_files / "120.json").read_text())
    saved["options"]["model"] = ""
    (tmp_path / "tokenizer.json").write_text(json.dumps(saved))
    result = cli("tokenize", "--from", tmp_path / "tokenizer.json", "the cat")
    assert_one_line_error(result, f"{tmp_path / 'tokenizer.json'}: the spm model is empty")
    assert "tokenizer.json: tokenizer.json" not in result.output


def test_a_sentencepiece_model_and_a_vocabulary_that_disagree_are_refused(cli, spm_files, tmp_path):
    """Another tokenizer's model under this file's vocabulary: tokenize --from would print ids the list contradicts."""
    saved = json.loads((spm_files / "150.json").read_text())
    saved["options"]["model"] = json.loads((spm_files / "120.json").read_text())["options"]["model"]
    (tmp_path / "tokenizer.json").write_text(json.dumps(saved))
    result = cli("tokenize", "--from", tmp_path / "tokenizer.json", "the cat")
    assert_one_line_error(result, "tokenizer.json: its vocabulary (150 tokens) is not its spm model's pieces (120)")
    assert cli("tokenize", "--from", spm_files / "150.json", "the cat").exit_code == 0


# --- corpus downloads -------------------------------------------------------------------------------------------

def link(name: str, target: str, kind: bytes) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type, info.linkname = kind, target
    return info


POEMS = "./usr/share/games/fortunes/tang300"
HOSTILE_MEMBERS = {
    "dot-dot": lambda outside: (tarfile.TarInfo(f"./usr/share/games/fortunes/../../../../..{outside}"), b"x\n"),
    "absolute": lambda outside: (tarfile.TarInfo(str(outside)), b"x\n"),
    "symlink": lambda outside: (link(POEMS, str(outside), tarfile.SYMTYPE), None),
    "hardlink": lambda outside: (link(POEMS, str(outside), tarfile.LNKTYPE), None),
}


@pytest.mark.skipif(shutil.which("dpkg-deb") is None, reason="needs dpkg-deb")
@pytest.mark.parametrize("hostile", list(HOSTILE_MEMBERS))
def test_hostile_package_members_write_nothing_outside_the_cache(cli, corpora_root, tmp_path, hostile):
    outside = tmp_path / "outside" / "written.txt"
    (corpora_root / ".downloads").mkdir(parents=True)
    (corpora_root / ".downloads" / "fortunes-zh_9.9_all.deb").write_bytes(crafted_deb(*HOSTILE_MEMBERS[hostile](outside)))
    reason = "is not a regular file" if "link" in hostile else "points outside its folder"
    assert_one_line_error(cli("corpus", "fetch", "tang300"), "archive member", reason)
    assert not outside.exists() and not (tmp_path / "outside").exists()
    assert not (corpora_root / "tang300").exists()
    assert sorted(p.name for p in corpora_root.iterdir()) == [".downloads"]  # no half-built corpus either



def test_a_link_of_the_users_under_another_name_is_not_read_and_blocks_nothing(cli, tmp_path):
    """lmkit reads only its own names in a model directory: a user's link out of it (notes, data) stays, and
    loading, resuming and --overwrite go on (before: refused at the end of a whole --overwrite run)."""
    run = tmp_path / "run"
    train = ["train", "--train", ENGLISH, "--hidden-size", "16", "--emb-size", "8", "--layers", "1", "--batch-size",
             "4", "--bptt", "16", "--sample-tokens", "0", "--quiet", "--out", run, "--max-steps", "2"]
    assert cli(*train).exit_code == 0
    (tmp_path / "notes.txt").write_text("mine\n")
    (run / "notes.txt").symlink_to(tmp_path / "notes.txt")
    assert cli("generate", run, "--max-tokens", "3").exit_code == 0
    result = cli("train", "--resume", run, "--max-steps", "3", "--quiet", "--sample-tokens", "0")
    assert result.exit_code == 0, result.output
    result = cli(*train, "--overwrite")
    assert result.exit_code == 0, result.output
    assert (run / "notes.txt").is_symlink() and (tmp_path / "notes.txt").read_text() == "mine\n"
