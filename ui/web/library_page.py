"""The Library page (run by `app.py`'s navigation)."""

from ui.web.library import library_page
from ui.web.session import current

library_page(current())
