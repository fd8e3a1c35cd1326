"""What the mlv ui tests share: the demo repository, built once per test process, and
a test client that talks to the real application with its guard on."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

from starlette.testclient import TestClient

from mlv.ui.app import create_app
from mlv.ui.security import Guard, served_hosts

TOKEN = "test-session-token"
PORT = 8765
BASE_URL = f"http://127.0.0.1:{PORT}"


def build_demo(target: Path) -> Path:
    """The repository ``mlv demo`` leaves: two commits (tag baseline, then main), three
    stages run on each, and a recorded reproduction of the baseline."""
    env = {k: v for k, v in os.environ.items() if k != "MLV_DEBUG"}
    done = subprocess.run(
        [sys.executable, "-m", "mlv", "demo", str(target)],
        cwd=target.parent,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    return target


def copy_repo(source: Path, target: Path) -> Path:
    """A private copy of a repository, for a test that changes it."""
    shutil.copytree(source, target, symlinks=True)
    return target


def client(root: Path, *, read_only: bool = False, token: str | None = TOKEN) -> TestClient:
    """A client of the application serving ``root`` as ``mlv ui`` on 127.0.0.1 would,
    sending the session token on every request unless ``token`` is None."""
    guard = Guard(served_hosts("127.0.0.1", PORT), TOKEN, read_only)
    headers = {"X-MLV-Token": token} if token else {}
    return TestClient(create_app(root, guard), base_url=BASE_URL, headers=headers)
