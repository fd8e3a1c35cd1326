"""Benchmark mlv against DVC and git on the generated workloads of benchmarks/README.md."""

from __future__ import annotations

import argparse
import datetime
import os
import platform
import random
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path

# --------------------------------------------------------------------------------------------
# Workload and target definitions (mirror benchmarks/README.md; keep the two in step).
# --------------------------------------------------------------------------------------------

WORKLOADS = {
    "W1": "20,000 files of 1-16 KiB random bytes in 100 folders (~200 MB)",
    "W2": "W1, nothing changed",
    "W3": "one Parquet feature table, 10 M rows x 11 columns (~330 MB)",
    "W4": "W3 with 1 % of rows of one column edited and 0.5 % rows appended, rewritten",
    "W5": "W1 committed, folder deleted",
    "W6": "200,000 files of 1-4 KiB",
    "W10": "1,000,000 files of 1-4 KiB",
    "W7": "W1 changed: 100 files edited, 100 added, 100 deleted",
    "W4P": "W4, with W3 and W4 both written by mlv's write_parquet",
    "W8": "W3 with its first 1 % of rows removed and 0.5 % new rows inserted mid-table, rewritten",
    "W8P": "W8, with W3 and W8 both written by mlv's write_parquet",
    # Remotes (P1-P3 of BENCHMARKS.md): each against an S3-API server (moto, on 127.0.0.1,
    # one per run of this script) and a local folder. R1 here is not reproduce_r1.py's R1.
    "R1": "W1 committed: push to an empty remote, then clone / pull into a fresh folder",
    "R3": "W3 committed: push to an empty remote, then clone / pull into a fresh folder",
    "R4": "W3 pushed, then W4's edit committed and pushed: bytes the re-push uploads",
    "R6": "W6 (200,000 files) on the remote already: push with nothing new",
    "R7": "1,000 commits with runs (lineage_history.py) pushed: clone --no-data, then lineage",
    "RM": "one file of 2 GB random bytes committed: push, peak memory",
}


@dataclass(frozen=True)
class Check:
    """One pass/fail criterion: `peer` is "dvc"/"git" (ratio of medians) or "abs" (mlv value)."""

    peer: str
    limit: float


@dataclass(frozen=True)
class Row:
    workload: str
    operation: str
    unit: str  # "s", "MB" (store size / memory) or "%" (store growth)
    target: str
    checks: tuple[Check, ...] = ()


ROWS = (
    Row("W1", "add + commit", "s", "≤ 0.33 x DVC add", (Check("dvc", 0.33),)),
    Row("W1", "store size", "MB", "—"),
    Row("W2", "status", "s", "≤ 0.2 x DVC, ≤ 5 x git", (Check("dvc", 0.2), Check("git", 5))),
    Row("W3", "add + commit", "s", "≤ 0.7 x DVC add", (Check("dvc", 0.7),)),
    Row("W3", "store size", "MB", "—"),
    Row("W4", "add + commit", "s", "—"),
    Row("W4", "store growth", "%", "≤ 15 % of file size", (Check("abs", 15),)),
    Row("W4P", "add + commit", "s", "—"),
    Row("W4P", "store growth", "%", "≤ 5 % of file size", (Check("abs", 5),)),
    Row("W8", "add + commit", "s", "—"),
    Row("W8", "store growth", "%", "—"),
    Row("W8P", "add + commit", "s", "—"),
    Row("W8P", "store growth", "%", "—"),
    Row("W5", "checkout", "s", "≤ 0.33 x DVC checkout", (Check("dvc", 0.33),)),
    Row("W6", "add + commit", "s", "≤ 0.33 x DVC add", (Check("dvc", 0.33),)),
    Row("W6", "status", "s", "≤ 1.5 s", (Check("abs", 1.5),)),
    Row("W6", "peak memory", "MB", "≤ 500 MB", (Check("abs", 500),)),
    Row("W7", "status", "s", "≤ 0.33 x DVC status", (Check("dvc", 0.33),)),
    Row("W7", "add + commit", "s", "≤ 0.33 x DVC add", (Check("dvc", 0.33),)),
    Row("W10", "add + commit", "s", "—"),
    Row("W10", "status", "s", "—"),
    Row("W10", "checkout", "s", "—"),
    Row("W10", "peak memory", "MB", "≤ 500 MB", (Check("abs", 500),)),
    Row("R1", "push (S3)", "s", "≤ 0.33 x DVC push", (Check("dvc", 0.33),)),
    Row("R1", "push (folder)", "s", "≤ 0.33 x DVC push", (Check("dvc", 0.33),)),
    Row("R1", "clone / pull (S3)", "s", "≤ 0.33 x DVC pull", (Check("dvc", 0.33),)),
    Row("R1", "clone / pull (folder)", "s", "≤ 0.33 x DVC pull", (Check("dvc", 0.33),)),
    Row("R3", "push (S3)", "s", "≤ 0.7 x DVC push", (Check("dvc", 0.7),)),
    Row("R3", "push (folder)", "s", "≤ 0.7 x DVC push", (Check("dvc", 0.7),)),
    Row("R3", "clone / pull (S3)", "s", "≤ 0.7 x DVC pull", (Check("dvc", 0.7),)),
    Row("R3", "clone / pull (folder)", "s", "≤ 0.7 x DVC pull", (Check("dvc", 0.7),)),
    Row("R4", "re-push (S3)", "s", "—", ()),
    Row("R4", "re-push (folder)", "s", "—", ()),
    Row("R4", "uploaded (S3)", "%", "≤ 15 % of file size", (Check("abs", 15),)),
    Row("R4", "uploaded (folder)", "%", "≤ 15 % of file size", (Check("abs", 15),)),
    Row("R4", "push --json bytes (S3)", "%", "—", ()),
    Row("R4", "push --json bytes (folder)", "%", "—", ()),
    Row("R6", "push, nothing new (S3)", "s", "< 1 s", (Check("abs", 1.0),)),
    Row("R6", "push, nothing new (folder)", "s", "< 1 s", (Check("abs", 1.0),)),
    Row("R7", "clone --no-data (S3)", "s", "< 3 s", (Check("abs", 3.0),)),
    Row("R7", "clone --no-data (folder)", "s", "< 3 s", (Check("abs", 3.0),)),
    Row("R7", "lineage (S3)", "s", "< 1 s (as L1)", (Check("abs", 1.0),)),
    Row("R7", "lineage (folder)", "s", "< 1 s (as L1)", (Check("abs", 1.0),)),
    Row("RM", "push (S3)", "s", "—", ()),
    Row("RM", "push (folder)", "s", "—", ()),
    Row("RM", "push peak RSS (S3)", "MB", "≤ 500 MB (at 10 GB)", (Check("abs", 500),)),
    Row("RM", "push peak RSS (folder)", "MB", "≤ 500 MB (at 10 GB)", (Check("abs", 500),)),
)

# Full-scale sizes; --scale multiplies the counts.
W1_FILES, W1_FOLDERS, W1_MIN, W1_MAX = 20_000, 100, 1024, 16 * 1024
W6_FILES, W6_PER_FOLDER, W6_MIN, W6_MAX = 200_000, 1000, 1024, 4 * 1024
# W10 is W6 five times over: files of the same sizes, 1,000 a folder.
W10_FILES = 1_000_000
# W10 runs once (--only W10): generating, copying and adding a million files takes long.
OPT_IN_WORKLOADS = ("W10",)
# DVC on a million files can take hours: its W10 commands get this limit instead of
# --timeout (--w10-dvc-timeout), and a DVC that passes it is reported as an error.
W10_DVC_TIMEOUT_S = 1800
W3_ROWS = 10_000_000
# pyarrow's default row-group length, so our batched writer lays out the file exactly as a
# plain `pq.write_table(table)` of the whole table would.
ROW_GROUP = 1024 * 1024
W4_EDIT_FRACTION, W4_APPEND_FRACTION = 0.01, 0.005
# Relabelling 1 % of samples is the typical small fix of a feature table; the edits are
# scattered, so every page of that column changes while all other columns keep their bytes.
W4_EDIT_COLUMN = "label"
# A window moved on (the oldest rows dropped) and a late batch merged in mid-table: edits
# that shift every later row, which fixed-length pages and row groups cannot absorb.
W8_DROP_FRACTION, W8_INSERT_FRACTION = 0.01, 0.005
W7_CHANGES = 100
TABLE_FILE = "features.parquet"
# A generator may leave a line for the report in this file of its workload folder.
NOTE_FILE = "NOTE"
WRITE_REPS = 2
COMMAND_TIMEOUT_S = 3600

# Remote workloads: where the remotes live, and their sizes.
PLACES = ("S3", "folder")
S3_BUCKET = "mlv-bench"
S3_REGION = "us-east-1"
S3_KEYS = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"}
REMOTE_WORKLOADS = ("R1", "R3", "R4", "R6", "R7", "RM")
# Workloads only mlv runs (DVC has no lineage; R6's and RM's DVC setup would take longer
# than the measurement is worth on these machines).
MLV_ONLY_WORKLOADS = ("R6", "R7", "RM")
R7_COMMITS = 1000
RM_BYTES = 2 * 1024**3
R7_LINEAGE_TARGET = "models/model.pkl"


# --------------------------------------------------------------------------------------------
# Running commands
# --------------------------------------------------------------------------------------------


class CommandFailed(Exception):
    """A tool command (or a check on its result) failed; the row is reported as an error."""


@dataclass
class Measure:
    seconds: float
    peak_kib: int
    output: str = field(default="", repr=False)  # the command's stdout (remote workloads read it)

    def __add__(self, other: Measure) -> Measure:
        return Measure(
            self.seconds + other.seconds, max(self.peak_kib, other.peak_kib), other.output
        )


# Runs one command in a small stdlib-only Python process and reports its wall time and peak RSS.
# The extra process matters: on Linux a child's max RSS includes the RSS of the process it was
# forked from (exec keeps the high-water mark), so measuring straight from this script would
# charge every tool with this script's own memory (pyarrow tables included). The wrapper is
# a few MB, like GNU time, and it times the command itself so its own start-up is not counted.
_WRAPPER = """
import os, sys, time
report, cmd = sys.argv[1], sys.argv[2:]
start = time.perf_counter()
pid = os.posix_spawnp(cmd[0], cmd, os.environ)
_, status, usage = os.wait4(pid, 0)
elapsed = time.perf_counter() - start
with open(report, "w") as f:
    f.write(f"{elapsed} {usage.ru_maxrss}")
code = os.waitstatus_to_exitcode(status)
sys.exit(code if code >= 0 else 128 - code)
"""


def run_cmd(cmd: list[str], cwd: Path, env: dict[str, str], timeout: float) -> Measure:
    """Run one process, returning its wall time and peak RSS; raise CommandFailed on error."""
    # Flush earlier writes (workload copies, the other tool's store) so that their writeback
    # does not land inside this timing.
    os.sync()
    with tempfile.TemporaryDirectory() as tmp:
        report, out, err = Path(tmp, "report"), Path(tmp, "out"), Path(tmp, "err")
        wrapper = [sys.executable, "-I", "-S", "-c", _WRAPPER, str(report), *cmd]
        with out.open("wb") as out_f, err.open("wb") as err_f:
            proc = subprocess.Popen(
                wrapper, cwd=cwd, env=env, stdout=out_f, stderr=err_f, start_new_session=True
            )
            try:
                proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
                msg = f"`{' '.join(cmd)}` in {cwd} timed out after {timeout:g} s"
                raise CommandFailed(msg) from None
        if proc.returncode != 0 or not report.exists():
            detail = (err.read_bytes() or out.read_bytes()).decode(errors="replace").strip()
            raise CommandFailed(
                f"`{' '.join(cmd)}` in {cwd} exited {proc.returncode}:\n{detail[-3000:]}"
            )
        elapsed, peak_kib = report.read_text().split()
        output = out.read_bytes()[-1_000_000:].decode(errors="replace")
    return Measure(float(elapsed), int(peak_kib), output)


def capture(cmd: list[str]) -> str:
    """First line of a version command's output, or a note that it failed."""
    try:
        res = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    except OSError as exc:
        return f"unavailable ({exc.strerror})"
    text = (res.stdout or res.stderr).strip()
    return text.splitlines()[0] if res.returncode == 0 and text else "unavailable"


def find_exe(name: str) -> str | None:
    """Prefer the executable installed next to this interpreter (the venv), then PATH."""
    beside = Path(sys.executable).parent / name
    if beside.is_file() and os.access(beside, os.X_OK):
        return str(beside)
    return shutil.which(name)


def du_bytes(path: Path) -> int:
    """Apparent size of a tree like `du -sb`: files and directories, hard links once."""
    seen: set[tuple[int, int]] = set()
    total = 0
    for root, dirs, files in os.walk(path):
        for name in (*dirs, *files, None):
            st = os.lstat(os.path.join(root, name) if name else root)
            if (st.st_dev, st.st_ino) not in seen:
                seen.add((st.st_dev, st.st_ino))
                total += st.st_size
    return total


def copy_tree(src: Path, dest: Path) -> None:
    # cp is several times faster than shutil.copytree on many small files.
    dest.parent.mkdir(parents=True, exist_ok=True)
    if shutil.which("cp"):
        subprocess.run(["cp", "-R", str(src), str(dest)], check=True)
    else:
        shutil.copytree(src, dest, symlinks=True)


def count_files(path: Path) -> int:
    return sum(len(files) for _, _, files in os.walk(path)) if path.is_dir() else 0


# --------------------------------------------------------------------------------------------
# Tools: the same operations, typed as a user of each tool would type them
# --------------------------------------------------------------------------------------------


@dataclass
class Tool:
    name: str
    exe: str
    env: dict[str, str]
    timeout: float

    def _run(self, repo: Path, *args: str) -> Measure:
        return run_cmd([self.exe, *args], repo, self.env, self.timeout)

    def init(self, repo: Path) -> None:
        self._run(repo, "init")

    def add_commit(self, repo: Path, paths: list[str]) -> Measure:
        return self._run(repo, "add", *paths) + self._run(repo, "commit", "-m", "bench")

    def status(self, repo: Path) -> Measure:
        return self._run(repo, "status")

    def checkout(self, repo: Path) -> Measure:
        return self._run(repo, "checkout", "HEAD", "--", "data")

    def store(self, repo: Path) -> Path:
        return repo / ".mlv"

    # Remotes: each repetition pushes to a new, empty remote under a new name, so that no
    # state kept about an earlier remote (tracking refs, remote indexes) helps the next.

    def add_remote(self, repo: Path, remote: RemoteSpec) -> None:
        self._run(repo, "remote", "add", remote.name, remote.url, *remote.mlv_flags())

    def push(self, repo: Path, remote: RemoteSpec) -> Measure:
        return self._run(repo, "push", remote.name, "--json")

    def clone(self, remote: RemoteSpec, source: Path, dest: Path) -> Measure:
        """A fresh repository at `dest` holding the pushed commit's files."""
        dest.parent.mkdir(parents=True, exist_ok=True)
        return run_cmd(
            [self.exe, "clone", remote.url, dest.name, *remote.mlv_flags()],
            dest.parent,
            self.env,
            self.timeout,
        )

    def clone_no_data(self, remote: RemoteSpec, dest: Path) -> Measure:
        dest.parent.mkdir(parents=True, exist_ok=True)
        return run_cmd(
            [self.exe, "clone", "--no-data", remote.url, dest.name, *remote.mlv_flags()],
            dest.parent,
            self.env,
            self.timeout,
        )


class Dvc(Tool):
    def init(self, repo: Path) -> None:
        # --no-scm keeps git's own time out of DVC's figures.
        self._run(repo, "init", "--no-scm")
        # DVC keeps its hash/state database in a site cache keyed by the repository path;
        # a per-repository one keeps a recreated repository from inheriting its predecessor's.
        site = repo / ".dvc" / "site-cache"
        (repo / ".dvc" / "config.local").write_text(f"[core]\n    site_cache_dir = {site}\n")

    def add_commit(self, repo: Path, paths: list[str]) -> Measure:
        # `dvc add` both hashes and stores: it is DVC's whole add + commit.
        return self._run(repo, "add", *paths)

    def checkout(self, repo: Path) -> Measure:
        return self._run(repo, "checkout")

    def store(self, repo: Path) -> Path:
        return repo / ".dvc" / "cache"

    def add_remote(self, repo: Path, remote: RemoteSpec) -> None:
        self._run(repo, "remote", "add", "--default", remote.name, remote.url)
        if remote.endpoint:
            self._run(repo, "remote", "modify", remote.name, "endpointurl", remote.endpoint)
            self._run(repo, "remote", "modify", remote.name, "region", S3_REGION)

    def push(self, repo: Path, remote: RemoteSpec) -> Measure:
        return self._run(repo, "push", "--remote", remote.name)

    def clone(self, remote: RemoteSpec, source: Path, dest: Path) -> Measure:
        """What a teammate's fresh checkout has (the config and the .dvc files, as a git
        clone would bring them, in a new `dvc init --no-scm` repository), then `dvc pull`."""
        shutil.rmtree(dest, ignore_errors=True)
        dest.mkdir(parents=True)
        self.init(dest)
        shutil.copyfile(source / ".dvc" / "config", dest / ".dvc" / "config")
        for base, dirs, names in os.walk(source):
            dirs[:] = [d for d in dirs if d != ".dvc"]
            for name in names:
                if name.endswith(".dvc"):
                    rel = Path(base, name).relative_to(source)
                    (dest / rel).parent.mkdir(parents=True, exist_ok=True)
                    shutil.copyfile(source / rel, dest / rel)
        return self._run(dest, "pull", "--remote", remote.name)


# The floor of W5: the smallest Python program doing checkout's I/O. It reads the content
# of every file from one file (a checkout reads it from the store's packs: the same bytes,
# a few large files) and creates and writes the same files (same folders, names and
# sizes) with one open, write and close each. `Floor.init` wrote the listing of the
# committed data folder and that content file.
_FLOOR = """
import os, sys
listing, content, root = sys.argv[1], sys.argv[2], sys.argv[3]
with open(listing, encoding="utf-8") as f:
    files = [line.rstrip("\\n").rsplit(" ", 1) for line in f]
# Folders first, as checkout makes them: filling each one as it is made is slower on ext4.
for folder in sorted({os.path.dirname(rel) for rel, _ in files}):
    os.makedirs(os.path.join(root, folder), exist_ok=True)
source = os.open(content, os.O_RDONLY)
for rel, size in files:
    data = os.read(source, int(size))
    fd = os.open(os.path.join(root, rel), os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
    os.write(fd, data)
    os.close(fd)
os.close(source)
"""
LISTING_FILE = "floor-listing"
CONTENT_FILE = "floor-content"


class Floor(Tool):
    """Not a tool: what the disk allows. Its checkout writes the files a checkout writes."""

    def init(self, repo: Path) -> None:
        with (
            (repo / LISTING_FILE).open("w", encoding="utf-8") as listing,
            (repo / CONTENT_FILE).open("wb") as content,
        ):
            for base, dirs, names in os.walk(repo / "data"):
                dirs.sort()
                for name in sorted(names):
                    full = Path(base, name)
                    data = full.read_bytes()
                    listing.write(f"{full.relative_to(repo).as_posix()} {len(data)}\n")
                    content.write(data)

    def add_commit(self, repo: Path, paths: list[str]) -> Measure:
        return Measure(0.0, 0)

    def checkout(self, repo: Path) -> Measure:
        return self._run(repo, "-I", "-S", "-c", _FLOOR, LISTING_FILE, CONTENT_FILE, ".")

    def store(self, repo: Path) -> Path:
        return repo / LISTING_FILE


class Git(Tool):
    def init(self, repo: Path) -> None:
        self._run(repo, "init", "-q")

    def add_commit(self, repo: Path, paths: list[str]) -> Measure:
        return self._run(repo, "add", *paths) + self._run(repo, "commit", "-q", "-m", "bench")

    def store(self, repo: Path) -> Path:
        return repo / ".git"


def base_env(workdir: Path) -> dict[str, str]:
    """Environment for all tools: no analytics or update checks, DVC's caches in the workdir."""
    dvc_home = workdir / "dvc-home"
    for sub in ("global", "system"):
        (dvc_home / sub).mkdir(parents=True, exist_ok=True)
    (dvc_home / "global" / "config").write_text(
        "[core]\n    analytics = false\n    check_update = false\n"
        f"    site_cache_dir = {dvc_home / 'site'}\n"
    )
    env = dict(os.environ)
    env.update(
        DVC_NO_ANALYTICS="1",
        DVC_GLOBAL_CONFIG_DIR=str(dvc_home / "global"),
        DVC_SYSTEM_CONFIG_DIR=str(dvc_home / "system"),
        GIT_AUTHOR_NAME="bench",
        GIT_AUTHOR_EMAIL="bench@example.invalid",
        GIT_COMMITTER_NAME="bench",
        GIT_COMMITTER_EMAIL="bench@example.invalid",
        GIT_CONFIG_NOSYSTEM="1",
    )
    # The remote workloads' S3 server (moto on 127.0.0.1) takes any keys: dummy ones, and
    # nothing from the user's AWS setup, straight to 127.0.0.1 whatever proxy is set.
    for key in [k for k in env if k.startswith("AWS_")]:
        del env[key]
    env.update(S3_KEYS, AWS_DEFAULT_REGION=S3_REGION, AWS_EC2_METADATA_DISABLED="true")
    env.update(NO_PROXY="127.0.0.1,localhost", no_proxy="127.0.0.1,localhost")
    # A user's installation caches compiled modules: a shell that forbids writing them
    # would charge every start of each tool with compiling its sources again.
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    return env


# --------------------------------------------------------------------------------------------
# Workload generation (seeded, cached in the workdir between runs)
# --------------------------------------------------------------------------------------------


def scaled(count: int, scale: float) -> int:
    return max(1, round(count * scale))


def write_random_files(root: Path, n: int, folders: int, lo: int, hi: int, seed: int) -> None:
    rng = random.Random(seed)
    for i in range(n):
        folder = root / f"d{i % folders:04d}"
        folder.mkdir(parents=True, exist_ok=True)
        (folder / f"f{i:07d}.bin").write_bytes(rng.randbytes(rng.randint(lo, hi)))


def gen_w1(dest: Path, scale: float, seed: int) -> None:
    n = scaled(W1_FILES, scale)
    write_random_files(dest / "data", n, min(W1_FOLDERS, n), W1_MIN, W1_MAX, seed)


def gen_w6(dest: Path, scale: float, seed: int) -> None:
    n = scaled(W6_FILES, scale)
    folders = max(1, n // W6_PER_FOLDER)
    write_random_files(dest / "data", n, folders, W6_MIN, W6_MAX, seed + 6)


def gen_w10(dest: Path, scale: float, seed: int) -> None:
    n = scaled(W10_FILES, scale)
    folders = max(1, n // W6_PER_FOLDER)
    write_random_files(dest / "data", n, folders, W6_MIN, W6_MAX, seed + 10)


def gen_big(dest: Path, scale: float, seed: int) -> None:
    """RM: one file of random bytes (2 GB at scale 1), written 64 MiB at a time."""
    left = max(1, round(RM_BYTES * scale))
    rng = random.Random(seed + 9)
    (dest / "data").mkdir(parents=True)
    with (dest / "data" / "big.bin").open("wb") as f:
        while left:
            n = min(left, 64 * 1024 * 1024)
            f.write(rng.randbytes(n))
            left -= n


def gen_history(dest: Path, scale: float, seed: int) -> None:
    """R7: lineage_history.py's repository of 1,000 commits with runs (scaled)."""
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from lineage_history import build

    build(dest / "repo", max(10, round(R7_COMMITS * scale)))


def feature_batch(start: int, n: int, seed: int):
    """Rows [start, start+n) of a feature table: ids, counters, labels, floats, categories."""
    import pyarrow as pa
    import pyarrow.compute as pc

    def uniform(col: int):
        return pc.random(n, initializer=(seed << 40) ^ (start << 5) ^ col)

    def ints(col: int, hi: int, typ):
        return pc.cast(pc.floor(pc.multiply(uniform(col), hi)), typ)

    row_id = pa.array(range(start, start + n), pa.int64())
    categories = pa.array([f"cat_{i:03d}" for i in range(100)])
    columns = {
        "row_id": row_id,
        "user_id": ints(1, 1_000_000, pa.int32()),
        "item_id": ints(2, 50_000, pa.int32()),
        "ts": pc.add(pc.multiply(row_id, 7), 1_700_000_000_000),
        "label": ints(3, 2, pa.int8()),
        "f0": pc.cast(uniform(4), pa.float32()),
        "f1": pc.cast(uniform(5), pa.float32()),
        # Quantised features, as binned or rounded features are in real tables.
        "f2": pc.cast(pc.round(uniform(6), 3), pa.float32()),
        "f3": pc.cast(pc.round(uniform(7), 2), pa.float32()),
        "score": pc.cast(uniform(8), pa.float32()),
        "category": pc.take(categories, ints(9, 100, pa.int32())),
    }
    return pa.table(columns)


def rechunk(tables: Iterable, size: int) -> Iterator:
    """Regroup a stream of tables into tables of exactly `size` rows (the last may be short)."""
    import pyarrow as pa

    pending, count = [], 0
    for table in tables:
        pending.append(table)
        count += table.num_rows
        while count >= size:
            merged = pa.concat_tables(pending)
            yield merged.slice(0, size)
            pending, count = [merged.slice(size)], count - size
    if count:
        yield pa.concat_tables(pending)


def write_parquet(path: Path, tables: Iterable) -> None:
    import pyarrow.parquet as pq

    writer = None
    for table in rechunk(tables, ROW_GROUP):
        if writer is None:
            writer = pq.ParquetWriter(path, table.schema)
        writer.write_table(table)
    if writer is not None:
        writer.close()


def gen_w3(dest: Path, scale: float, seed: int) -> None:
    rows = scaled(W3_ROWS, scale)
    (dest / "data").mkdir(parents=True)
    batches = (feature_batch(s, min(ROW_GROUP, rows - s), seed) for s in range(0, rows, ROW_GROUP))
    write_parquet(dest / "data" / TABLE_FILE, batches)


def w4_tables(w3: Path, scale: float, seed: int) -> Iterator:
    """W3 row group by row group with scattered edits of one column, then rows appended."""
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    rows = scaled(W3_ROWS, scale)
    rng = random.Random(seed + 4)
    edited = pa.array(sorted(rng.sample(range(rows), scaled(rows, W4_EDIT_FRACTION))), pa.int64())
    source = pq.ParquetFile(w3 / "data" / TABLE_FILE)
    for i in range(source.num_row_groups):
        table = source.read_row_group(i)
        col = table.schema.get_field_index(W4_EDIT_COLUMN)
        old = table.column(col)
        flipped = pc.subtract(pa.scalar(1, old.type), old)
        mask = pc.is_in(table.column("row_id"), value_set=edited)
        yield table.set_column(col, W4_EDIT_COLUMN, pc.if_else(mask, flipped, old))
    yield feature_batch(rows, scaled(rows, W4_APPEND_FRACTION), seed + 1)


def gen_w4(dest: Path, scale: float, seed: int, w3: Path) -> None:
    """Rewrite W3 with scattered edits of one column and rows appended, as a user would."""
    (dest / "data").mkdir(parents=True)
    write_parquet(dest / "data" / TABLE_FILE, w4_tables(w3, scale, seed))


def w8_table(w3: Path, scale: float, seed: int):
    """W3 with its oldest rows dropped and a batch of new rows inserted in the middle."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    table = pq.read_table(w3 / "data" / TABLE_FILE)
    rows = table.num_rows
    drop, middle = scaled(rows, W8_DROP_FRACTION), rows // 2
    inserted = feature_batch(rows, scaled(rows, W8_INSERT_FRACTION), seed + 8)
    return pa.concat_tables(
        [table.slice(drop, middle - drop), inserted.cast(table.schema), table.slice(middle)]
    )


def gen_w8(dest: Path, scale: float, seed: int, w3: Path) -> None:
    (dest / "data").mkdir(parents=True)
    write_parquet(dest / "data" / TABLE_FILE, [w8_table(w3, scale, seed)])


# The same tables written by mlv's helper, as `Repo.write_parquet` writes them. Its cost
# (file size, write time) is measured against pyarrow's defaults on the same W3 table.


def gen_w3p(dest: Path, scale: float, seed: int) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    from mlv.tables.parquet import write_parquet as mlv_write_parquet

    rows = scaled(W3_ROWS, scale)
    table = pa.concat_tables(
        feature_batch(s, min(ROW_GROUP, rows - s), seed) for s in range(0, rows, ROW_GROUP)
    )
    (dest / "data").mkdir(parents=True)
    writers = {
        "pyarrow's defaults": (dest / "plain.parquet", lambda path: pq.write_table(table, path)),
        "write_parquet": (dest / "data" / TABLE_FILE, lambda path: mlv_write_parquet(table, path)),
    }
    best = dict.fromkeys(writers, float("inf"))
    # Alternated and the best of each kept: the first write also pays for warming up.
    for _ in range(WRITE_REPS):
        for name, (path, write) in writers.items():
            start = time.perf_counter()
            write(path)
            best[name] = min(best[name], time.perf_counter() - start)
    costs = ", ".join(
        f"{name} {path.stat().st_size / 1e6:,.1f} MB in {best[name]:.2f} s"
        for name, (path, _) in writers.items()
    )
    (dest / "plain.parquet").unlink()
    (dest / NOTE_FILE).write_text(f"Writing W3 from memory (best of {WRITE_REPS}): {costs}.")


def gen_w4p(dest: Path, scale: float, seed: int, w3p: Path) -> None:
    import pyarrow as pa

    from mlv.tables.parquet import write_parquet as mlv_write_parquet

    (dest / "data").mkdir(parents=True)
    table = pa.concat_tables(w4_tables(w3p, scale, seed))
    mlv_write_parquet(table, dest / "data" / TABLE_FILE)


def gen_w8p(dest: Path, scale: float, seed: int, w3p: Path) -> None:
    from mlv.tables.parquet import write_parquet as mlv_write_parquet

    (dest / "data").mkdir(parents=True)
    mlv_write_parquet(w8_table(w3p, scale, seed), dest / "data" / TABLE_FILE)


@dataclass
class Changes:
    """The W7 edit set, computed once so every tool sees identical changes."""

    edited: dict[str, bytes]
    added: dict[str, bytes]
    deleted: list[str]

    def apply(self, repo: Path) -> None:
        for rel, content in (self.edited | self.added).items():
            (repo / rel).write_bytes(content)
        for rel in self.deleted:
            (repo / rel).unlink()


def w7_changes(w1: Path, scale: float, seed: int) -> Changes:
    rng = random.Random(seed + 7)
    files = sorted(str(p.relative_to(w1)) for p in (w1 / "data").rglob("*.bin"))
    k = min(scaled(W7_CHANGES, scale), len(files) // 2)
    picked = rng.sample(files, 2 * k)
    # Same size, new bytes: only the mtime and content tell the edit apart.
    edited = {rel: rng.randbytes((w1 / rel).stat().st_size) for rel in picked[:k]}
    folders = sorted({str(Path(rel).parent) for rel in files})
    added = {
        f"{rng.choice(folders)}/new{i:05d}.bin": rng.randbytes(rng.randint(W1_MIN, W1_MAX))
        for i in range(k)
    }
    return Changes(edited, added, picked[k:])


# --------------------------------------------------------------------------------------------
# Remotes: one moto S3 server per run of this script, and folders in the workdir
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class RemoteSpec:
    """One empty remote made for one push: its name in the repository and where it is."""

    name: str
    place: str  # "S3" or "folder"
    url: str
    endpoint: str | None = None  # S3's endpoint URL
    prefix: str = ""  # S3: the prefix in the bucket
    root: Path | None = None  # folder: its path

    def mlv_flags(self) -> list[str]:
        if self.endpoint is None:
            return []
        return ["--endpoint-url", self.endpoint, "--region", S3_REGION, "--allow-http"]


class RemoteHost:
    """Makes empty remotes, measures and deletes them. The S3 server is tests/s3server.py's
    MotoServer, started on first use and stopped by `close`."""

    def __init__(self, folders: Path) -> None:
        self.folders = folders
        self.server = None
        self.client = None
        self.count = 0

    def _s3(self):
        if self.server is None:
            sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
            import boto3

            from s3server import MotoServer

            os.environ.update(NO_PROXY="127.0.0.1,localhost", no_proxy="127.0.0.1,localhost")
            log("starting the moto S3 server ...")
            self.server = MotoServer().start()
            self.server.make_bucket(S3_BUCKET)
            self.client = boto3.client(
                "s3",
                endpoint_url=self.server.endpoint,
                region_name=S3_REGION,
                aws_access_key_id=S3_KEYS["AWS_ACCESS_KEY_ID"],
                aws_secret_access_key=S3_KEYS["AWS_SECRET_ACCESS_KEY"],
            )
            log(f"moto S3 server at {self.server.endpoint}, bucket {S3_BUCKET}")
        return self.server

    def new(self, place: str, label: str) -> RemoteSpec:
        self.count += 1
        name = f"r{self.count}"
        if place == "S3":
            endpoint = self._s3().endpoint
            prefix = f"{label}-{self.count}"
            return RemoteSpec(name, place, f"s3://{S3_BUCKET}/{prefix}", endpoint, prefix)
        root = self.folders / f"{label}-{self.count}"
        shutil.rmtree(root, ignore_errors=True)
        root.mkdir(parents=True)
        return RemoteSpec(name, place, str(root), root=root)

    def _objects(self, remote: RemoteSpec) -> Iterator[dict]:
        pages = self.client.get_paginator("list_objects_v2")
        for page in pages.paginate(Bucket=S3_BUCKET, Prefix=remote.prefix + "/"):
            yield from page.get("Contents", [])

    def size(self, remote: RemoteSpec) -> int:
        """Bytes of every object (file) the remote holds."""
        if remote.root is not None:
            return sum(
                os.lstat(os.path.join(base, n)).st_size
                for base, _, names in os.walk(remote.root)
                for n in names
            )
        return sum(obj["Size"] for obj in self._objects(remote))

    def drop(self, remote: RemoteSpec) -> None:
        """Delete the remote (moto keeps objects in memory: a run would fill it)."""
        if remote.root is not None:
            shutil.rmtree(remote.root, ignore_errors=True)
            return
        keys = [{"Key": obj["Key"]} for obj in self._objects(remote)]
        for i in range(0, len(keys), 1000):
            self.client.delete_objects(Bucket=S3_BUCKET, Delete={"Objects": keys[i : i + 1000]})

    def close(self) -> None:
        if self.server is not None:
            self.server.stop()
            self.server = None
        shutil.rmtree(self.folders, ignore_errors=True)


# --------------------------------------------------------------------------------------------
# Benchmark context and the per-workload measurements
# --------------------------------------------------------------------------------------------


@dataclass
class Context:
    workdir: Path
    scale: float
    seed: int
    tools: dict[str, Tool]
    floor: Tool | None = None  # W5's floor (--no-floor: None)
    persistent: dict[tuple[str, str], Path] = field(default_factory=dict)
    warmed: set[Path] = field(default_factory=set)
    notes: dict[str, str] = field(default_factory=dict)
    remotes: RemoteHost | None = None
    pushed: dict[tuple[str, str], list[RemoteSpec]] = field(default_factory=dict)

    def remote_host(self) -> RemoteHost:
        if self.remotes is None:
            self.remotes = RemoteHost(self.workdir / "remotes")
        return self.remotes

    def data(self, name: str) -> Path:
        """The generated workload `name`, generated on first use and kept in the workdir."""
        dest = self.workdir / "gen" / f"{name}-scale{self.scale:g}-seed{self.seed}"
        if not (dest / ".complete").exists():
            shutil.rmtree(dest, ignore_errors=True)
            dest.mkdir(parents=True)
            log(f"generating {name} into {dest} ...")
            start = time.perf_counter()
            if name in DERIVED:
                derive, base = DERIVED[name]
                derive(dest, self.scale, self.seed, self.data(base))
            else:
                GENERATORS[name](dest, self.scale, self.seed)
            (dest / ".complete").touch()
            log(f"generated {name} in {time.perf_counter() - start:.1f} s")
        if (dest / NOTE_FILE).exists():
            self.notes[name] = (dest / NOTE_FILE).read_text()
        return dest

    def fresh_repo(self, tool: Tool, label: str, source: str) -> Path:
        """A new repository of `tool` holding a fresh copy of the workload's data folder."""
        repo = self.workdir / "runs" / f"{label}-{tool.name}"
        shutil.rmtree(repo, ignore_errors=True)
        repo.parent.mkdir(parents=True, exist_ok=True)
        copy_tree(self.data(source) / "data", repo / "data")
        tool.init(repo)
        return repo

    def committed_repo(self, tool: Tool, wid: str, source: str, paths: list[str]) -> Path:
        """A repository with the workload committed, built once and shared by all repetitions."""
        key = (wid, tool.name)
        if key not in self.persistent:
            repo = self.fresh_repo(tool, f"{wid}-shared", source)
            tool.add_commit(repo, paths)
            self.persistent[key] = repo
        return self.persistent[key]


GENERATORS: dict[str, Callable[[Path, float, int], None]] = {
    "big": gen_big,
    "history": gen_history,
    "w1": gen_w1,
    "w3": gen_w3,
    "w6": gen_w6,
    "w10": gen_w10,
    "w3p": gen_w3p,
}

# Workloads made by editing another one: name -> (generator, the workload it edits).
DERIVED: dict[str, tuple[Callable[[Path, float, int, Path], None], str]] = {
    "w4": (gen_w4, "w3"),
    "w8": (gen_w8, "w3"),
    "w4p": (gen_w4p, "w3p"),
    "w8p": (gen_w8p, "w3p"),
}

Result = dict[str, Measure | float]


def bench_w1(ctx: Context, tool: Tool) -> Result:
    repo = ctx.fresh_repo(tool, "W1", "w1")
    took = tool.add_commit(repo, ["data"])
    return {"add + commit": took, "store size": du_bytes(tool.store(repo)) / 1e6}


def bench_w2(ctx: Context, tool: Tool) -> Result:
    repo = ctx.committed_repo(tool, "W2", "w1", ["data"])
    if repo not in ctx.warmed:
        # One untimed status first, so every timed run sees the same settled repository.
        tool.status(repo)
        ctx.warmed.add(repo)
    return {"status": tool.status(repo)}


def table_path() -> list[str]:
    return [f"data/{TABLE_FILE}"]


def bench_w3(ctx: Context, tool: Tool) -> Result:
    repo = ctx.fresh_repo(tool, "W3", "w3")
    took = tool.add_commit(repo, table_path())
    return {"add + commit": took, "store size": du_bytes(tool.store(repo)) / 1e6}


def bench_rewrite(wid: str, before_name: str, after_name: str) -> Callable[[Context, Tool], Result]:
    """Commit one version of the table, then the rewritten one, and measure store growth."""

    def bench(ctx: Context, tool: Tool) -> Result:
        return rewrite_growth(ctx, tool, wid, before_name, after_name)

    return bench


def rewrite_growth(ctx: Context, tool: Tool, wid: str, before_name: str, after_name: str) -> Result:
    repo = ctx.fresh_repo(tool, wid, before_name)
    tool.add_commit(repo, table_path())
    before = du_bytes(tool.store(repo))
    new_file = ctx.data(after_name) / "data" / TABLE_FILE
    target = repo / "data" / TABLE_FILE
    # Replace rather than overwrite in place, so a tool that links files into its store
    # cannot have its stored copy altered behind its back.
    target.unlink()
    shutil.copyfile(new_file, target)
    took = tool.add_commit(repo, table_path())
    growth = 100 * (du_bytes(tool.store(repo)) - before) / new_file.stat().st_size
    return {"add + commit": took, "store growth": growth}


def bench_w5(ctx: Context, tool: Tool) -> Result:
    repo = ctx.committed_repo(tool, "W5", "w1", ["data"])
    expected = count_files(ctx.data("w1") / "data")
    shutil.rmtree(repo / "data")
    took = tool.checkout(repo)
    restored = count_files(repo / "data")
    if restored != expected:
        raise CommandFailed(f"{tool.name} checkout restored {restored} of {expected} files")
    return {"checkout": took}


def bench_w6(ctx: Context, tool: Tool) -> Result:
    repo = ctx.fresh_repo(tool, "W6", "w6")
    added = tool.add_commit(repo, ["data"])
    status = tool.status(repo)
    peak_mb = max(added.peak_kib, status.peak_kib) * 1024 / 1e6
    return {"add + commit": added, "status": status, "peak memory": peak_mb}


def bench_w7(ctx: Context, tool: Tool) -> Result:
    repo = ctx.fresh_repo(tool, "W7", "w1")
    tool.add_commit(repo, ["data"])
    w7_changes(ctx.data("w1"), ctx.scale, ctx.seed).apply(repo)
    status = tool.status(repo)
    return {"status": status, "add + commit": tool.add_commit(repo, ["data"])}


def bench_w10(ctx: Context, tool: Tool) -> Result:
    """W6 at a million files: add + commit, status, then checkout of the deleted folder;
    the peak is the largest of the three commands' peak RSS."""
    repo = ctx.fresh_repo(tool, "W10", "w10")
    expected = count_files(repo / "data")
    added = tool.add_commit(repo, ["data"])
    status = tool.status(repo)
    shutil.rmtree(repo / "data")
    checkout = tool.checkout(repo)
    restored = count_files(repo / "data")
    if restored != expected:
        raise CommandFailed(f"{tool.name} checkout restored {restored} of {expected} files")
    peak_mb = max(m.peak_kib for m in (added, status, checkout)) * 1024 / 1e6
    log(
        f"W10 {tool.name} peak RSS: add + commit {added.peak_kib / 1024:.0f} MiB, "
        f"status {status.peak_kib / 1024:.0f} MiB, checkout {checkout.peak_kib / 1024:.0f} MiB"
    )
    return {"add + commit": added, "status": status, "checkout": checkout, "peak memory": peak_mb}


def _files_same(source: Path, dest: Path, who: str) -> None:
    """A clone's data folder holds the same files (names and sizes) as the one pushed."""

    def listing(root: Path) -> dict[str, int]:
        return {
            str(Path(base, n).relative_to(root)): os.lstat(os.path.join(base, n)).st_size
            for base, _, names in os.walk(root)
            for n in names
        }

    mine, theirs = listing(source / "data"), listing(dest / "data")
    if mine != theirs:
        missing = len(set(mine) - set(theirs))
        raise CommandFailed(f"{who}: {len(theirs)} files of {len(mine)}, {missing} missing")


def push_bytes(tool: Tool, took: Measure) -> int | None:
    """What `mlv push --json` says it uploaded."""
    import json

    if tool.name != "mlv":
        return None
    return int(json.loads(took.output)["bytes"])


def bench_transfer(wid: str, source: str, paths: list[str]) -> Callable[[Context, Tool], Result]:
    """Push the committed workload to an empty remote, then clone / pull it into a fresh
    folder; for each place (S3, folder) in turn."""

    def bench(ctx: Context, tool: Tool) -> Result:
        repo = ctx.committed_repo(tool, wid, source, paths)
        host = ctx.remote_host()
        result: Result = {}
        for place in PLACES:
            remote = host.new(place, f"{wid}-{tool.name}")
            try:
                tool.add_remote(repo, remote)
                result[f"push ({place})"] = tool.push(repo, remote)
                dest = ctx.workdir / "runs" / f"{wid}-clone-{tool.name}"
                shutil.rmtree(dest, ignore_errors=True)
                result[f"clone / pull ({place})"] = tool.clone(remote, repo, dest)
                _files_same(repo, dest, f"{tool.name} clone from {place}")
                shutil.rmtree(dest, ignore_errors=True)
            finally:
                host.drop(remote)
        return result

    return bench


def bench_r4(ctx: Context, tool: Tool) -> Result:
    """Push W3 to both places, commit W4's edit, and push again: the remote's growth."""
    repo = ctx.fresh_repo(tool, "R4", "w3")
    tool.add_commit(repo, table_path())
    host = ctx.remote_host()
    remotes = [host.new(place, f"R4-{tool.name}") for place in PLACES]
    try:
        before = {}
        for remote in remotes:
            tool.add_remote(repo, remote)
            tool.push(repo, remote)
            before[remote.place] = host.size(remote)
        new_file = ctx.data("w4") / "data" / TABLE_FILE
        target = repo / "data" / TABLE_FILE
        target.unlink()
        shutil.copyfile(new_file, target)
        tool.add_commit(repo, table_path())
        size = new_file.stat().st_size
        result: Result = {}
        for remote in remotes:
            took = tool.push(repo, remote)
            result[f"re-push ({remote.place})"] = took
            grown = host.size(remote) - before[remote.place]
            result[f"uploaded ({remote.place})"] = 100 * grown / size
            sent = push_bytes(tool, took)
            if sent is not None:
                result[f"push --json bytes ({remote.place})"] = 100 * sent / size
        return result
    finally:
        for remote in remotes:
            host.drop(remote)


def pushed_remotes(ctx: Context, tool: Tool, wid: str, repo: Path) -> list[RemoteSpec]:
    """One remote per place holding what `repo` holds, made once per workload."""
    key = (wid, f"{tool.name}-remotes")
    if key not in ctx.pushed:
        host = ctx.remote_host()
        ctx.pushed[key] = []
        for place in PLACES:
            remote = host.new(place, f"{wid}-{tool.name}")
            ctx.pushed[key].append(remote)
            tool.add_remote(repo, remote)
            took = tool.push(repo, remote)
            log(f"{wid} {tool.name}: first push to {place} took {took.seconds:.2f} s")
    return ctx.pushed[key]


def bench_r6(ctx: Context, tool: Tool) -> Result:
    repo = ctx.committed_repo(tool, "R6", "w6", ["data"])
    result: Result = {}
    for remote in pushed_remotes(ctx, tool, "R6", repo):
        took = tool.push(repo, remote)
        sent = push_bytes(tool, took)
        if sent:
            raise CommandFailed(f"a push with nothing new sent {sent} bytes")
        result[f"push, nothing new ({remote.place})"] = took
    return result


def bench_r7(ctx: Context, tool: Tool) -> Result:
    key = ("R7", tool.name)
    if key not in ctx.persistent:
        # A copy: the remotes added to it must not stay in the generated repository.
        repo = ctx.workdir / "runs" / f"R7-shared-{tool.name}"
        shutil.rmtree(repo, ignore_errors=True)
        copy_tree(ctx.data("history") / "repo", repo)
        ctx.persistent[key] = repo
    repo = ctx.persistent[key]
    result: Result = {}
    for remote in pushed_remotes(ctx, tool, "R7", repo):
        dest = ctx.workdir / "runs" / f"R7-clone-{tool.name}"
        shutil.rmtree(dest, ignore_errors=True)
        result[f"clone --no-data ({remote.place})"] = tool.clone_no_data(remote, dest)
        lineage = run_cmd([tool.exe, "lineage", R7_LINEAGE_TARGET], dest, tool.env, tool.timeout)
        if "train" not in lineage.output:
            raise CommandFailed(f"lineage in the clone did not name the run:\n{lineage.output}")
        result[f"lineage ({remote.place})"] = lineage
        shutil.rmtree(dest, ignore_errors=True)
    return result


def bench_rm(ctx: Context, tool: Tool) -> Result:
    repo = ctx.committed_repo(tool, "RM", "big", ["data"])
    host = ctx.remote_host()
    result: Result = {}
    for place in PLACES:
        remote = host.new(place, f"RM-{tool.name}")
        try:
            tool.add_remote(repo, remote)
            took = tool.push(repo, remote)
            result[f"push ({place})"] = took
            result[f"push peak RSS ({place})"] = took.peak_kib * 1024 / 1e6
        finally:
            host.drop(remote)
    return result


def w10_tools(tools: list[Tool], dvc_timeout: float) -> list[Tool]:
    """W10's tools: DVC with its own, shorter limit per command."""
    return [replace(t, timeout=dvc_timeout) if t.name == "dvc" else t for t in tools]


BENCHES: dict[str, Callable[[Context, Tool], Result]] = {
    "W1": bench_w1,
    "W2": bench_w2,
    "W3": bench_w3,
    "W4": bench_rewrite("W4", "w3", "w4"),
    "W5": bench_w5,
    "W6": bench_w6,
    "W7": bench_w7,
    "W4P": bench_rewrite("W4P", "w3p", "w4p"),
    "W8": bench_rewrite("W8", "w3", "w8"),
    "W8P": bench_rewrite("W8P", "w3p", "w8p"),
    "W10": bench_w10,
    "R1": bench_transfer("R1", "w1", ["data"]),
    "R3": bench_transfer("R3", "w3", table_path()),
    "R4": bench_r4,
    "R6": bench_r6,
    "R7": bench_r7,
    "RM": bench_rm,
}

TABLE_WORKLOADS = ("W3", "W4", "W4P", "W8", "W8P", "R3", "R4")


# --------------------------------------------------------------------------------------------
# Collecting results
# --------------------------------------------------------------------------------------------


@dataclass
class Cell:
    values: list[float] = field(default_factory=list)
    peaks_kib: list[int] = field(default_factory=list)
    error: str | None = None

    def median(self) -> float | None:
        return None if self.error or not self.values else statistics.median(self.values)

    def peak_mb(self) -> float | None:
        return max(self.peaks_kib) * 1024 / 1e6 if self.peaks_kib and not self.error else None


Results = dict[tuple[str, str], dict[str, Cell]]


def log(msg: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def tools_for(wid: str, ctx: Context) -> list[Tool]:
    names = ["mlv", "dvc", "git"] if wid == "W2" else ["mlv", "dvc"]
    if wid in MLV_ONLY_WORKLOADS:
        names = ["mlv"]
    tools = [ctx.tools[n] for n in names if n in ctx.tools]
    return [*tools, ctx.floor] if wid == "W5" and ctx.floor is not None else tools


def run_workload(ctx: Context, wid: str, reps: int, results: Results) -> None:
    tools = tools_for(wid, ctx)
    failed: set[str] = set()
    metrics = [r.operation for r in ROWS if r.workload == wid]
    for rep in range(reps):
        # Rotate the order each repetition so neither tool always runs on a warmer machine.
        for tool in tools[rep % len(tools) :] + tools[: rep % len(tools)]:
            if tool.name in failed:
                continue
            try:
                result = BENCHES[wid](ctx, tool)
            except (CommandFailed, OSError) as exc:
                log(f"{wid} {tool.name}: ERROR\n{exc}")
                failed.add(tool.name)
                for metric in metrics:
                    results[(wid, metric)].setdefault(tool.name, Cell()).error = str(exc)
                continue
            record(results, wid, tool.name, result)
            shown = ", ".join(f"{k} {fmt_value(v)}" for k, v in result.items())
            log(f"{wid} rep {rep + 1}/{reps} {tool.name}: {shown}")
    shutil.rmtree(ctx.workdir / "runs", ignore_errors=True)
    ctx.persistent.clear()
    ctx.warmed.clear()
    for remotes in ctx.pushed.values():
        for remote in remotes:
            ctx.remote_host().drop(remote)
    ctx.pushed.clear()


def run_w10(ctx: Context, dvc_timeout: float, results: Results) -> None:
    """W10 once per tool, DVC under its own limit; its generated files are deleted after."""
    tools = ctx.tools
    ctx.tools = {t.name: t for t in w10_tools(list(tools.values()), dvc_timeout)}
    try:
        run_workload(ctx, "W10", 1, results)
    finally:
        ctx.tools = tools
        # A million files is several GB: not kept in the workdir for the next run.
        generated = ctx.workdir / "gen" / f"w10-scale{ctx.scale:g}-seed{ctx.seed}"
        shutil.rmtree(generated, ignore_errors=True)


def record(results: Results, wid: str, tool: str, result: Result) -> None:
    for metric, value in result.items():
        cell = results[(wid, metric)].setdefault(tool, Cell())
        if isinstance(value, Measure):
            cell.values.append(value.seconds)
            cell.peaks_kib.append(value.peak_kib)
        else:
            cell.values.append(value)


def fmt_value(value: Measure | float) -> str:
    if isinstance(value, Measure):
        return f"{value.seconds:.2f} s ({value.peak_kib / 1024:.0f} MiB)"
    return f"{value:.2f}"


# --------------------------------------------------------------------------------------------
# Reporting
# --------------------------------------------------------------------------------------------


def fmt_cell(cell: Cell | None, unit: str) -> str:
    if cell is None:
        return "—"
    if cell.error:
        return "error"
    value = cell.median()
    if value is None:
        return "—"
    if unit == "s":
        return f"{value:.3f} s" if value < 1 else f"{value:.2f} s"
    if unit == "%":
        return f"{value:.1f} %"
    return f"{value:,.1f} MB"


def ratio(cells: dict[str, Cell], peer: str) -> float | None:
    mine, theirs = cells.get("mlv"), cells.get(peer)
    if mine is None or theirs is None:
        return None
    a, b = mine.median(), theirs.median()
    return a / b if a is not None and b else None


def verdict(row: Row, cells: dict[str, Cell]) -> str:
    if not row.checks:
        return "—"
    if "mlv" in cells and cells["mlv"].error:
        return "error"
    outcomes = []
    for check in row.checks:
        value = cells["mlv"].median() if "mlv" in cells else None
        if check.peer != "abs":
            value = ratio(cells, check.peer)
        if value is not None:
            outcomes.append(value <= check.limit)
    if not outcomes:
        return "—"
    return "yes" if all(outcomes) else "no"


def markdown_table(results: Results, workloads: list[str]) -> str:
    lines = [
        "| workload | operation | mlv | DVC | git | mlv / peer | target | met "
        "| peak RSS mlv / DVC |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for row in ROWS:
        if row.workload not in workloads:
            continue
        cells = results[(row.workload, row.operation)]
        ratios = [
            f"{r:.2f} x {peer}"
            for peer in ("DVC", "git")
            if (r := ratio(cells, peer.lower())) is not None
        ]
        peaks = [c.peak_mb() if c else None for c in (cells.get("mlv"), cells.get("dvc"))]
        peak_text = " / ".join("—" if p is None else f"{p:.0f} MB" for p in peaks)
        lines.append(
            f"| {row.workload} | {row.operation} | {fmt_cell(cells.get('mlv'), row.unit)} "
            f"| {fmt_cell(cells.get('dvc'), row.unit)} | {fmt_cell(cells.get('git'), row.unit)} "
            f"| {', '.join(ratios) or '—'} | {row.target} | {verdict(row, cells)} "
            f"| {peak_text if any(p is not None for p in peaks) else '—'} |"
        )
    return "\n".join(lines)


def machine_info() -> str:
    model, mem = platform.processor() or "unknown CPU", "unknown memory"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal"):
                mem = f"{int(line.split()[1]) / 1024**2:.1f} GiB RAM"
                break
    except OSError:
        pass
    return f"{os.cpu_count()} cores, {model}, {mem}, {platform.system()} {platform.release()}"


def tool_versions(tools: dict[str, Tool]) -> str:
    parts = []
    for name, tool in tools.items():
        version = capture([tool.exe, "--version"])
        parts.append(version if version.lower().startswith(name) else f"{name} {version}")
    try:
        import pyarrow

        parts.append(f"pyarrow {pyarrow.__version__}")
    except ImportError:
        pass
    return ", ".join([*parts, f"Python {platform.python_version()}"])


def report(args: argparse.Namespace, ctx: Context, results: Results, notes: list[str]) -> str:
    now = datetime.datetime.now().astimezone()
    header = [
        f"## {now:%Y-%m-%d %H:%M %Z} — scale {args.scale:g}, {args.reps} repetitions",
        "",
        f"- Machine: {machine_info()}",
        f"- Versions: {tool_versions(ctx.tools)}",
        "- Times are medians of whole processes; add + commit is the sum of both processes "
        "(DVC: `dvc add` alone). Store size is `.mlv` vs `.dvc/cache`.",
        f"- W4 edits the `{W4_EDIT_COLUMN}` column of {W4_EDIT_FRACTION:.0%} of rows (scattered)"
        f" and appends {W4_APPEND_FRACTION:.1%} rows; growth is relative to the new file size.",
        *(
            [
                f"- W8 removes the first {W8_DROP_FRACTION:.0%} of rows and inserts "
                f"{W8_INSERT_FRACTION:.1%} new rows in the middle. W4P and W8P write both "
                "versions with `mlv.tables.parquet.write_parquet` (`Repo.write_parquet`)."
            ]
            if any(w in args.only for w in ("W4P", "W8", "W8P"))
            else []
        ),
        *(
            [
                "- Remote workloads: each push goes to a new, empty remote (a new prefix in one "
                "bucket of a moto S3 server on 127.0.0.1, started once for the run, or a new "
                "folder on the same disk); clone / pull is `mlv clone URL DIR` against a fresh "
                "`dvc init --no-scm` folder given the `.dvc` files and config, then `dvc pull`. "
                "Uploaded = the remote's growth in bytes over the new file's size. The moto "
                "server shares the cores with the tool measured."
            ]
            if any(w in REMOTE_WORKLOADS for w in args.only)
            else []
        ),
        *(f"- {note}" for note in [*notes, *ctx.notes.values()]),
        *([f"- {line}" for line in w5_rounds(results)] if "W5" in args.only else []),
        "",
    ]
    return "\n".join(header) + "\n" + markdown_table(results, args.only) + "\n"


def w5_rounds(results: Results) -> list[str]:
    """Every W5 round of each tool, and the floor beside the medians (ratios: this run)."""
    cells = results[("W5", "checkout")]
    shown = {"mlv": "mlv", "dvc": "DVC", "floor": "floor"}
    rounds = [
        f"{label} {', '.join(f'{v:.2f}' for v in cells[name].values)}"
        for name, label in shown.items()
        if name in cells and cells[name].values
    ]
    lines = [f"W5 rounds in order (s): {'; '.join(rounds)}."] if rounds else []
    floor = cells.get("floor")
    floor_s = floor.median() if floor is not None else None
    if floor_s:
        ratios = [
            f"{label} {median / floor_s:.2f} x"
            for name, label in (("mlv", "mlv"), ("dvc", "DVC"))
            if name in cells and (median := cells[name].median()) is not None
        ]
        lines.append(
            f"W5 floor (one Python process reading the content from one file, creating and "
            f"writing the same files, one open, write and close each): {floor_s:.2f} s; "
            f"over the floor: {', '.join(ratios)}."
        )
    return lines


DOC_TITLE = (
    "# mlv performance\n\nGenerated by `benchmarks/run.py --write`; see benchmarks/README.md "
    "for the workloads and targets. Newest run first.\n\n"
)


DOC_PATH = Path(__file__).resolve().parent.parent / "docs" / "performance.md"


def write_doc(section: str, doc: Path = DOC_PATH) -> Path:
    """Insert the section at the top of docs/performance.md, keeping earlier runs below."""
    old = doc.read_text() if doc.exists() else DOC_TITLE
    head, sep, rest = old.partition("\n## ")
    doc.parent.mkdir(parents=True, exist_ok=True)
    doc.write_text(f"{head.rstrip()}\n\n{section}" + (f"\n## {rest}" if sep else ""))
    return doc


# --------------------------------------------------------------------------------------------
# Entry point
# --------------------------------------------------------------------------------------------


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--workdir", type=Path, help="scratch directory (default: a temp dir)")
    parser.add_argument("--scale", type=float, default=1.0, help="multiply file/row counts")
    parser.add_argument(
        "--only",
        default=",".join(w for w in BENCHES if w not in OPT_IN_WORKLOADS),
        help="e.g. W1,W2 (W10, a million files, runs only when named)",
    )
    parser.add_argument("--reps", type=int, default=3, help="repetitions per tool")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--no-dvc", action="store_true", help="skip DVC")
    parser.add_argument("--no-floor", action="store_true", help="skip W5's floor")
    parser.add_argument("--mlv", help="the mlv executable to measure (default: beside Python)")
    parser.add_argument("--timeout", type=float, default=COMMAND_TIMEOUT_S, help="per command")
    parser.add_argument(
        "--w10-dvc-timeout",
        type=float,
        default=W10_DVC_TIMEOUT_S,
        help="per DVC command in W10 (use --no-dvc to skip DVC)",
    )
    parser.add_argument("--write", action="store_true", help="also write docs/performance.md")
    args = parser.parse_args(argv)
    args.only = [w.strip().upper() for w in args.only.split(",") if w.strip()]
    unknown = [w for w in args.only if w not in BENCHES]
    if unknown:
        parser.error(f"unknown workload(s) {unknown}; choose from {list(BENCHES)}")
    if args.reps < 1 or args.scale <= 0:
        parser.error("--reps must be >= 1 and --scale > 0")
    return args


def make_tools(args: argparse.Namespace, env: dict[str, str], notes: list[str]) -> dict:
    tools: dict[str, Tool] = {}
    wanted_tools = (("mlv", Tool, True), ("dvc", Dvc, not args.no_dvc), ("git", Git, True))
    for name, cls, wanted in wanted_tools:
        if not wanted:
            notes.append(f"{name} skipped (--no-{name}).")
            continue
        exe = args.mlv if name == "mlv" and args.mlv else find_exe(name)
        if exe is None:
            notes.append(f"{name} not found next to {sys.executable} or on PATH: skipped.")
            log(notes[-1])
            continue
        tools[name] = cls(name, exe, env, args.timeout)
    return tools


def needs_pyarrow(workloads: list[str]) -> bool:
    return any(w in TABLE_WORKLOADS for w in workloads)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    own_workdir = args.workdir is None
    workdir = Path(tempfile.mkdtemp(prefix="mlv-bench-")) if own_workdir else args.workdir
    workdir = workdir.resolve()
    workdir.mkdir(parents=True, exist_ok=True)
    notes: list[str] = []
    if needs_pyarrow(args.only):
        try:
            import pyarrow  # noqa: F401
        except ImportError:
            notes.append("pyarrow not installed: the table workloads skipped.")
            args.only = [w for w in args.only if w not in TABLE_WORKLOADS]
    env = base_env(workdir)
    ctx = Context(workdir, args.scale, args.seed, make_tools(args, env, notes))
    if not args.no_floor:
        ctx.floor = Floor("floor", sys.executable, env, args.timeout)
    results: Results = {(r.workload, r.operation): {} for r in ROWS}
    log(f"workdir {workdir}; tools: {', '.join(f'{n}={t.exe}' for n, t in ctx.tools.items())}")
    try:
        for wid in args.only:
            log(f"{wid}: {WORKLOADS[wid]} (scale {args.scale:g})")
            if wid in OPT_IN_WORKLOADS:
                run_w10(ctx, args.w10_dvc_timeout, results)
            else:
                run_workload(ctx, wid, args.reps, results)
    finally:
        if ctx.remotes is not None:
            ctx.remotes.close()
        if own_workdir:
            shutil.rmtree(workdir, ignore_errors=True)
    section = report(args, ctx, results, notes)
    print(section)
    if args.write:
        log(f"wrote {write_doc(section)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
