"""``mlv://``: every version of every file, read through fsspec.

``pd.read_parquet("mlv://v1/data/train.parquet")`` reads the file as it was at
``v1`` in the repository that holds the current folder. The filesystem is
registered through fsspec's ``fsspec.specs`` entry point, so nothing needs to be
imported first; DuckDB needs it handed over once
(``duckdb.register_filesystem(fsspec.filesystem("mlv"))``), which ``mlv query``
does itself. Reads are ranged over the chunks (``mlv.repo.contentfile``), and the
filesystem is read-only.
"""
