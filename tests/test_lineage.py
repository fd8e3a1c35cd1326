"""Lineage, history, metrics and params: real runs in real repositories, API and CLI."""

from __future__ import annotations

import json
import shlex
import shutil
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pytest

from conftest import AUTHOR_EMAIL, AUTHOR_NAME, RunMlv
from helpers import one_error_line, write_files
from mlv import Repo
from mlv.errors import InvalidArgumentError, NotFoundError
from mlv.lineage.graph import ArtifactNode, Lineage, RunNode
from mlv.lineage.render import render, to_dot, to_mermaid, to_text
from mlv.model.objects import Person

ADA = Person(AUTHOR_NAME, AUTHOR_EMAIL)
BOB = Person("Bob", "bob@example.com")
PY = shlex.quote(sys.executable)

# raw.csv -> prepare -> clean.csv -> featurize -> features.csv -> train -> model.bin + metrics.json
SCRIPTS = {
    "prepare.py": (
        "from pathlib import Path\n"
        "rows = Path('raw.csv').read_text().split()\n"
        "Path('clean.csv').write_text('\\n'.join(r.upper() for r in rows) + '\\n')\n"
    ),
    "featurize.py": (
        "import yaml\n"
        "from pathlib import Path\n"
        "scale = yaml.safe_load(open('params.yaml'))['featurize']['scale']\n"
        "rows = Path('clean.csv').read_text().split()\n"
        "Path('features.csv').write_text(''.join(f'{len(r) * scale}\\n' for r in rows))\n"
    ),
    "train.py": (
        "import json, yaml\n"
        "from pathlib import Path\n"
        "p = yaml.safe_load(open('params.yaml'))['train']\n"
        "xs = [float(x) for x in Path('features.csv').read_text().split()]\n"
        "Path('model.bin').write_text(f'w={sum(xs) * p[\"lr\"]}\\n')\n"
        "Path('metrics.json').write_text(json.dumps(\n"
        "    {'acc': round(len(xs) / (len(xs) + p['epochs']), 4), 'loss': {'train': sum(xs)}}))\n"
    ),
}
PARAMS_V1 = "featurize:\n  scale: 2\ntrain:\n  lr: 0.5\n  epochs: 3\n"
PARAMS_V2 = "featurize:\n  scale: 2\ntrain:\n  lr: 0.25\n  epochs: 3\n"


@dataclass(frozen=True)
class Chain:
    root: Path
    v1: str  # first commit
    v2: str  # raw.csv and train.lr changed, everything rerun


def _pipeline(repo: Repo, who: Person) -> None:
    repo.run(
        f"{PY} prepare.py",
        name="prepare",
        deps=["raw.csv", "prepare.py"],
        outs=["clean.csv"],
        author=who,
    )
    repo.run(
        f"{PY} featurize.py",
        name="featurize",
        deps=["clean.csv", "featurize.py"],
        params={"params.yaml": ["featurize.scale"]},
        outs=["features.csv"],
        author=who,
    )
    repo.run(
        f"{PY} train.py",
        name="train",
        deps=["features.csv", "train.py"],
        params={"params.yaml": ["train.lr", "train.epochs"]},
        outs=["model.bin"],
        metrics=["metrics.json"],
        author=who,
    )


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Chain:
    root = tmp_path_factory.mktemp("chain") / "repo"
    with Repo.init(root) as repo:
        write_files(root, {**SCRIPTS, "raw.csv": "a\nbb\nccc\n", "params.yaml": PARAMS_V1})
        repo.add(["raw.csv", "params.yaml", *SCRIPTS])
        _pipeline(repo, ADA)
        v1 = repo.commit("first model", author=ADA, when=datetime(2025, 3, 1, 9, tzinfo=UTC))
        write_files(root, {"raw.csv": "a\nbb\nccc\ndddd\n", "params.yaml": PARAMS_V2})
        repo.add(["raw.csv", "params.yaml"])
        _pipeline(repo, BOB)
        v2 = repo.commit("more data", author=BOB, when=datetime(2025, 3, 2, 9, tzinfo=UTC))
    return Chain(root, v1, v2)


@pytest.fixture
def chain(built: Chain, tmp_path: Path) -> Chain:
    """A private copy of the built chain: tests may change it."""
    root = tmp_path / "repo"
    shutil.copytree(built.root, root, symlinks=True)
    return Chain(root, built.v1, built.v2)


@pytest.fixture
def repo(chain: Chain) -> Iterator[Repo]:
    with Repo(chain.root) as r:
        yield r


def _artifacts(lineage: Lineage) -> dict[str, ArtifactNode]:
    return {n.path: n for n in lineage.artifacts()}


def _runs(lineage: Lineage) -> dict[str, RunNode]:
    return {n.run.name: n for n in lineage.runs()}


def _file_id(repo: Repo, rev: str, path: str) -> str:
    entry = repo.trees.entry_at(repo.read_commit(repo.resolve(rev)).tree, path)
    assert entry is not None
    return entry.id


# -- upstream ------------------------------------------------------------------------


def test_upstream_of_the_model_reaches_the_raw_data_code_and_params(
    repo: Repo, chain: Chain
) -> None:
    found = repo.lineage("model.bin")
    assert found.direction == "upstream" and found.rev == chain.v2
    runs = _runs(found)
    assert set(runs) == {"prepare", "featurize", "train"}
    for node in runs.values():
        assert node.commit is not None and node.commit.id == chain.v2
        assert node.commit.author == "Bob <bob@example.com>"
        assert node.run.user == "Bob <bob@example.com>"
    assert runs["train"].run.params["params.yaml"].values == {"train.lr": 0.25, "train.epochs": 3}

    arts = _artifacts(found)
    sources = {n.path for n in found.sources()}
    assert sources == {"raw.csv", "params.yaml", "prepare.py", "featurize.py", "train.py"}
    assert arts["raw.csv"].id == _file_id(repo, "HEAD", "raw.csv")
    # The scripts never changed: the commit that first carried them is the first one.
    assert arts["train.py"].commit is not None and arts["train.py"].commit.id == chain.v1
    assert arts["train.py"].commit.author == f"{AUTHOR_NAME} <{AUTHOR_EMAIL}>"
    assert arts["raw.csv"].commit is not None and arts["raw.csv"].commit.id == chain.v2
    assert not arts["clean.csv"].source and not arts["model.bin"].source

    # Edges follow the data: raw.csv -> prepare -> clean.csv -> featurize -> ... -> model.
    edges = set(found.edges)
    assert (arts["raw.csv"].key, runs["prepare"].key) in edges
    assert (runs["prepare"].key, arts["clean.csv"].key) in edges
    assert (arts["clean.csv"].key, runs["featurize"].key) in edges
    assert (runs["train"].key, found.root) in edges
    assert found.graph.number_of_nodes() == len(found.nodes)


def test_upstream_of_an_old_version_uses_the_runs_of_its_time(repo: Repo, chain: Chain) -> None:
    found = repo.lineage("model.bin", chain.v1)
    runs = _runs(found)
    assert {n.commit.id for n in runs.values() if n.commit} == {chain.v1}
    assert runs["train"].run.user == f"{AUTHOR_NAME} <{AUTHOR_EMAIL}>"
    assert _artifacts(found)["raw.csv"].id == _file_id(repo, chain.v1, "raw.csv")


def test_depth_limits_the_levels(repo: Repo) -> None:
    one = repo.lineage("model.bin", depth=1)
    assert set(_runs(one)) == {"train"}
    arts = _artifacts(one)
    assert arts["features.csv"].more and not arts["features.csv"].source
    assert arts["train.py"].source and not arts["train.py"].more
    zero = repo.lineage("model.bin", depth=0)
    assert list(zero.nodes) == [zero.root] and _artifacts(zero)["model.bin"].more
    with pytest.raises(InvalidArgumentError):
        repo.lineage("model.bin", depth=-1)


def test_a_source_is_its_own_lineage(repo: Repo) -> None:
    found = repo.lineage("raw.csv")
    assert list(found.nodes) == [found.root]
    assert _artifacts(found)["raw.csv"].source
    assert "not produced by a recorded run" in to_text(found)


def test_missing_path_or_revision_is_an_error(repo: Repo) -> None:
    with pytest.raises(NotFoundError, match=r"nope\.csv"):
        repo.lineage("nope.csv")
    with pytest.raises(NotFoundError):
        repo.lineage("model.bin", "no-such-branch")


# -- downstream ----------------------------------------------------------------------


def test_downstream_all_finds_the_models_trained_on_an_old_data_set(
    repo: Repo, chain: Chain
) -> None:
    old_model = _file_id(repo, chain.v1, "model.bin")
    new_model = _file_id(repo, chain.v2, "model.bin")

    old = repo.lineage("raw.csv", chain.v1, downstream=True, all_history=True)
    assert old.direction == "downstream"
    models = {n.id for n in old.artifacts() if n.path == "model.bin"}
    assert models == {old_model}
    assert {n.run.name for n in old.runs()} == {"prepare", "featurize", "train"}
    assert all(n.commit and n.commit.id == chain.v1 for n in old.runs())

    new = repo.lineage("raw.csv", downstream=True, all_history=True)
    assert {n.id for n in new.artifacts() if n.path == "model.bin"} == {new_model}

    # params.yaml v1 fed featurize (and train) in the first commit only.
    params = repo.lineage("params.yaml", chain.v1, downstream=True)
    assert {n.run.name for n in params.runs()} == {"featurize", "train"}


def test_downstream_without_all_stays_in_the_history_of_rev(repo: Repo, chain: Chain) -> None:
    with repo.write_lock:
        repo.refs.update_head(chain.v1, str(ADA), "test: back to v1")
    # HEAD is now v1; v2 is reachable from no branch but the tag below.
    repo.create_tag("later", chain.v2)
    here = repo.lineage("raw.csv", downstream=True)
    assert {n.commit.id for n in here.runs() if n.commit} == {chain.v1}
    v2_raw = _file_id(repo, chain.v2, "raw.csv")
    assert repo.lineage("raw.csv", "later", downstream=True).nodes[f"raw.csv@{v2_raw}"]


def test_downstream_depth_and_no_readers(repo: Repo) -> None:
    one = repo.lineage("raw.csv", downstream=True, depth=1)
    assert set(_runs(one)) == {"prepare"}
    assert _artifacts(one)["clean.csv"].more
    leaf = repo.lineage("model.bin", downstream=True)
    assert list(leaf.nodes) == [leaf.root]
    assert "not read by any recorded run" in to_text(leaf)


def test_folders_inputs_and_outputs(tmp_path: Path) -> None:
    root = tmp_path / "r"
    with Repo.init(root) as repo:
        write_files(root, {"data/a.txt": "a\n", "data/b.txt": "b\n"})
        repo.add(["data"])
        split = (
            f"{PY} -c \"import pathlib; p = pathlib.Path('parts'); p.mkdir(exist_ok=True); "
            "[(p / n).write_text(pathlib.Path('data', n).read_text() * 2) "
            "for n in ('a.txt', 'b.txt')]\""
        )
        repo.run(split, name="split", deps=["data"], outs=["parts"], author=ADA)
        count = f"{PY} -c \"import pathlib; pathlib.Path('n.txt').write_text('2')\""
        repo.run(count, name="count", deps=["parts/a.txt"], outs=["n.txt"], author=ADA)
        repo.commit("folders", author=ADA)

        # A file inside a folder output: the run that wrote the folder made it.
        up = repo.lineage("parts/b.txt")
        assert set(_runs(up)) == {"split"}
        assert {n.path for n in up.sources()} == {"data"}
        assert up.graph.edges[_runs(up)["split"].key, up.root]["path"] == "parts"

        # A file inside a folder input: the run that read the folder read it.
        down = repo.lineage("data/a.txt", downstream=True)
        assert set(_runs(down)) == {"split", "count"}
        # A folder: the runs that read a file inside it read (part of) it.
        assert set(_runs(repo.lineage("parts", downstream=True))) == {"count"}


# -- rendering -----------------------------------------------------------------------


def test_text_tree_shows_each_node_once(repo: Repo) -> None:
    text = to_text(repo.lineage("model.bin"))
    lines = text.splitlines()
    assert lines[0].startswith("model.bin  ")
    assert any(line.startswith("└─ run train  ") for line in lines)
    # params.yaml is read by train and featurize: listed in full once, then referred to.
    assert sum("params.yaml  " in line for line in lines) == 2
    assert sum("(shown above)" in line for line in lines) == 1
    assert "params params.yaml: train.epochs=3 train.lr=0.25" in text
    assert "source: not produced by a recorded run" in text
    assert "Bob <bob@example.com>" in text


def test_dot_mermaid_and_json_carry_every_edge(repo: Repo) -> None:
    found = repo.lineage("model.bin")
    n_edges = len(found.edges)

    dot = to_dot(found)
    assert dot.startswith("digraph lineage {") and dot.rstrip().endswith("}")
    assert dot.count(" -> ") == n_edges
    assert dot.count("[") == len(found.nodes) + 1  # one per node, one node default

    mermaid = to_mermaid(found)
    assert mermaid.splitlines()[0] == "flowchart LR"
    assert mermaid.count(" --> ") == n_edges

    doc = json.loads(render(found, "json"))
    assert doc["root"] == found.root
    assert {(e["from"], e["to"]) for e in doc["edges"]} == set(found.edges)
    kinds = {n["key"]: n["type"] for n in doc["nodes"]}
    assert sum(k == "run" for k in kinds.values()) == 3
    with pytest.raises(InvalidArgumentError):
        render(found, "svg")


def test_labels_are_escaped(tmp_path: Path) -> None:
    root = tmp_path / "r"
    with Repo.init(root) as repo:
        write_files(root, {'in "x".txt': "1"})
        repo.add(['in "x".txt'])
        cmd = f"{PY} -c \"open('out.txt', 'w').write('<b>')\""
        repo.run(cmd, name="quote", deps=['in "x".txt'], outs=["out.txt"], author=ADA)
        repo.commit("quotes", author=ADA)
        found = repo.lineage("out.txt")
    dot = to_dot(found)
    assert '\\"x\\"' in dot
    mermaid = to_mermaid(found)
    assert "#quot;x#quot;" in mermaid and '"x"' not in mermaid


# -- history -------------------------------------------------------------------------


def test_history_lists_each_version_with_its_run(repo: Repo, chain: Chain) -> None:
    versions = repo.history("model.bin")
    assert [v.commit.id for v in versions] == [chain.v2, chain.v1]
    assert [v.status for v in versions] == ["modified", "added"]
    assert all(v.run is not None and v.run.name == "train" for v in versions)
    assert versions[0].run_id != versions[1].run_id
    assert versions[0].id == _file_id(repo, chain.v2, "model.bin")
    raw = repo.history("raw.csv")
    assert [v.run for v in raw] == [None, None]
    # A path that never changed has one version.
    assert [v.commit.id for v in repo.history("train.py")] == [chain.v1]


def test_history_skips_unchanged_commits_and_shows_removal(repo: Repo, chain: Chain) -> None:
    write_files(repo.root, {"other.txt": "x"})
    repo.add(["other.txt"])
    repo.commit("unrelated", author=ADA)
    (repo.root / "model.bin").unlink()
    repo.add(["model.bin"])
    gone = repo.commit("drop the model", author=ADA)
    versions = repo.history("model.bin")
    assert [v.commit.id for v in versions] == [gone, chain.v2, chain.v1]
    assert versions[0].status == "removed" and versions[0].id is None
    assert len(repo.history("model.bin", chain.v1)) == 1
    with pytest.raises(NotFoundError):
        repo.history("never.txt")


# -- metrics and params --------------------------------------------------------------


def test_metrics_side_by_side(repo: Repo) -> None:
    table = repo.metrics(["HEAD~1", "HEAD"])
    assert table.revs == ["HEAD~1", "HEAD"]
    rows = {(f, k): v for f, k, v in table.rows}
    assert rows[("metrics.json", "acc")] == [0.5, 0.5714]
    assert rows[("metrics.json", "loss.train")] == [12.0, 20.0]
    assert table.warnings == []
    # The working tree, by default: as HEAD while nothing changed.
    here = repo.metrics([None])
    assert here.revs == ["workspace"]
    assert {(f, k): v for f, k, v in here.rows}[("metrics.json", "acc")] == [0.5714]


def test_metrics_diff_against_the_working_tree(repo: Repo) -> None:
    assert repo.metrics_diff().changes == []
    (repo.root / "metrics.json").write_text('{"acc": 0.6, "loss": {"train": 20.0}, "f1": "n/a"}')
    found = repo.metrics_diff()
    assert (found.a, found.b) == ("HEAD", "workspace")
    changes = {c.key: c for c in found.changes}
    assert set(changes) == {"acc", "f1"}
    assert changes["acc"].old == 0.5714 and changes["acc"].new == 0.6
    assert changes["acc"].change == pytest.approx(0.0286)
    assert changes["acc"].relative == pytest.approx(0.0286 / 0.5714)
    assert changes["f1"].old is None and changes["f1"].change is None


def test_a_malformed_metrics_file_is_a_warning(repo: Repo) -> None:
    (repo.root / "metrics.json").write_text("{not json")
    found = repo.metrics([None])
    assert found.rows == []
    assert len(found.warnings) == 1 and "metrics.json" in found.warnings[0]


def test_params_diff(repo: Repo) -> None:
    found = repo.params_diff("HEAD~1", "HEAD")
    assert [(c.file, c.key, c.old, c.new) for c in found.changes] == [
        ("params.yaml", "train.lr", 0.5, 0.25)
    ]
    assert found.changes[0].relative == pytest.approx(-0.5)
    every = repo.params_diff("HEAD~1", "HEAD", all_keys=True)
    assert {c.key for c in every.changes} == {"featurize.scale", "train.lr", "train.epochs"}
    (repo.root / "params.yaml").write_text(PARAMS_V2 + "seed: 7\n")
    assert [(c.key, c.old, c.new) for c in repo.params_diff().changes] == [("seed", None, 7)]


# -- the command line ----------------------------------------------------------------


def test_cli_lineage_text_and_formats(run_mlv: RunMlv, repo: Repo, chain: Chain) -> None:
    text = run_mlv(chain.root, "lineage", "model.bin").stdout
    assert "run train" in text and "raw.csv" in text and "\x1b[" not in text

    old = run_mlv(
        chain.root, "lineage", f"raw.csv@{chain.v1[:10]}", "--downstream", "--all", "-f", "json"
    ).stdout
    doc = json.loads(old)
    expected = repo.lineage("raw.csv", chain.v1, downstream=True, all_history=True)
    assert doc == expected.to_json()
    models = [n for n in doc["nodes"] if n["type"] == "artifact" and n["path"] == "model.bin"]
    assert [m["id"] for m in models] == [_file_id(repo, chain.v1, "model.bin")]

    dot = run_mlv(chain.root, "lineage", "model.bin", "--format", "dot", "--depth", "1").stdout
    assert dot.startswith("digraph") and dot.count(" -> ") == len(
        repo.lineage("model.bin", depth=1).edges
    )
    mermaid = run_mlv(chain.root, "lineage", "model.bin", "--format", "mermaid").stdout
    assert mermaid.startswith("flowchart LR")
    # --json, as every command that reports has it, is --format json.
    as_json = run_mlv(chain.root, "lineage", "model.bin", "--json").stdout
    assert as_json == run_mlv(chain.root, "lineage", "model.bin", "-f", "json").stdout
    line = one_error_line(
        run_mlv(chain.root, "lineage", "model.bin", "--json", "-f", "dot", expect=2)
    )
    assert "--json" in line and "dot" in line


def test_cli_paths_are_relative_to_the_current_folder(run_mlv: RunMlv, chain: Chain) -> None:
    write_files(chain.root, {"sub/keep.txt": "x"})
    out = run_mlv(chain.root / "sub", "lineage", "../model.bin", "-f", "json").stdout
    assert json.loads(out)["root"].startswith("model.bin@")


def test_cli_history(run_mlv: RunMlv, repo: Repo, chain: Chain) -> None:
    text = run_mlv(chain.root, "history", "model.bin").stdout
    assert text.count("run train ") == 2 and chain.v2[:12] in text
    raw = run_mlv(chain.root, "history", "raw.csv").stdout
    assert raw.count("added") == 2
    doc = json.loads(run_mlv(chain.root, "history", "model.bin", "--json").stdout)
    assert doc == [v.to_json() for v in repo.history("model.bin")]


def test_cli_metrics_and_params(run_mlv: RunMlv, repo: Repo, chain: Chain) -> None:
    shown = json.loads(run_mlv(chain.root, "metrics", "show", "HEAD~1", "HEAD", "--json").stdout)
    assert shown == repo.metrics(["HEAD~1", "HEAD"]).to_json()
    text = run_mlv(chain.root, "metrics", "show", "HEAD~1", "HEAD").stdout
    assert text.splitlines()[0].split() == ["file", "key", "HEAD~1", "HEAD"]

    diff = json.loads(run_mlv(chain.root, "metrics", "diff", "HEAD~1", "HEAD", "--json").stdout)
    assert diff == repo.metrics_diff("HEAD~1", "HEAD").to_json()
    text = run_mlv(chain.root, "metrics", "diff", "HEAD~1", "HEAD").stdout
    assert "+0.0714 (+14.3%)" in text

    params = json.loads(run_mlv(chain.root, "params", "diff", "HEAD~1", "--json").stdout)
    assert params == repo.params_diff("HEAD~1", None).to_json()
    assert [c["key"] for c in params["changes"]] == ["train.lr"]
    text = run_mlv(chain.root, "params", "diff", "HEAD~1", "HEAD", "--all").stdout
    assert "featurize.scale" in text and "-0.25 (-50.0%)" in text
    same = run_mlv(chain.root, "metrics", "diff").stdout
    assert same.strip() == "no metrics changed between HEAD and workspace"


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (("lineage", "nope.csv"), "nope.csv"),
        (("lineage", "model.bin@nobranch"), "nobranch"),
        (("lineage", "model.bin", "--format", "svg"), "svg"),
        (("lineage", "model.bin", "--depth", "-2"), "depth"),
        (("history", "never.txt"), "never.txt"),
        (("metrics", "diff", "A", "B", "C"), "at most two"),
        (("params", "diff", "nobranch"), "nobranch"),
    ],
)
def test_cli_errors_are_one_line(
    run_mlv: RunMlv, built: Chain, args: tuple[str, ...], words: str
) -> None:
    line = one_error_line(run_mlv(built.root, *args, expect=2))
    assert words in line
