"""On the open internet: links only from DIGEST_PUBLIC_URL, no cookies to plant.

The real app served by uvicorn (built as ``digest serve --host 0.0.0.0`` builds it,
listening on 127.0.0.1), a real aiosmtpd receiving the sign-up mails.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from starlette.testclient import TestClient

from digest.tokens import Signer
from digest.web import ServerHandle, make_app, start_in_thread

from .smtp_server import free_port
from .web_server import SECRET, Web, csrf_of, make_settings

PUBLIC = "https://digest.example.org"


@pytest.fixture
def public(tmp_path: Path, server) -> Iterator[Web]:
    """The reader's side as bound to 0.0.0.0 behind https, reachable here on 127.0.0.1."""
    port = free_port()
    settings = make_settings(tmp_path, port, signup=True, public_url=PUBLIC, smtp_host="127.0.0.1",
                             smtp_port=server.port, smtp_security="none")
    handle: ServerHandle = start_in_thread(make_app(settings, bind_host="0.0.0.0"), "127.0.0.1", port)
    try:
        yield Web(settings, handle, handle.url.rstrip("/"))
    finally:
        handle.stop()


def sign_up_as(web: Web, host: str, email: str, **headers: str) -> httpx.Response:
    """A browser that names ``host``."""
    with httpx.Client(timeout=10, headers={"host": host, **headers}) as client:
        page = client.get(f"{web.url}/subscribe")
        if page.status_code != 200:
            return page
        return client.post(f"{web.url}/subscribe",
                           data={"csrf": csrf_of(page.text), "email": email, "keywords": "diffusion"})


def test_a_signup_naming_another_host_never_puts_it_in_a_mail(public: Web, inbox) -> None:
    answers = [
        sign_up_as(public, "evil.example", "ada@example.org"),  # an existing reader: their preferences link
        sign_up_as(public, "evil.example", "new@example.org"),
        sign_up_as(public, "digest.example.org", "ada@example.org", **{"x-forwarded-host": "evil.example"}),
        sign_up_as(public, "digest.example.org", "new@example.org", **{"x-forwarded-host": "evil.example"}),
    ]
    assert [a.status_code for a in answers] == [400, 400, 200, 200]
    public.drain()
    raw = [m.as_bytes() for m in inbox.messages]
    assert len(raw) == 2 and not any(b"evil.example" in r for r in raw)
    links = [link for m in inbox.messages for link in re.findall(r"https?://\S+", m.get_content())]
    assert len(links) == 2 and all(link.startswith(PUBLIC + "/") for link in links)


def test_serving_beyond_loopback_without_a_public_url_is_refused_in_one_line(run_cli, monkeypatch) -> None:
    monkeypatch.setenv("DIGEST_SECRET_KEY", SECRET)
    code, out, err = run_cli("serve", "--host", "0.0.0.0", "--port", str(free_port()))
    assert code != 0 and out == ""
    assert err.count("\n") == 1 and "DIGEST_PUBLIC_URL" in err and "Traceback" not in err


def test_over_https_a_form_from_before_signed_fields_is_taken_only_with_the_host_prefixed_cookie(
        tmp_path: Path) -> None:
    """Such forms came with a cookie, ``__Host-`` prefixed over https: a sibling subdomain cannot plant that one."""
    settings = make_settings(tmp_path, 8026, signup=True, public_url=PUBLIC)
    field = Signer(SECRET).dumps("csrf", "planted-by-a-sibling")
    form = {"csrf": field, "email": "x@example.org", "keywords": "diffusion"}
    sibling = TestClient(make_app(settings), base_url=PUBLIC, cookies={"digest_csrf": "planted-by-a-sibling"})
    assert sibling.post("/subscribe", data=form).status_code == 403
    own = TestClient(make_app(settings), base_url=PUBLIC, cookies={"__Host-digest_csrf": "planted-by-a-sibling"})
    assert own.post("/subscribe", data=form).status_code == 200  # the same nonce under the prefixed name passes


@pytest.mark.parametrize("base", [PUBLIC, "http://127.0.0.1:8026"])
def test_the_sign_up_page_sets_no_cookie(tmp_path: Path, base: str) -> None:
    settings = make_settings(tmp_path, 8026, signup=True, public_url=base)
    assert "set-cookie" not in TestClient(make_app(settings), base_url=base).get("/subscribe").headers
