"""The website works in a real browser, offline, the way a reader sees it.

The site is built with `make site` (the same call as tests/test_site.py; the
second call is a no-op), served from _build/html on 127.0.0.1, and opened in
headless Chromium (Debian's `chromium`, driven by Playwright from PyPI; never
`playwright install`). Every page of _toc.yml is visited, and every request
the pages make is recorded: a request to any other host fails the test (and is
blocked, so the browser really is offline). A full-page screenshot of every
page is saved under _build/screenshots/.

The precomputed grid panels (utils.widgets.GridPanel) are checked twice: a
small panel in a page of its own, embedded the way the site embeds widgets
(no site build needed), and chapter 02's panel on the built site. Each
control is dragged to two other grid positions, and the answer shown must be
the one precomputed for the new point: nothing but the page's widget manager runs.
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
from pathlib import Path
from urllib.parse import urlparse

import pytest
import yaml

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
SEARCH_WORD = "VGG16"
TIMEOUT_MS = 30_000
VIEWPORT = {"width": 1280, "height": 900}

pytestmark = pytest.mark.skipif(
    not CHROMIUM.exists(),
    reason=f"{CHROMIUM} is absent: install Debian's `chromium` package "
    "(.ci/run does) to run the browser test",
)


def _toc_pages() -> list[str]:
    """Every page of the book in reading order, as paths relative to _build/html."""
    toc = yaml.safe_load((ROOT / "_toc.yml").read_text())
    files = [toc["root"]]

    def walk(entries):
        for entry in entries:
            if "file" in entry:
                files.append(entry["file"])
            walk(entry.get("sections", []))

    for part in toc.get("parts", []):
        walk(part.get("chapters", []))
    walk(toc.get("chapters", []))
    return [f"{Path(file).with_suffix('')}.html" for file in files]


PAGES = _toc_pages()
CHAPTERS = [page for page in PAGES if page.startswith("notebooks/")]


@pytest.fixture(scope="module")
def site() -> Path:
    """The built site; `make site` is cached, so this is quick after the first build."""
    result = subprocess.run(
        ["make", "--no-print-directory", "site"], cwd=ROOT, capture_output=True, text=True
    )
    if result.returncode != 0:
        reports = sorted((HTML / "reports").glob("**/*.err.log"))
        details = "\n".join(path.read_text()[-3000:] for path in reports)
        pytest.fail(
            f"`make site` failed:\n{result.stdout[-4000:]}\n{result.stderr[-4000:]}\n{details}"
        )
    assert (HTML / "index.html").exists()
    return HTML


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
def server(site):
    """The site served on a free port of 127.0.0.1; yields its base URL."""
    with _serve(site) as url:
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

    def __init__(self, browser):
        self.requests: list[str] = []
        self.outside: list[str] = []
        self.errors: list[str] = []
        self.context = browser.new_context(viewport=VIEWPORT)
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


@pytest.fixture(scope="module")
def visits(browser, server):
    """Open the home page and every page of _toc.yml once; what each showed, by page."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    for old in SCREENSHOTS.glob("*.png"):
        old.unlink()
    recorder = Recorder(browser)
    results = {}
    try:
        for number, path in enumerate(["index.html", *PAGES]):
            page = recorder.new_page()
            page.goto(server + path, wait_until="load")
            page.wait_for_load_state("networkidle")
            if "widget-view+json" in (HTML / path).read_text():
                page.wait_for_selector(".widget-subarea .jupyter-widgets", state="visible")
                # Widget pictures (a grid panel's PNGs) load from blob: URLs after the widgets draw.
                page.wait_for_function(
                    "[...document.querySelectorAll('.cell_output img')].every((i) => i.complete)"
                )
            result = page.evaluate(MEASURE)
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

# What a GridPanel (utils/widgets.py) shows now: its visible captions, its
# controls' readouts and its visible pictures.
VISIBLE_ANSWER = """(panel) => {
  const visible = (el) => !!(el.offsetWidth || el.offsetHeight || el.getClientRects().length);
  return {
    captions: [...panel.querySelectorAll('.grid-caption')].filter(visible)
      .map((el) => el.innerText.trim()),
    readouts: [...panel.querySelectorAll('.widget-readout')].map((el) => el.innerText.trim()),
    images: [...panel.querySelectorAll('img')].filter(visible)
      .map((img) => ({ complete: img.complete, width: img.naturalWidth, shown: img.width })),
    text: panel.innerText,
  };
}"""

# The bytes of a picture as the page holds them (widget pictures are blob: URLs).
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
    writes them. After each move the panel must show exactly one answer, the
    one whose caption names the new grid point, with its pictures loaded;
    ``check(point, answer)`` adds the caller's checks. Returns the points visited.
    """
    labels = list(controls)
    answer = panel.evaluate(VISIBLE_ANSWER)
    assert len(answer["readouts"]) == len(labels), f"controls shown: {answer['readouts']}"
    point = [
        controls[name].index(text) for name, text in zip(labels, answer["readouts"], strict=True)
    ]
    sliders = panel.locator(".widget-slider")
    visited = []
    for depth, label in enumerate(labels):
        count = len(controls[label])
        for index in [i for i in (0, count - 1, 1) if i != point[depth]][:2]:
            _drag_slider(page, sliders.nth(depth), index, count)
            point[depth] = index
            values = [controls[name][i] for name, i in zip(labels, point, strict=True)]
            caption = ", ".join(
                f"{name} {value}" for name, value in zip(labels, values, strict=True)
            )
            deadline = time.monotonic() + 10
            while True:
                answer = panel.evaluate(VISIBLE_ANSWER)
                loaded = all(image["complete"] for image in answer["images"])
                if (answer["captions"] == [caption] and loaded) or time.monotonic() > deadline:
                    break
                page.wait_for_timeout(100)
            moved = f"after moving {label} to {values[depth]}"
            assert answer["captions"] == [caption], f"{moved}: the panel shows {answer['captions']}"
            assert answer["readouts"] == values, f"{moved}: the controls read {answer['readouts']}"
            assert answer["images"] and all(image["width"] for image in answer["images"]), moved
            sizes = [(image["width"], image["shown"]) for image in answer["images"]]
            assert all(width == shown for width, shown in sizes), f"{moved}: resized {sizes}"
            check(tuple(values), answer)
            visited.append(tuple(values))
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
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
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
        expected = bytes(panel.answers[point].children[1].value)
        assert bytes(shown.evaluate(PICTURE_BYTES)) == expected, f"{point}: another picture"

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
