"""The report as a reader sees it: tiny real runs trained through the CLI, `report`, and the
page opened in headless Chromium: every figure decodes, the console holds no error, nothing
scrolls sideways at 1280 or 800 px (even with every <details> open), and a screenshot is taken.

Needs Chromium and its driver (Debian: apt install chromium chromium-driver). Without them the
test is skipped, except under CI (the variable CI set), which installs them: there it fails.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any, NoReturn

import pytest
from conftest import TINY
from typer.testing import CliRunner

from relubench.cli import app
from relubench.registry.activations import act_names
from relubench.testing import make_run

runner = CliRunner()
ACTS = ("relu", "prelu")  # prelu: learned slopes, hence the slopes figure
SEEDS = (0, 1)
WIDTHS = (1280, 800)  # px: a laptop, and a narrow window
TIMEOUT = 120  # s: page load and script calls, generous for a busy 2-core CI machine
FLAGS = [
    "--headless=new",
    "--no-sandbox",  # CI runs as root in a container
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",  # no requests of Chromium's own: offline, quiet log
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",  # containers have a small /dev/shm
]


def _unavailable(why: str) -> NoReturn:
    """Fail under CI (it installs the browser), else skip with one line saying what is missing."""
    if os.environ.get("CI"):
        pytest.fail(f"{why}; CI installs it (.ci/run)")
    pytest.skip(f"{why} (apt install chromium chromium-driver)")


@pytest.fixture
def report(tmp_path: Path) -> Path:
    """A report of real runs: ACTS x SEEDS, each trained by `relubench train` in-process."""
    out = tmp_path / "results"
    settings = {**TINY, "epochs": 2}  # two epochs: curves, not points
    for act in ACTS:
        for seed in SEEDS:
            sets = [x for k, v in settings.items() for x in ("--set", f"{k}={v}")]
            args = ["train", "--act", act, "--seed", str(seed), "--out", str(out), *sets]
            r = runner.invoke(app, args)
            assert r.exit_code == 0, r.output
    page = tmp_path / "report.html"
    r = runner.invoke(app, ["report", str(out), "--out", str(page)])
    assert r.exit_code == 0, r.output
    return page


def _find(*names: str) -> str | None:
    """The first of `names` found, in /usr/bin (Debian's packages) before the rest of PATH."""
    path = os.pathsep.join(["/usr/bin", os.environ.get("PATH", "")])
    return next(filter(None, (shutil.which(name, path=path) for name in names)), None)


@pytest.fixture(scope="module")
def browser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """Headless Chromium driven by its chromedriver, given by path so that Selenium Manager
    never looks for (or downloads) one; quit afterwards, whatever happened."""
    try:
        from selenium import webdriver
    except ImportError:
        _unavailable("selenium is not installed")
    chromium = _find("chromium", "chromium-browser")
    driver_path = _find("chromedriver")
    if not chromium or not driver_path:
        _unavailable(f"{'chromium' if not chromium else 'chromedriver'} is not installed")
    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    profile = tmp_path_factory.mktemp("chromium-profile")
    for flag in [*FLAGS, f"--user-data-dir={profile}", f"--window-size={WIDTHS[0]},900"]:
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    service = webdriver.ChromeService(executable_path=driver_path)
    driver = webdriver.Chrome(service=service, options=options)
    try:
        driver.set_page_load_timeout(TIMEOUT)
        driver.set_script_timeout(TIMEOUT)
        yield driver
    finally:
        driver.quit()


def _resize(driver: Any, width: int) -> None:
    """Make the viewport `width` px wide: the window's frame (if any) is added on top."""
    from selenium.webdriver.support.ui import WebDriverWait

    frame = driver.execute_script("return window.outerWidth - window.innerWidth")
    driver.set_window_size(width + frame, 900)
    WebDriverWait(driver, TIMEOUT).until(
        lambda d: d.execute_script("return window.innerWidth") == width,
        f"the viewport never became {width} px wide",
    )


def _open(driver: Any, page: Path) -> None:
    """Load the page from its file:// URL, wait for it, and open every <details> (the runs)."""
    from selenium.webdriver.support.ui import WebDriverWait

    driver.get(page.as_uri())
    WebDriverWait(driver, TIMEOUT).until(
        lambda d: d.execute_script("return document.readyState") == "complete"
    )
    driver.execute_script("document.querySelectorAll('details').forEach(d => d.open = true)")


# the page's width against the viewport's, and the outermost elements that stick out (a table
# that scrolls inside its own box is fine: the box does not stick out)
OVERFLOW = """
const out = e => e.getBoundingClientRect().right > window.innerWidth + 0.5;
const wide = [...document.body.querySelectorAll('*')].filter(e => out(e) && !out(e.parentElement));
const root = document.documentElement;
return {scrollWidth: root.scrollWidth, clientWidth: root.clientWidth, innerWidth: window.innerWidth,
        sticking_out: wide.slice(0, 5).map(e => e.tagName + ': ' + e.textContent.slice(0, 60))};
"""


def _overflows(driver: Any) -> list[dict[str, Any]]:
    """At each of WIDTHS, what scrolls the page sideways; then back to the first width."""
    seen = []
    for width in WIDTHS:
        _resize(driver, width)
        seen.append(driver.execute_script(OVERFLOW))
    _resize(driver, WIDTHS[0])
    # clientWidth: innerWidth less the vertical scroll bar, so not even 15 px may stick out
    return [s for s in seen if s["scrollWidth"] > min(s["clientWidth"], s["innerWidth"])]


def _severe(driver: Any) -> list[dict[str, Any]]:
    """The console's errors since the last call (reading the log empties it)."""
    return [e for e in driver.get_log("browser") if e["level"] == "SEVERE"]


@pytest.mark.slow
def test_report_reads_well_in_a_real_browser(report: Path, browser: Any, tmp_path: Path) -> None:
    _severe(browser)  # nothing from an earlier page
    _open(browser, report)

    # every figure decoded (base64 PNGs: a broken one has naturalWidth 0)
    images = browser.execute_script(
        "return [...document.images].map(i => [i.alt, i.complete, i.naturalWidth])"
    )
    assert len(images) >= 5, images  # accuracy, dead units, dead layers, slopes, activations
    assert "PReLU slopes per layer" in [alt for alt, _, _ in images]
    broken = [alt for alt, complete, width in images if not (complete and width > 0)]
    assert not broken, f"images that did not decode: {broken}"

    assert not _overflows(browser)

    shot = tmp_path / "report.png"
    assert browser.save_screenshot(str(shot))
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and shot.stat().st_size > 10_000

    assert not _severe(browser)


@pytest.mark.slow
def test_a_wide_report_scrolls_its_tables_never_the_page(browser: Any, tmp_path: Path) -> None:
    """Every activation, each at its own lr, batch size, weight decay and dropout (a column each
    in the table: wider than any screen), a long folder name in the skipped list: the tables
    scroll in their boxes, the long path breaks."""
    root = tmp_path / "results"
    for i, act in enumerate(act_names()):
        make_run(root, act, 0, epochs=2, lr=0.01 * (i + 1), batch_size=32 + i,
                 weight_decay=1e-4 * (i + 1), dropout=0.01 * i)  # fmt: skip
    never_ran = root / ("a_folder_whose_run_never_started_" * 3)
    never_ran.mkdir()
    (never_ran / "config.yaml").write_text("act: relu\n")
    page = tmp_path / "report.html"
    r = runner.invoke(app, ["report", str(root), "--out", str(page)])
    assert r.exit_code == 0, r.output
    assert f"<code>{never_ran}</code>" in page.read_text()  # in the skipped list
    _severe(browser)
    _open(browser, page)
    assert not _overflows(browser)
    boxes = browser.execute_script(
        "return [...document.querySelectorAll('.scroll')].map(b => b.scrollWidth > b.clientWidth)"
    )
    assert any(boxes)  # the config table is wider than the page: it scrolls in its box
    assert not _severe(browser)
