"""mlv: version control for machine learning data, code, runs and models."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from mlv.version import __version__

if TYPE_CHECKING:
    from mlv.api import Repo

__all__ = ["Repo", "__version__", "open"]


def __getattr__(name: str) -> Any:
    # Lazy, so that `import mlv` (and the CLI's start-up) stays cheap.
    if name == "Repo":
        from mlv.api import Repo

        return Repo
    if name == "open":
        from mlv.api import open_version

        return open_version
    raise AttributeError(name)
