"""The names of lmkit's temporary files and staging folders, and the reclaiming of those a killed process left.

Every temporary file or staging folder lmkit makes is named

    .lmkit-tmp.<what>.<token>.<check>      what: the file it will replace (or a staging folder's kind)
                                           token: 8 random letters or digits
                                           check: 8 hex digits of sha256("lmkit temporary <what> <token>")

so lmkit can prove its own leftovers from their names alone, and never takes a user's file for one: a name
typed by hand has no check that fits.

A name proves who made a temporary file, not that its writer is gone: two runs may write the same output at
once. So a writer holds an exclusive flock(2) on its temporary file while it writes (`hold`), which the kernel
lets go when the process ends, however it ends (kill -9 included). A temporary file of the same target whose
lock can be taken is then a dead writer's, half of an output at most, and the next write of that target
removes it (`reclaim_dead`); one whose lock is held is a live writer's and stays. A writer takes its lock
just after making the file, so a file younger than FRESH_SECONDS is left too, lock or not. A temporary folder a
download or a corpus is built in is held and reclaimed the same way (`held_folder`, `reclaim_dead_folders`).
"""
from __future__ import annotations

import contextlib
import errno
import fcntl
import hashlib
import os
import re
import secrets
import shutil
import stat
import string
import time
from pathlib import Path
from typing import Callable, Iterator, TypeVar

TEMP_PREFIX = ".lmkit-tmp."  # every temporary file or staging folder lmkit makes: .lmkit-tmp.<what>.<token>.<check>
TEMPORARY_NAME = re.compile(re.escape(TEMP_PREFIX) + r"(.+)\.([a-z0-9]{8})\.([0-9a-f]{8})")
TOKEN_LETTERS = string.ascii_lowercase + string.digits
NAME_MAX_BYTES = 255  # the longest file name (in bytes) Linux's file systems take
FRESH_SECONDS = 2.0  # a temporary file modified this recently may be a writer's that has not taken its lock yet
NO_LOCKS = (errno.ENOLCK, errno.EOPNOTSUPP, errno.ENOTSUP, errno.EINVAL)  # a file system without flock(2)


def name_check(what: str, token: str) -> str:
    """The 8 hex digits that end a temporary name after its random token. They prove the file or folder lmkit's
    from the moment it is made, before anything is written there: a user's file or folder named like one
    (.lmkit-tmp.config.json.abcdefgh, .lmkit-tmp.save.mybackup) has no digits that fit."""
    # os.fsencode: a name read from the file system or typed in a non-UTF-8 locale holds its undecodable bytes
    # as lone surrogates, which str.encode refuses; fsencode gives back the bytes the file system holds
    return hashlib.sha256(b"lmkit temporary " + os.fsencode(what) + b" " + token.encode()).hexdigest()[:8]


def temporary_name(what: str, token: str) -> str:
    """.lmkit-tmp.<what>.<token>.<check>: the name of the temporary of `what` with this random `token`."""
    return f"{TEMP_PREFIX}{what}.{token}.{name_check(what, token)}"


def temporary_of(name: str) -> str | None:
    """What a name `make_temporary` gave stands for (the file it will replace, a staging folder's kind), or None
    for any other name."""
    match = TEMPORARY_NAME.fullmatch(name)
    if match is None or match.group(3) != name_check(match.group(1), match.group(2)):
        return None
    return match.group(1)


def fitted(what: str) -> str:
    """`what` cut short to fit in a temporary name: a user's output may have any name its file system takes."""
    room = NAME_MAX_BYTES - len(TEMP_PREFIX) - len(".12345678.12345678")
    while len(os.fsencode(what)) > room:
        what = what[:-1]
    return what


Made = TypeVar("Made")


def make_temporary(directory: Path, what: str, make: Callable[[Path], Made]) -> Made:
    """`make` (which must fail with FileExistsError where anything is) at a new name
    `directory`/.lmkit-tmp.<what>.<token>.<check> (temporary_of reads it back; `what` cut to fit)."""
    what = fitted(what)
    for _ in range(100):
        token = "".join(secrets.choice(TOKEN_LETTERS) for _ in range(8))
        try:
            return make(Path(directory) / temporary_name(what, token))
        except FileExistsError:
            continue
    raise FileExistsError(errno.EEXIST, f"no unused temporary name for {what}", str(directory))


def hold(fd: int) -> None:
    """Take the exclusive lock that marks the temporary file open at `fd` as a live writer's (kept until the
    process closes it or ends). On a file system without locks nothing is held, and nothing there is reclaimed."""
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError as exc:
        if exc.errno not in NO_LOCKS:
            raise


def reclaim_dead(directory: Path, target: str) -> list[Path]:
    """Remove the temporary files of `target` in `directory` that no live process holds (`hold`): a killed
    writer's. Only regular files whose name proves them lmkit's temporary of `target` are looked at; a folder,
    link or FIFO under such a name is left, as is every file whose lock is held or cannot be tried. Returns the
    paths removed."""
    def remove_file(path: Path, opened: os.stat_result) -> bool:
        if not stat.S_ISREG(opened.st_mode):
            return False
        os.unlink(path)
        return True

    return reclaim(directory, target, os.O_RDONLY, remove_file)


def reclaim(directory: Path, what: str, flags: int, remove: Callable[[Path, os.stat_result], bool]) -> list[Path]:
    """For each entry of `directory` whose name proves it lmkit's temporary of `what`, opened with `flags` (never
    through a link), not modified in the last FRESH_SECONDS, whose lock this process could take (so no live
    process holds it) and still the very one opened: `remove(path, its stat)`, which says whether it removed it.
    Returns the paths removed."""
    what, removed = fitted(what), []
    try:
        names = [entry.name for entry in os.scandir(directory) if entry.name.startswith(TEMP_PREFIX)]
    except OSError:
        return removed
    for name in names:
        if temporary_of(name) != what:
            continue
        path = Path(directory) / name
        try:
            fd = os.open(path, flags | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
        except OSError:  # a link (ELOOP), the wrong kind (ENOTDIR), gone already, or not ours to open
            continue
        try:
            opened = os.fstat(fd)
            if time.time() - opened.st_mtime < FRESH_SECONDS:
                continue
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:  # held: a live process's (or no locks here: nothing can be proven dead)
                continue
            there = os.stat(path, follow_symlinks=False)
            if (there.st_dev, there.st_ino) == (opened.st_dev, opened.st_ino) and remove(path, opened):
                removed.append(path)
        except OSError:
            continue
        finally:
            os.close(fd)
    return removed


@contextlib.contextmanager
def held_folder(directory: Path, what: str) -> Iterator[Path]:
    """A new private folder `directory`/.lmkit-tmp.<what>.<token>.<check> to work in for the block, its lock held
    meanwhile and the folder removed after it (unless the block renamed it into place). The folders of `what` that
    killed processes left in `directory` are removed first (reclaim_dead_folders)."""
    reclaim_dead_folders(directory, what)

    def make_held(path: Path) -> tuple[Path, int]:
        os.mkdir(path, 0o700)
        fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        hold(fd)
        return path, fd

    path, fd = make_temporary(directory, what, make_held)
    try:
        yield path
    finally:
        try:
            there = os.stat(path, follow_symlinks=False)
            opened = os.fstat(fd)
            if (there.st_dev, there.st_ino) == (opened.st_dev, opened.st_ino):  # still the folder made here
                shutil.rmtree(path, ignore_errors=True)
        except OSError:  # renamed into place, or gone
            pass
        finally:
            os.close(fd)


def reclaim_dead_folders(directory: Path, what: str) -> list[Path]:
    """Remove the temporary folders of `what` in `directory` (held_folder's) that no live process holds: a killed
    download's or corpus build's. Only a folder whose name proves it lmkit's temporary of `what`, holding nothing
    but regular files, is removed; a link, a file, a folder with a folder or link inside, one whose lock is held
    or cannot be tried, and one younger than FRESH_SECONDS stay. Returns the paths removed."""
    def remove_folder(path: Path, opened: os.stat_result) -> bool:
        with os.scandir(path) as entries:
            if not all(entry.is_file(follow_symlinks=False) for entry in entries):
                return False
        shutil.rmtree(path)
        return True

    return reclaim(directory, what, os.O_RDONLY | os.O_DIRECTORY, remove_folder)
