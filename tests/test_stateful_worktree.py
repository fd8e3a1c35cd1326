"""Random sequences of add, rm, commit, checkout, switch, merge and restore, held to a model.

A hypothesis state machine edits a real working tree the way a careless user would (odd
names, symlinks pointing in and out, files turning into folders), drives mlv's Python
API, and after every step checks mlv against a plain model (tests/stateful_model.py):
what add stages, what each commit holds, what checkout writes back, that a refusal
changes nothing, that nothing outside the repository moves, and that fsck passes.

MLV_STATEFUL_EXAMPLES sets how many sequences run (CI default below), for a longer soak.
MLV_STATEFUL_AVOID leaves groups of cases out (comma-separated: the keys of NAME_GROUPS,
"outside-links", "link-loops"), to look past one known defect for the next.
"""

from __future__ import annotations

import errno
import os
import posixpath
import random
import re
import shutil
import tempfile
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar

from hypothesis import HealthCheck, Phase, event, note, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule

from mlv.api import Repo
from mlv.core.hashing import hash_bytes
from mlv.errors import MergeConflictError, MlvError, NothingToCommitError
from mlv.model.objects import Person
from mlv.repo.blobs import read_content
from stateful_model import (
    DIR,
    FILE,
    SYMLINK,
    Move,
    Node,
    Snapshot,
    ancestors,
    best_common_ancestors,
    describe_difference,
    files_of,
    reachable,
    skip_reason,
    snapshot,
    staged_after_add,
    three_way,
    tracks,
    under,
)

EXAMPLES = int(os.environ.get("MLV_STATEFUL_EXAMPLES", "80"))
STEPS = int(os.environ.get("MLV_STATEFUL_STEPS", "40"))
AVOID = {g.strip() for g in os.environ.get("MLV_STATEFUL_AVOID", "").split(",") if g.strip()}

AUTHOR = Person("Stateful", "stateful@example.com")
EPOCH = datetime(2024, 1, 1, tzinfo=UTC)

NAME_GROUPS: dict[str, list[str]] = {
    "plain": ["a", "b", "A", "a b", ".hidden", "-dash", "trail."],
    "unicode": ["é", "e\u0301", "日本"],
    "backslash": ["a\\b"],
    "reserved": [".Git", ".MLV", ".git"],
    "newline": ["new\nline"],
    "long": ["L" * 255, "é" * 127],
    # The name of one of mlv's own temporary files: never content to track.
    "temporary": [".a.mlv-0123456789ab.tmp"],
}
FOLDER_GROUPS: dict[str, list[str]] = {
    "plain": ["d", "D", "sub dir"],
    "unicode": ["é"],
    "backslash": ["x\\y"],
    "reserved": [".Git", ".MLV"],
}
NAMES = [n for g, names in NAME_GROUPS.items() if g not in AVOID for n in names]
FOLDERS = [n for g, names in FOLDER_GROUPS.items() if g not in AVOID for n in names]
BRANCH_NAMES = ["main", "feat", "b2", "nested", "nested/x"]

# Named, so that a failing sequence reads short; "big" has several chunks (a manifest).
CONTENTS = {
    "empty": b"",
    "one": b"one\n",
    "two": b"two\n",
    "binary": b"\x00\xff binary\r\n",
    "big": random.Random(9).randbytes(200_000),
}
contents = st.sampled_from(sorted(CONTENTS))

# Half the time a common name, so that paths meet: a file where a folder was, a conflict.
names = st.one_of(st.sampled_from(["a", "b"]), st.sampled_from(NAMES))
folders = st.one_of(st.just("d"), st.sampled_from(FOLDERS))
paths = st.tuples(st.lists(folders, max_size=2), names).map(
    lambda parts: "/".join([*parts[0], parts[1]])
)
picks = st.integers(min_value=0, max_value=10_000)
prefers = st.sampled_from([None, "ours", "theirs"])

T = TypeVar("T")
# What mlv writes while it works (core/paths.py, repo/checkout.py): none may outlive a step.
TMP_FILE = re.compile(r"(^|/)(\..+\.mlv-[0-9a-f]{8,12}\.tmp|\.mlv-checkout-[^/]*)$")
USER_TEMPORARY_NAMES = set(NAME_GROUPS["temporary"])


def pick(items: list[T], index: int) -> T | None:
    return items[index % len(items)] if items else None


class WorktreeMachine(RuleBasedStateMachine):
    """One repository in a fresh folder, with a sentinel folder beside it."""

    def __init__(self) -> None:
        super().__init__()
        self.box = Path(tempfile.mkdtemp(prefix="mlv-stateful-"))
        self.root = self.box / "repo"
        self.sentinel = self.box / "sentinel"
        (self.sentinel / "sub").mkdir(parents=True)
        (self.sentinel / "keep.txt").write_bytes(b"keep\n")
        (self.sentinel / "sub" / "inner.txt").write_bytes(b"inner\n")
        os.symlink("keep.txt", self.sentinel / "link")
        self.sentinel_before = snapshot(self.sentinel, skip_top=None)
        self.repo = Repo.init(self.root)
        # A way out of the tree from the start: mlv must never write or delete through it.
        os.symlink("../sentinel", self.root / "outside")
        self.stage: Snapshot = {}
        self.commits: dict[str, Snapshot] = {}
        self.parents: dict[str, tuple[str, ...]] = {}
        self.head: str | None = None
        self.branch: str | None = "main"
        self.branches: dict[str, str] = {}
        self.read_back: set[str] = set()
        self.counter = 0
        # Paths the user just wrote: what they are likely to name next.
        self.touched: list[str] = []
        self.steps = 0

    def teardown(self) -> None:
        event(f"sequence of {self.steps // 10 * 10}-{self.steps // 10 * 10 + 9} steps")
        self.repo.close()
        shutil.rmtree(self.box, ignore_errors=True)

    # -- calling mlv ------------------------------------------------------------------

    def attempt(self, what: str, call: Callable[[], T]) -> tuple[T | None, MlvError | None]:
        """Run one mlv call: an MlvError is an answer, any other exception a failure."""
        try:
            result = call()
        except MlvError as exc:
            event(f"{what}: refused ({type(exc).__name__})")
            return None, exc
        except Exception as exc:
            raise AssertionError(
                f"{what} raised {type(exc).__name__}, which is not an MlvError: {exc}"
            ) from exc
        event(f"{what}: done")
        return result, None

    def disk(self) -> Snapshot:
        return snapshot(self.root)

    def head_content(self) -> Snapshot:
        return self.commits[self.head] if self.head else {}

    def assert_unchanged(self, what: str, before: Snapshot, exc: MlvError) -> None:
        after = self.disk()
        assert after == before, (
            f"{what} was refused ({type(exc).__name__}: {exc}) but changed the working tree:\n"
            + describe_difference(before, after)
        )

    def assert_untouched(self, what: str, before: Snapshot) -> None:
        after = self.disk()
        assert after == before, f"{what} changed the working tree:\n" + describe_difference(
            before, after
        )

    def assert_disk(self, what: str, want: Snapshot) -> None:
        have = files_of(self.disk())
        assert have == want, f"after {what} the working tree is not as expected:\n" + (
            describe_difference(want, have)
        )

    @initialize(
        files=st.lists(st.tuples(paths, contents), max_size=4),
        branch=st.booleans(),
    )
    def start(self, files: list[tuple[str, str]], branch: bool) -> None:
        """Most sequences start from a first commit (and a second branch at it)."""
        for path, data in files:
            self.write(path, CONTENTS[data], False)
        if files:
            self.add_and_commit()
            if branch and self.head is not None:
                self.create_branch("feat")

    # -- the user edits the working tree -------------------------------------------------

    def make_room(self, rel: str) -> Path:
        """Clear the way for a new entry at ``rel``, as a user replacing things would."""
        for folder in ancestors(rel):
            full = self.root / folder
            if full.is_symlink() or (full.exists() and not full.is_dir()):
                full.unlink()
        full = self.root / rel
        full.parent.mkdir(parents=True, exist_ok=True)
        if full.is_dir() and not full.is_symlink():
            shutil.rmtree(full)
        elif full.is_symlink() or full.exists():
            full.unlink()
        return full

    def write(self, rel: str, data: bytes, executable: bool) -> None:
        full = self.make_room(rel)
        full.write_bytes(data)
        full.chmod(0o755 if executable else 0o644)
        self.touched.append(rel)

    @rule(path=paths, data=contents, executable=st.booleans())
    def write_file(self, path: str, data: str, executable: bool) -> None:
        self.write(path, CONTENTS[data], executable)

    @rule(index=picks)
    def delete_entry(self, index: int) -> None:
        rel = pick(sorted(self.disk()), index)
        if rel is None:
            return
        note(f"delete {rel!r}")
        full = self.root / rel
        if full.is_dir() and not full.is_symlink():
            shutil.rmtree(full)
        else:
            full.unlink()

    @rule(index=picks, name=names, data=contents)
    def file_to_folder(self, index: int, name: str, data: str) -> None:
        rel = pick(sorted(files_of(self.disk())), index)
        if rel is None:
            return
        note(f"file {rel!r} becomes a folder")
        (self.root / rel).unlink()
        (self.root / rel).mkdir()
        self.write(f"{rel}/{name}", CONTENTS[data], False)

    @rule(index=picks, data=contents)
    def folder_to_file(self, index: int, data: str) -> None:
        rel = pick(sorted(p for p, n in self.disk().items() if n[0] == DIR), index)
        if rel is None:
            return
        note(f"folder {rel!r} becomes a file")
        shutil.rmtree(self.root / rel)
        self.write(rel, CONTENTS[data], False)

    @rule(
        path=paths,
        index=picks,
        form=st.sampled_from(["plain", "dotted", "itself"]),
        replacing=st.booleans(),
    )
    def link_inside(self, path: str, index: int, form: str, replacing: bool) -> None:
        """A symlink to a file or folder of the tree (or to nothing there, or to itself),
        new or in place of an entry that is there."""
        entries = sorted(self.disk())
        if replacing and entries:
            path = pick(entries, index // 7) or path
        to = path if form == "itself" else pick(entries, index) or "missing"
        target = posixpath.relpath(to, posixpath.dirname(path) or ".")
        target = "./" + target if form == "dotted" else target
        note(f"symlink {path!r} -> {target!r}")
        full = self.make_room(path)
        os.symlink(target, full)
        self.touched.append(path)
        if "link-loops" in AVOID and _loops(full):
            full.unlink()

    @rule(path=paths, which=st.integers(0, 8))
    def link_outside(self, path: str, which: int) -> None:
        """A symlink out of the tree, or into .mlv: mlv must neither store nor follow it."""
        if "outside-links" in AVOID:
            return
        up = "../" * (path.count("/") + 1)
        target = [
            str(self.sentinel),
            str(self.sentinel / "keep.txt"),
            up + "sentinel",
            up + "sentinel/sub",
            "../..",
            "/",
            up + ".mlv",
            "d/../../sentinel",
            up + ".GIT/x",
        ][which]
        note(f"symlink {path!r} -> {target!r}")
        os.symlink(target, self.make_room(path))
        self.touched.append(path)

    @rule(index=picks, on=st.booleans())
    def chmod(self, index: int, on: bool) -> None:
        rel = pick(sorted(p for p, n in self.disk().items() if n[0] == FILE), index)
        if rel is not None:
            note(f"chmod {'+x' if on else '-x'} {rel!r}")
            (self.root / rel).chmod(0o755 if on else 0o644)

    # -- mlv: staging and committing -----------------------------------------------------

    def named_paths(self, disk: Snapshot) -> list[str]:
        """Paths a user might name: entries on disk, staged paths and their folders.

        Paths below a symlink are left out: mlv resolves them to where the link leads.
        """
        names = set(disk) | set(self.stage) | {a for p in self.stage for a in ancestors(p)}
        return sorted(
            p for p in names if not any(disk.get(a, (DIR,))[0] == SYMLINK for a in ancestors(p))
        )

    @rule(index=picks, what=st.sampled_from(["everything", "just written", "any path"]))
    def add(self, index: int, what: str = "everything") -> None:
        disk = self.disk()
        named = self.named_paths(disk)
        if what == "just written":
            named = [p for p in self.touched[-3:] if p in named]
        rel = "" if what == "everything" else pick(named, index)
        if rel is None:
            return
        result, exc = self.attempt("add", lambda: self.repo.add([rel or "."]))
        self.assert_untouched(f"add {rel!r}", disk)
        if exc is not None:
            assert rel and refusable(rel, disk), (
                f"add {rel!r} of a path that exists or is staged was refused: "
                f"{type(exc).__name__}: {exc}"
            )
            return
        assert result is not None
        self.stage = staged_after_add(self.stage, disk, [rel])
        self.check_stage(f"add {rel!r}")
        # What add leaves out for a reason of its own it says, in a warning.
        for path, node in files_of(disk).items():
            reason = skip_reason(path, node)
            if under(path, rel) and reason and reason != "silent":
                named = [path, *ancestors(path)]
                assert any(p in w or repr(p)[1:-1] in w for w in result.warnings for p in named), (
                    f"add {rel!r} skipped {path!r} ({reason}) without a warning: {result.warnings}"
                )

    @rule(index=picks, cached=st.booleans(), force=st.booleans())
    def rm(self, index: int, cached: bool, force: bool) -> None:
        disk = self.disk()
        rel = pick(
            [
                p
                for p in self.named_paths(disk)
                if p in self.stage or any(under(s, p) for s in self.stage)
            ],
            index,
        )
        if rel is None:
            return
        targets = sorted(p for p in self.stage if under(p, rel))
        head = self.head_content()
        files = files_of(disk)
        _, exc = self.attempt("rm", lambda: self.repo.rm([rel], cached=cached, force=force))
        if exc is not None:
            self.assert_unchanged(f"rm {rel!r}", disk, exc)
            dirty = [
                p
                for p in targets
                if (p in files and files[p] != self.stage[p]) or head.get(p) != self.stage[p]
            ]
            assert not cached and not force and dirty, (
                f"rm {rel!r} (cached={cached}, force={force}) was refused with nothing at "
                f"risk: {type(exc).__name__}: {exc}"
            )
            return
        if not cached and not force:
            lost = [p for p in targets if p in files and files[p] != head.get(p)]
            assert not lost, f"rm {rel!r} deleted uncommitted work: {lost}"
        for p in targets:
            del self.stage[p]
            if not cached:
                files.pop(p, None)
        self.assert_disk(f"rm {rel!r}", files)

    @rule()
    def add_and_commit(self) -> None:
        """``add .`` then commit: the common pair, so that histories grow."""
        self.add(0)
        self.commit()

    @rule(name=st.sampled_from(["main", "feat"]), path=paths, data=contents)
    def work_on_branch(self, name: str, path: str, data: str) -> None:
        """Switch to a branch, change one file and commit: histories that diverge, to merge."""
        self.switch(name, force=True, create=name not in self.branches)
        self.write(path, CONTENTS[data], False)
        self.add_and_commit()

    @rule(ours=st.tuples(paths, contents), theirs=st.tuples(paths, contents), prefer=prefers)
    def diverge_and_merge(
        self, ours: tuple[str, str], theirs: tuple[str, str], prefer: str | None
    ) -> None:
        """One change on feat, another on main, then merge feat into main."""
        self.work_on_branch("feat", *theirs)
        self.work_on_branch("main", *ours)
        if self.branch == "main" and "feat" in self.branches:
            self.merge(sorted(self.branches).index("feat"), prefer)

    @rule()
    def commit(self) -> None:
        self.counter += 1
        message = f"change {self.counter}"
        nothing = self.stage == self.head_content()
        disk = self.disk()
        # A fixed clock: the same sequence makes the same commit ids when hypothesis replays it.
        when = EPOCH + timedelta(seconds=self.counter)
        commit_id, exc = self.attempt(
            "commit", lambda: self.repo.commit(message, author=AUTHOR, when=when)
        )
        self.assert_untouched("commit", disk)
        if exc is not None:
            assert nothing and isinstance(exc, NothingToCommitError), (
                f"commit was refused: {type(exc).__name__}: {exc}"
            )
            return
        assert not nothing, "commit made a commit with nothing staged"
        assert commit_id is not None
        self.record_commit(commit_id, dict(self.stage), (self.head,) if self.head else ())

    def record_commit(self, commit_id: str, content: Snapshot, parents: tuple[str, ...]) -> None:
        self.commits[commit_id] = content
        self.parents[commit_id] = parents
        self.head = commit_id
        if self.branch is not None:
            self.branches[self.branch] = commit_id
        flat = self.repo.flat_tree(commit_id)
        want = {p: _entry(n) for p, n in content.items()}
        have = {p: (e.kind, e.id, e.executable, e.size) for p, e in flat.items()}
        assert have == want, "the commit does not hold what was staged:\n" + "\n".join(
            f"  {p!r}: expected {want.get(p)}, found {have.get(p)}"
            for p in sorted(want.keys() | have.keys())
            if want.get(p) != have.get(p)
        )

    # -- mlv: moving between versions ----------------------------------------------------

    @rule(name=st.sampled_from(BRANCH_NAMES))
    def create_branch(self, name: str) -> None:
        clash = name in self.branches or any(
            under(b, name) or under(name, b) for b in self.branches
        )
        _, exc = self.attempt("create_branch", lambda: self.repo.create_branch(name))
        if exc is not None:
            assert self.head is None or clash, f"create_branch {name!r} was refused: {exc}"
            return
        assert self.head is not None and not clash, f"create_branch {name!r} should fail"
        self.branches[name] = self.head

    @rule(name=st.sampled_from(BRANCH_NAMES), force=st.booleans(), create=st.booleans())
    def switch(self, name: str, force: bool, create: bool) -> None:
        if create:
            clash = name in self.branches or any(
                under(b, name) or under(name, b) for b in self.branches
            )
            _, exc = self.attempt("switch -c", lambda: self.repo.switch(name, create=True))
            if exc is not None:
                assert clash, f"switch -c {name!r} was refused: {exc}"
                return
            assert not clash, f"switch -c {name!r} should fail: the branch exists"
            if self.head is not None:
                self.branches[name] = self.head
            self.branch = name
            return
        if name not in self.branches:
            _, exc = self.attempt("switch", lambda: self.repo.switch(name, force=force))
            assert exc is not None, f"switch to a missing branch {name!r} did not fail"
            return
        self.move(
            f"switch {name!r}" + (" --force" if force else ""),
            lambda: self.repo.switch(name, force=force),
            self.branches[name],
            name,
            force,
        )

    @rule(index=picks, force=st.booleans(), kind=st.sampled_from(["id", "branch", "HEAD"]))
    def checkout(self, index: int, force: bool, kind: str) -> None:
        if kind == "branch":
            rev = pick(sorted(self.branches), index)
            target = self.branches.get(rev) if rev else None
            branch = rev
        elif kind == "HEAD":
            rev, target, branch = "HEAD", self.head, self.branch
        else:
            rev = target = pick(list(self.commits), index)
            branch = None
        if rev is None or target is None:
            return
        flag = " --force" if force else ""
        self.move(
            f"checkout {rev[:12]!r}{flag}",
            lambda: self.repo.checkout(rev, force=force),
            target,
            branch,
            force,
        )

    def move(
        self,
        what: str,
        call: Callable[[], Any],
        target: str,
        branch: str | None,
        force: bool,
    ) -> None:
        disk = self.disk()
        plan = Move(disk, self.stage, self.head_content(), self.commits[target], force=force)
        clean = self.stage == self.head_content() and all(
            disk.get(p) == n for p, n in self.stage.items()
        )
        event(f"{what.split()[0]} from a {'clean' if clean else 'changed'} tree")
        _, exc = self.attempt(what.split()[0], call)
        if exc is not None:
            self.assert_unchanged(what, disk, exc)
            reasons = plan.refusal_reasons()
            assert reasons, f"{what} was refused with nothing in the way: {exc}"
            return
        reasons = plan.at_risk()
        assert not reasons, f"{what} succeeded but overwrote or deleted uncommitted {reasons}"
        self.assert_disk(what, plan.disk_after())
        self.stage = plan.new_stage()
        self.head = target
        self.branch = branch

    @rule(index=picks, prefer=prefers, missing=st.booleans())
    def merge(self, index: int, prefer: str | None, missing: bool = False) -> None:
        name = "missing" if missing else pick(sorted(self.branches), index) or "main"
        what = f"merge {name!r}" + (f" --{prefer}" if prefer else "")
        theirs = self.branches.get(name)
        if self.head is None or theirs is None:
            _, exc = self.attempt("merge", lambda: self.repo.merge(name, prefer=prefer))
            assert exc is not None, f"{what} with nothing to merge did not fail"
            return
        disk = self.disk()
        ours = self.head_content()
        dirty = self.stage != ours or any(disk.get(p) != n for p, n in self.stage.items())
        up_to_date = theirs in reachable(self.parents, [self.head])
        fast_forward = self.head in reachable(self.parents, [theirs])
        bases = best_common_ancestors(self.parents, self.head, theirs)
        kind = "up-to-date" if up_to_date else "fast-forward" if fast_forward else "three-way"
        event(f"merge: {kind}{' over changes' if dirty else ''}")
        result, exc = self.attempt(
            "merge", lambda: self.repo.merge(name, prefer=prefer, author=AUTHOR)
        )
        if up_to_date:
            assert exc is None and result is not None and result.kind == "up-to-date", (
                f"{what}: expected up-to-date, got {result or exc!r}"
            )
            return
        if dirty:
            assert exc is not None, f"{what} went ahead over uncommitted changes"
            self.assert_unchanged(what, disk, exc)
            return
        if fast_forward:
            plan = Move(disk, self.stage, ours, self.commits[theirs], force=False)
        else:
            base = self.commits[bases[0]] if len(bases) == 1 else None
            if base is None:
                event("merge: several best common ancestors")
                self.settle_merge_without_model(what, disk, result, exc, theirs)
                return
            merged, conflicts = three_way(base, ours, self.commits[theirs], prefer)
            if conflicts:
                event("merge: conflicts")
                assert isinstance(exc, MergeConflictError), (
                    f"{what}: expected conflicts in {conflicts}, got {result or exc!r}"
                )
                assert sorted(exc.paths) == conflicts, f"{what}: conflicts {exc.paths}"
                self.assert_unchanged(what, disk, exc)
                return
            plan = Move(disk, self.stage, ours, merged, force=False, carry=False)
        if exc is not None:
            self.assert_unchanged(what, disk, exc)
            assert plan.refusal_reasons(), f"{what} was refused with nothing in the way: {exc}"
            return
        assert result is not None
        self.assert_disk(what, plan.disk_after())
        self.stage = plan.new_stage()
        if fast_forward:
            assert result.kind == "fast-forward", f"{what}: expected a fast-forward: {result}"
            self.head = theirs
            if self.branch is not None:
                self.branches[self.branch] = theirs
        else:
            assert result.kind == "merge", f"{what}: expected a merge commit: {result}"
            self.record_commit(result.commit, plan.target, (self.head, theirs))

    def settle_merge_without_model(
        self, what: str, disk: Snapshot, result: Any, exc: MlvError | None, theirs: str
    ) -> None:
        """With several merge bases the model takes the merge mlv made, once it is coherent."""
        if exc is not None:
            self.assert_unchanged(what, disk, exc)
            return
        if result.kind == "merge":
            flat = self.repo.flat_tree(result.commit)
            content = {p: self.node_at(result.commit, p) for p in flat}
            self.stage = dict(content)
            self.record_commit(result.commit, content, (self.head, theirs))

    def node_at(self, commit_id: str, path: str) -> Node:
        entry = self.repo.flat_tree(commit_id)[path]
        data = read_content(self.repo.store, entry.id)
        return (entry.kind, data, entry.executable)

    @rule(index=picks)
    def restore(self, index: int) -> None:
        disk = self.disk()
        rel = pick(
            [""] + [p for p in self.named_paths(disk) if any(under(s, p) for s in self.stage)],
            index,
        )
        if rel is None or not self.stage:
            return
        target = {p: n for p, n in self.stage.items() if under(p, rel)}
        _, exc = self.attempt("restore", lambda: self.repo.restore([rel or "."]))
        plan = Move(disk, self.stage, {}, target, force=True, carry=False, whole=False)
        if exc is not None:
            self.assert_unchanged(f"restore {rel!r}", disk, exc)
            assert plan.refusal_reasons(), f"restore {rel!r} was refused: {exc}"
            return
        self.assert_disk(f"restore {rel!r}", plan.disk_after())

    @rule(commit=picks, index=picks, force=st.booleans())
    def checkout_paths(self, commit: int, index: int, force: bool) -> None:
        """``checkout REV -- PATH``: the commit's files under a path, HEAD left where it is."""
        rev = pick(list(self.commits), commit)
        if rev is None:
            return
        disk = self.disk()
        wanted = self.commits[rev]
        rel = pick(sorted({q for p in wanted for q in [p, *ancestors(p)]}), index)
        if rel is None:
            return
        what = f"checkout {rev[:12]} -- {rel!r}" + (" --force" if force else "")
        target = {p: n for p, n in wanted.items() if under(p, rel)}
        _, exc = self.attempt("checkout paths", lambda: self.repo.checkout(rev, [rel], force=force))
        head = self.head_content()
        plan = Move(disk, self.stage, head, target, force=force, carry=False, whole=False)
        if exc is not None:
            self.assert_unchanged(what, disk, exc)
            assert plan.refusal_reasons(), f"{what} was refused with nothing in the way: {exc}"
            return
        reasons = plan.at_risk()
        assert not reasons, f"{what} succeeded but overwrote uncommitted {reasons}"
        self.assert_disk(what, plan.disk_after())
        self.stage = plan.new_stage()

    # -- after every step ---------------------------------------------------------------

    @invariant()
    def nothing_outside_changed(self) -> None:
        self.steps += 1
        assert sorted(os.listdir(self.box)) == ["repo", "sentinel"], os.listdir(self.box)
        after = snapshot(self.sentinel, skip_top=None)
        assert after == self.sentinel_before, (
            "a file outside the repository changed:\n"
            + describe_difference(self.sentinel_before, after)
        )

    @invariant()
    def no_temporary_files_left(self) -> None:
        left = [
            p
            for p in self.disk()
            if TMP_FILE.search(p) and p.rpartition("/")[2] not in USER_TEMPORARY_NAMES
        ]
        scratch = self.root / ".mlv" / "tmp"
        left += [f".mlv/tmp/{n}" for n in (os.listdir(scratch) if scratch.is_dir() else [])]
        assert not left, f"temporary files left behind: {left}"

    @invariant()
    def stage_and_refs_match_the_model(self) -> None:
        self.check_stage("the last step")
        assert self.repo.branches() == self.branches, (
            f"branches {self.repo.branches()}, expected {self.branches}"
        )
        head = self.repo.refs.head()
        assert (head.commit, head.branch) == (self.head, self.branch), (
            f"HEAD is {head}, expected commit {self.head} on branch {self.branch}"
        )

    @invariant()
    def every_ref_reads_back(self) -> None:
        """Every commit a ref reaches reads back whole, with a fresh repository object."""
        with Repo(self.root) as fresh:
            tips = list(fresh.branches().values())
            head = fresh.refs.head().commit
            tips += [head] if head else []
            for commit_id in reachable_commits(fresh, tips) - self.read_back:
                flat = fresh.flat_tree(commit_id)
                for path, entry in flat.items():
                    data = read_content(fresh.store, entry.id)
                    assert hash_bytes(data) == entry.id, f"{path} in {commit_id} reads wrong"
                    assert tracks(path, (entry.kind, data, entry.executable)), (
                        f"commit {commit_id[:12]} holds {path!r}, which checkout refuses "
                        f"({skip_reason(path, (entry.kind, data, entry.executable))})"
                    )
                self.read_back.add(commit_id)

    @invariant()
    def fsck_passes(self) -> None:
        report = self.repo.fsck()
        assert report.ok, "fsck: " + "; ".join(
            f"{p.object_id[:12]} {p.where}: {p.problem}" for p in report.problems
        )

    def check_stage(self, after: str) -> None:
        have = {
            p: (s.kind, s.id, bool(s.executable), s.size)
            for p, s in self.repo.staging.load().items()
        }
        want = {p: _entry(n) for p, n in self.stage.items()}
        assert have == want, f"after {after} the stage is not as expected:\n" + "\n".join(
            f"  {p!r}: expected {want.get(p)}, staged {have.get(p)}"
            for p in sorted(want.keys() | have.keys())
            if want.get(p) != have.get(p)
        )


def _loops(link: Path) -> bool:
    try:
        os.stat(link)
    except OSError as exc:
        return exc.errno == errno.ELOOP
    return False


def refusable(rel: str, disk: Snapshot) -> bool:
    """Whether add may refuse ``rel`` outright: it names something mlv never tracks."""
    node = disk.get(rel)
    if node is not None and node[0] == SYMLINK and skip_reason(rel, node):
        return True
    return any(skip_reason(name, (FILE, b"", False)) for name in rel.split("/"))


def _entry(node: Node) -> tuple[str, str, bool, int]:
    kind, data, executable = node
    return (kind, hash_bytes(data), executable, len(data))


def reachable_commits(repo: Repo, tips: list[str]) -> set[str]:
    seen: set[str] = set()
    stack = list(tips)
    while stack:
        commit_id = stack.pop()
        if commit_id not in seen:
            seen.add(commit_id)
            stack.extend(repo.read_commit(commit_id).parents)
    return seen


SETTINGS = settings(
    max_examples=EXAMPLES,
    # The explain phase reruns a failing sequence hundreds of times to annotate it: minutes.
    phases=[Phase.explicit, Phase.reuse, Phase.generate, Phase.target, Phase.shrink],
    stateful_step_count=STEPS,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)


# A unittest case that pytest collects; hypothesis reports its statistics
# (pytest --hypothesis-show-statistics): examples run, steps, and the events of each rule.
TestWorktreeAgainstTheModel = WorktreeMachine.TestCase
TestWorktreeAgainstTheModel.settings = SETTINGS
