"""``python -m mlv``: the same as the ``mlv`` command."""

from mlv.cli.entry import run

run()
