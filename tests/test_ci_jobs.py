"""The CI jobs of docs/ci.md, run as written: their shell commands, with bash, against a
project pushed to a real S3-API server, as a pull request's runner would see it."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from conftest import S3Bucket
from helpers import write_files
from mlv import Repo
from mlv.gitcode.pin import read_pin
from test_ci import TRAIN, train

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
PREFIX = "team/churn"
# The steps of the GitHub job that get the data and run mlv ci: docs/ci.md gives them an id.
GITHUB_STEPS = ("mlv-data", "mlv-ci")


def _jobs() -> tuple[dict, dict]:
    text = (ROOT / "docs" / "ci.md").read_text(encoding="utf-8")
    github, gitlab = (yaml.safe_load(b) for b in re.findall(r"```yaml\n(.*?)```", text, re.S))
    return github["jobs"]["mlv-ci"], gitlab["mlv-ci"]


def _git(cwd: Path, *args: str, env: dict[str, str]) -> str:
    proc = subprocess.run(
        ["git", *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=60
    )
    assert proc.returncode == 0, (args, proc.stdout, proc.stderr)
    return proc.stdout


@pytest.fixture
def base_env(tmp_path: Path) -> dict[str, str]:
    """A runner's environment: no mlv or git settings of the test's, this mlv first on
    PATH (and the interpreter running these tests as `python`), the S3 keys that the
    s3_bucket fixture put in the environment."""
    home = tmp_path / "home"
    home.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MLV_", "GIT_"))}
    env.update(
        HOME=str(home),
        XDG_CONFIG_HOME=str(home / ".config"),
        GIT_CONFIG_NOSYSTEM="1",
        GIT_AUTHOR_NAME="Ada",
        GIT_AUTHOR_EMAIL="ada@example.com",
        GIT_COMMITTER_NAME="Ada",
        GIT_COMMITTER_EMAIL="ada@example.com",
        PATH=f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}",
    )
    return env


@pytest.fixture
def pushed(tmp_path: Path, s3_bucket: S3Bucket, base_env: dict[str, str]) -> tuple[Path, str, str]:
    """A project whose main git branch pins the first model and whose `feature` branch,
    the pull request, pins the second; the mlv data on S3, the code in a bare git remote.
    Returns the runner's checkout of `feature`, the pinned mlv commit and the base's."""
    dev = tmp_path / "dev"
    dev.mkdir()
    code = tmp_path / "code.git"
    _git(tmp_path, "init", "-q", "--bare", str(code), env=base_env)
    _git(dev, "init", "-q", "-b", "main", env=base_env)
    Repo.init(dev).close()
    write_files(
        dev,
        {"params.yaml": "lr: 0.1\n", "data.csv": "id,x\n1,10\n2,20\n", "train.py": TRAIN},
    )
    base = train(dev, "first model")
    with Repo(dev) as repo:
        repo.add_remote(
            "origin",
            f"s3://{s3_bucket.name}/{PREFIX}",
            endpoint_url=s3_bucket.endpoint,
            region=s3_bucket.region,
            allow_http=True,
        )
        repo.push()
    _git(dev, "add", "mlv.lock", "train.py", "params.yaml", env=base_env)
    _git(dev, "commit", "-q", "-m", "code one", env=base_env)
    _git(dev, "remote", "add", "origin", str(code), env=base_env)
    _git(dev, "push", "-q", "origin", "main", env=base_env)

    _git(dev, "checkout", "-q", "-b", "feature", env=base_env)
    write_files(dev, {"params.yaml": "lr: 0.2\n", "data.csv": "id,x\n1,10\n2,20\n3,30\n"})
    head = train(dev, "more data, higher lr")
    with Repo(dev) as repo:
        repo.push()
    pin = read_pin(dev)
    assert pin is not None and pin.commit == head
    _git(dev, "commit", "-q", "-am", "code two", env=base_env)
    _git(dev, "push", "-q", "origin", "feature", env=base_env)

    checkout = tmp_path / "checkout"
    _git(tmp_path, "clone", "-q", "--branch", "feature", str(code), str(checkout), env=base_env)
    return checkout, head, base


def _settings(s3_bucket: S3Bucket) -> dict[str, str]:
    """What a user sets for the test's server, in place of the doc's examples."""
    return {
        "DATA_REMOTE": f"s3://{s3_bucket.name}/{PREFIX}",
        "DATA_REMOTE_OPTIONS": f"--endpoint-url {s3_bucket.endpoint} --allow-http",
        "AWS_REGION": s3_bucket.region,
    }


def _bash(script: str, cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run(
        ["bash", "-e", "-c", script],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_the_github_job_clones_without_data_and_passes(
    pushed: tuple[Path, str, str], s3_bucket: S3Bucket, base_env: dict[str, str], tmp_path: Path
) -> None:
    checkout, head, base = pushed
    job, _ = _jobs()
    env = dict(base_env)
    for name, value in job["env"].items():
        # Secrets come from the CI; here they are the test server's keys.
        secret = re.fullmatch(r"\$\{\{ secrets\.(\w+) \}\}", str(value))
        env[name] = os.environ[secret.group(1)] if secret else str(value)
    env.update(_settings(s3_bucket))
    runner_temp = tmp_path / "runner-temp"
    runner_temp.mkdir()
    env.update(RUNNER_TEMP=str(runner_temp), GITHUB_WORKSPACE=str(checkout))
    steps = {s["id"]: s["run"] for s in job["steps"] if s.get("id") in GITHUB_STEPS}
    assert list(steps) == list(GITHUB_STEPS)
    outputs = []
    for step in GITHUB_STEPS:
        script = steps[step].replace("${{ github.base_ref }}", "main")
        assert "${{" not in script, script
        # GitHub runs a `run:` step as `bash -e {0}`, in the checkout.
        proc = _bash(script, checkout, env)
        assert proc.returncode == 0, (step, proc.stdout, proc.stderr)
        outputs.append(proc.stdout)
    assert f"mlv ci: {head[:12]} passed" in outputs[-1]
    report = (checkout / "report.md").read_text(encoding="utf-8")
    assert report.startswith(f"## ✅ mlv ci: `{head[:12]}` passed")
    assert "| `model.txt` | model | ✅ identical |" in report
    assert "| `metrics.json` | `acc` | 0.03 | 0.12 | +0.09 (+300.0%) |" in report
    assert base[:12] in report  # the base is what main's mlv.lock names
    with Repo(runner_temp / "mlv") as clone:
        assert clone.resolve("HEAD") == head


def test_the_gitlab_job_clones_without_data_and_posts_the_report(
    pushed: tuple[Path, str, str], s3_bucket: S3Bucket, base_env: dict[str, str], tmp_path: Path
) -> None:
    checkout, head, base = pushed
    _, job = _jobs()
    env = dict(base_env)
    env.update({name: str(value) for name, value in job["variables"].items()})
    env.update(_settings(s3_bucket))
    # glab posts the note; this stand-in keeps the message where the test can read it.
    tools = tmp_path / "tools"
    tools.mkdir()
    glab = tools / "glab"
    glab.write_text(f'#!/bin/sh\nprintf "%s\\n" "$@" > {tmp_path / "note.txt"}\n')
    glab.chmod(0o755)
    env.update(
        PATH=f"{tools}{os.pathsep}{env['PATH']}",
        TMPDIR=str(tmp_path),
        CI_PROJECT_DIR=str(checkout),
        CI_MERGE_REQUEST_TARGET_BRANCH_NAME="main",
        CI_MERGE_REQUEST_IID="7",
    )
    # A shell job runs the lines of `script:` in one shell, stopping at a failing one.
    proc = _bash("\n".join(job["script"]), checkout, env)
    assert proc.returncode == 0, (proc.stdout, proc.stderr)
    assert f"mlv ci: {head[:12]} passed" in proc.stdout
    note = (tmp_path / "note.txt").read_text(encoding="utf-8")
    assert note.startswith(f"mr\nnote\n7\n--message\n## ✅ mlv ci: `{head[:12]}` passed")
    assert "| `metrics.json` | `acc` | 0.03 | 0.12 | +0.09 (+300.0%) |" in note
    assert base[:12] in note
