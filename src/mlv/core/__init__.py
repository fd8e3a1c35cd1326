"""Layer 1: pure functions and small helpers every layer above shares (hashing, chunking,
paths, YAML)."""
