"""What several test modules share: the real `mlv` command, its environment, file writing."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path

from mlv.model.objects import Person
from mlv.store.objectstore import ObjectStore

MLV = str(Path(sys.executable).with_name("mlv"))
ENV = {**os.environ, "MLV_AUTHOR_NAME": "Safety", "MLV_AUTHOR_EMAIL": "safety@example.com"}
ENV.pop("MLV_DEBUG", None)
AUTHOR = Person("Safety", "safety@example.com")


def mlv(cwd: Path, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    """Run the real `mlv` console script."""
    return subprocess.run(
        [MLV, *args],
        cwd=cwd,
        env=env or ENV,
        capture_output=True,
        text=True,
        errors="replace",
        timeout=60,
    )


def one_error_line(proc: subprocess.CompletedProcess) -> str:
    """Exit 2, exactly one stderr line starting `mlv: error:`, no traceback anywhere."""
    out = proc.stdout + proc.stderr
    assert "Traceback" not in out, out
    assert proc.returncode == 2, out
    lines = proc.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("mlv: error: "), proc.stderr
    return lines[0]


def write_files(root: Path, files: Mapping[str, str | bytes]) -> None:
    """Write each path (relative to ``root``) with its text or bytes, creating folders."""
    for rel, content in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content)


def snapshot(folder: Path, *, skip: tuple[str, ...] = (".mlv",)) -> dict[str, bytes | str]:
    """Every file (its content) and symlink (its target) under ``folder``, by POSIX path;
    folders named in ``skip`` are left out wherever they are."""
    found: dict[str, bytes | str] = {}
    for dirpath, dirs, files in os.walk(folder):
        dirs[:] = [d for d in dirs if d not in skip]
        for name in files + [d for d in dirs if os.path.islink(os.path.join(dirpath, d))]:
            full = Path(dirpath) / name
            rel = full.relative_to(folder).as_posix()
            found[rel] = os.readlink(full) if full.is_symlink() else full.read_bytes()
    return found


def flip_last_byte(store: ObjectStore, object_id: str) -> None:
    """Damage one stored record on disk: the last byte of its payload, inverted."""
    location = store.index.lookup(bytes.fromhex(object_id))
    assert location is not None
    pack = store.packs_dir / location.pack
    os.chmod(pack, 0o644)
    with open(pack, "r+b") as f:
        f.seek(location.offset + location.length - 1)
        last = f.read(1)
        f.seek(-1, os.SEEK_CUR)
        f.write(bytes([last[0] ^ 0xFF]))
