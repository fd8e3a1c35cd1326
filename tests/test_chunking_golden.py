"""Golden FastCDC cut points: the chunks mlv cuts a fixed input into, pinned literally.

Deduplication works only while the same bytes are cut at the same places: an edited
file shares its unchanged chunks with the old one, and a repository shares chunks with
its clones, only if every mlv cuts alike. A chunker upgrade (pyfastcdc, its gear table,
its normalisation, mlv's parameters) that moves one cut point still writes valid
objects, so nothing else would notice. These tests would: the input is generated here,
by a generator written here, so that no library's random stream can change it.

If one fails, the cut points changed: that is a format change for chunking
(docs/format.md, "Chunking"), not a value to paste again.
"""

from __future__ import annotations

import io
from functools import cache

from mlv.core.chunking import CHUNK_AVG, CHUNK_MAX, CHUNK_MIN, cut_buffer, cut_stream
from mlv.core.hashing import hash_bytes

_MASK = 2**64 - 1


def splitmix64(seed: int, count: int) -> bytes:
    """``count`` outputs of SplitMix64 (Steele, Lea and Flood 2014), 8 bytes each,
    least significant byte first."""
    out = bytearray()
    state = seed
    for _ in range(count):
        state = (state + 0x9E3779B97F4A7C15) & _MASK
        z = state
        z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & _MASK
        z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & _MASK
        out += (z ^ (z >> 31)).to_bytes(8, "little")
    return bytes(out)


SEED = 2024
SIZE = 4 * 1024 * 1024
INSERT_AT, INSERTED = 1_000_000, b"inserted by an edit" * 5  # 95 bytes
DELETE_AT, DELETED = 2_500_000, 5000


@cache
def original() -> bytes:
    return splitmix64(SEED, SIZE // 8)


@cache
def edited() -> bytes:
    """The original with 95 bytes put in and, further on, 5000 bytes taken out."""
    data = original()
    return data[:INSERT_AT] + INSERTED + data[INSERT_AT:DELETE_AT] + data[DELETE_AT + DELETED :]


# Chunk lengths, in order, that mlv's chunker gives (CHUNK_MIN 16 KiB, CHUNK_AVG 64 KiB,
# CHUNK_MAX 256 KiB).
ORIGINAL_LENGTHS = [
    82789, 80443, 179082, 73142, 93993, 35990, 124096, 162719, 25876, 36523,
    68991, 45664, 86756, 74230, 52715, 27246, 63273, 135219, 92755, 87180,
    90517, 49256, 71653, 70411, 83966, 78648, 79165, 70821, 92297, 74846,
    102039, 193289, 71609, 102015, 86830, 70077, 74695, 61043, 39812, 80482,
    68202, 122524, 97591, 74389, 68790, 24372, 146029, 41686, 80397, 96082,
    81816, 20273,
]  # fmt: skip
EDITED_LENGTHS = [
    82789, 80443, 179082, 73142, 93993, 35990, 124096, 162719, 25876, 36523,
    68991, 45759, 86756, 74230, 52715, 27246, 63273, 135219, 92755, 87180,
    90517, 49256, 71653, 70411, 83966, 78648, 79165, 70821, 92297, 74846,
    102039, 188289, 71609, 102015, 86830, 70077, 74695, 61043, 39812, 80482,
    68202, 122524, 97591, 74389, 68790, 24372, 146029, 41686, 80397, 96082,
    81816, 20273,
]  # fmt: skip
# The BLAKE3 ids of the original's first chunks, and of the whole original.
FIRST_CHUNK_IDS = [
    "c2caeac03d67096694b23a8f6f46895a0fcb148037c3f98e6dfe296c78ae7884",
    "8c98abac5066910ffdc1ab3dab364fd00fcc835a329c33bf6e60f39b8f86f8c5",
    "09d00c05cef9693f3d40719fe6716d00f5a9d25726c2f7f04ce3c4fe00c02fff",
]
ORIGINAL_ID = "2cf06a4484c1fd149b1185aecb20afc29fda0b1d24d249a7a97167dcdf4682b6"


def _offsets(lengths: list[int]) -> list[int]:
    offsets, at = [], 0
    for length in lengths:
        offsets.append(at)
        at += length
    return offsets


def test_the_generator_is_splitmix64() -> None:
    # The first output for seed 0 in the reference implementation.
    assert splitmix64(0, 1) == (0xE220A8397B1DCDAF).to_bytes(8, "little")
    assert len(original()) == SIZE and original()[:8] == splitmix64(SEED, 1)
    assert hash_bytes(original()) == ORIGINAL_ID


def test_the_cut_points_of_the_seeded_input() -> None:
    chunks = list(cut_buffer(original()))
    assert [len(c) for c in chunks] == ORIGINAL_LENGTHS
    assert [hash_bytes(c) for c in chunks[: len(FIRST_CHUNK_IDS)]] == FIRST_CHUNK_IDS
    assert sum(ORIGINAL_LENGTHS) == SIZE
    assert all(CHUNK_MIN <= n <= CHUNK_MAX for n in ORIGINAL_LENGTHS[:-1])


def test_the_cut_points_of_the_edited_input() -> None:
    assert [len(c) for c in cut_buffer(edited())] == EDITED_LENGTHS
    assert sum(EDITED_LENGTHS) == SIZE + len(INSERTED) - DELETED


def test_each_edit_changes_only_the_chunk_it_falls_in() -> None:
    # What deduplication rests on: all but the two chunks holding an edit are shared.
    old = {hash_bytes(c) for c in cut_buffer(original())}
    new = [hash_bytes(c) for c in cut_buffer(edited())]
    changed = [i for i, chunk_id in enumerate(new) if chunk_id not in old]
    starts = _offsets(EDITED_LENGTHS)
    holding = [
        max(i for i, start in enumerate(starts) if start <= at)
        for at in (INSERT_AT, DELETE_AT + len(INSERTED))
    ]
    assert changed == holding == [11, 31]


def test_streaming_cuts_at_the_same_points() -> None:
    assert [len(c) for c in cut_stream(io.BytesIO(original()))] == ORIGINAL_LENGTHS
    assert [len(c) for c in cut_stream(io.BytesIO(edited()))] == EDITED_LENGTHS


def test_the_pure_python_fastcdc_agrees() -> None:
    # pyfastcdc's reference implementation (mlv uses its compiled one: test_core) cuts
    # the same first megabyte: the golden values are the algorithm's, not one build's.
    from pyfastcdc.py import FastCDC

    cdc = FastCDC(CHUNK_AVG, min_size=CHUNK_MIN, max_size=CHUNK_MAX)
    lengths = [c.length for c in cdc.cut_buf(original()[: 1024 * 1024])]
    assert lengths[:-1] == ORIGINAL_LENGTHS[: len(lengths) - 1]
    assert len(lengths) == 13
