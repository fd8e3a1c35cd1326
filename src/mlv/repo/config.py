"""``.mlv/config.toml``: the repository's format version and settings."""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from pathlib import Path

from mlv.errors import FormatError, UnsupportedVersionError
from mlv.repo.files import atomic_write
from mlv.repo.layout import REPOSITORY_FORMAT
from mlv.store.objectstore import DEFAULT_COMPRESSION_LEVEL


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
    def load(cls, path: Path) -> Config:
        try:
            doc = tomllib.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise FormatError(f"{path} is missing: the repository is damaged") from None
        except tomllib.TOMLDecodeError as exc:
            raise FormatError(f"{path} is not valid TOML: {exc}") from None
        core = doc.get("core", {})
        version = core.get("format", REPOSITORY_FORMAT)
        if version != REPOSITORY_FORMAT:
            raise UnsupportedVersionError(
                f"this repository has format {version}; this mlv reads format {REPOSITORY_FORMAT}:"
                " upgrade mlv"
            )
        level = doc.get("store", {}).get("compression_level", DEFAULT_COMPRESSION_LEVEL)
        if isinstance(level, bool) or not isinstance(level, int) or not 1 <= level <= 22:
            raise FormatError(f"{path}: store.compression_level must be an integer from 1 to 22")
        tables = doc.get("tables", {})
        strict = tables.get("strict", False) if isinstance(tables, dict) else None
        if not isinstance(strict, bool):
            raise FormatError(f"{path}: tables.strict must be true or false")
        profile = tables.get("profile", True) if isinstance(tables, dict) else None
        if not isinstance(profile, bool):
            raise FormatError(f"{path}: tables.profile must be true or false")
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
