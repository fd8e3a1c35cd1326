"""``mlv ui``: the repository as web pages, served from this machine.

Server-rendered (Starlette and Jinja2, with htmx for the parts a page updates in
place); every script and style sheet ships in ``static/``. Nothing here is imported
unless ``mlv ui`` runs.
"""
