"""`mlv ci`: reproduction, contracts, metrics, parameters and data in one report and exit code."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from helpers import AUTHOR, one_error_line, write_files
from mlv import Repo
from mlv.ci.report import CiReport
from mlv.lineage.values import ValueChange

ROOT = Path(__file__).resolve().parent.parent
BIN = str(Path(sys.executable).parent)
# `python` on the command's PATH is the interpreter running these tests.
PY_ENV = {"PATH": BIN + os.pathsep + os.environ.get("PATH", "")}

TRAIN = """\
import json
import yaml
p = yaml.safe_load(open("params.yaml"))
rows = open("data.csv").read().splitlines()[1:]
total = sum(int(r.split(",")[1]) for r in rows)
open("model.txt", "w").write(f"{total * p['lr']}\\n")
json.dump({"acc": round(total * p["lr"] / 100, 4), "n": len(rows)}, open("metrics.json", "w"))
"""
NOISE = "import os; open('noise.txt', 'w').write(os.urandom(8).hex())"


def environ() -> dict[str, str]:
    return {**os.environ, **PY_ENV}


def train(root: Path, message: str) -> str:
    """Record the training run through the library and commit everything."""
    with Repo(root) as repo:
        repo.add(["params.yaml", "data.csv", "train.py"])
        repo.run(
            "python train.py",
            deps=["train.py", "data.csv"],
            outs=["model.txt"],
            params={"params.yaml": ["lr"]},
            metrics=["metrics.json"],
            environ=environ(),
            stdout=subprocess.DEVNULL,
            author=AUTHOR,
        )
        repo.add(["."])
        return repo.commit(message, author=AUTHOR)


def record(root: Path, cmd: str, outs: list[str]) -> str:
    with Repo(root) as repo:
        repo.run(cmd, outs=outs, environ=environ(), stdout=subprocess.DEVNULL, author=AUTHOR)
        repo.add(["."])
        return repo.commit("another run", author=AUTHOR)


@pytest.fixture
def project(repo_path: Path) -> Path:
    """Two commits: the second raises lr, adds a row to data.csv and so moves the metrics."""
    write_files(
        repo_path,
        {"params.yaml": "lr: 0.1\n", "data.csv": "id,x\n1,10\n2,20\n", "train.py": TRAIN},
    )
    train(repo_path, "first model")
    write_files(repo_path, {"params.yaml": "lr: 0.2\n", "data.csv": "id,x\n1,10\n2,20\n3,30\n"})
    train(repo_path, "more data, higher lr")
    return repo_path


def ci(run_mlv, root: Path, *args: str, expect: int | None = 0) -> subprocess.CompletedProcess:
    return run_mlv(root, "ci", *args, env=PY_ENV, expect=expect)


# -- the report ---------------------------------------------------------------------------


def test_a_reproduced_head_passes_with_every_section(run_mlv, project: Path) -> None:
    out = ci(run_mlv, project, "--base", "HEAD~1", "--reproduce").stdout
    assert out.startswith("## ✅ mlv ci: ")
    assert "### Reproduction" in out
    assert "| `model.txt` | model | ✅ identical |" in out
    assert "| `metrics.json` | model | ✅ identical |" in out
    # Metrics with their deltas, the parameter that changed, the files and rows.
    assert "| `metrics.json` | `acc` | 0.03 | 0.12 | +0.09 (+300.0%) |" in out
    assert "| `metrics.json` | `n` | 2 | 3 | +1 (+50.0%) |" in out
    assert "| `params.yaml` | `lr` | 0.1 | 0.2 |" in out
    assert "| `data.csv` | modified | 15 B → 20 B |" in out
    assert "data.csv: 2 → 3 rows" in out
    assert "### Data contracts" not in out  # no contract in mlv.yaml
    with Repo(project) as repo:
        base, head = repo.resolve("HEAD~1"), repo.resolve("HEAD")
        assert repo.reproductions(head), "the reproduction is recorded"
    assert f"Compared `{base[:12]}` (given) → `{head[:12]}`" in out


def test_without_reproduce_the_runs_are_not_executed(run_mlv, project: Path) -> None:
    out = ci(run_mlv, project).stdout
    assert "Not run (run `mlv ci --reproduce`" in out
    with Repo(project) as repo:
        assert repo.reproductions("HEAD") == []


def test_a_non_deterministic_output_fails_the_job(run_mlv, project: Path) -> None:
    record(project, f'python -c "{NOISE}"', ["noise.txt"])
    out = ci(run_mlv, project, "--reproduce", expect=1).stdout
    assert out.startswith("## ❌ mlv ci: ")
    assert "1 output did not reproduce" in out.splitlines()[0]
    assert "| `noise.txt` |" in out and "❌ different" in out


def test_a_failing_command_fails_the_report_without_a_crash(
    run_mlv, project: Path, tmp_path: Path
) -> None:
    outside = tmp_path / "outside.txt"
    outside.write_text("here today\n")
    record(project, f"test -f '{outside}' && echo copied > copy.txt", ["copy.txt"])
    outside.unlink()
    proc = ci(run_mlv, project, "--reproduce", "--json", expect=1)
    assert "Traceback" not in proc.stderr
    report = json.loads(proc.stdout)
    assert report["ok"] is False
    assert report["reproduction"]["status"] == "failed"
    assert "exit" in report["reproduction"]["error"]
    md = ci(run_mlv, project, "--reproduce", expect=1).stdout
    assert "❌ A command failed:" in md and "reproduction failed" in md.splitlines()[0]


def test_contracts_are_checked_at_the_head(run_mlv, project: Path) -> None:
    write_files(
        project,
        {
            "mlv.yaml": "tables:\n  data.csv:\n    contract:\n      columns:\n"
            "        x: {max: 100}\n"
        },
    )
    out = ci(run_mlv, project).stdout
    assert "### Data contracts\n✅ 1 table meets its contract." in out
    write_files(
        project,
        {"mlv.yaml": "tables:\n  data.csv:\n    contract:\n      columns:\n        x: {max: 25}\n"},
    )
    out = ci(run_mlv, project, expect=1).stdout
    assert out.startswith("## ❌") and "1 table breaks its contract" in out.splitlines()[0]
    assert "- `data.csv`: x: max 25" in out
    # The base met the contract: only the head counts.
    assert json.loads(ci(run_mlv, project, "--json", expect=1).stdout)["contracts"]["rev"]


# -- the CLI against the library -----------------------------------------------------------


def test_json_is_the_library_report(run_mlv, project: Path) -> None:
    printed = json.loads(ci(run_mlv, project, "--json").stdout)
    with Repo(project) as repo:
        report = repo.ci(environ=environ())
        assert printed == json.loads(json.dumps(report.to_json()))
        assert report.ok and report.base == repo.resolve("HEAD~1")
    assert printed["base_reason"] == "parent"
    assert {c["key"]: (c["old"], c["new"]) for c in printed["params"]} == {"lr": (0.1, 0.2)}
    assert {c["path"]: c["status"] for c in printed["changes"]} == {
        "data.csv": "modified",
        "metrics.json": "modified",
        "model.txt": "modified",
        "params.yaml": "modified",
    }


def test_markdown_file_gets_the_report_and_stdout_a_summary(run_mlv, project: Path) -> None:
    proc = ci(run_mlv, project, "--markdown", "report.md")
    with Repo(project) as repo:
        head = repo.resolve("HEAD")
        expected = repo.ci(environ=environ()).to_markdown()
    assert (project / "report.md").read_text(encoding="utf-8") == expected
    assert proc.stdout.splitlines() == [
        f"mlv ci: {head[:12]} passed",
        "report written to report.md",
    ]
    assert ci(run_mlv, project, "--markdown", "-").stdout == expected


def test_the_first_commit_has_no_base(run_mlv, repo_path: Path) -> None:
    write_files(
        repo_path,
        {"params.yaml": "lr: 0.1\n", "data.csv": "id,x\n1,10\n2,20\n", "train.py": TRAIN},
    )
    train(repo_path, "first model")
    report = json.loads(ci(run_mlv, repo_path, "--reproduce", "--json").stdout)
    assert report["base"] is None and report["base_reason"] == "first commit"
    assert {c["status"] for c in report["changes"]} == {"added"}
    assert [(m["key"], m["old"], m["new"]) for m in report["metrics"]] == [
        ("acc", None, 0.03),
        ("n", None, 2),
    ]
    out = ci(run_mlv, repo_path).stdout
    assert "no base: first commit" in out and "| `acc` | — | 0.03 | new |" in out


def test_on_a_branch_the_base_is_the_merge_base_with_main(project: Path) -> None:
    with Repo(project) as repo:
        fork = repo.resolve("HEAD")
        repo.switch("feature", create=True)
    write_files(project, {"params.yaml": "lr: 0.3\n"})
    train(project, "try lr 0.3")
    with Repo(project) as repo:
        report = repo.ci(environ=environ())
        assert (report.base, report.base_reason) == (fork, "merge base with main")
        assert [(c.key, c.old, c.new) for c in report.params] == [("lr", 0.2, 0.3)]


def test_bad_input_exits_2_with_one_line(run_mlv, project: Path) -> None:
    line = one_error_line(ci(run_mlv, project, "--base", "nosuchrev", expect=2))
    assert "nosuchrev" in line
    one_error_line(ci(run_mlv, project, "--json", "--markdown", "-", expect=2))
    one_error_line(ci(run_mlv, project, "--markdown", "no/such/folder/r.md", expect=2))


# -- the Markdown stays a table ------------------------------------------------------------

TEXT = st.text(st.characters(blacklist_categories=("Cs",)), max_size=30)
VALUE = st.one_of(
    st.none(), st.integers(), st.floats(allow_nan=True), TEXT, st.lists(st.integers())
)


def _cells(line: str) -> int:
    return len(re.findall(r"(?<!\\)\|", line)) - 1


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(TEXT, TEXT, VALUE, VALUE), min_size=1, max_size=30))
def test_any_value_keeps_one_row_per_key_and_the_columns(rows: list) -> None:
    changes = [ValueChange(f, k, a, b) for f, k, a, b in rows]
    report = CiReport("a" * 64, "b" * 64, "given", metrics=changes, params=changes)
    lines = report.to_markdown().splitlines()
    metrics = lines[lines.index("### Metrics") + 1 : lines.index("### Parameters") - 1]
    params = lines[lines.index("### Parameters") + 1 : lines.index("### Data changed") - 1]
    shown = min(len(rows), 20)
    assert len(metrics) == 2 + shown + (len(rows) > 20)
    assert all(_cells(line) == 5 for line in metrics[: 2 + shown])
    assert all(_cells(line) == 4 for line in params[: 2 + shown])


# -- docs/ci.md ------------------------------------------------------------------------------


def _yaml_blocks() -> list[dict]:
    text = (ROOT / "docs" / "ci.md").read_text(encoding="utf-8")
    return [yaml.safe_load(b) for b in re.findall(r"```yaml\n(.*?)```", text, re.S)]


def _commands(node: object) -> list[str]:
    """Every shell line in a CI file: `run:` steps (GitHub) and `script:` lists (GitLab)."""
    found: list[str] = []
    if isinstance(node, dict):
        for key, value in node.items():
            if key in ("run", "script", "before_script") and isinstance(value, str):
                found += value.splitlines()
            elif key in ("script", "before_script") and isinstance(value, list):
                found += [line for item in value for line in str(item).splitlines()]
            else:
                found += _commands(value)
    elif isinstance(node, list):
        for item in node:
            found += _commands(item)
    return found


def test_the_ci_docs_hold_valid_github_and_gitlab_jobs(run_mlv, repo_path: Path) -> None:
    github, gitlab = _yaml_blocks()
    assert "pull_request" in github.get("on", github.get(True, {}))
    assert any("steps" in job for job in github["jobs"].values())
    assert any(isinstance(job, dict) and "script" in job for job in gitlab.values())
    lines = _commands(github) + _commands(gitlab)
    mlv_lines = [line.strip() for line in lines if line.strip().startswith("mlv ")]
    assert any(line.startswith("mlv ci ") for line in mlv_lines)
    for line in mlv_lines:
        command = line.split()[1]
        run_mlv(repo_path, command, "--help")
