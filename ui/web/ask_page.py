"""The Ask page (run by `app.py`'s navigation)."""

from ui.web.ask import ask_page
from ui.web.session import current

ask_page(current())
