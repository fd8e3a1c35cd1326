"""Layer 2: the object store. Bytes by id in append-only packs, an SQLite index, no meaning."""
