"""report.html in a real browser (headless Chromium from Debian: `apt-get install -y chromium`).

Marked slow, so outside the default run: `pytest -m slow tests/test_report_browser.py`. Skipped where no
Chromium is installed. The browser loads the page from disk with the network unreachable by construction
(file://, nothing external referenced), renders it, and the rendered DOM must still hold every token span.
"""
import shutil
import subprocess

import pytest

from lmkit.report.compare import build_report, write_report
from test_report import char_rows  # noqa: F401  (the fixture)

BROWSER = shutil.which("chromium") or shutil.which("chromium-browser")
pytestmark = [pytest.mark.slow, pytest.mark.skipif(BROWSER is None, reason="no chromium on PATH"),
              pytest.mark.filterwarnings("ignore:Kneser-Ney discounts")]


def headless(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([BROWSER, "--headless", "--no-sandbox", "--disable-gpu", *args], capture_output=True,
                          text=True, timeout=120)


def test_the_token_view_renders_in_chromium(char_rows, tmp_path):  # noqa: F811
    written = write_report(build_report(char_rows, "tiny-en (char)"), tmp_path / "out")
    url = written["html"].resolve().as_uri()
    dom = headless("--dump-dom", url).stdout
    tokens = sum(len(line) for line in char_rows[0].passage)
    assert dom.count('title="') >= 3 * tokens and "Where the models differ" in dom
    shot = tmp_path / "shot.png"
    headless("--hide-scrollbars", "--window-size=1100,1600", f"--screenshot={shot}", url)
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and shot.stat().st_size > 20_000
