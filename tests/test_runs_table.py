"""`mlv runs` and `Repo.runs_table`: the experiments table, its filters, order and pages."""

from __future__ import annotations

import csv
import io
import json
import math
import os
import subprocess
import sys
import time
from datetime import datetime
from pathlib import Path

import pytest

from conftest import mlv_env, mlv_executable
from helpers import one_error_line, write_files
from mlv import Repo
from mlv.errors import InvalidArgumentError
from mlv.lineage.runs_table import META_COLUMNS, Filter, RunQuery, parse_filter

BIN = str(Path(sys.executable).parent)
# `python` on the command's PATH is the interpreter running these tests.
PY_ENV = {"PATH": BIN + os.pathsep + os.environ.get("PATH", "")}

TRAIN = """\
import json
from pathlib import Path

import yaml

train = yaml.safe_load(Path("params.yaml").read_text())["train"]
Path("model.txt").write_text(f"model lr={train['lr']} epochs={train['epochs']}\\n")
metrics = {"acc": round(1 - train["lr"] * 2, 4), "loss": round(train["lr"] * 2, 4)}
Path("metrics.json").write_text(json.dumps(metrics))
"""

EVALUATE = """\
import json
from pathlib import Path

size = len(Path("model.txt").read_text())
Path("eval.json").write_text(json.dumps({"auc": round(0.5 + size / 100, 4)}))
"""

# Rebuilt, its number moves by far less than the default tolerance: "close".
JITTER = """\
import json
import random
from pathlib import Path

Path("jitter.json").write_text(json.dumps({"score": 0.5 + random.random() * 1e-12}))
"""

# Rebuilt, one output's bytes are new every time ("different"), the other's the same.
NOISE = """\
import os
from pathlib import Path

Path("noise.txt").write_text(os.urandom(8).hex())
Path("stable.txt").write_text("the same every time")
"""


class Lab:
    """A repository with runs on two branches and two reproductions, and the real `mlv`."""

    def __init__(self, root: Path, home: Path) -> None:
        self.root = root
        self.home = home
        self.ids: dict[str, str] = {}  # run and commit ids by the names the fixture gives

    def mlv(
        self, *args: str, expect: int | None = 0, env: dict[str, str] | None = None
    ) -> subprocess.CompletedProcess:
        proc = subprocess.run(
            [mlv_executable(), *args],
            cwd=self.root,
            env=mlv_env({**PY_ENV, **(env or {})}, self.home),
            capture_output=True,
            text=True,
            timeout=120,
        )
        if expect is not None and proc.returncode != expect:
            raise AssertionError(
                f"mlv {' '.join(args)} exited {proc.returncode}, expected {expect}\n"
                f"stdout:\n{proc.stdout}\nstderr:\n{proc.stderr}"
            )
        return proc

    def json(self, *args: str) -> dict:
        return json.loads(self.mlv("runs", "--json", *args).stdout)

    def run_id(self, args: list[str], env: dict[str, str] | None = None) -> str:
        return json.loads(self.mlv("run", "--json", *args, env=env).stdout)["id"]

    def commit(self, message: str) -> str:
        self.mlv("add", ".")
        self.mlv("commit", "-m", message)
        with Repo(self.root) as repo:
            return repo.resolve("HEAD")


TRAIN_RUN = [
    "-n", "train", "-d", "train.py", "-p", "train.lr,train.epochs",
    "-o", "model.txt", "-M", "metrics.json", "--", "python train.py",
]  # fmt: skip
EVALUATE_RUN = [
    "-n", "evaluate", "-d", "evaluate.py", "-d", "model.txt", "-M", "eval.json", "--",
    "python evaluate.py",
]  # fmt: skip


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory, fake_home: Path) -> Lab:
    """main: c1 train (lr 0.1), c2 train (lr 0.01), c3 evaluate, reproduced (identical);
    exp (from c3): c4 jitter and noise by Bob, reproduced (close, different); tag v1 at c1.

    The tests only read it; the ids are on ``lab.ids``.
    """
    root = tmp_path_factory.mktemp("lab") / "work"
    Repo.init(root).close()
    lab = Lab(root, fake_home)
    write_files(
        root,
        {
            "train.py": TRAIN,
            "evaluate.py": EVALUATE,
            "jitter.py": JITTER,
            "noise.py": NOISE,
            "params.yaml": "train:\n  lr: 0.1\n  epochs: 3\n",
        },
    )
    ids = lab.ids
    ids["train1"] = lab.run_id(TRAIN_RUN)
    ids["c1"] = lab.commit("one")
    lab.mlv("tag", "v1")
    time.sleep(1.1)  # the later runs start in a later second than the first
    write_files(root, {"params.yaml": "train:\n  lr: 0.01\n  epochs: 3\n"})
    ids["train2"] = lab.run_id(TRAIN_RUN)
    ids["c2"] = lab.commit("two")
    ids["evaluate"] = lab.run_id(EVALUATE_RUN)
    ids["c3"] = lab.commit("three")
    lab.mlv("reproduce", "HEAD")
    lab.mlv("branch", "exp")
    lab.mlv("switch", "exp")
    bob = {"MLV_AUTHOR_NAME": "Bob Builder", "MLV_AUTHOR_EMAIL": "bob@example.com"}
    ids["jitter"] = lab.run_id(
        ["-n", "jitter", "-d", "jitter.py", "-M", "jitter.json", "--", "python jitter.py"], bob
    )
    ids["noise"] = lab.run_id(
        [
            "-n",
            "noise",
            "-d",
            "noise.py",
            "-o",
            "noise.txt",
            "-o",
            "stable.txt",
            "--",
            "python noise.py",
        ],
        bob,
    )
    ids["c4"] = lab.commit("four")
    lab.mlv("reproduce", "HEAD", expect=1)
    lab.mlv("switch", "main")
    return lab


def _by_run(doc: dict) -> dict[str, dict]:
    return {row["run"]: row for row in doc["rows"]}


# -- what a row holds -----------------------------------------------------------------


def test_lists_the_runs_of_the_branch_newest_first_with_params_and_metrics(lab: Lab) -> None:
    ids = lab.ids
    doc = lab.json()
    assert [r["run"] for r in doc["rows"]] == [ids["evaluate"], ids["train2"], ids["train1"]]
    assert doc["total"] == 3
    rows = _by_run(doc)
    with Repo(lab.root) as repo:
        for name, commit in (("train1", "c1"), ("train2", "c2"), ("evaluate", "c3")):
            run = repo.read_run(ids[name])
            row = rows[ids[name]]
            assert row["commit"] == ids[commit]
            assert row["refs"] == ["main"]
            values = row["values"]
            assert values["stage"] == run.name
            assert values["when"] == run.started
            assert values["who"] == run.user
            assert values["duration"] == run.duration_ms / 1000
            assert values["commit"] == ids[commit]
            assert values["branch"] == "main"
            for path, use in run.params.items():
                assert path == "params.yaml"
                for key, value in use.values.items():
                    assert values[f"params.{key}"] == value
            for recorded in run.metrics.values():
                for key, value in recorded.items():
                    assert values[f"metrics.{key}"] == value
    assert rows[ids["train1"]]["values"]["params.train.lr"] == 0.1
    assert rows[ids["train2"]]["values"]["metrics.acc"] == 0.98
    assert "metrics.acc" not in rows[ids["evaluate"]]["values"]
    names = [c["name"] for c in doc["columns"]]
    assert names[: len(META_COLUMNS)] == list(META_COLUMNS)
    assert {"params.train.lr", "params.train.epochs", "metrics.acc", "metrics.auc"} <= set(names)
    assert "metrics.score" not in names  # only a run on another branch has it
    # Columns that no matching run has a value in are offered, not shown.
    trained = lab.json("--stage", "train")
    available = {c["name"]: c["kind"] for c in trained["available"]}
    assert available["metrics.auc"] == "metric"
    assert available["params.train.lr"] == "param"
    assert available["status"] == "meta"
    assert "metrics.auc" not in {c["name"] for c in trained["columns"]}


def test_status_is_the_latest_reproduction_of_each_run(lab: Lab) -> None:
    ids = lab.ids
    rows = _by_run(lab.json("--all"))
    status = {name: rows[ids[name]]["values"]["status"] for name in ids if ids[name] in rows}
    assert status == {
        "train1": "not yet",  # its model was replaced before anything reproduced it
        "train2": "identical",
        "evaluate": "identical",
        "jitter": "close",
        "noise": "different",
    }
    with Repo(lab.root) as repo:
        (_, reproduction), *_ = repo.reproductions(ids["c4"])
        # A run is as reproduced as its least reproduced output.
        assert reproduction.results["noise.txt"]["result"] == "different"
        assert reproduction.results["stable.txt"]["result"] == "identical"


def test_all_takes_every_branch_and_tag(lab: Lab) -> None:
    ids = lab.ids
    doc = lab.json("--all")
    rows = _by_run(doc)
    assert set(rows) == {ids[n] for n in ("train1", "train2", "evaluate", "jitter", "noise")}
    assert rows[ids["jitter"]]["refs"] == ["exp"]
    assert rows[ids["jitter"]]["values"]["branch"] == "exp"
    # The current branch comes first, then the other branches, then tags.
    assert rows[ids["train1"]]["refs"] == ["main", "exp", "v1"]
    assert rows[ids["evaluate"]]["refs"] == ["main", "exp"]
    assert rows[ids["jitter"]]["values"]["who"].startswith("Bob Builder")
    # Without --all: only the current branch's history; a REV names another.
    assert ids["jitter"] not in _by_run(lab.json())
    exp = _by_run(lab.json("exp"))
    assert ids["jitter"] in exp and exp[ids["train1"]]["refs"] == ["exp"]
    assert set(_by_run(lab.json("HEAD~1"))) == {ids["train2"], ids["train1"]}


# -- options --------------------------------------------------------------------------


def test_stage_since_and_until(lab: Lab) -> None:
    ids = lab.ids
    assert [r["run"] for r in lab.json("--all", "--stage", "train")["rows"]] == [
        ids["train2"],
        ids["train1"],
    ]
    with Repo(lab.root) as repo:
        first = repo.read_run(ids["train1"]).started
        second = repo.read_run(ids["train2"]).started
    assert second > first
    between = datetime.fromtimestamp(second).astimezone().isoformat()
    later = set(_by_run(lab.json("--all", "--since", between)))
    assert later == {ids[n] for n in ("train2", "evaluate", "jitter", "noise")}
    until = datetime.fromtimestamp(first).astimezone().isoformat()
    assert set(_by_run(lab.json("--all", "--until", until))) == {ids["train1"]}
    assert set(_by_run(lab.json("--all", "--where", f"when >= {between}"))) == later
    assert set(_by_run(lab.json("--all", "--where", f"when < {between}"))) == {ids["train1"]}
    assert lab.json("--all", "--where", "when <= 2000-01-01")["total"] == 0
    assert lab.json("--since", "now")["rows"] == []
    assert lab.json("--all", "--until", "yesterday")["total"] == 0
    assert lab.json("--all", "--since", "1 hour ago")["total"] == 5


def test_where_compares_numbers_as_numbers_and_the_rest_as_text(lab: Lab) -> None:
    ids = lab.ids

    def where(*filters: str) -> set[str]:
        args = [a for f in filters for a in ("--where", f)]
        return set(_by_run(lab.json("--all", *args)))

    assert where("metrics.acc > 0.9") == {ids["train2"]}  # 0.98, not 0.8
    assert where("metrics.acc >= 0.8") == {ids["train1"], ids["train2"]}
    assert where("params.train.lr < 0.05") == {ids["train2"]}
    assert where("params.train.lr = 0.1") == {ids["train1"]}  # 0.1 as a number
    assert where("params.train.lr != 0.1") == {ids["train2"]}  # runs without it never match
    assert where("params.train.epochs==3") == {ids["train1"], ids["train2"]}
    assert where("stage = jitter") == {ids["jitter"]}
    assert where("stage ~ TRA") == {ids["train1"], ids["train2"]}
    assert where("who ~ bob") == {ids["jitter"], ids["noise"]}
    assert where("status = 'not yet'") == {ids["train1"]}
    assert where("status != identical", "stage != noise") == {ids["train1"], ids["jitter"]}
    assert where(f"commit = {ids['c3'][:8]}") == {ids["evaluate"]}
    assert where(f"run = {ids['noise'][:10]}") == {ids["noise"]}
    assert where("branch = exp") == {ids["jitter"], ids["noise"]}
    assert where("metrics.acc > 0.9", "stage = evaluate") == set()


def test_sort_puts_missing_values_last_either_way(lab: Lab) -> None:
    ids = lab.ids

    def order(*keys: str) -> list[str]:
        args = [a for k in keys for a in ("--sort", k)]
        return [r["run"] for r in lab.json("--all", *args)["rows"]]

    newest_first = order()
    with Repo(lab.root) as repo:
        started = [repo.read_run(r).started for r in newest_first]
    assert started == sorted(started, reverse=True)
    assert order("metrics.acc")[:2] == [ids["train1"], ids["train2"]]
    assert order("-metrics.acc")[:2] == [ids["train2"], ids["train1"]]
    # Without an acc the other runs follow, newest first among themselves.
    rest = [r for r in newest_first if r not in (ids["train1"], ids["train2"])]
    assert order("-metrics.acc")[2:] == rest
    assert order("metrics.acc")[2:] == rest
    oldest_first = order("when")
    with Repo(lab.root) as repo:
        assert [repo.read_run(r).started for r in oldest_first] == sorted(started)
    # Several keys: the first decides, the next breaks ties (comma-separated or repeated).
    by_stage = order("stage,-when")
    assert by_stage == order("stage", "-when")
    stages = ["evaluate", "jitter", "noise", "train", "train"]
    assert [lab_stage(lab, r) for r in by_stage] == stages
    assert by_stage[3:] == [ids["train2"], ids["train1"]]


def lab_stage(lab: Lab, run_id: str) -> str:
    with Repo(lab.root) as repo:
        return repo.read_run(run_id).name


def test_columns_only_changed_and_paging(lab: Lab) -> None:
    doc = lab.json("--columns", "stage,params.", "--sort", "when")
    assert [c["name"] for c in doc["columns"]] == [
        "stage",
        "params.train.epochs",
        "params.train.lr",
    ]
    assert doc["rows"][0]["values"] == {
        "stage": "train",
        "params.train.epochs": 3,
        "params.train.lr": 0.1,
    }
    assert [c["name"] for c in lab.json("-c", "metrics")["columns"]] == [
        "metrics.acc",
        "metrics.auc",
        "metrics.loss",
    ]
    # train1 and train2 share epochs and who; lr and the metrics changed.
    changed = lab.json("--stage", "train", "--only-changed")
    names = {c["name"] for c in changed["columns"]}
    assert {"params.train.lr", "metrics.acc", "metrics.loss", "run", "when", "status"} <= names
    assert not names & {"params.train.epochs", "who", "stage", "branch"}
    # A page: the total counts every matching run.
    page = lab.json("--all", "-n", "2", "--offset", "1")
    assert page["total"] == 5 and page["offset"] == 1 and page["limit"] == 2
    everything = [r["run"] for r in lab.json("--all")["rows"]]
    assert [r["run"] for r in page["rows"]] == everything[1:3]
    with Repo(lab.root) as repo:
        table = repo.runs_table(all_refs=True, limit=2, offset=4)
    assert [r.run_id for r in table.rows] == everything[4:]
    assert table.total == 5


def test_table_and_csv_output(lab: Lab) -> None:
    ids = lab.ids
    text = lab.mlv("runs", "--all", "-n", "2").stdout
    lines = text.splitlines()
    assert lines[0].split()[:8] == list(META_COLUMNS)
    assert lines[1].startswith(ids["noise"][:12])
    assert "different" in lines[1] and "Bob Builder" in lines[1]
    assert lines[-1] == "runs 1-2 of 5; --offset 2 for the next page"
    out = lab.mlv("runs", "--all", "--csv", "--sort", "when").stdout
    rows = list(csv.DictReader(io.StringIO(out)))
    assert len(rows) == 5  # every row, not a page
    assert rows[0]["run"] == ids["train1"]
    assert rows[0]["params.train.lr"] == "0.1"
    assert rows[0]["metrics.auc"] == ""
    assert rows[0]["status"] == "not yet"
    assert rows[0]["when"].endswith("Z")
    with Repo(lab.root) as repo:
        started = repo.read_run(ids["train1"]).started
    assert datetime.fromisoformat(rows[0]["when"]).timestamp() == started
    assert lab.mlv("runs", "--all", "--csv", "-n", "1").stdout.count("\n") == 2
    assert "no runs match" in lab.mlv("runs", "--stage", "nothing").stdout


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["--where", "metrics.acc >"], "has no value"),
        (["--where", "metrics.acc"], "cannot read the filter"),
        (["--where", "metrics.acx > 1"], "'metrics.acc'"),
        (["--sort", "-nothing"], "no column 'nothing' to sort by"),
        (["--columns", "params.nope"], "no column 'params.nope' to show"),
        (["--since", "last blursday"], "cannot read 'last blursday' as a time"),
        (["--json", "--csv"], "pick one"),
        (["--offset", "-1"], "offset -1 is negative"),
        (["nosuchbranch"], "nosuchbranch"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(lab: Lab, args: list[str], says: str) -> None:
    line = one_error_line(lab.mlv("runs", *args, expect=None))
    assert says in line


# -- the library -----------------------------------------------------------------------


def test_parse_filter() -> None:
    assert parse_filter("metrics.acc > 0.9") == Filter("metrics.acc", ">", "0.9")
    assert parse_filter("  params.train.lr<=1e-3 ") == Filter("params.train.lr", "<=", "1e-3")
    assert parse_filter("status == 'not yet'") == Filter("status", "=", "not yet")
    assert parse_filter('who ~ "Ada T"') == Filter("who", "~", "Ada T")
    assert parse_filter("stage!=train") == Filter("stage", "!=", "train")
    for bad in ("", "metrics.acc", "> 3", "metrics.acc >", "a b = c"):
        with pytest.raises(InvalidArgumentError):
            parse_filter(bad)
    assert Filter("x", ">", "10").matches(9.5) is False
    assert Filter("x", ">", "10").matches(11) is True
    # Text is neither above nor below a number: NaN written as "nan" matches no bound.
    assert Filter("x", ">", "10").matches("9") is False
    assert Filter("x", ">", "0").matches("nan") is False
    assert Filter("x", "<", "0").matches("nan") is False
    assert Filter("x", "=", "nan").matches("nan") is True
    assert Filter("x", "!=", "0").matches("nan") is True
    assert Filter("x", ">", "b").matches("c") is True  # text against text
    assert Filter("x", ">", "0").matches(math.nan) is False
    assert Filter("x", "=", "1").matches(1.0) is True
    assert Filter("x", "=", "true").matches(True) is True
    assert Filter("x", "!=", "1").matches(None) is False


def test_library_query_matches_the_command(lab: Lab) -> None:
    ids = lab.ids
    query = RunQuery(all_refs=True, where=("metrics.acc > 0.5",), sort=("-metrics.acc",))
    with Repo(lab.root) as repo:
        table = repo.runs_table(query)
        where = [parse_filter("metrics.acc > 0.5")]
        same = repo.runs_table(all_refs=True, where=where, sort=["-metrics.acc"])
        with pytest.raises(InvalidArgumentError, match=r"no column 'metrics\.nope'"):
            repo.runs_table(where=["metrics.nope = 1"])
        with pytest.raises(InvalidArgumentError, match="limit -2"):
            repo.runs_table(limit=-2)
    assert [r.run_id for r in table.rows] == [ids["train2"], ids["train1"]]
    assert [r.run_id for r in same.rows] == [r.run_id for r in table.rows]
    cli = lab.json("--all", "--where", "metrics.acc > 0.5", "--sort", "-metrics.acc")
    assert cli == json.loads(json.dumps(table.to_json()))


def test_empty_repository(repo_path: Path, run_mlv) -> None:
    assert "no recorded runs" in run_mlv(repo_path, "runs").stdout
    doc = json.loads(run_mlv(repo_path, "runs", "--json", "--all").stdout)
    assert doc["rows"] == [] and doc["total"] == 0
    with Repo(repo_path) as repo:
        assert repo.runs_table().total == 0


def test_values_a_run_did_not_record_are_read_from_its_metrics_file(repo_path: Path) -> None:
    """A run whose metrics the recorder could not read, and two files sharing a key."""
    from mlv.core.hashing import hash_bytes
    from mlv.model.objects import Person
    from mlv.model.runs import ARTIFACT_FILE, Artifact, Env, ParamsUse, Run
    from mlv.store.pack import KIND_META

    files = {
        "metrics.json": b'{"acc": 0.7, "nested": {"f1": 0.6}}',
        "eval.json": b'{"acc": 0.9}',
        "params.yaml": b"model:\n  depth: 4\n  width: 8\n",
    }
    write_files(repo_path, files)
    art = {p: Artifact(hash_bytes(b), ARTIFACT_FILE, len(b)) for p, b in files.items()}
    with Repo(repo_path) as repo:
        env_id = repo.store.put_meta(Env("3.11", "CPython", "x", "y", {}, {}).to_bytes(), KIND_META)
        run = Run(
            name="fit",
            cmd="true",
            wdir="",
            deps={},
            outs={"metrics.json": art["metrics.json"], "eval.json": art["eval.json"]},
            params={"params.yaml": ParamsUse(art["params.yaml"], {"model": {"depth": 4}})},
            metrics={"metrics.json": {}, "eval.json": {"acc": 0.9}},
            env=env_id,
            started=1_700_000_000,
            duration_ms=61_000,
            exit_code=0,
            user="Ada <ada@example.com>",
            host="h",
        )
        run_id = repo.store.put_meta(run.to_bytes(), KIND_META)
        repo.records.add_pending(run_id, {p: a.id for p, a in run.outs.items()})
        repo.add(list(files))
        repo.commit("fit", author=Person("Ada", "ada@example.com"))
        table = repo.runs_table()
    (row,) = table.rows
    assert row.run_id == run_id
    assert row.values["params.model.depth"] == 4  # a key naming a section: its leaves
    # Files in path order: eval.json's acc is metrics.acc, and the second file's acc keeps
    # its value under its file's name. metrics.json's values are read from the stored file.
    assert row.values["metrics.acc"] == 0.9
    assert row.values["metrics.metrics.json:acc"] == 0.7
    assert row.values["metrics.nested.f1"] == 0.6
    assert row.values["duration"] == 61.0
    assert row.values["status"] == "not yet"


def test_csv_cells_a_spreadsheet_would_run_are_quoted() -> None:
    import io

    from mlv.lineage.runs_table import Column, RunRow, RunTable

    columns = [Column("who", "meta"), Column("params.x", "param"), Column("metrics.m", "metric")]
    rows = [
        RunRow("r1", "c1", [], {"who": "=2+5", "params.x": "@SUM(1)", "metrics.m": -1.5}),
        RunRow("r2", "c1", [], {"who": "+cmd", "params.x": "-x", "metrics.m": 2}),
        RunRow("r3", "c1", [], {"who": "Ada", "params.x": "a=b", "metrics.m": None}),
    ]
    out = io.StringIO()
    RunTable(columns, rows, 3, columns).write_csv(out)
    assert out.getvalue().splitlines() == [
        "who,params.x,metrics.m",
        "'=2+5,'@SUM(1),-1.5",
        "'+cmd,'-x,2",
        "Ada,a=b,",
    ]


def _private_copy(lab: Lab, tmp_path: Path) -> Path:
    """The lab copied, its kept rows dropped: a repository whose index holds none yet."""
    import shutil

    root = tmp_path / "copy"
    shutil.copytree(lab.root, root, symlinks=True)
    with Repo(root) as repo, repo.records.conn as conn:
        conn.execute("DELETE FROM run_rows")
    return root


def _fresh_rows(root: Path) -> dict[str, dict]:
    from mlv.lineage.runs_table import clear_cache

    clear_cache()  # what another process would see: nothing read yet
    with Repo(root) as repo:
        return {row.run_id: row.values for row in repo.runs_table(all_refs=True).rows}


def _kept(root: Path) -> dict[str, int]:
    with Repo(root) as repo:
        return dict(repo.records.conn.execute("SELECT run_id, version FROM run_rows"))


def test_rows_are_kept_in_the_index_and_read_back_the_same(lab: Lab, tmp_path: Path) -> None:
    from mlv.lineage.runs_table import ROW_VERSION

    root = _private_copy(lab, tmp_path)
    made = _fresh_rows(root)
    kept = _kept(root)
    assert set(kept) == set(made) and set(kept.values()) == {ROW_VERSION}
    assert _fresh_rows(root) == made  # read from the kept rows this time
    # A damaged row, and a row made another way, are not used: the run is read instead.
    damaged, other = sorted(kept)[:2]
    with Repo(root) as repo, repo.records.conn as conn:
        conn.execute("UPDATE run_rows SET row = 'not json' WHERE run_id = ?", (damaged,))
        conn.execute(
            "UPDATE run_rows SET version = ?, row = ? WHERE run_id = ?",
            (ROW_VERSION + 1, '[{"stage": "forged"}, []]', other),
        )
    assert _fresh_rows(root) == made
    assert _kept(root)[other] == ROW_VERSION  # made again, the current way
    # `mlv index rebuild` starts the cache empty; the next query fills it again.
    lab_mlv = Lab(root, lab.home)
    lab_mlv.mlv("index", "rebuild")
    assert _kept(root) == {}
    assert _fresh_rows(root) == made and set(_kept(root)) == set(made)


def test_a_busy_index_is_not_waited_for(lab: Lab, tmp_path: Path) -> None:
    import sqlite3

    root = _private_copy(lab, tmp_path)
    other = sqlite3.connect(root / ".mlv" / "index.db")
    other.execute("BEGIN IMMEDIATE")  # another process in the middle of a write
    try:
        began = time.monotonic()
        made = _fresh_rows(root)
        assert time.monotonic() - began < 10  # not the index's 60 s busy timeout
        assert len(made) == 5
    finally:
        other.rollback()
        other.close()
    assert _kept(root) == {}  # the rows were dropped, not written late
    assert _fresh_rows(root) == made
