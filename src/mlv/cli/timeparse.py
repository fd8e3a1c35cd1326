"""Parsing ``--since`` / ``--until``: the one reader of times is ``mlv.core.timeparse``."""

from __future__ import annotations

from mlv.core.timeparse import parse_when

__all__ = ["parse_when"]
