"""The small files by which lmkit proves it made a folder, so that it may write, clean up and replace there.

    .lmkit-model    in every model directory lmkit makes (lmkit.checkpoint.ownership builds its rules on it)
    .lmkit-report   in every report folder lmkit makes (lmkit.report.folder)
    config.json     an lmkit config.json also proves a model directory made before the marker existed

A file of any other content, or a link, folder or device under one of these names, proves nothing.
"""
from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

from lmkit.files.writing import fsync_dir, new_file_mode, not_a_file


@dataclass(frozen=True)
class FolderMarker:
    """A small file by which lmkit proves it made a folder (a model directory, a report folder): its name and
    exact content. A file of any other content, or a link, folder or device by that name, is not lmkit's."""

    name: str
    text: str

    def present(self, directory: Path) -> bool:
        marker = Path(directory) / self.name
        if not_a_file(marker) is not None or not marker.exists():
            return False  # absent, or a folder, link, device, ... that lmkit did not write
        try:
            with open(marker, "rb") as handle:
                return handle.read(len(self.text) + 1) == self.text.encode()
        except OSError:
            return False

    def write(self, directory: Path) -> bool:
        """Create the marker with one write(2) of a few bytes: a kill leaves it whole or absent, and no temporary
        file (which would make an empty folder look like a user's). False when another process wrote it first."""
        path = Path(directory) / self.name
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, new_file_mode())
        except FileExistsError:
            if self.present(directory):
                return False
            raise
        try:
            if os.write(fd, self.text.encode()) != len(self.text):
                raise OSError(28, "No space left on device")
            os.fsync(fd)
        except OSError:
            path.unlink(missing_ok=True)  # a disk-full error must not leave a marker that is not lmkit's
            raise
        finally:
            os.close(fd)
        fsync_dir(path.parent)
        return True


MODEL_MARKER = FolderMarker(".lmkit-model", "lmkit model directory\n")  # in every model directory lmkit makes
REPORT_MARKER = FolderMarker(".lmkit-report", "lmkit report folder\n")  # in every report folder lmkit makes
LMKIT_MARKERS = (MODEL_MARKER, REPORT_MARKER)
MODEL_CONFIG_FILE = "config.json"  # a model directory's description (lmkit.checkpoint.saved_config)
MAX_CONFIG_BYTES = 1 << 20  # a config.json larger than this is not one lmkit wrote


def is_lmkit_config(path: Path) -> bool:
    """A regular file holding a JSON object with lmkit's "format", "lmkit" (its version) and "kind" fields: a
    model's config.json, which also marks a model directory made before the marker was."""
    try:
        if not_a_file(path) is not None or not path.exists() or path.stat().st_size > MAX_CONFIG_BYTES:
            return False
        config = json.loads(path.read_bytes())
    except (OSError, ValueError, RecursionError):  # unreadable, not JSON, nested too deeply
        return False
    return (isinstance(config, dict) and isinstance(config.get("format"), int)
            and isinstance(config.get("lmkit"), str) and isinstance(config.get("kind"), str))
