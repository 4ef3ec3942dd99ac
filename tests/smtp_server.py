"""A real SMTP server (aiosmtpd) on 127.0.0.1 for the mail tests."""

from __future__ import annotations

import asyncio
import socket
import ssl
import threading
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from email.message import EmailMessage

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword


def free_port() -> int:
    """aiosmtpd's Controller(port=0) does not work: find a free port ourselves."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Inbox:
    messages: list[EmailMessage] = field(default_factory=list)
    replies: list[str] = field(default_factory=list)  # canned replies to DATA, used first
    refuse: set[str] = field(default_factory=set)  # recipients answered with 550
    delay: float = 0.0  # seconds to sit on DATA before answering: a send in progress
    receiving: threading.Event = field(default_factory=threading.Event)  # set when DATA arrives

    async def handle_RCPT(self, server, session, envelope, address, options):  # noqa: N802
        if address in self.refuse:
            return "550 5.1.1 mailbox unavailable"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):  # noqa: N802
        self.receiving.set()
        if self.delay:
            await asyncio.sleep(self.delay)
        if self.replies:
            return self.replies.pop(0)
        self.messages.append(message_from_bytes(envelope.original_content, policy=policy.default))
        return "250 OK"

    def to(self, address: str) -> list[EmailMessage]:
        return [m for m in self.messages if address in m["To"]]


class Authenticator:
    def __init__(self, user: str, password: str) -> None:
        self.user, self.password = user.encode(), password.encode()

    def __call__(self, server, session, envelope, mechanism, auth_data):
        ok = isinstance(auth_data, LoginPassword) and (auth_data.login, auth_data.password) == (self.user, self.password)
        return AuthResult(success=ok, handled=False)


def start(inbox: Inbox, *, tls: ssl.SSLContext | None = None, implicit: bool = False,
          auth: Authenticator | None = None) -> Controller:
    kwargs: dict = {"hostname": "127.0.0.1", "port": free_port()}
    if tls is not None and implicit:
        kwargs["ssl_context"] = tls
    elif tls is not None:
        kwargs["tls_context"] = tls
        kwargs["require_starttls"] = True
    if auth is not None:
        kwargs["authenticator"] = auth
        kwargs["auth_require_tls"] = not implicit  # aiosmtpd only counts STARTTLS as TLS
    else:
        kwargs["auth_require_tls"] = False
    controller = Controller(inbox, **kwargs)
    controller.start()
    return controller
