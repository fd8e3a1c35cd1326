"""Errors raised while reading pipeline and params files."""

from __future__ import annotations

from mlv.errors import PipelineError

__all__ = ["ParamsKeyError", "PipelineError"]


class ParamsKeyError(PipelineError, KeyError):
    """A dotted key names nothing in a params document.

    A ``KeyError`` too, so that callers probing for optional keys can catch it
    the ordinary way.
    """

    def __init__(self, key: str, message: str) -> None:
        self.key = key
        super().__init__(message)

    def __str__(self) -> str:
        # KeyError would print the repr of the message, quotes and all.
        return str(self.args[0]) if self.args else ""
