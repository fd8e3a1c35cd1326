"""Typed errors raised by the library; the CLI maps them to one line and an exit code."""

from __future__ import annotations

from typing import Any


class MlvError(Exception):
    """Base of every error mlv raises on purpose.

    ``exit_code`` is what the CLI exits with: 2 for bad input or an environment
    problem, 1 for "a check found a difference".
    """

    exit_code = 2


class NotARepositoryError(MlvError):
    """No ``.mlv`` directory was found at or above the given path."""


class NotFoundError(MlvError):
    """A revision, path or object that the caller named does not exist."""


class ObjectMissingError(NotFoundError):
    """An object that the store should hold is absent."""

    def __init__(self, object_id: str, detail: str = "") -> None:
        self.object_id = object_id
        super().__init__(f"object {object_id} is missing from the store{detail}; run 'mlv fsck'")


class InvalidArgumentError(MlvError):
    """The caller gave an argument that cannot be acted on."""


class FormatError(MlvError):
    """Bytes on disk do not parse as the format they claim to be."""


class ChecksumMismatchError(FormatError):
    """An object's content does not hash to its id: the store is damaged."""

    def __init__(self, object_id: str, where: str = "") -> None:
        self.object_id = object_id
        self.where = where
        place = f" in {where}" if where else ""
        super().__init__(
            f"object {object_id} is damaged{place}: its content does not match its id; "
            "run 'mlv fsck' to list all damage"
        )


class BlockedPathError(FormatError):
    """Something other than what mlv keeps there sits on a path inside ``.mlv``."""

    def __init__(self, rel: str, found: str, wanted: str) -> None:
        self.rel, self.found, self.wanted = rel, found, wanted
        super().__init__(
            f".mlv/{rel} is {found}, not {wanted}; mlv does not follow or replace it: "
            "move it out of .mlv, then run 'mlv fsck'"
        )


class UnsupportedVersionError(MlvError):
    """The repository or an object uses a format version this mlv does not know."""


class MigrationNeededError(UnsupportedVersionError):
    """The repository has an older format this mlv converts with ``mlv migrate``."""


class LockError(MlvError):
    """Another process holds a lock that did not become free in time."""


class RefConflictError(MlvError):
    """A ref moved under us: someone else updated it since we read it."""


class FileChangedError(MlvError):
    """A file kept changing while mlv read it."""


class UnsafePathError(MlvError):
    """A tree entry or path would lead outside the working tree or into ``.mlv``/``.git``."""


class UncommittedChangesError(MlvError):
    """An operation would overwrite or delete work that is not committed."""


class NothingToCommitError(MlvError):
    """A commit was asked for with no change staged."""


class MergeConflictError(MlvError):
    """A three-way merge found paths changed on both sides."""

    exit_code = 1

    def __init__(self, paths: list[str]) -> None:
        self.paths = paths
        shown = ", ".join(paths[:5]) + (f" and {len(paths) - 5} more" if len(paths) > 5 else "")
        super().__init__(
            f"merge conflict in {len(paths)} path(s): {shown}; "
            "nothing was changed; rerun with --ours or --theirs"
        )


class ContractError(MlvError):
    """A table breaks its data contract in ``mlv.yaml`` and strict checking refuses it."""

    exit_code = 1


class CommandFailedError(MlvError):
    """A command that mlv ran for the user exited non-zero; mlv exits with its code."""

    def __init__(self, message: str, exit_code: int) -> None:
        super().__init__(message)
        # A signal shows as a negative return code; a shell reports it as 128 + signal.
        self.exit_code = exit_code if exit_code > 0 else 128 - exit_code if exit_code < 0 else 1


class StagesFailedError(CommandFailedError):
    """Stages of the pipeline failed; ``result`` (a ``mlv.pipeline.repro.ReproResult``)
    says what happened to every stage."""

    def __init__(self, message: str, exit_code: int, result: Any) -> None:
        super().__init__(message, exit_code)
        self.result = result


class ReproductionFailedError(CommandFailedError):
    """A recorded run failed in the workspace; ``report`` (a
    ``mlv.reproduce.verify.ReproductionReport``) is what was done and recorded."""

    def __init__(self, message: str, exit_code: int, report: Any) -> None:
        super().__init__(message, exit_code)
        self.report = report


class HookFailedError(MlvError):
    """A pre-commit or pre-merge action (``hooks:`` in mlv.yaml) failed: the operation is off."""

    exit_code = 1


class UnhashableTypeError(MlvError):
    """A column of a type the row diff cannot compare (a union, an extension type)."""


class PipelineError(InvalidArgumentError):
    """A pipeline file, a params file or a run's declaration cannot be used as written.

    The message is one line: the file, the stage when there is one, the problem
    and what to do about it.
    """


class ParamsKeyError(PipelineError, KeyError):
    """A dotted key names nothing in a params document.

    A ``KeyError`` too, so that callers probing for optional keys can catch it
    the ordinary way.
    """

    def __init__(self, key: str, message: str) -> None:
        self.key = key
        super().__init__(message)

    def __str__(self) -> str:
        # KeyError would print the repr of the message, quotes and all.
        return str(self.args[0]) if self.args else ""


class IndexDamagedError(FormatError):
    """``index.db`` is lost, unreadable or damaged; ``mlv index rebuild`` makes it again."""


class DatabaseAccessError(MlvError):
    """``index.db`` cannot be read or written: a full disk, an I/O error, permissions."""


class RemoteError(MlvError):
    """A remote cannot be used: unreachable, refusing us, misconfigured, or not an mlv
    remote. The message names the remote and says what to check."""
