"""mlv ui in a real browser: Debian's chromium, driven by Playwright, against a live
``mlv ui`` serving a copy of the demo repository.

Each test saves a screenshot of the page it ends on in its output folder; with
``MLV_UI_SCREENSHOTS=DIR`` they are written to DIR as well (docs/ui.md shows them).
Without a chromium the tests are skipped, unless ``MLV_REQUIRE_BROWSER=1`` (CI).
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from conftest import mlv_env

CHROMIUM = os.environ.get("MLV_CHROMIUM", "/usr/bin/chromium")
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
]
TIMEOUT_MS = 30_000

if not Path(CHROMIUM).exists():
    if os.environ.get("MLV_REQUIRE_BROWSER") == "1":
        raise RuntimeError(f"no browser at {CHROMIUM}: install Debian's chromium package")
    pytest.skip(
        f"no browser at {CHROMIUM} (Debian: apt-get install chromium)", allow_module_level=True
    )

from playwright.sync_api import BrowserContext, Page, sync_playwright  # noqa: E402


class LiveUi:
    """``mlv ui`` running on a free port in ``root``."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.process = subprocess.Popen(
            [sys.executable, "-m", "mlv", "ui", "--port", "0"],
            cwd=root,
            env=mlv_env(),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            start_new_session=True,
        )
        assert self.process.stdout is not None
        line = self.process.stdout.readline()
        match = re.search(r"at (http://\S+)/", line)
        if match is None:
            self.stop()
            raise AssertionError(f"mlv ui did not start: {line!r}")
        self.url = match.group(1)

    def stop(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGINT)
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()


@pytest.fixture(scope="module")
def live(demo_repo: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveUi]:
    """A live server on a private copy of the demo: the pipeline test changes it."""
    root = tmp_path_factory.mktemp("browser") / "tour"
    shutil.copytree(demo_repo, root, symlinks=True)
    server = LiveUi(root)
    yield server
    server.stop()


@pytest.fixture(scope="module")
def browser() -> Iterator[BrowserContext]:
    profile = tempfile.mkdtemp(prefix="mlv-chromium-")
    with sync_playwright() as p:
        context = p.chromium.launch_persistent_context(
            profile, executable_path=CHROMIUM, args=FLAGS, viewport={"width": 1280, "height": 860}
        )
        yield context
        context.close()
    shutil.rmtree(profile, ignore_errors=True)


@pytest.fixture
def page(browser: BrowserContext, request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Page]:
    tab = browser.new_page()
    tab.set_default_timeout(TIMEOUT_MS)
    errors: list[str] = []
    tab.on("pageerror", lambda error: errors.append(str(error)))
    yield tab
    name = request.node.name.removeprefix("test_")
    shot = tmp_path / f"{name}.png"
    tab.screenshot(path=str(shot), full_page=True)
    target = os.environ.get("MLV_UI_SCREENSHOTS")
    if target:
        Path(target).mkdir(parents=True, exist_ok=True)
        shutil.copy(shot, Path(target) / shot.name)
    tab.close()
    assert not errors, errors


def test_history_draws_the_graph_and_opens_a_commit(live: LiveUi, page: Page) -> None:
    p = page
    p.goto(live.url + "/history")
    rows = p.locator("table.history tbody tr")
    assert rows.count() == 2
    assert p.locator("svg.graph circle").count() == 2
    rows.nth(1).locator("td:nth-child(2) a").first.click()
    p.wait_for_url(re.compile(r"/commit/[0-9a-f]{64}$"))
    assert "Baseline" in p.locator("h1").inner_text()
    assert p.locator("table.reproductions tbody tr").count() >= 1


def test_ask_opens_the_commit_current_on_a_day(live: LiveUi, page: Page) -> None:
    p = page
    p.goto(live.url + "/history")
    box = p.locator("header form.ask input")
    box.fill("metrics.json at baseline")
    box.press("Enter")
    p.wait_for_url(re.compile(r"/ask\?q="))
    facts = p.locator("dl.facts").inner_text()
    assert "mlv lineage metrics.json@baseline" in facts
    assert p.locator("table.runs tbody tr").count() == 1
    assert "predict" in p.locator("table.runs").inner_text()
