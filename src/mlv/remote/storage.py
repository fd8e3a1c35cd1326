"""The one interface every kind of remote gives: bytes by key, with compare-and-swap writes.

A remote holds immutable content-addressed objects, written with :meth:`Storage.put`,
and small mutable files (refs) that change only by compare-and-swap: :meth:`Storage.create`
when absent, :meth:`Storage.replace` when unchanged since read. A *token* names one
version of a key's content; it changes whenever the content is replaced with other bytes.

Keys are ``/``-separated relative names (``refs/heads/main``, ``packs/ab12.pack``). A bad
key is a programming error, a ``ValueError``; a remote that cannot be used is a
``RemoteError``.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol
from urllib.parse import urlsplit

from mlv.core.paths import is_temporary_name
from mlv.errors import RemoteError

# The suffix of the lock file beside a key that a path remote is replacing. Refused as
# the last name of a key, as git refuses a ref named so, so that no key is ever a lock.
LOCK_SUFFIX = ".lock"

ACCEPTED_URLS = (
    "a folder path, a file:// URL or s3://bucket/prefix "
    "(other schemes, such as gs:// or http://, are not supported)"
)

_SCHEME = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*)://")
# A Windows drive ("C:\\remote") would otherwise parse as the scheme "c".
_DRIVE = re.compile(r"^[A-Za-z]:[\\/]")
_BUCKET = re.compile(r"[a-z0-9][a-z0-9.\-_]{1,254}")
# A DNS name (underscores allowed, as container hostnames have them), IPv4, or [IPv6].
_LABEL = r"[A-Za-z0-9_](?:[A-Za-z0-9_-]*[A-Za-z0-9_])?"
_HOST = re.compile(rf"{_LABEL}(?:\.{_LABEL})*\.?|\[[0-9A-Fa-f:.]+\]")


class Storage(Protocol):
    """Bytes by key on a remote; the only way mlv reads or writes one."""

    url: str
    """Where the remote is, as the user should see it."""

    def get(self, key: str) -> bytes | None:
        """The bytes at ``key``; None when there are none."""
        ...

    def get_with_token(self, key: str) -> tuple[bytes, str] | None:
        """The bytes at ``key`` and the token of this version; None when absent."""
        ...

    def put(self, key: str, data: bytes) -> None:
        """Write ``key`` whatever is there: for immutable, content-addressed objects.

        No reader ever sees part of ``data``: it sees the old bytes, or all the new ones.
        """
        ...

    def create(self, key: str, data: bytes) -> str | None:
        """Write ``key`` only if absent; the new token, or None when it already exists."""
        ...

    def replace(self, key: str, data: bytes, token: str) -> str | None:
        """Write ``key`` only if its token is still ``token``; the new token, or None
        when its content changed meanwhile or it is gone."""
        ...

    def delete(self, key: str) -> None:
        """Remove ``key``; nothing happens when it is absent."""
        ...

    def list(self, prefix: str) -> Iterator[tuple[str, int]]:
        """Every key in the folder ``prefix`` (``""`` for all) and below, with its size
        in bytes, in no particular order."""
        ...


@dataclass(frozen=True)
class S3Settings:
    """How to reach an S3 (or S3-compatible) service; None leaves a value to the AWS chain.

    Keys given here win over the environment and any profile. They are left out of the
    repr, so that no log or traceback shows them.
    """

    endpoint_url: str | None = None
    region: str | None = None
    profile: str | None = None
    allow_http: bool = False
    access_key_id: str | None = field(default=None, repr=False)
    secret_access_key: str | None = field(default=None, repr=False)
    session_token: str | None = field(default=None, repr=False)


def key_problem(key: str) -> str | None:
    """Why ``key`` cannot name anything on a remote; None when it can."""
    if not key:
        return "it is empty"
    if key.startswith("/"):
        return "it starts with '/'"
    if "\\" in key or "\x00" in key:
        return "it holds a backslash or a NUL byte"
    for part in key.split("/"):
        if part in ("", ".", ".."):
            return f"it holds the part {part!r}"
        # Both are what a path remote writes beside a key: a key named so would be
        # hidden from `list` there, and visible on S3.
        if is_temporary_name(part):
            return "it has the name of a temporary file"
    if key.endswith(LOCK_SUFFIX):
        return f"it ends with {LOCK_SUFFIX}, the name of a lock file"
    return None


def check_key(key: str) -> str:
    """``key`` itself, or a ``ValueError`` saying why it cannot be used."""
    problem = key_problem(key)
    if problem is not None:
        raise ValueError(f"bad remote key {key!r}: {problem}")
    return key


def check_prefix(prefix: str) -> str:
    """``prefix`` as a folder key without its trailing ``/``; ``""`` is the whole remote."""
    folder = prefix.removesuffix("/")
    if folder:
        check_key(folder)
    return folder


def open_storage(url: str, settings: S3Settings | None = None) -> Storage:
    """The storage at ``url``: a local or mounted folder, ``file://`` URL or ``s3://`` URL.

    ``settings`` is used for ``s3://`` only. obstore is imported here, not at start-up.
    """
    scheme = _scheme(url)
    if scheme == "s3":
        from mlv.remote.s3store import S3Storage

        return S3Storage.from_url(url, settings or S3Settings())
    if scheme == "file":
        from mlv.remote.pathstore import PathStorage

        return PathStorage(file_url_path(url))
    if scheme or not url.strip():
        shown = repr(url) if url.strip() else "an empty URL"
        raise RemoteError(f"cannot use {shown} as a remote: give {ACCEPTED_URLS}")
    from mlv.remote.pathstore import PathStorage

    return PathStorage(Path(url))


def parse_s3_url(url: str) -> tuple[str, str]:
    """The bucket and the prefix (``""`` for the whole bucket) of ``s3://bucket/prefix``.

    A ``RemoteError`` when ``url`` is not such a URL: no or a bad bucket name, keys in
    it, a query or fragment, or a prefix that is not a good key.
    """
    parts = urlsplit(url)
    fix = "write s3://bucket/prefix"
    if _scheme(url) != "s3":
        raise RemoteError(f"cannot use {_shown(url)} as an s3 remote: {fix}")
    if "@" in parts.netloc:
        raise RemoteError(
            f"cannot use {_shown(url)} as a remote: it holds credentials, which must not sit "
            f"in a URL or a shared config; {fix} and put the keys under [remote.NAME] "
            "in .mlv/config.local.toml"
        )
    problem = None
    prefix = parts.path.removeprefix("/").removesuffix("/")
    if not _BUCKET.fullmatch(parts.netloc):
        problem = "it names no bucket, or not a valid bucket name"
    elif "?" in url or "#" in url:
        problem = "an s3:// URL holds no '?' or '#'"
    elif "//" in parts.path:
        problem = "its prefix holds an empty part ('//')"
    elif prefix and key_problem(prefix) is not None:
        problem = f"its prefix {prefix!r} is not a good key: {key_problem(prefix)}"
    if problem is not None:
        raise RemoteError(f"cannot use {_shown(url)} as a remote: {problem}; {fix}")
    return parts.netloc, prefix


def check_endpoint_url(url: str) -> str:
    """``url`` itself when it is an S3 endpoint mlv can use, else a ``RemoteError``.

    Only an absolute ``http://`` or ``https://`` URL with a host, an optional port and
    an optional path: no credentials, query or fragment.
    """
    fix = "write http(s)://host[:port][/path], such as https://s3.example.com"
    shown = _shown(url)
    parts = urlsplit(url)
    problem = None
    if _scheme(url) not in ("http", "https"):
        problem = "it is not an http:// or https:// URL"
    elif "@" in parts.netloc:
        raise RemoteError(
            f"cannot use the S3 endpoint {shown}: it holds credentials, which must not sit "
            "in a URL or a shared config; write it as http(s)://host[:port][/path] and put "
            "the keys under [remote.NAME] in .mlv/config.local.toml"
        )
    elif "?" in url or "#" in url:
        problem = "an endpoint URL holds no '?' or '#'"
    elif any(c.isspace() or not c.isprintable() for c in url):
        problem = "it holds a space or a control character"
    else:
        host = parts.netloc
        port_match = re.fullmatch(r"(.*?)(?::(\d{1,5}))?", host)
        host, port = (port_match[1], port_match[2]) if port_match else (host, None)
        if not _HOST.fullmatch(host):
            problem = "it names no valid host"
        elif port is not None and not 0 < int(port) < 65536:
            problem = f"its port {port} is out of range"
    if problem is not None:
        raise RemoteError(f"cannot use the S3 endpoint {shown}: {problem}; {fix}")
    return url


def file_url_path(url: str) -> Path:
    """The folder a ``file://`` URL names, or a ``RemoteError`` when it names none surely."""
    from urllib.parse import unquote

    parts = urlsplit(url)
    if _scheme(url) != "file":
        raise RemoteError(f"cannot use {url!r} as a file:// URL: write file:///path/to/folder")
    if parts.netloc not in ("", "localhost"):
        raise RemoteError(
            f"cannot use {url!r} as a remote: a file:// URL names a folder on this machine "
            "(file:///path/to/folder); mount the other machine's folder and name it"
        )
    if "?" in url or "#" in url:
        raise RemoteError(
            f"cannot use {url!r} as a remote: in a file:// URL, '?' and '#' end the folder's "
            "path; write the folder's path without file://, or percent-encode # and ? "
            "as %23 and %3F"
        )
    if not parts.path:
        raise RemoteError(f"cannot use {url!r} as a remote: it names no folder")
    return Path(unquote(parts.path))


def _scheme(url: str) -> str:
    """The URL's scheme in lower case; ``""`` for a path (a Windows drive included)."""
    scheme_match = None if _DRIVE.match(url) else _SCHEME.match(url)
    return scheme_match.group(1).lower() if scheme_match else ""


def _shown(url: str) -> str:
    """``url`` quoted for a message, with any ``user:password@`` hidden."""
    scheme_match = _SCHEME.match(url)
    if scheme_match:
        rest = url[scheme_match.end() :]
        authority, sep, tail = rest.partition("/")
        if "@" in authority:
            rest = "***@" + authority.rpartition("@")[2] + sep + tail
            return repr(scheme_match.group(0) + rest)
    return repr(url)
