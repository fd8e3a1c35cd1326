"""Pipeline files (dvc.yaml / mlv.yaml), params files, templating and the stage graph."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from textwrap import dedent
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from helpers import write_files
from mlv.errors import InvalidArgumentError
from mlv.pipeline.dag import build_plan, check_missing_deps, producer_of
from mlv.pipeline.spec import (
    OutSpec,
    Pipeline,
    PipelineError,
    find_pipeline,
    load_pipeline,
    parse_pipeline,
)
from mlv.runs.params import flatten, load_params, lookup, select


def project(root: Path, dvc_yaml: str, files: dict[str, str] | None = None) -> Pipeline:
    """Write ``dvc.yaml`` and any other ``files`` (dedented) into ``root``, and load it."""
    write_files(root, {"dvc.yaml": dedent(dvc_yaml)})
    write_files(root, {name: dedent(text) for name, text in (files or {}).items()})
    return load_pipeline(root)


def error_of(root: Path, dvc_yaml: str, files: dict[str, str] | None = None) -> str:
    with pytest.raises(PipelineError) as info:
        pipeline = project(root, dvc_yaml, files)
        build_plan(pipeline)
    message = str(info.value)
    assert "\n" not in message
    return message


# The shape of DVC's example-get-started project, written the way DVC users write it.
GET_STARTED = """\
    stages:
      prepare:
        cmd: python src/prepare.py data/data.xml
        deps:
        - data/data.xml
        - src/prepare.py
        params:
        - prepare.seed
        - prepare.split
        outs:
        - data/prepared
      featurize:
        cmd: python src/featurization.py data/prepared data/features
        deps:
        - data/prepared
        - src/featurization.py
        params:
        - featurize.max_features
        - featurize.ngrams
        outs:
        - data/features
      train:
        cmd: python src/train.py data/features model.pkl
        deps:
        - data/features
        - src/train.py
        params:
        - train.seed
        - train.n_est
        - train.min_split
        outs:
        - model.pkl
      evaluate:
        cmd: python src/evaluate.py model.pkl data/features
        deps:
        - data/features
        - model.pkl
        - src/evaluate.py
        outs:
        - eval/live/plots:
            cache: false
        metrics:
        - eval/live/metrics.json:
            cache: false
        plots:
        - eval/prc/train.json:
            cache: false
            x: recall
            y: precision
        - eval/importance.png
    metrics:
    - eval/live/metrics.json
    plots:
    - ROC:
        template: simple
        x: fpr
        y:
          eval/plots/sklearn/roc/train.json: tpr
    - eval/importance.png
    """

GET_STARTED_PARAMS = """\
    prepare:
      split: 0.20
      seed: 20170428
    featurize:
      max_features: 100
      ngrams: 1
    train:
      seed: 20170428
      n_est: 50
      min_split: 0.01
    """


# --- a realistic pipeline ---------------------------------------------------------------


def test_get_started_pipeline_parses_as_dvc_reads_it(tmp_path: Path) -> None:
    pipeline = project(tmp_path, GET_STARTED, {"params.yaml": GET_STARTED_PARAMS})
    assert pipeline.file == "dvc.yaml"
    assert list(pipeline.stages) == ["prepare", "featurize", "train", "evaluate"]

    prepare = pipeline.stages["prepare"]
    assert prepare.cmd == "python src/prepare.py data/data.xml"
    assert prepare.wdir == ""
    assert prepare.deps == ("data/data.xml", "src/prepare.py")
    assert prepare.params == {"params.yaml": ("prepare.seed", "prepare.split")}
    assert prepare.outs == (OutSpec("data/prepared"),)

    evaluate = pipeline.stages["evaluate"]
    assert evaluate.params == {}
    assert evaluate.outs == (
        OutSpec("eval/live/plots", cache=False),
        OutSpec("eval/live/metrics.json", cache=False, metric=True),
        OutSpec("eval/prc/train.json", cache=False, plot=True),
        OutSpec("eval/importance.png", plot=True),
    )

    plan = build_plan(pipeline)
    assert plan.order == ["prepare", "featurize", "train", "evaluate"]
    assert plan.upstream == {
        "prepare": set(),
        "featurize": {"prepare"},
        "train": {"featurize"},
        "evaluate": {"featurize", "train"},
    }


def test_get_started_targets_pull_in_what_they_need(tmp_path: Path) -> None:
    pipeline = project(tmp_path, GET_STARTED, {"params.yaml": GET_STARTED_PARAMS})
    assert build_plan(pipeline, ["train"]).order == ["prepare", "featurize", "train"]
    assert build_plan(pipeline, ["model.pkl"]).order == ["prepare", "featurize", "train"]
    assert build_plan(pipeline, ["dvc.yaml:featurize"]).order == ["prepare", "featurize"]
    # A file inside a folder output names the stage writing the folder.
    assert build_plan(pipeline, ["data/prepared/train.tsv"]).order == ["prepare"]
    # As `dvc repro --downstream`: the target and what depends on it.
    down = build_plan(pipeline, ["featurize"], downstream=True)
    assert down.order == ["featurize", "train", "evaluate"]
    assert down.upstream["featurize"] == set()
    assert producer_of(pipeline, "eval/live/metrics.json") == "evaluate"
    assert producer_of(pipeline, "data/features/") == "featurize"
    assert producer_of(pipeline, "eval") == "evaluate"
    assert producer_of(pipeline, "src/train.py") is None


def test_missing_deps_are_reported_unless_a_stage_makes_them(tmp_path: Path) -> None:
    pipeline = project(tmp_path, GET_STARTED, {"params.yaml": GET_STARTED_PARAMS})
    write_files(tmp_path, {f"src/{n}.py": "" for n in ("prepare", "featurization", "train")})
    order = build_plan(pipeline).order
    with pytest.raises(PipelineError) as info:
        check_missing_deps(pipeline, tmp_path, order)
    assert str(info.value).startswith("dvc.yaml: stage 'prepare': dependency 'data/data.xml'")

    write_files(tmp_path, {"data/data.xml": "<xml/>"})
    with pytest.raises(PipelineError, match=r"stage 'evaluate'.*'src/evaluate\.py'"):
        check_missing_deps(pipeline, tmp_path, order)
    # Only the stages asked about are checked; model.pkl comes from 'train'.
    check_missing_deps(pipeline, tmp_path, build_plan(pipeline, ["train"]).order)

    write_files(tmp_path, {"src/evaluate.py": ""})
    check_missing_deps(pipeline, tmp_path, order)


def test_missing_params_file_or_key_is_reported(tmp_path: Path) -> None:
    pipeline = project(
        tmp_path,
        """\
        stages:
          train:
            cmd: python train.py
            params:
            - train.lr
            - conf/extra.yaml: [depth]
        """,
        {
            "params.yaml": "train: {epochs: 3}\n",
        },
    )
    with pytest.raises(PipelineError) as info:
        check_missing_deps(pipeline, tmp_path, ["train"])
    assert "stage 'train'" in str(info.value)
    assert "no key 'train.lr'" in str(info.value)
    assert "'train' has no 'lr'" in str(info.value)

    write_files(tmp_path, {"params.yaml": "train: {lr: 0.1}\n"})
    with pytest.raises(PipelineError, match=r"params file 'conf/extra\.yaml' does not exist"):
        check_missing_deps(pipeline, tmp_path, ["train"])
    write_files(tmp_path, {"conf/extra.yaml": "depth: 4\n"})
    check_missing_deps(pipeline, tmp_path, ["train"])


# --- finding and loading the file ---------------------------------------------------------


def test_mlv_yaml_wins_over_dvc_yaml(tmp_path: Path) -> None:
    assert find_pipeline(tmp_path) is None
    with pytest.raises(PipelineError) as info:
        load_pipeline(tmp_path)
    assert str(info.value) == (
        f"no mlv.yaml or dvc.yaml in {tmp_path}: write one (see 'mlv repro --help')"
    )
    assert isinstance(info.value, InvalidArgumentError)
    assert info.value.exit_code == 2

    write_files(tmp_path, {"dvc.yaml": "stages:\n  a:\n    cmd: echo dvc\n"})
    assert find_pipeline(tmp_path) == tmp_path / "dvc.yaml"
    write_files(tmp_path, {"mlv.yaml": "stages:\n  a:\n    cmd: echo mlv\n"})
    assert find_pipeline(tmp_path) == tmp_path / "mlv.yaml"
    pipeline = load_pipeline(tmp_path)
    assert pipeline.file == "mlv.yaml"
    assert pipeline.stages["a"].cmd == "echo mlv"


def test_list_cmd_flags_and_desc(tmp_path: Path) -> None:
    pipeline = project(
        tmp_path,
        """\
        stages:
          build:
            desc: Build everything
            meta: {owner: ada}
            cmd:
            - mkdir -p out
            - python build.py > out/log.txt
            outs:
            - out/log.txt:
                persist: true
                desc: the log
                remote: storage
                push: false
            - out/cache.db:
                checkpoint: true
            frozen: true
            always_changed: true
        """,
    )
    build = pipeline.stages["build"]
    assert build.cmd == "mkdir -p out && python build.py > out/log.txt"
    assert build.outs == (OutSpec("out/log.txt", persist=True), OutSpec("out/cache.db"))
    assert build.frozen and build.always_changed
    assert build.desc == "Build everything"


def test_params_forms(tmp_path: Path) -> None:
    pipeline = project(
        tmp_path,
        """\
        stages:
          train:
            cmd: python train.py
            params:
            - lr
            - train.epochs
            - custom.yaml:
            - other.json: []
            - conf/model.toml:
              - model.depth
              - model.width
            - lr
        """,
    )
    assert pipeline.stages["train"].params == {
        "params.yaml": ("lr", "train.epochs"),
        "custom.yaml": (),
        "other.json": (),
        "conf/model.toml": ("model.depth", "model.width"),
    }


def test_wdir_resolves_paths_and_default_params(tmp_path: Path) -> None:
    pipeline = project(
        tmp_path,
        """\
        stages:
          train:
            wdir: models/./cnn/
            cmd: python ../../src/train.py
            deps:
            - ../../src/train.py
            - data/
            params:
            - lr
            - ../shared.yaml: [seed]
            outs:
            - model.pt
          root:
            wdir: .
            cmd: echo
            deps: [./a//b/]
        """,
    )
    train = pipeline.stages["train"]
    assert train.wdir == "models/cnn"
    assert train.deps == ("src/train.py", "models/cnn/data")
    assert train.params == {"models/cnn/params.yaml": ("lr",), "models/shared.yaml": ("seed",)}
    assert train.outs == (OutSpec("models/cnn/model.pt"),)
    assert pipeline.stages["root"].wdir == ""
    assert pipeline.stages["root"].deps == ("a/b",)


# --- foreach and matrix ---------------------------------------------------------------


def test_foreach_over_a_list_names_stages_by_value(tmp_path: Path) -> None:
    pipeline = project(
        tmp_path,
        """\
        stages:
          clean:
            foreach: [us, eu]
            do:
              cmd: python clean.py ${item}
              outs:
              - clean/${item}.csv
          scale:
            foreach: [0.5, 2, true]
            do:
              cmd: python scale.py --by ${item}
          fit:
            foreach:
            - {name: small, depth: 2}
            - {name: large, depth: 8}
            do:
              cmd: python fit.py --depth ${item.depth}
              outs:
              - models/${item.name}.pkl
        """,
    )
    names = list(pipeline.stages)
    assert names == [
        "clean@us",
        "clean@eu",
        "scale@0.5",
        "scale@2",
        "scale@true",
        "fit@0",
        "fit@1",
    ]
    assert pipeline.stages["clean@eu"].cmd == "python clean.py eu"
    assert pipeline.stages["clean@eu"].outs == (OutSpec("clean/eu.csv"),)
    assert pipeline.stages["scale@true"].cmd == "python scale.py --by true"
    assert pipeline.stages["fit@1"].cmd == "python fit.py --depth 8"
    assert pipeline.stages["fit@1"].outs == (OutSpec("models/large.pkl"),)
    # A group name targets all its stages.
    assert build_plan(pipeline, ["clean"]).order == ["clean@us", "clean@eu"]
    assert build_plan(pipeline, ["clean@eu"]).order == ["clean@eu"]


def test_foreach_over_a_mapping_and_over_a_params_variable(tmp_path: Path) -> None:
    pipeline = project(
        tmp_path,
        """\
        stages:
          train:
            foreach:
              lr1: {lr: 0.1, epochs: 3}
              lr2: {lr: 0.01, epochs: 30}
            do:
              cmd: python train.py --run ${key} --lr ${item.lr} --epochs ${item.epochs}
              outs:
              - runs/${key}/model.pt
          report:
            foreach: ${datasets}
            do:
              cmd: python report.py ${item} --seed ${seed}
        """,
        {
            "params.yaml": """\
            seed: 7
            datasets: [train, test]
            """,
        },
    )
    assert list(pipeline.stages) == ["train@lr1", "train@lr2", "report@train", "report@test"]
    lr2 = pipeline.stages["train@lr2"]
    assert lr2.cmd == "python train.py --run lr2 --lr 0.01 --epochs 30"
    assert lr2.outs == (OutSpec("runs/lr2/model.pt"),)
    # foreach items are not params keys; `seed` read from params.yaml is.
    assert lr2.params == {}
    assert pipeline.stages["report@test"].params == {"params.yaml": ("seed",)}


def test_matrix_makes_every_combination(tmp_path: Path) -> None:
    pipeline = project(
        tmp_path,
        """\
        stages:
          train:
            matrix:
              model: ${models}
              lr: [0.1, 0.01]
            cmd: python train.py ${item.model} --lr ${item.lr} --tag ${key}
            outs:
            - models/${item.model}-${item.lr}.pkl
          tune:
            matrix:
              opt: [{name: sgd}, {name: adam}]
              seed: [1]
            cmd: python tune.py ${item.opt.name} ${item.seed}
        """,
        {
            "params.yaml": "models: [cnn, mlp]\n",
        },
    )
    assert list(pipeline.stages) == [
        "train@cnn-0.1",
        "train@cnn-0.01",
        "train@mlp-0.1",
        "train@mlp-0.01",
        "tune@opt0-1",
        "tune@opt1-1",
    ]
    stage = pipeline.stages["train@mlp-0.01"]
    assert stage.cmd == "python train.py mlp --lr 0.01 --tag mlp-0.01"
    assert stage.outs == (OutSpec("models/mlp-0.01.pkl"),)
    assert pipeline.stages["tune@opt1-1"].cmd == "python tune.py adam 1"
    assert build_plan(pipeline, ["tune"]).order == ["tune@opt0-1", "tune@opt1-1"]


# --- templating ---------------------------------------------------------------------


def test_templating_types_rendering_and_escapes(tmp_path: Path) -> None:
    pipeline = project(
        tmp_path,
        r"""
        vars:
        - flags: {freeze: true}
          out_dir: results
        stages:
          train:
            cmd: >-
              python train.py --lr ${train.lr} --shuffle ${train.shuffle}
              --name ${train.name} --none ${nothing} --tpl '\${HOME}' --sh $${USER}
              --first ${train.layers[0]} --second ${ train.layers.1 }
            deps:
            - data/${train.name}.csv
            outs:
            - ${out_dir}/model.pkl
            frozen: ${flags.freeze}
        """,
        {
            "params.yaml": """\
            train:
              lr: 1e-3
              shuffle: yes
              name: mnist
              layers: [64, 32]
            nothing:
            """,
        },
    )
    train = pipeline.stages["train"]
    # YAML 1.2, as DVC reads it: 1e-3 is a number, `yes` is a string.
    assert train.cmd == (
        "python train.py --lr 0.001 --shuffle yes --name mnist --none None "
        "--tpl '${HOME}' --sh ${USER} --first 64 --second 32"
    )
    assert train.deps == ("data/mnist.csv",)
    assert train.outs == (OutSpec("results/model.pkl"),)
    assert train.frozen is True  # an exact ${...} keeps the boolean
    assert train.params == {
        "params.yaml": (
            "train.lr",
            "train.shuffle",
            "train.name",
            "nothing",
            "train.layers.0",
            "train.layers.1",
        )
    }


def test_a_mapping_in_cmd_becomes_options(tmp_path: Path) -> None:
    pipeline = project(
        tmp_path,
        """\
        stages:
          train:
            cmd: python train.py ${train}
        """,
        {
            "params.yaml": """\
            train:
              lr: 0.1
              fast: true
              slow: false
              name: my model
              layers: [1, 2]
            """,
        },
    )
    train = pipeline.stages["train"]
    assert train.cmd == "python train.py --lr 0.1 --fast --name 'my model' --layers 1 2"
    assert train.params == {"params.yaml": ("train",)}


def test_tracked_params_from_vars_files_join_listed_params(tmp_path: Path) -> None:
    pipeline = project(
        tmp_path,
        """\
        vars:
        - config/data.yaml:paths,split
        - inline: {size: 3}
        stages:
          prepare:
            cmd: python prepare.py --split ${split} --size ${inline.size}
            deps:
            - ${paths.raw}
            outs:
            - ${paths.prepared}
            params:
            - seed
          train:
            wdir: models
            vars:
            - train.yaml
            cmd: python train.py --epochs ${epochs} --seed ${seed}
            params:
            - params.yaml:
        """,
        {
            "params.yaml": "seed: 1\n",
            "config/data.yaml": """\
            paths: {raw: data/raw.csv, prepared: data/prepared.csv}
            split: 0.2
            unused: 9
            """,
            "models/train.yaml": "epochs: 5\n",
        },
    )
    prepare = pipeline.stages["prepare"]
    assert prepare.deps == ("data/raw.csv",)
    assert prepare.outs == (OutSpec("data/prepared.csv"),)
    assert prepare.params == {
        "params.yaml": ("seed",),
        "config/data.yaml": ("split", "paths.raw", "paths.prepared"),
    }
    train = pipeline.stages["train"]
    assert train.cmd == "python train.py --epochs 5 --seed 1"
    # The whole of models/params.yaml stays whole; stage vars are read from the wdir.
    assert train.params == {
        "models/params.yaml": (),
        "models/train.yaml": ("epochs",),
        "params.yaml": ("seed",),
    }


def test_json_and_toml_vars(tmp_path: Path) -> None:
    pipeline = project(
        tmp_path,
        """\
        vars:
        - conf.json
        - conf.toml
        stages:
          s:
            cmd: run ${json_key} ${toml.key}
        """,
        {
            "conf.json": json.dumps({"json_key": "j"}),
            "conf.toml": '[toml]\nkey = "t"\n',
        },
    )
    assert pipeline.stages["s"].cmd == "run j t"
    assert pipeline.stages["s"].params == {"conf.json": ("json_key",), "conf.toml": ("toml.key",)}


# --- errors ----------------------------------------------------------------------------


def test_cycle(tmp_path: Path) -> None:
    message = error_of(
        tmp_path,
        """\
        stages:
          prepare:
            cmd: p
            deps: [model.pkl]
            outs: [data.csv]
          train:
            cmd: t
            deps: [data.csv]
            outs: [model.pkl]
        """,
    )
    assert message.startswith("dvc.yaml: stages form a cycle: prepare -> train -> prepare")


def test_two_stages_writing_the_same_output(tmp_path: Path) -> None:
    message = error_of(
        tmp_path,
        """\
        stages:
          a:
            cmd: a
            outs: [data/./out.csv]
          b:
            cmd: b
            outs: [data/out.csv]
        """,
    )
    assert message.startswith("dvc.yaml: stages 'a' and 'b' both write 'data/out.csv'")


@pytest.mark.parametrize("first, second", [("data", "data/out.csv"), ("data/out.csv", "data")])
def test_overlapping_outputs(tmp_path: Path, first: str, second: str) -> None:
    message = error_of(
        tmp_path,
        f"""\
        stages:
          a:
            cmd: a
            outs: [{first}]
          b:
            cmd: b
            outs: [{second}]
        """,
    )
    assert "stages 'a' and 'b' both write 'data/out.csv' (one writes the folder 'data')" in message


def test_one_stage_listing_an_output_twice(tmp_path: Path) -> None:
    message = error_of(
        tmp_path,
        """\
        stages:
          a:
            cmd: a
            outs: [m.json]
            metrics: [m.json]
        """,
    )
    assert "stage 'a' lists 'm.json' twice" in message


@pytest.mark.parametrize("dep", ["model.pkl", "models", "models/cnn/model.pkl"])
def test_output_that_is_also_a_dependency(tmp_path: Path, dep: str) -> None:
    out = "models/cnn" if dep.startswith("models") else "model.pkl"
    message = error_of(
        tmp_path,
        f"""\
        stages:
          train:
            cmd: t
            deps: [{dep}]
            outs: [{out}]
        """,
    )
    assert f"stage 'train' both reads and writes '{dep}'" in message


def test_edges_through_folders_and_params_files(tmp_path: Path) -> None:
    pipeline = project(
        tmp_path,
        """\
        stages:
          report:
            cmd: r
            deps: [data]
          config:
            cmd: c
            outs: [gen/params.yaml]
          split:
            cmd: s
            outs: [data/split]
          fetch:
            cmd: f
            outs: [data/raw]
          use:
            cmd: u
            deps: [data/split/train.csv]
            params:
            - gen/params.yaml: [lr]
        """,
    )
    plan = build_plan(pipeline)
    assert plan.order == ["config", "split", "fetch", "report", "use"]
    assert plan.upstream["report"] == {"split", "fetch"}
    assert plan.upstream["use"] == {"split", "config"}
    # Two stages write into data/: a target of that folder means both.
    assert build_plan(pipeline, ["data"]).order == ["split", "fetch"]


def test_unknown_target(tmp_path: Path) -> None:
    pipeline = project(tmp_path, GET_STARTED, {"params.yaml": GET_STARTED_PARAMS})
    with pytest.raises(PipelineError) as info:
        build_plan(pipeline, ["trian"])
    assert str(info.value) == (
        "no stage named 'trian' in dvc.yaml; stages: prepare, featurize, train, evaluate; "
        "did you mean 'train'?"
    )


@pytest.mark.parametrize(
    "text, expected",
    [
        ("stages:\n  a:\n    cmd: x\nstagez: {}\n", "unknown top-level key 'stagez'"),
        ("vars: []\n", "no 'stages:' section"),
        ("- a\n- b\n", "top level must be a mapping"),
        (
            "stages:\n  a:\n    cmd: x\n    dep: [a]\n",
            "stage 'a': unknown key 'dep' (did you mean 'deps'?)",
        ),
        ("stages:\n  a:\n    deps: [x]\n", "stage 'a': no 'cmd'"),
        ("stages:\n  a:\n    cmd: ''\n", "stage 'a': 'cmd' is empty"),
        ("stages:\n  a:\n    cmd: x\n    deps: x\n", "stage 'a': 'deps' must be a list"),
        ("stages:\n  a:\n    cmd: x\n    frozen: maybe\n", "'frozen' must be true or false"),
        (
            "stages:\n  a:\n    cmd: x\n    outs:\n    - o: {cache: no}\n",
            "'cache' of outs path 'o'",
        ),
        ("stages:\n  a@b:\n    cmd: x\n", "stage name 'a@b' is not allowed"),
        ("stages:\n  a:\n    do: {cmd: x}\n", "'do' needs 'foreach'"),
        ("stages:\n  a:\n    foreach: [1]\n", "'foreach' needs a 'do'"),
        ("stages:\n  a:\n    foreach: [1]\n    cmd: x\n    do: {cmd: y}\n", "'cmd' cannot sit"),
        ("stages:\n  a:\n    foreach: 3\n    do: {cmd: y}\n", "'foreach' must be a list"),
        ("stages:\n  a:\n    foreach: [x, x]\n    do: {cmd: y}\n", "generates 'a@x' twice"),
        ("stages:\n  a:\n    matrix: {m: 1}\n    cmd: y\n", "matrix entry 'm' must be a list"),
        ("stages:\n  a:\n    cmd: x\n    params: [{p.py: [a]}]\n", "params file 'p.py' must end"),
        ("stages:\n  a:\n    cmd: x\n    outs: [{a: {}, b: {}}]\n", "must name one path"),
        ("stages:\n  a:\n    cmd: x\n    deps: [s3://bucket/key]\n", "is a URL"),
        ("stages:\n  a:\n    cmd: x\n    outs: [dvc.yaml]\n", "is the pipeline file itself"),
        ("vars: [missing.yaml]\nstages: {}\n", "vars file 'missing.yaml' does not exist"),
        ("vars: [{a: '${b}'}]\nstages: {}\n", "vars cannot use ${...}"),
    ],
)
def test_structural_errors_name_the_stage_and_key(tmp_path: Path, text: str, expected: str) -> None:
    write_files(tmp_path, {"dvc.yaml": text})
    with pytest.raises(PipelineError) as info:
        load_pipeline(tmp_path)
    assert expected in str(info.value)
    assert str(info.value).startswith("dvc.yaml: ")


def test_bad_yaml_names_the_line(tmp_path: Path) -> None:
    text = "stages:\n  train:\n    cmd: python train.py\n    deps:\n    - a\n   - b\n    outs: [x\n"
    with pytest.raises(PipelineError) as info:
        parse_pipeline(text, "dvc.yaml", tmp_path)
    assert str(info.value).startswith("dvc.yaml: line 6: ")


def test_duplicate_stage_names_the_line(tmp_path: Path) -> None:
    text = dedent(
        """\
        stages:
          train:
            cmd: a
          evaluate:
            cmd: b
          train:
            cmd: c
        """
    )
    with pytest.raises(PipelineError) as info:
        parse_pipeline(text, "dvc.yaml", tmp_path)
    assert str(info.value).startswith("dvc.yaml: line 6: duplicate key 'train'")


def test_an_empty_stages_section_plans_nothing(tmp_path: Path) -> None:
    pipeline = parse_pipeline("stages:\n", "dvc.yaml", tmp_path)
    assert pipeline.stages == {}
    assert build_plan(pipeline).order == []


def test_yaml_merge_keys_may_be_overridden(tmp_path: Path) -> None:
    text = dedent(
        """\
        stages:
          base: &base
            cmd: a
            deps: [x]
          other:
            <<: *base
            cmd: b
        """
    )
    pipeline = parse_pipeline(text, "dvc.yaml", tmp_path)
    assert pipeline.stages["other"].cmd == "b"
    assert pipeline.stages["other"].deps == ("x",)


def test_undefined_variable(tmp_path: Path) -> None:
    message = error_of(
        tmp_path,
        """\
        stages:
          train:
            cmd: python train.py --lr ${train.lr}
        """,
        {
            "params.yaml": "train: {epochs: 1}\n",
        },
    )
    assert message.startswith("dvc.yaml: stage 'train': ${train.lr} in 'cmd' is not defined")
    assert "'train' has no 'lr'" in message

    message = error_of(
        tmp_path,
        """\
        stages:
          train:
            foreach: [a]
            do:
              cmd: run ${itme}
        """,
    )
    assert message.startswith("dvc.yaml: stage 'train@a': ${itme} in 'cmd' is not defined")


def test_list_inside_a_string_and_conflicting_vars(tmp_path: Path) -> None:
    message = error_of(
        tmp_path,
        """\
        stages:
          train:
            cmd: x
            deps:
            - data/${sets}.csv
        """,
        {
            "params.yaml": "sets: [a, b]\n",
        },
    )
    assert "${sets} in 'deps' is a list" in message

    message = error_of(
        tmp_path,
        """\
        vars:
        - {seed: 2}
        stages:
          train:
            cmd: x ${seed}
        """,
        {
            "params.yaml": "seed: 1\n",
        },
    )
    assert message == (
        "dvc.yaml: vars: 'seed' from vars[0] is already defined by params.yaml; rename one of them"
    )


@pytest.mark.parametrize(
    "field, path, reason",
    [
        ("deps", "../outside.csv", "leads outside the repository"),
        ("deps", "data/../../x", "leads outside the repository"),
        ("outs", "/etc/passwd", "is absolute"),
        ("outs", ".mlv/objects", "is inside .mlv"),
        ("outs", "sub/.git/config", "is inside .git"),
        ("outs", ".", "is the whole repository"),
        ("wdir", "..", "leads outside the repository"),
    ],
)
def test_paths_must_stay_in_the_repository(
    tmp_path: Path, field: str, path: str, reason: str
) -> None:
    value = path if field == "wdir" else f"[{path}]"
    message = error_of(
        tmp_path,
        f"""\
        stages:
          train:
            cmd: x
            {field}: {value}
        """,
    )
    assert message.startswith(f"dvc.yaml: stage 'train': {field} path '{path}' {reason}")


# --- params files ----------------------------------------------------------------------


def test_load_params_by_extension(tmp_path: Path) -> None:
    write_files(
        tmp_path,
        {
            "p.yaml": "a: {b: [1, {c: 2}]}\nn: 010\no: 0o17\nf: 1e-3\ns: on\nt: True\n",
            "p.yml": "",
            "p.json": '{"a": {"b": 1}}',
            "p.toml": "[a]\nb = 1\n",
        },
    )
    doc = load_params(tmp_path / "p.yaml")
    assert doc == {"a": {"b": [1, {"c": 2}]}, "n": 10, "o": 15, "f": 0.001, "s": "on", "t": True}
    assert load_params(tmp_path / "p.yml") == {}
    assert load_params(tmp_path / "p.json") == {"a": {"b": 1}}
    assert load_params(tmp_path / "p.toml") == {"a": {"b": 1}}


@pytest.mark.parametrize(
    "name, content, expected",
    [
        ("bad.yaml", "a: [1\n", "bad.yaml: line 2: "),
        ("bad.json", '{\n"a": }', "bad.json: line 2: "),
        ("bad.toml", "a = \n", "bad.toml: "),
        ("list.yaml", "- 1\n", "top level must be a mapping"),
        ("p.py", "A = 1\n", "must end in .yaml"),
        ("dup.yaml", "a: 1\na: 2\n", "dup.yaml: line 2: duplicate key 'a'"),
    ],
)
def test_load_params_errors(tmp_path: Path, name: str, content: str, expected: str) -> None:
    write_files(tmp_path, {name: content})
    with pytest.raises(PipelineError) as info:
        load_params(tmp_path / name, name=name)
    assert expected in str(info.value)
    with pytest.raises(PipelineError, match="no such params file"):
        load_params(tmp_path / "absent.yaml")


def test_lookup_select_and_flatten() -> None:
    doc: dict[str, Any] = {"a": {"b": [10, {"c": 2}]}, "x": 1, 3: "int key", "e": {}}
    assert lookup(doc, "a.b.0") == 10
    assert lookup(doc, "a.b.1.c") == 2
    assert lookup(doc, "a.b[1].c") == 2
    assert lookup(doc, "3") == "int key"
    assert flatten(doc) == {"a.b": [10, {"c": 2}], "x": 1, "3": "int key", "e": {}}
    assert select(doc, ["x", "a.b.1"]) == {"x": 1, "a.b.1": {"c": 2}}
    assert select(doc, []) == flatten(doc)

    with pytest.raises(KeyError) as info:
        lookup(doc, "a.b.5")
    assert str(info.value) == "no key 'a.b.5': 'a.b' is a list of 2 item(s), with no index 5"
    with pytest.raises(PipelineError, match=r"'x' is a single value \(a number\)"):
        lookup(doc, "x.y")
    with pytest.raises(PipelineError, match=r"^no key 'nope'$"):
        select(doc, ["nope"])


_KEYS = st.text(alphabet="abcxyz_", min_size=1, max_size=4)
_LEAVES = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(allow_nan=False),
    st.text(max_size=5),
    st.lists(st.integers(), max_size=3),
)
_DOCS = st.recursive(
    st.dictionaries(_KEYS, _LEAVES, max_size=4),
    lambda children: st.dictionaries(_KEYS, st.one_of(_LEAVES, children), max_size=4),
    max_leaves=20,
)


def _unflatten(flat: dict[str, Any]) -> dict[str, Any]:
    doc: dict[str, Any] = {}
    for dotted, value in flat.items():
        *parents, last = dotted.split(".")
        node = doc
        for part in parents:
            node = node.setdefault(part, {})
        node[last] = value
    return doc


@settings(max_examples=200, deadline=None)
@given(_DOCS)
def test_flatten_and_lookup_round_trip(doc: dict[str, Any]) -> None:
    flat = flatten(doc)
    assert _unflatten(flat) == doc
    assert select(doc, []) == flat
    for key, value in flat.items():
        assert lookup(doc, key) == value
        if isinstance(value, list):
            for index, item in enumerate(value):
                assert lookup(doc, f"{key}.{index}") == item
    # Every inner mapping is reachable by its own dotted key too.
    assert select(doc, list(flat)) == flat


_SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-2, 2),
    st.sampled_from(["x", "a/b", "../up", "/abs", "${lr}", "${nope}", "${items}", "$${x}", ""]),
)
_STAGE_KEYS = st.sampled_from(
    [
        "cmd",
        "deps",
        "outs",
        "metrics",
        "plots",
        "params",
        "wdir",
        "vars",
        "frozen",
        "foreach",
        "do",
        "matrix",
        "desc",
        "junk",
    ]
)
_VALUES = st.recursive(
    _SCALARS,
    lambda children: st.one_of(
        st.lists(children, max_size=3), st.dictionaries(_SCALARS.filter(bool), children, max_size=2)
    ),
    max_leaves=8,
)


@settings(max_examples=300, deadline=None)
@given(
    st.dictionaries(
        st.sampled_from(["a", "b", "c@d", "x"]),
        st.dictionaries(_STAGE_KEYS, _VALUES, max_size=5),
        max_size=3,
    )
)
def test_any_malformed_stage_fails_with_a_pipeline_error(stages: dict[str, Any]) -> None:
    import yaml

    root = Path("/nonexistent-mlv-pipeline-root")
    text = yaml.safe_dump({"stages": stages})
    try:
        pipeline = parse_pipeline(text, "dvc.yaml", root)
        plan = build_plan(pipeline)
    except PipelineError as exc:
        assert "\n" not in str(exc)
        assert str(exc).startswith("dvc.yaml: ")
    else:
        assert set(plan.order) == set(pipeline.stages)


# --- start-up cost ---------------------------------------------------------------------


def test_importing_the_pipeline_modules_does_not_import_networkx() -> None:
    code = (
        "import sys, mlv.pipeline.dag, mlv.pipeline.spec; "
        "assert 'networkx' not in sys.modules, 'networkx imported at start-up'"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
