"""Layer 6: the command line. Parsing and rendering only; the work is done by ``mlv.Repo``."""
