"""The reader's side of digest: ``digest serve`` and the ``digest preview`` server.

Starlette pages (unsubscribe, preferences, feedback, view in browser, sign-up)
behind one guard, served by uvicorn. No JavaScript: every action is a form.
"""

from __future__ import annotations

from .app import make_app, make_preview_app
from .server import ServerHandle, ready_to_serve, serve_in_thread, start_in_thread, start_on

__all__ = ["ServerHandle", "make_app", "make_preview_app", "ready_to_serve", "serve_in_thread", "start_in_thread",
           "start_on"]
