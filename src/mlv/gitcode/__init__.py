"""Code versions from git (read with dulwich, never the git binary) and ``mlv.lock``."""
