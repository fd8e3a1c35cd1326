"""What a ``git push`` sends, read from git: the refs on pre-push's input and the
mlv commits that the git commits being pushed pin in their ``mlv.lock``."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mlv.errors import FormatError, InvalidArgumentError
from mlv.gitcode.pin import PIN_FILE, Pin


@dataclass(frozen=True)
class PushedRef:
    """One line of pre-push's input: ``<local ref> <local sha> <remote ref> <remote sha>``."""

    local_ref: str
    local_sha: str
    remote_ref: str
    remote_sha: str

    @property
    def deletes(self) -> bool:
        # git names a ref being deleted with an all-zero local id (40 or 64 digits).
        return not self.local_sha.strip("0")


def parse_pushed_refs(text: str) -> list[PushedRef]:
    refs = []
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        fields = line.split()
        if len(fields) != 4:
            raise InvalidArgumentError(
                f"pre-push input line {number}: expected "
                "'<local ref> <local sha> <remote ref> <remote sha>'"
            )
        refs.append(PushedRef(*fields))
    return refs


def pinned_commits(root: Path, git_remote: str, pushed: list[PushedRef]) -> dict[str, str]:
    """mlv commit id -> the git commit that pins it, for each git commit being pushed
    whose tree holds the ``mlv.lock`` of the project at ``root``.

    The commits being pushed are those each ref's new value reaches and its old value
    on the remote does not; for a ref new to the remote, those that none of the
    remote-tracking refs of ``git_remote`` reach (git's own sample hook does the same).
    """
    from dulwich.errors import NotTreeError
    from dulwich.object_store import tree_lookup_path
    from dulwich.objects import ObjectID
    from dulwich.repo import Repo as GitRepo

    pins: dict[str, str] = {}
    with GitRepo.discover(root) as git:
        rel = os.path.relpath(root.resolve(), Path(git.path).resolve())
        lock_path = (Path(rel) / PIN_FILE).as_posix().removeprefix("./").encode()
        tracking = [
            sha
            for name, sha in git.get_refs().items()
            if name.startswith(f"refs/remotes/{git_remote}/".encode())
        ]
        seen_blobs: set[bytes] = set()
        for ref in pushed:
            if ref.deletes:
                continue
            old = ObjectID(ref.remote_sha.encode())
            # The remote's old value may be a commit this clone never fetched.
            exclude = [old] if ref.remote_sha.strip("0") and _has(git, old) else tracking
            new = ObjectID(ref.local_sha.encode())
            for entry in git.get_walker(include=[new], exclude=exclude):
                commit = entry.commit
                try:
                    _, blob_id = tree_lookup_path(git.__getitem__, commit.tree, lock_path)
                except (KeyError, NotTreeError):
                    continue  # no mlv.lock in this commit
                if blob_id in seen_blobs:
                    continue
                seen_blobs.add(blob_id)
                text = git[blob_id].as_raw_string().decode("utf-8", "replace")
                git_commit = commit.id.decode()
                try:
                    pin = Pin.from_text(text)
                except FormatError as exc:
                    raise FormatError(f"git commit {git_commit[:12]}: {exc}") from None
                pins.setdefault(pin.commit, git_commit)
    return pins


def _has(git: Any, object_id: bytes) -> bool:
    try:
        git.object_store[object_id]
    except KeyError:
        return False
    return True
