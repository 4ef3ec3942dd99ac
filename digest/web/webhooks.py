"""Provider webhooks: bounces and complaints from Amazon SES (through SNS) and Postmark.

Each report feeds the same bounce scoring as the bounce mailbox
(``Store.record_bounce``): a hard bounce counts 1, a soft one 0.5, a complaint
suppresses at once, a policy refusal is recorded and never counted. The codes a
report quotes are judged by the mailbox's rule (``digest.bounces.codes``): a
provider's hard bounce is what they say (a 552 is soft), and a 5.7.x, 4.7.x or 421
is a policy refusal whatever the provider's type. Nothing
is believed before it is authenticated: SES messages by their SNS signature and
topic (``sns``), Postmark's by HTTP Basic credentials compared in constant time.
A refused call changes nothing (403 / 401); an SES message whose signing certificate
cannot be had just now (too many being fetched, or AWS did not answer) is a 503,
which SNS retries. A route whose setting is empty is 404.
An SNS subscription request is logged with its link for the operator to open,
never followed by the server.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import json
import logging
from dataclasses import replace
from datetime import date, datetime, timezone
from functools import partial
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

from ..bounces.codes import provider_kind
from ..model import encodable
from ..store import Store
from ..store.bounces import BounceEvent, Rule
from .site import Site
from .sns import BadSignature, CertificateUnavailable, verify

log = logging.getLogger("digest.web")
NOT_JSON = (ValueError, UnicodeDecodeError, RecursionError)  # RecursionError: arrays or objects nested too deep
POSTMARK_KINDS = {"HardBounce": "hard", "BadEmailAddress": "hard", "SoftBounce": "soft", "DnsError": "soft",
                  "Transient": "delayed", "SpamComplaint": "complaint", "Blocked": "policy", "DMARCPolicy": "policy"}


def routes(site: Site) -> list[Route]:
    return [Route("/webhooks/ses", partial(ses, site), methods=["POST"]),
            Route("/webhooks/postmark", partial(postmark, site), methods=["POST"])]


async def _json(request: Request) -> dict[str, Any]:
    try:
        value = json.loads(await request.body())
    except NOT_JSON:
        value = None
    if not isinstance(value, dict):
        raise HTTPException(400, "the body is not a JSON object")
    return value


def _record(site: Site, store: Store, events: list[BounceEvent]) -> list[str]:
    rule = Rule(threshold=site.settings.bounce_threshold, stale_days=site.settings.bounce_stale_days)
    return [store.record_bounce(_encodable(event), rule) for event in events]


def _encodable(event: BounceEvent) -> BounceEvent:
    """The event's text as a database can keep it: JSON may carry a lone surrogate ("\\ud800"), which no
    UTF-8 encoder takes (a 500, and the provider retries for hours); it becomes U+FFFD."""
    return replace(event, key=encodable(event.key), detail=encodable(event.detail),
                   email=None if event.email is None else encodable(event.email))


def _day(timestamp: object) -> date:
    try:
        return date.fromisoformat(str(timestamp)[:10])
    except ValueError:
        return datetime.now(timezone.utc).date()


# Amazon SES, through SNS ----------------------------------------------------------------

async def ses(site: Site, request: Request) -> Response:
    if not site.settings.ses_topic_arn:
        raise HTTPException(404, "SES webhooks are off (set DIGEST_SES_TOPIC_ARN).")
    message = await _json(request)
    try:
        await run_in_threadpool(verify, message, site.certificates, site.settings.ses_topic_arn)
    except BadSignature as err:
        log.warning("webhooks/ses: refused a message: %s", err)
        return PlainTextResponse("signature not valid\n", status_code=403)
    except CertificateUnavailable as err:
        log.warning("webhooks/ses: put off a message: %s", err)
        return PlainTextResponse("signing certificate not available; try again later\n", status_code=503,
                                 headers={"retry-after": "20"})
    if message["Type"] != "Notification":
        log.warning("webhooks/ses: SNS asks to %s; open this link once to confirm it: %s",
                    "subscribe" if message["Type"] == "SubscriptionConfirmation" else "unsubscribe",
                    message["SubscribeURL"])
        return PlainTextResponse("noted\n")
    try:
        notification = json.loads(message["Message"])
    except NOT_JSON:
        raise HTTPException(400, "the SNS message is not an SES notification") from None
    events = ses_events(notification) if isinstance(notification, dict) else []
    done = await site.in_store(lambda store: _record(site, store, events))
    return PlainTextResponse(f"{len(done)} recorded\n")


def ses_events(notification: dict[str, Any]) -> list[BounceEvent]:
    """One event per recipient of a Bounce or Complaint notification (or event); others: none."""
    kind = notification.get("notificationType") or notification.get("eventType")
    if kind == "Bounce":
        return _ses_bounces(_object(notification.get("bounce")))
    if kind == "Complaint":
        report = _object(notification.get("complaint"))
        return [BounceEvent(f"ses:{report.get('feedbackId')}:{address}", address, _day(report.get("timestamp")),
                            "complaint", f"SES complaint ({report.get('complaintFeedbackType', 'abuse')})")
                for address in _addresses(report.get("complainedRecipients"))]
    return []


def _ses_bounces(report: dict[str, Any]) -> list[BounceEvent]:
    permanent = report.get("bounceType") == "Permanent"
    events = []
    for recipient in report.get("bouncedRecipients") or []:
        recipient = _object(recipient)
        address, status = str(recipient.get("emailAddress", "")).strip().lower(), str(recipient.get("status", ""))
        if "@" not in address:
            continue
        kind = provider_kind("hard" if permanent else "soft", str(recipient.get("diagnosticCode", "")), status)
        detail = f"SES {report.get('bounceType')}/{report.get('bounceSubType')}: " + \
            str(recipient.get("diagnosticCode") or status)
        events.append(BounceEvent(f"ses:{report.get('feedbackId')}:{address}", address,
                                  _day(report.get("timestamp")), kind, detail))
    return events


def _object(value: object) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _addresses(recipients: object) -> list[str]:
    found = [str(_object(r).get("emailAddress", "")).strip().lower() for r in recipients or []] \
        if isinstance(recipients, list) else []
    return [a for a in found if "@" in a]


# Postmark ----------------------------------------------------------------------------------

async def postmark(site: Site, request: Request) -> Response:
    secret = site.settings.postmark_webhook_secret
    if not secret:
        raise HTTPException(404, "Postmark webhooks are off (set DIGEST_POSTMARK_WEBHOOK_SECRET).")
    if not credentials_match(request.headers.get("authorization", ""), secret):
        log.warning("webhooks/postmark: refused a call with wrong or no credentials")
        return PlainTextResponse("credentials needed\n", status_code=401,
                                 headers={"www-authenticate": 'Basic realm="digest webhooks"'})
    event = postmark_event(await _json(request))
    done = await site.in_store(lambda store: _record(site, store, [event] if event else []))
    return PlainTextResponse(f"{len(done)} recorded\n")


def credentials_match(header: str, secret: str) -> bool:
    scheme, _, encoded = header.partition(" ")
    try:
        given = base64.b64decode(encoded.strip(), validate=True)
    except (binascii.Error, ValueError):
        given = b""
    ok = hmac.compare_digest(given, secret.encode())  # always compared: no early answer for a wrong scheme
    return ok and scheme.lower() == "basic"


def postmark_event(payload: dict[str, Any]) -> BounceEvent | None:
    """A Bounce or SpamComplaint record (Postmark's webhook JSON); any other record: None."""
    if payload.get("RecordType") not in ("Bounce", "SpamComplaint"):
        return None
    address = str(payload.get("Email", "")).strip().lower()
    if "@" not in address or payload.get("ID") is None:
        return None
    kind = provider_kind(POSTMARK_KINDS.get(str(payload.get("Type")), "other"), str(payload.get("Details") or ""))
    detail = f"Postmark {payload.get('Type')}: {payload.get('Description') or ''} {payload.get('Details') or ''}"
    return BounceEvent(f"postmark:{payload.get('ID')}", address, _day(payload.get("BouncedAt")), kind,
                       detail.strip())
