"""Provider webhooks: SES through SNS (signature checked against a pinned certificate) and Postmark.

The real app served by uvicorn, a real SQLite file; the SNS messages are signed
here with a locally made key and self-signed certificate, pinned in
DIGEST_SES_CERT_DIR as an operator would pin Amazon's (no network in tests).
"""

from __future__ import annotations

import base64
import json
import logging
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.x509.oid import NameOID

from digest.web import make_app, start_in_thread
from digest.web.sns import BadSignature, CertificateUnavailable, Certificates, certificate_client, fetch_certificate

from . import http_server
from .http_server import PlaybackServer, Reply, endless
from .smtp_server import free_port
from .web_server import Web, make_settings, running, wait_until

TOPIC = "arn:aws:sns:eu-west-1:123456789012:digest-bounces"
CERT_URL = "https://sns.eu-west-1.amazonaws.com/SimpleNotificationService-test.pem"
POSTMARK = "postmark:0123456789abcdef-secret"
ADA = "ada@example.org"


def make_key_and_cert(folder: Path) -> rsa.RSAPrivateKey:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    now = datetime.now(timezone.utc)
    folder.mkdir()
    (folder / "SimpleNotificationService-test.pem").write_bytes(
        certificate(key, now - timedelta(days=1), now + timedelta(days=1)))
    return key


def certificate(key: rsa.RSAPrivateKey, valid_from: datetime, valid_until: datetime) -> bytes:
    """A self-signed certificate for ``key``, in PEM, as SNS's are served."""
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "sns.amazonaws.com")])
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(valid_from)
            .not_valid_after(valid_until).sign(key, hashes.SHA256()))
    return cert.public_bytes(serialization.Encoding.PEM)


def sns_message(key: rsa.RSAPrivateKey, notification: dict[str, Any] | None = None, *, kind: str = "Notification",
                topic: str = TOPIC, cert_url: str = CERT_URL, version: str = "2") -> dict[str, str]:
    """An SNS message, signed as AWS documents it: the fields in order, as Key\\nValue\\n lines."""
    message = {"Type": kind, "MessageId": "9b3a-1", "TopicArn": topic, "Timestamp": "2026-03-02T10:00:00.000Z",
               "Message": json.dumps(notification or {}), "SignatureVersion": version, "SigningCertURL": cert_url}
    if kind == "Notification":
        fields = ["Message", "MessageId", "Timestamp", "TopicArn", "Type"]
    else:
        message |= {"SubscribeURL": "https://sns.eu-west-1.amazonaws.com/?Action=ConfirmSubscription&Token=t0k",
                    "Token": "t0k", "Message": "You have chosen to subscribe"}
        fields = ["Message", "MessageId", "SubscribeURL", "Timestamp", "Token", "TopicArn", "Type"]
    text = "".join(f"{name}\n{message[name]}\n" for name in fields).encode()
    digest = hashes.SHA256() if version == "2" else hashes.SHA1()
    message["Signature"] = base64.b64encode(key.sign(text, padding.PKCS1v15(), digest)).decode()
    return message


def ses_bounce(address: str, kind: str = "Permanent", status: str = "5.1.1", feedback: str = "fb-1") -> dict:
    return {"notificationType": "Bounce", "mail": {"messageId": "ses-1"},
            "bounce": {"bounceType": kind, "bounceSubType": "General", "feedbackId": feedback,
                       "timestamp": "2026-03-02T09:59:00.000Z",
                       "bouncedRecipients": [{"emailAddress": address, "status": status, "action": "failed",
                                              "diagnosticCode": f"smtp; 550 {status} user unknown"}]}}


def ses_complaint(address: str) -> dict:
    return {"notificationType": "Complaint",
            "complaint": {"feedbackId": "fb-c", "timestamp": "2026-03-02T09:59:00.000Z",
                          "complaintFeedbackType": "abuse", "complainedRecipients": [{"emailAddress": address}]}}


def postmark_record(address: str, kind: str = "HardBounce", record: str = "Bounce", ident: int = 42) -> dict:
    return {"RecordType": record, "Type": kind, "ID": ident, "Email": address, "BouncedAt": "2026-03-02T10:00:00Z",
            "Description": "The server was unable to deliver your message", "Details": "smtp;550 5.1.1"}


@pytest.fixture
def key(tmp_path: Path) -> rsa.RSAPrivateKey:
    return make_key_and_cert(tmp_path / "certs")


@pytest.fixture
def web(tmp_path: Path, key) -> Iterator[Web]:
    with running(tmp_path, ses_topic_arn=TOPIC, ses_cert_dir=tmp_path / "certs",
                 postmark_webhook_secret=POSTMARK) as site:
        yield site


def bounces(web: Web, email: str = ADA) -> dict[str, Any]:
    with web.store() as store:
        return store.bounce_summary(email)


def post_ses(web: Web, message: dict) -> httpx.Response:
    return httpx.post(f"{web.url}/webhooks/ses", content=json.dumps(message),
                      headers={"content-type": "text/plain; charset=UTF-8", "x-amz-sns-message-type": message["Type"]})


def post_postmark(web: Web, record: dict, credentials: str | None = POSTMARK) -> httpx.Response:
    auth = tuple(credentials.split(":", 1)) if credentials else None
    return httpx.post(f"{web.url}/webhooks/postmark", json=record, auth=auth)  # type: ignore[arg-type]


def tampered(message: dict[str, str]) -> dict[str, str]:
    return message | {"Message": message["Message"].replace("Permanent", "Transient")}


def test_a_good_ses_permanent_bounce_counts_one(web: Web, key) -> None:
    answer = post_ses(web, sns_message(key, ses_bounce(ADA)))
    assert answer.status_code == 200
    summary = bounces(web)
    assert summary["bounce_score"] == 1.0 and summary["suppressed"] is None
    assert summary["bounces"][0]["kind"] == "hard" and "5.1.1" in summary["bounces"][0]["detail"]


def test_signature_version_1_verifies_too(web: Web, key) -> None:
    assert post_ses(web, sns_message(key, ses_bounce(ADA), version="1")).status_code == 200
    assert bounces(web)["bounce_score"] == 1.0


@pytest.mark.parametrize("forge", ["tampered", "other topic", "certificate elsewhere", "another key", "no signature"])
def test_an_ses_message_not_signed_for_our_topic_changes_nothing(web: Web, key, forge: str) -> None:
    good = sns_message(key, ses_bounce(ADA))
    message = {
        "tampered": lambda: tampered(good),
        "other topic": lambda: sns_message(key, ses_bounce(ADA), topic=TOPIC.replace("123456789012", "999999999999")),
        "certificate elsewhere": lambda: sns_message(
            key, ses_bounce(ADA), cert_url="https://sns.eu-west-1.amazonaws.com.evil.example/SimpleNotificationService-test.pem"),
        "another key": lambda: sns_message(rsa.generate_private_key(public_exponent=65537, key_size=2048), ses_bounce(ADA)),
        "no signature": lambda: {k: v for k, v in good.items() if k != "Signature"},
    }[forge]()
    assert post_ses(web, message).status_code == 403
    assert bounces(web) == {"suppressed": None, "bounce_score": 0.0, "last_bounce": None, "bounces": []}


def test_an_ses_complaint_suppresses_at_once(web: Web, key) -> None:
    assert post_ses(web, sns_message(key, ses_complaint(ADA))).status_code == 200
    suppressed = bounces(web)["suppressed"]
    assert suppressed is not None and "complaint" in suppressed["reason"]


def test_an_ses_policy_refusal_is_recorded_and_never_counted(web: Web, key) -> None:
    assert post_ses(web, sns_message(key, ses_bounce(ADA, status="5.7.1"))).status_code == 200
    summary = bounces(web)
    assert summary["bounce_score"] == 0.0 and [b["kind"] for b in summary["bounces"]] == ["policy"]


def test_the_same_ses_report_twice_counts_once(web: Web, key) -> None:
    message = sns_message(key, ses_bounce(ADA))
    assert [post_ses(web, message).status_code for _ in range(2)] == [200, 200]  # SNS retries deliveries
    assert bounces(web)["bounce_score"] == 1.0 and len(bounces(web)["bounces"]) == 1


def test_a_subscription_request_is_logged_for_the_operator_not_followed(web: Web, key, caplog) -> None:
    caplog.set_level(logging.WARNING, logger="digest.web")
    assert post_ses(web, sns_message(key, kind="SubscriptionConfirmation")).status_code == 200
    assert "Action=ConfirmSubscription&Token=t0k" in caplog.text and "open this link" in caplog.text


def test_a_postmark_hard_bounce_counts_one(web: Web) -> None:
    assert post_postmark(web, postmark_record(ADA)).status_code == 200
    summary = bounces(web)
    assert summary["bounce_score"] == 1.0 and summary["bounces"][0]["kind"] == "hard"


def test_a_postmark_spam_complaint_suppresses_at_once(web: Web) -> None:
    record = postmark_record(ADA, kind="SpamComplaint", record="SpamComplaint")
    assert post_postmark(web, record).status_code == 200
    assert bounces(web)["suppressed"] is not None


def test_a_postmark_record_with_a_lone_surrogate_is_recorded_with_it_replaced(web: Web) -> None:
    """JSON may carry "\\ud800"; no database or log line can: it was a 500, and Postmark retries for hours."""
    body = json.dumps(postmark_record(ADA) | {"Description": "bad \ud800 mailbox", "ID": "\udc00"})
    auth = tuple(POSTMARK.split(":", 1))
    answer = httpx.post(f"{web.url}/webhooks/postmark", content=body, auth=auth)  # type: ignore[arg-type]
    assert answer.status_code == 200 and answer.text == "1 recorded\n"
    assert "bad \ufffd mailbox" in bounces(web)["bounces"][0]["detail"]


@pytest.mark.parametrize("credentials", [None, "postmark:wrong-password-0000000", "other:0123456789abcdef-secret"])
def test_a_postmark_call_without_the_credentials_changes_nothing(web: Web, credentials: str | None) -> None:
    answer = post_postmark(web, postmark_record(ADA, kind="SpamComplaint", record="SpamComplaint"), credentials)
    assert answer.status_code == 401 and answer.headers["www-authenticate"].startswith("Basic")
    assert bounces(web)["suppressed"] is None and bounces(web)["bounces"] == []


@pytest.mark.parametrize("hook", ["ses", "postmark"])
def test_a_body_nested_too_deep_to_read_is_a_400_not_a_server_error(web: Web, hook: str) -> None:
    """SES bodies are read before their signature is checked: anyone can send one."""
    auth = tuple(POSTMARK.split(":", 1)) if hook == "postmark" else None
    answer = httpx.post(f"{web.url}/webhooks/{hook}", content=b"[" * 100_000, auth=auth)  # type: ignore[arg-type]
    assert answer.status_code == 400 and "not a JSON object" in answer.text
    assert bounces(web)["bounces"] == []


def test_webhooks_are_404_until_their_setting_is_given(tmp_path: Path, key) -> None:
    with running(tmp_path) as web:
        assert post_ses(web, sns_message(key, ses_bounce(ADA))).status_code == 404
        assert post_postmark(web, postmark_record(ADA)).status_code == 404
        assert bounces(web)["bounces"] == []


def test_the_postmark_secret_never_shows_in_the_settings(web: Web) -> None:
    assert "0123456789abcdef-secret" not in repr(web.settings)


@pytest.mark.parametrize(("url", "ok"), [
    (CERT_URL, True),
    ("https://sns.cn-north-1.amazonaws.com.cn/SimpleNotificationService-x.pem", True),
    ("http://sns.eu-west-1.amazonaws.com/SimpleNotificationService-x.pem", False),
    ("https://sns.eu-west-1.amazonaws.com:8443/SimpleNotificationService-x.pem", False),
    ("https://user@sns.eu-west-1.amazonaws.com/SimpleNotificationService-x.pem", False),
    ("https://evil.example/sns.eu-west-1.amazonaws.com/x.pem", False),
    ("https://sns.eu-west-1.amazonaws.com/x.txt", False),
])
def test_only_an_https_sns_host_may_name_the_certificate(url: str, ok: bool) -> None:
    from digest.web.sns import certificate_url_ok

    assert certificate_url_ok(url) is ok


def test_without_pinned_certificates_the_certificate_is_fetched_once(tmp_path: Path, key) -> None:
    from digest.web.sns import Certificates, verify

    pem = (tmp_path / "certs" / "SimpleNotificationService-test.pem").read_bytes()
    fetched: list[str] = []
    certificates = Certificates(fetch=lambda url: fetched.append(url) or pem)
    for _ in range(2):
        verify(sns_message(key, ses_bounce(ADA)), certificates, TOPIC)
    assert fetched == [CERT_URL]


# fetched certificates: bounded -------------------------------------------------------------

@dataclass
class SlowHost:
    """Stands in for sns.<region>.amazonaws.com: every fetch waits until the test opens the gate."""

    pem: bytes
    gate: threading.Event = field(default_factory=threading.Event)
    asked: list[str] = field(default_factory=list)

    def __call__(self, url: str) -> bytes:
        self.asked.append(url)
        assert self.gate.wait(10), "the test never opened the gate"
        return self.pem


def cert_url(name: str) -> str:
    return f"https://sns.eu-west-1.amazonaws.com/SimpleNotificationService-{name}.pem"


def test_while_certificates_are_fetched_more_ses_messages_are_refused_at_once_with_a_503(tmp_path: Path,
                                                                                          key) -> None:
    """Anyone who knows the topic can name certificate URLs, each fetch holding a worker thread for up to
    10 s: past a few at once the server answers 503 (which SNS retries) instead of fetching more."""
    host = SlowHost((tmp_path / "certs" / "SimpleNotificationService-test.pem").read_bytes())
    port = free_port()
    settings = make_settings(tmp_path, port, ses_topic_arn=TOPIC)
    handle = start_in_thread(make_app(settings, certificates=Certificates(fetch=host, at_once=2)), "127.0.0.1", port)
    url = handle.url.rstrip("/")

    def post(name: str) -> httpx.Response:
        return httpx.post(f"{url}/webhooks/ses", json=sns_message(key, ses_bounce(ADA), cert_url=cert_url(name)),
                          timeout=5)

    try:
        with ThreadPoolExecutor(2) as pool:
            fetching = [pool.submit(post, name) for name in ("a", "b")]
            wait_until(lambda: len(host.asked) == 2, what="two fetches under way")
            refused = post("c")
            host.gate.set()
            answers = [future.result() for future in fetching]
    finally:
        host.gate.set()
        handle.stop()
    assert refused.status_code == 503 and refused.headers["retry-after"] == "20"
    assert [answer.status_code for answer in answers] == [200, 200]
    assert sorted(host.asked) == [cert_url("a"), cert_url("b")]


def test_messages_naming_one_certificate_at_once_fetch_it_once(tmp_path: Path, key) -> None:
    host = SlowHost((tmp_path / "certs" / "SimpleNotificationService-test.pem").read_bytes())
    certificates = Certificates(fetch=host)
    with ThreadPoolExecutor(3) as pool:
        asking = [pool.submit(certificates.key, CERT_URL) for _ in range(3)]
        wait_until(lambda: host.asked, what="a fetch under way")
        time.sleep(0.2)  # the others ask meanwhile
        host.gate.set()
        keys = [future.result() for future in asking]
    assert host.asked == [CERT_URL] and keys[0] is keys[1] is keys[2]


def test_the_app_fetches_certificates_over_its_one_client_and_closes_it_when_it_stops(tmp_path: Path, key) -> None:
    pem = (tmp_path / "certs" / "SimpleNotificationService-test.pem").read_bytes()
    asked: list[str] = []

    def aws(request: httpx.Request) -> httpx.Response:
        asked.append(str(request.url))
        return httpx.Response(200, stream=httpx.ByteStream(pem))  # as read from a socket

    http = httpx.Client(transport=httpx.MockTransport(aws))  # the seam: what the app's client would reach
    port = free_port()
    handle = start_in_thread(make_app(make_settings(tmp_path, port, ses_topic_arn=TOPIC), http=http),
                             "127.0.0.1", port)
    try:
        answers = [httpx.post(f"{handle.url.rstrip('/')}/webhooks/ses",
                              json=sns_message(key, ses_bounce(ADA), cert_url=cert_url(name))) for name in "ab"]
        assert not http.is_closed
    finally:
        handle.stop()
    assert [answer.status_code for answer in answers] == [200, 200]
    assert asked == [cert_url("a"), cert_url("b")] and http.is_closed


def unusable(url: str) -> bytes:
    return b"not a certificate"


def unreachable(url: str) -> bytes:
    raise CertificateUnavailable(f"cannot fetch the signing certificate {url} (timed out)")


@pytest.mark.parametrize(("fetch", "error", "remembered"), [
    (unusable, BadSignature, timedelta(minutes=10)),
    (unreachable, CertificateUnavailable, timedelta(seconds=15)),  # under SNS's 20 s between retries
])
def test_a_certificate_that_failed_is_not_fetched_again_for_a_while(fetch: Callable[[str], bytes],
                                                                    error: type[Exception],
                                                                    remembered: timedelta) -> None:
    now = datetime(2026, 3, 2, 10, 0, tzinfo=timezone.utc)
    asked: list[str] = []
    certificates = Certificates(fetch=lambda url: asked.append(url) or fetch(url), clock=lambda: now)
    for _ in range(3):
        with pytest.raises(error):
            certificates.key(CERT_URL)
    assert len(asked) == 1
    now += remembered
    with pytest.raises(error):
        certificates.key(CERT_URL)
    assert len(asked) == 2


def test_a_certificate_kept_in_memory_is_refused_once_it_has_expired(key) -> None:
    now = datetime(2026, 3, 2, 10, 0, tzinfo=timezone.utc)
    pem = certificate(key, now - timedelta(days=30), now + timedelta(hours=1))
    certificates = Certificates(fetch=lambda url: pem, clock=lambda: now)
    certificates.key(CERT_URL)
    now += timedelta(hours=2)
    with pytest.raises(BadSignature, match="not valid now"):
        certificates.key(CERT_URL)


def test_at_most_max_keys_certificates_are_kept_the_least_recently_used_going_first(tmp_path: Path, key) -> None:
    from digest.web.sns import MAX_KEYS

    pem = (tmp_path / "certs" / "SimpleNotificationService-test.pem").read_bytes()
    fetched: list[str] = []
    certificates = Certificates(fetch=lambda url: fetched.append(url) or pem)
    for n in range(MAX_KEYS):
        certificates.key(cert_url(str(n)))
    certificates.key(cert_url("0"))  # used again: now the most recently used
    certificates.key(cert_url("one more"))  # makes room: "1" goes
    fetched.clear()
    certificates.key(cert_url("0"))
    certificates.key(cert_url("1"))
    assert fetched == [cert_url("1")]


def test_an_ses_notification_with_the_original_headers_may_be_larger_than_a_form(web: Web, key) -> None:
    notification = ses_bounce(ADA)
    notification["mail"]["headers"] = [{"name": f"X-Long-{n}", "value": "x" * 1000} for n in range(150)]
    message = sns_message(key, notification)
    assert len(json.dumps(message)) > 150_000  # a form is capped at 64 KB; SNS messages go up to 256 KB
    assert post_ses(web, message).status_code == 200
    assert bounces(web)["bounce_score"] == 1.0


# fetching a certificate: over a real HTTP server on 127.0.0.1 (the URL is checked before, by Certificates) -------

@pytest.fixture
def aws() -> Iterator[PlaybackServer]:
    playback = http_server.start()
    yield playback
    playback.shutdown()
    playback.server_close()


@pytest.fixture
def client() -> Iterator[httpx.Client]:
    with certificate_client() as made:
        yield made


def test_a_certificate_is_fetched_whole(aws: PlaybackServer, client: httpx.Client, tmp_path: Path, key) -> None:
    pem = (tmp_path / "certs" / "SimpleNotificationService-test.pem").read_bytes()
    aws.route("/cert.pem", Reply(body=pem))
    assert fetch_certificate(client, f"{aws.url}/cert.pem") == pem


@pytest.mark.parametrize(("status", "error"), [(404, BadSignature), (503, CertificateUnavailable)])
def test_a_certificate_aws_refuses_is_unusable_and_one_it_fails_to_give_is_unavailable(
        aws: PlaybackServer, client: httpx.Client, status: int, error: type[Exception]) -> None:
    aws.route("/cert.pem", Reply(status, b"no"))
    with pytest.raises(error):
        fetch_certificate(client, f"{aws.url}/cert.pem")


def test_a_certificate_body_past_64_kb_is_refused_without_reading_the_rest(aws: PlaybackServer,
                                                                          client: httpx.Client) -> None:
    aws.route("/cert.pem", Reply(chunks=endless(b"-" * 4096)))  # for 20 s, unless the client hangs up
    started = time.monotonic()
    with pytest.raises(BadSignature, match="larger than 64 KB"):
        fetch_certificate(client, f"{aws.url}/cert.pem")
    assert time.monotonic() - started < 5


@pytest.mark.parametrize("reply", [Reply(body=b"-" * 2000, drip=0.05), Reply(body=b"-" * 2000, header_drip=0.05)],
                         ids=["body", "headers"])
def test_a_certificate_dripping_in_is_cut_off_at_the_deadline_of_the_whole_fetch(
        aws: PlaybackServer, client: httpx.Client, reply: Reply) -> None:
    """Each byte comes well within the timeout of one read; the whole fetch still ends at its deadline."""
    aws.route("/cert.pem", reply)
    started = time.monotonic()
    with pytest.raises(CertificateUnavailable):
        fetch_certificate(client, f"{aws.url}/cert.pem", seconds=0.5)
    assert 0.4 < time.monotonic() - started < 3
