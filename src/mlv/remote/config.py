"""The remotes a repository names: ``[remote.NAME]`` tables in ``.mlv/config.toml``.

``.mlv/config.toml`` is the one file of ``.mlv`` that git tracks, so a team shares its
remotes' URLs and S3 settings through it. Secrets never go there: credentials come
from the AWS chain (environment, shared files, profiles) or from the same tables in
``.mlv/config.local.toml``, which git never sees. The default remote is
``core.remote``.

Each edit changes only the tables and the one line it is about, keeping comments and
every other setting; an edit that would not read back as intended (the file written
with dotted keys or inline tables) is refused with advice to edit the file by hand.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, replace
from pathlib import Path

from mlv.errors import FormatError, InvalidArgumentError, NotFoundError
from mlv.repo.config import parses_to, read_settings
from mlv.repo.files import atomic_write
from mlv.repo.layout import Layout

LOCAL_CONFIG_FILE = "config.local.toml"
# A remote's name is a ref name part (its branches will be refs/remotes/NAME/...) and
# a bare TOML key.
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,63}")
_TABLE_LINE = re.compile(r"^[ \t]*\[.*$", re.M)
_CORE_REMOTE_LINE = re.compile(r"^[ \t]*remote[ \t]*=.*$", re.M)
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
    """``url`` as a remote's table keeps it: ``s3://bucket[/prefix]`` and ``file://`` URLs
    as given, a folder as its absolute path (a relative one is taken from here)."""
    url = url.strip()
    if url.startswith("s3://"):
        bucket = url[len("s3://") :].split("/", 1)[0]
        if not bucket:
            raise InvalidArgumentError(f"{url} names no bucket: write s3://BUCKET/PREFIX")
        return url.rstrip("/")
    if url.startswith("file://"):
        if not url[len("file://") :].startswith("/"):
            raise InvalidArgumentError(f"{url} is not an absolute file:// URL: write file:///PATH")
        return url
    if "://" in url or not url:
        raise InvalidArgumentError(
            f"{url!r} is not a remote mlv can use: give a folder, file:///PATH or s3://BUCKET/PREFIX"
        )
    return str(Path(url).expanduser().absolute())


def check_remote_name(name: str) -> str:
    if not _NAME.fullmatch(name):
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
    spec = replace(spec, url=normalise_url(spec.url))
    remotes = load_remotes(layout)
    if spec.name in remotes.by_name:
        raise InvalidArgumentError(
            f"remote {spec.name!r} already exists; change it with 'mlv remote set-url'"
        )
    make_default = default or remotes.default is None
    _write(
        layout, {**remotes.by_name, spec.name: spec}, spec.name if make_default else remotes.default
    )


def remove_remote(layout: Layout, name: str) -> RemoteSpec:
    remotes = load_remotes(layout)
    spec = remotes.get(name)
    rest = {n: s for n, s in remotes.by_name.items() if n != name}
    _write(layout, rest, None if remotes.default == name else remotes.default)
    return spec


def rename_remote(layout: Layout, old: str, new: str) -> None:
    check_remote_name(new)
    remotes = load_remotes(layout)
    spec = remotes.get(old)
    if new in remotes.by_name:
        raise InvalidArgumentError(f"remote {new!r} already exists")
    renamed = {(new if n == old else n): s for n, s in remotes.by_name.items()}
    renamed[new] = replace(spec, name=new)
    _write(layout, renamed, new if remotes.default == old else remotes.default)
    _rename_local_table(layout, old, new)


def _rename_local_table(layout: Layout, old: str, new: str) -> None:
    """Carry the remote's credentials in ``.mlv/config.local.toml`` over to its new name."""
    path = layout.mlv / LOCAL_CONFIG_FILE
    if not path.exists():
        return
    text, doc = read_settings(path)
    tables = _remote_tables(doc, path)
    if old not in tables:
        return
    header = re.compile(rf"^([ \t]*)\[[ \t]*remote[ \t]*\.[ \t]*{re.escape(old)}[ \t]*\]", re.M)
    edited = header.sub(rf"\1[remote.{new}]", text)
    rest = {n: t for n, t in tables.items() if n != old}
    expected = {**doc, "remote": {**rest, new: tables[old]}}
    if not parses_to(edited, expected):
        raise FormatError(
            f"remote renamed, but its table in {path} could not be: rename "
            f"[remote.{old}] to [remote.{new}] there by hand"
        )
    atomic_write(path, edited.encode("utf-8"), mode=0o600)


def set_remote_url(layout: Layout, name: str, url: str) -> None:
    remotes = load_remotes(layout)
    spec = remotes.get(name)
    changed = replace(spec, url=normalise_url(url))
    _write(layout, {**remotes.by_name, name: changed}, remotes.default)


def set_default_remote(layout: Layout, name: str) -> None:
    remotes = load_remotes(layout)
    remotes.get(name)
    _write(layout, remotes.by_name, name)


def _remote_tables(doc: dict[str, object], path: Path) -> dict[str, dict[str, object]]:
    value = doc.get("remote", {})
    if not isinstance(value, dict) or not all(isinstance(t, dict) for t in value.values()):
        raise FormatError(f"{path}: remote must hold one table per remote ([remote.NAME])")
    return value


def _spec(name: str, table: dict[str, object], path: Path) -> RemoteSpec:
    if not _NAME.fullmatch(name):
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


def _write(layout: Layout, remotes: dict[str, RemoteSpec], default: str | None) -> None:
    """Rewrite the ``[remote.*]`` tables and ``core.remote``, keeping everything else."""
    path = layout.config
    text, doc = read_settings(path)
    kept = _without_remote_tables(text)
    kept = _with_core_remote(kept, default)
    blocks = "".join(_table_text(spec) for _, spec in sorted(remotes.items()))
    edited = f"{kept.rstrip()}\n{blocks}" if blocks else f"{kept.rstrip()}\n"
    expected = {k: v for k, v in doc.items() if k != "remote"}
    old_core = expected.get("core", {})
    core = (
        {k: v for k, v in old_core.items() if k != "remote"} if isinstance(old_core, dict) else {}
    )
    if default is not None:
        core["remote"] = default
    expected["core"] = core
    if remotes:
        expected["remote"] = {name: _table_doc(spec) for name, spec in remotes.items()}
    if not parses_to(edited, expected):
        raise FormatError(
            f"{path} is written in a way mlv cannot edit safely (dotted keys or inline "
            "tables for core or remote): edit its [remote.NAME] tables by hand"
        )
    atomic_write(path, edited.encode("utf-8"))


def _without_remote_tables(text: str) -> str:
    """``text`` without its ``[remote.NAME]`` tables (header to the next table)."""
    tables = list(_TABLE_LINE.finditer(text))
    pieces, start = [], 0
    for i, table in enumerate(tables):
        header = table.group().strip().replace(" ", "")
        if header.startswith("[remote.") or header == "[remote]":
            end = tables[i + 1].start() if i + 1 < len(tables) else len(text)
            pieces.append(text[start : table.start()])
            start = end
    pieces.append(text[start:])
    return "".join(pieces)


def _with_core_remote(text: str, default: str | None) -> str:
    """``text`` with ``remote = "NAME"`` in its ``[core]`` table (removed for None)."""
    tables = list(_TABLE_LINE.finditer(text))
    line = f"remote = {_toml_string(default)}" if default is not None else None
    for i, table in enumerate(tables):
        if table.group().strip().replace(" ", "") != "[core]":
            continue
        end = tables[i + 1].start() if i + 1 < len(tables) else len(text)
        found = _CORE_REMOTE_LINE.search(text, table.end(), end)
        if found is not None:
            if line is None:
                after = (
                    found.end() + 1 if text[found.end() : found.end() + 1] == "\n" else found.end()
                )
                return text[: found.start()] + text[after:]
            return text[: found.start()] + line + text[found.end() :]
        if line is None:
            return text
        return f"{text[: table.end()]}\n{line}{text[table.end() :]}"
    if line is None:
        return text
    return f"{text.rstrip()}\n\n[core]\n{line}\n"


def _table_doc(spec: RemoteSpec) -> dict[str, object]:
    doc: dict[str, object] = {"url": spec.url}
    for key in _TEXT_KEYS:
        value = getattr(spec, key)
        if value is not None:
            doc[key] = value
    if spec.allow_http:
        doc["allow_http"] = True
    return doc


def _toml_string(text: str) -> str:
    """``text`` as a TOML basic string: JSON's escapes are TOML's too, and TOML also
    wants DEL (U+007F) escaped, which JSON leaves as it is."""
    return json.dumps(text, ensure_ascii=False).replace("\x7f", "\\u007f")


def _table_text(spec: RemoteSpec) -> str:
    lines = [f"\n[remote.{spec.name}]\n"]
    for key, value in _table_doc(spec).items():
        shown = "true" if value is True else _toml_string(str(value))
        lines.append(f"{key} = {shown}\n")
    return "".join(lines)
