"""Step 8 of the tour: the interactive output-size explorer, as HTML controls, a canvas and a
few lines of plain JavaScript (`explorer.js`, shipped beside this file) for a `Page`."""

from __future__ import annotations

from importlib import resources

# (id, label, minimum, maximum, start): the start is the article's stride-2 picture with padding
SLIDERS = [
    ("size", "input size W", 1, 16, 7),
    ("kernel", "kernel K", 1, 7, 3),
    ("stride", "stride S", 1, 5, 2),
    ("padding", "padding P", 0, 3, 1),
    ("dilation", "dilation D", 1, 3, 1),
]

STYLE = """
.explorer-row { display: flex; flex-wrap: wrap; gap: 1.5em; align-items: flex-start; }
.explorer .controls { flex: 0 1 340px; }
.explorer label { display: grid; grid-template-columns: 8em 1fr 2em; align-items: center; gap: 0.5em;
                  margin: 0.3em 0; }
.explorer output { font-variant-numeric: tabular-nums; text-align: right; }
.explorer canvas { border: 1px solid #ddd; max-width: 100%; }
.explorer-output { font-size: 1.2em; font-weight: 600; }
.explorer-error { color: #c0392b; }
.explorer-formula { font-family: ui-monospace, monospace; font-size: 0.9em; }
.explorer .legend { font-size: 0.85em; color: #555; }
"""


def script() -> str:
    """The explorer's JavaScript."""
    return (resources.files("convpool.viz") / "explorer.js").read_text(encoding="utf-8")


def markup() -> str:
    """The controls, the canvas and the two lines of text the script fills in."""
    sliders = "\n".join(
        f'<label for="ex-{ident}">{text}<input type="range" id="ex-{ident}" min="{low}" max="{high}" '
        f'value="{start}"><output id="ex-{ident}-value">{start}</output></label>'
        for ident, text, low, high, start in SLIDERS)
    return f"""<div id="explorer" class="explorer">
<p id="explorer-output" class="explorer-output" aria-live="polite">Output: (needs JavaScript)</p>
<p id="explorer-formula" class="explorer-formula"></p>
<div class="explorer-row">
<div class="controls">
{sliders}
<label for="ex-ceil">ceil mode<input type="checkbox" id="ex-ceil"><span></span></label>
<p class="legend">Number in a pixel: how many windows read it. Grey: zero padding (its value is 0). Pink: a pixel no
window reads. Orange: the first window (small squares: its taps), purple dashed: the last. Dots: window
centres. Dashed white: past the padded input, where only a ceil-mode window reaches.</p>
</div>
<canvas id="explorer-canvas" width="520" height="520" aria-label="the windows over the pixel grid"></canvas>
</div>
</div>"""
