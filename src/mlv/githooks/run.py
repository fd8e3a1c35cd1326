"""What each git hook does when git runs it: ``mlv hooks run NAME ARGS``."""

from __future__ import annotations

import shlex
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from mlv.errors import InvalidArgumentError, MlvError

if TYPE_CHECKING:
    from mlv.gitcode.pin import Switcher
    from mlv.remote.config import Remotes
    from mlv.remote.push import PushResult
    from mlv.repo.protocols import Lock, ObjectReader, RefReader, RevisionResolver
    from mlv.repo.results import Status

# How many paths a refusal lists before it says "and N more".
SHOWN_PATHS = 20
NO_REMOTES = "mlv: no mlv remote (core.remote): mlv data is not pushed"
# The environment variable that makes pre-push refuse when there is no mlv remote; the
# CLI reads it (the library never reads the environment) and passes ``require_remote``.
REQUIRE_REMOTE_ENV = "MLV_REQUIRE_REMOTE"


class StatusReader(Protocol):
    """What pre-commit asks about the tracked data: the core repository's ``status``."""

    def status(self) -> Status: ...


class DataPusher(Protocol):
    """What pre-push sends the mlv data with: the facade's ``remotes`` and ``push``."""

    def remotes(self) -> Remotes: ...

    def push(self, remote: str | None = None, refs: Sequence[str] = ()) -> PushResult: ...


@dataclass(frozen=True)
class _Project:
    """The parts of the mlv project the hooks read, check and sync."""

    root: Path
    objects: ObjectReader
    revisions: RevisionResolver
    refs: RefReader
    lock: Lock
    switcher: Switcher
    tracker: StatusReader
    pusher: DataPusher | None = None
    push_input: str = ""
    require_remote: bool = False


def run_hook(
    name: str,
    args: Sequence[str] = (),
    *,
    root: Path,
    objects: ObjectReader,
    revisions: RevisionResolver,
    refs: RefReader,
    lock: Lock,
    switcher: Switcher,
    tracker: StatusReader,
    git_index: str | None = None,
    pusher: DataPusher | None = None,
    push_input: str = "",
    require_remote: bool = False,
) -> tuple[int, str]:
    """Run hook ``name`` with git's arguments; return the exit code and what to tell the user.

    Besides git's hook names, ``status-clean`` and ``lock-current`` run the two halves of
    pre-commit alone (the pre-commit framework's ``mlv-status`` and ``mlv-lock``).
    ``git_index`` is the index file git commits from when it is not the usual one.
    The project at ``root`` is read through ``objects``, ``revisions`` and ``refs``;
    ``tracker`` tells its status, and ``switcher`` checks out, under the write lock
    ``lock``, what ``mlv.lock`` names. pre-push reads git's refs from ``push_input`` (its
    standard input) and sends the mlv data they pin with ``pusher``; with no mlv remote
    it only says so, unless ``require_remote``.
    """
    project = _Project(
        root,
        objects,
        revisions,
        refs,
        lock,
        switcher,
        tracker,
        pusher,
        push_input,
        require_remote,
    )
    hooks: dict[str, Callable[[_Project, Sequence[str]], tuple[int, str]]] = {
        "pre-commit": lambda project, _: _pre_commit(project, git_index),
        "post-checkout": _post_checkout,
        "post-merge": _post_merge,
        "pre-push": _pre_push,
        "status-clean": lambda project, _: _status_problem(project) or (0, ""),
        "lock-current": lambda project, _: _lock_problem(project) or (0, ""),
    }
    hook = hooks.get(name)
    if hook is None:
        raise InvalidArgumentError(f"no hook named {name!r}: known hooks are {', '.join(hooks)}")
    return hook(project, args)


def _pre_commit(project: _Project, git_index: str | None) -> tuple[int, str]:
    found = (
        _status_problem(project),
        _lock_problem(project) or _lock_unstaged(project, git_index),
    )
    problems = [p for p in found if p is not None]
    if not problems:
        return 0, ""
    lines = [message for _, message in problems]
    lines.append("git commit refused by mlv's pre-commit hook (git commit --no-verify skips it)")
    return 1, "\n".join(lines)


def _status_problem(project: _Project) -> tuple[int, str] | None:
    """Tracked data that is not in HEAD: staged, modified or deleted paths.

    Untracked files are not counted, even inside tracked folders: mlv cannot tell a new
    data file from a scratch file, and `mlv status` lists them for the user to decide.
    """
    status = project.tracker.status()
    rows = [("staged", c.path) for c in status.staged]
    rows += [("modified", p) for p in status.modified]
    rows += [("deleted", p) for p in status.deleted]
    if not rows:
        return None
    lines = ["mlv: tracked data has changes that are not in an mlv commit:"]
    lines += [f"  {kind + ':':<9} {path}" for kind, path in rows[:SHOWN_PATHS]]
    if len(rows) > SHOWN_PATHS:
        lines.append(f"  and {len(rows) - SHOWN_PATHS} more (see 'mlv status')")
    to_add = sorted({p for p in (*status.modified, *status.deleted)})
    commit = 'mlv commit -m "..."'
    if to_add:
        shown = " ".join(shlex.quote(p) for p in to_add[:SHOWN_PATHS])
        more = " ..." if len(to_add) > SHOWN_PATHS else ""
        lines.append(f"run: mlv add {shown}{more} && {commit}")
    else:
        lines.append(f"run: {commit}")
    return 1, "\n".join(lines)


def _lock_problem(project: _Project) -> tuple[int, str] | None:
    from mlv.gitcode.pin import pin_is_current

    current = pin_is_current(
        project.root, objects=project.objects, revisions=project.revisions, refs=project.refs
    )
    if current:
        return None
    return 1, (
        "mlv: mlv.lock does not name the current mlv commit (HEAD)\n"
        "run: mlv commit (or mlv lock) and git add mlv.lock"
    )


def _lock_unstaged(project: _Project, git_index: str | None) -> tuple[int, str] | None:
    """A current mlv.lock that git would leave out of the commit."""
    from mlv.gitcode.pin import pin_path
    from mlv.githooks.gitindex import index_matches_file

    path = pin_path(project.root)
    if not path.exists() or index_matches_file(path, git_index):
        return None
    return 1, (
        "mlv: mlv.lock has changes that git has not staged: this commit would go without them\n"
        "run: git add mlv.lock"
    )


def _post_checkout(project: _Project, args: Sequence[str]) -> tuple[int, str]:
    # git passes: previous HEAD, new HEAD, and 1 for a branch checkout, 0 for files.
    if len(args) >= 3 and args[2] != "1":
        return 0, ""
    return _sync(project)


def _post_merge(project: _Project, args: Sequence[str]) -> tuple[int, str]:
    return _sync(project)


def _sync(project: _Project) -> tuple[int, str]:
    """Check out the data ``mlv.lock`` names and say what changed."""
    from mlv.gitcode.pin import read_pin, sync

    if read_pin(project.root) is None:
        return 0, "mlv: no mlv.lock here: no data to sync"
    try:
        result = sync(
            project.root,
            objects=project.objects,
            refs=project.refs,
            lock=project.lock,
            switcher=project.switcher,
        )
    except MlvError as exc:
        return 1, f"mlv: could not sync the data to mlv.lock: {exc}"
    done = result.checkout
    if not result.moved and not done.written and not done.removed:
        return 0, f"mlv: data already matches mlv.lock ({result.commit[:12]})"
    lines = [
        f"mlv: synced the data to mlv.lock ({result.commit[:12]}): "
        f"{len(done.written)} written, {len(done.removed)} removed"
    ]
    lines += [f"  written: {p}" for p in done.written[:SHOWN_PATHS]]
    lines += [f"  removed: {p}" for p in done.removed[:SHOWN_PATHS]]
    hidden = max(0, len(done.written) - SHOWN_PATHS) + max(0, len(done.removed) - SHOWN_PATHS)
    if hidden:
        lines.append(f"  and {hidden} more")
    return 0, "\n".join(lines)


def _pre_push(project: _Project, args: Sequence[str]) -> tuple[int, str]:
    """Put on mlv's default remote every mlv commit that the git commits being pushed
    pin, before git moves its refs: the current mlv branch is pushed when it holds
    them; one it does not hold, and the remote lacks, refuses the git push."""
    from mlv.githooks.prepush import parse_pushed_refs, pinned_commits

    remotes = project.pusher.remotes() if project.pusher is not None else None
    if (remotes is None or remotes.default is None) and not project.require_remote:
        return 0, NO_REMOTES
    try:
        pins = pinned_commits(
            project.root, args[0] if args else "", parse_pushed_refs(project.push_input)
        )
    except MlvError as exc:
        return 1, f"mlv: cannot read what git pushes: {exc}"
    if not pins:
        return 0, "mlv: no mlv.lock in the git commits pushed: no mlv data to push"
    if remotes is None or remotes.default is None or project.pusher is None:
        return 1, (
            f"mlv: no mlv remote (core.remote) and {REQUIRE_REMOTE_ENV} is set: "
            "add one with 'mlv remote add NAME URL' (git push --no-verify skips this)"
        )
    name = remotes.default
    head = project.refs.head()
    on_branch = _reach(project, [head.commit] if head.commit and head.branch else [])
    on_remote = _reach(project, _tracking(project.refs, name))
    wanted = [c for c in pins if c not in on_remote]
    missing = [c for c in wanted if c not in on_branch]
    if missing:
        return 1, _missing_line(project, name, missing, pins)
    if not wanted:
        return 0, f"mlv: the mlv data of these git commits is already on {name}"
    assert head.branch is not None
    try:
        result = project.pusher.push(name, [head.branch])
    except MlvError as exc:
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        return 1, f"mlv: could not push mlv branch {head.branch} to {name}: {reason}"
    return 0, (
        f"mlv: pushed mlv branch {head.branch} to {name} "
        f"({result.objects} objects) for {len(wanted)} pinned commit(s)"
    )


def _tracking(refs: RefReader, remote: str) -> list[str]:
    """The commits of ``remote``'s remote-tracking refs: what it held at the last fetch
    or push."""
    from mlv.repo.refnames import REMOTES

    prefix = f"{remote}/"
    return [c for b, c in refs.list(REMOTES, skip_damaged=True).items() if b.startswith(prefix)]


def _reach(project: _Project, starts: list[str]) -> set[str]:
    from mlv.repo.history import reachable

    try:
        return set(reachable(project.objects.read_commit, starts))
    except MlvError:
        # History this repository lacks: count none of it as held.
        return set()


def _missing_line(project: _Project, remote: str, missing: list[str], pins: dict[str, str]) -> str:
    from mlv.repo.refnames import HEADS

    commit = missing[0]
    more = f" (and {len(missing) - 1} more)" if len(missing) > 1 else ""
    said = f"mlv: git commit {pins[commit][:12]} pins mlv commit {commit[:12]}{more}"
    branches = project.refs.list(HEADS, skip_damaged=True)
    holding = sorted(b for b, tip in branches.items() if commit in _reach(project, [tip]))
    if holding:
        how = f"run 'mlv push {remote} {holding[0]}', then git push again"
    elif project.objects.has(commit):
        how = (
            f"run 'mlv branch NAME {commit[:12]}' and 'mlv push {remote} NAME', then git push again"
        )
    else:
        how = "push it from the repository that made it, then git push again"
    return f"{said}, which {remote} lacks and the current mlv branch does not hold: {how}"
