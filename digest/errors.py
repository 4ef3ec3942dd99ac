"""The exceptions users see.

Every error a user can cause or fix is a ``DigestError``; the CLI turns it into
one line on stderr. Anything else is a bug and keeps its traceback.

    DigestError
    ├── ConfigError            a setting or the subscribers file is wrong
    ├── ListingError           a listing file or response cannot be read
    │   └── EmptyListingError  the listing is valid but lists no papers
    ├── SourceError            a live source failed (network, HTTP status)
    ├── KeywordError           a keyword expression is invalid
    ├── TemplateError          a template cannot be loaded or rendered
    ├── StoreError             the state database cannot be used
    ├── LockedError            another run holds the send lock
    └── MailError              SMTP delivery failed
        └── AuthError          the SMTP server refused the login
"""

from __future__ import annotations


class DigestError(Exception):
    """Root of every user-facing error; ``str(err)`` is the one-line message."""


class ConfigError(DigestError):
    pass


class ListingError(DigestError):
    def __init__(self, source: str, problem: str) -> None:
        super().__init__(f"{source}: {problem}")
        self.source = source
        self.problem = problem


class EmptyListingError(ListingError):
    pass


class SourceError(DigestError):
    def __init__(self, source: str, problem: str) -> None:
        super().__init__(f"{source}: {problem}")
        self.source = source
        self.problem = problem


class KeywordError(DigestError):
    pass


class TemplateError(DigestError):
    pass


class StoreError(DigestError):
    pass


class LockedError(DigestError):
    pass


class MailError(DigestError):
    pass


class AuthError(MailError):
    pass
