"""The remotes a repository names: ``[remote.NAME]`` tables in ``.mlv/config.toml``.

``.mlv/config.toml`` is the one file of ``.mlv`` that git tracks, so a team shares its
remotes' URLs and S3 settings through it. Secrets never go there: credentials come
from the AWS chain (environment, shared files, profiles) or from the same tables in
``.mlv/config.local.toml``, which git never sees. The default remote is
``core.remote``.

Each edit changes only the tables and the one line it is about, keeping comments and
every other setting (``tomledit``); an edit that would not read back as intended
(the file written with dotted keys or inline tables) is refused with advice to edit
the file by hand, and nothing is written.
"""

from __future__ import annotations

import copy
import os
import stat
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

from mlv.errors import FormatError, InvalidArgumentError, NotFoundError, RemoteError
from mlv.remote.storage import check_endpoint_url, file_url_path, parse_s3_url
from mlv.remote.tomledit import (
    Edit,
    appended,
    toml_string,
    with_key,
    with_table_renamed,
    without_tables,
)
from mlv.repo.config import read_settings
from mlv.repo.files import atomic_write
from mlv.repo.layout import Layout
from mlv.repo.refnames import REMOTE_NAME

LOCAL_CONFIG_FILE = "config.local.toml"
# A remote's name is a ref name part (its branches will be refs/remotes/NAME/...) and
# a bare TOML key.
# The S3 settings a table may hold, and what each must be.
_TEXT_KEYS = ("endpoint_url", "region", "profile")
_SECRET_KEYS = ("access_key_id", "secret_access_key", "session_token")


@dataclass(frozen=True)
class RemoteSpec:
    """One configured remote: where it is and how to reach it (no secrets)."""

    name: str
    url: str
    endpoint_url: str | None = None
    region: str | None = None
    profile: str | None = None
    allow_http: bool = False

    def to_json(self) -> dict[str, object]:
        return {
            "name": self.name,
            "url": self.url,
            "endpoint_url": self.endpoint_url,
            "region": self.region,
            "profile": self.profile,
            "allow_http": self.allow_http,
        }


@dataclass(frozen=True)
class Remotes:
    """Every remote of a repository, by name, and the default one's name."""

    by_name: dict[str, RemoteSpec]
    default: str | None

    def get(self, name: str | None) -> RemoteSpec:
        """The remote ``name``; the default one for None."""
        if name is None:
            if self.default is None:
                raise InvalidArgumentError(
                    "no default remote: name one, or set it with 'mlv remote default NAME'"
                    if self.by_name
                    else "no remote configured: add one with 'mlv remote add NAME URL'"
                )
            name = self.default
        spec = self.by_name.get(name)
        if spec is None:
            raise NotFoundError(f"no remote named {name!r}; see 'mlv remote list'")
        return spec


def normalise_url(url: str) -> str:
    """``url`` as a remote's table keeps it: ``s3://bucket[/prefix]`` without a trailing
    ``/``, a ``file://`` URL as given, a folder as its absolute path (a relative one is
    taken from here). A URL no remote could use is refused now, not at the first push."""
    url = url.strip()
    if any(ord(c) < 32 or ord(c) == 127 for c in url):
        # URL parsers drop tabs and line breaks silently: the remote would be another.
        raise InvalidArgumentError(f"{url!r} holds a control character: no remote URL can")
    try:
        if url.startswith("s3://"):
            bucket, prefix = parse_s3_url(url)
            return f"s3://{bucket}/{prefix}" if prefix else f"s3://{bucket}"
        if url.startswith("file://"):
            file_url_path(url)
            return url
    except RemoteError as exc:
        raise InvalidArgumentError(str(exc)) from None
    if "://" in url or not url:
        raise InvalidArgumentError(
            f"{url!r} is not a remote mlv can use: give a folder, file:///PATH or "
            "s3://BUCKET/PREFIX"
        )
    return str(Path(url).expanduser().absolute())


def check_remote_name(name: str) -> str:
    if not REMOTE_NAME.fullmatch(name):
        raise InvalidArgumentError(
            f"{name!r} cannot name a remote: use letters, digits, '-' and '_' "
            "(up to 64, starting with a letter or digit)"
        )
    return name


def load_remotes(layout: Layout) -> Remotes:
    """The remotes ``.mlv/config.toml`` names; a damaged table is one FormatError."""
    path = layout.config
    _, doc = read_settings(path)
    tables = _remote_tables(doc, path)
    by_name = {name: _spec(name, table, path) for name, table in sorted(tables.items())}
    core = doc.get("core", {})
    default = core.get("remote") if isinstance(core, dict) else None
    if default is not None and not isinstance(default, str):
        raise FormatError(f"{path}: core.remote must be a remote's name, a string")
    if default is not None and default not in by_name:
        # A default whose table is gone names nothing: say so where it is used.
        default = None
    return Remotes(by_name, default)


def secrets_of(layout: Layout, name: str) -> dict[str, str]:
    """The credentials ``.mlv/config.local.toml`` keeps for remote ``name``, if any."""
    path = layout.mlv / LOCAL_CONFIG_FILE
    if not path.exists():
        return {}
    _, doc = read_settings(path)
    table = _remote_tables(doc, path).get(name, {})
    found = {}
    for key in _SECRET_KEYS:
        value = table.get(key)
        if value is not None and not isinstance(value, str):
            raise FormatError(f"{path}: remote.{name}.{key} must be a string")
        if value:
            found[key] = value
    return found


def add_remote(layout: Layout, spec: RemoteSpec, *, default: bool = False) -> None:
    """Add ``spec``, its URL normalised; the first remote becomes the default."""
    check_remote_name(spec.name)
    spec = replace(
        spec,
        url=normalise_url(spec.url),
        endpoint_url=_checked_endpoint(spec.endpoint_url),
    )
    remotes = load_remotes(layout)
    if spec.name in remotes.by_name:
        raise InvalidArgumentError(
            f"remote {spec.name!r} already exists; change it with 'mlv remote set-url'"
        )
    text, doc = read_settings(layout.config)
    table = _table_doc(spec)
    edited = appended(text, ("remote", spec.name), {k: _toml_value(v) for k, v in table.items()})
    expected = copy.deepcopy(doc)
    _tables_of(expected)[spec.name] = table
    if default or remotes.default is None:
        edited, expected = _with_default(edited, expected, spec.name)
    _apply(Edit(layout.config, edited, expected))


def remove_remote(layout: Layout, name: str) -> RemoteSpec:
    """Forget remote ``name``, and its credentials in ``.mlv/config.local.toml``."""
    remotes = load_remotes(layout)
    spec = remotes.get(name)
    text, doc = read_settings(layout.config)
    edited = without_tables(text, ("remote", name))
    expected = copy.deepcopy(doc)
    _drop(expected, name)
    if remotes.default == name:
        edited, expected = _with_default(edited, expected, None)
    edits = [Edit(layout.config, edited, expected)]
    local = _local_edit(layout, name, lambda t: without_tables(t, ("remote", name)), None)
    _apply(*edits, *([local] if local else []))
    return spec


def rename_remote(layout: Layout, old: str, new: str) -> None:
    """Rename remote ``old`` (its credentials too); the default follows it."""
    check_remote_name(new)
    remotes = load_remotes(layout)
    remotes.get(old)
    if new in remotes.by_name:
        raise InvalidArgumentError(f"remote {new!r} already exists")
    text, doc = read_settings(layout.config)
    edited = with_table_renamed(text, ("remote", old), new)
    expected = copy.deepcopy(doc)
    tables = _tables_of(expected)
    tables[new] = tables.pop(old)
    if remotes.default == old:
        edited, expected = _with_default(edited, expected, new)
    local = _local_edit(layout, old, lambda t: with_table_renamed(t, ("remote", old), new), new)
    # Both files are checked before either is written: never a remote without its keys.
    _apply(Edit(layout.config, edited, expected), *([local] if local else []))


def set_remote_url(layout: Layout, name: str, url: str) -> None:
    remotes = load_remotes(layout)
    remotes.get(name)
    url = normalise_url(url)
    text, doc = read_settings(layout.config)
    edited = with_key(text, ("remote", name), "url", toml_string(url))
    expected = copy.deepcopy(doc)
    table = _tables_of(expected)[name]
    assert isinstance(table, dict)
    table["url"] = url
    _apply(Edit(layout.config, edited, expected))


def set_default_remote(layout: Layout, name: str) -> None:
    remotes = load_remotes(layout)
    remotes.get(name)
    text, doc = read_settings(layout.config)
    _apply(Edit(layout.config, *_with_default(text, copy.deepcopy(doc), name)))


def _with_default(
    text: str, expected: dict[str, object], name: str | None
) -> tuple[str, dict[str, object]]:
    """``core.remote`` set to ``name`` (removed for None), in the text and the document."""
    core = expected.setdefault("core", {})
    assert isinstance(core, dict)
    if name is None:
        core.pop("remote", None)
        return with_key(text, ("core",), "remote", None), expected
    core["remote"] = name
    return with_key(text, ("core",), "remote", toml_string(name)), expected


def _local_edit(
    layout: Layout, name: str, change: Callable[[str], str], new_name: str | None
) -> Edit | None:
    """The edit of ``.mlv/config.local.toml`` that removes (``new_name`` None) or renames
    the table of remote ``name``; None when the file has none."""
    path = layout.mlv / LOCAL_CONFIG_FILE
    if not path.exists():
        return None
    text, doc = read_settings(path)
    tables = _remote_tables(doc, path)
    if name not in tables:
        return None
    expected = copy.deepcopy(doc)
    table = _tables_of(expected).pop(name)
    if new_name is not None:
        _tables_of(expected)[new_name] = table
    elif not _tables_of(expected):
        del expected["remote"]
    return Edit(path, change(text), expected)


def _apply(*edits: Edit) -> None:
    """Write each edit, every one checked first, each file keeping its mode."""
    for edit in edits:
        edit.check()
    for edit in edits:
        mode = stat.S_IMODE(os.stat(edit.path).st_mode)
        atomic_write(edit.path, edit.text.encode("utf-8"), mode=mode)
        os.chmod(edit.path, mode)


def _tables_of(doc: dict[str, object]) -> dict[str, object]:
    tables = doc.setdefault("remote", {})
    assert isinstance(tables, dict)
    return tables


def _drop(doc: dict[str, object], name: str) -> None:
    tables = _tables_of(doc)
    tables.pop(name, None)
    if not tables:
        del doc["remote"]


def _checked_endpoint(url: str | None) -> str | None:
    if not url:
        return None
    try:
        return check_endpoint_url(url)
    except RemoteError as exc:
        raise InvalidArgumentError(str(exc)) from None


def _toml_value(value: object) -> str:
    return "true" if value is True else toml_string(str(value))


def _remote_tables(doc: dict[str, object], path: Path) -> dict[str, dict[str, object]]:
    value = doc.get("remote", {})
    if not isinstance(value, dict) or not all(isinstance(t, dict) for t in value.values()):
        raise FormatError(f"{path}: remote must hold one table per remote ([remote.NAME])")
    return value


def _spec(name: str, table: dict[str, object], path: Path) -> RemoteSpec:
    if not REMOTE_NAME.fullmatch(name):
        raise FormatError(f"{path}: {name!r} cannot name a remote; rename its table")
    for key in _SECRET_KEYS:
        if key in table:
            raise FormatError(
                f"{path}: remote.{name}.{key} is a secret, and git shares this file: "
                f"move it to .mlv/{LOCAL_CONFIG_FILE}"
            )
    url = table.get("url")
    if not isinstance(url, str) or not url:
        raise FormatError(f"{path}: remote.{name} needs a url (a string)")
    texts: dict[str, str | None] = {}
    for key in _TEXT_KEYS:
        value = table.get(key)
        if value is not None and not isinstance(value, str):
            raise FormatError(f"{path}: remote.{name}.{key} must be a string")
        texts[key] = value or None
    allow_http = table.get("allow_http", False)
    if not isinstance(allow_http, bool):
        raise FormatError(f"{path}: remote.{name}.allow_http must be true or false")
    return RemoteSpec(
        name, url, texts["endpoint_url"], texts["region"], texts["profile"], allow_http
    )


def _table_doc(spec: RemoteSpec) -> dict[str, object]:
    doc: dict[str, object] = {"url": spec.url}
    for key in _TEXT_KEYS:
        value = getattr(spec, key)
        if value is not None:
            doc[key] = value
    if spec.allow_http:
        doc["allow_http"] = True
    return doc
