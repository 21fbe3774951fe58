"""The tracking server (FastAPI): click redirects, the open pixel, unsubscribe pages and the
feedback API for bounces and complaints; it records into the state store only."""

from partita.server.app import create_app
from partita.server.feedback import Feedback, FeedbackError, parse_feedback

__all__ = ["Feedback", "FeedbackError", "create_app", "parse_feedback"]
