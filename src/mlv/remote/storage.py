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

import builtins
import contextlib
import os
import re
import stat
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO, Protocol
from urllib.parse import urlsplit

from mlv.core.paths import is_temporary_name, temporary_name
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


# How much of a file is read, or written, at a time: bounds the memory of a transfer.
CHUNK_SIZE = 8 * 1024 * 1024

# What ``put_file`` and ``get_to_file`` call with the bytes moved since the last call.
Progress = Callable[[int], None]


@dataclass(frozen=True)
class Entry:
    """One key of a listing: its size in bytes and when it was last written."""

    key: str
    size: int
    modified: float
    """POSIX seconds: S3's LastModified, or the file's mtime."""


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

    def entries(self, prefix: str) -> Iterator[Entry]:
        """What :meth:`list` gives, with each key's modification time as well."""
        ...

    def put_file(self, key: str, path: Path, *, progress: Progress | None = None) -> None:
        """:meth:`put` with the bytes of the local file ``path``, of any size, read in
        bounded memory; ``progress(n)`` hears of each ``n`` bytes as they are read for
        sending. A ``RemoteError`` when ``path`` cannot be read or changes size meanwhile.
        """
        ...

    def get_range(self, key: str, start: int, length: int) -> bytes:
        """Exactly ``length`` bytes of ``key`` from offset ``start``; a ``RemoteError``
        when the key is absent or too short (truncated) to hold them all."""
        ...

    def get_ranges(self, key: str, ranges: Sequence[tuple[int, int]]) -> builtins.list[bytes]:
        """:meth:`get_range` for each ``(start, length)`` in ``ranges``, in one go."""
        ...

    def get_to_file(self, key: str, path: Path, *, progress: Progress | None = None) -> int | None:
        """Write all of ``key`` to the local file ``path`` in bounded memory and return its
        size; None, writing nothing, when the key is absent.

        ``path`` is replaced whole, by rename, once every byte has come; it is not fsynced.
        """
        ...

    def open_upload(self, folder: str, scratch: Path, progress: Progress | None) -> Upload:
        """A new object of any size, written piece by piece before its key is known (a
        pack, named by the hash of its bytes), to land in ``folder``; ``scratch`` is a
        local folder for what must be staged before it is sent."""
        ...

    def sweep_uploads(self, folder: str, cutoff: float, *, dry_run: bool) -> builtins.list[Entry]:
        """Remove what uploads to ``folder`` left unfinished when they were killed, last
        written before ``cutoff`` (POSIX seconds); what was (or, ``dry_run``, would be)
        removed."""
        ...


class Upload(Protocol):
    """An object being written: no reader sees any of it until ``finish`` lands it whole
    at its key; ``abandon`` leaves nothing behind."""

    def write(self, data: bytes) -> None: ...

    def finish(self, key: str) -> None: ...

    def abandon(self) -> None: ...


class StagedUpload:
    """An upload staged in a local file, then sent by ``put_file``: for a remote that
    cannot take an object before it is named (S3)."""

    def __init__(self, storage: Storage, scratch: Path, progress: Progress | None) -> None:
        self.storage, self.progress = storage, progress
        self.path = scratch / temporary_name("upload")
        self._file = open(self.path, "xb")  # noqa: SIM115 - closed in finish/abandon

    def write(self, data: bytes) -> None:
        self._file.write(data)

    def finish(self, key: str) -> None:
        try:
            self._file.close()
            self.storage.put_file(key, self.path, progress=self.progress)
        finally:
            self.abandon()

    def abandon(self) -> None:
        with contextlib.suppress(OSError):  # a close after a failed write fails again
            self._file.close()
        with contextlib.suppress(OSError):
            self.path.unlink()


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


def check_ranges(ranges: Sequence[tuple[int, int]]) -> None:
    """A ``ValueError`` for a ``(start, length)`` pair that is negative: a programming error."""
    for start, length in ranges:
        if start < 0 or length < 0:
            raise ValueError(f"bad byte range (start {start}, length {length}): negative")


def truncated(url: str, key: str, size: int, start: int, length: int) -> RemoteError:
    """The error for a range past the end of a ``size``-byte object."""
    return RemoteError(
        f"remote {url}: {key} is truncated: it holds {size} bytes, and bytes "
        f"{start} to {start + length} were asked for; the remote may be damaged"
    )


class LocalFile:
    """A local file being uploaded: read in the chunks the uploader asks for, counted.

    ``read`` and ``seek`` are all an uploader needs (obstore reads one part at a time).
    A file that ends before, or runs past, the size it had when opened fails the read,
    so that no upload of it completes; ``changed`` then says so.
    """

    def __init__(self, file: BinaryIO, size: int, progress: Progress | None) -> None:
        self.file, self.size, self.progress = file, size, progress
        self.sent = 0
        self.changed = False

    def read(self, n: int = -1) -> bytes:
        data = self.file.read(n if n >= 0 else max(self.size - self.sent + 1, 1))
        self.sent += len(data)
        if self.sent > self.size or (not data and n != 0 and self.sent != self.size):
            self.changed = True
            raise OSError(f"the file changed size while being sent ({self.size} bytes at first)")
        if data and self.progress is not None:
            self.progress(len(data))
        return data

    def seek(self, offset: int, whence: int = os.SEEK_SET) -> int:
        return self.file.seek(offset, whence)

    def tell(self) -> int:
        return self.file.tell()


def open_local(url: str, key: str, path: Path) -> tuple[BinaryIO, int]:
    """``path`` opened for reading, and its size; a ``RemoteError`` when it is no file."""
    try:
        # Non-blocking, so that a FIFO is refused below rather than waited on.
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError as exc:
        raise RemoteError(
            f"remote {url}: cannot upload {path} as {key}: {exc.strerror or exc}"
        ) from None
    st = os.fstat(fd)
    if not stat.S_ISREG(st.st_mode):
        os.close(fd)
        raise RemoteError(f"remote {url}: cannot upload {path} as {key}: it is not a file")
    return open(fd, "rb"), st.st_size


def changed_error(url: str, key: str, path: Path) -> RemoteError:
    """The error for a local file whose size changed while it was being uploaded."""
    return RemoteError(
        f"remote {url}: cannot upload {path} as {key}: it changed size while being sent, "
        "and nothing was written; upload it again once nothing is writing it"
    )


def missing(url: str, key: str) -> RemoteError:
    """The error for a range of a key that is not there."""
    return RemoteError(f"remote {url}: cannot read {key}: there is no such key")


def write_download(
    url: str, key: str, path: Path, chunks: Iterator[bytes], progress: Progress | None
) -> int:
    """Write ``chunks`` to a temporary beside ``path``, then rename it into place; the size.

    An error of the local file is a ``RemoteError`` naming it; one of ``chunks`` is raised
    as it is. Either way the temporary is removed and ``path`` is left as it was.
    """
    tmp = path.with_name(temporary_name(path.name))
    size = 0
    try:
        with _local_errors(url, key, path):
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o666)
        with open(fd, "wb") as f:
            for chunk in chunks:
                with _local_errors(url, key, path):
                    f.write(chunk)
                size += len(chunk)
                if progress is not None and chunk:
                    progress(len(chunk))
        with _local_errors(url, key, path):
            os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise
    return size


@contextlib.contextmanager
def _local_errors(url: str, key: str, path: Path) -> Iterator[None]:
    try:
        yield
    except OSError as exc:
        raise RemoteError(
            f"remote {url}: cannot download {key} to {path}: {exc.strerror or exc}"
        ) from None


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
