"""Setting values in params files in place: only the values asked, comments and order kept,
and what cannot be done exactly refused."""

from __future__ import annotations

import json
import math
import os
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from mlv.errors import InvalidArgumentError, ParamsKeyError
from mlv.runs.params import flatten, load_params
from mlv.runs.params_edit import (
    parse_like,
    plan_params_edit,
    same_document,
    set_params,
    write_params_edit,
)

PARAMS_YAML = """\
# Chosen after the sweep of 2026-11-20.
features:
  test_size: 0.25   # of the rows
  seed: 42
train:
  n_estimators: 150 # trees
  name: 'forest'
  label: "y"
  enabled: true
  layers: [64, 32]
  empty:
"""


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_yaml_values_change_and_every_other_byte_stays(tmp_path: Path) -> None:
    path = write(tmp_path, "params.yaml", PARAMS_YAML)
    edit = set_params(
        path,
        {
            "train.n_estimators": 80,
            "features.test_size": 0.001,
            "train.name": "it's",
            "train.label": 'say "hi"\n',
            "train.enabled": False,
            "train.layers.1": 16,
            "train.empty": 3,
        },
    )
    assert path.read_text() == (
        "# Chosen after the sweep of 2026-11-20.\n"
        "features:\n"
        "  test_size: 0.001   # of the rows\n"
        "  seed: 42\n"
        "train:\n"
        "  n_estimators: 80 # trees\n"
        "  name: 'it''s'\n"
        '  label: "say \\"hi\\"\\n"\n'
        "  enabled: false\n"
        "  layers: [64, 16]\n"
        "  empty: 3\n"
    )
    assert "\n-  n_estimators: 150 # trees\n" in edit.diff()
    assert "\n+  n_estimators: 80 # trees\n" in edit.diff()
    assert edit.diff().startswith("--- a/params.yaml\n+++ b/params.yaml\n")
    doc = load_params(path)
    assert doc["train"]["label"] == 'say "hi"\n' and doc["features"]["test_size"] == 0.001


def test_a_plan_writes_nothing_and_a_changed_file_is_not_overwritten(tmp_path: Path) -> None:
    path = write(tmp_path, "params.yaml", PARAMS_YAML)
    edit = plan_params_edit(path, {"features.seed": 7})
    assert path.read_text() == PARAMS_YAML
    assert edit.changed and "+  seed: 7\n" in edit.diff()
    path.write_text(PARAMS_YAML + "extra: 1\n")
    with pytest.raises(InvalidArgumentError, match="changed while the edit was prepared"):
        write_params_edit(edit)
    assert path.read_text().endswith("extra: 1\n")


def test_the_file_keeps_its_mode_and_no_temporary_is_left(tmp_path: Path) -> None:
    path = write(tmp_path, "params.yaml", PARAMS_YAML)
    os.chmod(path, 0o640)
    set_params(path, {"features.seed": 1})
    assert path.stat().st_mode & 0o777 == 0o640
    assert sorted(p.name for p in tmp_path.iterdir()) == ["params.yaml"]


@pytest.mark.parametrize(
    ("key", "value", "message"),
    [
        ("train.trees", 1, "no key 'train.trees'"),
        ("train", 1, "holds a mapping"),
        ("train.layers", 1, "holds a list"),
        ("train.layers.5", 1, "no index 5"),
    ],
)
def test_keys_that_are_not_single_values_are_refused(
    tmp_path: Path, key: str, value: Any, message: str
) -> None:
    path = write(tmp_path, "params.yaml", PARAMS_YAML)
    with pytest.raises(InvalidArgumentError, match=message):
        set_params(path, {key: value})
    assert path.read_text() == PARAMS_YAML


def test_an_unknown_key_is_a_params_key_error(tmp_path: Path) -> None:
    path = write(tmp_path, "params.yaml", PARAMS_YAML)
    with pytest.raises(ParamsKeyError):
        set_params(path, {"nope": 1})


@pytest.mark.parametrize(
    ("text", "key", "why"),
    [
        ("base: &b\n  lr: 0.1\nother: *b\n", "base.lr", "would not read back as intended"),
        ("a: &x 1\nb: *x\n", "a", "anchor, alias or tag"),
        ("a: &x 1\nb: *x\n", "b", "anchor, alias or tag"),
        ("a: !!str 5\n", "a", "anchor, alias or tag"),
        ("note: |\n  one\n  two\n", "note", "block scalar"),
        ("base: &b {lr: 1}\nrun:\n  <<: *b\n", "run.lr", "merge"),
    ],
)
def test_what_cannot_be_edited_in_place_is_refused(
    tmp_path: Path, text: str, key: str, why: str
) -> None:
    path = write(tmp_path, "params.yaml", text)
    with pytest.raises(InvalidArgumentError, match=why):
        set_params(path, {key: 2})
    assert path.read_text() == text


def test_json_is_edited_in_place(tmp_path: Path) -> None:
    text = '{\n  "train": {"lr": 0.1, "layers": [64, 32]},\n  "name": "a"\n}\n'
    path = write(tmp_path, "params.json", text)
    set_params(path, {"train.lr": 0.5, "train.layers.0": 8, "name": "ü\n"})
    assert path.read_text() == (
        '{\n  "train": {"lr": 0.5, "layers": [8, 32]},\n  "name": "ü\\n"\n}\n'
    )
    with pytest.raises(InvalidArgumentError, match="no NaN"):
        set_params(path, {"train.lr": math.nan})


def test_toml_is_edited_in_place(tmp_path: Path) -> None:
    text = '# top\ntitle = "run" # why\n[train]\nlr = 0.1\n"epochs" = 3\n[model.head]\nsize = 4\n'
    path = write(tmp_path, "params.toml", text)
    set_params(
        path, {"title": 'a "#" b', "train.lr": 1e-05, "train.epochs": 5, "model.head.size": 8}
    )
    assert path.read_text() == (
        '# top\ntitle = "a \\"#\\" b" # why\n[train]\nlr = 1e-05\n"epochs" = 5\n'
        "[model.head]\nsize = 8\n"
    )
    inline = write(tmp_path, "inline.toml", "train = {lr = 0.1}\n")
    with pytest.raises(InvalidArgumentError, match="inline"):
        set_params(inline, {"train.lr": 0.2})
    with pytest.raises(InvalidArgumentError, match="no null"):
        set_params(path, {"train.lr": None})


@pytest.mark.parametrize(
    ("text", "like", "expected"),
    [
        ("200", 150, 200),
        (" -3 ", 1, -3),
        ("0.5", 0.25, 0.5),
        ("2", 0.25, 2.0),
        ("1e-3", 0.1, 0.001),
        ("false", True, False),
        ("TRUE", False, True),
        ("  spaced ", "x", "  spaced "),
        ("12", "x", "12"),
    ],
)
def test_form_text_takes_the_type_of_the_default(text: str, like: Any, expected: Any) -> None:
    value = parse_like(text, like, "k")
    assert same_document(value, expected)


@pytest.mark.parametrize(("text", "like"), [("many", 150), ("1.5", 150), ("x", 0.1), ("yes", True)])
def test_form_text_of_the_wrong_type_is_refused(text: str, like: Any) -> None:
    with pytest.raises(InvalidArgumentError, match=r"^k is "):
        parse_like(text, like, "k")


def test_same_document_tells_types_apart() -> None:
    assert not same_document({"a": 1}, {"a": True})
    assert not same_document({"a": 1}, {"a": 1.0})
    assert same_document({"a": [math.nan]}, {"a": [math.nan]})
    assert not same_document({"a": 1, "b": 2}, {"b": 2, "a": 1})  # order is part of it


# -- properties ---------------------------------------------------------------------------

KEYS = st.from_regex(r"[a-z_][a-z0-9_]{0,6}", fullmatch=True)
TEXT = st.text(
    alphabet=st.characters(codec="utf-8", exclude_categories=("Cc", "Cs", "Zl", "Zp")),
    max_size=12,
)
SCALARS = st.one_of(
    st.booleans(),
    st.integers(min_value=-(2**53), max_value=2**53),
    st.floats(allow_nan=False, allow_infinity=False),
    TEXT,
)
DOCS = st.recursive(
    st.dictionaries(KEYS, SCALARS, min_size=1, max_size=4),
    lambda inner: st.dictionaries(KEYS, st.one_of(SCALARS, inner), min_size=1, max_size=4),
    max_leaves=16,
)


def _edit_and_check(
    path: Path, text: str, doc: dict[str, Any], data: st.DataObject, values: st.SearchStrategy
) -> None:
    leaves = list(flatten(doc))
    chosen = data.draw(st.lists(st.sampled_from(leaves), unique=True, min_size=1, max_size=4))
    changes = {key: data.draw(values) for key in chosen}
    path.write_text(text, encoding="utf-8")
    set_params(path, changes)
    intended = json.loads(json.dumps(doc))  # an unshared copy
    for key, value in changes.items():
        *parents, last = key.split(".")
        node = intended
        for part in parents:
            node = node[part]
        node[last] = value
    assert same_document(load_params(path), intended)
    old_lines, new_lines = text.splitlines(), path.read_text(encoding="utf-8").splitlines()
    assert len(old_lines) == len(new_lines)
    differing = [n for n, (a, b) in enumerate(zip(old_lines, new_lines, strict=True)) if a != b]
    assert len(differing) <= len(changes)
    names = {key.split(".")[-1] for key in changes}
    for n in differing:
        # Only the value changed: the key and the indentation before it are as they were.
        before, after = old_lines[n].partition(":")[0], new_lines[n].partition(":")[0]
        assert before == after and before.strip().strip('"') in names


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(doc=DOCS, data=st.data())
def test_yaml_edits_give_exactly_the_intended_document(
    tmp_path: Path, doc: dict[str, Any], data: st.DataObject
) -> None:
    text = "# params\n" + yaml.safe_dump(doc, sort_keys=False, allow_unicode=True, width=10_000)
    path = tmp_path / "params.yaml"
    path.write_text(text, encoding="utf-8")
    assume(same_document(load_params(path), doc))  # a document both YAML versions read alike
    new_values = st.one_of(st.booleans(), st.integers(), st.floats(), st.text(max_size=12))
    _edit_and_check(path, text, doc, data, new_values)


@settings(
    max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(doc=DOCS, data=st.data())
def test_json_edits_give_exactly_the_intended_document(
    tmp_path: Path, doc: dict[str, Any], data: st.DataObject
) -> None:
    text = json.dumps(doc, indent=2, ensure_ascii=False) + "\n"
    new_values = st.one_of(
        st.booleans(),
        st.integers(),
        st.floats(allow_nan=False, allow_infinity=False),
        st.text(max_size=12),
    )
    _edit_and_check(tmp_path / "params.json", text, doc, data, new_values)


@pytest.mark.parametrize(
    ("text", "like"),
    [
        ("1_000", 1),
        ("7 7", 1),
        ("0x10", 1),
        ("nan", 0.5),
        ("inf", 0.5),
        ("-inf", 0.5),
        ("1e999", 0.5),
        ("1_0.5", 0.5),
        ("", 0.5),
    ],
)
def test_form_values_are_plain_finite_numbers(text: str, like: float) -> None:
    from mlv.errors import InvalidArgumentError
    from mlv.runs.params_edit import parse_like

    with pytest.raises(InvalidArgumentError):
        parse_like(text, like, "train.lr")


def test_form_numbers_as_people_type_them() -> None:
    from mlv.runs.params_edit import parse_like

    assert parse_like(" 42 ", 1, "k") == 42
    assert parse_like("-3", 1, "k") == -3
    assert parse_like("1e-3", 0.5, "k") == 0.001
    assert parse_like(".5", 0.5, "k") == 0.5
    assert parse_like("2", 0.5, "k") == 2.0 and isinstance(parse_like("2", 0.5, "k"), float)


@pytest.mark.parametrize("suffix", [".yaml", ".json", ".toml"])
@pytest.mark.parametrize("text", ["a\x85b", "line\u2028sep", "para\u2029sep", "\x85"])
def test_values_holding_line_breaks_other_than_newline_stay_on_their_line(
    tmp_path: Path, suffix: str, text: str
) -> None:
    from mlv.runs.params import load_params
    from mlv.runs.params_edit import set_params

    path = tmp_path / f"params{suffix}"
    original = {
        ".yaml": "# kept\ntrain:\n  name: old\n  lr: 0.1\n",
        ".json": '{\n  "train": {\n    "name": "old",\n    "lr": 0.1\n  }\n}\n',
        ".toml": '[train]\nname = "old"\nlr = 0.1\n',
    }[suffix]
    path.write_text(original, encoding="utf-8")
    set_params(path, {"train.name": text})
    assert load_params(path)["train"] == {"name": text, "lr": 0.1}
    written = path.read_text(encoding="utf-8")
    assert len(written.splitlines()) == len(original.splitlines())
