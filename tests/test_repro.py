"""``mlv repro``: a DVC pipeline runs unchanged; only changed stages run; the run cache restores."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import pytest

from helpers import ENV, mlv, one_error_line, write_files
from mlv import Repo

# Each stage appends its name to a log outside the repository, so a test can tell
# which stages really executed.
STAGE_SCRIPT = """\
import json, os, sys, yaml
name = sys.argv[1]
with open(os.environ["STAGE_LOG"], "a") as log:
    log.write(name + "\\n")
params = yaml.safe_load(open("params.yaml"))
"""

PREPARE = (
    STAGE_SCRIPT
    + """\
rows = open("data/raw.csv").read().splitlines()[1:]
keep = rows[: params["prepare"]["limit"]]
os.makedirs("data/prepared", exist_ok=True)
open("data/prepared/train.csv", "w").write("x,y\\n" + "\\n".join(keep) + "\\n")
open("data/prepared/test.csv", "w").write("x,y\\n" + "\\n".join(rows[-2:]) + "\\n")
"""
)

TRAIN = (
    STAGE_SCRIPT
    + """\
rows = [r.split(",") for r in open("data/prepared/train.csv").read().splitlines()[1:]]
slope = sum(float(y) for _, y in rows) / max(1, sum(float(x) for x, _ in rows))
model = {"slope": slope * params["train"]["scale"], "epochs": params["train"]["epochs"]}
open("model.json", "w").write(json.dumps(model))
"""
)

EVALUATE = (
    STAGE_SCRIPT
    + """\
model = json.load(open("model.json"))
rows = [r.split(",") for r in open("data/prepared/test.csv").read().splitlines()[1:]]
err = sum(abs(float(y) - model["slope"] * float(x)) for x, y in rows)
os.makedirs("eval", exist_ok=True)
json.dump({"error": err}, open("eval/metrics.json", "w"))
open("eval/report.txt", "w").write(f"error {err}\\n")
"""
)

# Written as DVC users write it: params by key, a folder output, a metrics file
# that git would keep (cache: false), a plot, templating from params.yaml.
DVC_YAML = """\
stages:
  prepare:
    cmd: python src/stage.py prepare
    deps:
      - data/raw.csv
      - src/stage.py
    params:
      - prepare.limit
    outs:
      - data/prepared
  train:
    cmd: python src/train.py train --epochs ${train.epochs}
    deps:
      - data/prepared/train.csv
      - src/train.py
    params:
      - train.scale
    outs:
      - model.json
  evaluate:
    cmd: python src/evaluate.py evaluate
    deps:
      - model.json
      - data/prepared
      - src/evaluate.py
    outs:
      - eval/report.txt
    metrics:
      - eval/metrics.json:
          cache: false
"""

PARAMS = "prepare:\n  limit: 3\ntrain:\n  scale: 1.0\n  epochs: 5\n"


@pytest.fixture
def project(tmp_path: Path) -> tuple[Path, dict[str, str]]:
    root = tmp_path / "proj"
    root.mkdir()
    write_files(
        root,
        {
            "data/raw.csv": "x,y\n1,2\n2,4.1\n3,5.9\n4,8.2\n5,9.9\n",
            "src/stage.py": PREPARE,
            "src/train.py": TRAIN,
            "src/evaluate.py": EVALUATE,
            "params.yaml": PARAMS,
            "dvc.yaml": DVC_YAML,
        },
    )
    env = {
        **ENV,
        "STAGE_LOG": str(tmp_path / "stages.log"),
        # `python` in the stage commands is the interpreter running the tests.
        "PATH": os.pathsep.join([str(Path(sys.executable).parent), ENV.get("PATH", "")]),
    }
    assert mlv(root, "init", env=env).returncode == 0
    return root, env


def executed(env: dict[str, str]) -> list[str]:
    """Stage names executed since the last call."""
    log = Path(env["STAGE_LOG"])
    if not log.exists():
        return []
    names = log.read_text().split()
    log.unlink()
    return names


def repro(root: Path, env: dict[str, str], *args: str, expect: int = 0) -> dict:
    done = mlv(root, "repro", "--json", *args, env=env)
    assert done.returncode == expect, done.stdout + done.stderr
    return json.loads(done.stdout) if expect == 0 else {}


def statuses(result: dict) -> dict[str, str]:
    return {s["stage"]: s["status"] for s in result["stages"]}


def test_a_dvc_pipeline_runs_unchanged_in_dependency_order(project) -> None:
    root, env = project
    result = repro(root, env)
    assert result["pipeline"] == "dvc.yaml"
    assert statuses(result) == {"prepare": "ran", "train": "ran", "evaluate": "ran"}
    assert executed(env) == ["prepare", "train", "evaluate"]
    assert json.loads((root / "eval/metrics.json").read_text())["error"] >= 0
    assert mlv(root, "commit", "-m", "first", env=env).returncode == 0
    with Repo(root) as repo:
        runs = {r.name: r for r in repo.runs("HEAD").values()}
        assert set(runs) == {"prepare", "train", "evaluate"}
        # The templated command and the auto-tracked parameter are recorded.
        assert runs["train"].cmd == "python src/train.py train --epochs 5"
        assert runs["train"].params["params.yaml"].values == {"train.scale": 1.0, "train.epochs": 5}
        assert runs["evaluate"].metrics["eval/metrics.json"]["error"] >= 0
        assert runs["prepare"].outs["data/prepared"].kind == "dir"
        assert runs["evaluate"].deps["data/prepared"].id == runs["prepare"].outs["data/prepared"].id
        # The pipeline and params files are committed with the outputs.
        assert {"dvc.yaml", "params.yaml", "data/prepared/train.csv"} <= set(repo.flat_tree("HEAD"))
        assert repo.status().clean


def test_nothing_runs_when_nothing_changed(project) -> None:
    root, env = project
    repro(root, env)
    executed(env)
    again = repro(root, env)
    assert set(statuses(again).values()) == {"unchanged"}
    assert executed(env) == []
    human = mlv(root, "repro", env=env)
    assert "everything is up to date" in human.stdout


def test_a_changed_parameter_reruns_only_the_stages_that_read_it(project) -> None:
    root, env = project
    repro(root, env)
    executed(env)
    (root / "params.yaml").write_text(PARAMS.replace("scale: 1.0", "scale: 2.0"))
    result = repro(root, env)
    assert statuses(result) == {"prepare": "unchanged", "train": "ran", "evaluate": "ran"}
    assert executed(env) == ["train", "evaluate"]
    reasons = {s["stage"]: s["reason"] for s in result["stages"]}
    assert "train.scale" in reasons["train"]
    assert "model.json" in reasons["evaluate"]


def test_a_changed_dependency_reruns_downstream(project) -> None:
    root, env = project
    repro(root, env)
    executed(env)
    with open(root / "data/raw.csv", "a") as f:
        f.write("6,12.1\n")
    repro(root, env)
    # prepare keeps the first 3 rows for training: train sees the same input and is not run.
    assert executed(env) == ["prepare", "evaluate"]


def test_going_back_to_earlier_inputs_restores_outputs_from_the_run_cache(project) -> None:
    root, env = project
    repro(root, env)
    first_model = (root / "model.json").read_bytes()
    (root / "params.yaml").write_text(PARAMS.replace("scale: 1.0", "scale: 3.0"))
    repro(root, env)
    assert (root / "model.json").read_bytes() != first_model
    executed(env)
    (root / "params.yaml").write_text(PARAMS)
    result = repro(root, env)
    assert statuses(result) == {"prepare": "unchanged", "train": "restored", "evaluate": "restored"}
    assert executed(env) == []
    assert (root / "model.json").read_bytes() == first_model
    assert mlv(root, "commit", "-m", "back", env=env).returncode == 0
    with Repo(root) as repo:
        assert repo.status().clean
        assert {r.name for r in repo.runs("HEAD").values()} == {"prepare", "train", "evaluate"}


def test_a_folder_output_is_restored_exactly(project) -> None:
    root, env = project
    repro(root, env)
    listing = sorted(p.name for p in (root / "data/prepared").iterdir())
    (root / "data/prepared/stray.csv").write_text("not the stage's\n")
    (root / "data/prepared/test.csv").unlink()
    result = repro(root, env)
    assert statuses(result)["prepare"] == "restored"
    assert sorted(p.name for p in (root / "data/prepared").iterdir()) == listing


def test_dry_run_runs_and_stages_nothing(project) -> None:
    root, env = project
    repro(root, env)
    assert mlv(root, "commit", "-m", "first", env=env).returncode == 0
    executed(env)
    (root / "params.yaml").write_text(PARAMS.replace("epochs: 5", "epochs: 7"))
    result = repro(root, env, "--dry-run")
    assert statuses(result) == {
        "prepare": "unchanged",
        "train": "would run",
        "evaluate": "would run",
    }
    assert executed(env) == []
    with Repo(root) as repo:
        status = repo.status()
        assert not status.staged  # the changed params.yaml is not staged by a dry run
        assert status.modified == ["params.yaml"]


def test_force_and_targets(project) -> None:
    root, env = project
    repro(root, env)
    executed(env)
    assert statuses(repro(root, env, "train", "--force")) == {"prepare": "ran", "train": "ran"}
    assert executed(env) == ["prepare", "train"]
    result = repro(root, env, "train")
    assert list(statuses(result)) == ["prepare", "train"]
    assert executed(env) == []


def test_a_failing_stage_stops_the_pipeline_with_its_exit_code(project) -> None:
    root, env = project
    (root / "src/train.py").write_text("import sys\nsys.exit(4)\n")
    done = mlv(root, "repro", env=env)
    assert done.returncode == 4, done.stderr
    assert "train" in done.stderr and "exited with code 4" in done.stderr
    assert executed(env) == ["prepare"]
    assert not (root / "eval").exists()


def test_keep_going_runs_what_does_not_need_the_failed_stage(project) -> None:
    root, env = project
    pipeline = DVC_YAML + (
        "  other:\n"
        "    cmd: python -c \"open('other.txt', 'w').write('ok')\"\n"
        "    outs:\n"
        "      - other.txt\n"
    )
    (root / "dvc.yaml").write_text(pipeline)
    (root / "src/train.py").write_text("import sys\nsys.exit(3)\n")
    done = mlv(root, "repro", "--keep-going", env=env)
    assert done.returncode == 3, done.stderr
    assert (root / "other.txt").read_text() == "ok"
    assert "1 stage(s) failed: train" in done.stderr
    assert not (root / "eval").exists()


def test_mlv_yaml_is_read_before_dvc_yaml(project) -> None:
    root, env = project
    (root / "mlv.yaml").write_text(
        "stages:\n  only:\n    cmd: python -c \"open('o.txt', 'w').write('1')\"\n"
        "    outs:\n      - o.txt\n"
    )
    result = repro(root, env)
    assert result["pipeline"] == "mlv.yaml"
    assert statuses(result) == {"only": "ran"}


@pytest.mark.parametrize(
    ("pipeline", "words"),
    [
        (
            "stages:\n  a:\n    cmd: cp b.txt a.txt\n    deps: [b.txt]\n    outs: [a.txt]\n"
            "  b:\n    cmd: cp a.txt b.txt\n    deps: [a.txt]\n    outs: [b.txt]\n",
            ["cycle"],
        ),
        (
            "stages:\n  a:\n    cmd: cp nothing.txt a.txt\n    deps: [nothing.txt]\n"
            "    outs: [a.txt]\n",
            ["'a'", "nothing.txt"],
        ),
        (
            "stages:\n  a:\n    cmd: touch x\n    outs: [x]\n"
            "  b:\n    cmd: touch x\n    outs: [x]\n",
            ["'a'", "'b'", "x"],
        ),
        ("stages:\n  a:\n    cmd: [unclosed\n", ["dvc.yaml"]),
        ("stages:\n  a:\n    command: touch x\n", ["'a'", "command"]),
    ],
    ids=["cycle", "missing-dependency", "two-writers", "malformed", "unknown-key"],
)
def test_pipeline_errors_are_one_clear_line(project, pipeline: str, words: list[str]) -> None:
    root, env = project
    (root / "dvc.yaml").write_text(pipeline)
    line = one_error_line(mlv(root, "repro", env=env))
    for word in words:
        assert word in line, line
    assert executed(env) == []


def test_no_pipeline_file_is_an_error(tmp_path: Path) -> None:
    assert mlv(tmp_path, "init").returncode == 0
    line = one_error_line(mlv(tmp_path, "repro"))
    assert "mlv.yaml" in line and "dvc.yaml" in line


def test_repro_through_the_python_api(project) -> None:
    root, env = project
    with Repo(root) as repo:
        result = repo.repro(environ=env)
        assert result.ok
        assert [s.status for s in result.stages] == ["ran", "ran", "ran"]
        repo.commit("from a notebook")
        assert len(repo.read_commit(repo.resolve("HEAD")).runs) == 3
        assert [s.status for s in repo.repro(environ=env).stages] == ["unchanged"] * 3


def test_foreach_stages_run_and_rerun_one_by_one(project) -> None:
    root, env = project
    (root / "params.yaml").write_text(PARAMS + "sizes:\n  small: 2\n  large: 4\n")
    (root / "dvc.yaml").write_text(
        "stages:\n"
        "  sample:\n"
        "    foreach: ${sizes}\n"
        "    do:\n"
        "      cmd: python src/sample.py ${key} ${item}\n"
        "      deps: [data/raw.csv, src/sample.py]\n"
        "      outs:\n"
        "        - samples/${key}.csv\n"
    )
    (root / "src/sample.py").write_text(
        "import os, sys\n"
        "with open(os.environ['STAGE_LOG'], 'a') as log:\n"
        "    log.write(sys.argv[1] + '\\n')\n"
        "rows = open('data/raw.csv').read().splitlines()\n"
        "os.makedirs('samples', exist_ok=True)\n"
        "open(f'samples/{sys.argv[1]}.csv', 'w').write('\\n'.join(rows[: int(sys.argv[2]) + 1]))\n"
    )
    result = repro(root, env)
    assert statuses(result) == {"sample@small": "ran", "sample@large": "ran"}
    assert len((root / "samples/large.csv").read_text().splitlines()) == 5
    executed(env)
    # The interpolated value is tracked: changing it reruns that stage alone.
    (root / "params.yaml").write_text(PARAMS + "sizes:\n  small: 3\n  large: 4\n")
    assert statuses(repro(root, env)) == {"sample@small": "ran", "sample@large": "unchanged"}
    assert executed(env) == ["small"]


def test_an_mlv_yaml_of_tables_only_leaves_the_stages_to_dvc_yaml(project) -> None:
    root, env = project
    (root / "mlv.yaml").write_text("tables:\n  model.json:\n    key: [slope]\n")
    result = repro(root, env)
    assert result["pipeline"] == "dvc.yaml"
    assert set(statuses(result)) == {"prepare", "train", "evaluate"}


def test_downstream_runs_what_depends_on_the_target(project) -> None:
    root, env = project
    repro(root, env)
    executed(env)
    result = repro(root, env, "train", "--force", "--downstream")
    assert list(statuses(result)) == ["train", "evaluate"]
    assert executed(env) == ["train", "evaluate"]
