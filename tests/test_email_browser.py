"""The digest in real headless Chromium: every text readable in light, dark and forced-dark modes.

Every visible text node is measured, at 375, 600 and 1024 px wide:

- light and dark (``prefers-color-scheme`` emulated): the text's computed
  colour against its effective background, found by compositing the computed
  background colours of the node's ancestors (alpha included) over the canvas;
- forced dark: Chromium's algorithmic darkening (the ``WebContentsForceDark``
  feature, what Android's WebView, and so the Gmail app, applies to light
  emails). It recolours at paint time and leaves computed styles untouched, so
  the colours are read from a screenshot instead: the most common pixel in the
  text's box is its background, the pixel farthest from it is the text. In
  this Chromium (headless, 156) ``--force-dark-mode`` alone changes nothing
  (neither the media query nor the painting); ``--enable-features=WebContentsForceDark``
  darkens the page while the page still sees ``prefers-color-scheme: light``
  (with ``dark`` it leaves the page's own dark styles alone). Both flags are
  passed, and the test checks that the page really was darkened.

WCAG AA asks for a contrast of 4.5:1 for body text. Screenshots go to
``tests/artifacts/`` (git-ignored) for a human look.

The digest measured is the complete one, with every kind of line at once: summaries,
thumbnails (served as real PNGs from the route handler: nothing else may load), stars,
venues, a followed author's pick, a keyword hint, and the reader's own links
(``DIGEST_PUBLIC_URL`` set: view in browser, more/less like this and Save under each
paper, the whole list behind "and N more", preferences, the archive and the feed).
axe-core (the copy bundled in ``axe-playwright-python``) checks it too, in light and
dark: no serious or critical violation. Its page-level rules for documents (a
``<main>`` landmark, an ``<h1>``) are moderate ones, and an email has neither.
"""

from __future__ import annotations

import io
import os
import re
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import pytest

from digest.app import Digest
from digest.ranking.authors import follows_of
from digest.ranking.hints import KeywordHint
from digest.ranking.profile import parse_profile
from digest.model import Subscriber, make_paper
from digest.ranking.index import Index
from digest.ranking.select import Selection, rank
from digest.settings import load_settings
from digest.sources import FetchContext, FileSource

from .conftest import FIXTURES
from .faketime_plugin import playwright_on_real_clock

CHROMIUM = Path("/usr/bin/chromium")
if not CHROMIUM.exists() and not os.environ.get("CI"):
    pytest.skip("Debian's chromium is not installed (apt-get install chromium)", allow_module_level=True)
sync_api = pytest.importorskip("playwright.sync_api")
Image = pytest.importorskip("PIL.Image")
axe_playwright = pytest.importorskip("axe_playwright_python.sync_playwright")

ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
        "--disable-sync", "--no-first-run"]
FORCED_DARK = ["--force-dark-mode", "--enable-features=WebContentsForceDark"]
WIDTHS = (375, 600, 1024)
AXE_WIDTHS = (375, 1024)
THUMBNAILS = "https://cdn-thumbnails.huggingface.co/social-thumbnails/papers/"
MINIMUM = 4.5
ARTIFACTS = Path(__file__).parent / "artifacts"
READER = Subscriber("ada@example.org", ("exploration", "reward model*", "RLHF^2", "-survey", "zebrafish"), name="Ada",
                    authors=("Barbara Liskov",))
LINKED = {"DIGEST_PUBLIC_URL": "https://digest.example.org", "DIGEST_SECRET_KEY": "Zq7VhX2mN9pL4tR8wK3cF6yB1dG5sJ0a"}

TEXT_NODES = """() => {
  const out = [];
  const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  for (let node = walker.nextNode(); node; node = walker.nextNode()) {
    if (!node.textContent.trim()) continue;
    const range = document.createRange();
    range.selectNodeContents(node);
    const rects = [...range.getClientRects()].filter(r => r.width >= 1 && r.height >= 1);
    if (!rects.length) continue;
    const layers = [];
    let hidden = false;
    for (let e = node.parentElement; e; e = e.parentElement) {
      const style = getComputedStyle(e);
      if (style.visibility === 'hidden' || style.opacity === '0') hidden = true;
      layers.push(style.backgroundColor);
    }
    if (hidden) continue;
    out.push({text: node.textContent.trim().slice(0, 50), color: getComputedStyle(node.parentElement).color,
              layers, rects: rects.map(r => [r.left + scrollX, r.top + scrollY, r.width, r.height])});
  }
  return out;
}"""


@dataclass
class Measured:
    text: str
    contrast: float
    colours: tuple[tuple[int, int, int], tuple[int, int, int]]  # text, background


def digest_html() -> str:
    """A digest with every kind of line: links, PDF, code and stars, a title search, authors, summaries,
    thumbnails, venues, right-to-left text, a followed author's pick, a keyword hint, the reader's own
    links (more/less like this, Save, the whole list behind the overflow note, preferences, archive, feed)."""
    papers = FileSource(FIXTURES / "hf_api.json").fetch(FetchContext(today=date(2026, 8, 13))).papers
    papers += [
        make_paper("Exploration without identifiers: a saved page", "Exploration " + "x" * 90 + " in grid worlds.",
                   authors=["Grace Hopper"], authors_count=7),
        make_paper("RLHF reward modelling at scale", "Reward modelling for RLHF, with exploration.", id="2608.00009",
                   authors=["A. Author", "B. Author", "C. Author", "D. Author"], organization="Lab"),
        make_paper("Abstraction and specification in program design", "Data abstraction for modular programs.",
                   id="2608.00300", authors=["Liskov, B."]),  # matches no keyword: picked as followed
        *glance_papers(),
    ]
    picks = rank(Index(papers), parse_profile(READER.keywords), selection=Selection(max_items=None, min_score=0.5),
                 follows=follows_of(READER))
    digest = Digest(load_settings(None, {"DIGEST_FROM": "Digest <digest@example.com>", **LINKED}))
    hints = [KeywordHint("zebrafish", 14, ("zebra finch",))]
    rendered = digest.render(READER, picks, day=date(2026, 8, 13), total=len(picks) + 7, hints=hints)
    present = ("Followed: by ", "Note: ", ">Save</a>", "/all\"", "/archive/", "/feed/", "Summary by ", "★ ", "ICLR")
    assert all(line in rendered.html for line in present), [line for line in present if line not in rendered.html]
    return rendered.html


def glance_papers() -> list:
    """Papers with a summary, a thumbnail, stars and a venue, one of them in Arabic."""
    summary = ("Count-based exploration bonuses, computed from a learned reward model of states, are enough for "
               "sparse-reward grid worlds and transfer to harder procedurally generated levels without tuning.")
    return [
        make_paper(f"Curious agents {n}: exploration with $\\mathcal{{O}}(n)$ memory", "Exploration. " * 20,
                   id=f"2608.0010{n}", authors=["Ada Lovelace", "Alan Turing"], github="https://github.com/example/x",
                   stars=1234 * n, upvotes=12, venue="ICLR 2026", summary=summary, summary_by="Hugging Face",
                   thumbnail=f"{THUMBNAILS}2608.0010{n}.png")
        for n in range(1, 4)
    ] + [make_paper("استكشاف نماذج المكافأة", "نماذج المكافأة (reward model) exploration في التعلم المعزز.", id="2608.00200",
                    authors=["ليلى أحمد"], summary="ملخص exploration قصير.", summary_by="Hugging Face",
                    thumbnail=f"{THUMBNAILS}2608.00200.png")]


def thumbnail_png() -> bytes:
    """What the thumbnail URLs serve here: a PNG the size of Hugging Face's social cards."""
    picture = Image.new("RGB", (1200, 648), (240, 243, 246))
    out = io.BytesIO()
    picture.save(out, format="PNG")
    return out.getvalue()


def serve_only_thumbnails(route, png: bytes) -> None:
    if route.request.url.startswith(THUMBNAILS):
        route.fulfill(status=200, content_type="image/png", body=png)
    else:
        route.abort()


@dataclass
class View:
    """What one mode at one width showed: the text nodes, the painted pixels, the layout."""

    nodes: list[dict]
    shot: object  # a PIL image of the whole page, at 2 device pixels per CSS pixel
    inner_width: int
    scroll_width: int
    card_background: str
    violations: list[dict]  # axe-core's, where it ran (light and dark at AXE_WIDTHS)
    images: list[dict]  # each <img>: its box before and after loading, and whether it loaded
    headings: list[list[str]]  # [tag, text] of each h1-h6, in order: what a screen reader jumps between


@pytest.fixture(scope="module")
def views():
    """Each (mode, width) rendered once: one page per mode, resized to each width. Light and dark are
    pages of one browser (the colour scheme is the page's); forced dark needs a browser launched so."""
    html, png, axe = digest_html(), thumbnail_png(), axe_playwright.Axe()
    ARTIFACTS.mkdir(exist_ok=True)
    found: dict[tuple[str, int], View] = {}
    with playwright_on_real_clock(sync_api.sync_playwright()) as playwright:
        for modes, args in ((("light", "dark"), ARGS), (("forced-dark",), ARGS + FORCED_DARK)):
            browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=args)
            try:
                for mode in modes:
                    page = browser.new_page(viewport={"width": WIDTHS[0], "height": 800}, device_scale_factor=2)
                    page.emulate_media(color_scheme="dark" if mode == "dark" else "light")
                    page.route("**/*", lambda route: serve_only_thumbnails(route, png))  # nothing else may load
                    page.set_content(html, wait_until="load")
                    for width in WIDTHS:
                        found[mode, width] = look(page, mode, width,
                                                  axe if mode != "forced-dark" and width in AXE_WIDTHS else None)
                    page.close()
            finally:
                browser.close()
    return found


IMAGES = """() => [...document.images].map(img => ({
  alt: img.alt, loaded: img.complete && img.naturalWidth > 0, width: img.width, height: img.height,
  attributes: [Number(img.getAttribute('width')), Number(img.getAttribute('height'))]}))"""


def look(page, mode: str, width: int, axe=None) -> View:
    page.set_viewport_size({"width": width, "height": 800})
    png = page.screenshot(full_page=True)
    (ARTIFACTS / f"digest-{mode}-{width}.png").write_bytes(png)
    return View(
        nodes=page.evaluate(TEXT_NODES), shot=Image.open(io.BytesIO(png)).convert("RGB"),
        inner_width=page.evaluate("innerWidth"), scroll_width=page.evaluate("document.scrollingElement.scrollWidth"),
        card_background=page.evaluate("getComputedStyle(document.querySelector('.card > table')).backgroundColor"),
        violations=axe.run(page).response["violations"] if axe else [], images=page.evaluate(IMAGES),
        headings=page.evaluate("() => [...document.querySelectorAll('h1,h2,h3,h4,h5,h6')]"
                               ".map(h => [h.tagName, h.textContent.trim()])"),
    )


def report(poor: list[Measured]) -> str:
    return "; ".join(f"{m.text!r} {m.contrast:.2f}:1 (text, background {m.colours})" for m in poor)


@pytest.mark.parametrize("width", WIDTHS)
@pytest.mark.parametrize("mode", ["light", "dark"])
def test_every_text_has_enough_contrast(views, mode: str, width: int) -> None:
    measured = [computed_contrast(node, dark_canvas=mode == "dark") for node in views[mode, width].nodes]
    assert len(measured) > 20, "the digest's text was not found"
    poor = [m for m in measured if m.contrast < MINIMUM]
    assert not poor, f"{mode} at {width}px: {report(poor)}"


@pytest.mark.parametrize("width", WIDTHS)
def test_every_text_has_enough_contrast_in_forced_dark_mode(views, width: int) -> None:
    view = views["forced-dark", width]
    assert luminance(view.shot.getpixel((4, 4))) < 0.1, "Chromium did not darken the page: the test measures nothing"
    measured = [pixel_contrast(view.shot, node) for node in view.nodes]
    assert len(measured) > 20, "the digest's text was not found"
    poor = [m for m in measured if m.contrast < MINIMUM]
    assert not poor, f"forced dark at {width}px: {report(poor)}"


def test_pixel_measurement_agrees_with_computed_styles(views) -> None:
    """The forced-dark method, checked where the truth is known."""
    for mode in ("light", "dark"):
        view = views[mode, 600]
        for node in view.nodes:
            if not re.search(r"\w\w", node["text"]):
                continue  # a lone "." after a link: its few pixels are mostly the link's last glyph, another colour
            computed, painted = computed_contrast(node, dark_canvas=mode == "dark"), pixel_contrast(view.shot, node)
            assert painted.contrast == pytest.approx(computed.contrast, rel=0.2), (mode, node["text"])


@pytest.mark.parametrize("mode", ["light", "dark"])
def test_the_dark_scheme_reaches_the_cards(views, mode: str) -> None:
    card = parse_colour(views[mode, 600].card_background)
    assert (luminance(card[:3]) < 0.05) == (mode == "dark")


@pytest.mark.parametrize("width", WIDTHS)
def test_nothing_scrolls_sideways(views, width: int) -> None:
    for mode in ("light", "dark", "forced-dark"):
        assert views[mode, width].inner_width == width  # the email's media queries saw this width
        assert views[mode, width].scroll_width <= width, mode


@pytest.mark.parametrize("width", AXE_WIDTHS)
@pytest.mark.parametrize("mode", ["light", "dark"])
def test_axe_core_finds_no_serious_violation(views, mode: str, width: int) -> None:
    serious = [f"{v['id']} ({v['impact']}): {v['help']}, at {v['nodes'][0]['html'][:120]}"
               for v in views[mode, width].violations if v["impact"] in ("serious", "critical")]
    assert not serious, "; ".join(serious)


def test_axe_core_really_ran(views) -> None:
    """Its moderate page-level findings show it looked: an email has no <main> landmark."""
    assert "landmark-one-main" in {v["id"] for v in views["light", 375].violations}


def test_a_screen_reader_can_jump_from_paper_to_paper(views) -> None:
    """One h1 (the listing and day), then an h2 per paper, its title: the outline a heading key walks."""
    headings = views["light", 375].headings
    titles = [text for tag, text in headings if tag == "H2"]
    assert [tag for tag, _ in headings] == ["H1"] + ["H2"] * len(titles) and len(titles) >= 8
    assert titles[0].startswith("1. ") and all(re.match(r"\d+\. \S", title) for title in titles)
    assert "page-has-heading-one" not in {v["id"] for v in views["light", 375].violations}


@pytest.mark.parametrize("width", WIDTHS)
def test_thumbnails_load_into_their_reserved_box(views, width: int) -> None:
    images = views["light", width].images
    assert len(images) == 4 and all(image["loaded"] and image["alt"].startswith("Thumbnail of ") for image in images)
    assert all([image["width"], image["height"]] == image["attributes"] for image in images)  # no layout shift


def computed_contrast(node: dict, dark_canvas: bool) -> Measured:
    background = (18, 18, 18) if dark_canvas else (255, 255, 255)  # Chromium's canvas for each scheme
    for layer in reversed(node["layers"]):  # the root first, the text's own element last
        background = composite(parse_colour(layer), background)
    text = composite(parse_colour(node["color"]), background)
    return Measured(node["text"], contrast(text, background), (text, background))


def pixel_contrast(shot, node: dict) -> Measured:
    left, top, width, height = (round(v * 2) for v in node["rects"][0])
    box = shot.crop((left, top, left + max(width, 1), top + max(height, 1)))
    colours = box.getcolors(maxcolors=box.width * box.height)
    background = max(colours)[1]
    seen = [colour for count, colour in colours if count >= 2] or [background]
    text = max(seen, key=lambda colour: contrast(colour, background))
    return Measured(node["text"], contrast(text, background), (text, background))


def parse_colour(css: str) -> tuple[int, int, int, float]:
    numbers = [float(n) for n in re.findall(r"[\d.]+", css)]
    red, green, blue = (round(n) for n in numbers[:3])
    return red, green, blue, numbers[3] if len(numbers) > 3 else 1.0


def composite(colour: tuple[int, int, int, float], under: tuple[int, int, int]) -> tuple[int, int, int]:
    *rgb, alpha = colour
    return tuple(round(alpha * c + (1 - alpha) * u) for c, u in zip(rgb, under))  # type: ignore[return-value]


def luminance(rgb: tuple[int, ...]) -> float:
    def channel(value: int) -> float:
        c = value / 255
        return c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4

    red, green, blue = (channel(v) for v in rgb[:3])
    return 0.2126 * red + 0.7152 * green + 0.0722 * blue


def contrast(first: tuple[int, ...], second: tuple[int, ...]) -> float:
    lighter, darker = sorted((luminance(first), luminance(second)), reverse=True)
    return (lighter + 0.05) / (darker + 0.05)


ALT_TEXTS = """() => [...document.images].map(img => {
  const layers = [];
  for (let e = img; e; e = e.parentElement) layers.push(getComputedStyle(e).backgroundColor);
  return {text: img.alt, color: getComputedStyle(img).color, layers, loaded: img.naturalWidth > 0};
})"""


@pytest.mark.parametrize("mode", ["light", "dark"])
def test_a_blocked_thumbnails_alt_text_is_readable(mode: str) -> None:
    """Gmail, Outlook and Apple Mail's privacy protection may not load remote images: the box then shows
    the alt text ("Thumbnail of ..."), in the image's own colour, which the dark scheme must lighten too."""
    with playwright_on_real_clock(sync_api.sync_playwright()) as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        try:
            page = browser.new_page(viewport={"width": 600, "height": 800})
            page.emulate_media(color_scheme=mode)
            page.route("**/*", lambda route: route.abort())  # images blocked
            page.set_content(digest_html(), wait_until="load")
            alts = page.evaluate(ALT_TEXTS)
        finally:
            browser.close()
    assert len(alts) == 4 and not any(alt["loaded"] for alt in alts)
    poor = [m for m in (computed_contrast(alt, dark_canvas=mode == "dark") for alt in alts) if m.contrast < MINIMUM]
    assert not poor, f"{mode}: {report(poor)}"
