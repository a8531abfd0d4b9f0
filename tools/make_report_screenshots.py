"""Screenshots of a report at desktop and phone widths, for the docs,
taken both ways a report is looked at headless.

- Selenium (tests/browser.py): opens the report, selects a point (so that
  the nearest-tracks panel shows) and saves a PNG at 1400x1000 and at
  390x844, the screen of a phone: there the map, then the selected track's
  panel and the charts, as one scrolls down.
- Plain Chromium, ``chromium --headless=new --no-sandbox --screenshot=...
  --window-size=W,H file://...``: the page as it loads, nothing selected.
  Chromium lays the page out in a window of at least 500 px and shrinks the
  viewport to 390 px just before the picture, so at phone width this shows
  whether the page follows a viewport that changes at once.

    python tools/make_report_screenshots.py REPORT.html OUT_PREFIX [--select ID]
        -> OUT_PREFIX-desktop.png, OUT_PREFIX-phone{,-panel,-charts}.png,
           OUT_PREFIX-plain-{desktop,phone}.png

With ``--colour TEXT`` (an entry of the *Colour by* menu, e.g. ``mood`` or
``strength: calm (listeners)``), the map coloured so is shot too, at
desktop size, nothing selected: OUT_PREFIX-colour-desktop.png.

With ``--path-to ID``, a sonic path from the selected track to item ID is
drawn too, and shot: OUT_PREFIX-path-desktop.png (map and panel),
OUT_PREFIX-path-phone.png (the map) and OUT_PREFIX-path-phone-panel.png
(the path's list and command).
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT / "tests"))

from browser import FLAGS, find_browser, open_browser  # noqa: E402

SIZES = (("desktop", 1400, 1000), ("phone", 390, 844))


def wait_ready(driver) -> None:
    deadline = time.monotonic() + 120
    while not driver.execute_script(
        "return window.musicnnReport && window.musicnnReport.ready"
    ):
        if time.monotonic() > deadline:
            raise SystemExit("the report did not render")
        time.sleep(0.1)
    time.sleep(1.0)  # the charts draw after the map


def select(driver, item_id: int | None) -> None:
    row = driver.execute_script(
        "const r = window.musicnnReport;"
        f"const i = {item_id if item_id is not None else -1};"
        "return i < 0 ? Math.floor(r.n / 2) : Array.from(r.ids).indexOf(i);"
    )
    driver.execute_script(f"window.musicnnReport.select({row});")
    time.sleep(0.8)


def draw_path(driver, item_id: int) -> None:
    """The selected track's path to ``item_id``, as picking it would draw."""
    driver.execute_script(
        "const r = window.musicnnReport;"
        f"return r.pathTo(Array.from(r.ids).indexOf({item_id}));"
    )
    time.sleep(0.8)


def colour_by(driver, text: str) -> None:
    """The map coloured by the *Colour by* menu's entry ``text``."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select

    Select(driver.find_element(By.ID, "colour")).select_by_visible_text(text)
    time.sleep(0.8)


def shot(driver, path: str) -> None:
    driver.save_screenshot(path)
    print(path)


def plain_shot(report: Path, path: str, width: int, height: int) -> None:
    """``chromium --headless=new --screenshot`` of the page as it loads."""
    browser, _ = find_browser()
    with tempfile.TemporaryDirectory(prefix="musicnn-chromium-") as profile:
        subprocess.run(
            [
                browser,
                *FLAGS,
                f"--user-data-dir={profile}",
                f"--screenshot={path}",
                f"--window-size={width},{height}",
                report.resolve().as_uri(),
            ],
            check=True,
            capture_output=True,
            timeout=300,
        )
    print(path)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("report", type=Path)
    parser.add_argument("prefix")
    parser.add_argument("--select", type=int, help="item id to select")
    parser.add_argument("--search", help="text to type in the search box")
    parser.add_argument("--path-to", type=int, help="item id to draw a path to")
    parser.add_argument("--colour", help="a colouring of the map to shoot too")
    args = parser.parse_args()
    for name, width, height in SIZES:
        plain_shot(args.report, f"{args.prefix}-plain-{name}.png", width, height)
    if args.colour:
        name, width, height = SIZES[0]
        with open_browser(width, height) as driver:
            driver.get(args.report.resolve().as_uri())
            wait_ready(driver)
            colour_by(driver, args.colour)
            shot(driver, f"{args.prefix}-colour-{name}.png")
    for name, width, height in SIZES:
        with open_browser(width, height) as driver:
            driver.get(args.report.resolve().as_uri())
            wait_ready(driver)
            if args.search:
                driver.execute_script(
                    "document.getElementById('search').value = arguments[0];"
                    "window.musicnnReport.search(arguments[0]);",
                    args.search,
                )
            select(driver, args.select)
            if name == "phone":  # the map first, then the panel as one scrolls
                driver.execute_script("window.scrollTo(0, 0);")
                time.sleep(0.8)
                shot(driver, f"{args.prefix}-phone.png")
                driver.execute_script(
                    "document.getElementById('panel').scrollIntoView();"
                )
                time.sleep(0.8)
                shot(driver, f"{args.prefix}-phone-panel.png")
                driver.execute_script(
                    "document.querySelector('.charts').scrollIntoView();"
                )
                time.sleep(0.8)
                shot(driver, f"{args.prefix}-phone-charts.png")
            else:
                shot(driver, f"{args.prefix}-desktop.png")
            if args.path_to is None:
                continue
            draw_path(driver, args.path_to)
            if name == "phone":
                driver.execute_script("window.scrollTo(0, 0);")
                time.sleep(0.8)
                shot(driver, f"{args.prefix}-path-phone.png")
                driver.execute_script(
                    "document.getElementById('path-section').scrollIntoView();"
                )
                time.sleep(0.8)
                shot(driver, f"{args.prefix}-path-phone-panel.png")
            else:
                driver.execute_script(  # the panel scrolled to the path
                    "const panel = document.getElementById('panel');"
                    "const path = document.getElementById('path-section');"
                    "panel.scrollTop += path.getBoundingClientRect().top"
                    " - panel.getBoundingClientRect().top - 8;"
                )
                time.sleep(0.5)
                shot(driver, f"{args.prefix}-path-desktop.png")


if __name__ == "__main__":
    main()
