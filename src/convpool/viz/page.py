"""A self-contained HTML page: text, figures embedded as data URIs, optional script; no
network, no server, one file a person can open or mail."""

from __future__ import annotations

import base64
import html
from pathlib import Path

from ..files import atomic_write

STYLE = """
body { font-family: system-ui, -apple-system, "Segoe UI", sans-serif; max-width: 980px; margin: 2em auto;
       padding: 0 1em; color: #1d1d1f; line-height: 1.5; }
h1 { font-size: 1.8em; margin-bottom: 0.2em; }
h2 { font-size: 1.3em; margin-top: 2em; border-bottom: 1px solid #ddd; padding-bottom: 0.2em; }
figure { margin: 1em 0; }
figure img { max-width: 100%; height: auto; border: 1px solid #eee; }
figcaption { font-size: 0.9em; color: #555; }
code, pre { background: #f5f5f7; border-radius: 4px; padding: 0.1em 0.3em; }
pre { padding: 0.6em; overflow-x: auto; }
table { border-collapse: collapse; margin: 0.5em 0; }
td, th { border: 1px solid #ccc; padding: 0.2em 0.6em; text-align: right; font-variant-numeric: tabular-nums; }
caption { caption-side: bottom; font-size: 0.9em; color: #555; text-align: left; padding-top: 0.3em; }
"""


def png_data_uri(png: bytes | str | Path) -> str:
    """A PNG (bytes or a file) as a data: URI for an <img src>."""
    data = png if isinstance(png, bytes) else Path(png).read_bytes()
    return "data:image/png;base64," + base64.b64encode(data).decode("ascii")


class Page:
    """Build a page section by section, then `write(path)`. Text passed to `heading`,
    `paragraph` and captions is escaped; `raw` inserts trusted HTML (tables, the explorer)."""

    def __init__(self, title: str, intro: str = "") -> None:
        self.title = title
        self.parts: list[str] = [f"<h1>{html.escape(title)}</h1>"]
        self.scripts: list[str] = []
        self.styles: list[str] = []
        if intro:
            self.paragraph(intro)

    def heading(self, text: str, anchor: str | None = None) -> None:
        ident = f' id="{html.escape(anchor)}"' if anchor else ""
        self.parts.append(f"<h2{ident}>{html.escape(text)}</h2>")

    def paragraph(self, text: str) -> None:
        self.parts.append(f"<p>{html.escape(text)}</p>")

    def preformatted(self, text: str) -> None:
        self.parts.append(f"<pre>{html.escape(text)}</pre>")

    def figure(self, png: bytes | str | Path, caption: str, alt: str | None = None) -> None:
        self.parts.append(f'<figure><img src="{png_data_uri(png)}" alt="{html.escape(alt or caption)}">'
                          f"<figcaption>{html.escape(caption)}</figcaption></figure>")

    def table(self, header: list[str], rows: list[list[object]], caption: str = "") -> None:
        """A table of numbers (or text); every cell is escaped."""
        head = "".join(f"<th>{html.escape(str(cell))}</th>" for cell in header)
        body = "".join("<tr>" + "".join(f"<td>{html.escape(str(cell))}</td>" for cell in row) + "</tr>"
                       for row in rows)
        title = f"<caption>{html.escape(caption)}</caption>" if caption else ""
        self.parts.append(f"<table>{title}<thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>")

    def raw(self, markup: str) -> None:
        self.parts.append(markup)

    def style(self, css: str) -> None:
        """Extra CSS after the page's own (for a widget such as the tour's explorer)."""
        self.styles.append(css)

    def script(self, code: str) -> None:
        self.scripts.append(code)

    def render(self) -> str:
        scripts = "".join(f"<script>\n{code}\n</script>" for code in self.scripts)
        style = STYLE + "".join(self.styles)
        # an empty data: icon, so a browser asks no server for /favicon.ico
        return ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
                "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
                "<link rel=\"icon\" href=\"data:,\">"
                f"<title>{html.escape(self.title)}</title><style>{style}</style></head>\n<body>\n"
                + "\n".join(self.parts) + f"\n{scripts}\n</body></html>\n")

    def write(self, path: str | Path) -> Path:
        """Write the page atomically; returns its path."""
        path = Path(path)
        atomic_write(path, self.render().encode("utf-8"))
        return path
