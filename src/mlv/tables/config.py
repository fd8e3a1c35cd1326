"""What ``mlv.yaml`` says about tables: each table's key and its data contract.

```yaml
tables:
  data/features/*.parquet:      # a path or a glob, relative to the repository root
    key: [id]                   # the row key: diffs match rows on it
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
TABLE_KEYS = ("key", "contract", "desc")


@dataclass(frozen=True)
class TableConfig:
    pattern: str
    key: tuple[str, ...] = ()
    contract: dict[str, Any] = field(default_factory=dict)  # checked by mlv.tables.contracts


def load_table_configs(root: Path) -> list[TableConfig]:
    """The ``tables:`` section of the root ``mlv.yaml``, in file order; [] without one."""
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
        configs.append(TableConfig(str(pattern).strip("/"), tuple(key), contract))
    return configs


def config_for(configs: list[TableConfig], path: str) -> TableConfig | None:
    """The first config whose pattern names ``path`` (exactly, or as a glob)."""
    for config in configs:
        if config.pattern == path or fnmatch.fnmatchcase(path, config.pattern):
            return config
    return None
