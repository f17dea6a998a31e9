"""The Eval page (run by `app.py`'s navigation)."""

from ui.web.evals import evals_page
from ui.web.session import current

evals_page(current())
