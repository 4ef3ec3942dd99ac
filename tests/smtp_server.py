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
    hold: threading.Event | None = None  # if given, DATA is answered only once it is set: a send caught mid-way

    async def handle_RCPT(self, server, session, envelope, address, options):  # noqa: N802
        if address in self.refuse:
            return "550 5.1.1 mailbox unavailable"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):  # noqa: N802
        self.receiving.set()
        while self.hold is not None and not self.hold.is_set():
            await asyncio.sleep(0.01)
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


@dataclass
class Faults:
    """What the faulty server does wrong; every list is used up front to back, one entry per event."""

    greet: dict[int, str] = field(default_factory=dict)  # connection number (from 1) -> greeting instead of 220
    mail: list[str] = field(default_factory=list)  # replies to the next MAIL commands ("" = 250, "drop" = hang up)
    mail_always: str = ""  # the reply to every MAIL (e.g. 530), after ``mail`` is used up
    rcpt: dict[str, str] = field(default_factory=dict)  # address -> its reply to RCPT
    after_dot: list[str] = field(default_factory=list)  # next messages: "drop", "silence" or a reply
    after_dot_always: str = ""  # the reply to every message, after ``after_dot`` is used up
    data: dict[str, str] = field(default_factory=dict)  # address -> its reply to DATA instead of 354
    after_dot_for: dict[str, str] = field(default_factory=dict)  # address -> the reply to its every message
    on_received: list = field(default_factory=list)  # (count, callback): called once the server queued that many
    most_at_once: int = 0  # more connections than this at once get a 421 greeting (0: no limit)
    starttls: str = ""  # offer STARTTLS and answer it with this reply (the server has no TLS to start)
    connections: int = 0
    open_now: int = 0
    most_open: int = 0  # the most connections open at once
    mail_commands: int = 0
    received: list[tuple[str, bytes]] = field(default_factory=list)  # (recipient, message) the server queued

    def to(self, address: str) -> int:
        return sum(1 for recipient, _ in self.received if recipient == address)


class FaultyServer:
    """A small asyncio SMTP server on 127.0.0.1 that fails on purpose (see ``Faults``)."""

    def __init__(self, faults: Faults) -> None:
        self.faults = faults
        self.port = free_port()
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self._server: asyncio.AbstractServer | None = None

    def start(self) -> "FaultyServer":
        self._thread.start()
        future = asyncio.run_coroutine_threadsafe(
            asyncio.start_server(self._session, "127.0.0.1", self.port), self.loop)
        self._server = future.result(5)
        return self

    def stop(self) -> None:
        async def shutdown() -> None:
            assert self._server is not None
            self._server.close()
            for task in asyncio.all_tasks():
                if task is not asyncio.current_task():
                    task.cancel()

        asyncio.run_coroutine_threadsafe(shutdown(), self.loop).result(5)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(5)

    async def _session(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        faults = self.faults
        faults.connections += 1
        faults.open_now += 1
        faults.most_open = max(faults.most_open, faults.open_now)
        greeting = faults.greet.get(faults.connections, "220 faulty ESMTP")
        if faults.most_at_once and faults.open_now > faults.most_at_once:
            greeting = "421 4.3.2 The maximum number of concurrent connections has exceeded a limit"
        try:
            await _say(writer, greeting)
            if greeting.startswith("220"):
                await self._commands(reader, writer)
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            faults.open_now -= 1
            writer.close()

    async def _commands(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        """As Postfix and aiosmtpd do, a transaction lasts from an accepted MAIL to RSET or the end of the
        message: a refused RCPT or DATA leaves it open, and a MAIL inside it is a 503 (nested MAIL)."""
        recipients: list[str] = []
        open_transaction = False
        while line := await reader.readline():
            verb = line[:4].upper()
            if verb in (b"EHLO", b"HELO"):
                open_transaction = False
                await _say(writer, "250-faulty\r\n" + ("250-STARTTLS\r\n" if self.faults.starttls else "")
                           + "250 8BITMIME")
            elif verb == b"STAR":
                await _say(writer, self.faults.starttls)
            elif verb == b"MAIL" and open_transaction:
                await _say(writer, "503 5.5.1 Error: nested MAIL command")
            elif verb == b"MAIL":
                recipients = []
                self.faults.mail_commands += 1
                reply = (self.faults.mail.pop(0) if self.faults.mail else "") or self.faults.mail_always or "250 OK"
                if reply == "drop":
                    return
                open_transaction = reply.startswith("250")
                await _say(writer, reply)
            elif verb == b"RSET":
                recipients, open_transaction = [], False
                await _say(writer, "250 OK")
            elif verb == b"RCPT":
                address = line.decode().partition("<")[2].partition(">")[0]
                reply = self.faults.rcpt.get(address, "250 OK")
                recipients += [address] if reply.startswith("250") else []
                await _say(writer, reply)
            elif verb == b"DATA":
                refusal = next((self.faults.data[r] for r in recipients if r in self.faults.data), "")
                if refusal:
                    await _say(writer, refusal)
                    continue
                await _say(writer, "354 go ahead")
                open_transaction = False  # the end of the message ends the transaction, whatever the reply
                if not await self._message(reader, writer, recipients):
                    return
            elif verb == b"QUIT":
                await _say(writer, "221 bye")
                return
            else:
                await _say(writer, "250 OK")

    async def _message(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, recipients: list[str]) -> bool:
        data = await reader.readuntil(b"\r\n.\r\n")
        faults = self.faults
        action = next((faults.after_dot_for[r] for r in recipients if r in faults.after_dot_for), "")
        if not action:
            action = faults.after_dot.pop(0) if faults.after_dot else faults.after_dot_always or "250 OK"
        if action in ("drop", "silence") or action.startswith("250"):
            faults.received.extend((recipient, data) for recipient in recipients)
            self._when_received()
        if action == "drop":
            return False
        if action == "silence":
            await asyncio.sleep(3600)
        await _say(writer, action)
        return True


    def _when_received(self) -> None:
        """Run the callbacks due at this many queued messages (before the 250 goes out)."""
        due = [entry for entry in self.faults.on_received if len(self.faults.received) >= entry[0]]
        for entry in due:
            self.faults.on_received.remove(entry)
            entry[1]()


async def _say(writer: asyncio.StreamWriter, reply: str) -> None:
    writer.write(reply.encode() + b"\r\n")
    await writer.drain()
