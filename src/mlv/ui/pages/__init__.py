"""One module per page: its ``routes``, and its ``NAV`` item when it is in the top bar."""
