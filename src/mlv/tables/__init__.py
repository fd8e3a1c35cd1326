"""Tables: profiles, row-level diffs, data contracts and Parquet that deduplicates.

pyarrow is imported inside functions only: a repository without tables never loads it.
"""
