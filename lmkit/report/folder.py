"""The report folder: which folders lmkit may write a report into, and one writer at a time.

lmkit writes a report only into a new or empty folder or one it can prove it
made (REPORT_MARKER, or a report.json an older lmkit wrote), and while it
works there it holds the folder's lock (ReportLock): a second `lmkit report`
into the same --out is refused by name instead of training the suite's models
and writing the files interleaved with the first's.
"""
from __future__ import annotations

from pathlib import Path

from lmkit.checkpoint.ownership import LOCK_FILE, is_lock_file
from lmkit.errors import ConfigError, LmkitError
from lmkit.files.folder_markers import REPORT_MARKER
from lmkit.files.reading import broken_link, kind_of, read_json
from lmkit.files.temporary_names import temporary_of
from lmkit.files.writing import make_folders, remove_made_folders
from lmkit.train.folder_lock import FolderLock

REPORT_FILES = ("report.json", "report.md", "report.html")  # besides the plots (report_plots.PLOT_FILES)


def check_report_folder(directory: Path) -> None:
    """Before any work: the report's folder is new, empty or one lmkit made (REPORT_MARKER, or from before the
    marker an lmkit report.json), and each file it will write there a regular file or absent (ConfigError or
    WriteError naming the first that is not), and each of those files there one whose bytes report.json records
    (unproven_file). A user's folder is never written into, a file the user edited never replaced, nor a link
    planted where a report file goes followed out of it."""
    from lmkit.checkpoint.ownership import refuse_inside_lmkit_folder
    from lmkit.files.writing import check_output_file
    from lmkit.report.plots import PLOT_FILES

    if directory.is_symlink() and not directory.exists():
        raise ConfigError(f"--out {directory}: is {broken_link(directory)}; name a folder, or a link to one")
    if directory.exists() and not directory.is_dir():
        raise ConfigError(f"{directory}: is not a folder; a report is a folder of files ({', '.join(REPORT_FILES)}, plots)")
    refuse_inside_lmkit_folder("--out", directory)
    if directory.is_dir() and any(not is_lock_entry(e) for e in directory.iterdir()) and not is_report_folder(directory):
        raise ConfigError(f"--out {directory}: holds files and is not an lmkit report folder (no {REPORT_MARKER.name}, "
                          f"no lmkit report.json); lmkit writes a report only into a new or empty folder or one it "
                          "made: choose another --out")
    for name in REPORT_FILES + PLOT_FILES:
        path = directory / name
        if path.is_symlink():
            raise ConfigError(f"--out {directory}: {name} there is a symbolic link, which lmkit does not make and "
                              "will not write through; remove it or choose another --out")
        if path.exists() and not path.is_file():
            raise ConfigError(f"--out {directory}: {name} there is {kind_of(path.stat().st_mode)}, not a file lmkit "
                              "wrote, and lmkit will not replace it; remove it or choose another --out")
        check_output_file(path)
    unproven = unproven_file(directory) if directory.is_dir() and is_report_folder(directory) else None
    if unproven is not None:
        name, why = unproven
        raise ConfigError(f"--out {directory}: {name} there {why}; lmkit replaces only a file it can show it wrote: "
                          "move it away or choose another --out")


def is_lock_entry(entry: Path) -> bool:
    """lmkit's lock file (a process number under .lock): held by a report at work, or left by one killed before
    it wrote anything."""
    return entry.name == LOCK_FILE and is_lock_file(entry)


def is_report_folder(directory: Path) -> bool:
    """True when lmkit can prove it made `directory`: its marker, or (reports from before it) a report.json
    that lmkit wrote (a JSON object whose environment names lmkit's version)."""
    if REPORT_MARKER.present(directory):
        return True
    report = directory / REPORT_FILES[0]
    if not report.is_file() or report.is_symlink():
        return False
    try:
        data = read_json(report, "report")
    except LmkitError:
        return False
    return isinstance(data, dict) and isinstance(data.get("environment"), dict) and "lmkit" in data["environment"]


def claim_report_folder(directory: Path) -> None:
    """Make `directory` (checked by check_report_folder) a report folder lmkit can later prove it made."""
    directory.mkdir(parents=True, exist_ok=True)
    if not REPORT_MARKER.present(directory):
        REPORT_MARKER.write(directory)


def written_before(directory: Path) -> dict[str, set[str]]:
    """name -> the sha256s a file lmkit wrote there may have, by the report.json already in `directory`: its plots'
    ("plot_sha256") and its report.md's and report.html's ("file_sha256"; an older report.json has only the
    plots'), and those of the files it replaced ("replaced_sha256"), which stay where a report is killed between
    renaming its report.json into place and the rest (write_files_together renames report.json first). Only
    lmkit's names; {} where report.json is missing or not an object."""
    from lmkit.report.plots import PLOT_FILES

    try:
        report = read_json(directory / REPORT_FILES[0], "report")
    except LmkitError:
        return {}
    found: dict[str, set[str]] = {}
    for key in ("plot_sha256", "file_sha256", REPLACED):
        hashes = report.get(key) if isinstance(report, dict) else None
        if isinstance(hashes, dict):
            for name, digest in hashes.items():
                if name in REPORT_FILES[1:] + PLOT_FILES and isinstance(digest, str):
                    found.setdefault(name, set()).add(digest)
    return found


REPLACED = "replaced_sha256"  # report.json's record of the files it replaced, as lmkit had written them


def unproven_file(directory: Path) -> tuple[str, str] | None:
    """(name, why) of the first file under a name a report writes (report.md, report.html, a plot) whose bytes
    lmkit cannot show it wrote: recorded in report.json with other bytes (a report.md the user edited), or not
    recorded at all (by an older lmkit, or report.json removed, damaged or edited), which is no proof either.
    None when every such file is as lmkit wrote it, or absent."""
    from lmkit.corpus.fetch import sha256_file
    from lmkit.report.plots import PLOT_FILES

    recorded = written_before(directory)
    for name in REPORT_FILES[1:] + PLOT_FILES:
        path = directory / name
        if not path.is_file() or path.is_symlink():  # absent, or refused by name in check_report_folder
            continue
        if name not in recorded:
            return name, (f"is not recorded in {REPORT_FILES[0]} (an older lmkit's report, or {REPORT_FILES[0]} "
                          "removed or edited), so lmkit cannot tell it from a file of yours")
        if sha256_file(path) not in recorded[name]:
            return name, f"has changed since lmkit wrote it (its sha256 is not the one {REPORT_FILES[0]} records)"
    return None


def report_busy(directory: Path) -> ConfigError:
    return ConfigError(f"--out {directory}: another lmkit report is writing into this folder (it holds {LOCK_FILE}); "
                       "choose another --out or wait for it")


class ReportLock(FolderLock):
    """The report folder held by one process from its checks to its last file (OUT/.lock, lmkit.train.folder_lock).
    Folders this lock made are removed on release if nothing was written into them, so a report that fails
    leaves no trace."""

    def __init__(self, directory: Path):
        super().__init__(directory, report_busy)
        self.made: list[Path] = []  # the folders this lock made (lmkit.files.writing.make_folders)

    def __enter__(self) -> "ReportLock":
        try:
            self.made = make_folders(self.folder)
        except OSError as exc:
            raise ConfigError(f"--out {self.folder}: cannot make the folder ({exc.strerror or exc})") from exc
        try:
            super().__enter__()
        except BaseException:
            remove_made_folders(self.made, self.folder)
            raise
        if is_report_folder(self.folder):
            remove_stale_temporaries(self.folder)
        return self

    def __exit__(self, *exc) -> None:
        super().__exit__(*exc)
        remove_made_folders(self.made, self.folder)


def remove_stale_temporaries(directory: Path) -> None:
    """The temporary files of a report killed while writing (.lmkit-tmp.report.json.<token>.<check>, ...), proved
    lmkit's by their names (lmkit.files.temporary_names.temporary_of): only the lock holder of a report folder lmkit made may
    call this."""
    from lmkit.report.plots import PLOT_FILES

    for entry in directory.iterdir():
        what = temporary_of(entry.name)
        if what in REPORT_FILES + PLOT_FILES and entry.is_file() and not entry.is_symlink():
            entry.unlink(missing_ok=True)
