"""The text of the shell scripts that `mlv hooks install` writes, and how to recognise them."""

from __future__ import annotations

import shlex

# A hook file holding this line was written by mlv; any other file is the user's or another
# tool's, and mlv never deletes or overwrites it.
MARKER = "# mlv-managed-hook"
# The hook that was in place before mlv's is kept beside it under this suffix.
CHAINED_SUFFIX = ".pre-mlv"
# Written into the script only when it calls the kept hook: `status` reads it back.
CHAIN_LINE = "# mlv-chains:"

# Hooks whose standard input carries data (pre-push: one line per ref) must hand a copy of
# it to the chained hook and to mlv both.
STDIN_HOOKS = frozenset({"pre-push"})


def is_mlv_hook(content: bytes) -> bool:
    return MARKER.encode() in content


def chains(content: bytes) -> bool:
    return CHAIN_LINE.encode() in content


def hook_script(name: str, mlv_command: str, workdir: str, chain: bool) -> str:
    """The script for hook ``name``.

    ``mlv_command`` is tried first and ``mlv`` on PATH after it; ``workdir`` is the mlv
    root relative to the git work tree's top (git runs hooks there), "." when they are
    the same; ``chain`` makes the script run ``<name>.pre-mlv`` first.
    """
    kept = f"{name}{CHAINED_SUFFIX}"
    lines = [
        "#!/bin/sh",
        f"{MARKER}: {name}",
        "# Written by 'mlv hooks install'; 'mlv hooks uninstall' removes it and puts back",
        f"# the hook that was here before, kept beside it as {kept}.",
    ]
    if chain:
        lines.append(f"{CHAIN_LINE} {kept}")
    lines += [
        f"mlv={shlex.quote(mlv_command)}",
        'command -v "$mlv" >/dev/null 2>&1 || mlv=mlv',
    ]
    run_mlv = f'"$mlv" hooks run {name} "$@"'
    if chain:
        lines.append(f'chained="$(dirname -- "$0")/{kept}"')
        # A pre- hook that fails stops git, so mlv's check need not run; a post- hook's
        # status changes nothing in git, so mlv's part runs whatever the kept hook did.
        stop = " || exit $?" if name.startswith("pre-") else ""
        if name in STDIN_HOOKS:
            lines += [
                'if [ -x "$chained" ]; then',
                "    # Keep the input, trailing newlines included, for both hooks.",
                "    input=$(cat; echo .)",
                '    input="${input%.}"',
                f'    printf %s "$input" | "$chained" "$@"{stop}',
                f'    printf %s "$input" | (cd -- {shlex.quote(workdir)} && exec {run_mlv})',
                "    exit $?",
                "fi",
            ]
        else:
            lines += ['if [ -x "$chained" ]; then', f'    "$chained" "$@"{stop}', "fi"]
    if workdir != ".":
        # git may name its index relative to the top of the work tree, which mlv leaves.
        lines += [
            'case "${GIT_INDEX_FILE:-/}" in /*) ;; *) GIT_INDEX_FILE="$PWD/$GIT_INDEX_FILE"; '
            "export GIT_INDEX_FILE ;; esac",
            f"cd -- {shlex.quote(workdir)} || exit 2",
        ]
    lines.append(f"exec {run_mlv}")
    return "\n".join(lines) + "\n"
