"""Commands the pages start (``mlv repro``, ``mlv commit``): one at a time, each a child
process whose output is kept in memory for the page to show as it comes.

A child process, not a call into the library: the command takes and releases the
repository's lock, records its runs and prints its lines exactly as on the command
line, and a command that crashes cannot take the server with it.
"""

from __future__ import annotations

import itertools
import os
import shlex
import subprocess
import sys
import threading
import time
from collections import deque
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from starlette.requests import Request

RUNNING = "running"
SUCCEEDED = "succeeded"
FAILED = "failed"

# Lines kept per job: the newest, so that a long log costs a bounded amount of memory.
MAX_LINES = 5000
# Characters per line: a progress bar that never ends its line is cut into pieces.
MAX_LINE_CHARS = 4000
# How long a child waits for another writer's lock before it gives up and says so.
CHILD_LOCK_TIMEOUT = "10"


class JobBusyError(Exception):
    """A job was asked for while another is running."""

    def __init__(self, running: Job) -> None:
        super().__init__(
            f"{running.label} (job {running.id}) is still running; "
            "wait for it to finish, then try again"
        )
        self.running = running


@dataclass
class Job:
    """One command (in one or more steps) and what it printed."""

    id: str
    label: str
    stage: str | None
    steps: tuple[tuple[str, ...], ...]
    state: str = RUNNING
    exit_code: int | None = None
    started: float = field(default_factory=time.time)
    ended: float | None = None
    total: int = 0  # lines printed so far, including those no longer kept
    _lines: deque[str] = field(default_factory=lambda: deque(maxlen=MAX_LINES))
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _done: threading.Event = field(default_factory=threading.Event)

    @property
    def running(self) -> bool:
        return self.state == RUNNING

    def add_line(self, line: str) -> None:
        with self._lock:
            self._lines.append(line)
            self.total += 1

    def lines_after(self, after: int) -> tuple[list[str], int, int]:
        """The lines from number ``after`` on: (lines, lines dropped before them, next number)."""
        with self._lock:
            first_kept = self.total - len(self._lines)
            start = max(after, first_kept)
            kept = list(itertools.islice(self._lines, start - first_kept, None))
            return kept, start - max(after, 0), self.total

    def finish(self, exit_code: int) -> None:
        with self._lock:
            self.exit_code = exit_code
            self.state = SUCCEEDED if exit_code == 0 else FAILED
            self.ended = time.time()
        self._done.set()

    def wait(self, timeout: float | None = None) -> bool:
        """Whether the job finished within ``timeout`` seconds."""
        return self._done.wait(timeout)


class JobRunner:
    """Runs one job at a time in ``root``; remembers the jobs it ran."""

    def __init__(self, root: Path, environ: Mapping[str, str] | None = None) -> None:
        self.root = root
        self.environ = dict(os.environ if environ is None else environ)
        self._lock = threading.Lock()
        self._jobs: dict[str, Job] = {}
        self._numbers = itertools.count(1)

    @property
    def current(self) -> Job | None:
        """The job running now, if any."""
        with self._lock:
            return next((job for job in self._jobs.values() if job.running), None)

    @property
    def latest(self) -> Job | None:
        """The job started last, running or not."""
        with self._lock:
            return next(reversed(self._jobs.values()), None)

    def get(self, job_id: str) -> Job | None:
        with self._lock:
            return self._jobs.get(job_id)

    def start(self, label: str, steps: Sequence[Sequence[str]], stage: str | None = None) -> Job:
        """Start ``steps`` (``mlv`` argument lists, run one after another while each
        succeeds) as a new job; ``JobBusyError`` if one is running."""
        with self._lock:
            running = next((job for job in self._jobs.values() if job.running), None)
            if running is not None:
                raise JobBusyError(running)
            job = Job(str(next(self._numbers)), label, stage, tuple(tuple(s) for s in steps))
            self._jobs[job.id] = job
        threading.Thread(
            target=self._run, args=(job,), name=f"mlv-job-{job.id}", daemon=True
        ).start()
        return job

    def _child_environment(self) -> dict[str, str]:
        env = dict(self.environ)
        env["PYTHONUNBUFFERED"] = "1"  # lines reach the page as they are printed
        env.setdefault("NO_COLOR", "1")
        env.setdefault("MLV_LOCK_TIMEOUT", CHILD_LOCK_TIMEOUT)
        return env

    def _run(self, job: Job) -> None:
        code = 0
        try:
            for step in job.steps:
                job.add_line("$ mlv " + shlex.join(step))
                code = self._run_step(job, step)
                if code != 0:
                    break
        except Exception as exc:  # the job must end whatever happened, or the runner stays busy
            job.add_line(f"could not run the command: {exc}")
            code = 127
        finally:
            job.finish(code)

    def _run_step(self, job: Job, step: Sequence[str]) -> int:
        child = subprocess.Popen(
            [sys.executable, "-m", "mlv", *step],
            cwd=self.root,
            env=self._child_environment(),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            encoding="utf-8",
            errors="replace",
        )
        assert child.stdout is not None
        with child.stdout:
            while True:
                piece = child.stdout.readline(MAX_LINE_CHARS)
                if not piece:
                    break
                job.add_line(piece.rstrip("\r\n"))
        return child.wait()


def jobs_of(request: Request) -> JobRunner:
    """The application's job runner, made on first use and shared by every request."""
    state = request.app.state
    runner = getattr(state, "jobs", None)
    if runner is None:
        with _CREATION:
            runner = getattr(state, "jobs", None)
            if runner is None:
                runner = JobRunner(request.app.state.site.root)
                state.jobs = runner
    return runner


_CREATION = threading.Lock()
