"""The website works in a real browser, offline, the way a reader sees it.

The site is built with `make site` (the `built_site` fixture of conftest.py,
shared with tests/test_site.py, so it is built once per run), served from
_build/html on 127.0.0.1, and opened in headless Chromium (Debian's
`chromium`, driven by Playwright from PyPI; never `playwright install`).
Every page of _toc.yml is visited, and every request the pages make is
recorded: a request to any other host fails the test (and is blocked, so the
browser really is offline). A full-page screenshot of every
page is saved under _build/screenshots/.

Every page is also checked for accessibility with axe-core (pinned and
verified by ``book/fetch_web_assets.py --test-assets``, never on the site)
against WCAG 2.0-2.2 levels A and AA and axe's best practices: no page may have
a serious or critical violation. What axe found on each page, of every impact,
is written to _build/screenshots/axe.json. Two chapters are opened again in
the theme's dark mode (dark-*.png): every figure must sit on an opaque light
background, and axe must find nothing serious there either (axe-dark.json).

The precomputed grid panels (utils.widgets.GridPanel) are checked twice: a
small panel in a page of its own, embedded the way the site embeds widgets
(no site build needed), and the panel of each of chapters 00 to 04 on the
built site. Each control is dragged to two other grid positions, and the answer
shown must be the one precomputed for the new point, as the chapter printed it,
with alternative text naming the point: nothing but the page's widget manager runs.
"""

from __future__ import annotations

import contextlib
import functools
import http.server
import json
import re
import shutil
import subprocess
import sys
import threading
import time
from collections import Counter
from io import BytesIO
from pathlib import Path
from urllib.parse import urlparse

import pytest
import yaml

from tools import toc

ROOT = Path(__file__).resolve().parent.parent
HTML = ROOT / "_build" / "html"
SCREENSHOTS = ROOT / "_build" / "screenshots"
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
OFFLINE = ROOT / "_build" / "web-assets" / "offline"  # book/fetch_web_assets.py
FETCH = ROOT / "book" / "fetch_web_assets.py"
AXE = ROOT / "_build" / "test-assets" / "axe-core" / "axe.min.js"  # FETCH --test-assets
# The rules axe runs: WCAG 2.0, 2.1 and 2.2 at levels A and AA, and its best practices.
AXE_TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "wcag22aa", "best-practice"]
AXE_SERIOUS = ("critical", "serious")  # of axe's four impacts, those no page may have
DARK_CHAPTERS = ["notebooks/02_the_objective.html", "notebooks/04_feature_extraction.html"]
SEARCH_WORD = "VGG16"
TIMEOUT_MS = 30_000
VIEWPORT = {"width": 1280, "height": 900}

pytestmark = pytest.mark.skipif(
    not CHROMIUM.exists(),
    reason=f"{CHROMIUM} is absent: install Debian's `chromium` package "
    "(.ci/run does) to run the browser test",
)


# Every page of the book in reading order, as paths relative to _build/html.
PAGES = [f"{Path(page).with_suffix('')}.html" for page in toc.pages()]
CHAPTERS = [page for page in PAGES if page.startswith("notebooks/")]


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format, *args):  # noqa: A002 - the signature of the base class
        pass


@contextlib.contextmanager
def _serve(directory: Path):
    """``directory`` served on a free port of 127.0.0.1; yields its base URL."""
    handler = functools.partial(_QuietHandler, directory=str(directory))
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}/"
    finally:
        httpd.shutdown()
        httpd.server_close()


@pytest.fixture(scope="module")
def server(built_site):
    """The site served on a free port of 127.0.0.1; yields its base URL."""
    with _serve(built_site) as url:
        yield url


@pytest.fixture(scope="module")
def browser():
    sync_api = pytest.importorskip("playwright.sync_api")
    with sync_api.sync_playwright() as playwright:
        chromium = playwright.chromium.launch(
            executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True
        )
        yield chromium
        chromium.close()


class Recorder:
    """A browser context that records console errors and every request, and blocks other hosts."""

    def __init__(self, browser, **options):
        self.requests: list[str] = []
        self.outside: list[str] = []
        self.errors: list[str] = []
        self.context = browser.new_context(viewport=VIEWPORT, **options)
        self.context.set_default_timeout(TIMEOUT_MS)
        self.context.route("**/*", self._route)

    @staticmethod
    def _is_local(url: str) -> bool:
        parsed = urlparse(url)
        return parsed.scheme in ("data", "blob", "about") or parsed.hostname == "127.0.0.1"

    def _route(self, route):
        url = route.request.url
        if self._is_local(url):
            route.continue_()
        else:
            self.outside.append(url)
            route.abort("blockedbyclient")

    def new_page(self):
        page = self.context.new_page()
        page.on("request", lambda request: self.requests.append(request.url))
        page.on(
            "console",
            lambda message: (
                message.type == "error"
                and self.errors.append(f"{page.url}: console: {message.text}")
            ),
        )
        page.on("pageerror", lambda error: self.errors.append(f"{page.url}: page error: {error}"))
        page.on(
            "response",
            lambda response: (
                response.status >= 400
                and self.errors.append(f"{page.url}: HTTP {response.status} for {response.url}")
            ),
        )
        page.on("requestfailed", lambda request: self._failed(page, request))
        return page

    def _failed(self, page, request):
        # A request cut short by leaving the page (ERR_ABORTED) is no fault of the site;
        # HTTP errors are caught above and requests to other hosts by _route.
        if request.failure != "net::ERR_ABORTED" and self._is_local(request.url):
            self.errors.append(f"{page.url}: request failed: {request.url} ({request.failure})")

    def close(self):
        self.context.close()


# What a page shows, measured in the page once everything has loaded.
MEASURE = """async () => {
  if (window.MathJax && MathJax.startup && MathJax.startup.promise) {
    await MathJax.startup.promise;
  }
  const visible = (el) => !!(el.offsetWidth || el.offsetHeight || el.getClientRects().length);
  const images = [...document.querySelectorAll('img')].map((img) => ({
    src: img.getAttribute('src'), complete: img.complete, width: img.naturalWidth,
    output: !!img.closest('.cell_output'), visible: visible(img),
  }));
  const math = [...document.querySelectorAll('.math')];
  const outputs = [...document.querySelectorAll('.cell_output')].map((el) => el.innerText);
  return {
    title: document.title,
    h1: [...document.querySelectorAll('article h1')].map((h) => h.innerText),
    images,
    math: math.length,
    mathTypeset: math.filter((el) => el.querySelector('mjx-container')).length,
    mathErrors: document.querySelectorAll('mjx-merror').length,
    widgetViews: document.querySelectorAll(
      'script[type="application/vnd.jupyter.widget-view+json"]').length,
    widgetsRendered: [...document.querySelectorAll('.widget-subarea .jupyter-widgets')]
      .filter(visible).length,
    widgetErrors: document.querySelectorAll('.jupyter-widgets-error-widget, .widget-error').length,
    outputs,
    splitOutputs: [...document.querySelectorAll('.cell_output')]
      .filter((el) => el.querySelectorAll(':scope > .output.stream').length > 1).length,
  };
}"""


def _screenshot(page, path: Path) -> None:
    """A full-page screenshot, taken in a window as tall as the page so that the
    sidebars (as tall as the window) run down the whole picture."""
    height = page.evaluate("document.documentElement.scrollHeight")
    page.set_viewport_size({"width": VIEWPORT["width"], "height": min(height, 30_000)})
    page.wait_for_timeout(300)
    page.screenshot(path=path, full_page=True)
    page.set_viewport_size(VIEWPORT)


# axe-core's verdict on the page as it is now: its violations, each with a few elements.
AXE_RUN = """async (options) => {
  const results = await axe.run(document, options);
  return {
    version: axe.version,
    violations: results.violations.map((rule) => ({
      id: rule.id, impact: rule.impact, help: rule.help, helpUrl: rule.helpUrl,
      nodes: rule.nodes.length,
      targets: rule.nodes.slice(0, 5).map((node) => node.target.flat().join(' ')),
    })),
  };
}"""


@pytest.fixture(scope="module")
def axe_script() -> Path | str:
    """axe-core's script, fetched once and verified (offline afterwards); or why it is missing."""
    fetched = subprocess.run(
        [sys.executable, str(FETCH), "--test-assets"], cwd=ROOT, capture_output=True, text=True
    )
    if fetched.returncode != 0 or not AXE.is_file():
        return f"axe-core is missing (book/fetch_web_assets.py --test-assets):\n{fetched.stderr}"
    return AXE


def _axe(page, script: Path | str) -> dict | None:
    """What axe-core finds in ``page`` (None without axe-core: the axe tests then fail)."""
    if not isinstance(script, Path):
        return None
    page.add_script_tag(path=str(script))
    options = {"runOnly": {"type": "tag", "values": AXE_TAGS}, "resultTypes": ["violations"]}
    return page.evaluate(AXE_RUN, options)


def _axe_page(axe: dict | None) -> dict | None:
    """What axe found on one page: its violations, counted by impact, and each rule."""
    if axe is None:
        return None
    counts = Counter(rule["impact"] for rule in axe["violations"])
    return {
        "rules_by_impact": {impact: counts[impact] for impact in sorted(counts)},
        "elements_by_impact": {
            impact: sum(rule["nodes"] for rule in axe["violations"] if rule["impact"] == impact)
            for impact in sorted(counts)
        },
        "violations": axe["violations"],
    }


def _axe_summary(pages: dict[str, dict | None], mode: str, axe: dict | None) -> dict:
    """The contents of _build/screenshots/axe.json (axe-dark.json): ``pages`` by _axe_page."""
    version = axe["version"] if axe else None
    return {"axe-core": version, "tags": AXE_TAGS, "mode": mode, "pages": pages}


def _assert_no_serious_violations(path: str, axe: dict | None, script: Path | str) -> None:
    assert axe is not None, script
    serious = [rule for rule in axe["violations"] if rule["impact"] in AXE_SERIOUS]
    lines = [
        f"  {rule['impact']}: {rule['id']} ({rule['nodes']} elements): {rule['help']}\n"
        + "".join(f"      {target}\n" for target in rule["targets"])
        + f"      {rule['helpUrl']}"
        for rule in serious
    ]
    if serious:
        pytest.fail(
            f"{path}: {len(serious)} serious or critical accessibility violations "
            f"(axe-core {axe['version']}):\n" + "\n".join(lines),
            pytrace=False,
        )


def _open(recorder: Recorder, url: str, path: str):
    """A new page of ``recorder`` showing ``url``, its widgets drawn and their pictures loaded."""
    page = recorder.new_page()
    page.goto(url, wait_until="load")
    page.wait_for_load_state("networkidle")
    if "widget-view+json" in (HTML / path).read_text():
        page.wait_for_selector(".widget-subarea .jupyter-widgets", state="visible")
        # Widget pictures (a grid panel's PNGs, data: URLs) load after the widgets draw.
        page.wait_for_function(
            "[...document.querySelectorAll('.cell_output img')].every((i) => i.complete)"
        )
    return page


@pytest.fixture(scope="module")
def visits(browser, server, axe_script):
    """Open the home page and every page of _toc.yml once; what each showed, by page."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    for old in SCREENSHOTS.glob("*.png"):
        old.unlink()
    recorder = Recorder(browser)
    results = {}
    try:
        for number, path in enumerate(["index.html", *PAGES]):
            page = _open(recorder, server + path, path)
            result = page.evaluate(MEASURE)  # waits for MathJax, so axe sees the typeset page
            result["axe"] = _axe(page, axe_script)
            result["url"] = page.url
            name = "home" if path == "index.html" else Path(path).stem
            result["screenshot"] = SCREENSHOTS / f"{number:02d}-{name}.png"
            _screenshot(page, result["screenshot"])
            if result["widgetViews"] and not (SCREENSHOTS / "readme.png").exists():
                # One window's worth around the first widget, for the README.
                page.evaluate(
                    "document.querySelector('.widget-subarea').closest('section')"
                    ".scrollIntoView(); window.scrollBy(0, -60)"
                )
                page.wait_for_timeout(300)
                page.screenshot(path=SCREENSHOTS / "readme.png")
            results[path] = result
            page.close()
    finally:
        recorder.close()
    pages = {path: _axe_page(results[path]["axe"]) for path in PAGES if path in results}
    summary = _axe_summary(pages, "light", next(iter(results.values()), {}).get("axe"))
    (SCREENSHOTS / "axe.json").write_text(json.dumps(summary, indent=2) + "\n")
    return {
        "pages": results,
        "requests": recorder.requests,
        "outside": recorder.outside,
        "errors": recorder.errors,
    }


def test_no_request_leaves_the_site(visits):
    assert visits["requests"], "no requests were recorded"
    assert not visits["outside"], f"pages requested other hosts: {sorted(set(visits['outside']))}"
    others = {urlparse(url).hostname for url in visits["requests"]} - {"127.0.0.1", None}
    assert not others, f"pages requested other hosts: {others}"


def test_pages_load_without_errors(visits):
    assert not visits["errors"], "\n".join(visits["errors"])


def test_home_page_opens_the_introduction(visits):
    home = visits["pages"]["index.html"]
    assert home["url"].endswith("/" + PAGES[0]), home["url"]
    assert home["h1"] and "Transfer Learning" in home["h1"][0]


@pytest.mark.parametrize("path", PAGES)
def test_page_has_a_title_and_loads_its_images(visits, path):
    result = visits["pages"][path]
    assert len(result["h1"]) == 1, f"{path}: expected one H1, found {result['h1']}"
    broken = [image["src"] for image in result["images"] if not image["width"]]
    assert not broken, f"{path}: images that did not load: {broken}"
    assert result["screenshot"].stat().st_size > 10_000


@pytest.mark.parametrize("path", CHAPTERS)
def test_chapter_shows_its_executed_figures(visits, path):
    figures = [image for image in visits["pages"][path]["images"] if image["output"]]
    assert figures, f"{path}: no executed figure in the page"
    assert all(image["complete"] and image["width"] > 0 and image["visible"] for image in figures)


@pytest.mark.parametrize("path", CHAPTERS)
def test_outputs_are_tidy(visits, path):
    """Progress is printed as plain lines: no control characters, bars or walls of text."""
    for text in visits["pages"][path]["outputs"]:
        assert "\x1b" not in text and "\r" not in text, f"{path}: control characters in an output"
        assert "━━━" not in text, f"{path}: a Keras progress bar in an output"
        assert text.count("\n") < 300, f"{path}: an output of {text.count(chr(10))} lines"
    split = visits["pages"][path]["splitOutputs"]
    assert split == 0, f"{path}: {split} cells print in several boxes (set nb_merge_streams)"


@pytest.mark.parametrize("path", PAGES)
def test_page_has_no_serious_accessibility_violations(visits, axe_script, path):
    _assert_no_serious_violations(path, visits["pages"][path]["axe"], axe_script)


def test_math_is_typeset(visits):
    pages = visits["pages"]
    assert pages[PAGES[0]]["math"] > 0, "the introduction should show the objective as math"
    for path, result in pages.items():
        assert result["mathTypeset"] == result["math"], (
            f"{path}: {result['math'] - result['mathTypeset']} of {result['math']} "
            "formulas were not typeset by MathJax"
        )
        assert result["mathErrors"] == 0, f"{path}: MathJax reported TeX errors"


def test_widgets_render_from_saved_state(visits):
    with_widgets = {p: r for p, r in visits["pages"].items() if r["widgetViews"]}
    assert with_widgets, "no page carries saved widget state"
    for path, result in with_widgets.items():
        assert result["widgetsRendered"] >= result["widgetViews"], (
            f"{path}: {result['widgetViews']} widgets saved, {result['widgetsRendered']} shown"
        )
        assert result["widgetErrors"] == 0, f"{path}: a widget failed to render"


def test_a_slider_moves_without_a_kernel(browser, server):
    """The first chapter with a slider: dragging its handle changes the readout."""
    path = next((p for p in CHAPTERS if "SliderModel" in (HTML / p).read_text()), None)
    assert path, "no chapter shows a slider"
    recorder = Recorder(browser)
    try:
        page = recorder.new_page()
        page.goto(server + path, wait_until="load")
        slider = page.locator(".widget-slider").first
        slider.wait_for(state="visible")
        slider.scroll_into_view_if_needed()
        readout = slider.locator(".widget-readout")
        before = readout.inner_text()
        track = slider.locator(".noUi-base").bounding_box()
        handle = slider.locator(".noUi-handle").first.bounding_box()
        x, y = handle["x"] + handle["width"] / 2, handle["y"] + handle["height"] / 2
        # Drag towards the far end of the track, whichever side the value sits on.
        target = track["x"] + (track["width"] if x < track["x"] + track["width"] / 2 else 0)
        page.mouse.move(x, y)
        page.mouse.down()
        page.mouse.move(target, y, steps=8)
        page.mouse.up()
        after = readout.inner_text()
        assert after != before, f"{path}: the slider readout stayed at {before}"
        assert not recorder.errors, "\n".join(recorder.errors)
    finally:
        recorder.close()


def test_next_and_previous_links_walk_the_book(browser, server):
    recorder = Recorder(browser)
    try:
        page = recorder.new_page()
        page.goto(server + PAGES[0], wait_until="load")
        for expected in PAGES[1:]:
            page.locator("a.right-next").click()
            page.wait_for_url(server + expected)
            page.wait_for_load_state("networkidle")
        assert page.locator("a.right-next").count() == 0, "the last page links further"
        for expected in reversed(PAGES[:-1]):
            page.locator("a.left-prev").click()
            page.wait_for_url(server + expected)
            page.wait_for_load_state("networkidle")
        assert not recorder.errors, "\n".join(recorder.errors)
    finally:
        recorder.close()


def test_sidebar_links_reach_every_page(browser, server):
    recorder = Recorder(browser)
    try:
        page = recorder.new_page()
        page.goto(server + PAGES[0], wait_until="load")
        for target in PAGES[1:]:
            link = page.locator(f'nav.bd-docs-nav a[href$="{Path(target).name}"]').first
            link.click()
            page.wait_for_url(server + target)
            page.wait_for_load_state("networkidle")
            assert page.locator("article h1").count() == 1
        captions = page.locator("nav.bd-docs-nav p.caption").all_inner_texts()
        parts = [
            part["caption"] for part in yaml.safe_load((ROOT / "_toc.yml").read_text())["parts"]
        ]
        assert [c.strip() for c in captions] == parts, "the sidebar does not show the book's parts"
        assert not recorder.errors, "\n".join(recorder.errors)
    finally:
        recorder.close()


# Every figure of a page's outputs (matplotlib's PNGs, widget pictures): whether it is
# shown and the first background behind it that is not transparent (its own or a parent's).
FIGURES = """() => {
  // Not folded away (a closed <details> keeps its content's boxes but does not show it).
  const visible = (el) => el.checkVisibility() && el.getClientRects().length > 0;
  const alpha = (color) => {
    const parts = color.match(/[\\d.]+/g) || [];
    return color.startsWith('rgba') ? Number(parts[3]) : parts.length >= 3 ? 1 : 0;
  };
  return [...document.querySelectorAll('.cell_output img')].map((img, index) => {
    let element = img;
    while (element && alpha(getComputedStyle(element).backgroundColor) === 0) {
      element = element.parentElement;
    }
    const color = element ? getComputedStyle(element).backgroundColor : 'none';
    return {
      index, visible: visible(img), widget: !!img.closest('.widget-subarea'),
      src: img.getAttribute('src').slice(0, 40), background: color, opaque: alpha(color) === 1,
      behind: element ? [element.tagName.toLowerCase(), ...element.classList].join('.') : 'none',
    };
  });
}"""


def _edge_lightness(png: bytes, ring: int = 3) -> float:
    """The mean lightness (0 black, 1 white) of the outer ``ring`` pixels of a picture."""
    import numpy as np
    from PIL import Image

    pixels = np.asarray(Image.open(BytesIO(png)).convert("L"), dtype=float) / 255
    mask = np.ones(pixels.shape, dtype=bool)
    mask[ring:-ring, ring:-ring] = False
    return float(pixels[mask].mean())


@pytest.mark.parametrize("path", DARK_CHAPTERS)
def test_figures_are_readable_in_dark_mode(browser, server, axe_script, path):
    """A reader whose system is set to dark mode (the site follows it: default_mode auto)
    sees every figure, widget pictures included, on an opaque light background: the
    theme's own fix for dark mode (a light background and padding behind every
    output image), checked in the computed styles and in the pixels drawn around each
    figure. axe-core finds no serious or critical violation in dark mode either."""
    recorder = Recorder(browser, color_scheme="dark")
    try:
        page = _open(recorder, server + path, path)
        page.evaluate(MEASURE)
        assert page.evaluate("document.documentElement.dataset.theme") == "dark"
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        _screenshot(page, SCREENSHOTS / f"dark-{Path(path).stem}.png")
        figures = [figure for figure in page.evaluate(FIGURES) if figure["visible"]]
        assert figures, f"{path}: no figure in the page's outputs"
        if path == GRID_CHAPTER:
            assert any(figure["widget"] for figure in figures), f"{path}: no widget picture"
        page_background = page.evaluate("getComputedStyle(document.body).backgroundColor")
        images = page.locator(".cell_output img")
        for figure in figures:
            what = f"{path}: figure {figure['index']} ({figure['src']}...)"
            assert figure["opaque"], (
                f"{what} has no opaque background: {figure['background']} behind it"
            )
            # The pixels drawn around the figure: its padding, on the background behind it.
            edge = _edge_lightness(images.nth(figure["index"]).screenshot())
            assert edge > 0.5, (
                f"{what} is drawn on a dark background (lightness {edge:.2f} around it; "
                f"{figure['background']} on {figure['behind']}, page {page_background})"
            )
        axe = _axe(page, axe_script)
        summary = SCREENSHOTS / "axe-dark.json"
        pages = json.loads(summary.read_text())["pages"] if summary.exists() else {}
        pages[path] = _axe_page(axe)
        summary.write_text(json.dumps(_axe_summary(pages, "dark", axe), indent=2) + "\n")
        _assert_no_serious_violations(f"{path} (dark mode)", axe, axe_script)
        assert not recorder.outside, f"the page requested other hosts: {recorder.outside}"
        assert not recorder.errors, "\n".join(recorder.errors)
    finally:
        recorder.close()


def test_search_finds_a_word(browser, server):
    recorder = Recorder(browser)
    try:
        page = recorder.new_page()
        page.goto(server + PAGES[0], wait_until="load")
        page.locator("button.search-button-field:visible").first.click()
        search = page.locator('#pst-search-dialog input[name="q"]')
        search.fill(SEARCH_WORD)
        search.press("Enter")
        page.wait_for_url("**/search.html?q=*")
        results = page.locator("#search-results ul.search li")
        results.first.wait_for(state="visible")
        page.wait_for_load_state("networkidle")
        assert results.count() >= 1
        linked = results.locator("a").evaluate_all("links => links.map(a => a.href)")
        assert any("/notebooks/" in href for href in linked), f"no chapter found: {linked}"
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        _screenshot(page, SCREENSHOTS / f"search-{SEARCH_WORD}.png")
        assert not recorder.outside, f"search requested other hosts: {recorder.outside}"
        assert not recorder.errors, "\n".join(recorder.errors)
    finally:
        recorder.close()


# --------------------------------------------------------------------------- grid panels

# What a GridPanel (utils/widgets/grid.py) shows now: its visible captions, its
# controls' readouts and its visible pictures (with their alternative texts).
VISIBLE_ANSWER = """(panel) => {
  const visible = (el) => !!(el.offsetWidth || el.offsetHeight || el.getClientRects().length);
  return {
    captions: [...panel.querySelectorAll('.grid-caption')].filter(visible)
      .map((el) => el.innerText.trim()),
    readouts: [...panel.querySelectorAll('.widget-readout')].map((el) => el.innerText.trim()),
    images: [...panel.querySelectorAll('img')].filter(visible)
      .map((img) => ({
        complete: img.complete, width: img.naturalWidth, shown: img.width, alt: img.alt,
      })),
    text: panel.innerText,
  };
}"""

# The bytes of a picture as the page holds them (a grid panel's are data: URLs).
PICTURE_BYTES = """async (img) => {
  const response = await fetch(img.src);
  return Array.from(new Uint8Array(await response.arrayBuffer()));
}"""


def _drag_slider(page, slider, index: int, count: int) -> None:
    """Drag a slider's handle to position ``index`` of ``count`` (a SelectionSlider snaps there)."""
    slider.scroll_into_view_if_needed()
    track = slider.locator(".noUi-base").bounding_box()
    handle = slider.locator(".noUi-handle").first.bounding_box()
    x, y = handle["x"] + handle["width"] / 2, handle["y"] + handle["height"] / 2
    page.mouse.move(x, y)
    page.mouse.down()
    page.mouse.move(track["x"] + track["width"] * index / (count - 1), y, steps=8)
    page.mouse.up()


def _walk_grid(page, panel, controls: dict[str, list[str]], check) -> list[tuple]:
    """Drag each control of a grid panel to two other grid positions, in turn.

    ``controls`` maps each control's label to its grid values as the page
    writes them. At the start and after each move the panel must show exactly
    one answer, the one whose caption names the grid point, with its pictures
    loaded at their own size and each with alternative text that names the
    point too; ``check(point, answer)`` adds the caller's checks. Returns the
    points visited (the start point not included).
    """
    labels = list(controls)
    answer = panel.evaluate(VISIBLE_ANSWER)
    assert len(answer["readouts"]) == len(labels), f"controls shown: {answer['readouts']}"
    point = [
        controls[name].index(text) for name, text in zip(labels, answer["readouts"], strict=True)
    ]

    def shows_point(moved: str) -> tuple:
        values = [controls[name][i] for name, i in zip(labels, point, strict=True)]
        caption = ", ".join(f"{name} {value}" for name, value in zip(labels, values, strict=True))
        deadline = time.monotonic() + 10
        while True:
            answer = panel.evaluate(VISIBLE_ANSWER)
            loaded = all(image["complete"] for image in answer["images"])
            if (answer["captions"] == [caption] and loaded) or time.monotonic() > deadline:
                break
            page.wait_for_timeout(100)
        assert answer["captions"] == [caption], f"{moved}: the panel shows {answer['captions']}"
        assert answer["readouts"] == values, f"{moved}: the controls read {answer['readouts']}"
        assert answer["images"] and all(image["width"] for image in answer["images"]), moved
        sizes = [(image["width"], image["shown"]) for image in answer["images"]]
        assert all(width == shown for width, shown in sizes), f"{moved}: resized {sizes}"
        alts = [image["alt"] for image in answer["images"]]
        assert all(caption in alt for alt in alts), f"{moved}: alternative texts {alts}"
        check(tuple(values), answer)
        return tuple(values)

    shows_point("at the start")
    sliders = panel.locator(".widget-slider")
    visited = []
    for depth, label in enumerate(labels):
        count = len(controls[label])
        for index in [i for i in (0, count - 1, 1) if i != point[depth]][:2]:
            _drag_slider(page, sliders.nth(depth), index, count)
            point[depth] = index
            visited.append(shows_point(f"after moving {label} to {controls[label][index]}"))
    return visited


GRID_PAGE = """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>A grid panel</title>
<script type="application/vnd.jupyter.widget-state+json">{state}</script>
<script src="_static/offline/requirejs/require.js"></script>
<script src="_static/offline-widgets.js"></script>
<script src="_static/offline/html-manager/embed-amd.js"></script>
</head>
<body>
<div class="cell_output">
<script type="application/vnd.jupyter.widget-view+json">{view}</script>
</div>
</body>
</html>
"""


def test_grid_panel_answers_without_a_kernel(browser, tmp_path):
    """A 3 x 3 GridPanel in a page of its own, with the site's scripts in the site's order
    (the saved state, require.js, book/_static/offline-widgets.js, the widget manager),
    all from 127.0.0.1: every move shows the precomputed picture, byte for byte."""
    import matplotlib.pyplot as plt  # Agg: tests/conftest.py
    from ipywidgets import embed

    from utils import widgets

    fetched = subprocess.run(
        [sys.executable, str(ROOT / "book" / "fetch_web_assets.py")],
        cwd=ROOT, capture_output=True, text=True,
    )  # fmt: skip
    assert fetched.returncode == 0, f"no offline web assets:\n{fetched.stdout}{fetched.stderr}"

    def draw(a, b):
        figure, ax = plt.subplots(figsize=(1.6, 1.2))
        ax.plot([0, 1], [a, b])
        ax.set_title(f"{a} and {b}", fontsize=8)
        return figure, f"<p>the sum is {a + b}</p>"

    panel = widgets.GridPanel(draw, {"A": [1, 2, 3], "B": [10, 20, 30]}, start=(2, 20), dpi=40)
    site = tmp_path / "site"
    for folder in ("requirejs", "html-manager"):
        shutil.copytree(OFFLINE / folder, site / "_static" / "offline" / folder)
    shutil.copy(ROOT / "book" / "_static" / "offline-widgets.js", site / "_static")
    state = embed.dependency_state(panel.widget, drop_defaults=False)
    data = embed.embed_data(panel.widget, state=state)
    (site / "grid.html").write_text(
        GRID_PAGE.format(
            state=embed.escape_script(json.dumps(data["manager_state"])),
            view=embed.escape_script(json.dumps(data["view_specs"][0])),
        )
    )

    def same_answer(point, answer):
        point = tuple(int(value) for value in point)  # as the page writes them: text
        assert f"the sum is {sum(point)}" in answer["text"]
        shown = page.locator(".grid-panel img:visible")
        assert shown.count() == 1
        expected = panel.pictures[point][0]
        assert bytes(shown.evaluate(PICTURE_BYTES)) == expected, f"{point}: another picture"
        assert shown.get_attribute("alt") == panel.alt_texts[point][0]

    recorder = Recorder(browser)
    try:
        with _serve(site) as url:
            page = recorder.new_page()
            page.goto(url + "grid.html", wait_until="load")
            grid = page.locator(".grid-panel")
            grid.wait_for(state="visible")
            same_answer(("2", "20"), grid.evaluate(VISIBLE_ANSWER))
            controls = {"A": ["1", "2", "3"], "B": ["10", "20", "30"]}
            visited = _walk_grid(page, grid, controls, same_answer)
            assert visited == [("1", "20"), ("3", "20"), ("3", "10"), ("3", "30")]
        assert not recorder.outside, f"the page requested other hosts: {recorder.outside}"
        assert not recorder.errors, "\n".join(recorder.errors)
    finally:
        recorder.close()


GRID_CHAPTER = "notebooks/02_the_objective.html"
# What chapter 02 prints for each point of its grid panel, in the panel's order.
GRID_PRINTED = re.compile(r"^Learning rate (\S+), Steps (\d+): J ends at (\S+)$", re.MULTILINE)


def test_chapter_02_grid_panel_answers_without_a_kernel(browser, server):
    """On the built site, chapter 02's learning rate x steps panel shows, after each move,
    the curve and verdict of the new grid point: its caption names the point and its
    verdict ends at the J that the chapter printed for that point."""
    assert GRID_CHAPTER in CHAPTERS
    recorder = Recorder(browser)
    try:
        page = recorder.new_page()
        page.goto(server + GRID_CHAPTER, wait_until="load")
        grid = page.locator(".grid-panel")
        grid.wait_for(state="visible")
        printed = "\n".join(page.locator(".cell_output").all_inner_texts())
        rows = GRID_PRINTED.findall(printed)
        ends = {(rate, steps): end for rate, steps, end in rows}
        rates = list(dict.fromkeys(rate for rate, _, _ in rows))
        steps = list(dict.fromkeys(count for _, count, _ in rows))
        assert len(rates) >= 3 and len(steps) >= 3, f"the chapter printed {rows}"
        assert len(ends) == len(rows) == len(rates) * len(steps), f"the chapter printed {rows}"

        def same_answer(point, answer):
            # The verdict, last in the panel, ends with the last value of J.
            numbers = re.findall(r"\d+\.\d+", answer["text"])
            assert numbers and numbers[-1] == ends[point], (
                f"{point}: the chapter printed J = {ends[point]}, the panel says {answer['text']}"
            )

        visited = _walk_grid(page, grid, {"Learning rate": rates, "Steps": steps}, same_answer)
        assert len(visited) == 4
        assert not recorder.outside, f"the page requested other hosts: {recorder.outside}"
        assert not recorder.errors, "\n".join(recorder.errors)
    finally:
        recorder.close()


# The grid values of each control of a page's grid panel, as the page writes them, read
# from the page's saved widget state: [[the control's label, its values], ...] in order.
GRID_CONTROLS = """(panel) => {
  const saved = document.querySelector('script[type="application/vnd.jupyter.widget-state+json"]');
  const models = Object.values(JSON.parse(saved.textContent).state)
    .filter((model) => model.model_name === 'SelectionSliderModel');
  return [...panel.querySelectorAll('.widget-slider .widget-label')].map((label) => {
    const text = label.innerText.trim();
    return [text, models.find((model) => model.state.description === text).state._options_labels];
  });
}"""


def _check_chapter_grid(browser, url: str, same_answer_from) -> list[tuple]:
    """Walk the grid panel of the page at ``url`` (the only one on its page) with
    ``_walk_grid``, its controls and their values read from the page's saved state.
    ``same_answer_from(printed)`` gets the text of the page's outputs and returns the
    check of each answer against what the chapter printed. Returns the points visited."""
    recorder = Recorder(browser)
    try:
        page = recorder.new_page()
        page.goto(url, wait_until="load")
        grid = page.locator(".grid-panel")
        grid.wait_for(state="visible")
        controls = dict(grid.evaluate(GRID_CONTROLS))
        assert controls and all(len(values) > 1 for values in controls.values()), controls
        printed = "\n".join(page.locator(".cell_output").all_inner_texts())
        visited = _walk_grid(page, grid, controls, same_answer_from(printed))
        assert not recorder.outside, f"the page requested other hosts: {recorder.outside}"
        assert not recorder.errors, "\n".join(recorder.errors)
        return visited
    finally:
        recorder.close()


def _classes_printed(printed: str) -> dict[str, list[str]]:
    """Chapter 00's printout: the indices of the first training images of each class."""
    from utils.data import CLASS_NAMES

    rows = dict(re.findall(r"^(.+): (\d+(?:, \d+)*)$", printed, re.MULTILINE))
    first = {name: rows[name].split(", ") for name in CLASS_NAMES if name in rows}
    assert len(first) == len(CLASS_NAMES), f"the chapter printed {rows}"
    return first


def test_chapter_00_grid_panel_answers_without_a_kernel(browser, server):
    """On the built site, chapter 00's class x images panel shows, after each move, the
    first images of the chosen class: the indices under the pictures are the first ones
    that the chapter printed for that class, as many as the point asks for."""

    def same_answer_from(printed):
        first = _classes_printed(printed)

        def same_answer(point, answer):
            name, count = point
            expected = f"'{name}': indices {', '.join(first[name][: int(count)])}."
            assert expected in answer["text"], f"{point}: the panel says {answer['text']}"

        return same_answer

    assert "notebooks/00_welcome.html" in CHAPTERS
    visited = _check_chapter_grid(browser, server + "notebooks/00_welcome.html", same_answer_from)
    assert len(visited) == 4


def _strongest_printed(printed: str) -> dict[tuple[str, str], str]:
    """Chapter 01's table: the channel of the strongest ImageNet map, by image and layer."""
    header = re.search(r"^\s*((?:image \d+\s*)+)$", printed, re.MULTILINE)
    assert header, f"no table of the strongest maps in:\n{printed}"
    images = re.findall(r"image (\d+)", header[1])
    rows = re.findall(r"^(block\d_conv\d)((?:\s+#\d+)+)\s*$", printed, re.MULTILINE)
    table = {
        (image, layer): channel
        for layer, channels in rows
        for image, channel in zip(images, re.findall(r"#(\d+)", channels), strict=True)
    }
    assert len(images) >= 2 and len(rows) >= 3, f"the chapter printed {images} and {rows}"
    return table


def test_chapter_01_grid_panel_answers_without_a_kernel(browser, server):
    """On the built site, chapter 01's image x layer panel shows, after each move, the
    feature maps of the new point: the first ImageNet channel its line names is the
    one the chapter printed as the strongest for that image and layer."""

    def same_answer_from(printed):
        table = _strongest_printed(printed)

        def same_answer(point, answer):
            shown = re.search(r"ImageNet #(\d+)", answer["text"])
            assert shown and shown[1] == table[point], (
                f"{point}: the chapter printed #{table[point]}, the panel says {answer['text']}"
            )

        return same_answer

    path = "notebooks/01_transfer_in_pictures.html"
    assert path in CHAPTERS
    assert len(_check_chapter_grid(browser, server + path, same_answer_from)) == 4


# Chapter 03's table of freeze depths: depth, trainable and frozen parameters, timings.
FREEZE_ROW = re.compile(r"^\s*(\d)\s+([\d,]+)\s+([\d,]+)\s+[\d.,]+\s+[\d.,]+\s*$", re.MULTILINE)


def test_chapter_03_grid_panel_answers_without_a_kernel(browser, server):
    """On the built site, chapter 03's freeze-depth panel shows, after each move, the
    parameters of the new depth as the chapter's table printed them."""

    def same_answer_from(printed):
        table = {
            depth: (trainable, frozen) for depth, trainable, frozen in FREEZE_ROW.findall(printed)
        }
        assert len(table) >= 2, f"the chapter printed {table}"

        def same_answer(point, answer):
            (depth,) = point
            trainable, frozen = table[depth]
            expected = (
                f"{depth} frozen block(s): {trainable} trainable and {frozen} frozen parameters"
            )
            assert expected in answer["text"], f"{point}: the panel says {answer['text']}"

        return same_answer

    path = "notebooks/03_inside_vgg16.html"
    assert path in CHAPTERS
    assert len(_check_chapter_grid(browser, server + path, same_answer_from)) == 2


# Chapter 04's table of head settings: features, hidden units, dropout, learning rate,
# training and validation accuracy, dead units, seconds.
HEAD_ROW = re.compile(
    r"^\s*(raw|standardised)\s+(\d+)\s+([\d.]+)\s+(\S+)\s+[\d.]+\s+([\d.]+)\s+(\d+)%"
    r"\s+([\d.]+)\s*$",
    re.MULTILINE,
)


def test_chapter_04_grid_panel_answers_without_a_kernel(browser, server):
    """On the built site, chapter 04's features x head panel shows, after each move, the
    curves of one row of the chapter's table: its line gives the validation accuracy,
    dead units and seconds that the table printed for those features and that head
    (the table's first setting, "default", with the change the head's name says)."""

    def same_answer_from(printed):
        rows = HEAD_ROW.findall(printed)
        table = {
            (features, int(units), float(dropout), float(rate)): (accuracy, dead, seconds)
            for features, units, dropout, rate, accuracy, dead, seconds in rows
        }
        assert len(table) == len(rows) >= 4, f"the chapter printed {rows}"
        default = {
            "hidden units": int(rows[0][1]),
            "dropout": float(rows[0][2]),
            "learning rate": float(rows[0][3]),
        }

        def same_answer(point, answer):
            features, head = point
            settings = dict(default)
            for name, value in re.findall(r"(hidden units|dropout|learning rate) (\S+)", head):
                settings[name] = type(default[name])(value.rstrip(","))
            assert head == "default" or settings != default, head
            accuracy, dead, seconds = table[(features, *settings.values())]
            units = settings["hidden units"]
            for expected in (
                f"Validation accuracy {accuracy} after",
                f"{dead}% of the {units} hidden units are dead",
                f"; {seconds} s.",
            ):
                assert expected in answer["text"], f"{point}: the panel says {answer['text']}"

        return same_answer

    path = "notebooks/04_feature_extraction.html"
    assert path in CHAPTERS
    assert len(_check_chapter_grid(browser, server + path, same_answer_from)) == 4
