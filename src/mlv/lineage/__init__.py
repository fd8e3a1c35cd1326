"""Lineage, history, metrics and parameters: what each content came from and went into.

Terms: an *artifact* is a content at a path (a file's id, or a folder's tree id); a
run *produced* an artifact when its outputs hold it, and *read* it when its inputs
(dependencies and params files) do. *Upstream* of an artifact are the runs and
artifacts it came from, back to the *sources* that no recorded run produced;
*downstream* are the runs that read it and what they wrote.
"""
