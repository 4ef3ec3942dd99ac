"""A fast MIME writer for the digest's one shape of message.

``email.message.EmailMessage`` costs ~10 ms for a 60 KB digest; this writes the
same ``multipart/alternative`` (text, then HTML, quoted-printable) in well under
a millisecond with ``binascii``. Header values are RFC 2047-encoded (each encoded word
within 75 characters) and folded within 78 columns, and CR/LF never reaches a header.

Line ends: every CR, LF or CRLF in a body becomes one CRLF before it is encoded,
and a header whose CR or LF is anything but folding (CRLF then a space or tab) is
refused, so no lone CR or LF ever reaches the wire (where ``<CR>.<CR><LF>`` could
end the message early on a lenient server: SMTP smuggling). Each body is encoded
once: ``Bodies`` holds the bytes that are both measured and sent.
"""

from __future__ import annotations

import base64
import binascii
import re
import uuid
from dataclasses import dataclass
from functools import lru_cache
from email.utils import formataddr

from .errors import ConfigError, MailError
from .model import encodable

HEADER_BYTES = 1500  # what the size budget allows for the headers and the MIME framing

_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]+")  # C0 and C1 controls (NEL is a line end to some)
LINE = 78  # RFC 5322: a header line should stay within 78 characters; RFC 2047: an encoded word within 75
SUBJECT, ADDRESS, LIST_ID = len("Subject: "), len("From: "), len("List-Id: ")  # what precedes a value on its first line
_SPACES = re.compile(" {2,}")
_ATOM = re.compile(r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+")  # RFC 5322 atext: a word that needs no quoting


def clean_header(value: str) -> str:
    """No CR, LF or other control characters: the defence against header injection; a lone surrogate
    (which no UTF-8 encoder takes) becomes U+FFFD."""
    return _CONTROL.sub(" ", encodable(value)).strip()


def encode_header(value: str) -> str:
    """An unstructured value (Subject): plain ASCII as it is, else RFC 2047 base64 encoded-words; folded.

    Text holding "=?" is encoded too: a reader's mail program would decode it as an encoded word.
    """
    value = clean_header(value)
    if value.isascii() and "=?" not in value and len(value) < 900:
        return _folded(value.split(" "), SUBJECT)
    return _folded(_encoded_words(value, SUBJECT), SUBJECT)


def _encoded_words(value: str, start: int) -> list[str]:
    """``value`` as encoded words that fit a line after ``start`` characters, never splitting a character.

    "Subject: " leaves 69 characters: 42 bytes, 56 in base64 and 68 with "=?utf-8?b?" and "?=" (45 bytes
    made that first line 81 characters long).
    """
    size = (min(75, LINE - start) - len("=?utf-8?b??=")) // 4 * 3
    return [f"=?utf-8?b?{base64.b64encode(chunk).decode()}?=" for chunk in _utf8_chunks(value, size)]


def _folded(words: list[str], start: int) -> str:
    """``words`` joined by spaces, a space turned into a fold (CRLF, then the space) where the line
    would pass ``LINE`` characters; unfolding gives the words joined by spaces back."""
    text, width = words[0], start + len(words[0])
    for word in words[1:]:
        if word and width + 1 + len(word) > LINE:
            text, width = f"{text}\r\n {word}", 1 + len(word)
        else:
            text, width = f"{text} {word}", width + 1 + len(word)
    return text


def _utf8_chunks(value: str, size: int) -> list[bytes]:
    """UTF-8 pieces of at most ``size`` bytes that never split a character."""
    chunks: list[bytes] = []
    current = bytearray()
    for char in value:
        data = char.encode("utf-8")
        if len(current) + len(data) > size:
            chunks.append(bytes(current))
            current = bytearray()
        current += data
    if current:
        chunks.append(bytes(current))
    return chunks


_ADDR_SPEC = re.compile(r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~.-]+@[A-Za-z0-9.-]+")


@lru_cache(maxsize=4096)
def format_address(name: str, address: str) -> str:
    """An address header value built from the pair, never parsed from a string.

    ``address`` must be a validated bare address (``addresses.parse_address``);
    the name is data: quoted when it has specials, RFC 2047 when it is not ASCII.
    """
    if not _ADDR_SPEC.fullmatch(address):
        raise ConfigError(f"{address!r} is not a plain email address; check the reader's email")
    name = _SPACES.sub(" ", clean_header(name))  # runs of spaces in a name are one space to a reader's program
    if not name:
        return address
    if name.isascii() and len(name) <= 200 and "=?" not in name:  # folded at its spaces (inside quotes too)
        return _folded(formataddr((name, address)).split(" "), ADDRESS)
    return _folded([*_phrase(name), f"<{address}>"], ADDRESS)


def list_id(name: str, address: str) -> str:
    """RFC 2919's ``List-Id`` of the list ``address`` sends: ``Name <local.domain>``, folded within 78 columns.

    The label is the sender's address with its ``@`` a dot (a dot-atom in a namespace the sender owns), so a
    mail program (Gmail's filters, a reader's rules) knows the list whatever the subject says.
    """
    if not _ADDR_SPEC.fullmatch(address):
        raise ConfigError(f"{address!r} is not a plain email address; check DIGEST_FROM")
    label = f"<{address.replace('@', '.')}>"
    name = _SPACES.sub(" ", clean_header(name))
    return _folded([*_phrase(name, LIST_ID), label], LIST_ID) if name else label


def _phrase(name: str, start: int = ADDRESS) -> list[str]:
    """The display name's words: a plain ASCII word as it is, each run of other words as encoded words.

    Plain words between the runs keep encoded words apart where the name allows: two adjacent ones
    are one text to RFC 2047 (the space between them is not part of the name), but Python's
    ``email`` parser reads a space there (CPython gh-128110), as other lenient readers may."""
    words: list[str] = []
    run: list[str] = []
    for word in name.split(" "):
        if _ATOM.fullmatch(word) and "=?" not in word:
            words += _encoded_words(" ".join(run), start) if run else []
            words.append(word)
            run = []
        else:
            run.append(word)
    return words + (_encoded_words(" ".join(run), start) if run else [])


def qp(text: str) -> bytes:
    """Quoted-printable with CRLF line ends, as SMTP wants them; a lone CR or LF is a line end too. A line
    that starts "From " starts "=46rom ": an mbox would write ">From " there (seen, and a DKIM body hash broken).
    Every line at most 76 characters (binascii lets a line that ends in an escaped tab reach 78)."""
    lines = text.replace("\r\n", "\n").replace("\r", "\n")
    encoded = binascii.b2a_qp(lines.encode("utf-8"), istext=True)
    split = encoded.split(b"\n")
    if any(len(line) > 76 or line.startswith(b"From ") for line in split):
        encoded = b"\n".join(_within_76(b"=46" + line[1:] if line.startswith(b"From ") else line) for line in split)
    return encoded.replace(b"\n", b"\r\n")


def _within_76(line: bytes) -> bytes:
    """``line`` in pieces of at most 76 characters joined by soft breaks, never cut inside an ``=XX`` escape."""
    pieces = []
    while len(line) > 76:
        cut = 75
        while b"=" in line[cut - 2:cut]:  # the cut would split an escape: move it before the escape
            cut -= 1
        pieces.append(line[:cut] + b"=")
        line = line[cut:]
    return b"\n".join([*pieces, line])


def b64(text: str) -> bytes:
    """Base64 in lines of 76, CRLF line ends (the text's own line ends as CRLF)."""
    data = text.replace("\r\n", "\n").replace("\r", "\n").replace("\n", "\r\n").encode("utf-8")
    return base64.encodebytes(data).replace(b"\n", b"\r\n")


def encoded(text: str) -> tuple[bytes, str]:
    """(the part's bytes, its Content-Transfer-Encoding): quoted-printable, readable and what filters expect,
    unless base64 is a fifth smaller (text mostly beyond Latin: Chinese summaries took three bytes' escapes
    each, 1.5x the size, and half the papers no longer fitted under Gmail's clip)."""
    quoted = qp(text)
    if len(quoted) > 1.5 * len(text):  # cheap test first: most text is ASCII and stays quoted-printable
        packed = b64(text)
        if len(packed) < 0.8 * len(quoted):
            return packed, "base64"
    return quoted, "quoted-printable"


@dataclass(frozen=True, slots=True)
class Bodies:
    """The text and HTML parts, encoded once: the bytes the size budget measures are the bytes sent."""

    text: bytes
    html: bytes
    text_encoding: str = "quoted-printable"
    html_encoding: str = "quoted-printable"

    @classmethod
    def encode(cls, text: str, html: str) -> "Bodies":
        (text_bytes, text_encoding), (html_bytes, html_encoding) = encoded(text), encoded(html)
        return cls(text_bytes, html_bytes, text_encoding, html_encoding)

    def size(self, header_bytes: int = HEADER_BYTES) -> int:
        """The message's size on the wire, give or take the headers (``header_bytes`` allows for them)."""
        return len(self.text) + len(self.html) + header_bytes


_BAD_BREAK = re.compile(r"\r(?!\n[ \t])|(?<!\r)\n")  # any CR or LF that is not CRLF + space/tab (folding)
_HEADER_NAME = re.compile(r"[!-9;-~]+")


def check_headers(headers: list[tuple[str, str]]) -> None:
    """Refuse a header with a lone CR or LF, or a line break that is not folding (MailError)."""
    for name, value in headers:
        if not _HEADER_NAME.fullmatch(name) or _BAD_BREAK.search(value):
            raise MailError(f"refusing to build a message whose {name!r} header has a line break that is not "
                            f"folding ({value[:60]!r}); clean the value with digest.mime.clean_header")


def build_message(headers: list[tuple[str, str]], bodies: Bodies) -> bytes:
    """Headers + the encoded text and HTML parts -> the bytes handed to SMTP."""
    check_headers(headers)
    boundary = f"=_digest_{uuid.uuid4().hex}"
    head = "".join(f"{name}: {value}\r\n" for name, value in headers)
    parts = [
        head.encode("utf-8"),
        f"MIME-Version: 1.0\r\nContent-Type: multipart/alternative; boundary=\"{boundary}\"\r\n\r\n".encode(),
        _part(boundary, "text/plain", bodies.text, bodies.text_encoding),
        _part(boundary, "text/html", bodies.html, bodies.html_encoding),
        f"--{boundary}--\r\n".encode(),
    ]
    return b"".join(parts)


def build_text_message(headers: list[tuple[str, str]], text: str) -> bytes:
    """Headers + one plain-text part (a confirmation mail) -> the bytes handed to SMTP: the headers written as
    given, as ``build_message`` does (Python's ``email`` refolds them, with encoded words of 76 characters)."""
    check_headers(headers)
    body, encoding = encoded(text)
    head = "".join(f"{name}: {value}\r\n" for name, value in headers)
    return (f"{head}MIME-Version: 1.0\r\nContent-Type: text/plain; charset=\"utf-8\"\r\n"
            f"Content-Transfer-Encoding: {encoding}\r\n\r\n").encode("utf-8") + body


def _part(boundary: str, kind: str, body: bytes, encoding: str) -> bytes:
    return (
        f"--{boundary}\r\nContent-Type: {kind}; charset=\"utf-8\"\r\n"
        f"Content-Transfer-Encoding: {encoding}\r\n\r\n"
    ).encode() + body + b"\r\n"
