"""The report's HTML: one self-contained file, plotly.js and data inside.

The page is ``template.html`` with plotly.js (from the installed
``plotly`` package, so it works offline and without a CDN), the payload of
:mod:`report_data` as JSON, and the drawing script ``report.js`` put in its
placeholders. A Content-Security-Policy in the page forbids every request,
so nothing it holds can reach the network even by mistake.
"""

from __future__ import annotations

import html
import json
import re
from importlib import resources
from typing import Any

_PLACEHOLDER = re.compile(r"__(TITLE|PLOTLY|DATA|SCRIPT)__")


def _resource(name: str) -> str:
    return resources.files(__package__).joinpath(name).read_text(encoding="utf-8")


def render(payload: dict[str, Any]) -> str:
    """The HTML page of a :func:`report_data.build` payload."""
    from plotly.offline import get_plotlyjs

    data = json.dumps(payload, ensure_ascii=True, separators=(",", ":"))
    # In a <script> element only "</" can end it early.
    data = data.replace("</", "<\\/")
    parts = {
        "TITLE": html.escape(str(payload.get("title", "library"))),
        "PLOTLY": get_plotlyjs(),
        "DATA": data,
        "SCRIPT": _resource("report.js"),
    }
    # One pass: text put in (plotly.js, titles) is never searched again.
    return _PLACEHOLDER.sub(
        lambda match: parts[match.group(1)], _resource("template.html")
    )
