"""Refs on a remote: read them all, and move one only by compare-and-swap.

A remote ref is a key ``refs/heads/<branch>`` (or ``refs/tags/<tag>``,
``refs/notes/reproductions``) holding a commit id and a newline, as a local ref
file does. It is created with ``Storage.create`` (only if absent: S3's
``If-None-Match: *``, a path remote's exclusive link) and moved with
``Storage.replace`` (only if unchanged since read: S3's ``If-Match``, a path
remote's lock file and rename). Two pushers that read the same value cannot
both win: the second write fails and that push is refused.

Where ``mlv remote test`` found that the server does not enforce conditional
writes, the swap is done under a lease (``locks/refs.json``): an object naming
its holder and when it expires. That is safe only while every pusher is mlv and
honours it, which is why mlv says so each time.
"""

from __future__ import annotations

import json
import os
import re
import socket
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass

from mlv.errors import LockError, RemoteError
from mlv.remote.layout import REFS, REFS_LEASE
from mlv.remote.storage import Storage
from mlv.repo.refnames import ref_name_problem

_REF_VALUE = re.compile(rb"\s*([0-9a-f]{64})\s*")
LEASE_SECONDS = 120.0
LEASE_WAIT_SECONDS = 30.0
READERS = 8


@dataclass(frozen=True, slots=True)
class RemoteRef:
    """A ref as read from the remote: its value and the token to swap it from."""

    name: str
    commit: str
    token: str


@dataclass
class RemoteRefs:
    refs: dict[str, RemoteRef]
    damaged: list[str]  # one line each: a ref mlv refused to read
    names: set[str]  # every ref key listed, damaged or not


def parse_ref(data: bytes, name: str, url: str) -> str:
    match = _REF_VALUE.fullmatch(data)
    if match is None:
        raise RemoteError(f"remote {url}: ref {name} is damaged: it does not hold a commit id")
    return match.group(1).decode()


def read_ref(storage: Storage, name: str) -> RemoteRef | None:
    found = storage.get_with_token(name)
    if found is None:
        return None
    data, token = found
    return RemoteRef(name, parse_ref(data, name, storage.url), token)


def read_refs(storage: Storage) -> RemoteRefs:
    """Every ref of the remote; a key under ``refs/`` with a bad name or value is listed
    in ``damaged`` and left out, never followed."""
    names, damaged = [], []
    listed: set[str] = set()
    for key, _ in storage.list(REFS):
        listed.add(key)
        problem = ref_name_problem(key)
        if problem is None:
            names.append(key)
        else:
            damaged.append(f"remote ref {key!r} has a name mlv refuses ({problem}); skipped")
    refs: dict[str, RemoteRef] = {}

    def one(name: str) -> RemoteRef | str | None:
        try:
            return read_ref(storage, name)
        except RemoteError as exc:
            return str(exc)

    with ThreadPoolExecutor(READERS) as pool:
        for name, found in zip(names, pool.map(one, names), strict=True):
            if isinstance(found, RemoteRef):
                refs[name] = found
            elif isinstance(found, str):
                damaged.append(f"{found}; skipped")
    return RemoteRefs(refs, damaged, listed)


def swap_ref(storage: Storage, name: str, new: str, old: RemoteRef | None) -> bool:
    """Point remote ``name`` at ``new`` if it is still as read (``old``; None: absent).
    False when someone else moved it first."""
    data = f"{new}\n".encode()
    if old is None:
        return storage.create(name, data) is not None
    return storage.replace(name, data, old.token) is not None


@contextmanager
def refs_lease(storage: Storage, who: str) -> Iterator[None]:
    """Hold ``locks/refs.json`` for the ref swaps of one push, on a remote without
    compare-and-swap. A lease left by a killed pusher expires after LEASE_SECONDS."""
    mine = json.dumps(
        {
            "holder": who,
            "host": socket.gethostname(),
            "pid": os.getpid(),
            "nonce": os.urandom(8).hex(),
            "expires": time.time() + LEASE_SECONDS,
        }
    ).encode()
    deadline = time.monotonic() + LEASE_WAIT_SECONDS
    while True:
        current = storage.get(REFS_LEASE)
        if current is None or _expired(current):
            storage.put(REFS_LEASE, mine)
            # Without conditional writes two pushers may both write: the one whose
            # lease reads back after a pause holds it.
            time.sleep(0.2)
            if storage.get(REFS_LEASE) == mine:
                break
        if time.monotonic() > deadline:
            raise LockError(
                f"remote {storage.url}: another push holds {REFS_LEASE} ({_holder(current)}); "
                "try again in a minute"
            )
        time.sleep(0.5)
    try:
        yield
    finally:
        if storage.get(REFS_LEASE) == mine:
            storage.delete(REFS_LEASE)


def _expired(data: bytes) -> bool:
    try:
        return float(json.loads(data)["expires"]) < time.time()
    except (ValueError, KeyError, TypeError):
        return True  # a damaged lease holds nobody


def _holder(data: bytes | None) -> str:
    try:
        doc = json.loads(data or b"")
        return f"{doc['holder']} on {doc['host']}"
    except (ValueError, KeyError, TypeError):
        return "unknown"
