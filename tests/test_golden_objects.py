"""Golden bytes: a fixed object of each metadata type, its exact canonical bytes and id.

These pin the object format (docs/format.md, "Canonical JSON" and "Objects"). The bytes
and ids were computed once and pasted here. A change that makes one fail alters the
bytes, and so the ids, of stored objects: it is a format change, which needs a new
format version, a reader for the old one and an entry in the changes log of
docs/format.md. Never make one pass by pasting new values for an unchanged format.

Each object is chosen to exercise the spelling rules: floats in fixed and exponent
notation, -0.0, integers at both ends of the 64-bit ranges, escapes and raw non-ASCII.
The manifest, tree and commit are pinned in tests/test_model.py and listed here too, so
that ``test_every_object_type_is_pinned`` sees every type; to add a type (or change one
in a new format), add (or update) its row in ``GOLDEN``.
"""

from __future__ import annotations

import importlib
import json
import pkgutil
from typing import Any, NamedTuple

import pytest

import mlv.model
from mlv.core.hashing import hash_bytes
from mlv.errors import FormatError
from mlv.model.canonical import dumps
from mlv.model.notes import Notes
from mlv.model.objects import Commit, Person, StoredObject, Tree, object_type
from mlv.model.runs import Artifact, Env, ParamsUse, Reproduction, Run
from mlv.model.tables import ColumnProfile, Profile, ProfileMap
from test_model import (
    GOLDEN_COMMIT,
    GOLDEN_COMMIT_BYTES,
    GOLDEN_COMMIT_ID,
    GOLDEN_MANIFEST,
    GOLDEN_MANIFEST_BYTES,
    GOLDEN_TREE_BYTES,
    GOLDEN_TREE_ENTRIES,
    GOLDEN_TREE_ID,
)

# Ids the objects below point at: any 64 hex digits would do.
ID_TRAIN = hash_bytes(b"train")
ID_IMAGES = hash_bytes(b"images")
ID_MODEL = hash_bytes(b"model")
ID_METRICS = hash_bytes(b"metrics")
ID_METRICS_REBUILT = hash_bytes(b"metrics2")
ID_PARAMS = hash_bytes(b"params")
ID_CODE = hash_bytes(b"code")
ID_COMMIT = hash_bytes(b"commit")
ID_NOTES_BEFORE = hash_bytes(b"notes before")

ENV = Env(
    python="3.11.7",
    implementation="CPython",
    platform="Linux-6.1.0-x86_64-with-glibc2.36",
    machine="x86_64",
    packages={"numpy": "1.26.4", "scikit-learn": "1.4.2", "pandas": "2.2.1"},
    variables={"PYTHONHASHSEED": "0", "OMP_NUM_THREADS": "1", "TZ": "Europe/Zürich"},
)
RUN = Run(
    name="train",
    cmd='python train.py --out "models/model.pkl"\tlr=1e-3',
    wdir="src",
    deps={
        "data/train.csv": Artifact(ID_TRAIN, "file", 1_048_576),
        "data/images": Artifact(ID_IMAGES, "dir", 0),
    },
    outs={
        "models/model.pkl": Artifact(ID_MODEL, "file", 73_021),
        "metrics.json": Artifact(ID_METRICS, "file", 64),
    },
    params={
        "params.yaml": ParamsUse(
            Artifact(ID_PARAMS, "file", 120),
            {
                "train.lr": 0.001,
                "train.epochs": 20,
                "train.seed": -1,
                "train.decay": 1e-07,
                "model.name": "résnet",
                "train.shuffle": True,
                "train.warmup": None,
            },
        )
    },
    metrics={
        "metrics.json": {
            "acc": 0.9312,
            "loss": 0.30000000000000004,
            "steps": 10_000_000_000_000_000,
            "big": 1e16,
            "zero": -0.0,
            "auc": "nan",
        }
    },
    env="c4b201baa62c3262321b825ec84b4ad3ba423b48e9721666e412e05e0032ef5d",  # ENV's id
    started=1_700_000_000,
    duration_ms=84_250,
    exit_code=0,
    user="Ada Lovelace <ada@example.com>",
    host="gpu-01",
    pipeline="mlv.yaml",
    variables={"PYTHONHASHSEED": "0"},
    code={"git": "468ef3aee34252441ce3a7d1ccc74f6ba9866b0a", "dirty": False, "tree": ID_CODE},
)
REPRODUCTION = Reproduction(
    commit=ID_COMMIT,
    runs=("728d9c338c9e0e4d8edd395ae6efe149262447489ae089fe22de6200cd77c494",),  # RUN's id
    results={
        "models/model.pkl": {
            "result": "identical",
            "detail": "",
            "run": "train",
            "recorded": ID_MODEL,
            "rebuilt": ID_MODEL,
            "max_rel_diff": 0.0,
            "values_moved": 0,
        },
        "metrics.json": {
            "result": "close",
            "detail": "acc moved by 2.5e-05",
            "run": "train",
            "recorded": ID_METRICS,
            "rebuilt": ID_METRICS_REBUILT,
            "max_rel_diff": 2.684e-05,
            "values_moved": 1,
        },
    },
    verdict="reproduced",
    env="c4b201baa62c3262321b825ec84b4ad3ba423b48e9721666e412e05e0032ef5d",
    drift={"numpy": ["1.26.4", "2.0.0"], "python": ["3.11.7", "3.12.1"]},
    options={"rtol": 1e-05, "atol": 1e-08, "exact": False, "target": "", "error": ""},
    user="Grace Hopper <grace@example.com>",
    host="laptop",
    time=1_700_086_400,
    duration_ms=91_002,
)
PROFILE = Profile(
    table_format="csv",
    rows=1_000_000,
    columns=(
        ColumnProfile("id", "uint64", 0, 0, 2**64 - 1, 9.223372036854776e18, 1_000_000),
        ColumnProfile("delta", "int64", 12, -(2**63), 42, -1234.5, 8191),
        ColumnProfile("ratio", "double", 0, -0.0, 1.5e-05, 0.1, 999_983),
        ColumnProfile("tiny", "float", 3, 5e-324, 1.7976931348623157e308, "Infinity", 10),
        ColumnProfile("city\tname", "string", 0, "Ålesund", 'Zürich "center"\n', None, 2),
        ColumnProfile("ok", "bool", 1, False, True, None, 2),
    ),
)
NOTES = Notes(
    parents=(ID_NOTES_BEFORE,),
    records=("79fe17caa586812f7955ddcc56c80fbe28a14218752e74bedaea49e182fb8573",),  # REPRODUCTION
)

ENV_BYTES = (
    '{"format":1,"implementation":"CPython","machine":"x86_64","packages":{"numpy":'
    '"1.26.4","pandas":"2.2.1","scikit-learn":"1.4.2"},"platform":'
    '"Linux-6.1.0-x86_64-with-glibc2.36","python":"3.11.7","type":"env","variables":'
    '{"OMP_NUM_THREADS":"1","PYTHONHASHSEED":"0","TZ":"Europe/Zürich"}}'
).encode()
ENV_ID = "c4b201baa62c3262321b825ec84b4ad3ba423b48e9721666e412e05e0032ef5d"

RUN_BYTES = (
    '{"cmd":"python train.py --out \\"models/model.pkl\\"\\tlr=1e-3","code":{"dirty":false,'
    '"git":"468ef3aee34252441ce3a7d1ccc74f6ba9866b0a","tree":'
    '"bd124bf390b2978f6fa38a38904b8d7d773fc518b52ebefa6462bf2d7b6f5a3f"},"deps":'
    '{"data/images":{"id":'
    '"a4cf1c7ce5df043b27cbb98fb4ff77d3cf672e92b31d43932336e30398111623","kind":"dir",'
    '"size":0},"data/train.csv":{"id":'
    '"4164c05580806a157d3dc6db8c3bc17c5625cc86cce39e4dd067048a2591795a","kind":"file",'
    '"size":1048576}},"duration_ms":84250,"env":'
    '"c4b201baa62c3262321b825ec84b4ad3ba423b48e9721666e412e05e0032ef5d","exit_code":0,'
    '"format":1,"host":"gpu-01","metrics":{"metrics.json":{"acc":0.9312,"auc":"nan","big":'
    '1e+16,"loss":0.30000000000000004,"steps":10000000000000000,"zero":-0.0}},"name":'
    '"train","outs":{"metrics.json":{"id":'
    '"2027aff71522eaa5d33b3611777d0cdaccb184a4a9f95729207c36398feaa748","kind":"file",'
    '"size":64},"models/model.pkl":{"id":'
    '"ccca53791b024d98ee5d8c126d923e16f6cede945beb0b93c9abca301ed453e7","kind":"file",'
    '"size":73021}},"params":{"params.yaml":{"id":'
    '"a15f1a1ae723480d69ab9071cb95a38b03943f317e93649c02509ef5f8b1b74f","kind":"file",'
    '"size":120,"values":{"model.name":"résnet","train.decay":1e-07,"train.epochs":20,'
    '"train.lr":0.001,"train.seed":-1,"train.shuffle":true,"train.warmup":null}}},'
    '"pipeline":"mlv.yaml","started":1700000000,"type":"run","user":'
    '"Ada Lovelace <ada@example.com>","variables":{"PYTHONHASHSEED":"0"},"wdir":"src"}'
).encode()
RUN_ID = "728d9c338c9e0e4d8edd395ae6efe149262447489ae089fe22de6200cd77c494"

REPRODUCTION_BYTES = (
    b'{"commit":"6fbcae62efa762c892db387f34ade5692a3abe31025814ee67ec014d4ba3ed05","drift":'
    b'{"numpy":["1.26.4","2.0.0"],"python":["3.11.7","3.12.1"]},"duration_ms":91002,"env":'
    b'"c4b201baa62c3262321b825ec84b4ad3ba423b48e9721666e412e05e0032ef5d","format":1,"host":'
    b'"laptop","options":{"atol":1e-08,"error":"","exact":false,"rtol":1e-05,"target":""},'
    b'"results":{"metrics.json":{"detail":"acc moved by 2.5e-05","max_rel_diff":2.684e-05,'
    b'"rebuilt":"5820c8a50d0da74e6e665fa08074241cc2c3e6cf177dd41561983ff954507e00",'
    b'"recorded":"2027aff71522eaa5d33b3611777d0cdaccb184a4a9f95729207c36398feaa748",'
    b'"result":"close","run":"train","values_moved":1},"models/model.pkl":{"detail":"",'
    b'"max_rel_diff":0.0,"rebuilt":'
    b'"ccca53791b024d98ee5d8c126d923e16f6cede945beb0b93c9abca301ed453e7","recorded":'
    b'"ccca53791b024d98ee5d8c126d923e16f6cede945beb0b93c9abca301ed453e7","result":'
    b'"identical","run":"train","values_moved":0}},"runs":'
    b'["728d9c338c9e0e4d8edd395ae6efe149262447489ae089fe22de6200cd77c494"],"time":'
    b'1700086400,"type":"reproduction","user":"Grace Hopper <grace@example.com>","verdict":'
    b'"reproduced"}'
)
REPRODUCTION_ID = "79fe17caa586812f7955ddcc56c80fbe28a14218752e74bedaea49e182fb8573"

PROFILE_BYTES = (
    '{"columns":[{"distinct":1000000,"max":18446744073709551615,"mean":'
    '9.223372036854776e+18,"min":0,"name":"id","nulls":0,"type":"uint64"},{"distinct":8191,'
    '"max":42,"mean":-1234.5,"min":-9223372036854775808,"name":"delta","nulls":12,"type":'
    '"int64"},{"distinct":999983,"max":1.5e-05,"mean":0.1,"min":-0.0,"name":"ratio",'
    '"nulls":0,"type":"double"},{"distinct":10,"max":1.7976931348623157e+308,"mean":'
    '"Infinity","min":5e-324,"name":"tiny","nulls":3,"type":"float"},{"distinct":2,"max":'
    '"Zürich \\"center\\"\\n","mean":null,"min":"Ålesund","name":"city\\tname","nulls":0,'
    '"type":"string"},{"distinct":2,"max":true,"mean":null,"min":false,"name":"ok","nulls":'
    '1,"type":"bool"}],"format":1,"rows":1000000,"table_format":"csv","type":"profile"}'
).encode()
PROFILE_ID = "045180f5de461f60b39190eeb98d5b56f0183e69d938371fea20381d7d11eb92"

NOTES_BYTES = (
    b'{"format":1,"parents":'
    b'["352388db9b6d1f3e209fe2bc4e1fa5fbc10620066643e5bc442aad1fc8d89ec7"],"records":'
    b'["79fe17caa586812f7955ddcc56c80fbe28a14218752e74bedaea49e182fb8573"],"type":"notes"}'
)
NOTES_ID = "4ca7db61c921ed2029c97aa7e5d35e66bf8618e9c3ce54ffb1d10b0f17befb75"

PROFILE_MAP = ProfileMap({ID_TRAIN: PROFILE_ID, ID_IMAGES: hash_bytes(b"profile2")})
PROFILE_MAP_BYTES = (
    b'{"format":1,"profiles":{"4164c05580806a157d3dc6db8c3bc17c5625cc86cce39e4dd067048a2591795a"'
    b':"045180f5de461f60b39190eeb98d5b56f0183e69d938371fea20381d7d11eb92",'
    b'"a4cf1c7ce5df043b27cbb98fb4ff77d3cf672e92b31d43932336e30398111623":'
    b'"263f308b0ed59ff45accbf0985366c04bc54d6cfb9b7274ea9695e1790eecc43"},"type":"profiles"}'
)
PROFILE_MAP_ID = "9866907ed20721fd2dfc354366cb3b6955f0e581d74d53ac591884af9002a98b"

# A commit of format 2 that holds tables first: ``profiles`` names its profile map. A
# commit without one has no ``profiles`` key at all (GOLDEN_COMMIT, tests/test_model.py).
COMMIT_WITH_PROFILES = Commit(
    tree=hash_bytes(b"tree"),
    parents=(ID_COMMIT,),
    author=Person("Ada Lovelace", "ada@example.com"),
    time=1_700_000_000,
    tz_offset=60,
    message="tables\n",
    profiles=PROFILE_MAP_ID,
)
COMMIT_WITH_PROFILES_BYTES = (
    b'{"author":{"email":"ada@example.com","name":"Ada Lovelace"},"code":{},"format":1,'
    b'"message":"tables\\n","parents":'
    b'["6fbcae62efa762c892db387f34ade5692a3abe31025814ee67ec014d4ba3ed05"],"profiles":'
    b'"9866907ed20721fd2dfc354366cb3b6955f0e581d74d53ac591884af9002a98b","runs":[],"time":'
    b'1700000000,"tree":"6baa6c9f461fe834a9da0ebb62e0f6fb8c11988a58cbc51b8da8040aea19bc3a",'
    b'"type":"commit","tz_offset":60}'
)
COMMIT_WITH_PROFILES_ID = "8dcb21852b608594136232eedf3912584d989500e8d6a172f582d280276a3364"


def test_a_commit_that_names_a_profile_map_has_golden_bytes() -> None:
    assert COMMIT_WITH_PROFILES.to_bytes() == COMMIT_WITH_PROFILES_BYTES
    assert COMMIT_WITH_PROFILES.id == COMMIT_WITH_PROFILES_ID
    assert Commit.from_bytes(COMMIT_WITH_PROFILES_BYTES) == COMMIT_WITH_PROFILES
    # Absent is absent: a null would be a second spelling of the same commit.
    null = COMMIT_WITH_PROFILES_BYTES.replace(
        b'"9866907ed20721fd2dfc354366cb3b6955f0e581d74d53ac591884af9002a98b"', b"null"
    )
    with pytest.raises(FormatError):
        Commit.from_bytes(null)


def test_an_empty_profile_map_is_refused() -> None:
    with pytest.raises(FormatError, match="empty"):
        ProfileMap.from_bytes(b'{"format":1,"profiles":{},"type":"profiles"}')


class Golden(NamedTuple):
    obj: StoredObject
    data: bytes
    id: str


GOLDEN: dict[str, Golden] = {
    "env": Golden(ENV, ENV_BYTES, ENV_ID),
    "run": Golden(RUN, RUN_BYTES, RUN_ID),
    "reproduction": Golden(REPRODUCTION, REPRODUCTION_BYTES, REPRODUCTION_ID),
    "profile": Golden(PROFILE, PROFILE_BYTES, PROFILE_ID),
    "notes": Golden(NOTES, NOTES_BYTES, NOTES_ID),
    "profiles": Golden(PROFILE_MAP, PROFILE_MAP_BYTES, PROFILE_MAP_ID),
    # Pinned in tests/test_model.py (a format change edits them there).
    "file": Golden(GOLDEN_MANIFEST, GOLDEN_MANIFEST_BYTES, hash_bytes(GOLDEN_MANIFEST_BYTES)),
    "tree": Golden(Tree.of(GOLDEN_TREE_ENTRIES), GOLDEN_TREE_BYTES, GOLDEN_TREE_ID),
    "commit": Golden(GOLDEN_COMMIT, GOLDEN_COMMIT_BYTES, GOLDEN_COMMIT_ID),
}


@pytest.mark.parametrize("name", sorted(GOLDEN))
def test_the_object_encodes_to_its_golden_bytes(name: str) -> None:
    golden = GOLDEN[name]
    assert name == golden.obj.TYPE
    assert golden.obj.to_bytes() == golden.data
    assert golden.obj.id == golden.id


@pytest.mark.parametrize("name", sorted(GOLDEN))
def test_the_golden_bytes_decode_to_the_object(name: str) -> None:
    golden = GOLDEN[name]
    decoded = type(golden.obj).from_bytes(golden.data)
    assert decoded == golden.obj
    assert decoded.to_bytes() == golden.data
    assert object_type(golden.data) == name


@pytest.mark.parametrize("name", sorted(GOLDEN))
def test_the_id_is_the_blake3_of_the_golden_bytes(name: str) -> None:
    golden = GOLDEN[name]
    assert hash_bytes(golden.data) == golden.id
    # The bytes are canonical JSON as docs/format.md writes it: no other encoder's.
    assert dumps(json.loads(golden.data)) == golden.data


def test_the_ids_pointed_at_are_those_of_the_golden_objects() -> None:
    # The run names the env, the reproduction the run, the notes entry the reproduction.
    assert RUN.env == REPRODUCTION.env == ENV_ID
    assert REPRODUCTION.runs == (RUN_ID,)
    assert NOTES.records == (REPRODUCTION_ID,)


def _stored_object_types() -> dict[str, type[StoredObject]]:
    for module in pkgutil.iter_modules(mlv.model.__path__):
        importlib.import_module(f"mlv.model.{module.name}")
    found: dict[str, type[StoredObject]] = {}
    todo: list[Any] = list(StoredObject.__subclasses__())
    while todo:
        cls = todo.pop()
        todo.extend(cls.__subclasses__())
        if "TYPE" in vars(cls):
            found[cls.TYPE] = cls
    return found


def test_every_object_type_is_pinned() -> None:
    # A new object type (or a new format of one) comes with golden bytes here.
    types = _stored_object_types()
    assert sorted(types) == sorted(GOLDEN)
    for name, cls in types.items():
        assert type(GOLDEN[name].obj) is cls
