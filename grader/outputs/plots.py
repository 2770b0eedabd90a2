"""Plots: the submitted PNGs checked and re-encoded, the learning-rate plots re-drawn, REPORT.md read.

Submitted images are hostile input. A file is used only when it is a real PNG (signature and IHDR
read by hand first), within MAX_SIDE x MAX_SIDE pixels and MAX_BYTES; Pillow then decodes it with a
pixel limit and it is re-encoded by this code, so no byte of the submitted file reaches a page.

The grader also re-draws both learning-rate plots itself from the histories the hidden suite
recorded while running the submission's own code at the template's learning rates (results.json
artifacts "lr_histories" and "lr_redraw"), so a tutor can put the two side by side and see whether
the submitted plots come from the code.
"""

from __future__ import annotations

import io
import math
import re
import struct
import warnings
from dataclasses import dataclass, field
from pathlib import Path

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
MAX_SIDE = 4000
MAX_BYTES = 5 << 20
SHOWN_WIDTH = 640  # pixels of a re-encoded image in the report
MAX_RATES = 20
MAX_EPOCHS = 1000
REPORT_BYTES = 64 << 10
REPORT_CHARS = 20_000
PARTS = {  # the three parts REPORT.md must have per plot, and words that show each
    "expected": r"expect|predict|hypothes|anticipat",
    "observed": r"observ|\bsaw\b|\bsee\b|\bseen\b|result|shows?\b|measured",
    "explanation": r"expla[in]|because|reason|\bdue to\b|\bsince\b|caus",
}
PLOT_WORDS = {"lr_loss_curves.png": r"loss", "lr_accuracy.png": r"accura"}


@dataclass
class Image:
    png: bytes | None  # re-encoded by us, or None
    problem: str = ""  # why the file was not used
    size: tuple[int, int] | None = None  # the submitted image's pixels


def check_png(path: Path | None) -> Image:
    """A submitted plot, validated and re-encoded (or the reason it is not shown)."""
    if path is None:
        return Image(None, "missing")
    data = path.read_bytes()[: MAX_BYTES + 1]
    if len(data) > MAX_BYTES:
        return Image(None, f"larger than {MAX_BYTES >> 20} MB")
    if not data.startswith(PNG_SIGNATURE):
        return Image(None, "not a PNG file")
    if len(data) < 33 or data[12:16] != b"IHDR" or struct.unpack(">I", data[8:12])[0] != 13:
        return Image(None, "a damaged PNG (no IHDR header)")
    width, height = struct.unpack(">II", data[16:24])
    if not (0 < width <= MAX_SIDE and 0 < height <= MAX_SIDE):
        return Image(None, f"{width}x{height} pixels, more than {MAX_SIDE}x{MAX_SIDE}", (width, height))
    try:
        from PIL import Image as PILImage
        from PIL import PngImagePlugin
    except ImportError:
        return Image(None, "Pillow is not installed; image not shown", (width, height))
    PILImage.MAX_IMAGE_PIXELS = MAX_SIDE * MAX_SIDE  # decoding beyond this raises
    PngImagePlugin.MAX_TEXT_CHUNK = 1 << 20
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", PILImage.DecompressionBombWarning)
            with PILImage.open(io.BytesIO(data), formats=["PNG"]) as image:
                if image.size != (width, height):
                    return Image(None, "a damaged PNG (sizes disagree)", (width, height))
                image.load()
                shown = image.convert("RGBA" if "A" in image.getbands() or image.mode == "P" else "RGB")
        if shown.width > SHOWN_WIDTH:
            shown = shown.resize((SHOWN_WIDTH, max(1, round(shown.height * SHOWN_WIDTH / shown.width))))
        out = io.BytesIO()
        shown.save(out, format="PNG")
    except Exception as error:  # any decoder failure is a property of the file, not of the grader
        return Image(None, f"could not be decoded ({type(error).__name__})", (width, height))
    return Image(out.getvalue(), "", (width, height))


# --------------------------------------------------------------------------- re-drawing


def clean_histories(value) -> tuple[dict[float, dict[str, list]], str]:
    """The recorded histories, validated: finite numbers or None, bounded sizes; plus a problem text."""
    if not isinstance(value, dict) or not value:
        return {}, "no learning-rate histories were recorded (the experiment did not run)"
    histories, problems = {}, []
    for key, history in list(value.items())[:MAX_RATES]:
        try:
            rate = float(key)
        except (TypeError, ValueError):
            problems.append("a learning rate that is not a number")
            continue
        if not math.isfinite(rate) or rate <= 0 or not isinstance(history, dict):
            problems.append("a learning rate that is not a positive number")
            continue
        clean = {}
        for name in ("train_loss", "val_loss", "val_accuracy"):
            series = history.get(name)
            series = series[:MAX_EPOCHS] if isinstance(series, list) else []
            clean[name] = [float(v) if isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) else None for v in series]
        histories[rate] = clean
    if len(value) > MAX_RATES:
        problems.append(f"more than {MAX_RATES} learning rates; the first {MAX_RATES} are drawn")
    return histories, "; ".join(problems)


def describe_redraw(histories: dict[float, dict[str, list]], setting) -> str:
    """What the redraw is, for the page: whose code, which learning rates, how much data (setting: artifact "lr_redraw")."""
    if not histories:
        return ""
    rates = ", ".join(f"{rate:g}" for rate in sorted(histories))
    setting = setting if isinstance(setting, dict) else {}
    sizes = [setting.get(k) for k in ("epochs", "train_images")]
    detail = (f", {sizes[0]} epochs each on {sizes[1]} MNIST training images"
              if all(isinstance(v, int) and not isinstance(v, bool) and v > 0 for v in sizes) else " on a small MNIST subset")
    return (f"run by the grader at the template's learning rates {rates}{detail}; "
            "less data than the template uses, so compare the shape, not the exact values")


MARGINS = {"left": 0.16, "right": 0.97, "bottom": 0.13, "top": 0.91}  # fixed: tight_layout costs 0.1 s a figure
# The titles' height is given (y=1.0, where matplotlib puts them anyway: no tick labels on top), so that drawing
# does not measure the x axis's extent to place them (a tenth of a redraw; the same PNG bytes).
TITLE_AT = 1.0


def redraw(histories: dict[float, dict[str, list]]) -> dict[str, bytes]:
    """Both learning-rate plots drawn by the grader: {"lr_loss_curves.png": png, "lr_accuracy.png": png}."""
    if not histories:
        return {}
    from matplotlib.figure import Figure  # no pyplot: no global state, safe in any thread
    from matplotlib.ticker import MaxNLocator

    rates = sorted(histories)
    pictures = {}
    figure = Figure(figsize=(6, 4), dpi=80)
    axes = figure.subplots()
    drawn = []  # every loss drawn (the positive ones), for the log axis
    for rate in rates:
        losses = histories[rate]["train_loss"]
        points = [(i + 1, v) for i, v in enumerate(losses) if v is not None and v > 0]
        drawn += [p[1] for p in points]
        axes.plot([p[0] for p in points], [p[1] for p in points], marker="o", label=f"lr = {rate:g}")
    if drawn:
        axes.set_yscale("log")
        _plain_log_axis(axes.yaxis, drawn)
    axes.set(xlabel="epoch", ylabel="training loss")
    axes.set_title("Training loss per learning rate (re-drawn)", y=TITLE_AT)
    axes.xaxis.set_major_locator(MaxNLocator(integer=True))
    axes.legend(fontsize="small")
    figure.subplots_adjust(**MARGINS)
    pictures["lr_loss_curves.png"] = _png(figure)

    figure = Figure(figsize=(6, 4), dpi=80)
    axes = figure.subplots()
    final = [next((v for v in reversed(histories[r]["val_accuracy"]) if v is not None), math.nan) for r in rates]
    axes.plot(rates, final, marker="o")
    axes.set(xscale="log", xlabel="learning rate", ylabel="final validation accuracy", ylim=(0, 1))
    axes.set_title("Accuracy against learning rate (re-drawn)", y=TITLE_AT)
    _plain_log_axis(axes.xaxis, rates)
    axes.grid(True, alpha=0.3)
    figure.subplots_adjust(**MARGINS)
    pictures["lr_accuracy.png"] = _png(figure)
    return pictures


def _plain_log_axis(axis, values) -> None:
    """Over a decade or more: ticks at 1-2-5 (or, over two decades, 1) x 10^k labelled as plain numbers
    ("0.01", not mathtext 10^-2) and no minor ticks, half the drawing time. A narrower range keeps
    matplotlib's own ticks (its minor-tick labels are then the only ones in view)."""
    from matplotlib.ticker import FuncFormatter, LogLocator, NullLocator

    values = [v for v in values if v > 0 and math.isfinite(v)]
    if not values or max(values) < 10 * min(values):
        return
    subs = (1.0,) if max(values) >= 100 * min(values) else (1.0, 2.0, 5.0)
    axis.set_major_locator(LogLocator(base=10.0, subs=subs))
    axis.set_major_formatter(FuncFormatter(lambda value, _: f"{value:g}"))
    axis.set_minor_locator(NullLocator())


def _png(figure) -> bytes:
    out = io.BytesIO()
    figure.savefig(out, format="png")
    return out.getvalue()


# --------------------------------------------------------------------------- REPORT.md


@dataclass
class ReportText:
    text: str  # plain text, capped; escaped by the page template, never rendered as Markdown
    missing: dict[str, list[str]] = field(default_factory=dict)  # plot -> parts not found
    note: str = ""


def read_report(path: Path | None) -> ReportText:
    """REPORT.md as capped plain text, with the parts (expected/observed/explanation) not found per plot."""
    if path is None:
        return ReportText("", {}, "REPORT.md is missing")
    raw = path.read_bytes()[:REPORT_BYTES]
    text = raw.decode("utf-8", errors="replace").lstrip("\ufeff")
    text = "".join(c for c in text if c in "\n\t" or (c.isprintable() and c not in "\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069"))
    note = ""
    if len(text) > REPORT_CHARS:
        text, note = text[:REPORT_CHARS], f"shortened to {REPORT_CHARS} characters"
    if not text.strip():
        return ReportText("", {}, "REPORT.md is empty")
    return ReportText(text, missing_parts(text), note)


def missing_parts(text: str) -> dict[str, list[str]]:
    """Per plot, the parts the text does not seem to have (a heuristic: a flag for the tutor, not a grade).

    The text is cut at Markdown headings; a section belongs to a plot when its heading (or, without
    headings, its paragraph) names it. Without any plot-specific section the whole text counts for both.
    """
    sections = re.split(r"(?m)^(?=#{1,6}\s)", text)
    missing = {}
    for plot, words in PLOT_WORDS.items():
        mine = [s for s in sections if re.search(words, s.split("\n", 1)[0], re.I)]
        if not mine:
            mine = [p for p in re.split(r"\n\s*\n", text) if re.search(words, p, re.I)] or [text]
        body = "\n".join(mine)
        absent = [part for part, pattern in PARTS.items() if not re.search(pattern, body, re.I)]
        if absent:
            missing[plot] = absent
    return missing
