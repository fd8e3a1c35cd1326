"""``python -m mlv``: the same as the ``mlv`` command."""

from mlv.cli.main import run

run()
