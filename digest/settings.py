"""Typed settings from ``DIGEST_*`` keys in the environment and a ``.env`` file.

Loaded once, at the edge (the CLI); components receive a ``Settings`` and never
read ``os.environ`` themselves. Every invalid or unknown key is reported in one
``ConfigError``.

An empty value (or one of spaces) is the key's default, whatever the key: a copy of
config.example.env with a value left blank (``DIGEST_MAX_ITEMS=``) is as if the line
were not there. For the keys whose default is empty (an address, a path, a secret,
``DIGEST_LLM_URL``...) that is the empty value their comment documents. Set in the
real environment, an empty value still wins over the file's, as any value there does.
"""

from __future__ import annotations

import contextlib
import difflib
import io
import ipaddress
import math
import os
import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, fields
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from dotenv.parser import parse_stream

from .errors import ConfigError, expand_home, file_in_the_way, shown_url, utf8_text

if TYPE_CHECKING:  # the store is imported only for a PostgreSQL URL
    from .store.engine import DatabaseURL

PREFIX = "DIGEST_"
MAX_DAYS = 36_500  # 100 years: longer is a typo, and overflows a date
MAX_TIMEOUT = 3600.0  # seconds: a server that takes longer is down
MAX_ITEMS = 10_000  # papers in one digest (DIGEST_MAX_ITEMS, max_items)
MAX_SCORE = 1000.0  # DIGEST_MIN_SCORE, min_score: one keyword found as written scores ~3.5
SECURITY_PORTS = {"starttls": 587, "ssl": 465, "none": 25}


def default_state_db() -> Path:
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "digest" / "state.db"


def default_cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "digest"


@dataclass(frozen=True)
class Settings:
    source: str = "hf"
    keywords: str = ""
    to: str = ""
    from_addr: str = ""
    subscribers: Path | None = None
    library: Path | None = None  # the one reader's library of liked papers
    smtp_host: str = "localhost"
    smtp_port: int = 0  # 0: the usual port for smtp_security
    smtp_user: str = ""
    smtp_password: str = ""
    smtp_security: str = "starttls"
    smtp_timeout: float = 30.0
    smtp_ca_file: Path | None = None
    smtp_connections: int = 4
    smtp_rate: float = 0.0  # messages per minute across all connections; 0 = no limit
    schedule: str = "0 7 * * 1-5"
    timezone: str = "UTC"
    max_items: int = 20
    min_score: float = 2.0
    state_db: Path = Path()
    templates_dir: Path | None = None
    send_empty: bool = False
    thumbnails: bool = True  # DIGEST_THUMBNAILS: the listing's thumbnail beside each paper (hf gives one)
    semantic: str = "false"  # DIGEST_SEMANTIC: false, true (the best installed), minilm or wordllama
    arxiv_announce: frozenset[str] = frozenset({"new", "cross"})
    unsubscribe_url: str = ""
    lookback_days: int = 3
    catchup_days: int = 14  # a reader's digest covers what arrived since their last one, at most this many days
    cache_dir: Path = Path()
    hf_base_url: str = "https://huggingface.co"
    arxiv_base_url: str = "https://rss.arxiv.org"
    arxiv_delay: float = 3.0
    biorxiv_base_url: str = "https://api.biorxiv.org"
    http_timeout: float = 20.0
    http_max_bytes: int = 50_000_000
    max_papers: int = 5000
    grace_hours: float = 6.0
    public_url: str = ""
    secret_key: str = ""
    secret_keys_old: tuple[str, ...] = ()  # earlier keys: links signed with them still verify (key rotation)
    signup: bool = False
    archive_days: int = 90
    keep_days: int = 400
    serve: bool = False  # digest run also serves the reader pages (as --serve)
    bounce_address: str = ""  # the envelope sender (MAIL FROM); per reader bounces+<reader id>@host
    bounce_imap_url: str = ""  # imaps://user:password@host/INBOX: the mailbox digest bounces reads
    bounce_ca_file: Path | None = None
    bounce_threshold: float = 5.0  # bounce score that suppresses a reader (hard 1, soft 0.5, once a day)
    bounce_stale_days: int = 7  # a score with no bounce for this many days starts again from zero
    llm_url: str = ""  # an OpenAI-compatible API (http://127.0.0.1:11434/v1); empty: no LLM summaries
    llm_model: str = ""
    llm_api_key: str = ""
    llm_budget: int = 50  # requests a send may make
    llm_timeout: float = 20.0  # seconds one request may take
    llm_deadline: float = 120.0  # seconds all of a send's requests may take, from the first
    ses_topic_arn: str = ""  # POST /webhooks/ses answers only SNS messages of this topic
    ses_cert_dir: Path | None = None  # pinned SNS signing certificates (else fetched from sns.<region>.amazonaws.com)
    postmark_webhook_secret: str = ""  # user:password of POST /webhooks/postmark (HTTP Basic)

    @property
    def port(self) -> int:
        return self.smtp_port or SECURITY_PORTS[self.smtp_security]

    @property
    def secret_keys(self) -> tuple[str, ...]:
        """Every key a link may be signed with: the current one (it signs new links) first."""
        return tuple(dict.fromkeys(k for k in (self.secret_key, *self.secret_keys_old) if k))

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    def __repr__(self) -> str:  # never show the password
        shown = {f.name: getattr(self, f.name) for f in fields(self)}
        shown["smtp_password"] = "***" if self.smtp_password else ""
        shown["secret_key"] = "***" if self.secret_key else ""
        shown["secret_keys_old"] = tuple("***" for _ in self.secret_keys_old)
        shown["bounce_imap_url"] = shown_url(self.bounce_imap_url)
        shown["llm_api_key"] = "***" if self.llm_api_key else ""
        shown["llm_url"] = shown_url(self.llm_url)
        shown["postmark_webhook_secret"] = "***" if self.postmark_webhook_secret else ""
        return f"Settings({shown})"

    def summary(self) -> dict[str, str]:
        """What the daemon logs at start: everything but secrets."""
        return {
            "source": self.source,
            "subscribers": str(self.subscribers) if self.subscribers else (self.to or "-"),
            "smtp": f"{self.smtp_host}:{self.port} ({self.smtp_security})",
            "smtp_user": self.smtp_user or "-",
            "schedule": self.schedule,
            "timezone": self.timezone,
            "state_db": str(self.state_db),
        }


def _text(value: str) -> str:
    return value.strip()


def _path(value: str) -> Path:
    return expand_home(Path(value.strip()))


def _int(value: str) -> int:
    """``int(value)``, but a number of thousands of digits (more than ``int`` converts) is out of every
    range, as a smaller one is: its error then says the range, not ``sys.set_int_max_str_digits()``."""
    text = value.strip()
    if len(text) > 100 and text.lstrip("+-").isdigit():
        return -(10**100) if text.startswith("-") else 10**100
    return int(value)


def _whole(low: int, high: int | None = None) -> Callable[[str], int]:
    """A parser of whole numbers from ``low`` (to ``high``); the error says the range."""

    def parse(value: str) -> int:
        number = _int(value)
        if number < low or (high is not None and number > high):
            raise ValueError(f"must be {low}-{high}" if high is not None else f"must be {low} or more")
        return number

    return parse


def _rate(value: str) -> float:
    """Messages a minute: 0 (no limit) or 1-100000 (0.000001 passed, then waited two years between messages)."""
    number = float(value)
    if not (number == 0 or 1 <= number <= 100_000):  # nan too
        raise ValueError("must be 0 (no limit) or 1-100000 messages a minute")
    return number


def _number(low: float, high: float, *, above: bool = False) -> Callable[[str], float]:
    """A parser of finite numbers in ``[low, high]`` (``(low, high]`` with ``above``); the error says the range.

    ``nan`` and ``inf`` parse as floats but break a send hours later (a socket
    timeout, a ``timedelta``): they are refused here, at the edge.
    """

    def parse(value: str) -> float:
        number = float(value)
        if not math.isfinite(number):
            raise ValueError(f"must be a finite number, {_range(low, high, above)}")
        if number > high or number < low or (above and number == low):
            raise ValueError(f"must be {_range(low, high, above)}")
        return number

    return parse


def _range(low: float, high: float, above: bool) -> str:
    return f"more than {low:g} and at most {high:g}" if above else f"{low:g}-{high:g}"


MAX_BYTES = 10_000_000_000
_SIZE = re.compile(r"^(\d+(?:\.\d+)?)\s*([kmg]?)b?$", re.IGNORECASE)


def _byte_size(value: str) -> int:
    """``50000000``, ``50MB``, ``512 kB`` or ``1G`` (decimal units)."""
    match = _SIZE.match(value.strip())
    if not match:
        raise ValueError("use a number of bytes, e.g. 50MB or 50000000")
    size = float(match.group(1)) * 1000 ** " kmg".index(match.group(2).lower() or " ")  # inf for 400 digits
    if not 1 <= size <= MAX_BYTES:
        raise ValueError("must be 1 byte to 10GB")
    return int(size)


ANNOUNCE_TYPES = ("new", "cross", "replace", "replace-cross")


def _announce_types(value: str) -> frozenset[str]:
    chosen = {part.strip().lower() for part in value.split(",") if part.strip()}
    unknown = sorted(chosen - set(ANNOUNCE_TYPES))
    if unknown or not chosen:
        raise ValueError(f"use a comma-separated list of {', '.join(ANNOUNCE_TYPES)}")
    return frozenset(chosen)


def _semantic(value: str) -> str:
    lowered = value.strip().lower()
    if lowered in {"minilm", "wordllama"}:
        return lowered
    try:
        return "true" if _bool(value) else "false"
    except ValueError:
        raise ValueError("use false, true (the best installed), minilm or wordllama") from None


def _bool(value: str) -> bool:
    lowered = value.strip().lower()
    if lowered in {"1", "true", "yes", "on"}:
        return True
    if lowered in {"0", "false", "no", "off"}:
        return False
    raise ValueError("use true or false")


def _security(value: str) -> str:
    lowered = value.strip().lower()
    if lowered not in SECURITY_PORTS:
        raise ValueError("use starttls, ssl or none")
    return lowered


_ZONE_NAME = re.compile(r"^[A-Za-z0-9_+-]+(?:/[A-Za-z0-9_+-]+)*$")
_ZONE_HINT = "not an IANA time zone (e.g. Europe/Berlin, UTC)"


def _timezone(value: str) -> str:
    """An IANA name the zone database has; a long or odd name never reaches the file system."""
    name = value.strip()
    if len(name) > 64 or not _ZONE_NAME.match(name):
        raise ValueError(_ZONE_HINT)
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        raise ValueError(_ZONE_HINT) from None
    return name


_LABEL = re.compile(r"^[A-Za-z0-9_]([A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?$")
_HOST_HINT = "not a host name or IP address (e.g. smtp.example.org)"


def _hostname(value: str) -> str:
    """A name DNS can hold (labels of 1-63 characters, 253 in all) or an IP address."""
    host = value.strip()
    with contextlib.suppress(ValueError):
        return str(ipaddress.ip_address(host.strip("[]")))
    try:
        ascii_host = host.encode("idna").decode("ascii").rstrip(".")
    except UnicodeError:
        raise ValueError(_HOST_HINT) from None
    if len(ascii_host) > 253 or not all(_LABEL.match(label) for label in ascii_host.split(".")):
        raise ValueError(_HOST_HINT)
    return host


def _database_url_problem(url: str) -> None:
    """A password with a ``/``, ``?``, ``#`` or ``@`` as it is ends the URL's host part early: the host and
    port would be read from the password (and the password printed as a host); say how to write it."""
    rest = re.split(r"[?#]", url.split("//", 1)[1], maxsplit=1)[0]  # a query's @ (user=a@b) is the query's
    authority = rest.split("/", 1)[0]
    try:
        urlsplit(url).port
    except ValueError:
        bad_port = True
    else:
        bad_port = False
    if bad_port or ("@" not in authority and "@" in rest) or authority.count("@") > 1:
        raise ValueError("cannot tell the host from the password: percent-encode / ? # @ in the user or "
                         "password (/ as %2F, ? as %3F, # as %23, @ as %40), e.g. "
                         "postgresql://digest:Ab%2FCd@db.example.org:5432/digest")


def database_url(value: str) -> DatabaseURL:
    """A PostgreSQL store's URL, checked as DIGEST_STATE_DB is (``digest store copy --to`` too); a ValueError
    says how to write it."""
    from .store.engine import DatabaseURL

    _database_url_problem(value.strip())
    return DatabaseURL(value, default_state_db().parent)


def _state_db(value: str) -> Path:
    """The database file: not a folder (``/``), and no file where a folder on its path should be.

    Or a PostgreSQL database, ``postgresql://USER:PASSWORD@HOST:PORT/DB`` (the ``postgres``
    extra): what stays on this host (the delivery journal) goes beside the default file.
    """
    if value.strip().startswith(("postgresql://", "postgres://")):
        return database_url(value)
    path = _path(value)
    with _looking_at("DIGEST_STATE_DB"):
        folder, blocker = path.is_dir(), file_in_the_way(path)
        special = path.exists() and not folder and not path.is_file()  # /dev/null, a FIFO: "disk full" later
    if folder:
        raise ValueError(f"{path} is a folder; name the database file in it, e.g. {path / 'state.db'}")
    if special:
        raise ValueError(f"{path} is a device or a pipe, not a file; name a database file, e.g. state.db")
    if blocker is not None:
        raise ValueError(f"{blocker} is a file, not a folder; set DIGEST_STATE_DB to a path in a folder")
    return path


def _cache_dir(value: str) -> Path:
    path = _path(value)
    with _looking_at("DIGEST_CACHE_DIR"):
        a_file = path.exists() and not path.is_dir()
    if a_file:
        raise ValueError(f"{path} is a file; name a folder for the HTTP cache")
    return path


@contextlib.contextmanager
def _looking_at(key: str) -> Iterator[None]:
    """A look at a path that fails for more than a missing file (a name too long, a folder not ours to
    read: ``Path.is_dir`` raises those) is the setting's problem, in words."""
    try:
        yield
    except OSError as err:
        raise ValueError(f"cannot look at it ({err.strerror or err}); set {key} to another path") from None


def _mailbox_or_empty(value: str) -> str:
    """``you@example.org`` or ``Name <you@example.org>``, validated; kept in canonical form."""
    from .addresses import parse_mailbox

    return str(parse_mailbox(value)) if value.strip() else ""


def _recipient(value: str) -> str:
    """DIGEST_TO: the one reader; a list of them belongs in the subscribers file, and the error says so."""
    try:
        return _mailbox_or_empty(value)
    except ConfigError as err:
        if "not a list" not in str(err) and value.count("@") < 2:  # two addresses: a list of readers
            raise
        raise ConfigError(f"{err}; for several readers, list them in a subscribers file named by "
                          "DIGEST_SUBSCRIBERS (README: Many readers)") from None


def _port(value: str) -> int:
    port = _int(value)
    if not 0 <= port <= 65535:
        raise ValueError("must be a port number, 0-65535 (0: 587 for starttls, 465 for ssl, 25 for none)")
    return port


# A URL that goes into List-Unsubscribe between <...> (RFC 2369) and into links: an ASCII host (an IDN in
# punycode), a port, and a path (with a query where one is allowed) of RFC 3986's characters, less the
# quote, the parentheses and the comma, which could end the header's <...> or start a second URL in it.
_HOST_PORT = r"(?:[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)*|\[[0-9A-Fa-f:.]+\])(?::\d{1,5})?"
_PATH_CHARS = r"[A-Za-z0-9._~!$&*+;=:@%/-]"
MAX_LINK_URL = 500  # DIGEST_PUBLIC_URL and DIGEST_UNSUBSCRIBE_URL: List-Unsubscribe stays one header line
_PUBLIC_URL = re.compile(rf"^https?://{_HOST_PORT}(?:/{_PATH_CHARS}*)?$")
_UNSUBSCRIBE_URL = re.compile(rf"^(?:https?://{_HOST_PORT}(?:/{_PATH_CHARS}*)?(?:\?[A-Za-z0-9._~!$&*+;=:@%/?-]*)?"
                              r"|mailto:[A-Za-z0-9.!#$%&*+/=?^_`{|}~-]+@[A-Za-z0-9.-]+(?:\?[A-Za-z0-9._~!$&*+;=:@%/?-]*)?)$")


def _public_url(value: str) -> str:
    url = value.strip().rstrip("/")
    if len(url) > MAX_LINK_URL:
        raise ValueError(f"longer than {MAX_LINK_URL} characters; a mail header line holds 998 with its links")
    if url and (not _PUBLIC_URL.match(url) or url_problem(url)):
        raise ValueError("use the base URL readers open, e.g. https://digest.example.org (an ASCII host, "
                         "no user or password, no quotes, commas, brackets or spaces)")
    return url


def _unsubscribe_url(value: str) -> str:
    url = value.strip()
    if len(url) > MAX_LINK_URL:
        raise ValueError(f"longer than {MAX_LINK_URL} characters; a mail header line holds 998 with its links")
    if url and (not _UNSUBSCRIBE_URL.match(url) or (not url.startswith("mailto:") and url_problem(url))):
        raise ValueError("use an http(s) URL or a mailto: address, e.g. https://example.org/unsubscribe?list=papers "
                         "(ASCII, no user or password, no quotes, commas, brackets or spaces)")
    return url


def _keep_days(value: str) -> int:
    days = _int(value)
    if days < 1:
        raise ValueError("must be 1 or more (today's messages say who already got today's digest)")
    if days > MAX_DAYS:
        raise ValueError(f"must be {MAX_DAYS} or less (100 years)")
    return days


MAKE_SECRET = "python -c \"import secrets; print(secrets.token_urlsafe(32))\""


def _secret(value: str) -> str:
    from .keystrength import MIN_BITS, entropy_bits

    if value and len(value) < 16:
        raise ValueError(f"too short (16 characters or more); make one with {MAKE_SECRET}")
    if value and entropy_bits(value) < MIN_BITS:
        raise ValueError(f"too easy to guess (about {entropy_bits(value):.0f} bits of entropy, {MIN_BITS:.0f} needed: "
                         f"common words, repeats, sequences); make one with {MAKE_SECRET}")
    return value


def _old_secrets(value: str) -> tuple[str, ...]:
    """Earlier keys, comma-separated: links signed with them still verify; each must be as strong as a key."""
    keys = tuple(dict.fromkeys(part.strip() for part in value.split(",") if part.strip()))
    for number, key in enumerate(keys, 1):
        try:
            _secret(key)
        except ValueError as err:
            raise ValueError(f"key {number}: {err} (a weak old key lets anyone forge links: drop it)") from None
    return keys
def _topic_arn(value: str) -> str:
    arn = value.strip()
    if arn and not re.fullmatch(r"arn:aws[a-z-]*:sns:[a-z0-9-]+:[0-9]{12}:[A-Za-z0-9_.-]{1,256}", arn):
        raise ValueError("use the SNS topic's ARN, e.g. arn:aws:sns:eu-west-1:123456789012:digest-bounces")
    return arn


def _basic_credentials(value: str) -> str:
    """``user:password`` as written into Postmark's webhook URL (https://user:password@host/...)."""
    text = value.strip()
    user, colon, password = text.partition(":")
    if text and (not colon or not user or len(password) < 16 or not re.fullmatch(r"[A-Za-z0-9._~-]+", user + password)):
        raise ValueError("use USER:PASSWORD, a password of 16 or more letters, digits, or . _ ~ - "
                         f"(make one with {MAKE_SECRET})")
    return text


def _bare_address(value: str) -> str:
    """An address alone (``bounces@example.org``): it becomes the envelope sender, with ``+<id>`` added."""
    from .addresses import parse_address

    return parse_address(value) if value.strip() else ""


def _imap_url(value: str) -> str:
    """``imaps://user:password@host[:port][/MAILBOX]`` (TLS) or ``imap://`` (STARTTLS, required)."""
    url = value.strip()
    if not url:
        return ""
    parts = urlsplit(url)
    if parts.scheme not in ("imaps", "imap") or not parts.hostname or not parts.username or parts.password is None:
        raise ValueError("use imaps://USER:PASSWORD@HOST/INBOX (or imap:// for STARTTLS); "
                         "percent-encode @ : / in the user or password")
    parts.port  # a ValueError for a port that is not a number
    return url


def url_problem(url: str) -> str | None:
    """What makes ``url`` no http(s) URL to fetch (None: it is one); a long one is quoted cut (one short line)."""
    shown = repr(shown_url(url)) if len(url) <= 80 else f"{shown_url(url)[:60]!r}… ({len(url)} characters)"
    try:
        parts = urlsplit(url)
        parts.port  # a ValueError for a port that is no number or out of range
    except ValueError as err:
        return f"{shown} is not a URL ({err})"
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return f"{shown} is not an http(s) URL with a host"
    return None


def _base_url(default: str) -> Callable[[str], str]:
    """An API's base URL: http(s), a host, maybe a port and a path (checked now, not at the first fetch)."""
    def parse(value: str) -> str:
        url = value.strip()
        problem = url_problem(url)
        if problem:
            raise ValueError(f"{problem}; use http(s)://HOST[:PORT][/PATH], e.g. {default}")
        return url

    return parse


def _api_key(value: str) -> str:
    """Sent as ``Authorization: Bearer KEY``: one word of visible characters (a line break would end the header)."""
    key = value.strip()
    if key and not re.fullmatch(r"[\x21-\x7e]+", key):
        raise ValueError("has a space, a line break or a character beyond ASCII in it; paste the key alone")
    return key


def _llm_url(value: str) -> str:
    url = value.strip().rstrip("/")
    if url and not re.match(r"^https?://[^/\s?#]+(/[^\s?#]*)?$", url):
        raise ValueError("use the API's base URL, e.g. http://127.0.0.1:11434/v1 (digest adds /chat/completions)")
    if url and "@" in url.split("/")[2]:  # scheme://USER:KEY@HOST: the regex above made [2] the authority
        raise ValueError("put the key in DIGEST_LLM_API_KEY, not in the URL (a URL is logged with --debug)")
    return url


def _schedule(value: str) -> str:
    from .cron import parse_spec

    parse_spec(value.strip())  # a ValueError says what is wrong
    return value.strip()


_PARSERS: dict[str, tuple[str, Callable[[str], Any]]] = {
    "DIGEST_SOURCE": ("source", _text),
    "DIGEST_KEYWORDS": ("keywords", _text),
    "DIGEST_TO": ("to", _recipient),
    "DIGEST_FROM": ("from_addr", _mailbox_or_empty),
    "DIGEST_SUBSCRIBERS": ("subscribers", _path),
    "DIGEST_LIBRARY": ("library", _path),
    "DIGEST_SMTP_HOST": ("smtp_host", _hostname),
    "DIGEST_SMTP_PORT": ("smtp_port", _port),
    "DIGEST_SMTP_USER": ("smtp_user", _text),
    "DIGEST_SMTP_PASSWORD": ("smtp_password", str),
    "DIGEST_SMTP_SECURITY": ("smtp_security", _security),
    "DIGEST_SMTP_TIMEOUT": ("smtp_timeout", _number(0, MAX_TIMEOUT, above=True)),
    "DIGEST_SMTP_CA_FILE": ("smtp_ca_file", _path),
    "DIGEST_SMTP_CONNECTIONS": ("smtp_connections", _whole(1, 32)),
    "DIGEST_SMTP_RATE": ("smtp_rate", _rate),
    "DIGEST_SCHEDULE": ("schedule", _schedule),
    "DIGEST_TIMEZONE": ("timezone", _timezone),
    "DIGEST_MAX_ITEMS": ("max_items", _whole(0, MAX_ITEMS)),
    "DIGEST_MIN_SCORE": ("min_score", _number(0, MAX_SCORE)),
    "DIGEST_STATE_DB": ("state_db", _state_db),
    "DIGEST_TEMPLATES_DIR": ("templates_dir", _path),
    "DIGEST_SEND_EMPTY": ("send_empty", _bool),
    "DIGEST_THUMBNAILS": ("thumbnails", _bool),
    "DIGEST_SEMANTIC": ("semantic", _semantic),
    "DIGEST_ARXIV_ANNOUNCE": ("arxiv_announce", _announce_types),
    "DIGEST_UNSUBSCRIBE_URL": ("unsubscribe_url", _unsubscribe_url),
    "DIGEST_LOOKBACK_DAYS": ("lookback_days", _whole(0, 366)),
    "DIGEST_CATCHUP_DAYS": ("catchup_days", _whole(1, 366)),
    "DIGEST_CACHE_DIR": ("cache_dir", _cache_dir),
    "DIGEST_HF_BASE_URL": ("hf_base_url", _base_url(Settings.hf_base_url)),
    "DIGEST_ARXIV_BASE_URL": ("arxiv_base_url", _base_url(Settings.arxiv_base_url)),
    "DIGEST_ARXIV_DELAY": ("arxiv_delay", _number(0, 600)),
    "DIGEST_BIORXIV_BASE_URL": ("biorxiv_base_url", _base_url(Settings.biorxiv_base_url)),
    "DIGEST_HTTP_TIMEOUT": ("http_timeout", _number(0, MAX_TIMEOUT, above=True)),
    "DIGEST_HTTP_MAX_BYTES": ("http_max_bytes", _byte_size),
    "DIGEST_MAX_PAPERS": ("max_papers", _whole(1, 1_000_000)),
    "DIGEST_GRACE_HOURS": ("grace_hours", _number(0, 168)),
    "DIGEST_PUBLIC_URL": ("public_url", _public_url),
    "DIGEST_SECRET_KEY": ("secret_key", _secret),
    "DIGEST_SECRET_KEYS_OLD": ("secret_keys_old", _old_secrets),
    "DIGEST_SIGNUP": ("signup", _bool),
    "DIGEST_ARCHIVE_DAYS": ("archive_days", _whole(0, MAX_DAYS)),
    "DIGEST_KEEP_DAYS": ("keep_days", _keep_days),
    "DIGEST_SERVE": ("serve", _bool),
    "DIGEST_BOUNCE_ADDRESS": ("bounce_address", _bare_address),
    "DIGEST_BOUNCE_IMAP_URL": ("bounce_imap_url", _imap_url),
    "DIGEST_BOUNCE_CA_FILE": ("bounce_ca_file", _path),
    "DIGEST_BOUNCE_THRESHOLD": ("bounce_threshold", _number(0, 1000, above=True)),
    "DIGEST_BOUNCE_STALE_DAYS": ("bounce_stale_days", _whole(1, 366)),
    "DIGEST_LLM_URL": ("llm_url", _llm_url),
    "DIGEST_LLM_MODEL": ("llm_model", _text),
    "DIGEST_LLM_API_KEY": ("llm_api_key", _api_key),
    "DIGEST_LLM_BUDGET": ("llm_budget", _whole(0, 100_000)),
    "DIGEST_LLM_TIMEOUT": ("llm_timeout", _number(0, MAX_TIMEOUT, above=True)),
    "DIGEST_LLM_DEADLINE": ("llm_deadline", _number(0, 24 * 3600, above=True)),
    "DIGEST_SES_TOPIC_ARN": ("ses_topic_arn", _topic_arn),
    "DIGEST_SES_CERT_DIR": ("ses_cert_dir", _path),
    "DIGEST_POSTMARK_WEBHOOK_SECRET": ("postmark_webhook_secret", _basic_credentials),
}
KEYS = tuple(_PARSERS)


DEFAULT_ENV_FILE = Path(".env")


def read_env(env_file: Path | None, environ: Mapping[str, str]) -> dict[str, str]:
    """The ``DIGEST_*`` keys of the file overlaid by the real environment.

    A file named here must exist (the CLI passes ``./.env`` only when it is there).
    Values are taken as written (no ``${VAR}`` expansion): a password with ``$`` in it must stay so.
    """
    values = _env_values(env_file) if env_file is not None else {}
    values.update(environ)
    return {k: v for k, v in values.items() if k.startswith(PREFIX)}


_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_.-]*")


def _env_values(env_file: Path) -> dict[str, str]:
    """Every ``KEY=value`` of the file, as python-dotenv reads them; a line that is none (a quote never closed,
    a ``[[subscribers]]`` of a TOML file given by mistake) is an error naming its line, never its value, where
    python-dotenv would warn once per line and drop it (a password dropped, a login failing at the send)."""
    values: dict[str, str] = {}
    wrong: list[int] = []
    for binding in parse_stream(io.StringIO(_env_text(env_file))):
        if binding.error or (binding.key is not None and not _ENV_NAME.fullmatch(binding.key)):
            wrong.append(binding.original.line)
        elif binding.key is not None:
            values[binding.key] = binding.value or ""
    if wrong:
        lines = ", ".join(map(str, wrong[:5])) + (f" and {len(wrong) - 5} more" if len(wrong) > 5 else "")
        which = f"line {lines} is not a KEY=value line" if len(wrong) == 1 else f"lines {lines} are not KEY=value lines"
        raise ConfigError(f"--env-file {env_file}: {which}; write settings as config.example.env does, "
                          "e.g. DIGEST_KEYWORDS=reinforcement learning")
    return values


def default_env_file() -> Path | None:
    """``./.env`` when there is one: the settings file used when none is named."""
    return DEFAULT_ENV_FILE if DEFAULT_ENV_FILE.is_file() else None


def _env_text(env_file: Path) -> str:
    """The settings file's text (a UTF-8 BOM dropped); a line that is not UTF-8 is named, not a traceback."""
    if not env_file.exists():
        raise ConfigError(f"--env-file {env_file}: no such file; check the path "
                          "(without --env-file, ./.env is used if present)")
    if env_file.is_dir():
        raise ConfigError(f"--env-file {env_file}: is a directory; name a settings file like config.example.env")
    try:
        data = env_file.read_bytes()
    except OSError as err:
        raise ConfigError(f"--env-file {env_file}: cannot read it ({err.strerror})") from None
    return utf8_text(data, f"--env-file {env_file}", "save the file as UTF-8")


def load_settings(env_file: Path | None = None, environ: Mapping[str, str] | None = None) -> Settings:
    """Parse and validate every key; one ConfigError lists every problem."""
    raw = read_env(env_file, os.environ if environ is None else environ)
    values: dict[str, Any] = {"state_db": default_state_db(), "cache_dir": default_cache_dir()}
    problems: list[str] = []
    for key, value in sorted(raw.items()):
        if key not in _PARSERS:
            problems.append(_unknown_key(key))
            continue
        if not is_utf8(value):  # never quoted: it may be a password
            problems.append(f"{key}: not UTF-8 text; set it again in UTF-8 (the shell's locale may be another)")
            continue
        if not value.strip():
            continue  # the default, as if not set (the module docstring)
        name, parse = _PARSERS[key]
        try:
            values[name] = parse(value)
        except (ValueError, ConfigError) as err:
            problems.append(f"{key}={_shown(key, value)}: {_reason(err)}")
    if values.get("llm_url") and not values.get("llm_model"):
        problems.append("DIGEST_LLM_URL is set but DIGEST_LLM_MODEL is not; name the model to ask, e.g. llama3.2")
    if problems:
        where = f" (from the environment or {env_file})" if env_file else ""
        raise ConfigError(f"invalid settings{where}: " + "; ".join(problems))
    return Settings(**values)


def is_utf8(value: str) -> bool:
    """Whether ``value`` is text: a byte of another encoding in the environment (Latin-1 ``é``) arrives as a lone
    surrogate, which no email, header or terminal line can carry."""
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _shown(key: str, value: str) -> str:
    """The value as the error quotes it: never a secret, and a long one cut (the message stays one line)."""
    if "PASSWORD" in key or "SECRET" in key or key.endswith("API_KEY"):
        return "***"
    if key in _URL_KEYS:
        value = _masked_url(value)
    return repr(value) if len(value) <= 80 else f"{value[:40]!r}… ({len(value)} characters)"


_URL_KEYS = ("DIGEST_BOUNCE_IMAP_URL", "DIGEST_LLM_URL", "DIGEST_STATE_DB", "DIGEST_PUBLIC_URL",
             "DIGEST_UNSUBSCRIBE_URL", "DIGEST_HF_BASE_URL", "DIGEST_ARXIV_BASE_URL", "DIGEST_BIORXIV_BASE_URL")


def _masked_url(value: str) -> str:
    """A URL setting as an error quotes it: all between ``//`` and the last ``@`` (a user, a password, a key
    written as the user, whatever characters they hold) and the query (``?key=...``) shown as ``***``."""
    head, slashes, rest = value.partition("//")
    if slashes and "@" in rest:
        rest = "***@" + rest.rpartition("@")[2]
    return head + slashes + re.sub(r"([?#]).*", r"\1***", rest)


def _unknown_key(key: str) -> str:
    close = difflib.get_close_matches(key, KEYS, n=1)
    hint = f"; did you mean {close[0]}?" if close else "; see config.example.env"
    return f"{key} is not a known setting{hint}"


def _reason(err: Exception) -> str:
    text = str(err)
    if text.startswith("invalid literal") or text.startswith("could not convert"):
        return "not a number"
    return text
