"""``mlv pull`` and ``mlv clone``: a fetch, then the branch and the working tree.

``pull`` fast-forwards or merges the current branch to the remote-tracking one;
``pull -- PATH`` leaves the branch alone and checks out only PATH from the
remote's branch, receiving only its content. ``clone`` makes a repository, names
the remote ``origin`` (its default), fetches, and checks out a branch: the one
asked for, else ``main``, else the remote's only or first branch.

A clone with ``--no-data`` (or ``-- PATH``) is *partial*: ``.mlv/partial`` names
its remote, fetches take history alone, and content arrives when a command
reads it (``mlv.remote.lazy``). Its staging area is the branch's tree, so status
and commit see every file; files not received are absent from the working tree,
and status does not count them as deleted.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from mlv.errors import InvalidArgumentError, MlvError, NotFoundError
from mlv.remote.config import RemoteSpec, normalise_url
from mlv.remote.fetch import FetchRefusedError, FetchResult
from mlv.remote.lazy import mark_partial
from mlv.repo.layout import DEFAULT_BRANCH, MLV_DIR
from mlv.repo.refnames import HEADS, REMOTES
from mlv.repo.results import CheckoutResult, MergeResult, Progress
from mlv.repo.staging import UNTRUSTED_MTIME, Staged


@dataclass
class PullResult:
    fetch: FetchResult
    merge: MergeResult | None = None
    checkout: CheckoutResult | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "fetch": self.fetch.to_json(),
            "merge": self.merge.to_json() if self.merge else None,
            "checkout": self.checkout.to_json() if self.checkout else None,
        }


@dataclass
class CloneResult:
    path: str
    remote: str
    url: str
    branch: str | None
    commit: str | None
    partial: bool
    fetch: FetchResult
    written: int = 0
    warnings: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {
            "path": self.path,
            "remote": self.remote,
            "url": self.url,
            "branch": self.branch,
            "commit": self.commit,
            "partial": self.partial,
            "written": self.written,
            "fetch": self.fetch.to_json(),
            "warnings": self.warnings,
        }


class PullTarget(Protocol):
    """What pull and clone use of ``mlv.Repo``."""

    root: Path
    refs: Any
    store: Any
    staging: Any
    objects: Any
    layout: Any
    records: Any

    def fetch(
        self,
        remote: str | None = None,
        *,
        history_only: bool = False,
        progress: Progress | None = None,
    ) -> Any: ...

    def merge(self, rev: str) -> MergeResult: ...

    def checkout(
        self, rev: str, paths: Any = None, *, force: bool = False, progress: Progress | None = None
    ) -> CheckoutResult: ...

    def close(self) -> None: ...


def pull(
    repo: PullTarget,
    spec: RemoteSpec,
    branch: str | None,
    paths: Sequence[str | os.PathLike[str]] | None,
    *,
    progress: Progress | None = None,
) -> PullResult:
    head = repo.refs.head()
    branch = branch or head.branch
    if branch is None:
        raise InvalidArgumentError("HEAD is detached: name the branch to pull")
    fetched = _fetch(repo, spec, progress, history_only=bool(paths), needed=HEADS + branch)
    result = PullResult(fetched)
    tracking = f"{REMOTES}{spec.name}/{branch}"
    theirs = repo.refs.read(tracking)
    if theirs is None:
        raise NotFoundError(f"remote {spec.name} has no branch {branch!r}")
    if paths:
        result.checkout = _checkout_paths(repo, spec, theirs, list(paths), progress)
        return result
    if head.commit is None:
        # Nothing committed here yet: the working tree moves to theirs (a checkout that
        # refuses, as any does, to overwrite files in the way), then the branch starts
        # there and HEAD is on it again.
        result.checkout = repo.checkout(theirs, progress=progress)
        repo.refs.update(head.ref, theirs, None, message=f"pull from {spec.name}")
        repo.refs.set_head_ref(head.ref)
        result.checkout.branch = head.branch
        return result
    result.merge = repo.merge(tracking)
    return result


def _fetch(
    repo: PullTarget,
    spec: RemoteSpec,
    progress: Progress | None,
    *,
    history_only: bool,
    needed: str | None,
) -> FetchResult:
    """A fetch; with ``history_only``, content waits for the paths that need it. Refs
    refused by the fetch stop this command only when one is ``needed`` (a full ref
    name), or when ``needed`` is None and no branch came."""
    try:
        return repo.fetch(spec.name, history_only=history_only, progress=progress)
    except FetchRefusedError as exc:
        came = exc.result.remote_refs
        if (needed is not None and needed not in came) or (
            needed is None and not any(r.startswith(HEADS) for r in came)
        ):
            raise
        return exc.result


def _checkout_paths(
    repo: PullTarget,
    spec: RemoteSpec,
    commit: str,
    paths: list[str | os.PathLike[str]],
    progress: Progress | None,
) -> CheckoutResult:
    """Check out ``paths`` from ``commit``, receiving their content first."""
    from mlv.remote.lazy import RemoteContent

    store = repo.store
    if store.content_source is not None:
        return repo.checkout(commit, paths, progress=progress)
    store.content_source = RemoteContent(repo.layout, spec, store, repo.refs, repo.records)
    try:
        return repo.checkout(commit, paths, progress=progress)
    finally:
        source, store.content_source = store.content_source, None
        source.close()


def clone(
    repo_class: Any,
    url: str,
    path: str | os.PathLike[str] | None,
    *,
    branch: str | None,
    no_data: bool,
    paths: Sequence[str] | None,
    name: str,
    endpoint_url: str | None,
    region: str | None,
    profile: str | None,
    allow_http: bool,
    progress: Progress | None,
) -> tuple[Any, CloneResult]:
    if no_data and paths:
        raise InvalidArgumentError("--no-data and paths cannot go together: paths bring data")
    target = Path(path) if path is not None else Path(_default_folder(url))
    partial = no_data or bool(paths)
    made = False
    if _unfinished_clone(repo_class, target, url, name):
        # Run again after an interruption: what arrived is kept, the rest comes now.
        repo = repo_class(target)
    else:
        normalise_url(url)  # a URL no remote could use is refused before anything is made
        made = _make_folder(target)
        repo = repo_class.init(target)
        try:
            repo.add_remote(
                name,
                url,
                default=True,
                endpoint_url=endpoint_url,
                region=region,
                profile=profile,
                allow_http=allow_http,
            )
        except BaseException:
            _remove_if_empty(repo, target, made)
            raise
        if partial:
            mark_partial(repo.layout, name)
            repo.close()
            repo = repo_class(target)
    # A clone cut short once data arrived is kept: it is a valid repository, and the
    # same command run again finishes it without receiving again what arrived.
    wanted = None if branch is None else HEADS + branch
    try:
        fetched = _fetch(
            repo, repo.remotes().get(name), progress, history_only=False, needed=wanted
        )
    except BaseException:
        _remove_if_empty(repo, target, made)
        raise
    if branch is None and HEADS + DEFAULT_BRANCH in fetched.refused_refs:
        raise NotFoundError(
            f"the remote's branch {DEFAULT_BRANCH!r} was refused: {fetched.warnings[0]}"
        )
    spec = repo.remotes().get(name)
    result = CloneResult(str(target), name, spec.url, None, None, partial, fetched)
    result.warnings += fetched.warnings
    heads = {
        r.removeprefix(HEADS): c for r, c in fetched.remote_refs.items() if r.startswith(HEADS)
    }
    chosen = _choose_branch(heads, branch, fetched.empty)
    if chosen is None:
        result.warnings.append(f"remote {spec.url} has no branch yet: the clone is empty")
        return repo, result
    commit = heads[chosen]
    result.branch, result.commit = chosen, commit
    if chosen != repo.refs.head().branch:
        repo.refs.set_head_ref(HEADS + chosen)
    repo.refs.update(HEADS + chosen, commit, None, message=f"clone from {spec.url}")
    if not partial:
        result.written = len(repo.checkout(chosen, force=True, progress=progress).written)
        return repo, result
    _stage_tree(repo, commit)
    if paths:
        result.written = len(repo.checkout(chosen, list(paths), progress=progress).written)
    return repo, result


def _choose_branch(heads: dict[str, str], wanted: str | None, empty: bool) -> str | None:
    if wanted is not None:
        if wanted not in heads:
            raise NotFoundError(
                "the remote is empty" if empty else f"the remote has no branch {wanted!r}"
            )
        return wanted
    if not heads:
        return None
    if DEFAULT_BRANCH in heads:
        return DEFAULT_BRANCH
    return sorted(heads)[0]


def _stage_tree(repo: PullTarget, commit_id: str) -> None:
    """The staging area of a partial clone: the commit's tree, no file written."""
    commit = repo.objects.read_commit(commit_id)
    flat = repo.objects.flatten(commit.tree)
    repo.staging.apply(
        (
            (p, Staged(e.kind, e.id, e.size, e.executable, UNTRUSTED_MTIME, 0))
            for p, e in flat.items()
        ),
        tree_id=commit.tree,
    )


def _default_folder(url: str) -> str:
    name = url.rstrip("/").rsplit("/", 1)[-1] or "clone"
    if name.startswith("s3:") or not name:
        name = "clone"
    return name


def _unfinished_clone(repo_class: Any, target: Path, url: str, name: str) -> bool:
    """Whether ``target`` is a clone of ``url`` that stopped before its branch was set."""
    if not (target / MLV_DIR / "HEAD").is_file():
        return False
    try:
        repo = repo_class(target)
    except MlvError:
        return False
    try:
        spec = repo.remotes().by_name.get(name)
        return (
            spec is not None
            and spec.url == normalise_url(url)
            and repo.refs.head().commit is None
            and not repo.refs.list(HEADS)
        )
    finally:
        repo.close()


def _make_folder(target: Path) -> bool:
    """Create the clone's folder (True); an existing one must be empty (False)."""
    if target.exists():
        if not target.is_dir() or any(target.iterdir()):
            raise InvalidArgumentError(f"{target} exists and is not an empty folder")
        return False
    try:
        target.mkdir(parents=True)
    except OSError as exc:
        raise MlvError(f"cannot create {target}: {exc.strerror}") from None
    return True


def _remove_if_empty(repo: Any, target: Path, made: bool) -> None:
    """A clone that failed before anything arrived leaves nothing behind; one that
    received data is kept, for the same command to finish."""
    if any(repo.layout.packs.glob("pack-*.pack")):
        return
    repo.close()
    shutil.rmtree(target if made else target / MLV_DIR, ignore_errors=True)
