"""The HTML report in a real browser: Debian's headless chromium, driven by selenium, opened from disk.

selenium-manager never runs: the driver is ``/usr/bin/chromedriver`` and the browser ``/usr/bin/chromium``
(``make test`` installs both with apt-get when it runs as root); without them the test is skipped and says so.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from a2bench.reports.build import ReportOptions, build_report
from a2bench.runs.results import read_records
from a2bench.runs.runner import RunOptions, run

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
)

pytestmark = pytest.mark.skipif(
    not (CHROMIUM.is_file() and CHROMEDRIVER.is_file()),
    reason=f"needs Debian's chromium and chromium-driver ({CHROMIUM}, {CHROMEDRIVER}); "
    "`apt-get install chromium chromium-driver` (make test does this as root)",
)


@pytest.fixture
def browser(tmp_path: Path):
    webdriver = pytest.importorskip(
        "selenium.webdriver", reason="selenium is in the test extra: pip install -e .[test]"
    )
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for flag in (*FLAGS, f"--user-data-dir={tmp_path / 'chromium-profile'}", "--window-size=1400,1000"):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(str(CHROMEDRIVER)), options=options)
    try:
        yield driver
    finally:
        driver.quit()


def test_report_opens_from_disk_with_tables_and_playable_videos(browser, tiny_synth: Path, tmp_path: Path) -> None:
    db = tmp_path / "r.db"
    for model in ("reference-copy", "gt-oracle"):
        run(RunOptions(model=model, bench=str(tiny_synth), metrics=["psnr", "ssim", "l1"], db=db, out=tmp_path / model))
    out = tmp_path / "report"
    result = build_report(ReportOptions(out=out, source=str(db), bench=str(tiny_synth), gallery_samples=2),
                          lambda: read_records(db))  # fmt: skip

    browser.get(result.index.as_uri())
    assert browser.title == "a2bench report"
    rows = browser.execute_script("return document.querySelectorAll('table.leaderboard tbody tr[data-run]').length")
    assert rows == 2
    headers = browser.execute_script(
        "return Array.from(document.querySelectorAll('table.leaderboard th')).map(h => h.textContent.trim())"
    )
    assert "psnr ↑" in headers and "l1 ↓" in headers
    assert browser.execute_script("return document.querySelectorAll('video').length") == 2
    assert browser.execute_script("return document.getElementById('published') !== null")

    state = None
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        state = browser.execute_script(
            "const v = document.querySelector('video');"
            "return {ready: v.readyState, duration: v.duration, width: v.videoWidth, error: v.error && v.error.code};"
        )
        if state["ready"] >= 1 and state["duration"] > 0:
            break
        time.sleep(0.25)
    assert state["ready"] >= 1 and state["duration"] > 0, f"the first video did not load its metadata: {state}"
    assert state["error"] is None and state["width"] == (3 + 1) * 64  # reference, pose, truth, reference-copy

    # Sorting by a header click keeps the oracle in its own section.
    browser.execute_script("document.querySelector('table.leaderboard th.sortable').click()")
    kinds = browser.execute_script(
        "return Array.from(document.querySelectorAll('table.leaderboard tbody tr[data-run]')).map(r => r.dataset.kind)"
    )
    assert kinds == ["ranked", "oracle"]

    shot = tmp_path / "report_screenshot.png"  # left under tmp_path for a person to look at
    assert browser.save_screenshot(str(shot)) and shot.stat().st_size > 10_000
