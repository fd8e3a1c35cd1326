"""Verified reproduction: re-execute a commit's runs in isolation and compare what comes out."""
