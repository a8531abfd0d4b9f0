"""Headless Chromium for the report's tests and benchmark (Selenium).

Debian's ``chromium`` and ``chromium-driver`` (``.ci/run`` installs them);
the flags keep the browser off the network and out of the user's profile.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager

#: Set (to 1) where a missing browser must fail the tests instead of
#: skipping them: CI.
REQUIRE_ENV = "MUSICNN_REQUIRE_BROWSER"
FLAGS = (
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
    "--enable-unsafe-swiftshader",
)


def find_browser() -> tuple[str | None, str | None]:
    """Paths of Chromium and its driver, or ``None`` where missing."""
    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    driver = shutil.which("chromedriver")
    return browser, driver


def missing_reason() -> str | None:
    """Why the browser tests cannot run here, or ``None`` if they can."""
    browser, driver = find_browser()
    try:
        import selenium  # noqa: F401
    except ImportError:
        return "selenium is not installed (pip install 'beets-musicnn[test]')"
    if not browser or not driver:
        return (
            "no chromium/chromedriver on PATH "
            "(apt-get install -y chromium chromium-driver)"
        )
    return None


@contextmanager
def open_browser(width: int = 1400, height: int = 1000) -> Iterator:
    """A fresh headless Chromium (its own profile) that logs the console and
    the DevTools network events."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    browser, driver_path = find_browser()
    profile = tempfile.mkdtemp(prefix="musicnn-chromium-")
    options = webdriver.ChromeOptions()
    options.binary_location = browser
    for flag in FLAGS:
        options.add_argument(flag)
    options.add_argument(f"--user-data-dir={profile}")
    options.add_argument(f"--window-size={width},{height}")
    options.set_capability(
        "goog:loggingPrefs", {"browser": "ALL", "performance": "ALL"}
    )
    driver = webdriver.Chrome(service=Service(driver_path), options=options)
    try:
        driver.set_window_size(width, height)
        yield driver
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)


#: A script for the page under test: after every change of the page's size
#: (a ResizeObserver created after the page's own, so it runs after them, in
#: the same frame, before the paint) it checks that every plot, legend and
#: label lies within the viewport's width, logs it in ``window.fitLog`` and
#: paints a strip across the top of the page: green (everything fits, the
#: map drawn), red (something sticks out), grey (the map not drawn yet). A
#: plain ``chromium --screenshot`` can only be read through its pixels.
FIT_CHECK = """
<script>
(function () {
  const strip = document.createElement("div");
  strip.style.cssText = "position:fixed;left:0;top:0;width:100%;height:24px;" +
    "z-index:2147483647;pointer-events:none;background:#808080";
  document.body.appendChild(strip);
  window.fitLog = [];
  function check() {
    const limit = document.documentElement.clientWidth;
    const out = [];
    const parts = ".js-plotly-plot .main-svg, .js-plotly-plot canvas, " +
      ".js-plotly-plot .legend, .js-plotly-plot .annotation";
    document.querySelectorAll(parts).forEach((element) => {
      const r = element.getBoundingClientRect();
      if (r.width > 0 && (r.left < -0.5 || r.right > limit + 0.5)) {
        out.push(element.getAttribute("class") + " " + Math.round(r.left) + ".." +
          Math.round(r.right));
      }
    });
    const drawn = document.body.dataset.ready === "1";
    window.fitLog.push({ width: limit, drawn: drawn, out: out });
    strip.style.background = out.length ? "#ff0000" : drawn ? "#00ff00" : "#808080";
  }
  new ResizeObserver(check).observe(document.documentElement);
  new MutationObserver(check).observe(document.body, { attributes: true });
})();
</script>
"""


def with_fit_check(page: str) -> str:
    """The HTML of ``page`` with :data:`FIT_CHECK` at the end of its body."""
    head, tail = page.rsplit("</body>", 1)
    return head + FIT_CHECK + "</body>" + tail


def first_row(png: bytes) -> list[tuple[int, int, int]]:
    """The RGB colours of the top row of pixels of a PNG (8 bits a channel,
    RGB or RGBA, not interlaced: what Chromium writes)."""
    import struct
    import zlib

    assert png[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    position, data, header = 8, b"", None
    while position < len(png):
        length, kind = struct.unpack(">I4s", png[position : position + 8])
        chunk = png[position + 8 : position + 8 + length]
        if kind == b"IHDR":
            header = struct.unpack(">IIBBBBB", chunk)
        elif kind == b"IDAT":
            data += chunk
        position += 12 + length
    width, _, depth, colour, _, _, interlace = header
    assert depth == 8 and colour in (2, 6) and not interlace, header
    channels = 3 if colour == 2 else 4
    raw = zlib.decompressobj().decompress(data, 1 + width * channels)
    kind, row = raw[0], bytearray(raw[1 : 1 + width * channels])
    # The first row: "up" has nothing above it (zeros), so only "sub",
    # "average" and "paeth" take the pixel to the left.
    if kind in (1, 3, 4):
        for i in range(channels, len(row)):
            left = row[i - channels]
            row[i] = (row[i] + (left // 2 if kind == 3 else left)) & 0xFF
    return [tuple(row[i : i + 3]) for i in range(0, len(row), channels)]
