"""Runs: executing a command, recording what it read and wrote, and the run cache."""
