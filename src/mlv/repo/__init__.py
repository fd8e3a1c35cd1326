"""Layer 4: the repository. Refs, staging, working tree, checkout and the public ``Repo``."""
