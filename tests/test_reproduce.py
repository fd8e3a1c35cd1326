"""`mlv reproduce`: rebuild a commit's outputs in an isolated workspace and compare them."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from importlib import metadata
from pathlib import Path

import pytest

from helpers import AUTHOR, one_error_line, write_files
from mlv import Repo
from mlv.runs.environment import capture_env, drift

BIN = str(Path(sys.executable).parent)
# `python` on the command's PATH is the interpreter running these tests.
PY_ENV = {"PATH": BIN + os.pathsep + os.environ.get("PATH", "")}

MAKE = """\
from pathlib import Path
print("chatter on stdout")
n = int(Path("n.txt").read_text())
Path("a.csv").write_text("i,sq\\n" + "".join(f"{i},{i * i}\\n" for i in range(n)))
"""
USE = """\
import json
rows = open("a.csv").read().splitlines()[1:]
total = sum(int(r.split(",")[1]) for r in rows)
json.dump({"rows": len(rows), "total": total}, open("b.json", "w"), indent=1)
"""
OTHER = "open('c.txt', 'w').write('independent\\n')\n"


def environ(extra: dict[str, str | None] | None = None) -> dict[str, str]:
    env = {**os.environ, **PY_ENV}
    for key, value in (extra or {}).items():
        if value is None:
            env.pop(key, None)
        else:
            env[key] = value
    return env


def record(root: Path, cmd: str, *, deps=(), outs=(), metrics=(), name=None, env=None) -> str:
    """`mlv run`, through the library (its own tests are in test_runs.py): the run id."""
    with Repo(root) as repo:
        run_id, _ = repo.run(
            cmd,
            deps=deps,
            outs=outs,
            metrics=metrics,
            name=name,
            environ=environ(env),
            stdout=subprocess.DEVNULL,
            author=AUTHOR,
        )
    return run_id


def commit(root: Path, message: str = "work") -> str:
    with Repo(root) as repo:
        repo.add(["."])
        return repo.commit(message, author=AUTHOR)


def reproduce(root: Path, run_mlv, *args: str, expect: int | None = 0, env=None) -> dict:
    proc = run_mlv(root, "reproduce", "--json", *args, env={**PY_ENV, **(env or {})}, expect=expect)
    return json.loads(proc.stdout)


def results(report: dict) -> dict[str, str]:
    return {o["path"]: o["result"] for o in report["outputs"]}


def ran(report: dict) -> list[str]:
    return [r["name"] for r in report["runs"]]


@pytest.fixture(scope="session")
def templates(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("templates")


def from_template(templates: Path, tmp_path: Path, build: Callable[[Path], None]) -> Path:
    """A copy of the repository ``build`` makes, built once per test process."""
    source = templates / build.__name__
    if not source.exists():
        Repo.init(source).close()
        build(source)
    root = tmp_path / "work"
    shutil.copytree(source, root, symlinks=True)
    return root


def build_chain(root: Path) -> None:
    write_files(root, {"n.txt": "5\n", "make.py": MAKE, "use.py": USE, "other.py": OTHER})
    record(root, "python make.py", name="make", deps=["make.py", "n.txt"], outs=["a.csv"])
    record(root, "python use.py", name="use", deps=["use.py", "a.csv"], metrics=["b.json"])
    record(root, "python other.py", name="other", deps=["other.py"], outs=["c.txt"])
    commit(root, "chain")


@pytest.fixture
def chain(templates: Path, tmp_path: Path) -> Path:
    """make (n.txt -> a.csv), use (a.csv -> b.json), other (-> c.txt), all in one commit."""
    return from_template(templates, tmp_path, build_chain)


def snapshot_tree(root: Path) -> dict[str, bytes]:
    return {
        p.relative_to(root).as_posix(): p.read_bytes()
        for p in sorted(root.rglob("*"))
        if p.is_file() and ".mlv" not in p.relative_to(root).parts
    }


# -- a deterministic chain ---------------------------------------------------------------


def test_deterministic_chain_reproduces_identically(chain: Path, run_mlv, tmp_path) -> None:
    # The user goes on working after the commit: reproduction must not touch that.
    (chain / "n.txt").write_text("9\n")
    (chain / "a.csv").write_text("edited by hand\n")
    write_files(chain, {"scratch.txt": "untracked\n"})
    files_before = snapshot_tree(chain)
    status_before = run_mlv(chain, "status", "--json").stdout
    temp = tmp_path / "temp"
    temp.mkdir()

    report = reproduce(chain, run_mlv, env={"TMPDIR": str(temp)})

    assert snapshot_tree(chain) == files_before
    assert run_mlv(chain, "status", "--json").stdout == status_before
    assert list(temp.iterdir()) == []  # the temporary workspace is gone
    assert report["verdict"] == "reproduced"
    assert report["workspace"] is None
    assert report["drift"] == {}
    assert ran(report)[:2] == ["make", "use"]  # dependency order
    assert sorted(ran(report)) == ["make", "other", "use"]
    assert results(report) == {"a.csv": "identical", "b.json": "identical", "c.txt": "identical"}
    with Repo(chain) as repo:
        runs = repo.runs("HEAD")
        assert {r["id"] for r in report["runs"]} == set(runs)
        for output in report["outputs"]:
            (producer,) = [r for r in runs.values() if output["path"] in r.outs]
            assert output["recorded"] == output["rebuilt"] == producer.outs[output["path"]].id
            assert output["run"] == producer.name

        # Recorded, and listed by show.
        ((rep_id, rep),) = repo.reproductions("HEAD")
        assert rep_id == report["id"]
        assert rep.verdict == "reproduced"
        assert rep.commit == report["commit"] == repo.resolve("HEAD")
        assert set(rep.runs) == set(runs)
        assert rep.results["b.json"]["result"] == "identical"
        assert rep.drift == {}
        assert rep.options["rtol"] == 1e-9 and rep.options["exact"] is False
    doc = json.loads(run_mlv(chain, "show", "--json").stdout)
    (shown,) = doc["reproductions"]
    assert shown["id"] == report["id"]
    assert shown["verdict"] == "reproduced"
    assert shown["results"]["a.csv"]["result"] == "identical"
    text = run_mlv(chain, "show").stdout
    assert "reproduced" in text and report["id"][:12] in text


def test_reproduce_human_output(chain: Path, run_mlv) -> None:
    out = run_mlv(chain, "reproduce", env=PY_ENV).stdout
    assert "running make" in out
    assert "identical" in out
    assert "same Python and packages" in out
    assert "reproduced: 3 identical" in out


def test_runs_of_earlier_commits_are_reproduced_too(repo_path: Path, run_mlv) -> None:
    write_files(repo_path, {"n.txt": "4\n", "make.py": MAKE, "use.py": USE})
    record(repo_path, "python make.py", name="make", deps=["make.py", "n.txt"], outs=["a.csv"])
    first = commit(repo_path, "one")
    record(repo_path, "python use.py", name="use", deps=["use.py", "a.csv"], outs=["b.json"])
    commit(repo_path, "two")
    report = reproduce(repo_path, run_mlv)
    assert ran(report) == ["make", "use"]
    assert results(report) == {"a.csv": "identical", "b.json": "identical"}
    report = reproduce(repo_path, run_mlv, first)
    assert ran(report) == ["make"]


def test_inputs_are_the_ones_the_runs_recorded(repo_path: Path, run_mlv) -> None:
    """A dependency edited after the run but before the commit: the run's version is used."""
    write_files(repo_path, {"n.txt": "3\n", "make.py": MAKE})
    record(repo_path, "python make.py", deps=["make.py", "n.txt"], outs=["a.csv"])
    (repo_path / "n.txt").write_text("8\n")
    commit(repo_path)
    assert results(reproduce(repo_path, run_mlv)) == {"a.csv": "identical"}


# -- outputs that differ -----------------------------------------------------------------


def test_time_and_unseeded_random_are_different(repo_path: Path, run_mlv) -> None:
    write_files(
        repo_path,
        {
            "stamp.py": "import time\nopen('stamp.txt', 'w').write(f'made\\n{time.time()!r}\\n')\n",
            "noise.py": "import random\nwith open('noise.csv', 'w') as f:\n"
            "    f.write('i,v\\n')\n"
            "    for i in range(4):\n"
            "        f.write(f'{i},{random.random()!r}\\n')\n",
        },
    )
    record(repo_path, "python stamp.py", deps=["stamp.py"], outs=["stamp.txt"])
    record(repo_path, "python noise.py", deps=["noise.py"], outs=["noise.csv"])
    commit(repo_path)
    report = reproduce(repo_path, run_mlv, expect=1)
    assert report["verdict"] == "different"
    by_path = {o["path"]: o for o in report["outputs"]}
    assert by_path["stamp.txt"]["result"] == "different"
    assert by_path["stamp.txt"]["detail"] == "1 of 2 lines differs, first at line 2"
    assert by_path["stamp.txt"]["recorded"] != by_path["stamp.txt"]["rebuilt"]
    assert by_path["noise.csv"]["result"] == "different"
    assert "4 rows differ in 'v'" in by_path["noise.csv"]["detail"]
    assert by_path["noise.csv"]["values_moved"] == 4
    with Repo(repo_path) as repo:
        ((_, rep),) = repo.reproductions("HEAD")
        assert rep.verdict == "different"
        assert rep.results["noise.csv"]["result"] == "different"

    out = run_mlv(repo_path, "reproduce", env=PY_ENV, expect=1).stdout
    assert "NOT reproduced" in out
    assert "4 rows differ" in out


def test_parquet_with_varying_metadata_is_equivalent(repo_path: Path, run_mlv) -> None:
    write_files(
        repo_path,
        {
            "table.py": "import random, time\n"
            "import pyarrow as pa, pyarrow.parquet as pq\n"
            "t = pa.table({'id': [1, 2, 3], 'name': ['a', 'b', 'c'], 'v': [0.5, 1.5, 2.5]})\n"
            "t = t.replace_schema_metadata({'made': repr(time.time())})\n"
            "codec = random.choice(['snappy', 'gzip', 'zstd', 'none'])\n"
            "pq.write_table(t, 't.parquet', compression=codec)\n"
        },
    )
    record(repo_path, "python table.py", deps=["table.py"], outs=["t.parquet"])
    commit(repo_path)
    report = reproduce(repo_path, run_mlv)
    (out,) = report["outputs"]
    assert out["result"] == "equivalent", out
    assert out["recorded"] != out["rebuilt"]
    assert "same schema and 3 rows" in out["detail"]
    assert report["verdict"] == "reproduced"

    exact = reproduce(repo_path, run_mlv, "--exact", expect=1)
    assert exact["outputs"][0]["result"] == "different"
    assert "equivalent without --exact" in exact["outputs"][0]["detail"]


SUMS = """\
import json, random
rng = random.Random()  # unseeded: a new summation order every run
values = [1 / (i + 3) for i in range(60)] + [1e3 / 7, 1e-3 / 3]
doc = {}
for k in range(30):
    rng.shuffle(values)
    doc[f"loss{k}"] = sum(values)
json.dump(doc, open("metrics.json", "w"))
"""


def build_sums(root: Path) -> None:
    write_files(root, {"sums.py": SUMS})
    record(root, "python sums.py", deps=["sums.py"], metrics=["metrics.json"])
    commit(root)


@pytest.fixture
def sums(templates: Path, tmp_path: Path) -> Path:
    return from_template(templates, tmp_path, build_sums)


def test_floats_moving_in_the_last_bits_are_close(sums: Path, run_mlv) -> None:
    report = reproduce(sums, run_mlv)
    (out,) = report["outputs"]
    assert out["result"] == "close", out
    assert 0 < out["max_rel_diff"] < 1e-12
    assert 1 <= out["values_moved"] <= 30
    assert "moved within tolerance" in out["detail"]
    assert report["verdict"] == "reproduced"


def test_exact_accepts_identical_bytes_only(sums: Path, run_mlv) -> None:
    report = reproduce(sums, run_mlv, "--exact", expect=1)
    (out,) = report["outputs"]
    assert out["result"] == "different"
    assert "close without --exact" in out["detail"]
    assert report["verdict"] == "different"
    with Repo(sums) as repo:
        ((_, rep),) = repo.reproductions("HEAD")
        assert rep.options["exact"] is True
        assert rep.verdict == "different"


def test_zero_tolerance_makes_last_bits_different(sums: Path, run_mlv) -> None:
    report = reproduce(sums, run_mlv, "--rtol", "0", expect=1)
    (out,) = report["outputs"]
    assert out["result"] == "different"
    assert "changed: loss" in out["detail"]
    # A generous absolute tolerance accepts them again.
    report = reproduce(sums, run_mlv, "--rtol", "0", "--atol", "1e-6")
    assert report["outputs"][0]["result"] == "close"


def test_negative_tolerance_is_refused(sums: Path, run_mlv) -> None:
    proc = run_mlv(sums, "reproduce", "--rtol", "-1", env=PY_ENV, expect=2)
    assert "--rtol" in one_error_line(proc)


# -- what runs --------------------------------------------------------------------------


def test_target_runs_only_what_the_output_needs(chain: Path, run_mlv) -> None:
    report = reproduce(chain, run_mlv, "--target", "a.csv")
    assert ran(report) == ["make"]
    assert results(report) == {"a.csv": "identical"}

    report = reproduce(chain, run_mlv, "--target", "b.json")
    assert ran(report) == ["make", "use"]
    assert results(report) == {"a.csv": "identical", "b.json": "identical"}

    report = reproduce(chain, run_mlv, "--target", "c.txt")
    assert ran(report) == ["other"]
    with Repo(chain) as repo:
        assert [r.options["target"] for _, r in repo.reproductions("HEAD")] == [
            "a.csv",
            "b.json",
            "c.txt",
        ]


def test_target_not_written_by_any_run(chain: Path, run_mlv) -> None:
    proc = run_mlv(chain, "reproduce", "--target", "n.txt", env=PY_ENV, expect=2)
    assert "n.txt" in one_error_line(proc)


def test_controlled_environment(repo_path: Path, run_mlv, tmp_path: Path) -> None:
    write_files(
        repo_path,
        {
            "envs.py": "import json, os\n"
            "names = ['PYTHONHASHSEED', 'TZ', 'LC_ALL', 'SOURCE_DATE_EPOCH', 'OMP_NUM_THREADS',"
            " 'MKL_NUM_THREADS']\n"
            "json.dump({n: os.environ.get(n) for n in names}, open('env.json', 'w'))\n"
        },
    )
    unset = ("TZ", "LC_ALL", "SOURCE_DATE_EPOCH", "MKL_NUM_THREADS", "PYTHONHASHSEED")
    record(
        repo_path,
        "python envs.py",
        deps=["envs.py"],
        outs=["env.json"],
        env={"OMP_NUM_THREADS": "3", **dict.fromkeys(unset)},
    )
    recorded = json.loads((repo_path / "env.json").read_text())
    assert recorded["PYTHONHASHSEED"] == "0" and recorded["OMP_NUM_THREADS"] == "3"
    commit(repo_path)
    space = tmp_path / "space"
    report = reproduce(
        repo_path,
        run_mlv,
        "--workspace",
        str(space),
        env={"OMP_NUM_THREADS": "7", "MKL_NUM_THREADS": "5", "PYTHONHASHSEED": "123"},
        expect=1,
    )
    with Repo(repo_path) as repo:
        commit_time = repo.read_commit(repo.resolve("HEAD")).time
    assert json.loads((space / "env.json").read_text()) == {
        "PYTHONHASHSEED": "0",
        "TZ": "UTC",
        "LC_ALL": "C.UTF-8",
        "SOURCE_DATE_EPOCH": str(commit_time),
        "OMP_NUM_THREADS": "3",
        "MKL_NUM_THREADS": None,
    }
    (out,) = report["outputs"]
    assert out["result"] == "different"  # TZ, LC_ALL and SOURCE_DATE_EPOCH were not set before
    assert "changed: " in out["detail"] and "added" not in out["detail"]


# -- failures and bad input -----------------------------------------------------------------


def test_undeclared_dependency_is_named(repo_path: Path, run_mlv) -> None:
    write_files(
        repo_path,
        {
            "conf/settings.txt": "5\n",
            "read.py": "n = int(open('conf/settings.txt').read())\n"
            "open('out.txt', 'w').write(str(n * 2))\n",
        },
    )
    record(repo_path, "python read.py", deps=["read.py"], outs=["out.txt"])
    commit(repo_path)
    before = snapshot_tree(repo_path)
    proc = run_mlv(repo_path, "reproduce", env=PY_ENV, expect=2)
    assert "Traceback" in proc.stderr  # the command's own error output is passed through
    last = proc.stderr.splitlines()[-1]
    assert last.startswith("mlv: error: ")
    assert "failed in the isolated workspace" in last
    assert "it probably reads conf/settings.txt" in last
    assert "-d conf/settings.txt" in last
    assert "workspace is kept" in last
    space = Path(last.rsplit(" at ", 1)[1])
    assert (space / "read.py").is_file() and not (space / "conf").exists()
    shutil.rmtree(space)
    assert snapshot_tree(repo_path) == before
    with Repo(repo_path) as repo:
        ((_, rep),) = repo.reproductions("HEAD")
        assert rep.verdict == "failed"
        assert "conf/settings.txt" in rep.options["error"]


def test_failing_command_exits_2(repo_path: Path, run_mlv) -> None:
    write_files(
        repo_path,
        {
            "flaky.py": "import os, sys\nopen('o.txt', 'w').write('o')\n"
            "sys.exit(5 if 'SOURCE_DATE_EPOCH' in os.environ else 0)\n"
        },
    )
    record(
        repo_path,
        "python flaky.py",
        deps=["flaky.py"],
        outs=["o.txt"],
        env={"SOURCE_DATE_EPOCH": None},
    )
    commit(repo_path)
    proc = run_mlv(repo_path, "reproduce", "--json", env=PY_ENV, expect=2)
    line = one_error_line(proc)
    assert "exit code 5" in line
    # --json still reports: the failed run, and the workspace kept for inspection.
    report = json.loads(proc.stdout)
    assert report["verdict"] == "failed"
    assert report["failure"]["name"] == "o" and "exit code 5" in report["failure"]["message"]
    assert report["workspace"] == line.rsplit(" at ", 1)[1]
    shutil.rmtree(report["workspace"])


def test_workspace_is_kept_with_the_rebuilt_outputs(chain: Path, run_mlv, tmp_path) -> None:
    space = tmp_path / "ws"
    report = reproduce(chain, run_mlv, "--workspace", str(space))
    assert report["workspace"] == str(space)
    assert (space / "b.json").read_bytes() == (chain / "b.json").read_bytes()
    assert (space / "a.csv").read_bytes() == (chain / "a.csv").read_bytes()
    assert (space / "make.py").read_text() == MAKE
    # A relative path names a folder under the current one.
    report = reproduce(chain, run_mlv, "--workspace", os.path.relpath(tmp_path / "ws2", chain))
    assert report["workspace"] == str(tmp_path / "ws2")
    assert (tmp_path / "ws2/c.txt").read_text() == "independent\n"


def test_workspace_must_be_empty_and_outside_the_repository(chain: Path, run_mlv, tmp_path) -> None:
    full = tmp_path / "full"
    write_files(full, {"x.txt": "mine\n"})
    proc = run_mlv(chain, "reproduce", "--workspace", str(full), env=PY_ENV, expect=2)
    assert "not an empty folder" in one_error_line(proc)
    assert sorted(p.name for p in full.iterdir()) == ["x.txt"]

    for inside in ("ws", ".", "sub/ws"):
        proc = run_mlv(chain, "reproduce", "--workspace", inside, env=PY_ENV, expect=2)
        assert "inside the repository" in one_error_line(proc)
    assert not (chain / "ws").exists() and not (chain / "sub").exists()

    a_file = tmp_path / "file"
    a_file.write_text("f")
    one_error_line(run_mlv(chain, "reproduce", "--workspace", str(a_file), env=PY_ENV, expect=2))
    with Repo(chain) as repo:
        assert repo.reproductions("HEAD") == []


def test_keep_leaves_the_temporary_workspace(chain: Path, run_mlv, tmp_path) -> None:
    temp = tmp_path / "temp"
    temp.mkdir()
    report = reproduce(chain, run_mlv, "--keep", "--target", "a.csv", env={"TMPDIR": str(temp)})
    space = Path(report["workspace"])
    assert space.parent == temp
    assert (space / "a.csv").read_bytes() == (chain / "a.csv").read_bytes()
    assert list(temp.iterdir()) == [space]


def test_commit_without_runs(repo_path: Path, run_mlv, commit_files) -> None:
    commit_files(repo_path, {"data.csv": "x\n1\n"}, "plain data")
    proc = run_mlv(repo_path, "reproduce", env=PY_ENV, expect=2)
    assert "nothing to reproduce" in one_error_line(proc)


@pytest.mark.parametrize("rev", ["nope", "HEAD~5", "0" * 64])
def test_bad_revision(chain: Path, run_mlv, rev: str) -> None:
    one_error_line(run_mlv(chain, "reproduce", rev, env=PY_ENV, expect=2))


def test_empty_repository(repo_path: Path, run_mlv) -> None:
    one_error_line(run_mlv(repo_path, "reproduce", env=PY_ENV, expect=2))


# -- environment drift ----------------------------------------------------------------------


def _other_python() -> str | None:
    """An interpreter other than this virtual environment's, whose packages differ."""
    for candidate in (
        getattr(sys, "_base_executable", ""),
        shutil.which("python3", path="/usr/local/bin:/usr/bin"),
    ):
        if candidate and Path(candidate).exists() and sys.prefix != sys.base_prefix:
            return candidate
    return None


def test_drift_when_the_python_on_path_differs(chain: Path, run_mlv, tmp_path) -> None:
    other = _other_python()
    if other is None:
        pytest.skip("no interpreter outside the virtual environment")
    fake_bin = tmp_path / "bin"
    fake_bin.mkdir()
    (fake_bin / "python").symlink_to(other)
    env = {"PATH": str(fake_bin) + os.pathsep + os.environ.get("PATH", "")}
    report = reproduce(chain, run_mlv, "--target", "c.txt", env=env)
    recorded, now = capture_env(environ())[0], capture_env(environ(env))[0]
    expected = drift(recorded, now)
    assert expected, "the base interpreter lacks the virtual environment's packages"
    assert report["drift"] == expected
    assert report["drift"]["mlv"] == [metadata.version("mlv"), "absent"]
    assert results(report) == {"c.txt": "identical"}
    with Repo(chain) as repo:
        ((_, rep),) = repo.reproductions("HEAD")
        assert rep.drift == report["drift"]
    out = run_mlv(chain, "reproduce", "--target", "c.txt", env=env).stdout
    assert "environment drift" in out


# -- folders, working folders, parameters ------------------------------------------------

FIT = """\
import os
os.makedirs("model/parts", exist_ok=True)
total = sum(int(open(f"data/{name}").read()) for name in sorted(os.listdir("data")))
open("model/w.txt", "w").write(str(total))
open("model/parts/p.txt", "w").write("p")
"""
SCORE = "import json\njson.dump({'w': int(open('model/w.txt').read())}, open('score.json', 'w'))\n"


def test_folder_inputs_and_outputs(repo_path: Path, run_mlv, tmp_path) -> None:
    write_files(repo_path, {"data/x.txt": "1", "data/y.txt": "2", "fit.py": FIT, "score.py": SCORE})
    record(repo_path, "python fit.py", name="fit", deps=["fit.py", "data"], outs=["model"])
    record(
        repo_path,
        "python score.py",
        name="score",
        deps=["score.py", "model"],
        metrics=["score.json"],
    )
    commit(repo_path)
    write_files(repo_path, {"data/z.txt": "40"})  # after the commit: not in the workspace
    space = tmp_path / "ws"
    report = reproduce(repo_path, run_mlv, "--workspace", str(space))
    assert ran(report) == ["fit", "score"]
    assert results(report) == {"model": "identical", "score.json": "identical"}
    assert json.loads((space / "score.json").read_text()) == {"w": 3}
    assert sorted(p.name for p in (space / "data").iterdir()) == ["x.txt", "y.txt"]


def test_folder_output_with_an_extra_file_is_different(repo_path: Path, run_mlv) -> None:
    write_files(
        repo_path,
        {
            "fit.py": "import os, time\nos.makedirs('model', exist_ok=True)\n"
            "open('model/w.txt', 'w').write('w')\n"
            "if 'SOURCE_DATE_EPOCH' in os.environ:\n"
            "    open('model/extra.txt', 'w').write('x')\n"
        },
    )
    record(
        repo_path, "python fit.py", deps=["fit.py"], outs=["model"], env={"SOURCE_DATE_EPOCH": None}
    )
    commit(repo_path)
    report = reproduce(repo_path, run_mlv, expect=1)
    (out,) = report["outputs"]
    assert out["result"] == "different"
    assert "extra.txt" in out["detail"]


def test_missing_rebuilt_output(repo_path: Path, run_mlv) -> None:
    write_files(
        repo_path,
        {"w.py": "import os\nif 'SOURCE_DATE_EPOCH' not in os.environ:\n    open('o.txt', 'w')\n"},
    )
    record(repo_path, "python w.py", deps=["w.py"], outs=["o.txt"], env={"SOURCE_DATE_EPOCH": None})
    commit(repo_path)
    report = reproduce(repo_path, run_mlv, expect=1)
    assert results(report) == {"o.txt": "missing"}
    assert report["verdict"] == "different"


def test_subfolder_run_with_params(repo_path: Path, run_mlv) -> None:
    write_files(
        repo_path,
        {
            "sub/step.py": "import yaml\n"
            "p = yaml.safe_load(open('params.yaml'))\n"
            "open('out.txt', 'w').write(f\"{p['lr'] * 2}\\n\")\n",
            "sub/params.yaml": "lr: 0.5\nother: 1\n",
        },
    )
    with Repo(repo_path) as repo:
        repo.run(
            "python step.py",
            deps=["sub/step.py"],
            outs=["sub/out.txt"],
            params={"sub/params.yaml": ["lr"]},
            wdir="sub",
            environ=environ(),
            stdout=subprocess.DEVNULL,
            author=AUTHOR,
        )
    commit(repo_path)
    (repo_path / "sub/params.yaml").write_text("lr: 9\nother: 1\n")  # edited afterwards
    report = reproduce(repo_path, run_mlv, "--target", "sub/out.txt")
    assert results(report) == {"sub/out.txt": "identical"}
    # --target is relative to the current folder.
    proc = run_mlv(repo_path / "sub", "reproduce", "--json", "--target", "out.txt", env=PY_ENV)
    assert results(json.loads(proc.stdout)) == {"sub/out.txt": "identical"}
    assert (repo_path / "sub/params.yaml").read_text() == "lr: 9\nother: 1\n"


def test_recorded_locale_is_used(repo_path: Path, run_mlv, tmp_path: Path) -> None:
    write_files(
        repo_path,
        {
            "loc.py": "import os\nlocale = os.environ.get('LC_ALL') or os.environ['LANG']\n"
            "open('loc.txt', 'w').write(locale)\n"
        },
    )
    record(
        repo_path,
        "python loc.py",
        deps=["loc.py"],
        outs=["loc.txt"],
        env={"LANG": "de_DE.UTF-8", "LC_ALL": None},
    )
    commit(repo_path)
    report = reproduce(repo_path, run_mlv, env={"LANG": "C.UTF-8", "LC_ALL": "C"})
    assert results(report) == {"loc.txt": "identical"}


def test_undeclared_dependency_from_a_subfolder(repo_path: Path, run_mlv) -> None:
    write_files(
        repo_path,
        {"sub/lookup.csv": "k,v\n", "sub/go.py": "open('lookup.csv').read()\nopen('o', 'w')\n"},
    )
    with Repo(repo_path) as repo:
        repo.run(
            "python go.py",
            deps=["sub/go.py"],
            outs=["sub/o"],
            wdir="sub",
            environ=environ(),
            stdout=subprocess.DEVNULL,
            author=AUTHOR,
        )
    commit(repo_path)
    proc = run_mlv(repo_path, "reproduce", env=PY_ENV, expect=2)
    last = proc.stderr.splitlines()[-1]
    assert "it probably reads sub/lookup.csv" in last
    shutil.rmtree(last.rsplit(" at ", 1)[1])


def test_ignored_files_in_a_folder_output_are_not_compared(repo_path: Path, run_mlv) -> None:
    write_files(
        repo_path,
        {
            ".mlvignore": "*.log\n",
            "fit.py": "import os\nos.makedirs('model', exist_ok=True)\n"
            "open('model/w.txt', 'w').write('w')\nopen('model/train.log', 'w').write('log')\n",
        },
    )
    record(repo_path, "python fit.py", deps=["fit.py"], outs=["model"])
    commit(repo_path)
    assert results(reproduce(repo_path, run_mlv, expect=None)) == {"model": "identical"}


def test_a_run_not_rerun_after_its_input_changed_is_reproduced_on_what_it_read(
    repo_path: Path, run_mlv
) -> None:
    write_files(
        repo_path,
        {
            "w.txt": "3",
            "fit.py": "open('model.txt', 'w').write(open('w.txt').read())\n",
            "score.py": "open('score.txt', 'w').write(str(int(open('model.txt').read()) * 2))\n",
        },
    )
    record(repo_path, "python fit.py", deps=["fit.py", "w.txt"], outs=["model.txt"], name="fit")
    record(repo_path, "python score.py", deps=["score.py", "model.txt"], outs=["score.txt"])
    commit(repo_path)
    # fit runs again on new weights; score is not run again, and both are committed.
    (repo_path / "w.txt").write_text("8")
    record(repo_path, "python fit.py", deps=["fit.py", "w.txt"], outs=["model.txt"], name="fit")
    commit(repo_path)
    report = reproduce(repo_path, run_mlv)
    assert results(report) == {"model.txt": "identical", "score.txt": "identical"}
    assert any("older model.txt" in note for note in report["notes"])
