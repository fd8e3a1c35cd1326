"""Remotes: where a repository's objects and refs are shared, a folder or an object store.

``storage`` is the one interface every kind of remote gives (get, put, conditional
create and replace, list, delete), ``config`` the remotes a repository names.
"""
