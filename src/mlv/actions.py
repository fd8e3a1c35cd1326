"""Actions: commands that ``mlv.yaml`` declares around ``commit`` and ``merge``.

They are not git hooks (``mlv.githooks``) nor the extension points capabilities
register at (``mlv.repo.extensions``); the file names them ``hooks:``, as users know them.

```yaml
hooks:
  pre-commit:                 # before a commit; a failure aborts it
    - mlv check
    - name: data tests
      cmd: pytest -q tests/data
  post-commit:                # after it; a failure is reported, the commit stays
    - ./notify.sh
  pre-merge:                  # before a merge; a failure aborts it
    - mlv check
```

Each command runs with ``sh -c`` at the repository root, its output going where
mlv's goes, with the operation's facts in ``MLV_*`` environment variables:
``MLV_EVENT``, ``MLV_REPO``, ``MLV_BRANCH``, ``MLV_HEAD``, and for commits
``MLV_MESSAGE`` and ``MLV_AUTHOR`` (``MLV_COMMIT`` after it), for merges
``MLV_MERGE_SOURCE`` and ``MLV_MERGE_SOURCE_COMMIT``. They run without mlv's lock
held, so an action may itself run mlv.
"""

from __future__ import annotations

import subprocess
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from mlv.errors import HookFailedError, PipelineError

CONFIG_FILE = "mlv.yaml"
SECTION = "hooks"
EVENTS = ("pre-commit", "post-commit", "pre-merge")


@dataclass(frozen=True)
class Action:
    event: str
    name: str
    cmd: str


def load_actions(root: Path) -> dict[str, list[Action]]:
    """The ``hooks:`` section of the root ``mlv.yaml``, by event; {} without one."""
    if not (root / CONFIG_FILE).exists():
        return {}  # and no YAML parser to import: 50 ms of every commit
    from mlv.core.yamlio import mlv_yaml_section

    section = mlv_yaml_section(root, SECTION)
    if section is None:
        return {}
    if not isinstance(section, dict):
        raise PipelineError(
            f"{CONFIG_FILE}: 'hooks:' must map events ({', '.join(EVENTS)}) to commands"
        )
    found: dict[str, list[Action]] = {}
    for event, items in section.items():
        if event not in EVENTS:
            raise PipelineError(
                f"{CONFIG_FILE}: unknown hook event '{event}'; events: {', '.join(EVENTS)}"
            )
        items = [items] if isinstance(items, str | dict) else items or []
        if not isinstance(items, list):
            raise PipelineError(f"{CONFIG_FILE}: hooks.{event} must be a list of commands")
        found[event] = [_action(event, i, item) for i, item in enumerate(items, 1)]
    return found


def _action(event: str, position: int, item: Any) -> Action:
    where = f"{CONFIG_FILE}: hooks.{event}, item {position}"
    if isinstance(item, str) and item.strip():
        return Action(event, item.strip(), item)
    if isinstance(item, dict):
        unknown = set(item) - {"name", "cmd"}
        if unknown:
            raise PipelineError(f"{where}: unknown key '{sorted(unknown)[0]}'; keys: name, cmd")
        cmd = item.get("cmd")
        if isinstance(cmd, str) and cmd.strip():
            return Action(event, str(item.get("name") or cmd).strip(), cmd)
    raise PipelineError(f"{where}: give a command, or a mapping with cmd: (and name:)")


def perform_actions(
    actions: list[Action],
    root: Path,
    facts: Mapping[str, str],
    environ: Mapping[str, str],
    *,
    stdout: IO[Any] | int | None = None,
) -> list[str]:
    """Run ``actions`` (one event's, from :func:`load_actions`) in order.

    A failing ``pre-`` action raises ``HookFailedError`` and later ones do not run; a
    failing ``post-`` action becomes a warning (returned) and the others still run.
    """
    if not actions:
        return []
    event = actions[0].event
    env = {**environ, "MLV_EVENT": event, "MLV_REPO": str(root), **facts}
    warnings = []
    for action in actions:
        try:
            code = subprocess.run(
                action.cmd, shell=True, cwd=root, env=env, stdout=stdout
            ).returncode
        except OSError as exc:
            code, reason = 127, str(exc)
        else:
            reason = f"exit code {code}"
        if code == 0:
            continue
        if event.startswith("pre-"):
            operation = event.removeprefix("pre-")
            raise HookFailedError(
                f"{event} hook '{action.name}' failed ({reason}): the {operation} is not made; "
                f"fix what it reports, or change hooks.{event} in {CONFIG_FILE}"
            )
        warnings.append(f"{event} hook '{action.name}' failed ({reason}); the commit stands")
    return warnings
