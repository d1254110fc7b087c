"""Safe file writing: every file lmkit writes goes to a temporary name in the same folder, is
fsynced and then renamed over the target, so a crash or a full disk leaves either the old file
or the new one, never half of either.

What may be replaced: a regular file, or (through a symbolic link) the regular
file the link leads to. A directory, device, FIFO or socket is never replaced
or written to. Every temporary name proves itself lmkit's, and a killed writer's
temporary file is removed by the next write of its target (lmkit.files.temporary_names).
Reading input is lmkit.files.reading's; the JSON lmkit writes, lmkit.files.json_text's.
"""
from __future__ import annotations

import contextlib
import errno
import os
import stat
from pathlib import Path
from typing import IO, Iterator

from lmkit.errors import LmkitError
from lmkit.files.json_text import json_file_text
from lmkit.files.reading import kind_of
from lmkit.files.temporary_names import hold, make_temporary, reclaim_dead
from lmkit.stop_signals import held_back


class WriteError(LmkitError):
    """A file could not be written (disk full, permissions); the file it was to replace is intact."""

    def __init__(self, path: Path, reason: str):
        super().__init__(f"could not write {path}: {reason}; the previous file, if any, is intact")
        self.path, self.reason = path, reason


class OwnPathLinkError(WriteError):
    """A symbolic link where lmkit keeps a file of its own: not lmkit's, so neither followed nor replaced."""

    def __init__(self, path: Path):
        LmkitError.__init__(self, f"{path}: is a symbolic link where lmkit keeps a file of its own, and lmkit does "
                                  "not write through it (that would replace the file it leads to); remove the link")
        self.path, self.reason = path, "it is a symbolic link"


class NotAFileError(WriteError):
    """The output's place holds a directory, device, FIFO or socket, which lmkit never writes or replaces."""

    def __init__(self, path: Path, target: Path, what: str):
        if not os.path.islink(path):
            where = f"is {what}"
        elif os.path.lexists(target):
            where = f"leads to {target}, {what}"
        else:  # /dev/stdout on a pipe: /proc's link names "pipe:[N]", which is no path to show
            where = f"leads to {what}"
        LmkitError.__init__(self, f"{path}: {where}, not a regular file; lmkit writes output only to a regular file "
                                  "(or through a symbolic link to one)")
        self.path, self.reason = path, f"it {where}"


def current_umask() -> int:
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    mask = os.umask(0o022)  # no /proc: read the umask by setting it, then put it back
    os.umask(mask)
    return mask


def new_file_mode() -> int:
    """The mode `open()` would give a new file; temporary files start private and get this instead."""
    return 0o666 & ~current_umask()


def new_dir_mode() -> int:
    """The mode `mkdir` would give a new folder (mkdtemp's are private)."""
    return 0o777 & ~current_umask()


def fsync_dir(path: Path) -> None:
    """Make a rename inside `path` durable (no-op where directories cannot be opened)."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def not_a_file(path: str | os.PathLike) -> str | None:
    """What `path` is when it is neither absent nor a regular file ("a directory", "a FIFO (named pipe)", ...),
    without following a symbolic link at `path` itself; None when a file may be written there."""
    try:
        mode = os.lstat(path).st_mode
    except (FileNotFoundError, NotADirectoryError):
        return None
    return None if stat.S_ISREG(mode) else kind_of(mode)


def make_folders(path: str | os.PathLike) -> list[Path]:
    """Make `path` and every missing folder on the way, one step at a time, and return the folders this call
    made, in the order made, so that exactly those can be removed again. Checking which folders exist
    beforehand is not the same: `ghost/../mine` does not "exist" until ghost is made, and then is the user's
    own `mine`. OSError as os.mkdir raises it (a file in the way, no permission)."""
    path = Path(path)
    current = Path(path.anchor) if path.anchor else Path(".")
    made = []
    for part in path.parts[1:] if path.anchor else path.parts:
        current = current / part
        if part in (".", ".."):
            continue  # names a folder already reached
        try:
            os.mkdir(current)
        except FileExistsError:
            if not current.is_dir():
                what = "a symbolic link that leads nowhere" if current.is_symlink() else not_a_file(current) or "a file"
                raise NotADirectoryError(errno.ENOTDIR, f"{current} is {what}, not a folder") from None
            continue
        made.append(current)
    return made


def remove_made_folders(made: list[Path], target: Path) -> None:
    """Undo make_folders(target) when nothing was written into `target`: each folder it made, deepest first, while
    empty. When `target` holds something, every folder stays, those only on its way too: the path as given
    (ghost/../mine) must still name it for the messages and commands that follow."""
    try:
        if any(os.scandir(target)):
            return
    except OSError:
        pass  # gone, or not a folder: nothing of the run's is in it
    for folder in reversed(made):
        try:
            folder.rmdir()
        except OSError:
            return  # something is in it now: it stays, and so do the folders above it


def path_identity(path: str | os.PathLike) -> tuple[int, int, int, int] | None:
    """(inode, size, modification and status-change times) of what stands at `path`, not followed; None where
    nothing does. Equal before and after means untouched meanwhile: lmkit replaces a file by renaming a new one
    into place (a new inode), and an edit in place moves the change times."""
    try:
        facts = os.lstat(path)
    except FileNotFoundError:
        return None
    return facts.st_ino, facts.st_size, facts.st_mtime_ns, facts.st_ctime_ns


def not_own_file(path: str | os.PathLike) -> str | None:
    """What stands at `path`, where lmkit keeps a file of its own (a cache), when it is not a regular file or
    nothing: "a symbolic link" (never followed there), "a directory", "a FIFO (named pipe)", ...; else None."""
    return "a symbolic link" if os.path.islink(path) else not_a_file(path)


def stranger_below(base: Path, path: Path) -> tuple[Path, str] | None:
    """The first thing on the way from `base` (a folder of lmkit's) down to `path`, where lmkit keeps a file of
    its own, that lmkit did not put there: a symbolic link at any step (a link at `tokenizers/` would have the
    cache written into the folder it names), a file where a folder goes, or at `path` whatever not_own_file
    names. (where, what), or None when lmkit may read and write `path`."""
    relative = Path(path).relative_to(base)
    current = Path(base)
    for part in relative.parts[:-1]:
        current = current / part
        if current.is_symlink():
            return current, "a symbolic link"
        if current.exists() and not current.is_dir():
            return current, f"{not_a_file(current) or 'a file'} in place of a folder"
    what = not_own_file(path)
    return (Path(path), what) if what is not None else None


def write_target(path: str | os.PathLike) -> Path:
    """The regular file a write to `path` really replaces: `path`, or where its symbolic links lead.

    NotAFileError when that is a directory, device, FIFO or socket (lmkit never replaces one)."""
    target = Path(os.path.realpath(path))
    if os.path.islink(path):
        refuse_link_through_nothing(Path(path))
    check_replaceable(Path(path), target)
    if os.path.islink(path) and not os.path.lexists(target):  # /dev/stdout on a pipe: /proc's link to "pipe:[N]",
        try:                                                   # a name nowhere, though the link reaches the pipe
            mode = os.stat(path).st_mode
        except OSError:
            return target
        if not stat.S_ISREG(mode):
            raise NotAFileError(Path(path), target, kind_of(mode))
    return target


def refuse_link_through_nothing(path: Path) -> None:
    """WriteError where the symbolic link `path` leads through a folder that is not there and then `..` (a link to
    /data/gone/../out.arpa): realpath reads the `..` as text and names /data/out.arpa, a file the link does not
    reach, since the kernel cannot pass through a folder that is missing. Followed as the kernel follows it."""
    end = str(path)
    for _ in range(LINK_HOPS):
        if not os.path.islink(end):
            break
        end = os.path.join(os.path.dirname(end), os.readlink(end))  # not normalised: the kernel's reading
    folder = os.path.dirname(end) or "."
    if not os.path.isdir(folder):
        raise WriteError(path, f"it is a symbolic link to {os.readlink(path)}, which leads nowhere: {folder} is not a "
                               "folder that can be reached")


LINK_HOPS = 40  # Linux's limit on the links one path may go through (ELOOP past it)


def check_replaceable(path: Path, target: Path) -> None:
    what = not_a_file(target)
    if what is not None:
        raise NotAFileError(path, target, what)


def check_output_file(path: str | os.PathLike) -> Path:
    """Before long work, WriteError unless a file can be written at the user-named `path`: not a directory,
    device, FIFO or socket (nor a link to one), in a folder that exists or can be made (a link's, only one that
    exists), and may be written."""
    target = write_target(path)
    if Path(path).is_symlink() and not target.parent.is_dir():
        raise WriteError(Path(path), f"it is a symbolic link to {target}, in a folder that does not exist (lmkit makes "
                                     "the folders of a path it is given, never where a link leads)")
    folder = next(parent for parent in target.parents if parent.exists())
    if not folder.is_dir():
        raise WriteError(Path(path), f"{folder} is a file, not a folder")
    if not os.access(folder, os.W_OK | os.X_OK):
        raise WriteError(Path(path), f"cannot write in {folder} (writing there is not permitted)")
    return target


def private_file(path: Path) -> tuple[int, Path]:
    """A new empty file only its owner may read, open for writing, and its path (FileExistsError where anything
    is, a link included)."""
    return os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600), path


@contextlib.contextmanager
def atomic_write(path: str | os.PathLike, mode: str = "wb", encoding: str | None = None,
                 follow_link: bool = False, replace: bool = True) -> Iterator[IO]:
    """Open a temporary sibling of `path` for writing; on success fsync and rename it into place.

    A symbolic link at `path` is written through only with `follow_link`, for a file
    the user named (--arpa, --per-line): the file it leads to is replaced and the
    link stays. Where lmkit keeps its own file (a cache, a model's or a report's
    file) a link is somebody else's, and is refused (OwnPathLinkError), never
    followed. Without `replace` the file is put in place only where none is, in one
    step (put_new): one that appeared while lmkit wrote is kept, and a WriteError
    says so. On any exception the temporary file is removed and `path` is
    untouched. OSError (disk full, permissions) becomes a WriteError naming the file.
    """
    path = Path(path)
    if not follow_link and path.is_symlink():
        raise OwnPathLinkError(path)
    target = write_target(path)
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        reclaim_dead(target.parent, target.name)  # a killed writer's half of this file, proven by name and lock
        fd, tmp = make_temporary(target.parent, target.name, private_file)
        hold(fd)
    except OSError as exc:
        raise WriteError(path, exc.strerror or str(exc)) from exc
    try:
        with os.fdopen(fd, mode, encoding=encoding) as handle:
            # made private; give it the mode of the file it replaces, or a new file's
            os.fchmod(fd, stat.S_IMODE(target.stat().st_mode) if target.exists() else new_file_mode())
            yield handle
            handle.flush()
            os.fsync(handle.fileno())
        if replace:
            check_replaceable(path, target)  # again: it may have been swapped for a FIFO or folder while we wrote
            os.replace(tmp, target)
        else:  # anything there now (a file, link, folder, FIFO) is the user's
            put_new(path, tmp, target)
        fsync_dir(target.parent)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise WriteError(path, exc.strerror or str(exc)) from exc
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


APPEARED = "a file appeared there while lmkit worked; it is kept (give --overwrite to replace it)"


def put_new(path: Path, tmp: Path, target: Path) -> None:
    """Rename `tmp` to `target` only where nothing is: a hard link made where the name is free, which the kernel
    refuses when it is taken by anything (a file, link or folder the user made there while lmkit wrote), then
    `tmp` unlinked. A file system without hard links gets a check just before the rename instead."""
    try:
        os.link(tmp, target)
    except FileExistsError:
        raise WriteError(path, APPEARED) from None
    except OSError as exc:
        if exc.errno not in (errno.EPERM, errno.ENOTSUP, errno.EOPNOTSUPP, errno.EXDEV, errno.EMLINK):
            raise
        if os.path.lexists(target):
            raise WriteError(path, APPEARED) from None
        os.replace(tmp, target)
        return
    tmp.unlink()


def write_text_atomic(path: str | os.PathLike, text: str, follow_link: bool = False) -> None:
    with atomic_write(path, "wb", follow_link=follow_link) as handle:
        handle.write(utf8_bytes(text))


def utf8_bytes(text: str) -> bytes:
    """`text` as UTF-8; a lone surrogate (a file name's undecodable byte) is written backslash-escaped."""
    return text.encode("utf-8", "backslashreplace")


def write_files_together(contents: dict[Path, bytes]) -> None:
    """Several files written as atomic_write writes one, all of them staged before any is renamed into place,
    and the renames done with the stop signals held back: a failure while staging (a full disk) leaves every
    file as it was, a stop leaves them all new. The renames go in the reverse of `contents`' order (the last
    file first); a kill -9 among them leaves the files not yet renamed as they were."""
    with contextlib.ExitStack() as staged:
        for path, data in contents.items():
            staged.enter_context(atomic_write(path, "wb")).write(data)
        with held_back():
            staged.close()


def write_json_atomic(path: str | os.PathLike, obj) -> None:
    write_text_atomic(path, json_file_text(obj))


def write_bytes_atomic(path: str | os.PathLike, data: bytes) -> None:
    with atomic_write(path, "wb") as handle:
        handle.write(data)


