"""``mlv.Repo``: the repository with every capability on it, the one public Python API.

The core repository (``mlv.repo.repository.Repository``) knows files, trees and
commits. ``Repo`` holds one as ``core``, gives its parts and operations under the
same names, and registers the capabilities that join ``add`` and ``commit`` at the
core's extension points (tables, code versions and the pin). Its other methods add
runs, pipelines, lineage, reproduction, tables, actions and CI, each a thin call
into its own capability package, so that a notebook can do everything the ``mlv``
command does.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, Self

from mlv.repo.layout import DEFAULT_BRANCH, PARTIAL_FILE
from mlv.repo.locking import DEFAULT_LOCK_TIMEOUT
from mlv.repo.repository import Repository, create

if TYPE_CHECKING:
    from datetime import datetime

    import pyarrow as pa

    from mlv.ci.report import CiReport
    from mlv.gitcode.pin import SyncResult
    from mlv.githooks import HookState
    from mlv.lineage.ask import Answer
    from mlv.lineage.graph import Lineage
    from mlv.lineage.history import PathVersion
    from mlv.lineage.run_compare import RunComparison
    from mlv.lineage.runs_table import Filter, RunQuery, RunTable
    from mlv.lineage.values import Values, ValuesDiff, ValuesTable
    from mlv.model.objects import Person
    from mlv.model.runs import Reproduction, Run
    from mlv.model.tables import Profile
    from mlv.pipeline.repro import ReproReporter, ReproResult
    from mlv.remote.config import Remotes, RemoteSpec
    from mlv.remote.fetch import FetchResult
    from mlv.remote.fsck import RemoteFsckReport
    from mlv.remote.gc import RemoteGcReport
    from mlv.remote.operations import RepoParts
    from mlv.remote.probe import ProbeReport
    from mlv.remote.pulling import CloneResult, PullResult
    from mlv.remote.push import PushResult
    from mlv.repo.contentfile import ContentFile
    from mlv.repo.diff import Change
    from mlv.repo.gc import GcReport
    from mlv.repo.migrate import MigrateReport
    from mlv.repo.rebuild import RebuildReport
    from mlv.repo.results import CommitDetails, MergeResult, Progress, Status
    from mlv.repo.upstream import Upstream
    from mlv.reproduce.verify import ReproduceReporter, ReproductionReport
    from mlv.runs.recorder import Recorder
    from mlv.tables.checking import CheckReport
    from mlv.tables.diff import TableDiff
    from mlv.tables.parquet import Rewritten
    from mlv.tables.query import QueryRun
    from mlv.tables.repo_diff import TableChange
    from mlv.tables.rows import RowSlice


class Repo:
    """A repository: a working tree with a ``.mlv`` folder at its root.

    Paths given to methods are relative to the repository root, or absolute.
    ``environ`` arguments default to this process's environment.
    """

    def __init__(
        self,
        path: str | os.PathLike[str] = ".",
        *,
        lock_timeout: float = DEFAULT_LOCK_TIMEOUT,
        on_lock_wait: Callable[[str], None] | None = None,
    ) -> None:
        from mlv.gitcode import extension as code_extension
        from mlv.tables import extension as tables_extension

        core = Repository(path, lock_timeout=lock_timeout, on_lock_wait=on_lock_wait)
        self.core = core
        # Order matters: contracts refuse a commit before its code version is stored.
        tables_extension.register(core)
        code_extension.register(core)
        # The parts.
        self.root = core.root
        self.layout = core.layout
        self.config = core.config
        self.index = core.index
        self.store = core.store
        self.staging = core.staging
        self.records = core.records
        self.refs = core.refs
        self.objects = core.objects
        self.trees = core.trees
        self.revisions = core.revisions
        self.worktree = core.worktree
        self.write_lock = core.write_lock
        self.extensions = core.extensions
        # The core's operations, as they are (``add`` with the extensions registered above).
        self.relpath = core.relpath
        self.resolve = core.resolve
        self.read_commit = core.read_commit
        self.read_run = core.read_run
        self.read_env = core.read_env
        self.read_reproduction = core.read_reproduction
        self.flat_tree = core.flat_tree
        self.add = core.add
        self.rm = core.rm
        self.ref_names = core.ref_names
        self.change_counts = core.change_counts
        self.log = core.log
        self.open_file = core.open_file
        self.read_bytes = core.read_bytes
        self.open = core.open
        self.diff = core.diff
        self.worktree_flat = core.worktree_flat
        self.checkout = core.checkout
        self.restore = core.restore
        self.branches = core.branches
        self.current_branch = core.current_branch
        self.create_branch = core.create_branch
        self.delete_branch = core.delete_branch
        self.switch = core.switch
        self.tags = core.tags
        self.create_tag = core.create_tag
        self.delete_tag = core.delete_tag
        self.fsck = core.fsck
        self._open_partial()

    def _open_partial(self) -> None:
        """A partial clone reads what it lacks from its remote, on demand."""
        if not (self.layout.mlv / PARTIAL_FILE).exists():
            return
        from mlv.remote.lazy import attach_remote_content

        attach_remote_content(self.layout, self.store, self.refs, self.records)

    @classmethod
    def init(cls, path: str | os.PathLike[str] = ".", *, branch: str = DEFAULT_BRANCH) -> Self:
        """Create a repository in ``path`` (created if missing) and open it."""
        return cls(create(path, branch=branch))

    def close(self) -> None:
        self.core.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"Repo({str(self.root)!r})"

    # -- runs ---------------------------------------------------------------------

    def run(
        self,
        cmd: str,
        *,
        deps: Sequence[str | os.PathLike[str]] = (),
        outs: Sequence[str | os.PathLike[str]] = (),
        params: Mapping[str, Sequence[str]] | None = None,
        metrics: Sequence[str | os.PathLike[str]] = (),
        name: str | None = None,
        wdir: str | os.PathLike[str] | None = None,
        environ: Mapping[str, str] | None = None,
        stdout: IO[Any] | int | None = None,
        author: Person | None = None,
    ) -> tuple[str, Run]:
        """Run ``cmd`` in a shell and record it; return (run id, run).

        ``metrics`` files are outputs too. The outputs are staged, and the next
        commit carries the run. A failing command raises ``CommandFailedError``.
        """
        from mlv.runs.recorder import RunSpec

        out_paths = tuple(self.relpath(p) for p in (*outs, *metrics))
        spec = RunSpec(
            name=name or _default_name(out_paths),
            cmd=cmd,
            wdir=self.relpath(wdir) if wdir is not None else "",
            deps=tuple(self.relpath(p) for p in deps),
            outs=tuple(dict.fromkeys(out_paths)),
            params={self.relpath(f): tuple(keys) for f, keys in (params or {}).items()},
            metrics=tuple(self.relpath(p) for p in metrics),
        )
        return self._recorder().run_once(
            spec,
            os.environ if environ is None else environ,
            who=self._who(author),
            stdout=stdout,
        )

    def repro(
        self,
        targets: Sequence[str] = (),
        *,
        force: bool = False,
        dry_run: bool = False,
        keep_going: bool = False,
        downstream: bool = False,
        environ: Mapping[str, str] | None = None,
        reporter: ReproReporter | None = None,
        stdout: IO[Any] | int | None = None,
        author: Person | None = None,
    ) -> ReproResult:
        """Run the pipeline (``mlv.yaml``, else ``dvc.yaml``): only the stages that changed.

        Stages whose command, inputs, parameters and environment match an earlier
        run are not run again: their outputs are kept, or put back from the run
        cache. ``targets`` name stages (and bring what they need up to date).
        """
        from mlv.pipeline.repro import repro

        return repro(
            self._recorder(),
            self.refs,
            targets,
            environ=os.environ if environ is None else environ,
            who=self._who(author),
            force=force,
            dry_run=dry_run,
            keep_going=keep_going,
            downstream=downstream,
            reporter=reporter,
            stdout=stdout,
        )

    def _recorder(self) -> Recorder:
        from mlv.runs.artifacts import Artifacts
        from mlv.runs.recorder import Recorder

        artifacts = Artifacts(
            tracker=self.core,  # its ``add``, with the extensions registered
            worktree=self.worktree,
            stage=self.staging,
            objects=self.objects,
            store=self.store,
            lock=self.write_lock,
        )
        return Recorder(artifacts, self.records)

    def runs(self, rev: str = "HEAD") -> dict[str, Run]:
        """The recorded runs whose outputs ``rev`` holds, by run id."""
        from mlv.runs.commits import effective_runs

        return effective_runs(self.objects, self.resolve(rev))

    def show(self, rev: str = "HEAD") -> CommitDetails:
        """A commit, the files it changed, the runs behind its outputs and its reproductions."""
        from mlv.errors import MlvError
        from mlv.repo.results import RunDetails

        details = self.core.show(rev)
        commit = details.entry.commit
        for run_id, run in self.runs(details.entry.id).items():
            try:
                env = self.read_env(run.env)
            except MlvError:
                env = None
            details.runs.append(RunDetails(run_id, run, env, run_id in commit.runs))
        details.runs.sort(key=lambda r: (r.run.started, r.id))
        details.reproductions = self.reproductions(details.entry.id)
        return details

    def reproductions(self, rev: str = "HEAD") -> list[tuple[str, Reproduction]]:
        """Earlier verified reproductions of ``rev``, oldest first: (id, record)."""
        commit_id = self.resolve(rev)
        return [(r, self.read_reproduction(r)) for r in self.records.reproductions_of(commit_id)]

    # -- verified reproduction ------------------------------------------------------

    def reproduce(
        self,
        rev: str = "HEAD",
        *,
        target: str | os.PathLike[str] | None = None,
        workspace: str | os.PathLike[str] | None = None,
        keep: bool = False,
        rtol: float = 1e-9,
        atol: float = 0.0,
        exact: bool = False,
        environ: Mapping[str, str] | None = None,
        reporter: ReproduceReporter | None = None,
        stdout: IO[Any] | int | None = None,
        author: Person | None = None,
    ) -> ReproductionReport:
        """Re-execute the runs behind ``rev`` in a fresh workspace and compare every output.

        Each output comes out identical, equivalent (same values, other bytes),
        close (numbers within ``rtol``/``atol``) or different. The reproduction is
        recorded; ``report.ok`` says whether it reproduced.
        """
        from mlv.reproduce.verify import Tolerance, reproduce

        core = self.core
        return reproduce(
            rev,
            objects=core.objects,
            revisions=core.revisions,
            worktree=core.worktree,
            store=core.store,
            refs=core.refs,
            records=core.records,
            lock=core.write_lock,
            environ=os.environ if environ is None else environ,
            who=self._who(author),
            target=str(target) if target is not None else None,
            workspace=Path(workspace) if workspace is not None else None,
            keep=keep,
            tolerance=Tolerance(rtol, atol, exact),
            reporter=reporter,
            stdout=stdout,
        )

    # -- CI ---------------------------------------------------------------------------

    def ci(
        self,
        head: str = "HEAD",
        base: str | None = None,
        *,
        reproduce: bool = False,
        environ: Mapping[str, str] | None = None,
        stdout: IO[Any] | int | None = None,
        author: Person | None = None,
    ) -> CiReport:
        """Check ``head`` for a CI job: reproduce it (with ``reproduce``), check the data
        contracts, and compare its metrics, parameters and data with ``base``.

        ``base`` None: the merge base with ``main`` on another branch, else the parent.
        ``report.ok`` gates the job; ``report.to_markdown()`` is the pull-request comment.
        """
        from mlv.ci.run import run_ci

        def again(commit_id: str) -> ReproductionReport:
            return self.reproduce(commit_id, environ=environ, stdout=stdout, author=author)

        core = self.core
        return run_ci(
            head,
            base,
            root=core.root,
            objects=core.objects,
            revisions=core.revisions,
            refs=core.refs,
            values=self._values(),
            reproduce=again if reproduce else None,
        )

    # -- lineage and history ---------------------------------------------------------

    def lineage(
        self,
        path: str | os.PathLike[str],
        rev: str = "HEAD",
        *,
        downstream: bool = False,
        all_history: bool = False,
        depth: int | None = None,
    ) -> Lineage:
        """Where the content of ``path`` at ``rev`` came from, or with ``downstream``, what
        read it and what they wrote.

        Runs are searched in the history of ``rev``; with ``all_history``, in the
        history of every branch and tag. ``depth`` limits how many runs deep to go.
        Render the result with ``mlv.lineage.render.render(lineage, "text" | "dot" |
        "mermaid" | "json")``.
        """
        from mlv.lineage.graph import trace

        return trace(
            self.objects,
            self.revisions,
            self.refs,
            self.relpath(path),
            rev,
            downstream=downstream,
            all_history=all_history,
            depth=depth,
        )

    def history(self, path: str | os.PathLike[str], rev: str = "HEAD") -> list[PathVersion]:
        """Every version of ``path`` in the history of ``rev``, newest first, each with
        the run that produced it."""
        from mlv.lineage.history import path_history

        return path_history(self.objects, self.revisions, self.relpath(path), rev)

    def runs_table(
        self,
        query: RunQuery | None = None,
        *,
        rev: str = "HEAD",
        all_refs: bool = False,
        stage: str | None = None,
        since: datetime | str | None = None,
        until: datetime | str | None = None,
        where: Sequence[Filter | str] = (),
        sort: Sequence[str] = (),
        columns: Sequence[str] = (),
        only_changed: bool = False,
        limit: int | None = None,
        offset: int = 0,
    ) -> RunTable:
        """The experiments table: every recorded run in the history of ``rev`` (with
        ``all_refs``, of every branch and tag), one row each, with its params and metrics.

        ``where`` filters as ``"metrics.acc > 0.9"`` (``mlv.lineage.runs_table.
        parse_filter``); ``sort`` names columns, ``-NAME`` descending (default: newest
        first); ``columns`` names columns or prefixes (``params.``); ``limit`` and
        ``offset`` page the rows. A ``query`` (``RunQuery``), when given, is used as it is
        instead of the keyword arguments.
        """
        from mlv.lineage.runs_table import RunQuery, runs_table

        if query is None:
            query = RunQuery(
                rev=rev,
                all_refs=all_refs,
                stage=stage,
                since=since,
                until=until,
                where=tuple(where),
                sort=tuple(sort),
                columns=tuple(columns),
                only_changed=only_changed,
                limit=limit,
                offset=offset,
            )
        return runs_table(
            query,
            objects=self.objects,
            revisions=self.revisions,
            refs=self.refs,
            reproductions=self.records,
        )

    def compare_runs(self, run_ids: Sequence[str]) -> RunComparison:
        """Two or more runs (ids or unique prefixes) side by side: parameters, metrics,
        inputs, environment, and the curves of the plots their stages declare."""
        from mlv.lineage.run_compare import compare_runs, pick_runs

        rows = pick_runs(self.runs_table(all_refs=True).rows, run_ids)
        return compare_runs(self.objects, rows, self.root)

    def ask(self, question: str) -> Answer:
        """An everyday question in one line: ``"predictions/ on 2026-11-24"``,
        ``"metrics.json at v1"``, ``"last tuesday"``. The answer is the commit current
        then on this branch (``NAME@{WHEN}``), how it was chosen, the path in it, and the
        runs that wrote it (``mlv.lineage.ask``)."""
        from mlv.lineage.ask import answer, read_question

        asked = read_question(question, self.current_branch(), self.revisions)
        return answer(self.objects, self.revisions, asked)

    def metrics(self, revs: Sequence[str | None] = (None,)) -> ValuesTable:
        """The metrics of each revision side by side; None is the working tree."""
        from mlv.lineage.values import METRICS

        return self._values().table(revs, METRICS)

    def metrics_diff(self, a: str | None = "HEAD", b: str | None = None) -> ValuesDiff:
        """Metrics that differ from ``a`` to ``b`` (None: the working tree)."""
        from mlv.lineage.values import METRICS

        return self._values().diff(a, b, METRICS)

    def params_diff(
        self, a: str | None = "HEAD", b: str | None = None, *, all_keys: bool = False
    ) -> ValuesDiff:
        """Parameters that differ from ``a`` to ``b`` (None: the working tree); every
        key of the params files with ``all_keys``."""
        from mlv.lineage.values import PARAMS

        return self._values().diff(a, b, PARAMS, all_keys=all_keys)

    def _values(self) -> Values:
        from mlv.lineage.values import Values

        return Values(
            objects=self.objects,
            revisions=self.revisions,
            refs=self.refs,
            records=self.records,
            worktree=self.worktree,
            not_fetched=self._not_fetched_bytes,
        )

    def _not_fetched_bytes(self, path: str) -> bytes | None:
        """In a partial clone, the staged bytes of a tracked file never fetched (they
        come from the remote now); None for any other path."""
        if self.store.content_source is None:
            return None
        staged = self.staging.load_paths([path]).get(path)
        if staged is None or self.store.has(staged.id):
            return None
        return b"".join(self.objects.iter_content(staged.id))

    # -- commit and merge: mlv.yaml actions ------------------------------------------

    def commit(
        self,
        message: str,
        *,
        author: Person | None = None,
        allow_empty: bool = False,
        when: datetime | None = None,
        extra_parents: Iterable[str] = (),
        code: dict[str, Any] | None = None,
        strict: bool | None = None,
        on_warning: Callable[[str], None] | None = None,
        environ: Mapping[str, str] | None = None,
        stdout: IO[Any] | int | None = None,
        run_actions: bool = True,
    ) -> str:
        """Record the staging area as a new commit on the current branch; return its id.

        With ``run_actions`` the ``pre-commit`` actions of ``mlv.yaml`` run first (one
        failing raises ``HookFailedError`` and nothing is committed), the
        ``post-commit`` actions after (a failure goes to ``on_warning``). They run
        outside the write lock so that they may run mlv themselves: a caller holding
        it (``with repo.write_lock:``) gets them too unless it passes False.

        Inside a git work tree the commit records the code version (``code``, by
        default captured now) and ``mlv.lock`` (the pin) is rewritten to name it.

        Staged tables that changed are checked against their contracts first: each
        broken one is passed to ``on_warning``, or with ``strict`` (None: the config's
        ``tables.strict``) refused with ``ContractError``.
        """
        from mlv.actions import load_actions, perform_actions
        from mlv.repo.identity import default_author

        actions = load_actions(self.root) if run_actions else {}
        environ = os.environ if environ is None else environ
        author = author or default_author(self.root)
        facts = {**self._hook_facts(), "MLV_MESSAGE": message, "MLV_AUTHOR": str(author)}
        perform_actions(actions.get("pre-commit", []), self.root, facts, environ, stdout=stdout)
        commit_id = self.core.commit(
            message,
            author=author,
            allow_empty=allow_empty,
            when=when,
            extra_parents=extra_parents,
            code=code,
            strict=strict,
            on_warning=on_warning,
        )
        facts["MLV_COMMIT"] = commit_id
        post = actions.get("post-commit", [])
        for line in perform_actions(post, self.root, facts, environ, stdout=stdout):
            if on_warning is not None:
                on_warning(line)
        return commit_id

    def merge(
        self,
        rev: str,
        *,
        prefer: str | None = None,
        message: str | None = None,
        author: Person | None = None,
        environ: Mapping[str, str] | None = None,
        stdout: IO[Any] | int | None = None,
        run_actions: bool = True,
    ) -> MergeResult:
        """Merge ``rev`` into the current branch; with ``run_actions``, after the
        ``pre-merge`` actions of ``mlv.yaml`` (one failing raises ``HookFailedError``
        and nothing is merged).

        The commit a merge makes is the core's: it passes the extension points (code
        version, pin) but runs no ``pre-commit`` actions, the merge having its own.
        """
        from mlv.actions import load_actions, perform_actions

        actions = load_actions(self.root).get("pre-merge", []) if run_actions else []
        if actions:
            facts = {
                **self._hook_facts(),
                "MLV_MERGE_SOURCE": rev,
                "MLV_MERGE_SOURCE_COMMIT": self.resolve(rev),
            }
            environ = os.environ if environ is None else environ
            perform_actions(actions, self.root, facts, environ, stdout=stdout)
        return self.core.merge(rev, prefer=prefer, message=message, author=author)

    def _hook_facts(self) -> dict[str, str]:
        head = self.refs.head()
        return {"MLV_BRANCH": head.branch or "", "MLV_HEAD": head.commit or ""}

    def _who(self, author: Person | None) -> str:
        from mlv.repo.identity import default_author

        return str(author or default_author(self.root))

    # -- code versions and mlv.lock ----------------------------------------------------

    def code_version(self) -> dict[str, Any] | None:
        """The code version now (git commit, branch, dirty, source tree); None outside git."""
        from mlv.gitcode.capture import capture

        core = self.core
        return capture(
            core.root,
            objects=core.objects,
            store=core.store,
            stage=core.staging,
            records=core.records,
            lock=core.write_lock,
        )

    def write_pin(self) -> Path:
        """Write ``mlv.lock`` (the pin) for HEAD; return its path."""
        from mlv.gitcode.pin import write_pin

        core = self.core
        return write_pin(core.root, objects=core.objects, revisions=core.revisions, refs=core.refs)

    def pin_is_current(self) -> bool:
        """Whether ``mlv.lock`` (the pin) names HEAD and its paths."""
        from mlv.gitcode.pin import pin_is_current

        core = self.core
        return pin_is_current(
            core.root, objects=core.objects, revisions=core.revisions, refs=core.refs
        )

    def sync(self, *, force: bool = False) -> SyncResult:
        """Make the working tree's data match ``mlv.lock`` (``mlv sync``)."""
        from mlv.gitcode.pin import sync

        core = self.core
        return sync(
            core.root,
            objects=core.objects,
            refs=core.refs,
            lock=core.write_lock,
            switcher=core,
            force=force,
        )

    # -- remotes ---------------------------------------------------------------------

    def remotes(self) -> Remotes:
        """The remotes ``.mlv/config.toml`` names (``[remote.NAME]``) and the default."""
        from mlv.remote.config import load_remotes

        return load_remotes(self.layout)

    def add_remote(
        self,
        name: str,
        url: str,
        *,
        default: bool = False,
        endpoint_url: str | None = None,
        region: str | None = None,
        profile: str | None = None,
        allow_http: bool = False,
    ) -> RemoteSpec:
        """Name a remote: a folder, ``file:///PATH`` or ``s3://BUCKET/PREFIX`` (with the
        S3 settings given); the first one added, or one added with ``default``, is the
        default remote."""
        from mlv.remote.config import RemoteSpec, add_remote

        spec = RemoteSpec(name, url, endpoint_url, region, profile, allow_http)
        with self.write_lock:
            add_remote(self.layout, spec, default=default)
        return self.remotes().get(name)

    def remove_remote(self, name: str) -> RemoteSpec:
        """Forget remote ``name`` and delete its remote-tracking refs
        (``refs/remotes/<name>/...``) with their reflogs; nothing on the remote is touched."""
        from mlv.remote.config import remove_remote

        with self.write_lock:
            spec = remove_remote(self.layout, name)
            self.refs.delete_remote_refs(name)
        return spec

    def rename_remote(self, old: str, new: str) -> RemoteSpec:
        """Rename remote ``old``; its remote-tracking refs and their reflogs move with it."""
        from mlv.errors import InvalidArgumentError
        from mlv.remote.config import check_remote_name, rename_remote

        with self.write_lock:
            check_remote_name(new)
            if self.refs.remote_refs(new):
                # Checked before the config changes: never a renamed remote without its refs.
                raise InvalidArgumentError(
                    f"cannot rename remote {old!r} to {new!r}: refs/remotes/{new}/ already "
                    "holds remote-tracking refs; choose another name"
                )
            rename_remote(self.layout, old, new)
            self.refs.rename_remote_refs(old, new)
        return self.remotes().get(new)

    def status(self) -> Status:
        """What is staged against HEAD, what the working tree changed against the stage,
        and (``upstream``) how the branch stands against its remote-tracking branch."""
        from dataclasses import replace

        return replace(self.core.status(), upstream=self.upstream_status())

    def remote_branches(self, remote: str | None = None) -> dict[str, str]:
        """Remote-tracking branches (``origin/main``) -> commit id; only ``remote``'s
        when given."""
        from mlv.repo.refnames import REMOTES

        if remote is not None:
            return {f"{remote}/{b}": c for b, c in self.refs.remote_refs(remote).items()}
        return self.refs.list(REMOTES)

    def upstream_status(self) -> Upstream | None:
        """The current branch against ``refs/remotes/<core.remote>/<branch>``: how many
        commits each has that the other lacks; None when there is no such ref (or no
        default remote, or HEAD is detached or unborn)."""
        from mlv.remote.config import load_remotes
        from mlv.repo.upstream import upstream_status

        return upstream_status(self.refs, self.read_commit, load_remotes(self.layout).default)

    def set_remote_url(self, name: str, url: str) -> RemoteSpec:
        from mlv.remote.config import set_remote_url

        with self.write_lock:
            set_remote_url(self.layout, name, url)
        return self.remotes().get(name)

    def set_default_remote(self, name: str) -> RemoteSpec:
        from mlv.remote.config import set_default_remote

        with self.write_lock:
            set_default_remote(self.layout, name)
        return self.remotes().get(name)

    def test_remote(self, name: str | None = None) -> ProbeReport:
        """List, write, read and delete a probe on a remote (the default one for None),
        and check that it refuses a second create and a stale replace."""
        from mlv.remote.connect import open_remote
        from mlv.remote.probe import probe
        from mlv.remote.session import save_probe

        spec = self.remotes().get(name)
        report = probe(open_remote(self.layout, spec), spec.name)
        save_probe(self.layout, spec.name, report.conditional_writes)
        return report

    # -- moving data ---------------------------------------------------------------

    def _remote_parts(self) -> RepoParts:
        from mlv.remote.operations import RepoParts
        from mlv.runs.cachekey import key_of_run

        return RepoParts(
            self.layout,
            self.store,
            self.refs,
            self.records,
            self.read_commit,
            self.write_lock,
            key_of_run,
        )

    def push(
        self,
        remote: str | None = None,
        refs: Sequence[str] = (),
        *,
        all_branches: bool = False,
        tags: bool = False,
        force: bool = False,
        progress: Progress | None = None,
    ) -> PushResult:
        """Send the branches and tags ``refs`` (the current branch when none) to
        ``remote``, with everything their commits reach that it lacks; a ref moves only
        as a fast-forward, or with ``force`` from where it was last fetched
        (``mlv.remote.push``). Raises ``PushRejectedError`` when a ref cannot move."""
        from mlv.remote import operations

        spec = self.remotes().get(remote)
        return operations.push(
            self._remote_parts(),
            spec,
            refs,
            all_branches=all_branches,
            tags=tags,
            force=force,
            progress=progress,
        )

    def fetch(
        self,
        remote: str | None = None,
        *,
        history_only: bool = False,
        progress: Progress | None = None,
    ) -> FetchResult:
        """Receive what ``remote``'s refs reach, verified, and move the remote-tracking
        refs (``mlv.remote.fetch``); a partial clone, or ``history_only``, receives
        history alone."""
        from mlv.remote import operations

        spec = self.remotes().get(remote)
        return operations.fetch(
            self._remote_parts(), spec, history_only=history_only, progress=progress
        )

    def pull(
        self,
        remote: str | None = None,
        branch: str | None = None,
        paths: Sequence[str | os.PathLike[str]] | None = None,
        *,
        progress: Progress | None = None,
    ) -> PullResult:
        """Fetch, then bring the current branch up to ``remote``'s ``branch`` (its own
        name by default): a fast-forward or a merge. With ``paths``, only the content
        under them is received and only they are checked out, from the remote's
        branch; the branch itself does not move."""
        from mlv.remote import pulling

        return pulling.pull(self, self.remotes().get(remote), branch, paths, progress=progress)

    @classmethod
    def clone(
        cls,
        url: str,
        path: str | os.PathLike[str] | None = None,
        *,
        branch: str | None = None,
        no_data: bool = False,
        paths: Sequence[str] | None = None,
        name: str = "origin",
        endpoint_url: str | None = None,
        region: str | None = None,
        profile: str | None = None,
        allow_http: bool = False,
        progress: Progress | None = None,
    ) -> tuple[Self, CloneResult]:
        """Make a new repository from the remote at ``url`` (``mlv.remote.pulling``)."""
        from mlv.remote import pulling

        return pulling.clone(
            cls,
            url,
            path,
            branch=branch,
            no_data=no_data,
            paths=paths,
            name=name,
            endpoint_url=endpoint_url,
            region=region,
            profile=profile,
            allow_http=allow_http,
            progress=progress,
        )

    # -- git hooks -------------------------------------------------------------------

    def install_githooks(
        self, *, force: bool = False, mlv_command: str | None = None
    ) -> list[HookState]:
        """Install mlv's git hooks (``mlv hooks install``; honours core.hooksPath)."""
        from mlv.githooks import install

        return install(self.core.root, force=force, mlv_command=mlv_command)

    def uninstall_githooks(self) -> list[HookState]:
        """Remove mlv's git hooks and put back the hooks they kept."""
        from mlv.githooks import uninstall

        return uninstall(self.core.root)

    def githook_states(self) -> list[HookState]:
        """Which of mlv's git hooks are installed."""
        from mlv.githooks import hook_states

        return hook_states(self.core.root)

    def run_githook(
        self,
        name: str,
        args: Sequence[str] = (),
        *,
        git_index: str | None = None,
        push_input: str = "",
        require_remote: bool = False,
    ) -> tuple[int, str]:
        """Run one git hook's check or action, as the installed scripts do; return the
        exit code and what to tell the user (``mlv.githooks.run_hook``). ``push_input``
        is pre-push's standard input; ``require_remote`` makes it refuse without an mlv
        remote."""
        from mlv.githooks import run_hook

        core = self.core
        return run_hook(
            name,
            args,
            root=core.root,
            objects=core.objects,
            revisions=core.revisions,
            refs=core.refs,
            lock=core.write_lock,
            switcher=core,
            tracker=core,
            git_index=git_index,
            pusher=self,
            push_input=push_input,
            require_remote=require_remote,
        )

    # -- tables: profiles -----------------------------------------------------------

    def profile(
        self, path: str | os.PathLike[str], rev: str | None = None, *, complete: bool = True
    ) -> Profile:
        """The profile of a table (schema, rows, column statistics) at ``rev``, or in the
        working tree when ``rev`` is None; made and remembered if its content has none.

        ``add`` stores a quick profile whose mean and distinct counts are pending
        (``profile.pending``); ``complete`` (the default) makes them now, and keeps
        the whole profile. ``complete=False`` returns what is there, as the schema
        needs.
        """
        from mlv.tables.profiles import profile_of

        core = self.core
        return profile_of(
            self.relpath(path),
            rev,
            worktree=core.worktree,
            stage=core.staging,
            objects=core.objects,
            revisions=core.revisions,
            store=core.store,
            records=core.records,
            scratch=core.layout.mlv,
            complete=complete,
        )

    def stored_profile(self, path: str | os.PathLike[str], rev: str = "HEAD") -> Profile | None:
        """The profile stored for a table's content at ``rev``, or None when there is
        none; unlike ``profile`` it never makes one (nor writes anything)."""
        from mlv.errors import MlvError
        from mlv.tables.profiles import read_profile

        tree = self.objects.read_commit(self.resolve(rev)).tree
        entry = self.objects.entry_at(tree, self.relpath(path))
        if entry is None:
            return None
        profile_id = self.records.profiles_of([entry.id]).get(entry.id) or entry.profile
        if profile_id is None:
            return None
        try:
            return read_profile(self.objects, profile_id)
        except MlvError:
            return None  # a damaged profile is fsck's to report; the table is still there

    def table_rows(
        self, path: str | os.PathLike[str], rev: str = "HEAD", *, offset: int = 0, limit: int = 100
    ) -> RowSlice:
        """Rows ``offset`` to ``offset + limit`` of a table at ``rev`` (``.table``, a
        pyarrow table, with ``.total`` rows in all), read from the store without reading
        the whole table: a Parquet file by the row groups that hold them.
        """
        from mlv.errors import NotFoundError
        from mlv.tables.rows import read_rows

        rel = self.relpath(path)
        commit_id = self.resolve(rev)
        entry = self.objects.entry_at(self.objects.read_commit(commit_id).tree, rel)
        if entry is None:
            raise NotFoundError(f"no {rel} at {rev}")
        profile = self.stored_profile(rel, commit_id)

        def query(sql: str) -> pa.Table:
            with self.open_query(sql) as run:
                return run.read_all()

        return read_rows(
            rel,
            commit_id,
            offset,
            limit,
            open_file=lambda: self.open(rel, commit_id),
            query=query,
            known_rows=profile.rows if profile is not None else None,
        )

    # -- tables: contracts -----------------------------------------------------------

    def check(
        self, paths: Sequence[str | os.PathLike[str]] | None = None, rev: str | None = None
    ) -> CheckReport:
        """Check tables against the data contracts in ``mlv.yaml``.

        ``paths`` (files or folders) default to every table a contract names; ``rev``
        None checks the working tree, else the tables at that revision (against the
        working tree's contracts). ``report.ok`` says whether every table meets its own.
        """
        from mlv.tables.checking import check_tables

        rels = [self.relpath(p) for p in paths] if paths is not None else None
        core = self.core
        return check_tables(
            rels, rev, root=core.root, objects=core.objects, revisions=core.revisions
        )

    # -- tables: diff ----------------------------------------------------------------

    def diff_table(
        self,
        path: str | os.PathLike[str],
        a: str | None = "HEAD",
        b: str | None = None,
        *,
        key: str | Sequence[str] | None = None,
        sample: int = 10,
        old_path: str | os.PathLike[str] | None = None,
    ) -> TableDiff:
        """Row-level diff of the table at ``path`` from revision ``a`` to ``b`` (None: the
        working tree): schema changes, rows added, removed and changed, statistics drift.

        ``key`` None uses the key ``mlv.yaml`` declares for the path, if any; ``()``
        compares rows without a key; a string is one column (``key="id"``).
        ``old_path`` names the table in ``a`` when it had another path (a CSV that
        became Parquet). The changed rows are
        ``result.changed_rows``, a pyarrow table.
        """
        from mlv.tables.repo_diff import diff_table_at

        key = [key] if isinstance(key, str) else key
        old = self.relpath(old_path) if old_path is not None else None
        return diff_table_at(
            self.relpath(path),
            a,
            b,
            root=self.core.root,
            objects=self.core.objects,
            revisions=self.core.revisions,
            key=key,
            sample=sample,
            old_path=old,
        )

    def table_changes(
        self,
        changes: Iterable[Change],
        a: str | None = None,
        b: str | None = None,
        *,
        key: str | Sequence[str] | None = None,
        named: Iterable[str | os.PathLike[str]] = (),
    ) -> list[TableChange]:
        """Row-level diffs of the tables that ``changes`` (``self.diff(a, b)``) modified.

        Tables in ``named`` are always compared; others up to a size and a count, so
        that a plain ``mlv diff`` stays quick.
        """
        from mlv.tables.repo_diff import diff_changed_tables

        key = [key] if isinstance(key, str) else key
        rels = [self.relpath(p) for p in named]
        core = self.core
        return diff_changed_tables(
            changes,
            a,
            b,
            root=core.root,
            objects=core.objects,
            revisions=core.revisions,
            key=key,
            named=rels,
        )

    # -- tables: SQL -------------------------------------------------------------------

    def query(self, sql: str, *, memory_limit: str | None = None) -> pa.Table:
        """Run ``sql`` with DuckDB over tables at any revision, and return the result.

        Name a table as ``'data/train.parquet@v1'`` after FROM or JOIN, or as
        ``mlv('data/train.parquet', 'v1')``; paths are relative to the repository
        root. Only the bytes the query needs are read (``mlv.tables.query``).
        ``memory_limit`` (DuckDB's, e.g. ``"2GB"``) makes larger work spill to disk.
        """
        with self.open_query(sql, memory_limit=memory_limit) as run:
            return run.read_all()

    def open_query(self, sql: str, *, memory_limit: str | None = None) -> QueryRun:
        """``query``'s result as a stream of record batches (``QueryRun.batches()``),
        with the tables it named and what it read (``QueryRun.stats``); close it."""
        from mlv.tables.query import open_query

        core = self.core
        return open_query(
            sql,
            repository=core,
            worktree=core.worktree,
            scratch=core.layout.tmp,
            memory_limit=memory_limit,
        )

    # -- tables: parquet ---------------------------------------------------------------

    def write_parquet(self, table: pa.Table, path: str | os.PathLike[str], **options: Any) -> Path:
        """Write ``table`` as Parquet at ``path`` in the working tree, laid out so that
        the next edited version re-stores little (``mlv.tables.parquet.write_parquet``);
        return the file's full path.

        Use it for tables rewritten and committed again and again (features,
        predictions). ``options`` are ``pyarrow.parquet.ParquetWriter`` keywords.
        """
        from mlv.tables.parquet import write_parquet

        full = self.root / self.relpath(path)
        full.parent.mkdir(parents=True, exist_ok=True)
        write_parquet(table, full, **options)
        return full

    def rewrite_parquet(
        self,
        path: str | os.PathLike[str],
        output: str | os.PathLike[str] | None = None,
        **options: Any,
    ) -> Rewritten:
        """Rewrite the working tree's table at ``path`` (any format mlv reads) as Parquet
        laid out like ``write_parquet``, in place or at ``output``, so that its next
        edited version re-stores little; ``mlv parquet rewrite``."""
        from mlv.tables.parquet import rewrite_parquet

        source = self.root / self.relpath(path)
        target = self.root / self.relpath(output) if output is not None else None
        return rewrite_parquet(source, target, **options)

    # -- repairing the index -----------------------------------------------------------

    @staticmethod
    def rebuild_index(
        path: str | os.PathLike[str] = ".",
        *,
        progress: Progress | None = None,
        on_lock_wait: Callable[[str], None] | None = None,
    ) -> RebuildReport:
        """Make ``index.db`` again from the packs, keeping the old file aside
        (``mlv.repo.rebuild``); the run cache, reproductions and profiles are made
        again from what the refs reach.

        A static method: a repository whose index is lost or damaged cannot be opened.
        """
        from mlv.repo.rebuild import rebuild_index
        from mlv.repo.results import NoProgress
        from mlv.runs.cachekey import key_of_run

        return rebuild_index(
            Path(path),
            progress or NoProgress(),
            run_cache_key=key_of_run,
            on_lock_wait=on_lock_wait,
        )

    @staticmethod
    def migrate(path: str | os.PathLike[str] = ".") -> MigrateReport:
        """Convert a repository written by mlv 0.2 (format 1) to the current format
        (``mlv.repo.migrate``); nothing to do when it has it already.

        A static method: a repository of an older format cannot be opened.
        """
        from mlv.repo.migrate import migrate

        return migrate(Path(path))

    # -- garbage collection, and checking a remote ----------------------------------------

    def gc(
        self,
        *,
        remote: str | None = None,
        grace: float | None = None,
        dry_run: bool = False,
        progress: Progress | None = None,
    ) -> GcReport | RemoteGcReport:
        """Remove what nothing reaches: from the local packs (``mlv.repo.gc``), or with
        ``remote`` from that remote, in two phases ``grace`` seconds apart (24 h by
        default; ``mlv.remote.gc``). ``dry_run`` only says what would go."""
        if remote is not None:
            return self.gc_remote(remote, grace=grace, dry_run=dry_run)
        from mlv.repo.gc import GcParts, collect

        core = self.core
        parts = GcParts(
            core.store, core.refs, core.staging, core.records, core.write_lock, core.layout.tmp
        )
        return collect(parts, dry_run=dry_run, progress=progress)

    def gc_remote(
        self, remote: str | None = None, *, grace: float | None = None, dry_run: bool = False
    ) -> RemoteGcReport:
        """``gc(remote=...)``: mark what no ref of ``remote`` reaches, delete what was
        marked more than ``grace`` seconds ago."""
        from mlv.remote.gc import DEFAULT_GRACE, collect_remote
        from mlv.remote.session import open_session

        spec = self.remotes().get(remote)
        session = open_session(self.layout, spec)
        try:
            with self.write_lock:
                return collect_remote(
                    session,
                    self.store,
                    self.refs,
                    self.records,
                    self.layout.tmp / f"gc-{os.urandom(6).hex()}",
                    grace=DEFAULT_GRACE if grace is None else grace,
                    dry_run=dry_run,
                )
        finally:
            session.close()

    def fsck_remote(
        self, remote: str | None = None, *, progress: Progress | None = None
    ) -> RemoteFsckReport:
        """Check ``remote`` whole (``mlv.remote.fsck``): its marker, indexes, refs and
        every record of every pack."""
        from mlv.remote.fsck import check_remote
        from mlv.remote.session import open_session

        spec = self.remotes().get(remote)
        session = open_session(self.layout, spec)
        try:
            with self.write_lock:
                return check_remote(
                    session,
                    self.store,
                    self.refs,
                    self.records,
                    self.layout.tmp / f"fsck-{os.urandom(6).hex()}",
                    progress,
                )
        finally:
            session.close()


def _default_name(outs: Sequence[str]) -> str:
    return Path(outs[0]).stem if outs else "run"


def open_version(
    path: str | os.PathLike[str], rev: str = "HEAD", *, repo: str | os.PathLike[str] = "."
) -> ContentFile:
    """``mlv.open``: the file at ``path`` (relative to the repository root) as it was at
    ``rev``, in the repository that holds ``repo``, opened read-only for random access.
    Closing the file closes the repository it opened."""
    opened = Repo(repo)
    try:
        return opened.core.browsing.open(path, rev, on_close=opened.close)
    except BaseException:
        opened.close()
        raise
