"""The Pipeline page: stages and their status, the parameters form, Run with its live
log, and Commit, on the demo repository and on small pipelines of our own."""

from __future__ import annotations

import fcntl
import html
import os
import re
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from starlette.testclient import TestClient

from mlv import Repo
from ui_support import client

HTMX = {"HX-Request": "true"}
SLOW_PIPELINE = """\
stages:
  slow:
    cmd: sleep 2 && echo done > out.txt
    outs:
      - out.txt
"""


@pytest.fixture(autouse=True)
def stages_python(monkeypatch: pytest.MonkeyPatch) -> None:
    """The demo's stages run ``python`` with scikit-learn, as ``mlv demo`` ran them: this
    interpreter first on the PATH (its environment is part of each run's inputs)."""
    monkeypatch.setenv(
        "PATH", os.pathsep.join([str(Path(sys.executable).parent), os.environ["PATH"]])
    )
    monkeypatch.delenv("MLV_DEBUG", raising=False)
    monkeypatch.setenv("MLV_AUTHOR_NAME", "Ada Tester")
    monkeypatch.setenv("MLV_AUTHOR_EMAIL", "ada@example.com")


def statuses(html: str) -> dict[str, str]:
    return dict(
        re.findall(r'<g class="node[^"]*" data-stage="([^"]+)" data-status="([^"]+)"', html)
    )


def edges(html: str) -> set[tuple[str, str]]:
    return set(re.findall(r'data-from="([^"]+)" data-to="([^"]+)"', html))


def job_id(html: str) -> str:
    found = re.search(r'data-job="(\d+)"', html)
    assert found, html
    return found.group(1)


def follow_log(web: TestClient, job: str, timeout: float = 240) -> tuple[str, str]:
    """Poll the job's log as the page does until it ends: (all lines, the last fragment)."""
    after, text, deadline = 0, "", time.monotonic() + timeout
    while time.monotonic() < deadline:
        page = web.get(f"/jobs/{job}/log?after={after}", headers=HTMX)
        assert page.status_code == 200, page.text
        appended = re.search(r'hx-swap-oob="beforeend:#job-log">(.*?)</div>', page.text, re.S)
        text += appended.group(1) if appended else ""
        poll = re.search(rf'hx-get="/jobs/{job}/log\?after=(\d+)"', page.text)
        if poll is None:
            return text, page.text
        assert int(poll.group(1)) >= after
        after = int(poll.group(1))
        time.sleep(0.2)
    raise AssertionError(f"job {job} did not finish in {timeout} s; log so far:\n{text}")


@contextmanager
def lock_held(root: Path) -> Iterator[None]:
    """The repository's write lock, held as another mlv process would hold it."""
    fd = os.open(root / ".mlv" / "lock", os.O_RDWR | os.O_CREAT)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


def jobs_started(web: TestClient) -> bool:
    app: Any = web.app
    runner = getattr(app.state, "jobs", None)
    return runner is not None and runner.latest is not None


def slow_repo(root: Path) -> Path:
    (root / "mlv.yaml").write_text(SLOW_PIPELINE)
    return root


def test_the_page_shows_the_stages_their_edges_and_that_all_are_up_to_date(demo_repo: Path) -> None:
    page = client(demo_repo).get("/pipeline")
    assert page.status_code == 200
    assert statuses(page.text) == {
        "features": "up to date",
        "train": "up to date",
        "predict": "up to date",
    }
    assert {("features", "train"), ("train", "predict")} <= edges(page.text)
    assert ("predict", "train") not in edges(page.text)
    row = re.search(r'<tr data-stage="train">(.*?)</tr>', page.text, re.S)
    assert row and "python src/train.py" in row.group(1) and "models/model.pkl" in row.group(1)
    assert "params.yaml: train" in row.group(1) and "inputs unchanged" in row.group(1)
    assert 'name="params.yaml::train.n_estimators" value="150"' in page.text
    assert "Run the pipeline" in page.text and ">Save</button>" in page.text


def test_the_page_reads_while_another_process_holds_the_write_lock(demo_repo: Path) -> None:
    answer: dict[str, int | str] = {}

    def load() -> None:
        page = client(demo_repo).get("/pipeline")
        answer["status"], answer["text"] = page.status_code, page.text

    with lock_held(demo_repo):
        reader = threading.Thread(target=load, daemon=True)
        reader.start()
        reader.join(60)
    assert answer.get("status") == 200, "the page waited for the write lock"
    assert statuses(str(answer["text"]))["train"] == "up to date"


def test_a_stage_is_chosen_and_an_unknown_one_refused(demo_repo: Path) -> None:
    web = client(demo_repo)
    page = web.get("/pipeline?stage=train")
    assert 'name="params.yaml::train.max_depth"' in page.text
    assert "features.seed" not in page.text
    assert "Run train and what it needs" in page.text
    missing = web.get("/pipeline?stage=nope")
    assert missing.status_code == 400 and "no stage named 'nope'" in html.unescape(missing.text)


def test_without_a_pipeline_the_page_says_so(repo_path: Path) -> None:
    page = client(repo_path).get("/pipeline")
    assert page.status_code == 200
    assert "no mlv.yaml or dvc.yaml" in page.text
    refused = client(repo_path).post("/pipeline/run", data={})
    assert refused.status_code == 400 and "no mlv.yaml or dvc.yaml" in refused.text


def test_preview_shows_the_diff_and_writes_nothing(demo_copy: Path) -> None:
    before = (demo_copy / "params.yaml").read_bytes()
    shown = client(demo_copy).post(
        "/pipeline/params/preview",
        data={"stage": "", "params.yaml::train.n_estimators": "80", "params.yaml::train.seed": "0"},
        headers=HTMX,
    )
    assert shown.status_code == 200, shown.text
    assert '<span class="removed">-  n_estimators: 150</span>' in shown.text
    assert '<span class="added">+  n_estimators: 80</span>' in shown.text
    # Unchanged values are context, never changes.
    assert shown.text.count('class="removed"') == 1 and shown.text.count('class="added"') == 1
    assert (demo_copy / "params.yaml").read_bytes() == before
    same = client(demo_copy).post("/pipeline/params/preview", data={"params.yaml::train.seed": "0"})
    assert "Nothing would change" in same.text


def test_bad_values_are_refused(demo_copy: Path) -> None:
    web = client(demo_copy)
    before = (demo_copy / "params.yaml").read_bytes()
    cases = {
        "params.yaml::train.n_estimators": (
            "many",
            "train.n_estimators is a whole number, not 'many'",
        ),
        "params.yaml::train.nope": ("1", "'train.nope' in 'params.yaml' is not a parameter"),
        "other.yaml::train.seed": ("1", "is not a parameter"),
        "params.yaml::features.test_size": ("a quarter", "is a number"),
    }
    for field, (value, message) in cases.items():
        for url in ("/pipeline/params", "/pipeline/params/preview"):
            answer = web.post(url, data={field: value})
            assert answer.status_code == 400, (field, answer.text)
            assert message in html.unescape(answer.text)
    outside = web.post(
        "/pipeline/params", data={"stage": "train", "params.yaml::features.seed": "1"}
    )
    assert outside.status_code == 400 and "not a parameter of stage 'train'" in html.unescape(
        outside.text
    )
    no_stage = web.post("/pipeline/params", data={"stage": "nope", "params.yaml::train.seed": "1"})
    assert no_stage.status_code == 400
    assert (demo_copy / "params.yaml").read_bytes() == before
    run = web.post("/pipeline/run", data={"stage": "nope"})
    assert run.status_code == 400 and "no stage named 'nope'" in html.unescape(run.text)
    assert not jobs_started(web)


def test_save_run_and_commit(demo_copy: Path) -> None:
    params = demo_copy / "params.yaml"
    params.write_text("# chosen by hand\n" + params.read_text().replace("150", "150  # trees"))
    before = params.read_text()
    web = client(demo_copy)

    saved = web.post(
        "/pipeline/params",
        data={"stage": "", "params.yaml::train.n_estimators": "80", "params.yaml::train.seed": "0"},
        headers={**HTMX, "HX-Target": "content"},
    )
    assert saved.status_code == 200, saved.text
    assert "Saved params.yaml." in saved.text and "<html" not in saved.text
    assert params.read_text() == before.replace(
        "n_estimators: 150  # trees", "n_estimators: 80  # trees"
    )
    assert statuses(saved.text) == {
        "features": "up to date",
        "train": "changed",
        "predict": "changed",
    }
    page = web.get("/pipeline").text
    assert "params changed: train.n_estimators" in page
    assert "'train' would run first" in html.unescape(page)

    with Repo(demo_copy) as repo:
        head = repo.refs.head().commit
        runs_before = set(repo.runs("HEAD"))
    started = web.post("/pipeline/run", data={"stage": ""}, headers=HTMX)
    assert started.status_code == 200, started.text
    log, last = follow_log(web, job_id(started.text))
    assert "$ mlv repro" in log
    assert "running stage train (params changed: train.n_estimators)" in log
    assert "running stage predict" in log and "stage features: unchanged" in log
    assert 'data-state="succeeded"' in last and 'href="/runs"' in last
    # The stages were looked at again when the run ended.
    assert 'id="pipeline-stages" hx-swap-oob="true"' in last
    assert statuses(last) == {
        "features": "up to date",
        "train": "up to date",
        "predict": "up to date",
    }
    again = web.get(f"/jobs/{job_id(started.text)}/log?after=10000", headers=HTMX)
    assert "beforeend:#job-log" not in again.text  # nothing after the end

    assert web.post("/pipeline/commit", data={"message": "  "}).status_code == 400
    committed = web.post("/pipeline/commit", data={"message": "Fewer trees"}, headers=HTMX)
    assert committed.status_code == 200, committed.text
    with Repo(demo_copy) as repo:
        new_head = repo.refs.head().commit
        assert new_head is not None
        commit = repo.read_commit(new_head)
        runs_now = repo.runs("HEAD")
        assert (
            new_head != head
            and tuple(commit.parents) == (head,)
            and commit.message.startswith("Fewer trees")
        )
        names = {repo.read_run(r).name for r in commit.runs}
        assert {"train", "predict"} <= names
        assert set(commit.runs) <= set(runs_now) and set(commit.runs).isdisjoint(runs_before)
        assert repo.read_run(next(iter(commit.runs))).user.startswith("Ada Tester")
    assert f'href="/commit/{new_head}"' in committed.text

    nothing = web.post("/pipeline/commit", data={"message": "Again"}, headers=HTMX)
    assert nothing.status_code == 409
    assert "nothing to commit" in nothing.text


def test_a_second_run_while_one_runs_is_refused(repo_path: Path) -> None:
    web = client(slow_repo(repo_path))
    first = web.post("/pipeline/run", data={"stage": "slow"})
    assert first.status_code == 200, first.text
    job = job_id(first.text)
    second = web.post("/pipeline/run", data={})
    assert second.status_code == 409
    assert f"mlv repro slow (job {job}) is still running" in html.unescape(second.text)
    commit = web.post("/pipeline/commit", data={"message": "too soon"})
    assert commit.status_code == 409 and f"job {job}" in commit.text
    page = web.get("/pipeline")
    assert f'hx-get="/jobs/{job}/log?after=' in page.text  # the page follows the running job
    log, last = follow_log(web, job)
    assert 'data-state="succeeded"' in last and "running stage slow (never run)" in log
    assert (repo_path / "out.txt").read_text() == "done\n"
    assert web.post("/pipeline/run", data={"stage": "slow"}).status_code == 200


def test_a_run_blocked_by_another_writer_says_so_in_its_log(
    demo_copy: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MLV_LOCK_TIMEOUT", "0.5")
    (demo_copy / "params.yaml").write_text(
        (demo_copy / "params.yaml").read_text().replace("150", "90")
    )
    web = client(demo_copy)
    with lock_held(demo_copy):
        started = web.post("/pipeline/run", data={})
        log, last = follow_log(web, job_id(started.text))
    assert 'data-state="failed"' in last
    assert "another mlv process is writing to this repository" in log


def test_the_token_is_needed_for_every_action(demo_copy: Path) -> None:
    before = (demo_copy / "params.yaml").read_bytes()
    web = client(demo_copy, token=None)
    for url, data in [
        ("/pipeline/run", {}),
        ("/pipeline/commit", {"message": "x"}),
        ("/pipeline/params", {"params.yaml::train.seed": "3"}),
        ("/pipeline/params/preview", {"params.yaml::train.seed": "3"}),
    ]:
        refused = web.post(url, data=data)
        assert refused.status_code == 403 and "session token" in refused.text
    assert (demo_copy / "params.yaml").read_bytes() == before
    assert not jobs_started(web)


def test_read_only_hides_the_actions_and_refuses_them(demo_copy: Path) -> None:
    web = client(demo_copy, read_only=True)
    page = web.get("/pipeline")
    assert page.status_code == 200
    for action in (
        "/pipeline/run",
        "/pipeline/commit",
        "/pipeline/params",
        "/pipeline/params/preview",
    ):
        assert f'hx-post="{action}"' not in page.text
        assert web.post(action, data={}).status_code == 403
    assert (
        'name="params.yaml::train.n_estimators" value="150" inputmode="decimal" size="12" disabled'
        in page.text
    )
    assert "read-only" in page.text


def test_an_unknown_job_is_not_found(demo_repo: Path) -> None:
    missing = client(demo_repo).get("/jobs/99/log")
    assert missing.status_code == 404 and "no job '99'" in html.unescape(missing.text)


def test_a_broken_pipeline_file_is_shown_not_crashed_on(repo_path: Path) -> None:
    (repo_path / "mlv.yaml").write_text(
        "stages:\n  a:\n    cmd: cp y x\n    deps: [y]\n    outs: [x]\n"
        "  b:\n    cmd: cp x y\n    deps: [x]\n    outs: [y]\n"
    )
    page = client(repo_path).get("/pipeline")
    assert page.status_code == 200
    assert "stages form a cycle: a -&gt; b -&gt; a" in page.text


FOREVER_PIPELINE = """\
stages:
  forever:
    cmd: echo started && sleep 300 && echo never > out.txt
    outs:
      - out.txt
"""


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def _sleepers(root: Path) -> list[int]:
    """Processes whose command line is the stage's sleep, started in ``root``."""
    found = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            cmdline = (proc / "cmdline").read_bytes().split(b"\0")
            cwd = os.readlink(proc / "cwd")
        except OSError:
            continue
        if cmdline[:2] == [b"sleep", b"300"] and cwd == str(root):
            found.append(int(proc.name))
    return found


def test_stop_ends_the_command_and_all_it_started(repo_path: Path) -> None:
    (repo_path / "mlv.yaml").write_text(FOREVER_PIPELINE)
    web = client(repo_path)
    job = job_id(web.post("/pipeline/run", data={"stage": "forever"}).text)
    deadline = time.monotonic() + 60
    while not _sleepers(repo_path) and time.monotonic() < deadline:
        time.sleep(0.2)
    (sleeper,) = _sleepers(repo_path)
    assert "Stop</button>" in web.get(f"/jobs/{job}/log", headers=HTMX).text
    stopped = web.post(f"/jobs/{job}/stop")
    assert stopped.status_code == 200 and "stopped" in stopped.text
    log, last = follow_log(web, job, timeout=30)
    assert 'data-state="stopped"' in last and "stopped from the page" in log
    assert not _alive(sleeper)
    assert not (repo_path / "out.txt").exists()
    # The runner is free again, and no Stop is offered for a job that ended.
    assert "Stop</button>" not in web.get(f"/jobs/{job}/log", headers=HTMX).text
    assert web.post("/pipeline/commit", data={"message": "x"}).status_code != 409


def test_stopping_every_job_leaves_no_process_behind(repo_path: Path) -> None:
    (repo_path / "mlv.yaml").write_text(FOREVER_PIPELINE)
    web = client(repo_path)
    web.post("/pipeline/run", data={"stage": "forever"})
    deadline = time.monotonic() + 60
    while not _sleepers(repo_path) and time.monotonic() < deadline:
        time.sleep(0.2)
    (sleeper,) = _sleepers(repo_path)
    app: Any = web.app
    app.state.jobs.stop_all(grace=2)  # what the server does when it stops
    assert not _alive(sleeper)
    assert app.state.jobs.current is None


def test_commit_takes_an_edited_script_with_the_outputs_it_made(demo_copy: Path) -> None:
    script = demo_copy / "src" / "train.py"
    edited = script.read_text().replace('print(f"train:', 'print(f"train (edited):')
    script.write_text(edited)
    web = client(demo_copy)
    job = job_id(web.post("/pipeline/run", data={"stage": "train"}).text)
    log, last = follow_log(web, job)
    assert 'data-state="succeeded"' in last and "train (edited):" in log
    committed = web.post("/pipeline/commit", data={"message": "edited training script"})
    assert committed.status_code == 200, committed.text
    with Repo(demo_copy) as repo:
        assert repo.read_bytes("HEAD", "src/train.py").decode() == edited
        (train,) = [r for r in repo.show("HEAD").runs if r.run.name == "train"]
        assert train.recorded_here
        assert repo.status().clean
