"""Configuring remotes (``mlv remote add|list|remove|rename|set-url|default``) and
``mlv remote test``, through the CLI and ``mlv.Repo``, on real files."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import tomllib
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conftest import S3Bucket
from helpers import ENV, mlv, one_error_line
from mlv import Repo
from mlv.errors import FormatError, InvalidArgumentError, NotFoundError, RemoteError
from mlv.remote.config import LOCAL_CONFIG_FILE, load_remotes, secrets_of
from mlv.remote.pathstore import PathStorage
from mlv.remote.probe import probe
from s3server import DUMMY_KEYS


def run_mlv(
    root: Path, *args: str, check: bool = True, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess:
    out = mlv(root, *args, env=env)
    if check:
        assert out.returncode == 0, out.stdout + out.stderr
    return out


def _repo(tmp_path: Path) -> Path:
    root = tmp_path / "repo"
    Repo.init(root).close()
    return root


def _config(root: Path) -> dict[str, object]:
    return tomllib.loads((root / ".mlv" / "config.toml").read_text())


def test_add_list_and_the_first_remote_is_the_default(tmp_path: Path) -> None:
    root = _repo(tmp_path)
    shared = tmp_path / "shared"
    shared.mkdir()
    out = run_mlv(root, "remote", "add", "origin", str(shared))
    assert "added remote origin" in out.stdout and "(the default)" in out.stdout
    run_mlv(
        root,
        "remote",
        "add",
        "team",
        "s3://bucket/projects/one/",
        "--endpoint-url",
        "http://127.0.0.1:9000",
        "--region",
        "eu-west-1",
        "--allow-http",
    )
    listed = json.loads(run_mlv(root, "remote", "list", "--json").stdout)
    assert listed["default"] == "origin"
    assert [r["name"] for r in listed["remotes"]] == ["origin", "team"]
    team = listed["remotes"][1]
    # A trailing slash says nothing: the prefix is kept without it.
    assert team["url"] == "s3://bucket/projects/one"
    assert team["endpoint_url"] == "http://127.0.0.1:9000" and team["allow_http"] is True
    text = run_mlv(root, "remote", "list").stdout
    assert text.splitlines()[0].startswith("* origin")
    assert "plain HTTP" in text and "region eu-west-1" in text
    doc = _config(root)
    assert doc["core"] == {"format": 2, "remote": "origin"}
    assert doc["remote"]["origin"] == {"url": str(shared)}  # type: ignore[index]


def test_a_relative_folder_is_kept_as_its_absolute_path(tmp_path: Path) -> None:
    root = _repo(tmp_path)
    with Repo(root) as repo:
        cwd = os.getcwd()
        os.chdir(tmp_path)
        try:
            spec = repo.add_remote("backup", "shared/store")
        finally:
            os.chdir(cwd)
    assert spec.url == str(tmp_path / "shared" / "store")


def test_edits_keep_comments_and_other_settings(tmp_path: Path) -> None:
    root = _repo(tmp_path)
    config = root / ".mlv" / "config.toml"
    config.write_text(
        "# our settings\n[core]\nformat = 2  # do not touch\n\n[tables]\nstrict = true\n"
        "\n[tool.other]\nkey = 'kept'\n"
    )
    config.chmod(0o640)
    with Repo(root) as repo:
        repo.add_remote("origin", "s3://bkt/p")
        repo.add_remote("second", "s3://bkt/q", default=True)
        repo.rename_remote("origin", "first")
        repo.set_remote_url("first", "s3://bkt/r")
        repo.remove_remote("second")
        assert repo.config.tables_strict
    text = config.read_text()
    assert text.startswith("# our settings\n[core]\nformat = 2  # do not touch\n")
    assert "[tool.other]\nkey = 'kept'" in text
    doc = tomllib.loads(text)
    # The default was removed with its remote: none is left until one is named.
    assert doc["core"] == {"format": 2}
    assert doc["remote"] == {"first": {"url": "s3://bkt/r"}}
    assert stat.S_IMODE(config.stat().st_mode) == 0o640
    with Repo(root) as repo, pytest.raises(InvalidArgumentError, match="no default remote"):
        repo.remotes().get(None)


def test_edits_keep_the_remote_tables_mlv_does_not_touch(tmp_path: Path) -> None:
    root = _repo(tmp_path)
    config = root / ".mlv" / "config.toml"
    config.write_text(
        "[core] # main\nformat = 2\n\n"
        '# the team\'s store\n[remote.origin]\nurl = "s3://bkt/p"   # prod mirror\n'
        'custom_note = "keep me"\n\n[remote.origin.extra]\nk = 1\n\n'
        "# settings for the cache\n[cache]\nsize = 3\n"
    )
    with Repo(root) as repo:
        repo.add_remote("backup", str(tmp_path / "b"))
        repo.set_default_remote("backup")
    text = config.read_text()
    assert '[remote.origin]\nurl = "s3://bkt/p"   # prod mirror\ncustom_note = "keep me"' in text
    assert "# the team's store\n" in text and "[remote.origin.extra]\nk = 1" in text
    assert "# settings for the cache\n[cache]\nsize = 3" in text
    assert tomllib.loads(text)["core"] == {"format": 2, "remote": "backup"}
    with Repo(root) as repo:
        repo.remove_remote("origin")
    text = config.read_text()
    assert "origin" not in text and "custom_note" not in text
    # The comment above [cache] describes [cache]: it stays with it.
    assert "# settings for the cache\n[cache]\nsize = 3" in text
    assert tomllib.loads(text)["remote"] == {"backup": {"url": str(tmp_path / "b")}}


def test_a_crlf_config_keeps_its_line_endings(tmp_path: Path) -> None:
    root = _repo(tmp_path)
    config = root / ".mlv" / "config.toml"
    config.write_bytes(b"[core]\r\nformat = 2\r\n")
    with Repo(root) as repo:
        repo.add_remote("origin", "s3://bkt/p")
    data = config.read_bytes()
    assert b"\n" not in data.replace(b"\r\n", b"")
    assert tomllib.loads(data.decode())["core"] == {"format": 2, "remote": "origin"}


def test_remove_rename_set_url_and_default(tmp_path: Path) -> None:
    root = _repo(tmp_path)
    run_mlv(root, "remote", "add", "a", "s3://bucket/a")
    run_mlv(root, "remote", "add", "b", "s3://bucket/b")
    run_mlv(root, "remote", "default", "b")
    assert _config(root)["core"] == {"format": 2, "remote": "b"}
    out = run_mlv(root, "remote", "rename", "b", "bee")
    assert out.stdout.strip() == "renamed remote b to bee"
    assert _config(root)["core"] == {"format": 2, "remote": "bee"}
    run_mlv(root, "remote", "set-url", "bee", "s3://other/b")
    out = run_mlv(root, "remote", "remove", "a")
    assert "what it holds is left as it is" in out.stdout
    assert _config(root)["remote"] == {"bee": {"url": "s3://other/b"}}


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("add", "origin", "gs://bucket/x"), "is not a remote mlv can use"),
        (("add", "origin", "http://example.com/x"), "is not a remote mlv can use"),
        (("add", "origin", "s3:///x"), "bucket"),
        (("add", "origin", "s3://bucket/a\nb"), "control character"),
        (("add", "origin", "file://relative/x"), "file://"),
        (("add", "origin", "file:///tmp/a#b"), "%23"),
        (("add", "origin", "s3://KEY:SECRET@bucket/x"), "config.local.toml"),
        (("add", "origin", "s3://bucket/../x"), "s3://"),
        (("add", "origin", "s3://bucket//a"), "s3://"),
        (("add", "origin", "s3://Bucket/x"), "bucket"),
        (("add", "origin", "s3://bkt/p", "--endpoint-url", "notaurl"), "notaurl"),
        (
            ("add", "origin", "s3://bkt/p", "--endpoint-url", "http://AK:SK@127.0.0.1:9000"),
            "config.local.toml",
        ),
        (("add", "_bad", "s3://bkt/p"), "cannot name a remote"),
        (("add", "has.dot", "s3://bkt/p"), "cannot name a remote"),
        (("add", "a/b", "s3://bkt/p"), "cannot name a remote"),
        (("remove", "nowhere"), "no remote named 'nowhere'"),
        (("rename", "nowhere", "x"), "no remote named 'nowhere'"),
        (("set-url", "nowhere", "s3://bkt/p"), "no remote named 'nowhere'"),
        (("default", "nowhere"), "no remote named 'nowhere'"),
        (("test",), "no remote configured"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(
    tmp_path: Path, args: tuple[str, ...], message: str
) -> None:
    root = _repo(tmp_path)
    before = (root / ".mlv" / "config.toml").read_bytes()
    assert message in one_error_line(run_mlv(root, "remote", *args, check=False))
    assert (root / ".mlv" / "config.toml").read_bytes() == before


def test_a_remote_added_twice_is_refused(tmp_path: Path) -> None:
    root = _repo(tmp_path)
    run_mlv(root, "remote", "add", "origin", "s3://bkt/p")
    out = run_mlv(root, "remote", "add", "origin", "s3://bkt/q", check=False)
    assert out.returncode == 2 and "already exists" in out.stderr
    out = run_mlv(root, "remote", "add", "other", "s3://bkt/q")
    out = run_mlv(root, "remote", "rename", "other", "origin", check=False)
    assert out.returncode == 2 and "already exists" in out.stderr


def test_secrets_in_the_shared_config_are_refused(tmp_path: Path) -> None:
    root = _repo(tmp_path)
    config = root / ".mlv" / "config.toml"
    config.write_text(
        config.read_text() + '\n[remote.origin]\nurl = "s3://bkt/p"\nsecret_access_key = "x"\n'
    )
    line = one_error_line(run_mlv(root, "remote", "list", check=False))
    assert "is a secret, and git shares this file" in line and LOCAL_CONFIG_FILE in line


def test_credentials_live_in_the_local_config_and_follow_a_rename(tmp_path: Path) -> None:
    root = _repo(tmp_path)
    run_mlv(root, "remote", "add", "origin", "s3://bkt/p")
    local = root / ".mlv" / LOCAL_CONFIG_FILE
    local.write_text(
        '# mine\n[remote.origin]\naccess_key_id = "AK"\nsecret_access_key = "SK"\n'
        '\n[remote.unrelated]\naccess_key_id = "U"\n'
    )
    local.chmod(0o600)
    with Repo(root) as repo:
        assert secrets_of(repo.layout, "origin") == {
            "access_key_id": "AK",
            "secret_access_key": "SK",
        }
        repo.rename_remote("origin", "team")
        assert secrets_of(repo.layout, "team")["secret_access_key"] == "SK"
        assert secrets_of(repo.layout, "origin") == {}
        assert secrets_of(repo.layout, "unrelated") == {"access_key_id": "U"}
    assert local.read_text().startswith("# mine\n[remote.team]\n")
    # Rewritten, the file of secrets is still readable by its owner alone.
    assert stat.S_IMODE(local.stat().st_mode) == 0o600


def test_removing_a_remote_removes_its_credentials(tmp_path: Path) -> None:
    root = _repo(tmp_path)
    run_mlv(root, "remote", "add", "origin", "s3://bkt/p")
    local = root / ".mlv" / LOCAL_CONFIG_FILE
    local.write_text('[remote.origin]\nsecret_access_key = "SK"\n\n[remote.other]\nx = "y"\n')
    local.chmod(0o600)
    run_mlv(root, "remote", "remove", "origin")
    assert tomllib.loads(local.read_text()) == {"remote": {"other": {"x": "y"}}}
    assert stat.S_IMODE(local.stat().st_mode) == 0o600
    # Added again, the remote does not sign with the old keys.
    run_mlv(root, "remote", "add", "origin", "s3://ckt/p")
    with Repo(root) as repo:
        assert secrets_of(repo.layout, "origin") == {}


def test_a_rename_that_cannot_carry_the_credentials_writes_nothing(tmp_path: Path) -> None:
    root = _repo(tmp_path)
    run_mlv(root, "remote", "add", "ren", "s3://bkt/p")
    local = root / ".mlv" / LOCAL_CONFIG_FILE
    local.write_text('[remote."ren"]\naccess_key_id = "AK"\n')
    run_mlv(root, "remote", "rename", "ren", "ren2")  # a quoted table is renamed too
    assert tomllib.loads(local.read_text()) == {"remote": {"ren2": {"access_key_id": "AK"}}}
    # Dotted keys are not a table mlv can rename: neither file changes.
    local.write_text('remote.ren2.access_key_id = "AK"\n')
    before = (root / ".mlv" / "config.toml").read_bytes(), local.read_bytes()
    line = one_error_line(run_mlv(root, "remote", "rename", "ren2", "ren3", check=False))
    assert "edit it by hand" in line
    assert ((root / ".mlv" / "config.toml").read_bytes(), local.read_bytes()) == before


def test_git_never_sees_the_local_config(tmp_path: Path) -> None:
    root = _repo(tmp_path)
    subprocess.run(["git", "init", "-q", str(root)], check=True)
    (root / ".mlv" / LOCAL_CONFIG_FILE).write_text('[remote.origin]\naccess_key_id = "AK"\n')
    ignored = subprocess.run(
        ["git", "-C", str(root), "check-ignore", "-q", f".mlv/{LOCAL_CONFIG_FILE}"]
    )
    assert ignored.returncode == 0
    shared = subprocess.run(["git", "-C", str(root), "check-ignore", "-q", ".mlv/config.toml"])
    assert shared.returncode == 1


def test_a_config_mlv_cannot_edit_safely_is_left_alone(tmp_path: Path) -> None:
    root = _repo(tmp_path)
    config = root / ".mlv" / "config.toml"
    # Dotted keys: valid TOML, but no [remote.origin] table whose url line mlv can change.
    config.write_text('remote.origin.url = "s3://bkt/p"\n\n[core]\nformat = 2\n')
    with Repo(root) as repo:
        repo.add_remote("other", "s3://bkt/q")  # a table of its own: that much is safe
        assert sorted(repo.remotes().by_name) == ["origin", "other"]
        added = config.read_bytes()
        assert added.startswith(b'remote.origin.url = "s3://bkt/p"\n')
        with pytest.raises(FormatError, match="edit it by hand"):
            repo.set_remote_url("origin", "s3://bkt/r")
    assert config.read_bytes() == added


_names = st.from_regex(r"[A-Za-z0-9][A-Za-z0-9_-]{0,12}", fullmatch=True)
_prefixes = st.text(
    st.characters(blacklist_categories=("Cs", "Cc"), blacklist_characters="/?#\\"), max_size=12
)


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    st.dictionaries(
        _names,
        st.tuples(_prefixes, st.none() | _prefixes, st.booleans()),
        min_size=1,
        max_size=4,
    ),
    st.data(),
)
def test_any_remotes_round_trip_through_the_file(
    tmp_path_factory: pytest.TempPathFactory,
    remotes: dict[str, tuple[str, str | None, bool]],
    data: st.DataObject,
) -> None:
    root = _repo(tmp_path_factory.mktemp("rt"))
    with Repo(root) as repo:
        for name, (prefix, region, http) in remotes.items():
            repo.add_remote(name, f"s3://bucket/{prefix}x", region=region or None, allow_http=http)
        default = data.draw(st.sampled_from(sorted(remotes)))
        repo.set_default_remote(default)
    with Repo(root) as repo:
        found = load_remotes(repo.layout)
    assert found.default == default
    assert sorted(found.by_name) == sorted(remotes)
    for name, (prefix, region, http) in remotes.items():
        spec = found.by_name[name]
        assert (spec.url, spec.region, spec.allow_http) == (
            f"s3://bucket/{prefix}x",
            region or None,
            http,
        )


# -- mlv remote test ---------------------------------------------------------------


def test_remote_test_on_a_folder_passes_every_check(tmp_path: Path) -> None:
    root = _repo(tmp_path)
    shared = tmp_path / "shared"
    shared.mkdir()
    run_mlv(root, "remote", "add", "origin", str(shared))
    out = run_mlv(root, "remote", "test")
    assert "all checks passed" in out.stdout
    report = json.loads(run_mlv(root, "remote", "test", "origin", "--json").stdout)
    assert report["ok"] is True and report["conditional_writes"] is True
    assert [s["step"] for s in report["steps"]] == [
        "list",
        "write",
        "read",
        "create-if-absent",
        "replace-if-match",
        "delete",
    ]
    # The probe leaves no file behind.
    assert not [p for p in shared.rglob("*") if p.is_file()]


def test_remote_test_of_a_missing_folder_says_so(tmp_path: Path) -> None:
    root = _repo(tmp_path)
    run_mlv(root, "remote", "add", "origin", str(tmp_path / "not-there"))
    assert "not-there" in one_error_line(run_mlv(root, "remote", "test", check=False))


class _LaxFolder(PathStorage):
    """A folder remote that takes every create and replace as a plain write: what a
    server that ignores If-None-Match and If-Match does."""

    def create(self, key: str, data: bytes) -> str | None:
        self.put(key, data)
        found = self.get_with_token(key)
        return found[1] if found else None

    def replace(self, key: str, data: bytes, token: str) -> str | None:
        return self.create(key, data)


def test_a_remote_that_ignores_conditional_writes_fails_the_test(tmp_path: Path) -> None:
    shared = tmp_path / "lax"
    shared.mkdir()
    report = probe(_LaxFolder(shared), "lax")
    assert not report.ok and not report.conditional_writes
    failed = {s.name: s.detail for s in report.steps if not s.ok}
    assert set(failed) == {"create-if-absent", "replace-if-match"}
    assert "If-None-Match" in failed["create-if-absent"]
    assert "If-Match" in failed["replace-if-match"]
    # The probe cleans up after itself even when checks fail.
    assert not [p for p in shared.rglob("*") if p.is_file()]


class _LaxCreate(PathStorage):
    """Ignores If-None-Match only: a second create overwrites."""

    def create(self, key: str, data: bytes) -> str | None:
        self.put(key, data)
        found = self.get_with_token(key)
        return found[1] if found else None


def test_a_remote_that_ignores_only_if_none_match_is_told_apart(tmp_path: Path) -> None:
    shared = tmp_path / "lax"
    shared.mkdir()
    report = probe(_LaxCreate(shared), "lax")
    assert [s.name for s in report.steps if not s.ok] == ["create-if-absent"]
    assert report.conditional_writes is False


def test_a_folder_that_cannot_be_written_is_not_called_unsafe(tmp_path: Path) -> None:
    root = _repo(tmp_path)
    shared = tmp_path / "ro"
    shared.mkdir()
    (shared / "tmp").write_text("a file where the probe's folder goes")
    run_mlv(root, "remote", "add", "ro", str(shared))
    out = run_mlv(root, "remote", "test", check=False)
    assert out.returncode == 1 and "FAIL write" in out.stdout
    assert "conditional writes" not in out.stderr
    report = json.loads(run_mlv(root, "remote", "test", "--json", check=False).stdout)
    assert report["conditional_writes"] is None


def test_facade_errors_are_typed(tmp_path: Path) -> None:
    root = _repo(tmp_path)
    with Repo(root) as repo:
        with pytest.raises(InvalidArgumentError, match="no remote configured"):
            repo.test_remote()
        repo.add_remote("origin", str(tmp_path / "gone"))
        with pytest.raises(RemoteError):
            repo.test_remote("origin")
        with pytest.raises(NotFoundError):
            repo.remove_remote("other")


def _without_aws(env: dict[str, str]) -> dict[str, str]:
    return {k: v for k, v in env.items() if not k.startswith("AWS_")}


def test_remote_test_on_an_s3_server(tmp_path: Path, s3_bucket: S3Bucket) -> None:
    root = _repo(tmp_path)
    env = {**_without_aws(ENV), **DUMMY_KEYS, "NO_PROXY": "127.0.0.1"}
    run_mlv(
        root,
        "remote",
        "add",
        "s3",
        f"s3://{s3_bucket.name}/team/project",
        "--endpoint-url",
        s3_bucket.endpoint,
        "--region",
        s3_bucket.region,
        "--allow-http",
    )
    report = json.loads(run_mlv(root, "remote", "test", "--json", env=env).stdout)
    assert report["ok"] is True and report["conditional_writes"] is True
    assert report["url"].startswith(f"s3://{s3_bucket.name}/team/project")


def test_s3_credentials_come_from_the_local_config(tmp_path: Path, s3_bucket: S3Bucket) -> None:
    root = _repo(tmp_path)
    with Repo(root) as repo:
        repo.add_remote(
            "s3",
            f"s3://{s3_bucket.name}/p",
            endpoint_url=s3_bucket.endpoint,
            region=s3_bucket.region,
            allow_http=True,
        )
    local = root / ".mlv" / LOCAL_CONFIG_FILE
    local.write_text('[remote.s3]\naccess_key_id = "AK"\nsecret_access_key = "SK"\n')
    # No AWS keys anywhere but the local config: the remote is still reached with them.
    env = {**_without_aws(ENV), "NO_PROXY": "127.0.0.1", "HOME": str(tmp_path)}
    out = run_mlv(root, "remote", "test", "--json", env=env)
    assert json.loads(out.stdout)["ok"] is True


def test_remote_test_of_an_s3_server_nobody_runs(tmp_path: Path) -> None:
    root = _repo(tmp_path)
    run_mlv(
        root,
        "remote",
        "add",
        "s3",
        "s3://bucket/p",
        "--endpoint-url",
        "http://127.0.0.1:9",
        "--region",
        "us-east-1",
        "--allow-http",
    )
    env = {**_without_aws(ENV), **DUMMY_KEYS, "NO_PROXY": "127.0.0.1"}
    line = one_error_line(run_mlv(root, "remote", "test", check=False, env=env))
    assert "remote 's3'" in line and "cannot list" in line and "127.0.0.1:9" in line


_OPS = st.lists(
    st.tuples(
        st.sampled_from(["add", "remove", "rename", "set-url", "default"]),
        st.sampled_from(["a", "b", "c-1", "d_2"]),
        st.sampled_from(["a", "b", "c-1", "d_2"]),
    ),
    max_size=8,
)
_FOREIGN = (
    "# settings kept by hand\n[core]  # the core\nformat = 2\n\n"
    "# a tool of ours\n[tool.x]\nkeep = [1, 2]  # yes\n"
)


@settings(
    max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(_OPS)
def test_any_sequence_of_edits_matches_a_model_and_keeps_the_rest(
    tmp_path_factory: pytest.TempPathFactory, ops: list[tuple[str, str, str]]
) -> None:
    root = _repo(tmp_path_factory.mktemp("ops"))
    config = root / ".mlv" / "config.toml"
    config.write_text(_FOREIGN)
    model: dict[str, str] = {}
    default: str | None = None
    with Repo(root) as repo:
        for n, (op, name, other) in enumerate(ops):
            url = f"s3://bkt/{op}-{n}"
            try:
                if op == "add":
                    repo.add_remote(name, url)
                elif op == "remove":
                    repo.remove_remote(name)
                elif op == "rename":
                    repo.rename_remote(name, other)
                elif op == "set-url":
                    repo.set_remote_url(name, url)
                else:
                    repo.set_default_remote(name)
            except (InvalidArgumentError, NotFoundError):
                continue  # refused, as the model says below
            if op == "add":
                assert name not in model
                model[name] = url
                default = default or name
            elif op == "remove":
                del model[name]
                default = None if default == name else default
            elif op == "rename":
                assert name in model and other not in model
                model[other] = model.pop(name)
                default = other if default == name else default
            elif op == "set-url":
                model[name] = url
            else:
                default = name
            found = repo.remotes()
            assert {k: v.url for k, v in found.by_name.items()} == model
            assert found.default == default
    text = config.read_text()
    assert text.startswith("# settings kept by hand\n[core]  # the core\nformat = 2\n")
    assert "# a tool of ours\n[tool.x]\nkeep = [1, 2]  # yes\n" in text
