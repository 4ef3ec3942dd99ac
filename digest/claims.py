"""Readers claimed a batch at a time, so that any number of sends on any hosts split one list.

With the state store on PostgreSQL every send claims each reader before it builds
their message: ``SELECT ... FOR UPDATE SKIP LOCKED`` on the reader's row of the
``claims`` table, in one transaction on a connection of its own that stays open
for the whole send. A reader whose row another send has locked is skipped (that
send has them); the sends walk the list in the same order, so two or more started
together take alternate batches, and one started later takes what is left.

Row locks live on the rows themselves, so a list of any size can be held: one
advisory lock per reader would fill the server's shared lock table (64 per
connection by default) at a few thousand readers.

Nothing is ever marked done here: the delivery ledger says what went out. A
claimed reader is asked again whether today's digest already went out (another
send may have had them between this send's start and the claim), and the locks
are let go when the transaction ends: at the end of the send, at once when the
process is killed (the server sees its socket close), or within about a minute
for a host that vanished (TCP keepalives, as for the send locks), and after the
lease for a host that froze (``digest.lease``: from the moment its transaction is
open, a send renews its claims, however long its first claim and first message then
take, and stops before a message or a claim once it cannot be sure it still holds
them). The next send
then takes the dead one's readers over: the ones whose delivery was recorded are
done, the rest get their digest, and the few whose answer from the SMTP server
was lost in the kill get it once more (the documented extra copy).
An ``idle_in_transaction_session_timeout`` the server sets does not matter: the
lease sets its own as soon as the transaction is open.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Sequence
from typing import Any

from .lease import Lease
from .store.engine import DatabaseURL
from .store.schema import guarded

BATCH = 50  # readers claimed at a time


class ReaderClaims:
    """The claiming connection: ``offer`` every reader of this send once, then ``take`` batches."""

    def __init__(self, url: DatabaseURL) -> None:
        self.url = url
        self.conn: Any = None
        self.lease: Lease | None = None

    def __enter__(self) -> "ReaderClaims":
        from .store.postgres import connect

        name = f"digest claims on {socket.gethostname()}, process {os.getpid()}"
        with guarded(self.url):
            self.conn = connect(self.url, application=name[:63])
        return self

    def offer(self, emails: Sequence[str]) -> None:
        """Make sure each reader has a row to lock (sorted: two sends adding the same new rows never
        deadlock), then open the transaction that holds the claims."""
        with guarded(self.url):
            self.conn.execute("INSERT INTO claims (email) SELECT unnest(%s::text[]) ON CONFLICT DO NOTHING",
                              (sorted(set(emails)),))
            self.conn.execute("BEGIN")

    def take(self, emails: Sequence[str]) -> set[str]:
        """Those of ``emails`` no other send holds, now held by this one until it ends, under the lease ``keep``
        gave (started here if the send's locks did not start it). A send whose lease is gone (the host froze
        past it while it ranked) claims nothing more: ``Lease.check``'s transient ``StoreError``, not the
        server's word on the ended session."""
        if self.lease is not None:
            self.lease.start()
            self.lease.check()
        with guarded(self.url):
            rows = self.conn.execute("SELECT email FROM claims WHERE email = ANY(%s) FOR UPDATE SKIP LOCKED",
                                     (list(emails),)).fetchall()
        return {row[0] for row in rows}

    def keep(self, lease: Lease) -> None:
        """Have ``lease`` renew the claims, from now if it is started, else from ``take`` (a frozen host's are
        let go after the lease: ``digest.lease``)."""
        lease.hold(self.conn, "its claims on readers", in_transaction=True)
        self.lease = lease

    def __exit__(self, *exc: object) -> None:
        if self.conn is not None:
            from .store.postgres import let_go

            if self.lease is not None:
                self.lease.release(self.conn)  # the send's locks, still renewed, outlive the claims
            let_go(self.conn, "ROLLBACK")  # the transaction ends unfinished: every claim goes with it
            self.conn = None

    def close_inherited(self) -> None:
        """In a forked child: let go of the inherited socket without a word to the server (the parent's
        transaction, and its claims, go on)."""
        if self.conn is not None:
            from .store.postgres import drop_inherited

            drop_inherited(self.conn)
            self.conn = None
