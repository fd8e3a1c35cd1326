"""Hostile YAML, failed runs under --json, the lock file, unknown commands, the last error line."""

from __future__ import annotations

import io
import json
import os
import resource
import subprocess
import time
from contextlib import redirect_stderr
from pathlib import Path
from textwrap import dedent

import pytest

from helpers import ENV, MLV, mlv, one_error_line, write_files
from mlv import Repo
from mlv.cli.entry import guarded
from mlv.core import yamlio
from mlv.core.yamlio import MAX_YAML_CHARS, load_yaml
from mlv.errors import PipelineError

ROOT_USER = os.geteuid() == 0


def init(root: Path) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    assert mlv(root, "init").returncode == 0
    return root


def billion_laughs(indent: int = 2, levels: int = 10, width: int = 9) -> str:
    """Nested aliases: ``width ** levels`` values once expanded, a few hundred bytes written.

    A list of one mapping, its lines indented by ``indent``.
    """
    pad = " " * indent
    lines = [f"{pad}- l0: &l0 [{', '.join(['lol'] * width)}]"]
    for level in range(1, levels):
        refs = ", ".join([f"*l{level - 1}"] * width)
        lines.append(f"{pad}  l{level}: &l{level} [{refs}]")
    return "\n".join(lines) + "\n"


def mlv_in_memory(cwd: Path, *args: str, limit: int = 2 << 30) -> subprocess.CompletedProcess:
    """Run mlv with its address space capped, so that a bomb that went off fails here."""

    def cap() -> None:
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))

    return subprocess.run(
        [MLV, *args],
        cwd=cwd,
        env=ENV,
        capture_output=True,
        text=True,
        timeout=30,
        preexec_fn=cap,
    )


# -- YAML: a size limit and bounded aliases --------------------------------------------


def test_alias_bomb_in_dvc_yaml_is_refused_fast(tmp_path: Path) -> None:
    root = init(tmp_path / "repo")
    stages = 'stages:\n  s:\n    cmd: "true"\n    outs: [x]\n'
    (root / "dvc.yaml").write_text("vars:\n" + billion_laughs() + stages)
    begin = time.monotonic()
    line = one_error_line(mlv_in_memory(root, "repro"))
    assert time.monotonic() - begin < 10
    assert line.startswith("mlv: error: dvc.yaml: ")
    assert "alias" in line and "(set MLV_DEBUG=1" not in line, line


def test_alias_bomb_in_a_params_file_is_refused(tmp_path: Path) -> None:
    root = init(tmp_path / "repo")
    (root / "params.yaml").write_text("bomb:\n" + billion_laughs())
    (root / "dvc.yaml").write_text(
        'stages:\n  s:\n    cmd: "true"\n    params: [bomb]\n    outs: [x]\n'
    )
    line = one_error_line(mlv_in_memory(root, "repro"))
    assert "params.yaml" in line and "alias" in line, line


def test_alias_bomb_in_mlv_yaml_tables_is_refused(tmp_path: Path) -> None:
    root = init(tmp_path / "repo")
    (root / "mlv.yaml").write_text(
        "tables:\n  t.csv:\n    contract:\n      x:\n" + billion_laughs(8)
    )
    (root / "t.csv").write_text("a\n1\n")
    line = one_error_line(mlv_in_memory(root, "check"))
    assert "mlv.yaml" in line and "alias" in line, line


def test_an_alias_that_holds_itself_is_refused(tmp_path: Path) -> None:
    root = init(tmp_path / "repo")
    (root / "dvc.yaml").write_text(
        'vars:\n  - a: &a [1, *a]\nstages:\n  s:\n    cmd: "true"\n    outs: [x]\n'
    )
    line = one_error_line(mlv(root, "repro"))
    assert line.startswith("mlv: error: dvc.yaml: line 2: "), line
    assert "alias" in line, line


def test_deeply_nested_yaml_is_refused(tmp_path: Path) -> None:
    root = init(tmp_path / "repo")
    deep = "[" * 20_000 + "]" * 20_000
    (root / "dvc.yaml").write_text(
        f'vars:\n  - a: {deep}\nstages:\n  s:\n    cmd: "true"\n    outs: [x]\n'
    )
    line = one_error_line(mlv(root, "repro"))
    assert line.startswith("mlv: error: dvc.yaml: ") and "nested too deeply" in line, line


def test_a_yaml_file_past_the_size_limit_is_refused_unread(tmp_path: Path) -> None:
    root = init(tmp_path / "repo")
    with (root / "dvc.yaml").open("w") as out:
        out.write('stages:\n  s:\n    cmd: "true"\n    outs: [x]\n#')
        out.write("x" * MAX_YAML_CHARS)
    line = one_error_line(mlv(root, "repro"))
    assert line.startswith("mlv: error: dvc.yaml: longer than "), line
    with pytest.raises(PipelineError, match="longer than"):
        load_yaml("#" + "x" * MAX_YAML_CHARS, "big.yaml")


def test_aliases_within_the_limit_still_load() -> None:
    text = dedent(
        """\
        defaults: &defaults {lr: 0.1, layers: [8, 8]}
        small: {<<: *defaults, lr: 0.01}
        grid: &grid [1, 2, 3]
        both: [*grid, *grid, *defaults]
        """
    )
    doc = load_yaml(text, "params.yaml")
    assert doc["small"] == {"lr": 0.01, "layers": [8, 8]}
    assert doc["both"] == [[1, 2, 3], [1, 2, 3], {"lr": 0.1, "layers": [8, 8]}]


def test_the_expansion_limit_counts_aliases_not_plain_values(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # With the limit lowered: a long file without aliases loads, the same count reached
    # through aliases does not.
    monkeypatch.setattr(yamlio, "MAX_EXPANDED_NODES", 100)
    plain = load_yaml("values: [" + ", ".join(str(i) for i in range(500)) + "]", "big.yaml")
    assert len(plain["values"]) == 500
    with pytest.raises(PipelineError, match="aliases expand it to"):
        load_yaml("a: &a [1, 2, 3, 4, 5, 6, 7, 8, 9, 10]\nb: [" + ", ".join(["*a"] * 20) + "]", "x")


def test_a_large_params_file_still_works(tmp_path: Path) -> None:
    root = init(tmp_path / "repo")
    keys = "\n".join(f"  k{i}: {i}" for i in range(5_000))
    (root / "params.yaml").write_text(f"big:\n{keys}\n")
    (root / "dvc.yaml").write_text(
        "stages:\n  s:\n    cmd: echo done > out.txt\n    params: [big.k4999]\n"
        "    outs: [out.txt]\n"
    )
    done = mlv(root, "repro")
    assert done.returncode == 0, done.stderr
    assert (root / "out.txt").read_text() == "done\n"


# -- --json reports when a run fails midway ---------------------------------------------


def test_reproduce_json_reports_the_failed_run(tmp_path: Path) -> None:
    root = init(tmp_path / "repo")
    marker = tmp_path / "present"
    marker.write_text("")
    made = mlv(
        root, "run", "-n", "s", "-o", "out.txt", "--", f"test -f {marker} && echo hi >out.txt"
    )
    assert made.returncode == 0, made.stderr
    assert mlv(root, "commit", "-m", "one").returncode == 0
    marker.unlink()  # the command now fails in the workspace

    done = mlv(root, "reproduce", "--json")
    assert done.returncode == 2, done.stderr
    assert done.stderr.splitlines()[-1].startswith("mlv: error: run 's' failed")
    report = json.loads(done.stdout)
    assert report["verdict"] == "failed"
    with Repo(root) as repo:
        (run_id,) = repo.runs("HEAD")
        (reproduction_id, reproduction) = repo.reproductions("HEAD")[-1]
    assert report["failure"]["run"] == run_id
    assert report["failure"]["name"] == "s"
    assert report["failure"]["exit_code"] == 2
    assert "exit code 1" in report["failure"]["message"]
    assert report["id"] == reproduction_id and reproduction.verdict == "failed"
    assert report["workspace"] and Path(report["workspace"]).is_dir()
    assert report["workspace"] in done.stderr


def test_repro_json_reports_every_stage_when_one_fails(tmp_path: Path) -> None:
    root = init(tmp_path / "repo")
    write_files(
        root,
        {
            "dvc.yaml": dedent(
                """\
                stages:
                  a:
                    cmd: echo a > a.txt
                    outs: [a.txt]
                  b:
                    cmd: exit 3
                    deps: [a.txt]
                    outs: [b.txt]
                """
            )
        },
    )
    done = mlv(root, "repro", "--json")
    assert done.returncode == 3, done.stderr
    assert done.stderr.splitlines()[-1].startswith("mlv: error: run 'b' failed")
    result = json.loads(done.stdout)
    assert [(s["stage"], s["status"]) for s in result["stages"]] == [("a", "ran"), ("b", "failed")]
    assert "exited with code 3" in result["stages"][1]["reason"]


# -- unknown commands -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "suggestion"),
    [
        (["reflog"], "'log'"),
        (["rnus"], "'runs'"),
        (["metrics", "shwo"], "'show'"),
        (["hooks", "instal"], "'install'"),
    ],
)
def test_an_unknown_command_gets_one_usage_error_and_one_suggestion(
    tmp_path: Path, args: list[str], suggestion: str
) -> None:
    done = mlv(tmp_path, *args)
    assert done.returncode == 2, done.stderr
    assert "Traceback" not in done.stdout + done.stderr
    assert done.stdout == ""
    assert done.stderr.count("Error: No such command") == 1, done.stderr
    assert done.stderr.count("Did you mean") == 1, done.stderr
    assert done.stderr.count(suggestion) == 1, done.stderr
    assert done.stderr.count("Usage: ") == 1, done.stderr


# -- runs that only confirmed committed outputs ---------------------------------------


PIPELINE = """\
stages:
  features:
    cmd: cp data.txt features.txt
    deps: [data.txt]
    outs: [features.txt]
  train:
    cmd: cat features.txt params.yaml > model.txt
    deps: [features.txt]
    params: [depth]
    outs: [model.txt]
  predict:
    cmd: cp model.txt predictions.txt
    deps: [model.txt]
    outs: [predictions.txt]
"""


def test_an_up_to_date_repro_after_commits_leaves_no_run_waiting(tmp_path: Path) -> None:
    # The demo's sequence: repro, commit, a parameter change, repro, commit, repro.
    root = init(tmp_path / "repo")
    write_files(root, {"dvc.yaml": PIPELINE, "data.txt": "rows\n", "params.yaml": "depth: 3\n"})
    assert mlv(root, "repro").returncode == 0
    assert mlv(root, "commit", "-m", "baseline").returncode == 0
    (root / "params.yaml").write_text("depth: 6\n")
    assert mlv(root, "repro").returncode == 0
    assert mlv(root, "commit", "-m", "deeper").returncode == 0

    done = mlv(root, "repro")
    assert done.returncode == 0, done.stderr
    assert "everything is up to date" in done.stdout
    status = mlv(root, "status")
    assert "wait for a commit" not in status.stdout, status.stdout
    assert "working tree clean" in status.stdout
    assert json.loads(mlv(root, "status", "--json").stdout)["pending_runs"] == []


def test_outputs_put_back_from_the_cache_as_committed_leave_no_run_waiting(
    tmp_path: Path,
) -> None:
    root = init(tmp_path / "repo")
    write_files(root, {"dvc.yaml": PIPELINE, "data.txt": "rows\n", "params.yaml": "depth: 3\n"})
    assert mlv(root, "repro").returncode == 0
    assert mlv(root, "commit", "-m", "baseline").returncode == 0
    (root / "params.yaml").write_text("depth: 6\n")
    assert mlv(root, "repro").returncode == 0  # runs that wait for a commit
    (root / "params.yaml").write_text("depth: 3\n")
    assert mlv(root, "repro").returncode == 0  # back to what is committed, from the cache

    status = json.loads(mlv(root, "status", "--json").stdout)
    assert status["pending_runs"] == []
    # The newer runs are still in the run cache: going back to them needs no run either.
    (root / "params.yaml").write_text("depth: 6\n")
    again = mlv(root, "repro")
    assert "running stage" not in again.stdout, again.stdout
    commit = mlv(root, "commit", "-m", "deeper")
    assert commit.returncode == 0, commit.stderr
    with Repo(root) as repo:
        assert sorted(r.name for r in repo.runs("HEAD").values()) == [
            "features",
            "predict",
            "train",
        ]


def test_a_run_whose_outputs_head_lacks_still_waits(tmp_path: Path) -> None:
    root = init(tmp_path / "repo")
    write_files(root, {"dvc.yaml": PIPELINE, "data.txt": "rows\n", "params.yaml": "depth: 3\n"})
    assert mlv(root, "repro").returncode == 0
    status = json.loads(mlv(root, "status", "--json").stdout)
    assert len(status["pending_runs"]) == 3
    assert mlv(root, "repro").returncode == 0  # up to date, but nothing committed yet
    assert len(json.loads(mlv(root, "status", "--json").stdout)["pending_runs"]) == 3
    assert mlv(root, "commit", "-m", "baseline").returncode == 0
    with Repo(root) as repo:
        assert len(repo.runs("HEAD")) == 3


# -- the repository lock file -----------------------------------------------------------


def _lock_repo(tmp_path: Path) -> Path:
    root = init(tmp_path / "repo")
    (root / "a.txt").write_text("a\n")
    (root / ".mlv" / "lock").unlink(missing_ok=True)
    return root


def test_a_lock_file_that_is_a_folder_is_one_clear_line(tmp_path: Path) -> None:
    root = _lock_repo(tmp_path)
    (root / ".mlv" / "lock").mkdir()
    line = one_error_line(mlv(root, "add", "."))
    assert ".mlv/lock is a folder" in line and "move the folder away" in line, line


def test_the_lock_is_never_written_through_a_symlink(tmp_path: Path) -> None:
    root = _lock_repo(tmp_path)
    victim = tmp_path / "victim.txt"
    victim.write_text("keep\n")
    (root / ".mlv" / "lock").symlink_to(victim)
    line = one_error_line(mlv(root, "add", "."))
    assert "not a regular file" in line, line
    assert victim.read_text() == "keep\n"


def test_a_lock_file_that_is_a_pipe_is_one_clear_line(tmp_path: Path) -> None:
    root = _lock_repo(tmp_path)
    os.mkfifo(root / ".mlv" / "lock")
    line = one_error_line(mlv(root, "add", "."))
    assert "not a regular file" in line and "remove it" in line, line


@pytest.mark.skipif(ROOT_USER, reason="permissions do not bind root")
def test_an_unwritable_lock_file_is_one_clear_line(tmp_path: Path) -> None:
    root = _lock_repo(tmp_path)
    lock = root / ".mlv" / "lock"
    lock.write_text("")
    lock.chmod(0o400)
    try:
        line = one_error_line(mlv(root, "add", "."))
    finally:
        lock.chmod(0o600)
    assert "permission denied" in line and "check its permissions" in line, line


@pytest.mark.skipif(ROOT_USER, reason="permissions do not bind root")
def test_a_read_only_mlv_folder_is_one_clear_line(tmp_path: Path) -> None:
    root = _lock_repo(tmp_path)
    (root / ".mlv").chmod(0o555)
    try:
        line = one_error_line(mlv(root, "add", "."))
    finally:
        (root / ".mlv").chmod(0o755)
    # The index or the lock, whichever is opened first, says what it cannot do.
    assert "(set MLV_DEBUG=1" not in line, line


# -- the last line of defence -------------------------------------------------------------


def _fallback_line(error: BaseException) -> tuple[int, str]:
    def fail() -> None:
        raise error

    err = io.StringIO()
    with redirect_stderr(err), pytest.raises(SystemExit) as info:
        guarded(fail)
    lines = err.getvalue().splitlines()
    assert len(lines) == 1, err.getvalue()
    return int(info.value.code or 0), lines[0]


def test_an_os_error_says_the_path_and_what_went_wrong(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("MLV_DEBUG", raising=False)
    monkeypatch.chdir(tmp_path)
    code, line = _fallback_line(
        PermissionError(13, "Permission denied", str(tmp_path / "data" / "x.csv"))
    )
    assert code == 2
    assert line.startswith("mlv: error: cannot use data/x.csv: Permission denied; "), line
    assert "PermissionError" not in line and "Errno" not in line, line

    _, line = _fallback_line(
        OSError(18, "Invalid cross-device link", "/a/b.tmp", None, str(tmp_path / "b"))
    )
    assert line.startswith("mlv: error: cannot use /a/b.tmp and b: Invalid cross-device link"), line

    _, line = _fallback_line(IsADirectoryError(21, "Is a directory", "data/x.csv"))
    assert "cannot use data/x.csv: Is a directory; a folder is where" in line, line


def test_memory_exhaustion_is_one_clear_line(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("MLV_DEBUG", raising=False)
    code, line = _fallback_line(MemoryError())
    assert code == 2
    assert line.startswith("mlv: error: out of memory: "), line
    assert "MemoryError" not in line, line
