"""Everything a send will need, verified before the first one: ``digest check`` and the daemon's start.

A daemon whose settings parse but whose source is a typo, whose reader's library
is missing or whose templates do not render would fail at 07:00, hours after the
operator has walked away. ``check_setup`` looks at each of those now and returns
every problem it finds (not just the first), each one a line that names the
setting or reader and the fix. It never touches the network: ``digest check``
logs in to the SMTP server itself, and live sources are only resolved, not fetched.
"""

from __future__ import annotations

import logging
import os
import ssl
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date
from pathlib import Path

from .errors import ConfigError, DigestError
from .ranking.profile import describe_profile, parse_profile
from .model import Paper, Subscriber
from .settings import Settings

log = logging.getLogger("digest")

SOURCE_FORMS = "sample, hf, hf:YYYY-MM-DD, arxiv:CATS (e.g. arxiv:cs.LG), an http(s) URL or a listing file"


@dataclass(frozen=True)
class CheckResult:
    readers: tuple[Subscriber, ...]  # as the settings name them (empty if they cannot be read, or name none)
    sources: tuple[str, ...]  # the names of the sources that resolved
    problems: tuple[str, ...]  # one line each: what is wrong and how to fix it
    # of those, the ones a daemon can start with: one reader's library (that reader is sent without it),
    # a listing file not written yet (it may be there by the first run) and DIGEST_TO without DIGEST_KEYWORDS
    # (the web sign-ups' digests still go out)
    bearable: tuple[str, ...] = ()

    @property
    def ok(self) -> bool:
        return not self.problems


BOUNCES_WITHOUT_ADDRESS = ("DIGEST_BOUNCE_IMAP_URL is set but DIGEST_BOUNCE_ADDRESS is not: set the address "
                           "that mailbox receives, so digests' bounces go there")


def check_setup(settings: Settings, readers: Sequence[Subscriber] | None = None, *, source: str | None = None,
                subscribers: Path | None = None, today: date | None = None) -> CheckResult:
    """Every problem a send with these settings would meet; ``readers`` default to the configured ones."""
    problems: list[str] = []
    bearable: list[str] = []
    if readers is None:
        readers = _configured_readers(settings, subscribers, problems)
    sources = _source_names(source or settings.source, problems, bearable)
    for find in _CHECKS:
        problems += find(settings, readers)
    bearable += _library_problems(settings, readers)
    bearable += _unserved_recipient(settings, readers)
    problems += _template_problems(settings, readers, today or date.today())
    return CheckResult(tuple(readers), tuple(sources), tuple(problems + bearable), tuple(bearable))


def require_ready(settings: Settings, readers: Sequence[Subscriber], *, source: str | None = None) -> None:
    """The daemon's start: one ``ConfigError`` naming every problem, rather than a failure at the first run.

    A problem of one reader's (their library) or a listing file not written yet is
    logged, not fatal: the others' digests go out, and that reader's without it.
    """
    result = check_setup(settings, readers, source=source)
    for problem in result.bearable:
        log.warning("warning: %s", problem)
    fatal = [problem for problem in result.problems if problem not in result.bearable]
    if fatal:
        raise ConfigError("not starting: " + "; ".join(fatal))


def understood(reader: Subscriber) -> str:
    """``ada@example.org: reinforcement learning, rl, -survey``: a reader's keywords as the ranker reads them."""
    who = reader.email or "(no address: set DIGEST_TO)"
    paused = " (enabled = false)" if not reader.enabled else ""
    try:
        keywords = describe_profile(parse_profile(reader.keywords))
    except DigestError as err:
        keywords = f"invalid: {err}"
    return f"{who}{paused}: {keywords}"


def _configured_readers(settings: Settings, path: Path | None, problems: list[str]) -> list[Subscriber]:
    """The roster; none is no problem here: the readers may all be web sign-ups, which only the store knows
    (``digest check`` asks it, ``Digest.require_readers``, once the settings are right)."""
    from .subscribers import roster_from_settings

    try:
        return roster_from_settings(settings, path)
    except DigestError as err:
        problems.append(str(err))
        return []


def _source_names(spec: str, problems: list[str], bearable: list[str]) -> list[str]:
    """Each part of ``spec`` resolves; a file source must be a file (``huggingface`` is neither)."""
    from .sources import resolve, split_sources

    parts = split_sources(spec)
    if not parts:
        problems.extend(_failures(lambda: resolve(spec)))  # "no source given: set DIGEST_SOURCE ..."
        return []
    names: list[str] = []
    for part in parts:
        try:
            (chosen,) = resolve(part)
        except DigestError as err:
            problems.append(str(err))
            continue
        problem = _missing_file(part, chosen)
        if problem:
            later = "no such file" in problem and ("/" in part or "." in Path(part).name)  # a path, not a typo
            (bearable if later else problems).append(problem)
        else:
            names.append(chosen.name)
    return names


def _missing_file(part: str, chosen: object) -> str | None:
    from .sources import FileSource

    if not isinstance(chosen, FileSource) or chosen.path.is_file():
        return None
    what = "a folder" if chosen.path.is_dir() else "no such file"
    return f"source {part}: not a source name, and {what}; a source is {SOURCE_FORMS} (DIGEST_SOURCE or --source)"


def _sender_problems(settings: Settings, readers: Sequence[Subscriber]) -> list[str]:
    problems = []
    if not settings.from_addr:
        problems.append("DIGEST_FROM is not set; set it to the sender address, e.g. Digest <digest@example.org>")
    if settings.public_url or settings.serve:
        problems += _failures(lambda: _require_secret(settings))
    if settings.smtp_security == "none" and settings.smtp_user:
        problems.append("DIGEST_SMTP_USER is set but DIGEST_SMTP_SECURITY=none: a password would go unencrypted; "
                        "use starttls or ssl")
    if settings.smtp_ca_file is not None:
        problems += _failures(lambda: _load_ca(settings.smtp_ca_file, "DIGEST_SMTP_CA_FILE"))
    if settings.bounce_imap_url and settings.bounce_ca_file is not None:  # the daemon reads the mailbox unattended
        problems += _failures(lambda: _load_ca(settings.bounce_ca_file, "DIGEST_BOUNCE_CA_FILE"))
    if settings.bounce_imap_url and not settings.bounce_address:
        problems.append(BOUNCES_WITHOUT_ADDRESS)
    if settings.ses_cert_dir is not None and not settings.ses_cert_dir.is_dir():  # every SES report refused
        problems.append(f"DIGEST_SES_CERT_DIR={settings.ses_cert_dir} is not a folder; name the folder that holds "
                        "the pinned SNS certificates, or leave it empty to fetch them")
    return problems


def _semantic_problems(settings: Settings, readers: Sequence[Subscriber]) -> list[str]:
    """The model DIGEST_SEMANTIC names is installed: found now, not at the first morning's ranking."""
    if settings.semantic == "false":
        return []
    from .semantic import make_embedder

    return _failures(lambda: make_embedder(settings.semantic))


def _store_problems(settings: Settings, readers: Sequence[Subscriber]) -> list[str]:
    """The state database file opens, or a new one can be made there (nothing is created now).

    A PostgreSQL server is the network's: ``digest check`` connects to it itself (``server_problems``).
    """
    from .store import DatabaseURL, Store

    path = settings.state_db
    if isinstance(path, DatabaseURL):
        return []
    if path.exists():
        if not os.access(path, os.W_OK):  # opens, and reads, but a send stops at its first write
            return [f"the state database {path} is read-only; make it writable, "
                    "or set DIGEST_STATE_DB to a writable place"]
        return _failures(lambda: Store.open(path).close())
    folder = next(parent for parent in path.parents if parent.exists())  # DIGEST_STATE_DB's parser refused a file there
    if not _can_create_in(folder):
        return [f"the state database {path} cannot be created: {folder} is not writable; "
                "make it writable, or set DIGEST_STATE_DB to a writable place"]
    return []


def _can_create_in(folder: Path) -> bool:
    """A file can be made in ``folder``: tried, and removed at once (root passes ``os.access`` even for /proc)."""
    if not os.access(folder, os.W_OK | os.X_OK):
        return False
    try:
        handle, probe = tempfile.mkstemp(prefix=".digest-check-", dir=folder)
    except OSError:
        return False
    os.close(handle)
    os.unlink(probe)
    return True


def server_problems(settings: Settings) -> list[str]:
    """``digest check``'s connection to a PostgreSQL state database (``check_setup`` never touches the network)."""
    from .store import DatabaseURL, Store

    if not isinstance(settings.state_db, DatabaseURL):
        return []
    return _failures(lambda: Store.open(settings.state_db).close())


def _require_secret(settings: Settings) -> None:
    from .tokens import require_secret

    require_secret(settings)


def _load_ca(path: Path | None, key: str) -> None:
    try:
        ssl.create_default_context().load_verify_locations(cafile=str(path))
    except (OSError, ssl.SSLError) as err:
        raise ConfigError(f"{key}={path}: cannot load it ({getattr(err, 'strerror', None) or err}); "
                          "name a PEM file of CA certificates") from None


def _recipient_problems(settings: Settings, readers: Sequence[Subscriber]) -> list[str]:
    if any(not reader.email for reader in readers):
        return ["no recipient: set DIGEST_TO to the reader's address, or list readers in DIGEST_SUBSCRIBERS"]
    return []


def _unserved_recipient(settings: Settings, readers: Sequence[Subscriber]) -> list[str]:
    """DIGEST_TO without DIGEST_KEYWORDS (and no subscribers file): a half-made reader who gets nothing, while the
    web sign-ups are sent theirs (``subscribers.to_without_keywords``)."""
    from .subscribers import to_without_keywords

    problem = to_without_keywords(settings, readers)
    return [problem] if problem else []


def _library_problems(settings: Settings, readers: Sequence[Subscriber]) -> list[str]:
    """Each active reader's library reads (a missing file, the README's example copied as written, is the usual one)."""
    from .library import load_library

    problems: list[str] = []
    for reader in readers:
        if reader.library is None or not reader.enabled:
            continue
        try:
            load_library(reader.library)
        except DigestError as err:
            problems.append(f"{reader.email or 'DIGEST_LIBRARY'}: {err}")
    return problems


def _template_problems(settings: Settings, readers: Sequence[Subscriber], today: date) -> list[str]:
    """The templates load and render a digest of one paper for the first reader."""
    from .ranking.explain import Match
    from .ranking.select import Pick
    from .render import Renderer

    reader = next((r for r in readers if r.email), Subscriber(email="reader@example.org", keywords=("check",)))
    paper = Paper(id="2601.00001", title="A check of the templates", abstract="One paper, to render a digest.",
                  authors=("Ada Lovelace",), url="https://arxiv.org/abs/2601.00001")
    pick = Pick(paper, 3.5, (Match("check", ("title",)),), rank=1)
    unsubscribe = settings.unsubscribe_url or f"mailto:{settings.from_addr or 'digest@example.org'}"
    return _failures(lambda: Renderer(settings.templates_dir).render(reader, [pick], day=today,
                                                                      unsubscribe=unsubscribe))


def _failures(step: Callable[[], object]) -> list[str]:
    """``[]`` if ``step`` runs, else its error as the one problem."""
    try:
        step()
    except DigestError as err:
        return [str(err)]
    return []


_CHECKS: tuple[Callable[[Settings, Sequence[Subscriber]], list[str]], ...] = (
    _sender_problems, _recipient_problems, _semantic_problems, _store_problems,
)
