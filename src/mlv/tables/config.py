"""What ``mlv.yaml`` says about tables: each table's key and its data contract.

```yaml
tables:
  data/features/*.parquet:      # a path or a glob, relative to the repository root
    key: [id]                   # the row key: diffs match rows on it
    memory: 2GiB                # what a diff or a uniqueness check may hold in memory
    contract:                   # see mlv.tables.contracts
      ...
```
"""

from __future__ import annotations

import fnmatch
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mlv.errors import PipelineError

CONFIG_FILE = "mlv.yaml"
SECTION = "tables"
TABLE_KEYS = ("key", "contract", "desc", "memory")
# Units of a ``memory:`` setting, in bytes.
UNITS = {
    "": 1,
    "B": 1,
    "KB": 10**3,
    "MB": 10**6,
    "GB": 10**9,
    "KiB": 1 << 10,
    "MiB": 1 << 20,
    "GiB": 1 << 30,
}


@dataclass(frozen=True)
class TableConfig:
    pattern: str
    key: tuple[str, ...] = ()
    contract: dict[str, Any] = field(default_factory=dict)  # checked by mlv.tables.contracts
    memory: int | None = None  # bytes; None: mlv.tables.spill.MEMORY_LIMIT


def load_table_configs(root: Path) -> list[TableConfig]:
    """The ``tables:`` section of the root ``mlv.yaml``, in file order; [] without one."""
    if not (root / CONFIG_FILE).exists():
        return []  # and no YAML parser to import: 50 ms of every commit
    from mlv.core.yamlio import mlv_yaml_section

    section = mlv_yaml_section(root, SECTION)
    if section is None:
        return []
    if not isinstance(section, dict):
        raise PipelineError(f"{CONFIG_FILE}: '{SECTION}:' must map table paths to settings")
    configs = []
    for pattern, settings in section.items():
        where = f"{CONFIG_FILE}: table '{pattern}'"
        settings = settings or {}
        if not isinstance(settings, dict):
            raise PipelineError(f"{where}: expected a mapping with key: or contract:")
        for name in settings:
            if name not in TABLE_KEYS:
                raise PipelineError(
                    f"{where}: unknown setting '{name}'; allowed: {', '.join(TABLE_KEYS)}"
                )
        key = settings.get("key", ())
        key = (key,) if isinstance(key, str) else key
        if not isinstance(key, list | tuple) or not all(isinstance(k, str) for k in key):
            raise PipelineError(f"{where}: key must be a column name or a list of them")
        contract = settings.get("contract") or {}
        if not isinstance(contract, dict):
            raise PipelineError(f"{where}: contract must be a mapping of rules")
        memory = _size(settings.get("memory"), where)
        configs.append(TableConfig(str(pattern).strip("/"), tuple(key), contract, memory))
    return configs


def config_for(configs: list[TableConfig], path: str) -> TableConfig | None:
    """The first config whose pattern names ``path`` (exactly, or as a glob)."""
    for config in configs:
        if config.pattern == path or fnmatch.fnmatchcase(path, config.pattern):
            return config
    return None


def _size(value: Any, where: str) -> int | None:
    """A number of bytes: ``1073741824``, ``"512MiB"``, ``"2 GB"``; None if not set."""
    if value is None:
        return None
    if isinstance(value, int) and not isinstance(value, bool) and value > 0:
        return value
    text = str(value).strip()
    number = text.rstrip("KMGiB ")
    unit = text[len(number) :].strip()
    try:
        count = float(number)
    except ValueError:
        count = -1.0
    if unit not in UNITS or count <= 0:
        raise PipelineError(f"{where}: memory must be a size such as 1GiB or 512MB, not {value!r}")
    return int(count * UNITS[unit])
