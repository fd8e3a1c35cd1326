"""Commands the pages start (``mlv repro``, ``mlv commit``): one at a time, each a child
process whose output is kept in memory for the page to show as it comes.

A child process, not a call into the library: the command takes and releases the
repository's lock, records its runs and prints its lines exactly as on the command
line, and a command that crashes cannot take the server with it.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import shlex
import signal
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

# Jobs remembered (the finished ones, for their logs); older ones are forgotten.
KEPT_JOBS = 20
# Lines kept per job: the newest, so that a long log costs a bounded amount of memory.
MAX_LINES = 5000
# Characters per line: a progress bar that never ends its line is cut into pieces.
MAX_LINE_CHARS = 4000
# How long a child waits for another writer's lock before it gives up and says so.
CHILD_LOCK_TIMEOUT = "10"
# A stopped command gets Ctrl-C first (mlv cleans up after it), then this long before
# each harder signal.
STOP_GRACE_S = 5.0


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
    steps: tuple[tuple[str, ...], ...]
    state: str = RUNNING
    exit_code: int | None = None
    started: float = field(default_factory=time.time)
    ended: float | None = None
    total: int = 0  # lines printed so far, including those no longer kept
    _lines: deque[str] = field(default_factory=lambda: deque(maxlen=MAX_LINES))
    stopped: bool = False  # asked to stop: the command was interrupted
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _done: threading.Event = field(default_factory=threading.Event)
    _child: subprocess.Popen[str] | None = None

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

    def stop(self, grace: float = STOP_GRACE_S) -> None:
        """Interrupt the command and everything it started, as Ctrl-C would, then
        terminate and kill what is left after ``grace`` seconds each; no further step
        runs. Returns when the job has ended."""
        with self._lock:
            if not self.running:
                return
            self.stopped = True
        for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGKILL):
            child = self._child  # None between steps: the next one will not start
            if child is not None:
                _signal_group(child, sig)
            if self._done.wait(grace):
                return
        self._done.wait()


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

    def stop_all(self, grace: float = STOP_GRACE_S) -> None:
        """Stop every running job: the server is going away, and so must its commands."""
        with self._lock:
            running = [job for job in self._jobs.values() if job.running]
        for job in running:
            job.stop(grace)

    def start(self, label: str, steps: Sequence[Sequence[str]]) -> Job:
        """Start ``steps`` (``mlv`` argument lists, run one after another while each
        succeeds) as a new job; ``JobBusyError`` if one is running."""
        with self._lock:
            running = next((job for job in self._jobs.values() if job.running), None)
            if running is not None:
                raise JobBusyError(running)
            job = Job(str(next(self._numbers)), label, tuple(tuple(s) for s in steps))
            self._jobs[job.id] = job
            # The newest jobs are kept, a log each: a server up for weeks must not grow.
            while len(self._jobs) > KEPT_JOBS:
                del self._jobs[next(iter(self._jobs))]
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
                if job.stopped:
                    break
                job.add_line("$ mlv " + shlex.join(step))
                code = self._run_step(job, step)
                if code != 0:
                    break
        except Exception as exc:  # the job must end whatever happened, or the runner stays busy
            job.add_line(f"could not run the command: {exc}")
            code = 127
        finally:
            if job.stopped:
                job.add_line("stopped from the page")
            job.finish(code or (130 if job.stopped else 0))

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
            # Its own process group: Stop, and the server's shutdown, reach the stage's
            # command and whatever it started, not only mlv.
            start_new_session=True,
        )
        job._child = child
        if job.stopped:  # stopped while it was being started
            _signal_group(child, signal.SIGINT)
        assert child.stdout is not None
        with child.stdout:
            while True:
                piece = child.stdout.readline(MAX_LINE_CHARS)
                if not piece:
                    break
                job.add_line(piece.rstrip("\r\n"))
        code = child.wait()
        job._child = None
        return code


def _signal_group(child: subprocess.Popen[str], sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(child.pid, sig)


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
