"""The tests' reference files are in the repository, as tests/data/README.md describes them, and no test
reaches for a file elsewhere on the machine (such a test skips, or fails, on every other machine)."""
import hashlib
import re
from pathlib import Path

import pytest

TESTS = Path(__file__).resolve().parent
DATA = TESTS / "data"
LISTED = re.compile(r"^\|\s*`([^`]+)`\s*\|\s*`([0-9a-f]{64})`\s*\|\s*$")
# a string literal that starts with a machine's own folder, or names the team's shared folder beside the checkout
MACHINE_PATH = re.compile(r"""["'](?:/(?:work|home|root|Users|mnt|srv|opt)/|[^"'\n]*\bshared(?:/reference)?["'/])""")


def listed_files() -> dict[str, str]:
    rows = (LISTED.match(line) for line in (DATA / "README.md").read_text(encoding="utf-8").splitlines())
    return {m.group(1): m.group(2) for m in rows if m}


def test_every_reference_file_is_listed_with_its_checksum():
    present = {str(p.relative_to(DATA)) for p in DATA.rglob("*") if p.is_file() and p.name != "README.md"}
    assert present and set(listed_files()) == present


@pytest.mark.parametrize("name,digest", sorted(listed_files().items()))
def test_reference_files_are_the_ones_described(name, digest):
    assert hashlib.sha256((DATA / name).read_bytes()).hexdigest() == digest


def test_reference_files_stay_small():
    assert sum(p.stat().st_size for p in DATA.rglob("*") if p.is_file()) < 8 * 2**20


def test_no_test_names_a_path_outside_the_repository():
    offenders = [f"{path.relative_to(TESTS)}:{number}: {line.strip()}"
                 for path in sorted(TESTS.rglob("*.py"))
                 for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
                 if MACHINE_PATH.search(line)]
    assert offenders == []
