"""Two lmkit processes fetching at once take turns where they share a place (pass 79: two `corpus fetch tang300` at
once both failed, their apt-get runs corrupting the one set of private package lists: "repository not signed",
"Unable to locate package"). The second waits, says so, and reads what the first downloaded."""
from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest

from lmkit.corpus.fetch import APT_LOCK, apt_download_deb
from lmkit.errors import CorpusError


@pytest.fixture
def slow_apt(tmp_path, monkeypatch) -> Path:
    """apt-get and dpkg-deb stand-ins on PATH: `apt-get ... download P` takes a second and writes P_1.0_all.deb where
    it runs; each run is logged (one line: its last argument)."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    log = tmp_path / "apt.log"
    (bin_dir / "apt-get").write_text(f"""#!/bin/sh
for last; do :; done
echo "$last" >> {log}
sleep 1
echo deb > "${{last}}_1.0_all.deb"
""")
    (bin_dir / "dpkg-deb").write_text("#!/bin/sh\nexit 0\n")
    for tool in bin_dir.iterdir():
        tool.chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}:/usr/bin:/bin")
    return log


def test_two_apt_downloads_at_once_take_turns_and_download_once(tmp_path, slow_apt):
    downloads = tmp_path / "downloads"
    got = {}
    first = threading.Thread(target=lambda: got.setdefault("first", apt_download_deb("fortunes-zh", downloads)))
    first.start()
    while not slow_apt.exists():  # the first is inside apt-get, holding the turn
        time.sleep(0.01)
    with pytest.warns(UserWarning, match="another lmkit process is downloading with apt-get; waiting for it"):
        got["second"] = apt_download_deb("fortunes-zh", downloads)  # (only this thread records warnings)
    first.join()
    assert got["first"] == got["second"] == downloads / "fortunes-zh_1.0_all.deb"
    assert slow_apt.read_text().splitlines() == ["fortunes-zh"]  # one download; the second read its .deb
    assert sorted(path.name for path in (downloads / "apt").iterdir()) == [APT_LOCK, "cache", "lists"]


def test_something_not_lmkits_at_the_apt_lock_is_named_and_left(tmp_path, slow_apt):
    downloads = tmp_path / "downloads"
    (downloads / "apt").mkdir(parents=True)
    (downloads / "apt" / APT_LOCK).symlink_to(tmp_path / "elsewhere")
    with pytest.raises(CorpusError, match=f"{APT_LOCK}: is a symbolic link where lmkit keeps the lock of its apt-get "
                                          "downloads, and not lmkit's; move it away"):
        apt_download_deb("fortunes-zh", downloads)
    assert (downloads / "apt" / APT_LOCK).is_symlink() and not (tmp_path / "elsewhere").exists()
    assert not slow_apt.exists()
