"""mlv ui in a real browser: Debian's chromium, driven by Playwright, against a live
``mlv ui`` serving a copy of the demo repository.

Each test saves screenshots in its output folder: of the page it ends on, and the
``ui-*.png`` that docs/ui.md shows; with ``MLV_UI_SCREENSHOTS=DIR`` they are written
to DIR as well (``MLV_UI_SCREENSHOTS=docs/images`` refreshes the docs).
Without a chromium the tests are skipped, unless ``MLV_REQUIRE_BROWSER=1`` (CI).
"""

from __future__ import annotations

import io
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterator
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
        # The stages run "python": this interpreter, as for a user of mlv demo.
        path = f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"
        self.process = subprocess.Popen(
            [sys.executable, "-m", "mlv", "ui", "--port", "0"],
            cwd=root,
            env=mlv_env({"PATH": path}),
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


def _save(tab: Page, folder: Path, name: str, *, publish: bool = False) -> None:
    """A screenshot in ``folder``: the whole page, or for docs/ui.md (``publish``) the
    window's view of it, also copied to ``MLV_UI_SCREENSHOTS`` when set."""
    shot = folder / f"{name}.png"
    tab.evaluate("window.scrollTo(0, 0)")  # the top bar is sticky: keep it on top
    tab.screenshot(path=str(shot), full_page=not publish)
    target = os.environ.get("MLV_UI_SCREENSHOTS")
    if publish and target:
        Path(target).mkdir(parents=True, exist_ok=True)
        shutil.copy(shot, Path(target) / shot.name)


@pytest.fixture
def page(browser: BrowserContext, request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Page]:
    """A new tab; the page it ends on is saved as a screenshot, and a script error or a
    console error (a refused load, a Content-Security-Policy violation) on any page it
    opened fails the test."""
    tab = browser.new_page()
    tab.set_default_timeout(TIMEOUT_MS)
    errors: list[str] = []
    tab.on("pageerror", lambda error: errors.append(str(error)))
    tab.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    yield tab
    _save(tab, tmp_path, request.node.name.removeprefix("test_"))
    tab.close()
    assert not errors, errors


@pytest.fixture
def snap(page: Page, tmp_path: Path) -> Callable[[str], None]:
    """``snap(name)``: a screenshot of the page as it is now, named for docs/ui.md."""
    return lambda name: _save(page, tmp_path, f"ui-{name}", publish=True)


def test_history_draws_the_graph_and_opens_a_commit(
    live: LiveUi, page: Page, snap: Callable[[str], None]
) -> None:
    p = page
    p.goto(live.url + "/history")
    snap("history")
    rows = p.locator("table.history tbody tr")
    assert rows.count() == 2
    assert p.locator("svg.graph circle").count() == 2
    rows.nth(1).locator("td:nth-child(2) a").first.click()
    p.wait_for_url(re.compile(r"/commit/[0-9a-f]{64}$"))
    assert "Baseline" in p.locator("h1").inner_text()
    assert p.locator("table.reproductions tbody tr").count() >= 1
    snap("commit")


def test_ask_opens_the_commit_current_on_a_day(
    live: LiveUi, page: Page, snap: Callable[[str], None]
) -> None:
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
    snap("ask")


def _run_ids(p: Page) -> list[str]:
    return p.locator("table.runs tbody tr[data-run]").evaluate_all(
        "rows => rows.map(r => r.dataset.run)"
    )


def test_the_runs_table_sorts_on_the_server(
    live: LiveUi, page: Page, snap: Callable[[str], None]
) -> None:
    p = page
    p.goto(live.url + "/runs")
    assert len(_run_ids(p)) == 5
    snap("runs")
    header = p.locator('th[data-column="metrics.accuracy"] a')
    header.click()
    p.wait_for_url(re.compile(r"sort=-metrics\.accuracy"))
    p.wait_for_selector('th[data-column="metrics.accuracy"]:has-text("▼")')
    cells = p.locator("table.runs tbody tr").evaluate_all(
        """rows => rows.map(r => r.children[
            [...r.closest('table').querySelectorAll('thead th')].findIndex(
                th => th.dataset.column === 'metrics.accuracy')].textContent.trim())"""
    )
    scores = [float(c) for c in cells if c]
    assert len(scores) == 2 and scores == sorted(scores, reverse=True)
    assert cells[2:] == ["", "", ""]  # runs without the metric last


def test_compare_two_runs_draws_their_plot(
    live: LiveUi, page: Page, snap: Callable[[str], None]
) -> None:
    p = page
    p.goto(live.url + "/runs?stage=predict")
    button = p.locator("#compare-runs")
    assert button.is_disabled()
    boxes = p.locator('table.runs input[name="run"]')
    assert boxes.count() == 2
    boxes.nth(0).check()
    assert button.is_disabled()
    boxes.nth(1).check()
    assert button.is_enabled()
    button.click()
    p.wait_for_url(re.compile(r"/compare\?run="))
    assert p.locator("h1").inner_text() == "Compare 2 runs"
    p.wait_for_selector("div.plot canvas")
    legend = p.locator("div.plot .u-legend").inner_text()
    assert legend.count("predict") == 2
    assert p.locator("tr.differs th", has_text="models/model.pkl").count() == 1
    snap("compare")


def test_lineage_of_the_predictions_clicks_through_to_a_run(
    live: LiveUi, page: Page, snap: Callable[[str], None]
) -> None:
    p = page
    p.goto(live.url + "/lineage?path=predictions/test.parquet")
    graph = p.locator("svg.dag")
    assert graph.locator("g.node.run").count() == 3  # predict, train, features
    assert graph.locator("g.node.focus").count() == 1
    snap("lineage")
    graph.locator("g.node.run", has_text="run train").locator("a").first.click()
    p.wait_for_url(re.compile(r"/run/[0-9a-f]{64}$"))
    body = p.locator("main").inner_text()
    assert "python src/train.py" in body and "n_estimators" in body
    p.go_back()
    p.locator("a", has_text="Downstream: what used this?").click()
    p.wait_for_url(re.compile(r"direction=downstream"))
    assert p.locator("table.lineage-nodes tbody tr").count() >= 1


def test_a_table_at_a_revision_pages_its_rows(
    live: LiveUi, page: Page, snap: Callable[[str], None]
) -> None:
    import pyarrow.parquet as pq

    from mlv import Repo

    with Repo(live.root) as repo:
        stored = b"".join(repo.open_file("baseline", "data/features/test.parquet"))
    table = pq.read_table(io.BytesIO(stored))
    p = page
    p.goto(live.url + "/files/baseline/")
    snap("files")
    p.locator("a", has_text="data").first.click()
    p.locator("a", has_text="features").first.click()
    p.locator("a", has_text="test.parquet").first.click()
    p.wait_for_url(re.compile(r"/files/baseline/data/features/test\.parquet$"))
    assert p.locator("table.files-stats tbody tr").count() == table.num_columns
    rows = p.locator("table.files-data tbody tr")
    assert rows.count() == 100
    snap("table")
    p.locator("#rows a", has_text="next →").click()
    p.wait_for_url(re.compile(r"offset=100"))
    p.wait_for_selector("#rows:has-text('rows 101')")
    ids = p.locator("table.files-data tbody tr td:nth-child(2)").all_inner_texts()
    assert ids == [str(v) for v in table.column("id").to_pylist()[100:]]


def test_a_keyed_table_diff(live: LiveUi, page: Page, snap: Callable[[str], None]) -> None:
    from mlv import Repo

    with Repo(live.root) as repo:
        diff = repo.diff_table("predictions/test.parquet", "baseline", "main", key=["id"])
    changed = diff.rows.changed
    assert changed > 0
    p = page
    p.goto(live.url + "/diff?a=baseline&b=main")
    p.locator("tr", has_text="predictions/test.parquet").locator("a", has_text="row diff").click()
    p.wait_for_url(re.compile(r"path=predictions"))
    p.locator('input[name="key"]').fill("id")
    p.locator("button", has_text="Compare").click()
    p.wait_for_url(re.compile(r"key=id"))
    facts = p.locator("dl.facts").inner_text()
    assert "on id" in facts and f"~{changed:,} changed" in facts
    cells = p.locator("table.rows-changed td.changed")
    assert cells.count() > 0
    old, new = cells.first.locator(".old").inner_text(), cells.first.locator(".new").inner_text()
    assert old != new
    snap("diff")


@pytest.fixture
def live_copy(demo_repo: Path, tmp_path: Path) -> Iterator[LiveUi]:
    """A live server of its own: the pipeline test runs, edits and commits."""
    root = tmp_path / "tour"
    shutil.copytree(demo_repo, root, symlinks=True)
    server = LiveUi(root)
    yield server
    server.stop()


def test_edit_a_parameter_run_watch_the_log_and_commit(
    live_copy: LiveUi, page: Page, snap: Callable[[str], None]
) -> None:
    from mlv import Repo

    live = live_copy
    with Repo(live.root) as repo:
        before = repo.resolve("HEAD")
    p = page
    p.goto(live.url + "/pipeline")
    assert p.locator("svg.dag g.node").count() == 3
    field = p.get_by_label("train.n_estimators")
    assert field.input_value() == "150"
    field.fill("60")
    p.locator("button", has_text="Preview").click()
    preview = p.locator("#params-diff")
    preview.locator("text=n_estimators: 60").wait_for()
    assert "n_estimators: 150" in preview.inner_text()
    assert "n_estimators: 150" in (live.root / "params.yaml").read_text()  # not written yet
    p.locator("#params-form button", has_text="Save").click()
    p.locator("p.notice", has_text="Saved params.yaml").wait_for()
    assert "params changed: train.n_estimators" in p.locator("main").inner_text()
    assert "n_estimators: 60" in (live.root / "params.yaml").read_text()
    p.locator("button.run").click()
    p.locator("#job-log").wait_for()
    p.locator(".job-result").wait_for(timeout=180_000)
    snap("pipeline")
    assert p.locator(".job-result").get_attribute("data-state") == "succeeded"
    log = p.locator("#job-log").inner_text()
    assert "train: 60 trees" in log and "predict:" in log
    # The new runs are in the Runs page straight away, before any commit.
    p.goto(live.url + "/runs?stage=train")
    first = p.locator("table.runs tbody tr").first.inner_text()
    assert "(not committed)" in first and "60" in first
    p.goto(live.url + "/pipeline")
    p.get_by_label("Commit message").fill("Fewer trees: 60")
    p.locator("form.commit button", has_text="Commit").click()
    p.locator(".commit-made").wait_for(timeout=60_000)
    with Repo(live.root) as repo:
        head = repo.show("HEAD")
    assert head.entry.id != before and head.entry.commit.message.startswith("Fewer trees: 60")
    assert {r.run.name for r in head.runs if r.recorded_here} == {"train", "predict"}
    p.locator(".commit-made a").first.click()
    p.wait_for_url(re.compile(r"/commit/"))
    assert "Fewer trees: 60" in p.locator("h1").inner_text()


def test_what_made_the_predictions_and_how_they_scored_in_one_click(
    live: LiveUi, page: Page, snap: Callable[[str], None]
) -> None:
    p = page
    p.goto(live.url + "/")
    p.wait_for_url(re.compile(r"/runs$"))
    newest_predict = p.locator("table.runs tbody tr", has_text="predict").first
    newest_predict.locator("td.id a").first.click()  # the run's id
    p.wait_for_url(re.compile(r"/run/[0-9a-f]{64}$"))
    made = p.locator("table.upstream").inner_text()
    assert "train.n_estimators = 150" in made and "features" in made
    against = p.locator("table.against").inner_text()
    assert "accuracy" in against and "+" in against
    snap("run")
    p.locator("a", has_text="compare the two").click()
    p.wait_for_url(re.compile(r"/compare\?run="))
    p.wait_for_selector("div.plot canvas")
