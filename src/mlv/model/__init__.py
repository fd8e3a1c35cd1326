"""Layer 3: typed objects (file, tree, commit) with canonical encoding and validation."""
