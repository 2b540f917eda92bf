// The output-size explorer of `convpool tour`: sliders for the input size, kernel, stride,
// padding, dilation and ceil mode redraw every window over a pixel grid and the output size.
// Plain JavaScript, no libraries, no network. outputLength mirrors
// convpool.shapes.output_length; the tests run it under node and compare.
"use strict";

// Output length along one axis: {out, error, dropped}. out is null where convpool.output_size
// raises ValueError, and error then says why.
function outputLength(size, kernel, stride, padding, dilation, ceilMode) {
  const rules = [["size", size, 0], ["kernel_size", kernel, 1], ["stride", stride, 1],
                 ["padding", padding, 0], ["dilation", dilation, 1]];
  for (const [name, value, least] of rules) {
    if (!Number.isInteger(value) || value < least) {
      const kind = least > 0 ? "a positive" : "a non-negative";
      return { out: null, error: `${name} must be ${kind} integer, got ${value}`, dropped: false };
    }
  }
  const extent = dilation * (kernel - 1) + 1;
  const span = size + 2 * padding - extent;
  if (span < 0) {
    return {
      out: null, dropped: false,
      error: `the kernel does not fit: it spans ${extent} pixels but the padded input has only ${size + 2 * padding}`,
    };
  }
  if (!ceilMode) return { out: Math.floor(span / stride) + 1, error: null, dropped: false };
  // Ceil mode rounds up, but a last window must start inside the input or the left padding.
  let out = Math.ceil(span / stride) + 1;
  let dropped = false;
  if ((out - 1) * stride >= size + padding) {
    out -= 1;
    dropped = true;
  }
  return { out, error: null, dropped };
}

// The article's formula with the numbers in: (W - K + 2P) / S + 1, rounded down (up in ceil
// mode); a dilated kernel counts as the D(K-1)+1 pixels it spans.
function formulaText(p, result) {
  const round = p.ceilMode ? "ceil" : "floor";
  const extent = p.dilation * (p.kernel - 1) + 1;
  const top = p.size - extent + 2 * p.padding;
  let text = `${round}((W − K + 2P) / S) + 1 = ${round}((${p.size} − ${extent} + 2·${p.padding}) / ${p.stride}) + 1`;
  if (p.dilation !== 1) text = `K = D(K−1)+1 = ${extent} with dilation; ` + text;
  if (result.out === null) return `${text}: ${p.size} − ${extent} + 2·${p.padding} = ${top} is negative`;
  text += ` = ${round}(${top} / ${p.stride}) + 1 = ${result.dropped ? result.out + 1 : result.out}`;
  if (result.dropped) text += ` − 1 = ${result.out} (the last window would start in the right padding)`;
  return text;
}

function setupExplorer(root) {
  const canvas = root.querySelector("canvas");
  const context = canvas.getContext("2d");
  const names = ["size", "kernel", "stride", "padding", "dilation"];
  const inputs = Object.fromEntries(names.map((name) => [name, root.querySelector(`#ex-${name}`)]));
  const ceil = root.querySelector("#ex-ceil");
  const outputText = root.querySelector("#explorer-output");
  const formula = root.querySelector("#explorer-formula");

  function params() {
    const p = Object.fromEntries(names.map((name) => [name, parseInt(inputs[name].value, 10)]));
    p.ceilMode = ceil.checked;
    return p;
  }

  function cell(x, y, size, fill, stroke, dashed) {
    context.setLineDash(dashed ? [4, 3] : []);
    context.fillStyle = fill;
    context.fillRect(x * size, y * size, size, size);
    context.strokeStyle = stroke;
    context.lineWidth = 1;
    context.strokeRect(x * size + 0.5, y * size + 0.5, size - 1, size - 1);
    context.setLineDash([]);
  }

  function label(text, x, y, size, colour) {
    context.fillStyle = colour;
    context.font = `${Math.max(8, Math.floor(size * 0.34))}px system-ui, sans-serif`;
    context.textAlign = "center";
    context.textBaseline = "middle";
    context.fillText(text, (x + 0.5) * size, (y + 0.64) * size);
  }

  function outlineWindow(start, p, size, colour, dashed) {
    const extent = p.dilation * (p.kernel - 1) + 1;
    context.setLineDash(dashed ? [6, 4] : []);
    context.strokeStyle = colour;
    context.lineWidth = 3;
    context.strokeRect(start[1] * size + 2, start[0] * size + 2, extent * size - 4, extent * size - 4);
    context.lineWidth = 1.5;
    for (let a = 0; a < p.kernel; a++) {
      for (let b = 0; b < p.kernel; b++) {
        const y = start[0] + a * p.dilation;
        const x = start[1] + b * p.dilation;
        context.strokeRect(x * size + 5, y * size + 5, size - 10, size - 10);
      }
    }
    context.setLineDash([]);
  }

  function draw() {
    const p = params();
    for (const name of names) root.querySelector(`#ex-${name}-value`).textContent = inputs[name].value;
    const result = outputLength(p.size, p.kernel, p.stride, p.padding, p.dilation, p.ceilMode);
    const extent = p.dilation * (p.kernel - 1) + 1;
    const padded = p.size + 2 * p.padding;
    const out = result.out === null ? 0 : result.out;
    const reach = out > 0 ? (out - 1) * p.stride + extent : extent;
    const cells = Math.max(padded, reach);
    const size = Math.floor(Math.min(canvas.width / cells, 64));
    const coverage = Array.from({ length: cells }, () => new Array(cells).fill(0));
    for (let i = 0; i < out; i++) {
      for (let j = 0; j < out; j++) {
        for (let a = 0; a < p.kernel; a++) {
          for (let b = 0; b < p.kernel; b++) coverage[i * p.stride + a * p.dilation][j * p.stride + b * p.dilation] += 1;
        }
      }
    }
    const most = Math.max(1, ...coverage.flat());
    context.clearRect(0, 0, canvas.width, canvas.height);
    for (let y = 0; y < cells; y++) {
      for (let x = 0; x < cells; x++) {
        const inPadded = x < padded && y < padded;
        const inInput = inPadded && x >= p.padding && y >= p.padding && x < p.padding + p.size && y < p.padding + p.size;
        if (!inPadded) {
          cell(x, y, size, "#ffffff", "#bbbbbb", true);
        } else if (!inInput) {
          cell(x, y, size, "#d9d9d9", "#ffffff", false);
          label(String(coverage[y][x]), x, y, size, "#555555");  // the windows that read it, as elsewhere
        } else if (coverage[y][x] === 0) {
          cell(x, y, size, "#fbe3e3", "#dddddd", false);
        } else {
          const light = 92 - 50 * (coverage[y][x] / most);
          cell(x, y, size, `hsl(210, 70%, ${light}%)`, "#ffffff", false);
          label(String(coverage[y][x]), x, y, size, light < 60 ? "#ffffff" : "#1d1d1f");
        }
      }
    }
    context.strokeStyle = "#000000";
    context.lineWidth = 2;
    context.strokeRect(p.padding * size, p.padding * size, p.size * size, p.size * size);
    if (result.out === null) {
      outlineWindow([0, 0], p, size, "#c0392b", false);
      outputText.textContent = `No output: ${result.error}. convpool.output_size raises ValueError here.`;
      outputText.className = "explorer-output explorer-error";
    } else {
      if (out > 1) outlineWindow([(out - 1) * p.stride, (out - 1) * p.stride], p, size, "#5e3c99", true);
      outlineWindow([0, 0], p, size, "#e66101", false);
      context.fillStyle = "#000000";
      for (let i = 0; i < out; i++) {
        for (let j = 0; j < out; j++) {
          context.beginPath();
          const lift = extent % 2 === 1 ? 0.22 * size : 0;  // above the count written in the centre pixel
          context.arc((j * p.stride + extent / 2) * size, (i * p.stride + extent / 2) * size - lift, 3, 0, 2 * Math.PI);
          context.fill();
        }
      }
      const skipped = coverage.slice(p.padding, p.padding + p.size)
        .reduce((n, row) => n + row.slice(p.padding, p.padding + p.size).filter((c) => c === 0).length, 0);
      outputText.textContent = `Output: ${out} × ${out} (${out * out} windows)` +
        (skipped ? `; ${skipped} input pixels are never read` : "");
      outputText.className = "explorer-output";
    }
    formula.textContent = formulaText(p, result);
  }

  for (const input of [...Object.values(inputs), ceil]) input.addEventListener("input", draw);
  draw();
}

if (typeof module !== "undefined" && module.exports) {
  module.exports = { outputLength, formulaText };
}
if (typeof document !== "undefined") {
  const root = document.getElementById("explorer");
  if (root) setupExplorer(root);
}
