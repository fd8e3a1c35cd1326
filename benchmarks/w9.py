"""W9: W3 at 100 M rows (about 3.3 GB), diffed on its key against a W4-style edit, and
checked for a unique key; both within 2 GB of peak memory, by spilling to disk.

    python benchmarks/w9.py [--scale 10] [--dest /tmp/w9] [--keep]

``--scale`` multiplies W3's 10 M rows (10: the 100 M rows of W9; smaller for a quick
run). The tables are generated as run.py generates W3 and W4 (``gen_w3``, ``gen_w4``:
1 % of ``label`` flipped, 0.5 % rows appended), into a fresh mlv repository, and
measured with ``/usr/bin/time -v``: ``mlv diff HEAD:OLD NEW --key row_id`` (the old
table committed first, the new one in the working tree), and ``mlv check NEW`` with
``unique: [row_id]``. W9 runs only
when asked: generating 3.3 GB twice takes minutes. Only mlv is measured.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

import run  # run.py's generators, next to this file

W9_SCALE = 10  # times W3's 10 M rows
PEAK_LIMIT_MB = 2048
TIME_V = "/usr/bin/time"


def generate(dest: Path, scale: float, seed: int) -> tuple[Path, Path]:
    """The old (W3-like) and new (W4-like) tables, in ``dest/old`` and ``dest/new``."""
    old_dir, new_dir = dest / "old", dest / "new"
    if not (old_dir / "data" / run.TABLE_FILE).exists():
        shutil.rmtree(old_dir, ignore_errors=True)
        run.gen_w3(old_dir, scale, seed)
    if not (new_dir / "data" / run.TABLE_FILE).exists():
        shutil.rmtree(new_dir, ignore_errors=True)
        run.gen_w4(new_dir, scale, seed, old_dir)
    return old_dir / "data" / run.TABLE_FILE, new_dir / "data" / run.TABLE_FILE


def measured(command: list[str], cwd: Path) -> dict[str, object]:
    """Wall time, peak RSS and the last output line of ``command``."""
    start = time.perf_counter()
    done = subprocess.run(
        [TIME_V, "-v", *command], cwd=cwd, capture_output=True, text=True, check=False
    )
    seconds = time.perf_counter() - start
    peak = re.search(r"Maximum resident set size \(kbytes\): (\d+)", done.stderr)
    lines = [line for line in done.stdout.splitlines() if line.strip()]
    return {
        "command": " ".join(command),
        "rc": done.returncode,
        "seconds": round(seconds, 1),
        "peak_mb": round(int(peak.group(1)) / 1024) if peak else None,
        "output": lines[:3],
        "error": done.stderr.splitlines()[-3:] if done.returncode not in (0, 1) else [],
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", type=float, default=W9_SCALE)
    parser.add_argument("--dest", type=Path, default=Path("/tmp/mlv-w9"))
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--keep", action="store_true", help="keep the generated tables")
    args = parser.parse_args()
    mlv = str(Path(sys.executable).with_name("mlv"))
    repo = args.dest / "repo"
    started = time.perf_counter()
    old, new = generate(args.dest, args.scale, args.seed)
    generated = time.perf_counter() - started
    shutil.rmtree(repo, ignore_errors=True)
    (repo / "data").mkdir(parents=True)
    os.link(old, repo / "data" / "old.parquet")
    os.link(new, repo / "data" / "new.parquet")
    subprocess.run([mlv, "init"], cwd=repo, check=True, capture_output=True)
    # `mlv diff` takes its first table at a revision: the old one is committed first.
    committed = time.perf_counter()
    subprocess.run([mlv, "add", "data/old.parquet"], cwd=repo, check=True, capture_output=True)
    subprocess.run([mlv, "commit", "-m", "W9 old"], cwd=repo, check=True, capture_output=True)
    committed = time.perf_counter() - committed
    (repo / "mlv.yaml").write_text(
        "tables:\n  data/new.parquet:\n    key: [row_id]\n    contract:\n      unique: [row_id]\n"
    )
    results = {
        "rows": run.scaled(run.W3_ROWS, args.scale),
        "table_bytes": [old.stat().st_size, new.stat().st_size],
        "generate_s": round(generated, 1),
        "add_commit_old_s": round(committed, 1),
        "diff": measured(
            [mlv, "diff", "HEAD:data/old.parquet", "data/new.parquet", "--key", "row_id"], repo
        ),
        "unique": measured([mlv, "check", "data/new.parquet"], repo),
    }
    print(json.dumps(results, indent=2))
    if not args.keep:
        shutil.rmtree(args.dest, ignore_errors=True)
    over = [
        name
        for name in ("diff", "unique")
        if not isinstance(results[name], dict)
        or (results[name].get("peak_mb") or 0) > PEAK_LIMIT_MB  # type: ignore[union-attr, operator]
    ]
    return 1 if over else 0


if __name__ == "__main__":
    sys.exit(main())
