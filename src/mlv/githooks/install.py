"""Install and remove mlv's git hooks, chaining with the hooks that were there before."""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mlv.errors import InvalidArgumentError, MlvError
from mlv.githooks.scripts import CHAINED_SUFFIX, chains, hook_script, is_mlv_hook

HOOKS = ("pre-commit", "post-checkout", "post-merge", "pre-push")


@dataclass(frozen=True)
class HookState:
    """One hook after an install, an uninstall, or as ``status`` finds it.

    ``state`` is one of: installed, updated, unchanged, chained (the hook that was there
    runs first), replaced (kept beside it but not run: ``--force``), removed, restored (the
    kept hook is back in place), absent, mlv, mlv-chained, mlv-replacing, other (a hook that
    is not mlv's; left alone).
    """

    name: str
    path: str
    state: str

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "path": self.path, "state": self.state}


@dataclass(frozen=True)
class GitPlace:
    hooks_dir: Path
    workdir: str  # the mlv root relative to the git work tree's top


def find_git(root: Path) -> GitPlace:
    """The hooks folder git uses for the work tree at or above ``root``, and mlv's place in it."""
    from dulwich.errors import NotGitRepository
    from dulwich.repo import Repo as GitRepo

    try:
        git = GitRepo.discover(root)
    except NotGitRepository:
        raise InvalidArgumentError(
            f"not a git repository (or any parent up to /): {root}; run 'git init' first"
        ) from None
    with git:
        top = Path(git.path).resolve()
        try:
            configured = git.get_config_stack().get((b"core",), b"hooksPath")
        except KeyError:
            configured = None
        if configured:
            # As git does: ~ expands, and a relative path starts at the work tree's top.
            hooks = Path(os.path.expanduser(os.fsdecode(configured)))
            hooks_dir = hooks if hooks.is_absolute() else top / hooks
        else:
            # Linked work trees share the main repository's hooks.
            hooks_dir = Path(git.commondir()) / "hooks"
    return GitPlace(hooks_dir, os.path.relpath(root.resolve(), top))


def default_mlv_command() -> str:
    """The ``mlv`` script beside the running interpreter (its venv's), else ``mlv`` on PATH."""
    beside = Path(sys.executable).with_name("mlv")
    return str(beside) if beside.is_file() else "mlv"


def install(root: Path, force: bool = False, mlv_command: str | None = None) -> list[HookState]:
    """Write mlv's hooks into the git repository around the mlv project at ``root``.

    A hook that is already there and is not mlv's is renamed to ``<hook>.pre-mlv`` and
    mlv's hook runs it first (with ``force``, it is kept but not run). Installing again
    rewrites mlv's hooks and keeps what they chain.
    """
    place = find_git(root)
    command = mlv_command or default_mlv_command()
    try:
        place.hooks_dir.mkdir(parents=True, exist_ok=True)
        return [_install_one(place, name, command, force) for name in HOOKS]
    except PermissionError as exc:
        raise MlvError(
            f"cannot write git hooks in {place.hooks_dir}: permission denied ({exc.filename})"
        ) from None
    except OSError as exc:
        raise MlvError(f"cannot write git hooks in {place.hooks_dir}: {exc.strerror}") from None


def _install_one(place: GitPlace, name: str, command: str, force: bool) -> HookState:
    path = place.hooks_dir / name
    kept = place.hooks_dir / f"{name}{CHAINED_SUFFIX}"
    existing = _read(path)
    state = "installed"
    if existing is not None and not is_mlv_hook(existing):
        if os.path.lexists(kept):
            raise InvalidArgumentError(
                f"{path} is not mlv's hook and {kept.name} already exists beside it; "
                "move one of them away, then run 'mlv hooks install' again"
            )
        # A rename keeps the user's file exactly: bytes, mode, even a symlink.
        os.rename(path, kept)
        state = "replaced" if force else "chained"
    elif existing is not None:
        state = "updated"
    chain = os.path.lexists(kept) and not force
    script = hook_script(name, command, place.workdir, chain).encode()
    if existing == script:
        return HookState(name, str(path), "unchanged")
    _write_executable(path, script)
    return HookState(name, str(path), state)


def uninstall(root: Path) -> list[HookState]:
    """Remove mlv's hooks and put back the hooks they kept; leave every other hook alone."""
    place = find_git(root)
    try:
        return [_uninstall_one(place, name) for name in HOOKS]
    except OSError as exc:
        raise MlvError(f"cannot change git hooks in {place.hooks_dir}: {exc.strerror}") from None


def _uninstall_one(place: GitPlace, name: str) -> HookState:
    path = place.hooks_dir / name
    kept = place.hooks_dir / f"{name}{CHAINED_SUFFIX}"
    existing = _read(path)
    if existing is not None and not is_mlv_hook(existing):
        return HookState(name, str(path), "other")
    if existing is not None:
        path.unlink()
    if os.path.lexists(kept):
        os.rename(kept, path)
        return HookState(name, str(path), "restored")
    return HookState(name, str(path), "removed" if existing is not None else "absent")


def hook_states(root: Path) -> list[HookState]:
    """Which of mlv's hooks are installed, and whether each chains a kept hook."""
    place = find_git(root)
    states = []
    for name in HOOKS:
        path = place.hooks_dir / name
        content = _read(path)
        if content is None:
            state = "absent"
        elif not is_mlv_hook(content):
            state = "other"
        elif chains(content):
            state = "mlv-chained"
        elif os.path.lexists(place.hooks_dir / f"{name}{CHAINED_SUFFIX}"):
            state = "mlv-replacing"
        else:
            state = "mlv"
        states.append(HookState(name, str(path), state))
    return states


def _read(path: Path) -> bytes | None:
    """The hook's bytes; a dangling symlink reads as empty (it is not mlv's)."""
    if not os.path.lexists(path):
        return None
    try:
        return path.read_bytes()
    except FileNotFoundError:
        return b""


def _write_executable(path: Path, data: bytes) -> None:
    # Written beside and renamed, so git never runs half a script.
    tmp = path.with_name(f".{path.name}.{os.urandom(6).hex()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o755)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.chmod(tmp, 0o755)  # the umask may have taken bits off
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
