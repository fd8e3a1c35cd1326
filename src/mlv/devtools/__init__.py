"""Tools for working on mlv itself (``python -m mlv.devtools.layers``); no command uses them."""
