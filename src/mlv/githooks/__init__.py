"""Git hooks that keep a git repository and the mlv data beside it in step."""

from __future__ import annotations

from mlv.githooks.install import HOOKS, HookState, hook_states, install, uninstall
from mlv.githooks.run import run_hook

__all__ = ["HOOKS", "HookState", "hook_states", "install", "run_hook", "uninstall"]
