"""Attacks on push, fetch, pull and clone: a careless user, and a remote that lies.

A folder remote is easiest to tamper with: the tests craft real objects (canonical
JSON trees and commits, ids that are their BLAKE3), pack them with ``PackBuilder``
and ``encode_index`` (or break either on purpose), put them on the remote through
the ``Storage`` API, and point a ref at the hostile commit. Then the real ``mlv``
command clones, fetches and pulls, and each test checks what the requirement asks:

* the command is refused: exit code 2, one line on stderr, no traceback;
* nothing outside the clone's (or the repository's) folder is created or changed:
  the parent folder is snapshot before and compared after;
* no local ref names the hostile commit.

Every attack is run through clone, fetch and pull; ``ACCEPTED`` names the one that is
taken on purpose, with the test that says so.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import signal
import stat
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from conftest import S3Bucket, mlv_env, mlv_executable
from mlv.api import Repo
from mlv.core.hashing import hash_bytes
from mlv.model.canonical import dumps
from mlv.model.objects import Commit, FileManifest, Person, TreeEntry, encode_tree
from mlv.remote.layout import MARKER, PACKS, index_key, pack_key
from mlv.remote.packindex import INDEX_ENTRY, INDEX_HEADER, INDEX_MAGIC, IndexEntry, encode_index
from mlv.remote.packing import PackBuilder
from mlv.remote.pathstore import PathStorage
from mlv.remote.storage import Storage
from mlv.store.pack import (
    CODEC_RAW,
    KIND_CHUNK,
    KIND_MANIFEST,
    KIND_META,
    encode_record,
)

RunMlv = Callable[..., subprocess.CompletedProcess]

# -- crafting objects and packs ---------------------------------------------------------


@dataclass
class Rec:
    """One record to put in a pack: the id it is stored (and indexed) under."""

    id: str
    kind: int
    record: bytes


def chunk(data: bytes, *, as_id: str | None = None) -> Rec:
    object_id = as_id or hash_bytes(data)
    return Rec(
        object_id,
        KIND_CHUNK,
        encode_record(bytes.fromhex(object_id), KIND_CHUNK, CODEC_RAW, len(data), data),
    )


def meta(data: bytes, *, as_id: str | None = None) -> Rec:
    object_id = as_id or hash_bytes(data)
    return Rec(
        object_id,
        KIND_META,
        encode_record(bytes.fromhex(object_id), KIND_META, CODEC_RAW, len(data), data),
    )


def manifest(file_id: str, chunks: list[tuple[str, int]]) -> Rec:
    body = FileManifest(sum(n for _, n in chunks), tuple(chunks)).to_bytes()
    return Rec(
        file_id,
        KIND_MANIFEST,
        encode_record(bytes.fromhex(file_id), KIND_MANIFEST, CODEC_RAW, len(body), body),
    )


def tree(entries: list[TreeEntry]) -> Rec:
    """A tree's canonical bytes, written as mlv writes them, whatever the names."""
    return meta(encode_tree(sorted(entries, key=lambda e: e.name.encode())))


def commit(tree_id: str, parents: tuple[str, ...] = (), message: str = "hostile\n") -> Rec:
    return meta(
        Commit(
            tree=tree_id,
            parents=parents,
            author=Person("Mallory", "mallory@example.com"),
            time=1_700_000_000,
            tz_offset=0,
            message=message,
        ).to_bytes()
    )


def build_pack(scratch: Path, records: list[Rec]) -> tuple[bytes, str, list[IndexEntry]]:
    """The bytes mlv's pack builder makes of ``records``, built in a folder of its own."""
    folder = scratch / f"built-{os.urandom(4).hex()}"
    folder.mkdir(parents=True)
    builder = PackBuilder(PathStorage(folder).open_upload(PACKS, folder, None))
    for rec in records:
        builder.add(bytes.fromhex(rec.id), rec.kind, rec.record)
    built = builder.finish()
    data = (folder / pack_key(built.pack_id)).read_bytes()
    shutil.rmtree(folder)
    return data, built.pack_id, built.entries


def put_pack(
    storage: Storage,
    scratch: Path,
    records: list[Rec],
    *,
    pack_bytes: Callable[[bytes], bytes] | None = None,
    entries: Callable[[list[IndexEntry]], list[IndexEntry]] | None = None,
    name: str | None = None,
    index_id: str | None = None,
    size: int | None = None,
    raw_index: bytes | None = None,
) -> str:
    """Put a pack of ``records`` and its index on the remote; each hook lies in one way."""
    data, pack_id, found = build_pack(scratch, records)
    listed = entries(found) if entries else found
    stated = size if size is not None else len(data)
    data = pack_bytes(data) if pack_bytes else data
    key_id = name or pack_id
    storage.put(pack_key(key_id), data)
    index = raw_index if raw_index is not None else encode_index(index_id or key_id, stated, listed)
    storage.put(index_key(key_id), index)
    return key_id


def put_ref(storage: Storage, name: str, value: bytes) -> None:
    storage.put(name, value)


def hostile_tree_commit(
    entries: list[TreeEntry], extra: list[Rec], parent: str | None
) -> tuple[list[Rec], str]:
    root = tree(entries)
    top = commit(root.id, (parent,) if parent else ())
    return [*extra, root, top], top.id


# -- snapshots and running mlv ---------------------------------------------------------


def snapshot(root: Path, skip: Path | None = None) -> dict[str, tuple[object, ...]]:
    """Every path below ``root`` but ``skip``: its type, size, mtime and bytes (or target)."""
    found: dict[str, tuple[object, ...]] = {}
    for folder, dirs, files in os.walk(root):
        here = Path(folder)
        dirs[:] = [d for d in dirs if skip is None or here / d != skip]
        for name in [*dirs, *files]:
            path = here / name
            if skip is not None and path == skip:
                continue
            st = path.lstat()
            if stat.S_ISREG(st.st_mode):
                content: object = hashlib.sha256(path.read_bytes()).hexdigest()
            elif stat.S_ISLNK(st.st_mode):
                content = os.readlink(path)
            else:
                content = None
            found[str(path.relative_to(root))] = (
                stat.S_IFMT(st.st_mode),
                st.st_size if not stat.S_ISDIR(st.st_mode) else 0,
                st.st_mtime_ns if not stat.S_ISDIR(st.st_mode) else 0,
                content,
            )
    return found


def local_ref_values(repo_root: Path) -> str:
    """Everything HEAD and the refs of a repository hold, as one string."""
    mlv = repo_root / ".mlv"
    if not mlv.is_dir():
        return ""
    parts = []
    head = mlv / "HEAD"
    if head.is_file():
        parts.append(head.read_text())
    refs = mlv / "refs"
    if refs.is_dir():
        parts += [p.read_text(errors="replace") for p in refs.rglob("*") if p.is_file()]
    return "\n".join(parts)


def work_files(root: Path) -> dict[str, bytes]:
    return {
        p.relative_to(root).as_posix(): p.read_bytes()
        for p in sorted(root.rglob("*"))
        if (p.is_file() or p.is_symlink())
        and ".mlv" not in p.relative_to(root).parts
        and not p.is_symlink()
    } | {
        p.relative_to(root).as_posix(): os.readlink(p).encode()
        for p in sorted(root.rglob("*"))
        if p.is_symlink() and ".mlv" not in p.relative_to(root).parts
    }


def one_line_error(proc: subprocess.CompletedProcess) -> bool:
    err = proc.stderr.strip()
    return (
        "Traceback" not in proc.stderr
        and len(err.splitlines()) == 1
        and err.startswith("mlv: error:")
    )


def describe(proc: subprocess.CompletedProcess) -> str:
    return f"rc={proc.returncode}\nstdout:\n{proc.stdout}\nstderr:\n{proc.stderr}"


# -- a project with a remote -------------------------------------------------------------


def write_tree(root: Path, files: dict[str, bytes | str]) -> None:
    for rel, content in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, str):
            path.write_text(content)
        else:
            path.write_bytes(content)


FILES: dict[str, bytes | str] = {
    "data/a.txt": "alpha\n",
    "data/b.txt": "beta\n",
    "model.bin": bytes(range(256)) * 2000,  # several chunks: a manifest
}


@dataclass
class World:
    """A pushed repository ``a``, its folder remote, and the folder they both sit in."""

    top: Path
    remote: Path
    a: Path
    head: str

    @property
    def storage(self) -> PathStorage:
        return PathStorage(self.remote)


@pytest.fixture
def world(tmp_path: Path) -> World:
    remote = tmp_path / "remote"
    remote.mkdir()
    a = tmp_path / "a"
    repo = Repo.init(a)
    write_tree(a, FILES)
    repo.add(["data", "model.bin"])
    head = repo.commit("first")
    repo.add_remote("origin", str(remote))
    repo.push()
    repo.close()
    (tmp_path / ".home").mkdir()
    return World(tmp_path, remote, a, head)


# -- hostile remotes: each puts its attack on the remote and names the hostile commit -----


Attack = Callable[[World], str]


def _good_chunk() -> Rec:
    return chunk(b"harmless\n")


def a_tree_naming(name: str) -> Attack:
    def attack(w: World) -> str:
        c = _good_chunk()
        records, top = hostile_tree_commit([TreeEntry(name, "file", c.id, 9)], [c], w.head)
        put_pack(w.storage, w.top / "scratch", records)
        put_ref(w.storage, "refs/heads/main", f"{top}\n".encode())
        return top

    return attack


def a_symlink_to(target: str, name: str = "link") -> Attack:
    def attack(w: World) -> str:
        c = chunk(target.encode())
        records, top = hostile_tree_commit(
            [TreeEntry(name, "symlink", c.id, len(target.encode()))], [c], w.head
        )
        put_pack(w.storage, w.top / "scratch", records)
        put_ref(w.storage, "refs/heads/main", f"{top}\n".encode())
        return top

    return attack


def a_nested_bad_name(w: World) -> str:
    """``sub/..`` can't be named directly: a sub-tree whose entry is ``..``."""
    c = _good_chunk()
    sub = tree([TreeEntry("..", "file", c.id, 9)])
    records, top = hostile_tree_commit([TreeEntry("sub", "dir", sub.id, 9)], [c, sub], w.head)
    put_pack(w.storage, w.top / "scratch", records)
    put_ref(w.storage, "refs/heads/main", f"{top}\n".encode())
    return top


def bytes_that_do_not_match_their_id(w: World) -> str:
    """The file's chunk is stored under the id of other bytes."""
    wanted = b"what the tree promises\n"
    c = chunk(b"something else entirely\n", as_id=hash_bytes(wanted))
    records, top = hostile_tree_commit(
        [TreeEntry("evil.txt", "file", c.id, len(wanted))], [c], w.head
    )
    put_pack(w.storage, w.top / "scratch", records)
    put_ref(w.storage, "refs/heads/main", f"{top}\n".encode())
    return top


def a_commit_that_does_not_match_its_id(w: World) -> str:
    c = _good_chunk()
    root = tree([TreeEntry("x.txt", "file", c.id, 9)])
    real = commit(root.id, (w.head,))
    fake_id = hash_bytes(b"not this commit")
    lying = meta(Commit.from_bytes(real.record[48:]).to_bytes(), as_id=fake_id)
    put_pack(w.storage, w.top / "scratch", [c, root, lying])
    put_ref(w.storage, "refs/heads/main", f"{fake_id}\n".encode())
    return fake_id


def a_truncated_pack(w: World) -> str:
    c = chunk(os.urandom(5000))
    records, top = hostile_tree_commit([TreeEntry("x.bin", "file", c.id, 5000)], [c], w.head)
    put_pack(w.storage, w.top / "scratch", records, pack_bytes=lambda d: d[: len(d) // 2])
    put_ref(w.storage, "refs/heads/main", f"{top}\n".encode())
    return top


def a_truncated_pack_whose_index_agrees(w: World) -> str:
    """The pack is cut and its index states the cut size, but lists every record."""
    c = chunk(os.urandom(5000))
    records, top = hostile_tree_commit([TreeEntry("x.bin", "file", c.id, 5000)], [c], w.head)
    data, pack_id, found = build_pack(w.top / "scratch", records)
    cut = data[: len(data) - 100]
    w.storage.put(pack_key(pack_id), cut)
    # A hand-made index (encode_index does not check): entries past the stated size.
    body = INDEX_HEADER.pack(INDEX_MAGIC, 1, len(found), len(cut)) + bytes.fromhex(pack_id)
    body += b"".join(
        INDEX_ENTRY.pack(e.id_bytes, e.kind, e.length, e.offset)
        for e in sorted(found, key=lambda e: e.id_bytes)
    )
    w.storage.put(index_key(pack_id), body + bytes.fromhex(hash_bytes(body)))
    put_ref(w.storage, "refs/heads/main", f"{top}\n".encode())
    return top


def _index_lie(change: Callable[[list[IndexEntry]], list[IndexEntry]]) -> Attack:
    def attack(w: World) -> str:
        c = chunk(os.urandom(3000))
        records, top = hostile_tree_commit([TreeEntry("x.bin", "file", c.id, 3000)], [c], w.head)
        put_pack(w.storage, w.top / "scratch", records, entries=change)
        put_ref(w.storage, "refs/heads/main", f"{top}\n".encode())
        return top

    return attack


def _past_the_pack(entries: list[IndexEntry]) -> list[IndexEntry]:
    return [IndexEntry(e.id_bytes, e.kind, e.offset + 10_000_000, e.length) for e in entries]


def _overlapping(entries: list[IndexEntry]) -> list[IndexEntry]:
    first = min(entries, key=lambda e: e.offset)
    return [IndexEntry(e.id_bytes, e.kind, first.offset, e.length) for e in entries]


def _wrong_kind(entries: list[IndexEntry]) -> list[IndexEntry]:
    # Every record said to be history: the chunk's header says it is a chunk.
    return [IndexEntry(e.id_bytes, KIND_META, e.offset, e.length) for e in entries]


def _commit_said_chunk(entries: list[IndexEntry]) -> list[IndexEntry]:
    # The commit and tree said to be chunks: a fetch of history never sees them.
    return [IndexEntry(e.id_bytes, KIND_CHUNK, e.offset, e.length) for e in entries]


def _unknown_kind(entries: list[IndexEntry]) -> list[IndexEntry]:
    return [IndexEntry(e.id_bytes, 9, e.offset, e.length) for e in entries]


def a_pack_id_that_is_not_its_blake3(w: World) -> str:
    """Key, index and ref agree; the pack's bytes hash to something else."""
    c = chunk(os.urandom(3000))
    records, top = hostile_tree_commit([TreeEntry("x.bin", "file", c.id, 3000)], [c], w.head)
    put_pack(w.storage, w.top / "scratch", records, name=hash_bytes(b"some other pack"))
    put_ref(w.storage, "refs/heads/main", f"{top}\n".encode())
    return top


def an_index_naming_another_pack(w: World) -> str:
    c = chunk(os.urandom(3000))
    records, top = hostile_tree_commit([TreeEntry("x.bin", "file", c.id, 3000)], [c], w.head)
    put_pack(w.storage, w.top / "scratch", records, index_id=hash_bytes(b"elsewhere"))
    put_ref(w.storage, "refs/heads/main", f"{top}\n".encode())
    return top


def an_enormous_index_count(w: World) -> str:
    c = chunk(os.urandom(3000))
    records, top = hostile_tree_commit([TreeEntry("x.bin", "file", c.id, 3000)], [c], w.head)
    data, pack_id, _ = build_pack(w.top / "scratch", records)
    body = INDEX_HEADER.pack(INDEX_MAGIC, 1, 0xFFFFFFFF, len(data)) + bytes.fromhex(pack_id)
    put_pack(
        w.storage, w.top / "scratch", records, raw_index=body + bytes.fromhex(hash_bytes(body))
    )
    put_ref(w.storage, "refs/heads/main", f"{top}\n".encode())
    return top


def a_manifest_that_does_not_add_up(w: World) -> str:
    """Chunks valid each, the manifest valid, but their concatenation is another file."""
    one, two = chunk(b"A" * 1000), chunk(b"B" * 1000)
    promised = hash_bytes(b"C" * 2000)
    man = manifest(promised, [(one.id, 1000), (two.id, 1000)])
    records, top = hostile_tree_commit(
        [TreeEntry("big.bin", "file", promised, 2000)], [one, two, man], w.head
    )
    put_pack(w.storage, w.top / "scratch", records)
    put_ref(w.storage, "refs/heads/main", f"{top}\n".encode())
    return top


def a_ref_naming_a_missing_commit(w: World) -> str:
    ghost = hash_bytes(b"no such commit")
    put_ref(w.storage, "refs/heads/main", f"{ghost}\n".encode())
    return ghost


def a_ref_naming_a_tree(w: World) -> str:
    c = _good_chunk()
    root = tree([TreeEntry("x.txt", "file", c.id, 9)])
    put_pack(w.storage, w.top / "scratch", [c, root])
    put_ref(w.storage, "refs/heads/main", f"{root.id}\n".encode())
    return root.id


def a_junk_ref(w: World) -> str:
    put_ref(w.storage, "refs/heads/main", b"rm -rf /\n")
    return "rm -rf"


def a_huge_ref(w: World) -> str:
    (w.remote / "refs/heads/main").chmod(0o644)
    (w.remote / "refs/heads/main").write_bytes(b"a" * (64 * 1024 * 1024))
    return "a" * 64


def a_commit_whose_parent_is_missing(w: World) -> str:
    c = _good_chunk()
    records, top = hostile_tree_commit(
        [TreeEntry("x.txt", "file", c.id, 9)], [c], hash_bytes(b"ghost parent")
    )
    put_pack(w.storage, w.top / "scratch", records)
    put_ref(w.storage, "refs/heads/main", f"{top}\n".encode())
    return top


def a_tree_naming_a_missing_file(w: World) -> str:
    records, top = hostile_tree_commit(
        [TreeEntry("x.txt", "file", hash_bytes(b"nowhere"), 7)], [], w.head
    )
    put_pack(w.storage, w.top / "scratch", records)
    put_ref(w.storage, "refs/heads/main", f"{top}\n".encode())
    return top


def a_symlinked_packs_folder(w: World) -> str:
    """``packs`` is a symlink to a folder outside the remote."""
    elsewhere = w.top / "elsewhere"
    (w.remote / "packs").rename(elsewhere)
    (w.remote / "packs").symlink_to(elsewhere)
    return "none"


def a_symlinked_ref(w: World) -> str:
    """``refs/heads/main`` is a symlink to a file outside the remote."""
    outside = w.top / "outside-ref"
    outside.write_text(f"{w.head}\n")
    ref = w.remote / "refs/heads/main"
    ref.unlink()
    ref.symlink_to(outside)
    return "none"


def a_symlinked_ref_folder(w: World) -> str:
    """``refs/heads`` is a symlink to a folder outside the remote."""
    outside = w.top / "outside-heads"
    (w.remote / "refs/heads").rename(outside)
    (w.remote / "refs/heads").symlink_to(outside)
    return "none"


ATTACKS: dict[str, Attack] = {
    "tree-dotdot": a_tree_naming("../x"),
    "tree-dotdot-bare": a_tree_naming(".."),
    "tree-dot-mlv": a_tree_naming(".mlv"),
    "tree-dot-git": a_tree_naming(".git"),
    "tree-DOT-GIT": a_tree_naming(".GIT"),
    "tree-slash": a_tree_naming("a/b"),
    "tree-absolute": a_tree_naming("/tmp/x"),
    "tree-nested-dotdot": a_nested_bad_name,
    "symlink-out": a_symlink_to("../../outside"),
    "symlink-absolute": a_symlink_to("/etc/passwd"),
    "symlink-into-mlv": a_symlink_to(".mlv/HEAD"),
    "bytes-mismatch": bytes_that_do_not_match_their_id,
    "commit-mismatch": a_commit_that_does_not_match_its_id,
    "truncated-pack": a_truncated_pack,
    "truncated-pack-index-agrees": a_truncated_pack_whose_index_agrees,
    "index-past-pack": _index_lie(_past_the_pack),
    "index-overlapping": _index_lie(_overlapping),
    "index-wrong-kind": _index_lie(_wrong_kind),
    "index-history-said-chunk": _index_lie(_commit_said_chunk),
    "index-unknown-kind": _index_lie(_unknown_kind),
    "pack-id-not-blake3": a_pack_id_that_is_not_its_blake3,
    "index-names-other-pack": an_index_naming_another_pack,
    "index-enormous-count": an_enormous_index_count,
    "manifest-mismatch": a_manifest_that_does_not_add_up,
    "ref-missing-commit": a_ref_naming_a_missing_commit,
    "ref-names-tree": a_ref_naming_a_tree,
    "ref-junk": a_junk_ref,
    "ref-huge": a_huge_ref,
    "missing-parent": a_commit_whose_parent_is_missing,
    "missing-file": a_tree_naming_a_missing_file,
    "symlinked-packs": a_symlinked_packs_folder,
    "symlinked-ref": a_symlinked_ref,
    "symlinked-ref-folder": a_symlinked_ref_folder,
}


def _run(
    cwd: Path, *args: str, env: dict[str, str] | None = None, timeout: float = 120
) -> subprocess.CompletedProcess:
    home = next(p for p in [cwd, *cwd.parents] if (p / ".home").is_dir()) / ".home"
    return subprocess.run(
        [mlv_executable(), *args],
        cwd=cwd,
        env=mlv_env(env, home),
        capture_output=True,
        text=True,
        timeout=timeout,
    )


# -- the safety properties: these hold for every attack --------------------------------

# A pack's id is its name, not a check: readers verify each record they read, and
# only `mlv fsck --remote` hashes packs whole. A pack named wrongly but holding sound
# records is used (see test_a_misnamed_pack_is_used_and_fsck_remote_names_it).
ACCEPTED = {"pack-id-not-blake3"}


def _refusal_params(command: str) -> list[object]:
    return [pytest.param(name, id=name) for name in ATTACKS if name not in ACCEPTED]


def _safety_params(command: str) -> list[object]:
    return [pytest.param(name, id=name) for name in ATTACKS if name not in ACCEPTED]


@pytest.mark.parametrize("attack", _safety_params("clone"))
def test_a_hostile_remote_writes_nothing_outside_the_clone_and_moves_no_ref(
    world: World, attack: str
) -> None:
    hostile = ATTACKS[attack](world)
    before = snapshot(world.top, skip=world.top / "b")
    proc = _run(world.top, "clone", str(world.remote), "b")
    assert "Traceback" not in proc.stderr, describe(proc)
    assert snapshot(world.top, skip=world.top / "b") == before, describe(proc)
    assert hostile not in local_ref_values(world.top / "b"), describe(proc)
    assert not (world.top / "x").exists()
    # Whatever the clone wrote of its working tree, none of it is the attack's.
    if (world.top / "b").exists():
        names = set(work_files(world.top / "b"))
        assert names <= {"data/a.txt", "data/b.txt", "model.bin"}, (names, describe(proc))


@pytest.mark.parametrize("attack", _safety_params("fetch"))
def test_fetch_and_pull_from_a_hostile_remote_change_nothing(world: World, attack: str) -> None:
    hostile = ATTACKS[attack](world)
    files = work_files(world.a)
    refs = local_ref_values(world.a)
    before = snapshot(world.top, skip=world.a)
    for command in ("fetch", "pull"):
        proc = _run(world.a, command)
        assert "Traceback" not in proc.stderr, (command, describe(proc))
        assert snapshot(world.top, skip=world.a) == before, (command, describe(proc))
        assert hostile not in local_ref_values(world.a), (command, describe(proc))
        assert work_files(world.a) == files, (command, describe(proc))
    del refs


# -- the refusal: exit code 2 and one line ----------------------------------------------


@pytest.mark.parametrize("attack", _refusal_params("clone"))
def test_clone_of_a_hostile_remote_is_refused_with_one_line(world: World, attack: str) -> None:
    ATTACKS[attack](world)
    proc = _run(world.top, "clone", str(world.remote), "b")
    assert proc.returncode == 2 and one_line_error(proc), describe(proc)


@pytest.mark.parametrize("attack", _refusal_params("fetch"))
def test_fetch_from_a_hostile_remote_is_refused_with_one_line(world: World, attack: str) -> None:
    ATTACKS[attack](world)
    proc = _run(world.a, "fetch")
    assert proc.returncode == 2 and one_line_error(proc), describe(proc)


@pytest.mark.parametrize("attack", _refusal_params("pull"))
def test_pull_from_a_hostile_remote_is_refused_with_one_line(world: World, attack: str) -> None:
    ATTACKS[attack](world)
    proc = _run(world.a, "pull")
    assert proc.returncode == 2 and one_line_error(proc), describe(proc)


# -- bugs shown one by one ---------------------------------------------------------------


def test_a_damaged_remote_ref_leaves_its_tracking_ref_where_it_was(world: World) -> None:
    a_junk_ref(world)
    proc = _run(world.a, "fetch")
    assert "Traceback" not in proc.stderr
    tracking = world.a / ".mlv/refs/remotes/origin/main"
    assert tracking.is_file() and tracking.read_text().strip() == world.head, describe(proc)


def test_a_clone_run_again_after_a_manifest_that_lies_still_refuses_it(world: World) -> None:
    hostile = a_manifest_that_does_not_add_up(world)
    for _ in range(2):
        proc = _run(world.top, "clone", str(world.remote), "b")
        assert proc.returncode == 2 and one_line_error(proc), describe(proc)
        assert not (world.top / "b/big.bin").exists()
        assert hostile not in local_ref_values(world.top / "b"), describe(proc)


def test_a_manifest_that_lies_is_refused_and_no_wrong_file_is_written(world: World) -> None:
    hostile = a_manifest_that_does_not_add_up(world)
    proc = _run(world.top, "clone", str(world.remote), "b")
    assert proc.returncode == 2 and one_line_error(proc), describe(proc)
    assert not (world.top / "b/big.bin").exists()
    assert hostile not in local_ref_values(world.top / "b")


def test_a_clone_of_an_escaping_symlink_leaves_no_branch_at_the_hostile_commit(
    world: World,
) -> None:
    hostile = a_symlink_to("../../outside")(world)
    proc = _run(world.top, "clone", str(world.remote), "b")
    assert proc.returncode == 2, describe(proc)
    assert not (world.top / "b/link").is_symlink()
    assert hostile not in local_ref_values(world.top / "b")


# -- what is not an mlv remote, or not one this mlv reads -------------------------------


def _not_mlv(w: World) -> None:
    for p in sorted(w.remote.rglob("*"), reverse=True):
        if p.is_dir() and not p.is_symlink():
            p.chmod(0o755)
            p.rmdir()
        else:
            p.unlink()
    write_tree(w.remote, {"holiday.jpg": b"\xff\xd8", "notes/todo.txt": "milk\n"})


def _future_marker(w: World) -> None:
    marker = w.remote / MARKER
    marker.chmod(0o644)
    marker.write_bytes(dumps({"format": 2, "type": "mlv-remote"}) + b"\n")


def _junk_marker(w: World) -> None:
    marker = w.remote / MARKER
    marker.chmod(0o644)
    marker.write_bytes(b"\x00\xff" * 1000)


@pytest.mark.parametrize(
    "spoil", [_not_mlv, _future_marker, _junk_marker], ids=["not-mlv", "future", "junk"]
)
@pytest.mark.parametrize("command", ["clone", "fetch", "pull", "push"])
def test_a_remote_mlv_does_not_read_is_refused_and_left_alone(
    world: World, spoil: Callable[[World], None], command: str
) -> None:
    spoil(world)
    before = snapshot(world.top, skip=world.top / "b")
    if command == "clone":
        proc = _run(world.top, "clone", str(world.remote), "b")
    else:
        write_tree(world.a, {"data/new.txt": "new\n"})
        _run(world.a, "add", "data")
        _run(world.a, "commit", "-m", "new")
        before = snapshot(world.top, skip=world.a)
        proc = _run(world.a, command)
    assert proc.returncode == 2 and one_line_error(proc), describe(proc)
    skip = world.top / "b" if command == "clone" else world.a
    assert snapshot(world.top, skip=skip) == before


# -- a hostile ref key: only S3 can hold refs/heads/../../x ------------------------------


def _s3_client(bucket: S3Bucket):  # type: ignore[no-untyped-def]
    import boto3

    return boto3.client(
        "s3",
        endpoint_url=bucket.endpoint,
        region_name=bucket.region,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )


@pytest.mark.parametrize(
    "key",
    [
        "refs/heads/../../x",
        "refs/heads/../../../../../../tmp/mlv-hostile-ref",
        "refs/heads/a/../../../HEAD",
        "refs/heads/x.lock",
        "refs/heads/.hidden",
        "refs/../HEAD",
    ],
)
def test_a_hostile_ref_key_on_s3_is_skipped_and_writes_nothing_outside(
    tmp_path: Path, s3_bucket: S3Bucket, key: str
) -> None:
    flags = ["--endpoint-url", s3_bucket.endpoint, "--region", s3_bucket.region, "--allow-http"]
    url = f"s3://{s3_bucket.name}/team"
    home = tmp_path / ".home"
    home.mkdir()
    a = tmp_path / "a"
    repo = Repo.init(a)
    write_tree(a, FILES)
    repo.add(["data", "model.bin"])
    head = repo.commit("first")
    repo.add_remote(
        "origin", url, endpoint_url=s3_bucket.endpoint, region=s3_bucket.region, allow_http=True
    )
    repo.push()
    repo.close()
    _s3_client(s3_bucket).put_object(
        Bucket=s3_bucket.name, Key=f"team/{key}", Body=f"{head}\n".encode()
    )
    before = snapshot(tmp_path, skip=tmp_path / "b")
    env = dict(AWS_ACCESS_KEY_ID="testing", AWS_SECRET_ACCESS_KEY="testing", NO_PROXY="127.0.0.1")
    proc = _run(tmp_path, "clone", url, "b", *flags, env=env)
    # Skipped (exit 0), or the whole remote refused in one line (a key with '..' fails
    # the listing itself): either way, nothing is written outside the clone.
    assert proc.returncode == 0 or (proc.returncode == 2 and one_line_error(proc)), describe(proc)
    assert "Traceback" not in proc.stderr, describe(proc)
    assert snapshot(tmp_path, skip=tmp_path / "b") == before
    assert not Path("/tmp/mlv-hostile-ref").exists()
    before = snapshot(tmp_path, skip=a)
    for command in ("fetch", "pull"):
        proc = _run(a, command, env=env)
        assert proc.returncode == 0 or (proc.returncode == 2 and one_line_error(proc)), describe(
            proc
        )
        assert snapshot(tmp_path, skip=a) == before
    assert (a / ".mlv/refs/remotes/origin/main").read_text().strip() == head
    if not (tmp_path / "b/.mlv/refs").is_dir():
        return
    refs = sorted(
        p.relative_to(tmp_path / "b/.mlv").as_posix()
        for p in (tmp_path / "b/.mlv/refs").rglob("*")
        if p.is_file()
    )
    assert set(refs) <= {"refs/heads/main", "refs/remotes/origin/main"}, refs


# -- a careless user ---------------------------------------------------------------------


def test_clone_into_a_folder_that_is_not_empty_is_refused_and_leaves_it_alone(world: World) -> None:
    b = world.top / "b"
    write_tree(b, {"mine.txt": "precious\n"})
    before = snapshot(world.top)
    proc = _run(world.top, "clone", str(world.remote), "b")
    assert proc.returncode == 2 and one_line_error(proc), describe(proc)
    assert snapshot(world.top) == before


def test_clone_of_a_mistyped_folder_is_refused(world: World) -> None:
    proc = _run(world.top, "clone", str(world.top / "remtoe"), "b")
    assert proc.returncode == 2 and one_line_error(proc), describe(proc)
    assert not (world.top / "remtoe").exists()


def test_clone_of_a_mistyped_folder_creates_nothing_there(world: World) -> None:
    before = snapshot(world.top, skip=world.top / "b")
    proc = _run(world.top, "clone", str(world.top / "remtoe"), "b")
    assert "Traceback" not in proc.stderr
    assert snapshot(world.top, skip=world.top / "b") == before


BAD_URLS = ["s4://bucket/x", "s3://", "file://host/x", "http://example.com/x"]


@pytest.mark.parametrize("url", BAD_URLS)
def test_clone_of_a_malformed_url_is_refused_in_one_line(world: World, url: str) -> None:
    proc = _run(world.top, "clone", url, "b")
    assert proc.returncode == 2 and one_line_error(proc), describe(proc)


@pytest.mark.parametrize("url", BAD_URLS)
def test_clone_of_a_malformed_url_leaves_the_folder_free_for_the_right_one(
    world: World, url: str
) -> None:
    _run(world.top, "clone", url, "b")
    proc = _run(world.top, "clone", str(world.remote), "b")
    assert proc.returncode == 0, describe(proc)


def test_push_with_no_remote_is_refused_in_one_line(tmp_path: Path) -> None:
    (tmp_path / ".home").mkdir()
    a = tmp_path / "a"
    repo = Repo.init(a)
    write_tree(a, {"x.txt": "x\n"})
    repo.add(["x.txt"])
    repo.commit("x")
    repo.close()
    for command in ("push", "fetch", "pull"):
        proc = _run(a, command)
        assert proc.returncode == 2 and one_line_error(proc), (command, describe(proc))


def test_push_of_a_detached_head_is_refused_and_the_remote_is_unchanged(world: World) -> None:
    write_tree(world.a, {"data/c.txt": "gamma\n"})
    _run(world.a, "add", "data")
    _run(world.a, "commit", "-m", "second")
    proc = _run(world.a, "checkout", world.head)
    assert proc.returncode == 0, describe(proc)
    before = snapshot(world.remote)
    proc = _run(world.a, "push")
    assert proc.returncode == 2 and one_line_error(proc), describe(proc)
    assert snapshot(world.remote) == before


def _second_clone_pushes(world: World, files: dict[str, bytes | str]) -> str:
    b = world.top / "b"
    proc = _run(world.top, "clone", str(world.remote), "b")
    assert proc.returncode == 0, describe(proc)
    write_tree(b, files)
    _run(b, "add", "data")
    _run(b, "commit", "-m", "theirs")
    proc = _run(b, "push")
    assert proc.returncode == 0, describe(proc)
    return (b / ".mlv/refs/heads/main").read_text().strip()


def test_pull_over_uncommitted_changes_it_would_overwrite_is_refused_and_loses_nothing(
    world: World,
) -> None:
    _second_clone_pushes(world, {"data/a.txt": "theirs\n"})
    (world.a / "data/a.txt").write_text("my unsaved work\n")
    refs = local_ref_values(world.a)
    proc = _run(world.a, "pull")
    assert proc.returncode != 0 and one_line_error(proc), describe(proc)
    assert (world.a / "data/a.txt").read_text() == "my unsaved work\n"
    assert (world.a / ".mlv/refs/heads/main").read_text().strip() == world.head
    del refs


def test_pull_over_a_staged_change_it_would_overwrite_is_refused(world: World) -> None:
    _second_clone_pushes(world, {"data/a.txt": "theirs\n"})
    (world.a / "data/a.txt").write_text("my staged work\n")
    _run(world.a, "add", "data")
    proc = _run(world.a, "pull")
    assert proc.returncode != 0 and one_line_error(proc), describe(proc)
    assert (world.a / "data/a.txt").read_text() == "my staged work\n"


def test_pull_with_an_untracked_file_in_the_way_is_refused(world: World) -> None:
    _second_clone_pushes(world, {"data/new.txt": "theirs\n"})
    (world.a / "data/new.txt").write_text("my own new file\n")
    proc = _run(world.a, "pull")
    assert (world.a / "data/new.txt").read_text() == "my own new file\n", describe(proc)
    assert proc.returncode != 0 and one_line_error(proc), describe(proc)


def _fresh_repo_with_remote(world: World, files: dict[str, bytes | str], stage: bool) -> Path:
    c = world.top / "c"
    repo = Repo.init(c)
    write_tree(c, files)
    if stage:
        repo.add(list(files))
    repo.add_remote("origin", str(world.remote))
    repo.close()
    return c


def test_pull_with_nothing_committed_keeps_untracked_files(world: World) -> None:
    c = _fresh_repo_with_remote(world, {"data/a.txt": "my precious draft\n"}, stage=False)
    proc = _run(c, "pull", "origin", "main")
    assert (c / "data/a.txt").read_text() == "my precious draft\n", describe(proc)


def test_pull_with_nothing_committed_keeps_staged_files(world: World) -> None:
    c = _fresh_repo_with_remote(world, {"data/a.txt": "my precious draft\n"}, stage=True)
    proc = _run(c, "pull", "origin", "main")
    assert (c / "data/a.txt").read_text() == "my precious draft\n", describe(proc)


def test_pull_with_nothing_committed_and_nothing_in_the_way_takes_the_branch(world: World) -> None:
    c = _fresh_repo_with_remote(world, {"notes.txt": "unrelated\n"}, stage=False)
    proc = _run(c, "pull", "origin", "main")
    assert proc.returncode == 0, describe(proc)
    assert (c / "data/a.txt").read_text() == "alpha\n"
    assert (c / "notes.txt").read_text() == "unrelated\n"


def test_remote_remove_then_fetch_is_refused_in_one_line(world: World) -> None:
    proc = _run(world.a, "remote", "remove", "origin")
    assert proc.returncode == 0, describe(proc)
    for command in ("fetch", "push", "pull"):
        proc = _run(world.a, command)
        assert proc.returncode == 2 and one_line_error(proc), (command, describe(proc))
    proc = _run(world.a, "fetch", "origin")
    assert proc.returncode == 2 and one_line_error(proc), describe(proc)


def test_remote_remove_drops_the_tracking_refs(world: World) -> None:
    _run(world.a, "remote", "remove", "origin")
    assert not (world.a / ".mlv/refs/remotes/origin").exists()


def test_two_pushes_of_different_branches_at_once_both_land(world: World) -> None:
    for branch in ("left", "right"):
        _run(world.a, "branch", branch)
    procs = []
    clones = []
    for branch in ("left", "right"):
        d = world.top / branch
        proc = _run(world.top, "clone", str(world.remote), branch, "--branch", "main")
        assert proc.returncode == 0, describe(proc)
        _run(d, "branch", branch)
        _run(d, "checkout", branch)
        write_tree(d, {f"data/{branch}.bin": os.urandom(2_000_000)})
        _run(d, "add", "data")
        _run(d, "commit", "-m", branch)
        clones.append(d)
    for d in clones:
        procs.append(
            subprocess.Popen(
                [mlv_executable(), "push", "origin", d.name],
                cwd=d,
                env=mlv_env(None, world.top / ".home"),
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
        )
    for p in procs:
        out, err = p.communicate(timeout=120)
        assert p.returncode == 0, (out, err)
    proc = _run(world.top, "clone", str(world.remote), "check")
    assert proc.returncode == 0, describe(proc)
    for branch in ("left", "right"):
        proc = _run(world.top / "check", "checkout", f"origin/{branch}")
        assert proc.returncode == 0, describe(proc)
        assert (world.top / "check" / f"data/{branch}.bin").read_bytes() == (
            world.top / branch / f"data/{branch}.bin"
        ).read_bytes()
    proc = _run(world.top / "check", "fsck")
    assert proc.returncode == 0, describe(proc)


def test_sigint_during_a_big_push_then_push_again_leaves_a_valid_remote(world: World) -> None:
    big = world.a / "data/big"
    big.mkdir()
    for i in range(6):
        (big / f"part{i}.bin").write_bytes(os.urandom(40 * 1024 * 1024))
    proc = _run(world.a, "add", "data", timeout=300)
    assert proc.returncode == 0, describe(proc)
    _run(world.a, "commit", "-m", "big")
    packs = world.remote / "packs"
    start = {p.name for p in packs.iterdir()}
    push = subprocess.Popen(
        [mlv_executable(), "push"],
        cwd=world.a,
        env=mlv_env(None, world.top / ".home"),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 120
    # Wait until the push has written something of its own to the remote.
    while time.monotonic() < deadline and push.poll() is None:
        now = {p.name for p in packs.iterdir()} - start
        if len(now) >= 2 or any(n.startswith(".") for n in os.listdir(packs)):
            break
        time.sleep(0.01)
    interrupted = push.poll() is None
    assert interrupted, "the push finished before it could be interrupted"
    push.send_signal(signal.SIGINT)
    out, err = push.communicate(timeout=120)
    assert "Traceback" not in err, err
    if interrupted:
        assert push.returncode == 130, (push.returncode, out, err)
        # The ref did not move before all the data was there.
        ref = (world.remote / "refs/heads/main").read_text().strip()
        assert ref == world.head or ref == (world.a / ".mlv/refs/heads/main").read_text().strip()
        # A clone of the remote as the interrupted push left it works.
        proc = _run(world.top, "clone", str(world.remote), "mid", timeout=300)
        assert proc.returncode == 0, describe(proc)
    proc = _run(world.a, "push", timeout=300)
    assert proc.returncode == 0, describe(proc)
    proc = _run(world.top, "clone", str(world.remote), "b", timeout=300)
    assert proc.returncode == 0, describe(proc)
    for i in range(6):
        rel = f"data/big/part{i}.bin"
        assert (world.top / "b" / rel).read_bytes() == (world.a / rel).read_bytes()
    assert _run(world.top / "b", "fsck").returncode == 0


def test_a_misnamed_pack_is_used_and_fsck_remote_names_it(world: World) -> None:
    ATTACKS["pack-id-not-blake3"](world)
    proc = _run(world.top, "clone", str(world.remote), "b")
    assert proc.returncode == 0, describe(proc)
    checked = _run(world.a, "fsck", "--remote", "origin")
    assert checked.returncode == 1 and "do not hash to its id" in checked.stdout, describe(checked)
