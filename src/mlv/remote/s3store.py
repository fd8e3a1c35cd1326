"""A remote in an S3 bucket, or on any service that speaks the S3 API, through obstore.

Compare-and-swap is S3's conditional write: ``create`` sends ``If-None-Match: *``,
``replace`` sends ``If-Match: <etag>``, and a token is the object's ETag. Only this
module imports obstore, and only when a remote command opens an ``s3://`` remote.

Credentials are the keys in ``S3Settings`` when the caller has some for this remote;
else they follow the AWS chain: the ``AWS_*`` environment variables (which obstore
reads), then the static keys of a profile in the shared files ``~/.aws/credentials``
and ``~/.aws/config`` (which obstore does not read, so this module does), then what
obstore finds on its own (container or instance metadata, web identity).
"""

from __future__ import annotations

import builtins
import configparser
import contextlib
import os
import re
from collections.abc import Iterator, Sequence
from datetime import timedelta
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, NoReturn, cast

from obstore import exceptions as obx
from obstore.store import S3Store

from mlv.errors import RemoteError
from mlv.remote.storage import (
    CHUNK_SIZE,
    Entry,
    LocalFile,
    Progress,
    S3Settings,
    StagedUpload,
    Upload,
    changed_error,
    check_endpoint_url,
    check_key,
    check_prefix,
    check_ranges,
    key_problem,
    missing,
    open_local,
    parse_s3_url,
    truncated,
    write_download,
)

if TYPE_CHECKING:
    from obstore import GetResult
    from obstore.store import S3Config

# Fewer and shorter retries than obstore's ten over three minutes: a mistyped endpoint
# should fail in seconds, and a push or fetch can be run again.
RETRIES = 4
RETRY_TIMEOUT = timedelta(seconds=60)

# S3 answers 409 to a conditional write while another one on the same key is in flight:
# that writer may win, so this one has lost the race, as with a 412.
_CONFLICT = "ConditionalRequestConflict"
_NO_BUCKET = "NoSuchBucket"
# What S3 answers a range that starts at or past the end of the object.
_INVALID_RANGE = "InvalidRange"
# Parts of a multipart upload in flight at once, per upload: with CHUNK_SIZE parts, what
# bounds the memory of one (obstore holds one more part while it waits for room).
MAX_CONCURRENCY = 2
_ERRORS = (obx.BaseError, OSError)
# What obstore tries last for credentials, the instance metadata service: its failure is
# what a machine with no AWS credentials at all gets.
_METADATA_HOST = "169.254.169.254"
_NO_CREDENTIALS = (
    "no AWS credentials found: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, name a "
    "profile (--profile or AWS_PROFILE), or put the keys under [remote.NAME] in "
    ".mlv/config.local.toml"
)
# Never turned into a RemoteError: the user, the interpreter or a closed generator.
_NOT_OURS = (KeyboardInterrupt, SystemExit, GeneratorExit)


class S3Storage:
    """A remote under ``prefix`` in ``bucket``.

    ``chunk_size`` (the size of each part of a multipart upload, and of each piece
    read of a download) and ``max_concurrency`` may be changed after opening.
    """

    def __init__(self, bucket: str, prefix: str = "", settings: S3Settings | None = None) -> None:
        settings = settings or S3Settings()
        self.chunk_size, self.max_concurrency = CHUNK_SIZE, MAX_CONCURRENCY
        self.bucket, self.prefix = bucket, prefix
        self.url = f"s3://{bucket}/{prefix}" if prefix else f"s3://{bucket}"
        config = _config(settings, self.url)
        self.endpoint = config.get("endpoint")
        if self.endpoint:
            check_endpoint_url(self.endpoint)
        plain_http = (self.endpoint or "").lower().startswith("http://")
        if plain_http and not settings.allow_http:
            raise RemoteError(
                f"remote {self.url}: the endpoint {self.endpoint} is plain HTTP: use https, or, "
                "if the service is on a trusted network, add the remote again with "
                "--allow-http (mlv remote remove NAME, then mlv remote add … --allow-http)"
            )
        try:
            self._store = S3Store(
                bucket,
                prefix=prefix or None,
                config=config,
                client_options={"allow_http": settings.allow_http},
                retry_config={"max_retries": RETRIES, "retry_timeout": RETRY_TIMEOUT},
            )
        except (*_ERRORS, ValueError) as exc:
            raise RemoteError(f"cannot open remote {self.url}: {_cause(exc)}") from None
        except BaseException as exc:
            self._if_panic("open", "the remote", exc)
            raise

    @classmethod
    def from_url(cls, url: str, settings: S3Settings | None = None) -> S3Storage:
        """The storage at ``s3://bucket/prefix``."""
        bucket, prefix = parse_s3_url(url)
        return cls(bucket, prefix, settings)

    def get(self, key: str) -> bytes | None:
        found = self.get_with_token(key)
        return None if found is None else found[0]

    def _get(self, key: str) -> Any:
        """obstore's answer to a GET of ``key``, or None when there is no such key; every
        other failure is one RemoteError line."""
        check_key(key)
        try:
            with self._call("read", key, absent=True):
                return self._store.get(key)
        except FileNotFoundError:
            return None

    def get_with_token(self, key: str) -> tuple[bytes, str] | None:
        result = self._get(key)
        if result is None:
            return None
        with self._call("read", key):
            data = bytes(result.bytes())
        etag = result.meta["e_tag"]
        if etag is None:
            raise RemoteError(
                f"remote {self.url}: the service sent no ETag for {key}; "
                "mlv needs ETags and conditional writes to update refs safely"
            )
        return data, etag

    def put(self, key: str, data: bytes) -> None:
        check_key(key)
        with self._call("write", key):
            self._store.put(key, data, use_multipart=False)

    def create(self, key: str, data: bytes) -> str | None:
        return self._conditional_put("create", key, data, "create")

    def replace(self, key: str, data: bytes, token: str) -> str | None:
        return self._conditional_put("replace", key, data, {"e_tag": token})

    def delete(self, key: str) -> None:
        check_key(key)
        with contextlib.suppress(FileNotFoundError), self._call("delete", key, absent=True):
            self._store.delete(key)

    def list(self, prefix: str) -> Iterator[tuple[str, int]]:
        for entry in self.entries(prefix):
            yield entry.key, entry.size

    def entries(self, prefix: str) -> Iterator[Entry]:
        folder = check_prefix(prefix)
        with self._call("list", folder or "the remote"):
            for batch in self._store.list(folder or None):
                for meta in batch:
                    # Not mlv's (a console's folder marker, a stray upload): never a key.
                    if key_problem(meta["path"]) is None:
                        modified = meta["last_modified"].timestamp()
                        yield Entry(meta["path"], meta["size"], modified)

    def put_file(self, key: str, path: Path, *, progress: Progress | None = None) -> None:
        check_key(key)
        source, size = open_local(self.url, key, path)
        reader = LocalFile(source, size, progress)
        with source:
            try:
                # Multipart above chunk_size, one part read at a time; obstore aborts the
                # upload when a read or a part fails, so that no object is half written.
                self._store.put(
                    key,
                    cast(IO[bytes], reader),  # obstore needs only read and seek
                    chunk_size=self.chunk_size,
                    max_concurrency=self.max_concurrency,
                )
            except _ERRORS as exc:
                if reader.changed:
                    raise changed_error(self.url, key, path) from None
                self._fail("write", key, exc)
            except BaseException as exc:
                self._if_panic("write", key, exc)
                raise

    def open_upload(self, folder: str, scratch: Path, progress: Progress | None) -> Upload:
        check_prefix(folder)
        return StagedUpload(self, scratch, progress)

    def sweep_uploads(self, folder: str, cutoff: float, *, dry_run: bool) -> builtins.list[Entry]:
        # An upload stages locally (swept with .mlv/tmp); a multipart upload cut short
        # on the server is aborted by the client, or else by the bucket's lifecycle rule
        # (AbortIncompleteMultipartUpload), which obstore cannot list.
        check_prefix(folder)
        return []

    def get_range(self, key: str, start: int, length: int) -> bytes:
        check_key(key)
        check_ranges([(start, length)])
        if length == 0:
            # S3 refuses an empty range: whether there is such a key, and that long, is asked.
            self._check_ranges(key, self._size(key), [(start, length)])
            return b""
        try:
            data = bytes(self._store.get_range(key, start=start, length=length))
        except FileNotFoundError as exc:
            if _NO_BUCKET in str(exc):
                self._fail("read", key, exc)
            raise missing(self.url, key) from None
        except _ERRORS as exc:
            if _INVALID_RANGE in str(exc):
                self._check_ranges(key, self._size(key), [(start, length)])
            self._fail("read", key, exc)
        except BaseException as exc:
            self._if_panic("read", key, exc)
            raise
        if len(data) != length:
            # S3 gives what there is of a range that runs past the end.
            raise truncated(self.url, key, start + len(data), start, length)
        return data

    def get_ranges(self, key: str, ranges: Sequence[tuple[int, int]]) -> builtins.list[bytes]:
        check_key(key)
        check_ranges(ranges)
        if not ranges:
            return []
        # Checked first: obstore panics on a range past the end, and refuses an empty one.
        self._check_ranges(key, self._size(key), ranges)
        wanted = [(start, length) for start, length in ranges if length]
        try:
            found = (
                self._store.get_ranges(
                    key, starts=[r[0] for r in wanted], lengths=[r[1] for r in wanted]
                )
                if wanted
                else []
            )
            pieces = iter([bytes(piece) for piece in found])
        except FileNotFoundError as exc:
            if _NO_BUCKET in str(exc):
                self._fail("read", key, exc)
            raise missing(self.url, key) from None
        except _ERRORS as exc:
            self._fail("read", key, exc)
        except BaseException as exc:
            self._if_panic("read", key, exc)
            raise
        result = [next(pieces) if length else b"" for _, length in ranges]
        for data, (start, length) in zip(result, ranges, strict=True):
            if len(data) != length:  # replaced by a shorter object since the head
                raise truncated(self.url, key, start + len(data), start, length)
        return result

    def get_to_file(self, key: str, path: Path, *, progress: Progress | None = None) -> int | None:
        result = self._get(key)
        if result is None:
            return None
        expected = result.meta["size"]
        size = write_download(self.url, key, path, self._chunks(key, result), progress)
        if size != expected:
            with contextlib.suppress(OSError):
                path.unlink()
            raise truncated(self.url, key, size, 0, expected)
        return size

    def _chunks(self, key: str, result: GetResult) -> Iterator[bytes]:
        with self._call("read", key):
            for chunk in result.stream(min_chunk_size=self.chunk_size):
                yield bytes(chunk)

    def _size(self, key: str) -> int:
        try:
            with self._call("read", key, absent=True):
                return int(self._store.head(key)["size"])
        except FileNotFoundError:
            raise missing(self.url, key) from None

    @contextlib.contextmanager
    def _call(self, action: str, key: str, *, absent: bool = False) -> Iterator[None]:
        """obstore's failures inside as one RemoteError line each, naming ``action`` and
        ``key``. With ``absent``, a missing key stays a FileNotFoundError for the caller
        to answer (a missing bucket never does: it is the remote that is wrong)."""
        try:
            yield
        except FileNotFoundError as exc:
            if not absent or _NO_BUCKET in str(exc):
                self._fail(action, key, exc)
            raise
        except _ERRORS as exc:
            self._fail(action, key, exc)
        except BaseException as exc:
            self._if_panic(action, key, exc)
            raise

    def _check_ranges(self, key: str, size: int, ranges: Sequence[tuple[int, int]]) -> None:
        for start, length in ranges:
            if start + length > size:
                raise truncated(self.url, key, size, start, length)

    def _conditional_put(self, action: str, key: str, data: bytes, mode: Any) -> str | None:
        check_key(key)
        try:
            result = self._store.put(key, data, mode=mode)
        except (obx.AlreadyExistsError, obx.PreconditionError, FileNotFoundError) as exc:
            # Precondition failed: the key exists (create), or changed or is gone (replace).
            if _NO_BUCKET in str(exc):
                self._fail(action, key, exc)
            return None
        except _ERRORS as exc:
            if _CONFLICT in str(exc):
                return None
            self._fail(action, key, exc)
        except BaseException as exc:
            self._if_panic(action, key, exc)
            raise
        if result["e_tag"] is None:
            raise RemoteError(f"remote {self.url}: the service sent no ETag for {key}")
        return result["e_tag"]

    def _fail(self, action: str, key: str, exc: BaseException) -> NoReturn:
        where = f" at {self.endpoint}" if self.endpoint else ""
        if _METADATA_HOST in str(exc):
            raise RemoteError(f"remote {self.url}{where}: {_NO_CREDENTIALS}") from None
        hint = ""
        if isinstance(exc, obx.PermissionDeniedError | obx.UnauthenticatedError):
            hint = "; check the AWS credentials and the bucket's permissions"
        raise RemoteError(
            f"remote {self.url}{where}: cannot {action} {key}: {_cause(exc)}{hint}"
        ) from None

    def _if_panic(self, action: str, key: str, exc: BaseException) -> None:
        """A ``RemoteError`` when ``exc`` is a Rust panic inside obstore (a ``BaseException``,
        which a bad endpoint brings); else nothing, and the caller re-raises ``exc``."""
        if isinstance(exc, _NOT_OURS) or not _is_panic(exc):
            return
        endpoint = self.endpoint or "the default AWS endpoint"
        raise RemoteError(
            f"remote {self.url}: cannot {action} {key}: the S3 client failed on the endpoint "
            f"{endpoint} ({_cause(exc)}); check the endpoint URL: "
            "http(s)://host[:port][/path]"
        ) from None


def _is_panic(exc: BaseException) -> bool:
    # pyo3's PanicException derives from BaseException and lives in a module
    # (pyo3_runtime) that cannot be imported by name: matched by its class name.
    return any(cls.__name__ == "PanicException" for cls in type(exc).__mro__)


def _cause(exc: BaseException) -> str:
    """One line out of obstore's message, which holds a whole debug dump."""
    text = str(exc)
    code = re.search(r"<Code>([^<]*)</Code>", text)
    if code:
        message = re.search(r"<Message>([^<]*)</Message>", text)
        return f"{code[1]}: {message[1]}" if message else code[1]
    # An OS error deep in the chain ("Connection refused") says more than the summary.
    os_message = re.findall(r'message: "([^"]*)"', text)
    if os_message:
        return os_message[-1]
    first = text.strip().splitlines()[0] if text.strip() else type(exc).__name__
    return first[:300]


def _config(settings: S3Settings, url: str) -> S3Config:
    config: S3Config = {}
    if settings.access_key_id:
        # Keys the caller holds for this remote: neither a profile nor the environment counts.
        profile: dict[str, str] = {}
        keys = {
            "access_key_id": settings.access_key_id,
            "secret_access_key": settings.secret_access_key,
            "session_token": settings.session_token,
        }
    else:
        profile = _profile(settings, url)
        keys = {
            "access_key_id": profile.get("aws_access_key_id"),
            "secret_access_key": profile.get("aws_secret_access_key"),
            "session_token": profile.get("aws_session_token"),
        }
    for name, value in keys.items():
        if value:
            config[name] = value  # type: ignore[literal-required]
    region = settings.region
    if region is None and not _environment_region():
        region = profile.get("region")
    if region:
        config["region"] = region
    endpoint = settings.endpoint_url or profile.get("endpoint_url")
    if endpoint:
        config["endpoint"] = endpoint
    return config


def _environment_region() -> str | None:
    """The region the environment names, which obstore reads and a profile's must not hide."""
    return os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION")


def _profile(settings: S3Settings, url: str) -> dict[str, str]:
    """The settings of the AWS profile in use from the shared files; {} when none is.

    The named profile when there is one (``settings.profile``, else ``AWS_PROFILE``);
    else ``default``, unless the environment already holds keys.
    """
    name = settings.profile or os.environ.get("AWS_PROFILE")
    if name is None and os.environ.get("AWS_ACCESS_KEY_ID"):
        return {}
    home = Path.home() / ".aws"
    files = (
        (Path(os.environ.get("AWS_SHARED_CREDENTIALS_FILE") or home / "credentials"), False),
        (Path(os.environ.get("AWS_CONFIG_FILE") or home / "config"), True),
    )
    found: dict[str, str] = {}
    seen = False
    for path, is_config in files:
        section = _section(path, name or "default", is_config, url)
        if section is not None:
            seen = True
            # The credentials file wins over the config file, as in the AWS CLI.
            found = {**section, **found}
    if name is not None and not seen:
        raise RemoteError(
            f"remote {url}: the AWS profile {name!r} is in neither {files[0][0]} "
            f"nor {files[1][0]}; add it there or name another profile"
        )
    if name is not None and "aws_access_key_id" not in found:
        raise RemoteError(
            f"remote {url}: the AWS profile {name!r} holds no aws_access_key_id; mlv reads "
            "only static keys from a profile: set AWS_ACCESS_KEY_ID and "
            "AWS_SECRET_ACCESS_KEY (for example with 'aws configure export-credentials')"
        )
    return found


def _section(path: Path, name: str, is_config: bool, url: str) -> dict[str, str] | None:
    parser = configparser.ConfigParser(interpolation=None)
    try:
        if not parser.read(path, encoding="utf-8"):
            return None
    except (configparser.Error, UnicodeDecodeError) as exc:
        first = str(exc).splitlines()[0]
        raise RemoteError(f"remote {url}: cannot read {path}: {first}") from None
    # ~/.aws/config names a profile "[profile NAME]", except the default one.
    header = f"profile {name}" if is_config and name != "default" else name
    return dict(parser[header]) if parser.has_section(header) else None
