"""A real S3-API server for tests: moto, in its own process on 127.0.0.1.

``MotoServer`` starts ``moto_server`` on a free port, waits until it answers and stops
it again; ``make_bucket`` creates a bucket over plain HTTP. ``tests/conftest.py`` turns
it into the fixtures ``s3_server`` (one per test session) and ``s3_bucket`` (one per test).
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

# moto needs a few seconds to import all of its services on a loaded machine.
START_TIMEOUT_S = 60.0
# Keys for the test's requests: moto accepts any, and none may come from the user's setup.
DUMMY_KEYS = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"}
REGION = "us-east-1"
# Straight to 127.0.0.1, whatever proxy the environment names.
_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _command(port: int) -> list[str]:
    beside = Path(sys.executable).parent / "moto_server"
    if beside.exists():
        return [str(beside), "-H", "127.0.0.1", "-p", str(port)]
    return [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)]


class MotoServer:
    """A moto server process; ``endpoint`` is its ``http://127.0.0.1:<port>``."""

    def __init__(self) -> None:
        self.port = _free_port()
        self.endpoint = f"http://127.0.0.1:{self.port}"
        self._process: subprocess.Popen[bytes] | None = None
        self._log = tempfile.TemporaryFile()  # noqa: SIM115 (closed by stop)

    def start(self) -> MotoServer:
        # Its own credentials and no proxy: moto must not see the user's AWS setup.
        env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
        env.update(DUMMY_KEYS, NO_PROXY="127.0.0.1", no_proxy="127.0.0.1")
        # A file, not a pipe: the server logs every request there, and a pipe nobody
        # reads fills up and stops the server mid-session.
        self._process = subprocess.Popen(
            _command(self.port),
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=self._log,
        )
        deadline = time.monotonic() + START_TIMEOUT_S
        while not self._answers():
            if self._process.poll() is not None:
                self._log.seek(0)
                err = self._log.read().decode(errors="replace")
                raise RuntimeError(f"moto_server exited {self._process.returncode}:\n{err}")
            if time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"moto_server did not answer on {self.endpoint}")
            time.sleep(0.1)
        return self

    def stop(self) -> None:
        if self._process is None:
            return
        self._process.terminate()
        try:
            self._process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self._process.kill()
            self._process.wait()
        self._log.close()
        self._process = None

    def make_bucket(self, name: str) -> None:
        request = urllib.request.Request(f"{self.endpoint}/{name}", data=b"", method="PUT")
        with _OPENER.open(request, timeout=10) as response:
            if response.status != 200:
                raise RuntimeError(f"moto refused bucket {name}: HTTP {response.status}")

    def _answers(self) -> bool:
        try:
            with _OPENER.open(f"{self.endpoint}/", timeout=1):
                return True
        except urllib.error.HTTPError:
            return True  # an S3 error is an answer
        except OSError:
            return False

    def __enter__(self) -> MotoServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
