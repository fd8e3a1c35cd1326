"""What ``commit`` does inside a git work tree: record the code version, rewrite the pin.

``register`` joins it to a repository's extension points (``mlv.repo.extensions``):
``before_commit`` captures the code version when the caller gave none, and
``after_commit`` rewrites ``mlv.lock`` (the pin) to name the new commit.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from mlv.gitcode.capture import capture
from mlv.gitcode.pin import keeps_pin, write_pin

if TYPE_CHECKING:
    from mlv.repo.extensions import CommitEvent
    from mlv.repo.repository import Repo


def register(repo: Repo) -> None:
    """Join code capture and the pin rewrite to ``repo``'s ``commit``."""

    def on_before_commit(event: CommitEvent) -> list[str]:
        if event.code is None:
            event.code = capture(
                repo.root,
                objects=repo.objects,
                store=repo.store,
                stage=repo.staging,
                records=repo.records,
                lock=repo.write_lock,
            )
        return []

    def on_after_commit(event: CommitEvent) -> list[str]:
        if keeps_pin(repo.root):
            write_pin(repo.root, objects=repo.objects, revisions=repo.revisions, refs=repo.refs)
        return []

    repo.extensions.before_commit.register(on_before_commit)
    repo.extensions.after_commit.register(on_after_commit)
