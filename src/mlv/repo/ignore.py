"""``.mlvignore``: paths that ``add`` and ``status`` skip, in gitignore syntax."""

from __future__ import annotations

from pathlib import Path

from mlv.core.paths import read_text_file
from mlv.repo.layout import IGNORE_FILE

# mlv.lock describes the tracked data: tracking it would change what it describes.
ALWAYS_IGNORED = frozenset({".mlv", ".git", "mlv.lock"})


class IgnoreRules:
    """The root ``.mlvignore`` compiled once; pathspec is imported only when one exists."""

    def __init__(self, lines: list[str]) -> None:
        import pathspec

        self._spec = pathspec.GitIgnoreSpec.from_lines(lines)

    @classmethod
    def load(cls, root: Path) -> IgnoreRules | None:
        text = read_text_file(root / IGNORE_FILE, "make it a readable UTF-8 text file")
        if text is None:
            return None
        lines = [line for line in text.splitlines() if line.strip()]
        return cls(lines) if lines else None

    def ignores(self, rel_path: str, is_dir: bool = False) -> bool:
        return bool(self._spec.match_file(rel_path + "/" if is_dir else rel_path))
