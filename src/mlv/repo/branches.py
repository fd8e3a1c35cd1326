"""Branches and tags: listing, creating and deleting them (moving to one is ``switching``)."""

from __future__ import annotations

from dataclasses import dataclass

from mlv.errors import InvalidArgumentError, NotFoundError, UncommittedChangesError
from mlv.repo import history
from mlv.repo.base import Objects, Revisions
from mlv.repo.locking import WriteLock
from mlv.repo.refs import HEADS, TAGS, RefStore, check_ref_name


@dataclass
class Branches:
    """The names of commits: branches under ``refs/heads/``, tags under ``refs/tags/``."""

    objects: Objects
    revisions: Revisions
    refs: RefStore
    write_lock: WriteLock

    def branches(self) -> dict[str, str]:
        return self.refs.list(HEADS)

    def current_branch(self) -> str | None:
        return self.refs.head().branch

    def create_branch(self, name: str, rev: str = "HEAD") -> str:
        check_ref_name(name)
        with self.write_lock:
            if self.refs.read(HEADS + name):
                raise InvalidArgumentError(f"branch {name!r} already exists")
            commit_id = self.revisions.resolve(rev)
            self.refs.update(HEADS + name, commit_id, None, message=f"branch: from {rev}")
            return commit_id

    def delete_branch(self, name: str, *, force: bool = False) -> str:
        with self.write_lock:
            commit_id = self.refs.read(HEADS + name)
            if commit_id is None:
                raise NotFoundError(f"no branch named {name!r}; see 'mlv branch'")
            if self.current_branch() == name:
                raise InvalidArgumentError(f"cannot delete {name!r}: it is the current branch")
            head = self.refs.head().commit
            if not force and (
                head is None or not history.is_ancestor(self.objects.read_commit, commit_id, head)
            ):
                raise UncommittedChangesError(
                    f"branch {name!r} is not merged into HEAD; use --force to delete it anyway"
                )
            self.refs.delete(HEADS + name)
            return commit_id

    def tags(self) -> dict[str, str]:
        return self.refs.list(TAGS)

    def create_tag(self, name: str, rev: str = "HEAD", *, force: bool = False) -> str:
        check_ref_name(name, "tag")
        with self.write_lock:
            old = self.refs.read(TAGS + name)
            if old and not force:
                raise InvalidArgumentError(f"tag {name!r} already exists; use --force to move it")
            commit_id = self.revisions.resolve(rev)
            self.refs.update(TAGS + name, commit_id, old, message=f"tag: {rev}")
            return commit_id

    def delete_tag(self, name: str) -> str:
        with self.write_lock:
            commit_id = self.refs.read(TAGS + name)
            if commit_id is None:
                raise NotFoundError(f"no tag named {name!r}; see 'mlv tag'")
            self.refs.delete(TAGS + name)
            return commit_id
