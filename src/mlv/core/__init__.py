"""Layer 1: pure functions for hashing and content-defined chunking."""
