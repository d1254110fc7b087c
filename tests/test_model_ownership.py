"""lmkit writes into, cleans up in and replaces only a model directory it can prove it made.

A folder of the user's (whatever it holds, whatever the options, whether the run then succeeds or
fails) is refused with one line and left exactly as it was; a new or empty folder becomes a marked
model directory; a model directory from before the marker (an lmkit config.json) is still resumed,
overwritten and rebuilt; and inside its own directory lmkit removes only temporaries named as its own.
"""
from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import stat
import warnings
from pathlib import Path

import pytest
from conftest import ENGLISH, TINY, assert_one_line_error

from lmkit.checkpoint.ownership import (MARKER_FILE, MARKER_TEXT, is_model_directory, is_staging_name,
                                        make_staging_folder)
from lmkit.checkpoint.save_load import load_model, save_model
from lmkit.errors import CheckpointError, ConfigError
from lmkit.files.temporary_names import TEMP_PREFIX, temporary_name
from lmkit.files.writing import new_dir_mode
from lmkit.train.resume_state import load_resume

TINY_TRAIN = ["--hidden-size", "16", "--emb-size", "8", "--layers", "1", "--batch-size", "4", "--bptt", "16",
              "--sample-tokens", "0", "--quiet"]
REFUSED = "is not an lmkit model directory"

# Folders of the user's, as {relative path: bytes}; a name ending in "/" is an empty folder.
USER_FOLDERS = {
    "issue-13": {".draft.tmp": b"1\n", ".save.x/f": b"2\n", "last/mine.txt": b"3\n"},
    "notes": {"notes.txt": b"my notes\n"},
    "foreign-config": {"config.json": b'{"name": "my web app", "format": 1}\n', "model.safetensors": b"mine"},
    "learning-curve-only": {"metrics.jsonl": b'{"step": 1}\n', "last.old/": b""},
    "wrong-marker": {MARKER_FILE: b"not lmkit's\n", "paper.tex": b"\\section{}\n"},
    "marker-is-a-folder": {f"{MARKER_FILE}/": b"", "data.csv": b"a,b\n"},
    "lmkit-look-alike-temporaries": {f"{TEMP_PREFIX}save.x/f": b"mine", f"{TEMP_PREFIX}draft": b"mine"},
}


def make_folder(folder: Path, files: dict[str, bytes]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for name, data in files.items():
        path = folder / name
        if name.endswith("/"):
            path.mkdir(parents=True)
        else:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(data)
    return folder


def snapshot(folder: Path) -> dict[str, object]:
    """Every entry under `folder` (hidden ones too): kind, and size/mtime/hash of regular files."""
    found = {}
    for root, dirs, files in os.walk(folder):
        for name in dirs + files:
            path = Path(root) / name
            info = path.lstat()
            found[str(path.relative_to(folder))] = ((info.st_size, info.st_mtime_ns, hashlib.sha256(path.read_bytes()).hexdigest())
                                                    if path.is_file() and not path.is_symlink() else info.st_mode)
    return found


def train_args(out, *extra) -> list:
    return ["train", "--train", ENGLISH, *TINY_TRAIN, "--out", out, *extra]


def ngram_args(out, *extra) -> list:
    paths = TINY["en"]
    return ["ngram", "--train", paths["train"], "--valid", paths["valid"], "--test", paths["test"], "--order", "2",
            "--out", out, *extra]


RUNS = {  # each would write into --out: some succeed, one fails after the output folder is known
    "train-fails": lambda out: train_args(out, "--batch-size", "100000"),  # too few tokens: fails in the Trainer
    "train": lambda out: train_args(out, "--max-steps", "2"),
    "train-overwrite": lambda out: train_args(out, "--max-steps", "2", "--overwrite"),
    "ngram": lambda out: ngram_args(out),
}


@pytest.mark.parametrize("run", RUNS)
@pytest.mark.parametrize("shape", USER_FOLDERS)
def test_a_users_folder_is_refused_and_left_as_it_was(cli, tmp_path, shape, run):
    folder = make_folder(tmp_path / "mine", USER_FOLDERS[shape])
    before = snapshot(folder)
    result = cli(*RUNS[run](folder))
    assert_one_line_error(result, f"--out {folder}", REFUSED)
    assert snapshot(folder) == before


@pytest.mark.parametrize("run", ["train", "ngram"])
def test_out_dot_in_a_users_folder_is_refused(cli, tmp_path, monkeypatch, run):
    folder = make_folder(tmp_path / "home", USER_FOLDERS["issue-13"])
    monkeypatch.chdir(folder)
    before = snapshot(folder)
    assert_one_line_error(cli(*RUNS[run](".")), "--out .", REFUSED)
    assert snapshot(folder) == before


@pytest.mark.parametrize("run", ["train", "ngram"])
def test_a_link_to_a_users_folder_is_refused_and_a_link_to_a_model_directory_is_followed(cli, tmp_path, run):
    folder = make_folder(tmp_path / "mine", USER_FOLDERS["notes"])
    (tmp_path / "to-mine").symlink_to("mine")
    before = snapshot(folder)
    assert_one_line_error(cli(*RUNS[run](tmp_path / "to-mine")), REFUSED)
    assert snapshot(folder) == before
    (tmp_path / "model").mkdir()
    (tmp_path / "to-model").symlink_to("model")
    result = cli(*RUNS[run](tmp_path / "to-model"))
    assert result.exit_code == 0, result.output
    assert (tmp_path / "to-model").is_symlink() and is_model_directory(tmp_path / "model")


def test_ngrams_default_directory_is_refused_when_a_user_made_it(cli, tmp_path, corpora_root, monkeypatch):
    from lmkit.corpus.catalog import get_corpus

    paths = TINY["en"]
    name = get_corpus(train=paths["train"], valid=paths["valid"], test=paths["test"]).name
    monkeypatch.chdir(tmp_path)
    folder = make_folder(tmp_path / "checkpoints" / f"{name}-char-2gram-kn", USER_FOLDERS["notes"])
    before = snapshot(folder)
    result = cli(*ngram_args(tmp_path / "x")[:-2])  # without --out
    assert_one_line_error(result, str(Path("checkpoints") / folder.name), REFUSED)
    assert snapshot(folder) == before


def test_a_new_or_empty_folder_becomes_a_marked_model_directory_and_a_failed_run_leaves_it_as_it_was(cli, tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    assert cli(*train_args(empty, "--batch-size", "100000")).exit_code == 1
    assert list(empty.iterdir()) == []  # no marker left behind by a run that wrote nothing
    assert cli(*train_args(tmp_path / "new", "--batch-size", "100000")).exit_code == 1
    assert not (tmp_path / "new").exists()
    for out, run in ((empty, train_args(empty, "--max-steps", "2")), (tmp_path / "n", ngram_args(tmp_path / "n"))):
        result = cli(*run)
        assert result.exit_code == 0, result.output
        assert (out / MARKER_FILE).read_text() == MARKER_TEXT and is_model_directory(out)
    assert (empty / "last" / MARKER_FILE).read_text() == MARKER_TEXT  # last/ is a model directory too


def unmark(directory: Path) -> None:
    """Make a model directory look as lmkit wrote it before the marker existed."""
    for marker in directory.rglob(MARKER_FILE):
        marker.unlink()


def test_a_model_directory_from_before_the_marker_is_still_resumed_overwritten_and_rebuilt(cli, tmp_path):
    run = tmp_path / "run"
    assert cli(*train_args(run, "--max-steps", "2", "--save-every", "1")).exit_code == 0
    unmark(run)
    (run / "config.json").unlink()  # a run killed before its first best model: only last/ says it is lmkit's
    assert is_model_directory(run)
    result = cli("train", "--resume", run, "--max-steps", "4", "--quiet", "--sample-tokens", "0")
    assert result.exit_code == 0, result.output
    assert load_resume(run)[3]["step"] == 4 and (run / MARKER_FILE).exists()
    unmark(run)
    result = cli(*train_args(run, "--max-steps", "1", "--overwrite"))
    assert result.exit_code == 0, result.output
    assert load_resume(run)[3]["step"] == 1
    ngram = tmp_path / "ngram"
    assert cli(*ngram_args(ngram)).exit_code == 0
    unmark(ngram)
    result = cli(*ngram_args(ngram, "--smoothing", "add-k", "--overwrite"))
    assert result.exit_code == 0, result.output
    assert load_model(ngram)[2]["smoothing"] == "add-k"


def test_overwrite_replaces_a_model_only_with_one_of_its_own_family(cli, tmp_path):
    """First-hour pass, session 51: `lmkit train --overwrite` onto an N-gram's folder left model.ngram.npz beside
    the new model.safetensors; `lmkit ngram --overwrite` already refused a recurrent model's folder."""
    ngram = tmp_path / "ngram"
    assert cli(*ngram_args(ngram)).exit_code == 0
    before = {p.name: p.read_bytes() for p in ngram.iterdir() if p.is_file()}
    result = cli(*train_args(ngram, "--max-steps", "1", "--overwrite"))
    assert_one_line_error(result, f"--out {ngram} holds a model of kind ngram, not a recurrent one")
    assert {p.name: p.read_bytes() for p in ngram.iterdir() if p.is_file()} == before
    run = tmp_path / "run"
    assert cli(*train_args(run, "--max-steps", "1")).exit_code == 0
    assert_one_line_error(cli(*ngram_args(run, "--overwrite")), f"--out {run} holds a model of kind lstm, not an N-gram")


def test_a_staging_folder_is_proved_lmkits_by_its_name_alone(tmp_path):
    """From the moment mkdir makes it: a killed save's empty staging folder is lmkit's, a user's folder named like
    one (mkdtemp's 8 characters, as the names were before) is not, whatever it holds."""
    made = make_staging_folder(tmp_path, "save")
    assert is_staging_name(made.name) and made.is_dir() and not any(made.iterdir())
    assert stat.S_IMODE(made.stat().st_mode) == 0o700
    shared = make_staging_folder(tmp_path, "last", mode=0o777)
    assert is_staging_name(shared.name) and stat.S_IMODE(shared.stat().st_mode) == new_dir_mode()
    wrong = made.name[:-1] + ("1" if made.name.endswith("0") else "0")
    assert not any(map(is_staging_name, [f"{TEMP_PREFIX}save.mybackup", wrong, made.name.replace(".save.", ".notes.")]))


def test_in_its_own_directory_lmkit_removes_only_its_own_temporaries(cli, tmp_path):
    run = tmp_path / "run"
    assert cli(*train_args(run, "--max-steps", "2")).exit_code == 0
    killed = [temporary_name("save", "k1ll3dax"), temporary_name("last", "k1ll3dbx"), temporary_name("config.json", "k1ll3dcx"),
              temporary_name("save", "k1ll3ddx")]  # make_staging_folder's names, and atomic_write's
    make_folder(run, {f"{killed[0]}/model.safetensors": b"half", f"{killed[1]}/": b"",
                      killed[2]: b"{", f"{killed[3]}/members/0/{temporary_name('config.json', 'k1ll3dex')}": b"{",
                      f"{killed[3]}/config.json": b"{}",  # save_last stages save_model:
                      f"{killed[1]}/{temporary_name('save', 'k1ll3dfx')}/model.safetensors": b"half"})
    theirs = {".draft.tmp": b"1\n", ".save.x/f": b"2\n", ".last.x/": b"", ".config.json.1234.tmp": b"{",
              f"{TEMP_PREFIX}notes/a.txt": b"mine", f"{TEMP_PREFIX}mine.txt": b"mine",  # under the prefix, yet
              f"{TEMP_PREFIX}save.x/f": b"mine", f"{TEMP_PREFIX}notes.txt.abcdefgh": b"mine",  # not lmkit's
              f"{TEMP_PREFIX}save.mybackup/u.txt": b"mine",  # a staging folder's name holding what no save writes
              f"{TEMP_PREFIX}save.backup01/config.json": b"{}",  # ... or a copy of the model's files: the user's
              f"{TEMP_PREFIX}save.backup01/model.safetensors": b"mine", f"{TEMP_PREFIX}last.emptydir/": b"",
              f"{temporary_name('save', 'abcdefgh')[:-8]}00000000/model.safetensors": b"mine",  # digits that do not fit
              f"{TEMP_PREFIX}save.snapshot/{TEMP_PREFIX}notes.txt.abcdefgh": b"mine",
              f"{TEMP_PREFIX}config.json.abcdefgh": b"mine",  # an older lmkit's temporary name (mkstemp's): no check
              f"{TEMP_PREFIX}model.safetensors.zz_zz_zz": b"mine",
              f"{temporary_name('config.json', 'abcdefgh')[:-8]}00000000": b"mine",  # digits that do not fit
              temporary_name("metrics.jsonl", "abcdefgh"): b"mine"}  # metrics.jsonl is appended to, never staged
    make_folder(run, theirs)
    result = cli("train", "--resume", run, "--max-steps", "3", "--quiet", "--sample-tokens", "0")
    assert result.exit_code == 0, result.output
    assert not any((run / name).exists() for name in killed)
    assert all((run / name).exists() for name in theirs)


def test_a_marker_must_be_a_regular_file_lmkit_wrote(tmp_path):
    real = make_folder(tmp_path / "real", {MARKER_FILE: MARKER_TEXT.encode()})
    linked = make_folder(tmp_path / "linked", {"notes.txt": b"x"})
    (linked / MARKER_FILE).symlink_to(real / MARKER_FILE)
    truncated = make_folder(tmp_path / "truncated", {MARKER_FILE: MARKER_TEXT.encode()[:-1]})
    longer = make_folder(tmp_path / "longer", {MARKER_FILE: MARKER_TEXT.encode() + b"more"})
    assert is_model_directory(real)
    assert not any(is_model_directory(d) for d in (linked, truncated, longer))


@pytest.mark.parametrize("shape", ["notes", "foreign-config", "learning-curve-only"])
def test_save_model_refuses_a_users_folder(tmp_path, tiny_en, shape):
    from lmkit.text.tokenizer_cache import get_tokenizer
    from lm_fixtures import ngram_dir

    tokenizer = get_tokenizer(tiny_en, "char")
    folder = make_folder(tmp_path / "mine", USER_FOLDERS[shape])
    before = snapshot(folder)
    with pytest.raises(CheckpointError, match=REFUSED):
        ngram_dir(folder, tiny_en, tokenizer, order=2, smoothing="add-k")
    assert snapshot(folder) == before
    saved = ngram_dir(tmp_path / "model", tiny_en, tokenizer, order=2, smoothing="add-k")
    save_model(saved, *load_model(saved)[:2])  # its own directory: saved again in place
    assert is_model_directory(saved)


@pytest.mark.parametrize("shape", ["notes", "learning-curve-only", "foreign-config"])
def test_the_suite_replaces_only_its_own_model_directories(tmp_path, tiny_en, shape):
    from lmkit.report.suite import fresh_directory
    from lmkit.text.tokenizer_cache import get_tokenizer
    from lm_fixtures import ngram_dir

    folder = make_folder(tmp_path / "report" / "models" / "lstm", USER_FOLDERS[shape])
    before = snapshot(folder)
    with pytest.raises((CheckpointError, ConfigError), match=REFUSED):
        fresh_directory(folder)
    assert snapshot(folder) == before
    own = ngram_dir(tmp_path / "report" / "models" / "ngram", tiny_en, get_tokenizer(tiny_en, "char"), order=2, smoothing="add-k")
    for stray in ("notes.txt", "plots/p.csv", "members/thesis.txt", "trainer_state.pt/x", ".lock"):  # refused, kept
        make_folder(own, {stray: b"mine\n"})
        with pytest.raises(ConfigError, match=f"{own / stray.split('/')[0]}: is not lmkit's, and the suite replaces"):
            fresh_directory(own)
        assert (own / stray).read_bytes() == b"mine\n"
        shutil.rmtree(own / stray.split("/")[0]) if "/" in stray else (own / stray).unlink()
    fresh_directory(own)
    assert not own.exists()


def test_the_refusal_names_what_marks_a_model_directory(cli, tmp_path):
    folder = make_folder(tmp_path / "mine", USER_FOLDERS["foreign-config"])
    result = cli(*train_args(folder, "--max-steps", "2"))
    assert_one_line_error(result, MARKER_FILE, "config.json", "choose another --out")
    assert json.loads((folder / "config.json").read_text())["name"] == "my web app"


@pytest.mark.parametrize("run", ["train", "ngram"])
def test_an_out_below_a_file_names_the_file(cli, tmp_path, run):
    (tmp_path / "checkpoints").write_text("a user's notes\n")
    result = cli(*RUNS[run](tmp_path / "checkpoints" / "sub"))
    assert_one_line_error(result, f"{tmp_path / 'checkpoints'} is a file, not a folder")
    assert (tmp_path / "checkpoints").read_text() == "a user's notes\n"


# Entries of the user's inside a run's last/ or last.old/, which lmkit replaces whole when it saves.
IN_LAST_FOLDERS = {
    "a file in last/": lambda run, mine: (run / "last" / "mine.txt").write_bytes(b"3\n"),
    "a file in last.old/": lambda run, mine: make_folder(run / "last.old", {"precious.txt": b"4\n"}),
    "a folder in last/": lambda run, mine: (run / "last" / "drafts").mkdir(),
    "a link under lmkit's name": lambda run, mine: ((run / "last" / "tokenizer.json").unlink(),
                                                    (run / "last" / "tokenizer.json").symlink_to(mine)),
    "last/ a link": lambda run, mine: ((run / "last.old").mkdir(), (run / "last").rename(run / "last.old" / "x"),
                                       (run / "last").symlink_to(mine.parent)),
}
ACTIONS = {
    "resume": lambda run: ["train", "--resume", run, "--max-steps", "4", "--quiet", "--sample-tokens", "0"],
    "overwrite": lambda run: train_args(run, "--max-steps", "2", "--overwrite"),
}


@pytest.mark.parametrize("action", ACTIONS)
@pytest.mark.parametrize("entry", IN_LAST_FOLDERS)
def test_a_users_entry_in_last_is_refused_by_name_before_training(cli, tmp_path, entry, action):
    run, mine = tmp_path / "run", make_folder(tmp_path / "own", {"mine.txt": b"mine\n"}) / "mine.txt"
    assert cli(*train_args(run, "--max-steps", "2")).exit_code == 0
    IN_LAST_FOLDERS[entry](run, mine)
    before = snapshot(tmp_path)
    result = cli(*ACTIONS[action](run))
    if "link" in entry and action == "resume":  # --resume refuses links (and a last/ without state) on its own terms
        assert_one_line_error(result)
    else:
        assert_one_line_error(result, "is not lmkit's, and lmkit replaces", "move it out of there")
    assert snapshot(tmp_path) == before


@pytest.mark.parametrize("action", [*ACTIONS, "out"])
def test_a_refused_run_adds_no_marker_to_a_users_folder_holding_a_copied_last(cli, tmp_path, action):
    """A run's last/ copied into a folder of the user's makes that folder look like a model directory from
    before the marker (an lmkit config.json in last/). A run refused there leaves the folder exactly as it was:
    the marker it claimed the folder with is taken back, so the folder is not lmkit's from then on, and the
    folder's own modification time is given back (the marker and lock written and removed had changed it)."""
    run = tmp_path / "run"
    assert cli(*train_args(run, "--max-steps", "2")).exit_code == 0
    user = make_folder(tmp_path / "user", {"notes.txt": b"mine\n"})
    shutil.copytree(run / "last", user / "last")
    (user / "last" / "mine.txt").write_bytes(b"3\n")
    os.utime(user, ns=(1_000_000_000_000_000_000, 1_000_000_000_000_000_000))  # 2001: any change would show
    before, mtime = snapshot(user), user.stat().st_mtime_ns
    if action == "out":  # a new run into what looks like a stopped one
        assert_one_line_error(cli(*train_args(user, "--max-steps", "2")), "holds a stopped run")
    else:
        assert_one_line_error(cli(*ACTIONS[action](user)), "is not lmkit's, and lmkit replaces", "move it out of there")
    assert snapshot(user) == before
    assert user.stat().st_mtime_ns == mtime


@pytest.mark.parametrize("action", [*ACTIONS, "out"])
@pytest.mark.parametrize("name", ["config.json", "model.safetensors", "tokenizer.json", "metrics.jsonl", MARKER_FILE,
                                  ".lock"])
def test_a_users_file_beside_a_copied_last_is_refused_not_replaced(cli, tmp_path, action, name):
    """A folder that is lmkit's only by a last/ copied into it has nothing of lmkit's at its top: a file there under
    a name lmkit saves is the user's. --resume and --overwrite had replaced the user's config.json, weights and
    tokenizer, and appended lmkit's learning curve to the user's metrics.jsonl (exit 0). The message names the
    option that named the folder."""
    run = tmp_path / "run"
    assert cli(*train_args(run, "--max-steps", "2")).exit_code == 0
    user = make_folder(tmp_path / "user", {"notes.txt": b"mine\n", name: b'{"a": 1}\n'})
    shutil.copytree(run / "last", user / "last")
    before = snapshot(user)
    command = ACTIONS[action](user) if action in ACTIONS else train_args(user, "--max-steps", "2")
    named_by = "--resume" if action == "resume" else "--out"
    assert_one_line_error(cli(*command), f"{user / name}: is not lmkit's, and lmkit saves its model there",
                          f"move it, or choose another {named_by}")
    assert snapshot(user) == before


def test_a_users_file_put_into_last_during_the_run_stops_the_save_not_the_file(tmp_path, cli):
    from lmkit.train.resume_state import save_last

    run = tmp_path / "run"
    assert cli(*train_args(run, "--max-steps", "2")).exit_code == 0
    model, tokenizer, config, state = load_resume(run)
    (run / "last" / "mine.txt").write_bytes(b"3\n")
    before = snapshot(run)
    with pytest.raises(CheckpointError, match="mine.txt: is not lmkit's.*the previous checkpoint is intact"):
        save_last(run, model, tokenizer, state, {})
    assert snapshot(run) == before  # the staging folder gone, the old last/ and the file as they were


def test_save_last_writes_only_the_names_it_proves_its_own(tmp_path, cli):
    from lmkit.train.resume_state import LAST_FILES

    for model in ("lstm", "scratch-rnn", "bilstm"):
        run = tmp_path / model
        assert cli(*train_args(run, "--max-steps", "2", "--model", model)).exit_code == 0
        assert {entry.name for entry in (run / "last").iterdir()} <= LAST_FILES


def test_a_lock_file_of_the_users_is_refused_and_a_stale_lock_of_lmkits_is_taken(cli, tmp_path):
    run = tmp_path / "run"
    assert cli(*train_args(run, "--max-steps", "2")).exit_code == 0
    (run / ".lock").write_bytes(b"my lock notes\n")
    before = snapshot(run)
    assert_one_line_error(cli(*ACTIONS["resume"](run)), f"{run / '.lock'}: is not lmkit's lock")
    assert snapshot(run) == before
    (run / ".lock").write_bytes(b"12345\n")  # what a killed run leaves
    result = cli(*ACTIONS["resume"](run))
    assert result.exit_code == 0, result.output
    assert not (run / ".lock").exists()


@pytest.mark.parametrize("run", ["train-overwrite", "ngram"])
def test_a_users_folder_under_the_name_of_a_model_file_is_refused_not_removed(cli, tmp_path, run):
    out = tmp_path / "m"
    assert cli(*RUNS[run](out)).exit_code == 0
    (out / "tokenizer.json").unlink()
    make_folder(out, {"tokenizer.json/notes.txt": b"mine\n"})
    before = snapshot(out)
    result = cli(*RUNS[run](out))
    assert_one_line_error(result, f"{out / 'tokenizer.json'}: is a directory where lmkit saves a file, and not lmkit's")
    assert (out / "tokenizer.json" / "notes.txt").read_bytes() == b"mine\n"
    assert {k: v for k, v in snapshot(out).items() if not k.startswith("last")} == \
        {k: v for k, v in before.items() if not k.startswith("last")}


@pytest.mark.parametrize("lock", [
    b"31415926535897932384626433832795028841971693993751058209749445923078164062862\nmy notes\n",  # digits first
    "hard link",
])
def test_a_lock_file_lmkit_did_not_write_is_refused_however_it_starts(cli, tmp_path, lock):
    run = tmp_path / "run"
    assert cli(*train_args(run, "--max-steps", "2")).exit_code == 0
    mine = tmp_path / "mine.txt"
    mine.write_bytes(b"" if lock == "hard link" else lock)
    if lock == "hard link":
        os.link(mine, run / ".lock")  # empty, as a lock lmkit just created is: but another name's too
    else:
        mine.rename(run / ".lock")
    before = snapshot(tmp_path)
    assert_one_line_error(cli(*ACTIONS["resume"](run)), f"{run / '.lock'}: is not lmkit's lock")
    assert snapshot(tmp_path) == before


@pytest.mark.parametrize("entry", [f"last/{TEMP_PREFIX}mine/data.txt", f"last.old/{TEMP_PREFIX}mine/data.txt"])
def test_a_folder_under_lmkits_temporary_prefix_inside_last_is_the_users(cli, tmp_path, entry):
    """lmkit makes only temporary files in last/ (write_bytes_atomic), never folders."""
    run = tmp_path / "run"
    assert cli(*train_args(run, "--max-steps", "2")).exit_code == 0
    make_folder(run, {entry: b"precious\n"})
    before = snapshot(run)
    assert_one_line_error(cli(*ACTIONS["resume"](run)), "is not lmkit's, and lmkit replaces")
    assert snapshot(run) == before


@pytest.mark.parametrize("plant", ["folder", "link", "hard link", "fifo"])
def test_metrics_jsonl_must_be_lmkits_before_training(cli, tmp_path, plant):
    run = tmp_path / "run"
    assert cli(*train_args(run, "--max-steps", "2")).exit_code == 0
    mine = run / "notes.txt"  # a link inside the folder is read, but appending would write into the user's file
    mine.write_text("MY NOTE\n")
    (run / "metrics.jsonl").unlink()
    {"folder": lambda path: path.mkdir(), "link": lambda path: path.symlink_to(mine),
     "hard link": lambda path: os.link(mine, path), "fifo": os.mkfifo}[plant](run / "metrics.jsonl")
    before = snapshot(tmp_path)
    result = cli(*ACTIONS["resume"](run))
    assert_one_line_error(result, "metrics.jsonl", {"folder": "is a directory where lmkit saves a file",
                                                    "link": "is a symbolic link, and lmkit appends",
                                                    "hard link": "is hard-linked to another name too",
                                                    "fifo": "is a FIFO (named pipe) where lmkit saves a file"}[plant])
    assert "resuming" not in result.output  # refused before training, not after it
    assert snapshot(tmp_path) == before


@pytest.mark.parametrize("name", ["model.safetensors", "tokenizer.json", "config.json"])
def test_a_link_where_lmkit_saves_a_file_is_the_users_and_stays(cli, tmp_path, name):
    """Adversarial pass 27: `--overwrite` replaced a user's link at model.safetensors or tokenizer.json inside a
    model folder with a regular file. lmkit's saves make no links, so one there is the user's: refused."""
    run, mine = tmp_path / "run", tmp_path / "mine" / name
    assert cli(*train_args(run, "--max-steps", "2")).exit_code == 0
    mine.parent.mkdir()
    (run / name).rename(mine)
    (run / name).symlink_to(mine)
    before = snapshot(tmp_path)
    assert_one_line_error(cli(*train_args(run, "--max-steps", "2", "--overwrite")), f"{run / name}: is a symbolic link",
                          "not lmkit's")
    assert snapshot(tmp_path) == before and (run / name).is_symlink()


@pytest.mark.parametrize("plant", ["link", "fifo", "folder"])
def test_an_ngram_rebuild_keeps_what_the_user_put_at_its_weights_file(cli, tmp_path, plant):
    """Adversarial pass 29: a link or FIFO of the user's at model.ngram.npz was replaced by a rebuild, where the
    same at tokenizer.json was refused; a folder there was named as a failed save."""
    out, mine = tmp_path / "n", tmp_path / "mine.txt"
    assert cli(*ngram_args(out)).exit_code == 0
    mine.write_text("my notes\n")
    weights = out / "model.ngram.npz"
    weights.unlink()
    {"link": lambda: weights.symlink_to(mine), "fifo": lambda: os.mkfifo(weights), "folder": weights.mkdir}[plant]()
    before = snapshot(tmp_path)
    assert_one_line_error(cli(*ngram_args(out, "--smoothing", "add-k", "--overwrite")), f"{weights}: is ",
                          "where lmkit saves a file, and not lmkit's")
    assert snapshot(tmp_path) == before


@pytest.mark.parametrize("plant", ["fifo", "hard link"])
def test_an_ngram_rebuild_checks_metrics_jsonl_before_it_builds(cli, tmp_path, plant):
    out, mine = tmp_path / "n", tmp_path / "mine.txt"
    assert cli(*ngram_args(out)).exit_code == 0
    mine.write_text("my notes\n")
    (out / "metrics.jsonl").unlink()
    os.mkfifo(out / "metrics.jsonl") if plant == "fifo" else os.link(mine, out / "metrics.jsonl")
    before = snapshot(tmp_path)
    assert_one_line_error(cli(*ngram_args(out, "--smoothing", "add-k", "--overwrite")),
                          f"{out / 'metrics.jsonl'}")  # no hang
    assert snapshot(tmp_path) == before  # the model not replaced, the file as it was


def test_an_ngram_rebuild_starts_its_learning_curve_afresh(cli, tmp_path):
    out = tmp_path / "n"
    assert cli(*ngram_args(out)).exit_code == 0
    assert cli(*ngram_args(out, "--smoothing", "add-k", "--overwrite")).exit_code == 0
    assert len((out / "metrics.jsonl").read_text().splitlines()) == 1


@pytest.mark.parametrize("command", ["ngram", "train"])
def test_another_ngram_replaces_the_one_in_out_only_with_overwrite(cli, tmp_path, command):
    """`lmkit ngram --out D` replaced whatever N-gram D held (a pku98 5-gram by a tang300 3-gram) unasked, where
    `lmkit train` asks for --overwrite. The same N-gram, rebuilt, is what was there: it needs none."""
    out = tmp_path / "n"
    args = (lambda *extra: ngram_args(out, *extra)) if command == "ngram" else \
        (lambda *extra: ["train", "--model", "ngram", *ngram_args(out, *extra)[1:]])
    assert cli(*args()).exit_code == 0
    assert cli(*args()).exit_code == 0  # the same command again: rebuilt
    before = snapshot(tmp_path)
    for other in (["--order", "3"], ["--smoothing", "add-k"], ["--direction", "backward"]):
        assert_one_line_error(cli(*args(*other)), f"--out {out} holds another N-gram (",
                              "add --overwrite to replace it, or choose another --out")
        assert snapshot(tmp_path) == before
    assert cli(*args("--order", "3", "--overwrite")).exit_code == 0
    assert load_model(out)[2]["order"] == 3


def test_the_suite_leaves_a_model_folder_a_process_is_training_in(tmp_path, tiny_en):
    from lmkit.report.suite import fresh_directory
    from lmkit.text.tokenizer_cache import get_tokenizer
    from lmkit.train.resume_state import DirectoryLock
    from lm_fixtures import ngram_dir

    own = ngram_dir(tmp_path / "models" / "ngram", tiny_en, get_tokenizer(tiny_en, "char"), order=2, smoothing="add-k")
    with DirectoryLock(own):  # as another lmkit process holds it while it trains there
        before = snapshot(own)
        with pytest.raises(ConfigError, match="another lmkit process is training into this directory"):
            fresh_directory(own)
        assert snapshot(own) == before


def test_the_suite_checks_every_model_folder_before_it_replaces_any(tmp_path, tiny_en):
    """A user's file in the last folder the suite trains into is refused before the first is replaced (it had
    retrained and replaced the N-grams and two recurrent models first, and then stopped with no report)."""
    from lmkit.report.suite import SuiteConfig, run_suite
    from lmkit.text.tokenizer_cache import get_tokenizer
    from lm_fixtures import ngram_dir

    tokenizer = get_tokenizer(tiny_en, "char")
    models = tmp_path / "out" / "models"
    first = ngram_dir(models / "ngram-add-k-1", tiny_en, tokenizer, order=1, smoothing="add-k")
    last = ngram_dir(models / "lstm", tiny_en, tokenizer, order=2)
    (last / "notes.txt").write_text("mine")
    before = snapshot(models)
    with pytest.raises(ConfigError, match=f"{last / 'notes.txt'}: is not lmkit's"):
        run_suite(tiny_en, tokenizer, tmp_path / "out", SuiteConfig(budget_minutes=0.01))
    assert snapshot(models) == before and (first / "config.json").is_file()


def test_suite_reuse_keeps_only_models_of_this_corpus_and_vocabulary(tmp_path, tiny_en, tiny_zh):
    """--reuse kept any folder with a config.json: English models were scored on Chinese text and recorded
    with commands naming the Chinese corpus."""
    from lmkit.report.suite import SuiteConfig, ngram_plan, reusable
    from lmkit.text.tokenizer_cache import get_tokenizer
    from lm_fixtures import ngram_dir

    english, chinese = get_tokenizer(tiny_en, "char"), get_tokenizer(tiny_zh, "char")
    plan = {m.name: m for m, _, _ in ngram_plan(tiny_en, SuiteConfig(), tmp_path / "models")}
    kn = plan["2-gram Kneser-Ney"]
    ngram_dir(kn.directory, tiny_en, english, order=2)
    config = json.loads((kn.directory / "config.json").read_text())
    config["train"] = {"command": kn.command}
    (kn.directory / "config.json").write_text(json.dumps(config))
    assert reusable(kn.directory, tiny_en, english, kn.command)
    assert not reusable(kn.directory, tiny_zh, chinese, kn.command)      # another corpus and vocabulary
    assert not reusable(kn.directory, tiny_en, english, kn.command.replace("--order 2", "--order 3"))
    assert not reusable(tmp_path / "models" / "lstm", tiny_en, english)  # nothing trained there yet
    from lmkit.report.suite import suite_model
    from lm_fixtures import rnn_dir

    lstm = rnn_dir(tmp_path / "models" / "lstm", tiny_en, english)  # a 16-unit LSTM, not the suite's 1 x 256
    assert reusable(lstm, tiny_en, english) and not reusable(lstm, tiny_en, english, model=suite_model(SuiteConfig(),
                                                                                                       "lstm", len(english.vocab)))
    config = json.loads((lstm / "config.json").read_text())
    assert not reusable(lstm, tiny_en, english, model={"kind": config["kind"], "model": config["model"]})  # unfinished
    config["train"] = {**config.get("train", {}), "stopped": "max_time"}
    (lstm / "config.json").write_text(json.dumps(config))
    assert reusable(lstm, tiny_en, english, model={"kind": config["kind"], "model": config["model"]})
    (lstm / "config.json").write_text(json.dumps({**config, "direction": "backward"}))
    assert not reusable(lstm, tiny_en, english, model={"kind": config["kind"], "model": config["model"]})


@pytest.mark.parametrize("command", [["eval"], ["generate"], ["report", "--out", "REPORT"]])
def test_reading_a_model_folder_before_its_training_first_saved_says_so(cli, tmp_path, command):
    """It said 'not a model directory (no config.json; was training interrupted before the first save?)' while
    the run was alive and well, only not yet validated."""
    from lmkit.train.resume_state import DirectoryLock

    folder = tmp_path / "m"
    with DirectoryLock(folder):  # as a run holds it from its start to its end
        args = [str(tmp_path / "r") if arg == "REPORT" else arg for arg in command]
        assert_one_line_error(cli(args[0], folder, *args[1:]), f"{folder}: another lmkit process is training into "
                                                               "this directory and has not saved a model yet")


def test_a_model_read_while_a_run_replaces_it_says_so(cli, tmp_path, tiny_en):
    """Adversarial pass 24: `lmkit eval` racing `lmkit train --overwrite` into the same folder read the old
    config.json with the new weights and blamed a shape, as if the folder were damaged."""
    from lmkit.text.tokenizer_cache import get_tokenizer
    from lmkit.train.resume_state import DirectoryLock
    from lm_fixtures import rnn_dir

    folder = rnn_dir(tmp_path / "m", tiny_en, get_tokenizer(tiny_en, "char"))
    config = json.loads((folder / "config.json").read_text())
    config["model"]["hidden_size"] *= 2  # as the new run's config beside the old run's weights
    (folder / "config.json").write_text(json.dumps(config))
    alone = cli("eval", folder)
    assert alone.exit_code == 1 and "another lmkit process" not in alone.stderr
    with DirectoryLock(folder):
        assert_one_line_error(cli("eval", folder), f"{folder}: another lmkit process is writing this model",
                              "did not fit together as read", "read it again once that run is done")


def test_a_model_replaced_while_it_was_read_says_so_after_the_writer_let_go(cli, tmp_path, tiny_en, monkeypatch):
    """Adversarial pass 79: a load racing `ngram --overwrite` read files of two saves and blamed an edit ("was
    config.json edited?") when the writer had already let its lock go. A model whose files changed during the
    read says so; one that did not change keeps its own error."""
    import lmkit.checkpoint.save_load as save_load
    from lmkit.text.tokenizer_cache import get_tokenizer
    from lm_fixtures import rnn_dir

    folder = rnn_dir(tmp_path / "m", tiny_en, get_tokenizer(tiny_en, "char"))
    config = json.loads((folder / "config.json").read_text())
    config["model"]["hidden_size"] *= 2  # as the new save's config beside the old save's weights
    (folder / "config.json").write_text(json.dumps(config))
    alone = cli("eval", folder)
    assert alone.exit_code == 1 and "replaced while" not in alone.stderr and "hidden_size" in alone.stderr
    reading = save_load.read_model

    def replaced_midway(directory, read_config):  # the other save renames its weights in, then lets go
        weights, fresh = directory / "model.safetensors", directory / "fresh"
        fresh.write_bytes(weights.read_bytes())
        os.replace(fresh, weights)
        return reading(directory, read_config)

    monkeypatch.setattr(save_load, "read_model", replaced_midway)
    assert_one_line_error(cli("eval", folder), f"{folder}: its files were replaced while they were read, by another "
                          "lmkit process saving a model there", "read it again")


@pytest.mark.parametrize("command", [["eval"], ["generate", "--max-tokens", "5"], ["report", "--out", "REPORT"]])
def test_a_model_read_while_a_run_still_writes_there_is_said_to_be_the_one_saved_so_far(cli, tmp_path, monkeypatch,
                                                                                         command):
    """Adversarial pass 79: `report` of a run still training printed its figures as any finished run's. They are
    its last validation's: a warning says so and names the step; without a run at work nothing is said."""
    from conftest import train_tiny
    from lmkit.train.resume_state import DirectoryLock

    folder = train_tiny(tmp_path, "m")
    monkeypatch.setenv("LMKIT_CORPORA", str(tmp_path / "corpora"))  # where it cached its corpus
    step = json.loads((folder / "config.json").read_text())["valid"]["step"]
    args = [str(tmp_path / "r") if arg == "REPORT" else arg for arg in command]
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        quiet = cli(args[0], folder, *args[1:])
    assert quiet.exit_code == 0, quiet.output
    assert not [w for w in caught if "another lmkit process" in str(w.message)]
    args = [str(tmp_path / "r2") if arg == "REPORT" else arg for arg in command]
    said = (f"{folder}: another lmkit process is writing into this directory (it holds .lock): this is the model "
            f"saved there at step {step:,}, not what that run will end with")
    with DirectoryLock(folder), pytest.warns(UserWarning, match=re.escape(said)):  # as a run holds it throughout
        busy = cli(args[0], folder, *args[1:])
    assert busy.exit_code == 0, busy.output


def test_an_ngram_rebuild_stopped_midway_keeps_the_old_models_learning_curve(cli, tmp_path, monkeypatch):
    """The rebuild removed metrics.jsonl before counting; a SIGHUP during the count left the old model without
    it. The old line now goes only when the new model is saved."""
    import lmkit.commands.ngram as ngram_command

    out = tmp_path / "n"
    assert cli(*ngram_args(out)).exit_code == 0
    before = snapshot(tmp_path)

    def stopped(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(ngram_command, "build_with_warnings", stopped)
    assert cli(*ngram_args(out)).exit_code == 130
    assert snapshot(tmp_path) == before
    monkeypatch.undo()
    assert cli(*ngram_args(out)).exit_code == 0
    assert len((out / "metrics.jsonl").read_text().splitlines()) == 1


@pytest.mark.parametrize("signame", ["SIGTERM", "SIGHUP"])
def test_an_ngram_rebuild_stopped_while_its_files_move_in_is_the_new_model_whole(cli, tmp_path, monkeypatch, signame):
    """The model's files and its learning curve were renamed into place in two steps, and a stop between them
    left the new 3-gram's config.json beside the old 2-gram's metrics.jsonl (a report then showed the old model's
    figures and train time for the new one). They now move in together, the stop acting once they have."""
    import signal

    from lmkit.cli import CommandStops

    out = tmp_path / "n"
    assert cli(*ngram_args(out)).exit_code == 0
    signum, replace = signal.Signals[signame], os.replace

    def stop_on_the_first_rename(source, target):
        if Path(target).parent == out:  # moving in (the files written into the staging folder before are not)
            monkeypatch.setattr(os, "replace", replace)
            os.kill(os.getpid(), signum)  # the command's handler, below, would raise it here
        replace(source, target)

    previous = signal.signal(signum, CommandStops())  # as lmkit.cli.main installs it
    try:
        monkeypatch.setattr(os, "replace", stop_on_the_first_rename)
        result = cli(*ngram_args(out, "--order", "3", "--overwrite"))
    finally:
        signal.signal(signum, previous)
    assert result.exit_code == 128 + signum, result.output
    config = json.loads((out / "config.json").read_text())
    curve = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert config["order"] == 3 and curve == [config["valid"]]
