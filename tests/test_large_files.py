"""Large files are streamed: adding and reading one never holds it whole in memory."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from mlv import Repo

SIZE = 192 * 1024 * 1024


def _peak_rss_mb_of(code: str, cwd: Path) -> float:
    """Run ``code`` in a fresh interpreter; return the peak RSS of that child, in MiB.

    The child reads its own high-water mark (VmHWM) from /proc: ru_maxrss would also
    count the test process's memory, which a child started by fork or vfork
    inherits as its starting peak, and RUSAGE_CHILDREN every earlier child's.
    """
    report = (
        "\nfor line in open('/proc/self/status'):\n"
        "    if line.startswith('VmHWM:'):\n"
        "        print(int(line.split()[1]))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code + report],
        cwd=cwd,
        check=True,
        capture_output=True,
        text=True,
    )
    return int(done.stdout.split()[-1]) / 1024


@pytest.mark.slow
def test_add_and_read_back_a_large_file_in_bounded_memory(tmp_path: Path) -> None:
    repo = Repo.init(tmp_path)
    repo.close()
    big = tmp_path / "big.bin"
    block = os.urandom(4 * 1024 * 1024)
    with open(big, "wb") as f:
        for i in range(SIZE // len(block)):
            # Vary each block so that no chunk repeats: every byte must be stored.
            f.write(bytes([i % 256]) + block[1:])
    code = (
        "from mlv import Repo\n"
        "r = Repo('.')\n"
        "r.add(['big.bin'])\n"
        "r.commit('big', allow_empty=False)\n"
        "n = 0\n"
        "for part in r.open_file('HEAD', 'big.bin'):\n"
        "    n += len(part)\n"
        f"assert n == {SIZE}, n\n"
    )
    peak = _peak_rss_mb_of(code, tmp_path)
    assert peak < 150, f"peak RSS {peak:.0f} MiB for a {SIZE >> 20} MiB file"
    with Repo(tmp_path) as repo:
        assert repo.fsck().ok
        from blake3 import blake3

        hasher = blake3()
        with open(big, "rb") as f:
            while data := f.read(1 << 20):
                hasher.update(data)
        assert repo.status().clean
        assert repo.show("HEAD").changes[0].new.id == hasher.hexdigest()
