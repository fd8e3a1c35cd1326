"""mlv ui's guard and server: the Host check, the session token, --read-only, paths from
URLs, the history and commit pages, and the real command on a port of its own."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any, ClassVar

import pytest
from starlette.routing import Route

from conftest import RunMlv, mlv_env
from mlv import Repo
from mlv.errors import InvalidArgumentError
from mlv.ui import app as app_module
from mlv.ui.security import Guard, served_hosts
from mlv.ui.site import repo_path
from ui_support import TOKEN, client


def test_only_the_served_host_is_answered(demo_repo: Path) -> None:
    web = client(demo_repo)
    assert web.get("/history").status_code == 200
    for host in ("evil.example:8765", "127.0.0.1:9999", "localhost.evil.example:8765", ""):
        refused = web.get("/history", headers={"host": host})
        assert refused.status_code == 421, host
        assert "does not answer to the host" in refused.text
    assert web.get("/history", headers={"host": "localhost:8765"}).status_code == 200


def test_served_hosts_by_address() -> None:
    assert "127.0.0.1:80" in served_hosts("127.0.0.1", 80)
    assert "localhost:80" in served_hosts("127.0.0.1", 80)
    assert served_hosts("192.168.1.5", 80) == frozenset({"192.168.1.5:80"})
    assert "[::1]:80" in served_hosts("::1", 80)
    everywhere = served_hosts("0.0.0.0", 80)
    assert "127.0.0.1:80" in everywhere and len(everywhere) > 3


def _add_changing_route(monkeypatch: pytest.MonkeyPatch, calls: list[str]) -> None:
    """A POST route next to the real pages, to see what reaches a handler."""

    async def change(request: Any) -> Any:
        from starlette.responses import PlainTextResponse

        calls.append(request.method)
        return PlainTextResponse("changed")

    real = app_module._page_modules

    class Probe:
        routes: ClassVar[list[Route]] = [Route("/probe", change, methods=["POST", "PUT", "DELETE"])]

    monkeypatch.setattr(app_module, "_page_modules", lambda: [*real(), Probe])


def test_a_change_needs_the_session_token(demo_repo: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[str] = []
    _add_changing_route(monkeypatch, calls)
    assert client(demo_repo).post("/probe").text == "changed"
    for web in (client(demo_repo, token=None), client(demo_repo, token=TOKEN + "x")):
        refused = web.post("/probe")
        assert refused.status_code == 403 and "session token" in refused.text
        assert web.delete("/probe").status_code == 403
    # A cross-site form can send the token only in its body, never as the header.
    forged = client(demo_repo, token=None).post("/probe", data={"X-MLV-Token": TOKEN})
    assert forged.status_code == 403
    assert calls == ["POST"]


def test_read_only_refuses_every_change(demo_repo: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[str] = []
    _add_changing_route(monkeypatch, calls)
    web = client(demo_repo, read_only=True)
    refused = web.post("/probe")
    assert refused.status_code == 403 and "--read-only" in refused.text
    page = web.get("/history")
    assert page.status_code == 200 and "read-only" in page.text
    assert calls == []


def test_every_page_carries_the_token_for_htmx(demo_repo: Path) -> None:
    page = client(demo_repo).get("/history").text
    assert f'"X-MLV-Token": "{TOKEN}"' in page
    assert f'content="{TOKEN}"' in page


@pytest.mark.parametrize(
    "text",
    [
        "../etc/passwd",
        "a/../../b",
        ".mlv/config.toml",
        "/.mlv/objects",
        "a\\b",
        "a\x00b",
        "..",
        ".git/config",
        "sub/.GIT/HEAD",
        "data/.mlv/x",
    ],
)
def test_repository_paths_from_urls_refuse_escapes(text: str) -> None:
    with pytest.raises(InvalidArgumentError):
        repo_path(text)


def test_repository_paths_are_normalised() -> None:
    assert repo_path("") == ""
    assert repo_path("/data//features/./x.parquet/") == "data/features/x.parquet"
    assert repo_path("a.mlv/b") == "a.mlv/b"


def test_static_files_stay_in_their_folder(demo_repo: Path) -> None:
    web = client(demo_repo)
    css = web.get("/static/mlv.css")
    assert css.status_code == 200 and "mlv ui" in css.text
    assert web.get("/static/vendor/htmx.min.js").status_code == 200
    for url in (
        "/static/../security.py",
        "/static/%2e%2e/security.py",
        "/static/..%2fsecurity.py",
        "/static/vendor/../../app.py",
    ):
        response = web.get(url)
        assert response.status_code == 404, url
        assert "def create_app" not in response.text and "import" not in response.text


def test_pages_use_only_what_ships_with_mlv(demo_repo: Path) -> None:
    page = client(demo_repo).get("/history").text
    sources = re.findall(r'(?:src|href)="([^"]+)"', page)
    assert sources
    assert not [s for s in sources if re.match(r"(https?:)?//", s)], sources
    static = Path(app_module.STATIC)
    for source in sources:
        if source.startswith("/static/"):
            assert (static / source.removeprefix("/static/")).is_file(), source


def test_history_lists_every_commit_and_filters(demo_repo: Path) -> None:
    web = client(demo_repo)
    with Repo(demo_repo) as repo:
        entries = repo.log(all_refs=True)
    page = web.get("/history").text
    assert "2 commits" in page
    for entry in entries:
        assert f"/commit/{entry.id}" in page
        assert entry.commit.message.splitlines()[0] in page
    assert "baseline" in page and "main" in page
    assert "<svg" in page and "<circle" in page
    by_path = web.get("/history", params={"path": "src/features.py"}).text
    assert "1 commit<" in by_path and entries[-1].id in by_path
    nobody = web.get("/history", params={"author": "nobody-at-all"}).text
    assert "No commit matches" in nobody
    future = web.get("/history", params={"since": "2999-01-01"}).text
    assert "No commit matches" in future
    bad = web.get("/history", params={"since": "not a time"})
    assert bad.status_code == 400 and "cannot read" in bad.text
    assert web.get("/history", params={"path": "../x"}).status_code == 400


def test_history_pages_a_long_history(repo_path: Path, commit_files: Any) -> None:
    for n in range(105):
        commit_files(repo_path, {"n.txt": f"{n}\n"}, f"change {n}")
    web = client(repo_path)
    first = web.get("/history").text
    assert "change 104<" in first and "change 5<" in first and "change 4<" not in first
    assert "offset=100" in first and "1\u2013100 of 105" in first
    second = web.get("/history", params={"offset": 100}).text
    assert "change 4<" in second and "change 0<" in second and "change 5<" not in second
    assert web.get("/history", params={"offset": "x"}).status_code == 400


def test_an_htmx_request_gets_the_content_alone(demo_repo: Path) -> None:
    fragment = client(demo_repo).get(
        "/history", headers={"HX-Request": "true", "HX-Target": "content"}
    )
    assert fragment.status_code == 200
    assert "<h1>History</h1>" in fragment.text and "<html" not in fragment.text
    error = client(demo_repo).get("/commit/nope-nope", headers={"HX-Request": "true"})
    assert error.status_code == 404 and "<html" not in error.text


def test_the_commit_page_shows_files_runs_and_reproductions(demo_repo: Path) -> None:
    web = client(demo_repo)
    with Repo(demo_repo) as repo:
        head = repo.show("HEAD")
        base = repo.show("baseline")
    page = web.get("/commit/HEAD").text
    assert head.entry.id in page and head.entry.commit.author.name in page
    for change in head.changes:
        assert change.path in page
    for run in head.runs:
        assert f"/run/{run.id}" in page and run.run.cmd in page
    assert "Not reproduced yet" in page
    assert "/commit/" + head.entry.commit.parents[0] in page
    base_page = web.get("/commit/baseline").text
    assert base.reproductions
    for _, reproduction in base.reproductions:
        assert reproduction.verdict in base_page
    assert "first commit" in base_page
    short = web.get(f"/commit/{head.entry.id[:8]}")
    assert short.status_code == 200 and head.entry.id in short.text
    missing = web.get("/commit/no-such-branch")
    assert missing.status_code == 404 and "no-such-branch" in missing.text


def test_home_opens_the_first_page(demo_repo: Path) -> None:
    home = client(demo_repo).get("/", follow_redirects=False)
    assert home.status_code == 302 and home.headers["location"].startswith("/")


# -- the command ----------------------------------------------------------------------


def _start_ui(root: Path, *args: str) -> tuple[subprocess.Popen[str], str]:
    env = mlv_env()
    process = subprocess.Popen(
        [sys.executable, "-m", "mlv", "ui", "--port", "0", *args],
        cwd=root,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    assert process.stdout is not None
    line = process.stdout.readline()
    match = re.search(r"at (http://\S+/)", line)
    if match is None:
        process.kill()
        raise AssertionError(
            f"no address in {line!r}: {process.stderr.read() if process.stderr else ''}"
        )
    return process, match.group(1)


def _stop(process: subprocess.Popen[str]) -> None:
    os.killpg(process.pid, signal.SIGINT)
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()


def test_mlv_ui_serves_on_a_free_port_and_stops_on_ctrl_c(demo_repo: Path) -> None:
    started = time.monotonic()
    process, url = _start_ui(demo_repo, "--read-only")
    try:
        assert url.startswith("http://127.0.0.1:")
        with urllib.request.urlopen(url + "history", timeout=10) as response:
            body = response.read().decode()
        assert "History" in body and "read-only" in body
        assert time.monotonic() - started < 30
        request = urllib.request.Request(url + "history", method="POST", data=b"")
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(request, timeout=10)
        assert refused.value.code in (403, 405)
    finally:
        _stop(process)
    assert process.returncode == 0


def test_a_busy_port_is_one_clear_line(demo_repo: Path, run_mlv: RunMlv) -> None:
    import socket

    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen(1)
        port = busy.getsockname()[1]
        done = run_mlv(demo_repo, "ui", "--port", str(port), expect=2)
    assert f"port {port}" in done.stderr and "in use" in done.stderr
    assert "Traceback" not in done.stderr


def test_another_host_warns(demo_repo: Path) -> None:
    process = subprocess.Popen(
        [sys.executable, "-m", "mlv", "ui", "--port", "0", "--host", "0.0.0.0"],
        cwd=demo_repo,
        env=mlv_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        assert process.stdout is not None and process.stderr is not None
        line = process.stdout.readline()
        assert "serving" in line
        warning = process.stderr.readline()
        assert "reachable from other machines" in warning
    finally:
        _stop(process)


def test_status_does_not_import_the_web_stack(demo_repo: Path) -> None:
    code = (
        "import sys\n"
        "from mlv.cli.entry import run\n"
        "sys.argv = ['mlv', 'status']\n"
        "try:\n    run()\nexcept SystemExit:\n    pass\n"
        "print(sorted(m for m in ('starlette', 'uvicorn', 'jinja2') if m in sys.modules))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code],
        cwd=demo_repo,
        env=mlv_env(),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.stdout.strip().splitlines()[-1] == "[]", done.stdout + done.stderr


def test_the_guard_is_built_from_the_address() -> None:
    guard = Guard(served_hosts("127.0.0.1", 1234), "t")
    assert guard.refusal("GET", {"host": "127.0.0.1:1234"}) is None
    assert guard.refusal("POST", {"host": "127.0.0.1:1234", "x-mlv-token": "t"}) is None
    assert guard.refusal("POST", {"host": "127.0.0.1:1234"}) is not None
    assert guard.refusal("GET", {"host": "127.0.0.1"}) is not None


def test_every_answer_forbids_framing_and_foreign_scripts(demo_repo: Path) -> None:
    web = client(demo_repo)
    answers = [
        web.get("/history"),
        web.get("/static/mlv.css"),
        web.get("/commit/no-such"),
        web.get("/history", headers={"host": "evil.example:8765"}),
        client(demo_repo, token=None).post("/history"),
    ]
    for answer in answers:
        assert answer.headers["x-frame-options"] == "DENY", answer.url
        policy = answer.headers["content-security-policy"]
        assert "frame-ancestors 'none'" in policy and "script-src 'self'" in policy
    # No page needs a script of its own inline: the policy would refuse it.
    for template in (Path(app_module.__file__).parent / "templates").glob("*.html"):
        text = template.read_text()
        assert not re.search(r"<script(?![^>]*\bsrc=)", text), template.name
        assert not re.search(r"\son[a-z]+=", text), template.name


def test_on_every_address_the_numeric_address_is_answered(demo_repo: Path) -> None:
    guard = Guard(served_hosts("0.0.0.0", 8765), "t", everywhere=True)
    assert guard.refusal("GET", {"host": "192.0.2.2:8765"}, ("192.0.2.2", 8765)) is None
    assert guard.refusal("GET", {"host": "[fd00::2]:8765"}, ("fd00::2", 8765)) is None
    # A name is never taken from the connection: rebinding sends the attacker's name.
    assert guard.refusal("GET", {"host": "evil.example:8765"}, ("192.0.2.2", 8765))
    assert guard.refusal("GET", {"host": "192.0.2.3:8765"}, ("192.0.2.2", 8765))


def test_a_form_over_the_limit_is_refused_before_it_is_read(
    demo_repo: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from starlette.responses import PlainTextResponse

    from mlv.ui.site import MAX_FORM_BYTES, form_of

    async def echo(request: Any) -> Any:
        fields = await form_of(request)
        return PlainTextResponse(",".join(sorted(fields)))

    real = app_module._page_modules

    class Echo:
        routes: ClassVar[list[Route]] = [Route("/echo", echo, methods=["POST"])]

    monkeypatch.setattr(app_module, "_page_modules", lambda: [*real(), Echo])
    web = client(demo_repo)
    assert web.post("/echo", data={"a": "1", "b": "2"}).text == "a,b"
    big = web.post("/echo", content=b"a=" + b"x" * MAX_FORM_BYTES)
    assert big.status_code == 400 and "over the limit" in big.text
    announced = web.post("/echo", content=b"a=1", headers={"content-length": str(1 << 40)})
    assert announced.status_code == 400


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--port", "70000"], "out of range"),
        (["--port", "-1"], "out of range"),
        (["--host", ""], "--host is empty"),
    ],
)
def test_bad_addresses_are_one_clear_line(
    demo_repo: Path, run_mlv: RunMlv, args: list[str], message: str
) -> None:
    done = run_mlv(demo_repo, "ui", *args, expect=2)
    assert message in done.stderr and "Traceback" not in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1


def test_pages_read_consistently_while_the_cli_commits(
    repo_path: Path, commit_files: Any, run_mlv: RunMlv
) -> None:
    import threading

    commit_files(repo_path, {"n.txt": "0\n"}, "change 0")
    web = client(repo_path)
    seen: list[int] = []
    failures: list[str] = []
    done = threading.Event()

    def read() -> None:
        while not done.is_set():
            page = web.get("/history")
            if page.status_code != 200:
                failures.append(f"{page.status_code}: {page.text[:200]}")
                return
            found = re.search(r"(\d+) commits?<", page.text)
            seen.append(int(found.group(1)) if found else -1)
            if web.get("/commit/HEAD").status_code != 200:
                failures.append("commit page")

    reader = threading.Thread(target=read)
    reader.start()
    try:
        for n in range(1, 9):
            (repo_path / "n.txt").write_text(f"{n}\n")
            run_mlv(repo_path, "add", "n.txt")
            run_mlv(repo_path, "commit", "-m", f"change {n}")
    finally:
        done.set()
        reader.join(timeout=60)
    assert not failures, failures
    # Each read saw a whole history: one to nine commits, never fewer than before.
    assert seen and -1 not in seen and seen == sorted(seen) and seen[-1] <= 9
