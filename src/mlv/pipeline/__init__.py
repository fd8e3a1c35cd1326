"""Pipelines: stage files, parameters and the order stages run in."""
