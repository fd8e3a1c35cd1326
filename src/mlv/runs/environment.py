"""What interpreter a command runs with: asked of the ``python`` on the command's PATH."""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Mapping

from mlv.model.runs import Env

# Thread counts of the numerical libraries: parallel reductions sum in another order.
THREAD_VARIABLES = (
    "OMP_NUM_THREADS",
    "MKL_NUM_THREADS",
    "OPENBLAS_NUM_THREADS",
    "NUMEXPR_NUM_THREADS",
    "VECLIB_MAXIMUM_THREADS",
    "BLIS_NUM_THREADS",
)

# Variables that change what numerical code computes, or what a script writes.
DETERMINISM_VARIABLES = (
    "PYTHONHASHSEED",
    *THREAD_VARIABLES,
    "CUBLAS_WORKSPACE_CONFIG",
    "CUDA_VISIBLE_DEVICES",
    "TZ",
    "LC_ALL",
    "LANG",
    "SOURCE_DATE_EPOCH",
)

# Run by the command's own interpreter: mlv's interpreter may be another one entirely.
_PROBE = """
import json, platform, sys
from importlib import metadata
packages = {}
for dist in metadata.distributions():
    name = dist.metadata.get("Name")
    if name:
        packages[name.lower().replace("_", "-")] = dist.version
print(json.dumps({
    "python": platform.python_version(),
    "implementation": platform.python_implementation(),
    "platform": platform.platform(),
    "machine": platform.machine(),
    "executable": sys.executable,
    "packages": packages,
}))
"""


def find_python(environ: Mapping[str, str]) -> str | None:
    """The interpreter a command line's ``python`` would start, given its PATH."""
    path = environ.get("PATH", "")
    return shutil.which("python", path=path) or shutil.which("python3", path=path)


def capture_env(environ: Mapping[str, str]) -> tuple[Env, str | None]:
    """The environment a command started with ``environ`` sees, and its python's path.

    Without a python on the PATH the record still holds the platform and the
    variables, with empty Python fields.
    """
    import platform

    variables = {k: environ[k] for k in DETERMINISM_VARIABLES if k in environ}
    python = find_python(environ)
    probe = None
    if python is not None:
        try:
            done = subprocess.run(
                [python, "-c", _PROBE],
                capture_output=True,
                text=True,
                timeout=60,
                env=dict(environ),
                cwd="/",  # so that no module of the project shadows the probe's imports
            )
            if done.returncode == 0:
                probe = json.loads(done.stdout)
        except (OSError, subprocess.TimeoutExpired, ValueError):
            probe = None
    if probe is None:
        return Env("", "", platform.platform(), platform.machine(), {}, variables), None
    env = Env(
        python=str(probe["python"]),
        implementation=str(probe["implementation"]),
        platform=str(probe["platform"]),
        machine=str(probe["machine"]),
        packages={str(k): str(v) for k, v in sorted(probe["packages"].items())},
        variables=variables,
    )
    return env, str(probe["executable"])


def drift(recorded: Env, now: Env) -> dict[str, list[str]]:
    """What differs between two environments: python, platform and each package."""
    changes: dict[str, list[str]] = {}
    if recorded.python != now.python:
        changes["python"] = [recorded.python, now.python]
    if recorded.implementation != now.implementation:
        changes["implementation"] = [recorded.implementation, now.implementation]
    if recorded.machine != now.machine:
        changes["machine"] = [recorded.machine, now.machine]
    for name in sorted(recorded.packages.keys() | now.packages.keys()):
        before = recorded.packages.get(name, "")
        after = now.packages.get(name, "")
        if before != after:
            changes[name] = [before or "absent", after or "absent"]
    return changes
