"""``.mlv/config.toml``: the repository's format version and settings."""

from __future__ import annotations

import os
import re
import stat
import tomllib
from dataclasses import dataclass, replace
from pathlib import Path

from mlv.errors import FormatError, MigrationNeededError, UnsupportedVersionError
from mlv.repo.files import atomic_write
from mlv.repo.layout import MIGRATES_FROM, REPOSITORY_FORMAT
from mlv.store.objectstore import DEFAULT_COMPRESSION_LEVEL

# A settings file of a few hundred bytes; far larger is not one mlv wrote.
MAX_CONFIG_BYTES = 1 << 20
# A version shown in a message: its first digits, however long the number in the file.
SHOWN_DIGITS = 20
# The line `format = 1` in [core], as mlv (and a person) writes it, keeping the rest.
_FORMAT_LINE = re.compile(r"^[ \t]*format[ \t]*=[ \t]*(?P<value>[^#\r\n]*?)[ \t]*(#.*)?$", re.M)
_TABLE_LINE = re.compile(r"^[ \t]*\[.*$", re.M)


@dataclass(frozen=True)
class Config:
    format: int = REPOSITORY_FORMAT
    compression_level: int = DEFAULT_COMPRESSION_LEVEL
    # Refuse `add` and `commit` of a table that breaks its contract (mlv.tables.contracts).
    tables_strict: bool = False
    # Profile tables on `add` (mlv.tables.profiles): about 2.5 s per 10 M-row table, once.
    tables_profile: bool = True

    @classmethod
    def default(cls) -> Config:
        return cls()

    @classmethod
    def load(cls, path: Path, *, migrating: bool = False) -> Config:
        """The settings of ``path``; a repository of an older format is refused with the
        advice to run ``mlv migrate``, unless ``migrating`` (``mlv migrate`` itself)."""
        doc = _read_toml(path)
        core, store, tables = (_table(doc, name, path) for name in ("core", "store", "tables"))
        # mlv 0.2 read a missing format as 1: such a repository may hold what only its
        # index knows, and migrate, which costs nothing where nothing is left, must run.
        version = core.get("format", MIGRATES_FROM[0])
        if isinstance(version, bool) or not isinstance(version, int):
            # Not a version number at all: still a format this mlv cannot read.
            raise UnsupportedVersionError(
                f"{path}: core.format is {_kind(version)}, not the integer {REPOSITORY_FORMAT} "
                "this mlv reads: fix it, or upgrade mlv"
            )
        if version != REPOSITORY_FORMAT and version not in MIGRATES_FROM:
            advice = (
                "upgrade mlv"
                if version > REPOSITORY_FORMAT
                # No mlv wrote it: a newer mlv would not read it either.
                else f"no mlv writes it; fix {path}"
            )
            raise UnsupportedVersionError(
                f"this repository has format {_shown(version)}; this mlv reads format "
                f"{REPOSITORY_FORMAT}: {advice}"
            )
        level = store.get("compression_level", DEFAULT_COMPRESSION_LEVEL)
        if isinstance(level, bool) or not isinstance(level, int) or not 1 <= level <= 22:
            raise FormatError(f"{path}: store.compression_level must be an integer from 1 to 22")
        strict = tables.get("strict", False)
        if not isinstance(strict, bool):
            raise FormatError(f"{path}: tables.strict must be true or false")
        profile = tables.get("profile", True)
        if not isinstance(profile, bool):
            raise FormatError(f"{path}: tables.profile must be true or false")
        # A wrong setting is said before the advice to migrate: fix it, then migrate.
        if version in MIGRATES_FROM and not migrating:
            raise MigrationNeededError(
                f"this repository has format {version} (written by mlv 0.2); this mlv reads "
                f"format {REPOSITORY_FORMAT}: run 'mlv migrate' to convert it"
            )
        return cls(
            format=version,
            compression_level=level,
            tables_strict=strict,
            tables_profile=profile,
        )

    def save(self, path: Path) -> None:
        text = (
            "# mlv repository settings\n"
            "[core]\n"
            f"format = {self.format}\n\n"
            "[store]\n"
            f"compression_level = {self.compression_level}\n\n"
            "[tables]\n"
            f"strict = {'true' if self.tables_strict else 'false'}\n"
            f"profile = {'true' if self.tables_profile else 'false'}\n"
        )
        atomic_write(path, text.encode())


def write_format(path: Path, version: int) -> None:
    """Set ``core.format`` in ``path`` to ``version``, keeping every other line as it is:
    comments, and the keys and tables of other tools or a newer mlv, which ``save``
    (writing only what mlv knows) would drop. A file whose ``format`` line cannot be
    found as mlv writes it (a dotted key, an inline table) is written whole by ``save``."""
    text = _read_text(path)
    doc = _parse_toml(text, path)
    expected = {**doc, "core": {**_table(doc, "core", path), "format": version}}
    edited = _with_format(text, version)
    if _parses_to(edited, expected):
        atomic_write(path, edited.encode())
    else:
        replace(Config.load(path, migrating=True), format=version).save(path)


def _with_format(text: str, version: int) -> str:
    """``text`` with the value of the ``format`` line of its ``[core]`` table replaced
    (added when it has none). The caller checks that it parses as intended."""
    tables = list(_TABLE_LINE.finditer(text))
    for i, table in enumerate(tables):
        if table.group().strip().replace(" ", "") != "[core]":
            continue
        end = tables[i + 1].start() if i + 1 < len(tables) else len(text)
        line = _FORMAT_LINE.search(text, table.end(), end)
        if line is None:
            return f"{text[: table.end()]}\nformat = {version}{text[table.end() :]}"
        return f"{text[: line.start('value')]}{version}{text[line.end('value') :]}"
    # No [core] table: one at the end, where it cannot take in another table's keys.
    return f"{text.rstrip()}\n\n[core]\nformat = {version}\n"


def read_settings(path: Path) -> tuple[str, dict[str, object]]:
    """A settings file's text and what it parses to; any way it cannot be read is one
    FormatError (for the modules that edit their own tables of it)."""
    text = _read_text(path)
    return text, _parse_toml(text, path)


def parses_to(text: str, expected: dict[str, object]) -> bool:
    """Whether ``text`` is TOML that reads as ``expected``: an edit is checked so."""
    return _parses_to(text, expected)


def _parses_to(text: str, expected: dict[str, object]) -> bool:
    try:
        return tomllib.loads(text) == expected
    except (tomllib.TOMLDecodeError, ValueError, RecursionError):
        return False


def _shown(version: int) -> str:
    digits = str(version)
    if len(digits) <= SHOWN_DIGITS:
        return digits
    return f"{digits[:SHOWN_DIGITS]}… ({len(digits)} digits)"


def _read_toml(path: Path) -> dict[str, object]:
    """The parsed file; every way it can fail to be a TOML document is one FormatError."""
    return _parse_toml(_read_text(path), path)


def _read_text(path: Path) -> str:
    """The file's text, read once and without blocking; every way it can fail to be a
    settings file is one FormatError."""
    try:
        # O_NONBLOCK: a FIFO in its place must not hang every command.
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
    except FileNotFoundError:
        raise FormatError(
            f"{path} is missing: the repository is damaged; "
            f"recreate it with the two lines '[core]' and 'format = {REPOSITORY_FORMAT}'"
        ) from None
    except PermissionError:
        raise FormatError(f"{path} cannot be read: permission denied; make it readable") from None
    except OSError as exc:
        raise FormatError(f"{path} cannot be read: {exc.strerror}") from None
    mode = os.fstat(fd).st_mode
    if not stat.S_ISREG(mode):
        os.close(fd)
        what = "a folder" if stat.S_ISDIR(mode) else "a special file"
        raise FormatError(f"{path} is {what}, not a file: move it away and recreate the file")
    with open(fd, "rb") as f:
        try:
            data = f.read(MAX_CONFIG_BYTES + 1)
        except OSError as exc:
            raise FormatError(f"{path} cannot be read: {exc.strerror}") from None
    if len(data) > MAX_CONFIG_BYTES:
        raise FormatError(f"{path} is larger than {MAX_CONFIG_BYTES} bytes: it is not mlv's")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise FormatError(
            f"{path} is not UTF-8 text (byte {exc.start} cannot be decoded): fix or rewrite it"
        ) from None


def _parse_toml(text: str, path: Path) -> dict[str, object]:
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise FormatError(f"{path} is not valid TOML: {exc}") from None
    except (ValueError, RecursionError):
        # tomllib's own limits: integers of over 4300 digits, arrays nested too deep.
        raise FormatError(
            f"{path} is not valid TOML for mlv: a value is too long or nested too deep"
        ) from None


def _table(doc: dict[str, object], name: str, path: Path) -> dict[str, object]:
    value = doc.get(name, {})
    if not isinstance(value, dict):
        raise FormatError(f"{path}: {name} must be a table ([{name}]), not {_kind(value)}")
    return value


def _kind(value: object) -> str:
    """A TOML value's type, as a message names it."""
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int):
        return "an integer"
    if isinstance(value, float):
        return "a number with a fraction"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "an array"
    if isinstance(value, dict):
        return "a table"
    return "a date or time"
