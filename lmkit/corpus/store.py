"""Corpus folders: the Corpus object over one cached folder, and the atomic install of a new one.

A corpus folder is built under a temporary name and renamed into place when
complete (manifest.json written last), so a failed fetch leaves nothing
half-written and a second fetch of a cached corpus does nothing. A folder of
the same name without a manifest is not lmkit's: it is refused, never replaced
(an empty folder alone gives way).
"""
from __future__ import annotations

import os
import re
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterator

from lmkit.config.folders import corpora_root
from lmkit.config.from_json import from_json, json_repr
from lmkit.corpus.fetch import sha256_file
from lmkit.corpus.split import SPLITS, unit_chars
from lmkit.errors import ConfigError, CorpusError
from lmkit.files.folder_markers import MODEL_MARKER
from lmkit.files.reading import open_regular, read_json, read_text
from lmkit.files.temporary_names import held_folder
from lmkit.files.writing import fsync_dir, not_own_file, path_identity, write_json_atomic

MANIFEST = "manifest.json"
REBUILD = "remove the folder {} and run again to rebuild it"
HASHED_ON_FETCH_BYTES = 64 << 20  # `corpus fetch` checks a cached split's sha256 up to this size (a second or so)
FORMAT = 2  # 2: units dealt to splits by a rule blind to each unit's own size (lmkit.corpus.split.SplitAssigner)
SIZE_BIASED_FORMATS = (1,)  # still read, as dealt: the models trained on them name them and record their hashes
BIASED_BELOW = 0.8  # a format-1 corpus is named as biased where valid's or test's mean unit is under this of train's
NAME_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$")
NAME_RULE = "1 to 100 ASCII letters, digits, '.', '_' and '-', starting with a letter or digit"  # NAME_PATTERN in words


@dataclass
class SplitStats:
    """What manifest.json records of each split file (every field required)."""

    lines: int
    chars: int
    bytes: int
    units: int
    sha256: str


def check_format(directory: Path, manifest: dict) -> None:
    """CorpusError unless the manifest's "format" is one this lmkit reads: FORMAT, or one of SIZE_BIASED_FORMATS."""
    where, rebuild = directory / MANIFEST, REBUILD.format(directory)
    readable = " and ".join(map(str, sorted({*SIZE_BIASED_FORMATS, FORMAT})))
    if "format" not in manifest:
        raise CorpusError(f"{where}: has no \"format\", so it is no corpus manifest lmkit wrote: lmkit did not make "
                          f"{directory}; move it away, or set LMKIT_CORPORA to another folder")
    found = manifest["format"]
    if type(found) is not int:  # neither true nor 1.0 is a format
        raise CorpusError(f"{where}: damaged corpus manifest: \"format\" must be a whole number, got "
                          f"{json_repr(found)}; {rebuild}")
    if found > FORMAT:
        raise CorpusError(f"{where}: corpus format {found} was written by a newer lmkit (this one reads formats "
                          f"{readable}): use that lmkit, or {rebuild}")
    if found != FORMAT and found not in SIZE_BIASED_FORMATS:
        raise CorpusError(f"{where}: corpus format {found} is not one this lmkit reads ({readable}); {rebuild}")


def check_manifest(directory: Path, manifest: dict) -> None:
    """CorpusError naming the key when a manifest lacks a field or holds one of the wrong type."""
    try:
        splits = manifest.get("splits")
        if not isinstance(splits, dict):
            raise ConfigError(f"splits must be an object, got {json_repr(splits)}")
        for split in SPLITS:
            stats = from_json(SplitStats, splits.get(split), f"splits.{split}")
            for key in ("lines", "chars", "bytes"):
                if getattr(stats, key) < 0:
                    raise ConfigError(f"splits.{split}.{key} must be 0 or more, got {getattr(stats, key)}")
            if not (stats.lines > 0) <= stats.units <= stats.lines:  # a unit is one line or more, and text has one
                raise ConfigError(f"splits.{split}.units must be from {min(1, stats.lines)} to its {stats.lines:,} "
                                  f"lines, got {stats.units}")
        for key in ("description", "name", "split_method"):
            if not isinstance(manifest.get(key, ""), str):
                raise ConfigError(f"{key} must be a string, got {json_repr(manifest[key])}")
        if not isinstance(manifest.get("source", {}), dict):
            raise ConfigError(f"source must be an object, got {json_repr(manifest['source'])}")
    except ConfigError as exc:
        raise CorpusError(f"{directory / MANIFEST}: damaged corpus manifest: {exc}; {REBUILD.format(directory)}") from exc


@dataclass
class Corpus:
    """A cached corpus: its folder, manifest and the three split files."""

    name: str
    directory: Path
    manifest: dict
    counted: dict[str, dict] = field(default_factory=dict, repr=False, compare=False)  # split -> its text's counts
    checked: dict[str, tuple] = field(default_factory=dict, repr=False, compare=False)  # split -> the file checked

    @classmethod
    def open(cls, directory: Path) -> "Corpus":
        manifest = read_json(directory / MANIFEST, "corpus manifest", CorpusError)
        check_format(directory, manifest)
        check_manifest(directory, manifest)
        corpus = cls(directory.name, directory, manifest)
        biased = corpus.size_biased_split()
        if biased is not None:
            warnings.warn(biased)  # once a process: every command that reads the corpus says it, however it opens it
        return corpus

    def path(self, split: str) -> Path:
        if split not in SPLITS:
            raise CorpusError(f"unknown split {split!r}; choose one of {', '.join(SPLITS)}")
        return self.directory / f"{split}.txt"

    def lines(self, split: str) -> Iterator[str]:
        """Lines of a split without their "\\n", streamed from disk; CorpusError if the file is not what the
        manifest says (another size, not UTF-8): a damaged cache must not train or score silently."""
        path = self.path(split)
        if not path.exists():
            raise CorpusError(f"{path}: split file is missing; run `lmkit corpus fetch {self.name}` again")
        with open_regular(path, CorpusError) as raw:
            size = os.fstat(raw.fileno()).st_size
            recorded = self.manifest.get("splits", {}).get(split, {}).get("bytes", size)  # Corpus.open checked its type
            if size != recorded:
                raise CorpusError(f"{path}: {size:,} bytes, but the manifest records {recorded:,}: the corpus cache "
                                  f"is damaged; {REBUILD.format(self.directory)}")
            for number, data in enumerate(raw, start=1):
                try:
                    line = data.decode("utf-8")
                except UnicodeDecodeError as exc:
                    raise CorpusError(f"{path}: line {number} is not valid UTF-8: the corpus cache is damaged; "
                                      f"{REBUILD.format(self.directory)}") from exc
                yield line[:-1] if line.endswith("\n") else line

    def check_files(self) -> None:
        """CorpusError naming the first split file that is not what the manifest records: a cache that cannot be
        read is not "already cached"."""
        for split in SPLITS:
            self.check_file(split)

    def check_file(self, split: str) -> None:
        """CorpusError when the split's file is not what the manifest records (missing, a link or a folder, another
        size, and up to HASHED_ON_FETCH_BYTES another sha256): what was encoded and cached from it would be
        another text's. A file checked already by this Corpus and not touched since (the same inode, size and
        change times) is not hashed again: a run checks each split when it builds its tokenizer and again when it
        encodes the split."""
        path = self.path(split)
        seen = path_identity(path)
        if seen is not None and self.checked.get(split) == seen:
            return
        stranger = not_own_file(path) or (None if path.exists() else "missing")
        recorded = self.manifest["splits"][split]
        if stranger is not None:
            stranger = f"is {stranger}"
        elif path.stat().st_size != recorded["bytes"]:
            stranger = f"{path.stat().st_size:,} bytes, but the manifest records {recorded['bytes']:,}"
        elif recorded["bytes"] <= HASHED_ON_FETCH_BYTES and sha256_file(path) != recorded["sha256"]:
            stranger = "its sha256 is not the one the manifest records (its text was changed)"
        if stranger is not None:
            raise CorpusError(f"{path}: {stranger}: the corpus cache is damaged; {REBUILD.format(self.directory)}")
        if seen is not None:
            self.checked[split] = seen

    def text(self, split: str) -> str:
        return read_text(self.path(split))

    def split_stats(self, split: str) -> dict:
        self.path(split)
        return self.manifest["splits"][split]

    def num_chars(self, split: str) -> int:
        """Characters of the split's text, newlines included (a segmented corpus's word spaces are not): what
        bits/char divides by (an edited manifest record made every bits/char figure wrong)."""
        return self.checked_count(split, "chars", "characters")

    def num_lines(self, split: str) -> int:
        return self.checked_count(split, "lines", "lines")

    def checked_count(self, split: str, key: str, what: str) -> int:
        """The manifest's `key` count of `split`, checked against its text (counted once, after the text itself is
        held to the manifest's size and sha256: `corpus list` missed an edit that kept the size)."""
        recorded = int(self.split_stats(split)[key])
        if split not in self.counted:
            self.check_file(split)
            lines = chars = 0
            for line in self.lines(split):
                lines, chars = lines + 1, chars + unit_chars([line], self.segmented)
            self.counted[split] = {"lines": lines, "chars": chars}
        if self.counted[split][key] != recorded:
            raise CorpusError(f"{self.directory / MANIFEST}: records {recorded:,} {what} for the {split} split, "
                              f"but its text has {self.counted[split][key]:,}: the corpus cache is damaged; "
                              f"{REBUILD.format(self.directory)}")
        return recorded

    def size_biased_split(self) -> str | None:
        """Why this corpus's splits are not a fair sample, where they were dealt by the rule before format 2 (which
        gave valid and test the shorter units), with the remedy; None for a split dealt since, or given."""
        splits = self.manifest["splits"]
        dealt = "furthest below its share" in str(self.manifest.get("split_method", ""))  # SHARES, not given splits
        if self.manifest.get("format") not in SIZE_BIASED_FORMATS or not dealt:
            return None
        mean = {split: splits[split]["chars"] / max(1, splits[split]["units"]) for split in SPLITS}
        if min(mean["valid"], mean["test"]) >= BIASED_BELOW * mean["train"]:
            return None  # dealt so, but its units came out alike (blocks of lines of one size, say)
        if self.manifest.get("source", {}).get("kind") == "local":  # corpus_name hashes the rule: a new folder
            remedy = "--train with the same files now splits them afresh, into a folder of another name"
        else:
            remedy = (f"to split it afresh, remove the folder {self.directory} and run again (models trained on this "
                      "split then read it only through --file)")
        return (f"{self.name} was split by an lmkit before corpus format 2, whose rule dealt the shorter units to "
                f"valid and test (their units average {mean['valid']:,.0f} and {mean['test']:,.0f} characters, "
                f"train's {mean['train']:,.0f}); {remedy}")

    @property
    def description(self) -> str:
        return str(self.manifest.get("description", ""))

    @property
    def segmented(self) -> bool:
        """True when the text is word-segmented with spaces (lmkit.corpus.segmented)."""
        return self.manifest.get("segmented") is True


def check_name(name: str) -> str:
    if not NAME_PATTERN.match(name):
        raise CorpusError(f"corpus name {name!r}: a corpus name is {NAME_RULE}")
    return name


def is_corpus_folder(folder: Path) -> bool:
    """Whether `folder` is the folder of a corpus lmkit cached: its manifest opens (a file of the user's that is
    merely named manifest.json does not)."""
    if not (folder / MANIFEST).is_file():
        return False
    try:
        Corpus.open(folder)
    except (CorpusError, OSError):
        return False
    return True


def inside_cached_corpus(path: Path) -> tuple[str, str] | None:
    """When `path` is, or lies inside, the folder of a cached corpus: ("is the folder of a corpus lmkit cached" or
    "lies inside FOLDER, the folder of ...", said of `path`; how to name that corpus); None otherwise."""
    absolute = Path(path).absolute()
    corpus = next((folder for folder in (absolute, *absolute.parents) if is_corpus_folder(folder)), None)
    if corpus is None:
        return None
    where = "is" if corpus == absolute else f"lies inside {corpus},"
    return f"{where} the folder of a corpus lmkit cached", cached_folder_advice(corpus)


def cached_folder_advice(folder: Path, given: str = "--corpus") -> str:
    """How to name the corpus cached in `folder` (a path holding its manifest): by the folder's name, with its
    parent as LMKIT_CORPORA, when that name is one a corpus may have. `given`: the option (or a command's NAME)
    that takes the name."""
    folder = folder.absolute()
    if NAME_PATTERN.match(folder.name):
        return f"give {given + ' ' if given.startswith('--') else ''}{folder.name} with LMKIT_CORPORA={folder.parent}"
    return (f"its folder name {folder.name!r} is not a corpus name ({NAME_RULE}): rename the folder, or give its "
            "train.txt to --train")


def check_free(target: Path) -> None:
    """CorpusError unless `target` is absent or an empty folder: what is there without a manifest is not lmkit's."""
    if not (target.exists() or target.is_symlink()):
        return
    if target.is_dir() and not target.is_symlink() and not any(target.iterdir()):
        return
    raise CorpusError(f"{target}: already exists and is not a corpus lmkit fetched (no {MANIFEST}); lmkit will not "
                      "replace it: move it away, or set LMKIT_CORPORA to another folder")


def check_source(corpus: Corpus, source: dict | None) -> Corpus:
    """`corpus`, unless its manifest's source differs from `source` in a field `source` gives: a folder holding
    another corpus must not stand in for the one asked for."""
    recorded = corpus.manifest.get("source", {})
    differ = {key: recorded.get(key) for key, value in (source or {}).items() if recorded.get(key) != value}
    if differ:
        asked = ", ".join(f"{key} {source[key]!r}" for key in differ)
        found = ", ".join(f"{key} {value!r}" for key, value in differ.items())
        raise CorpusError(f"{corpus.directory}: holds the corpus of {found}, not {asked}; "
                          f"{REBUILD.format(corpus.directory)}")
    return corpus


def check_named(corpus: Corpus, name: str) -> Corpus:
    """`corpus`, unless its manifest names another corpus: a folder copied or renamed to a registered corpus's
    name holds that other corpus's text, which must not be read as the registered one's. (A cached text renamed
    to a name of the user's own is still that text, and is read.)"""
    recorded = corpus.manifest.get("name", name)
    if recorded != name:
        raise CorpusError(f"{corpus.directory}: holds the corpus {recorded!r}, not {name!r} (its manifest says so); "
                          f"move it away (or rename it {recorded!r}) and run again to fetch {name!r}")
    return corpus


def check_corpora_root(root: Path) -> None:
    """CorpusError when the corpora folder is, or lies inside, a corpus's or a model's folder (LMKIT_CORPORA set
    one level too deep, or at a model directory): a corpus fetched there would lie inside a folder lmkit made
    for something else."""
    absolute = root.absolute()
    inside = inside_cached_corpus(absolute)
    model = next((folder for folder in (absolute, *absolute.parents) if MODEL_MARKER.present(folder)), None)
    if inside is None and model is None:
        return
    where = inside[0] if inside is not None else (
        "is an lmkit model directory" if model == absolute else f"lies inside {model}, an lmkit model directory")
    raise CorpusError(f"{absolute}: the corpora folder {where}; a corpus is not fetched into it: set LMKIT_CORPORA "
                      "(or LMKIT_HOME) to a folder of corpora")


def install_corpus(root: Path, name: str, build: Callable[[Path], dict], source: dict | None = None) -> Corpus:
    """Run `build(folder) -> manifest` in a temporary folder, then rename it to root/name in one step.

    If root/name already holds a complete corpus, nothing is built; `source`, when given, holds fields its
    manifest's source must have (check_source). On any failure the temporary folder is removed and root/name
    is untouched.
    """
    target = root / check_name(name)
    if (target / MANIFEST).exists():
        return check_source(Corpus.open(target), source)
    check_corpora_root(root)
    check_free(target)
    try:
        root.mkdir(parents=True, exist_ok=True)
    except OSError as exc:  # said as "corpora: Operation not permitted", naming neither the place nor the remedy
        raise CorpusError(f"{root.absolute()}: cannot make the corpus folder ({exc.strerror or exc}); set "
                          "LMKIT_CORPORA (or LMKIT_HOME) to a folder that can be written") from exc
    try:
        with held_folder(root, f"corpus-{name}") as work:  # removed after, unless renamed into place
            manifest = {"format": FORMAT, "name": name, **build(work)}
            write_json_atomic(work / MANIFEST, manifest)
            os.chmod(work, 0o755)  # made private; a corpus folder is as readable as any other
            if (target / MANIFEST).exists():  # another process finished the same corpus first
                return check_source(Corpus.open(target), source)
            check_free(target)
            os.replace(work, target)  # rename(2) replaces an empty folder in the same step
            fsync_dir(root)
    except OSError as exc:
        raise CorpusError(f"{target}: could not write the corpus ({exc.strerror or exc}); nothing was cached") from exc
    return Corpus.open(target)
