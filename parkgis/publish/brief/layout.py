"""Page grid, fonts and text helpers for the printed brief (matplotlib, Agg/PDF backends).

Every brief is one A4 portrait page laid out on a millimetre grid (:data:`GRID`). Text is set
in Noto Sans CJK SC — Chinese and Latin from one family, so both scripts share a baseline and
weight — embedded as a subset (``pdf.fonttype`` 42: real text, selectable and extractable,
never outlines). Only the object-oriented matplotlib API is used (no ``pyplot``), so briefs
can be drawn in API worker threads and in deck worker processes alike.
"""

from __future__ import annotations

import functools
import os
import subprocess
import threading
import unicodedata
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")  # no display, ever: servers, workers, CI

from matplotlib import font_manager  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

from parkgis.errors import ParkGISError  # noqa: E402

MM = 1 / 25.4  # inch per millimetre
PAGE_W, PAGE_H = 210.0, 297.0
MARGIN = 12.0

INK = "#1b2733"  # body text
MUTED = "#5f6b76"  # secondary text (English under Chinese, notes)
RULE = "#c9d1d9"  # hairlines
ACCENT = "#0b4f7c"  # headings, header band
BAND = "#f2f5f8"  # table header fill


@dataclass(frozen=True)
class Box:
    """A rectangle on the page in millimetres from the bottom-left corner."""

    x: float
    y: float
    w: float
    h: float

    @property
    def top(self) -> float:
        return self.y + self.h

    @property
    def right(self) -> float:
        return self.x + self.w

    def frac(self) -> tuple[float, float, float, float]:
        """(left, bottom, width, height) in figure fractions, for ``fig.add_axes``."""
        return (self.x / PAGE_W, self.y / PAGE_H, self.w / PAGE_W, self.h / PAGE_H)


# The grid: header band, main map with the locator and park overview beside it, three
# columns of facts, the fit band (with a project: the maps give up height for it) and the
# footer.
HEADER = Box(MARGIN, 266.0, PAGE_W - 2 * MARGIN, 23.0)
MAP_TOP = 257.0
COL_GAP = 5.0
COL_W = (PAGE_W - 2 * MARGIN - 2 * COL_GAP) / 3
FOOTER = Box(MARGIN, 10.0, PAGE_W - 2 * MARGIN, 20.0)
MAIN_W = 128.0
SIDE_X = MARGIN + MAIN_W + 4.0
SIDE_W = PAGE_W - MARGIN - SIDE_X


@dataclass(frozen=True)
class Grid:
    main: Box
    locator: Box
    overview: Box
    columns_top: float


def grid(with_fit: bool = False) -> Grid:
    """The page grid; with a project the maps are 28 mm shorter to make room for the fit."""
    h = 90.0 if with_fit else 118.0
    main = Box(MARGIN, MAP_TOP - h, MAIN_W, h)
    side_h = (h - 6.0) / 2
    return Grid(
        main,
        Box(SIDE_X, MAP_TOP - side_h, SIDE_W, side_h),
        Box(SIDE_X, main.y, SIDE_W, side_h),
        main.y - 6.5,
    )


def main_aspect(with_fit: bool = False) -> float:
    g = grid(with_fit).main
    return g.w / g.h


FONT_FAMILY = "Noto Sans SC Brief"  # our subset of Noto Sans CJK SC (see below)
FALLBACK_FAMILY = "Noto Sans CJK SC"  # the full font, for characters outside the subset
FONT_SOURCES = {
    "Regular": "/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc",
    "Bold": "/usr/share/fonts/opentype/noto/NotoSansCJK-Bold.ttc",
}
SC_INDEX = 2  # Noto Sans CJK TTC members: JP, KR, SC, TC, HK
FONT_VERSION = 2  # 2: TrueType outlines (see _to_truetype)


class FontMissing(ParkGISError):
    status = 500
    title_zh = "缺少中文字体"
    title_en = "CJK font missing"


def _fc_match(pattern: str) -> str | None:
    try:
        out = subprocess.run(
            ["fc-match", "-f", "%{file}", pattern],
            capture_output=True,
            text=True,
            timeout=10,
            check=False,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None
    return out or None


def _source(style: str) -> str | None:
    f = FONT_SOURCES[style]
    if Path(f).is_file():
        return f
    f2 = _fc_match(f"Noto Sans CJK SC:style={style}")
    return f2 if f2 and "NotoSansCJK" in f2.replace(" ", "") and f2.endswith(".ttc") else None


def subset_codepoints() -> list[int]:
    """What the brief font keeps: Latin, punctuation, symbols and GB 2312's 6,763 hanzi.

    GB 2312 covers the characters of everyday Chinese (names of places, firms, roads); a
    rarer one is drawn from the full Noto font by matplotlib's per-glyph fallback.
    """
    cps = set(range(0x20, 0x7F)) | set(range(0xA0, 0x250)) | set(range(0x370, 0x400))
    for lo, hi in ((0x2000, 0x2BFF), (0x3000, 0x303F), (0xFF00, 0xFFEF), (0x3200, 0x33FF)):
        cps |= set(range(lo, hi + 1))
    for b1 in range(0xA1, 0xF8):
        for b2 in range(0xA1, 0xFF):
            try:
                cps.add(ord(bytes((b1, b2)).decode("gb2312")))
            except UnicodeDecodeError:
                continue
    return sorted(cps)


def _font_cache_dir() -> Path:
    # The font cache is a build artefact shared by every app in the process (``make setup``
    # writes it), so it lives at the shipped data dir rather than a per-app setting.
    from parkgis.settings import StorageSettings

    return StorageSettings().fonts_dir


def build_brief_font(style: str, dst: Path) -> Path:
    """Write our subset of Noto Sans CJK SC ``style`` to ``dst`` (once; ~20 s).

    Why: matplotlib subsets the embedded font anew for every PDF, and fontTools needs ~1.7 s per
    face to do that on the 65,535-glyph Noto TTC; on this ~8,000-glyph OTF it takes ~0.1 s.
    Kept: outlines, metrics, cmap, kerning-free layout (text is set one glyph at a time).
    Renamed (the SIL OFL asks a modified font to carry its own name).
    """
    from fontTools import subset
    from fontTools.ttLib import TTFont

    src = _source(style)
    if src is None:
        raise FontMissing(
            "Noto Sans CJK SC 未安装 / not installed: apt-get install "
            "fonts-noto-cjk (scripts/install-system-deps.sh)"
        )
    font = TTFont(src, fontNumber=SC_INDEX)
    opts = subset.Options()
    opts.layout_features = []
    opts.drop_tables += ["GSUB", "GPOS", "BASE", "VORG", "vhea", "vmtx", "JSTF"]
    opts.hinting = False
    opts.name_IDs = ["*"]
    opts.name_languages = ["*"]
    opts.notdef_outline = True
    sub = subset.Subsetter(opts)
    sub.populate(unicodes=subset_codepoints())
    sub.subset(font)
    _to_truetype(font)
    ps = f"NotoSansSCBrief-{style}"
    for rec in font["name"].names:
        if rec.nameID in (1, 16):
            rec.string = FONT_FAMILY
        elif rec.nameID in (4,):
            rec.string = f"{FONT_FAMILY} {style}"
        elif rec.nameID in (6, 20):
            rec.string = ps
        elif rec.nameID in (3,):
            rec.string = f"{ps};parkgis-v{FONT_VERSION}"
    dst.parent.mkdir(parents=True, exist_ok=True)
    tmp = dst.with_suffix(f".{os.getpid()}.{threading.get_ident()}.tmp")
    font.save(tmp)
    tmp.replace(dst)  # atomic: parallel workers never read half a font
    return dst


def _to_truetype(font: Any) -> None:
    """Replace the font's cubic CFF outlines with quadratic TrueType ones, in place.

    Why: matplotlib embeds fonts in PDFs as Type 42 (TrueType). A CFF font embedded that way
    is mislabelled — poppler warns "Mismatch between font type and embedded font file" and
    stricter viewers may refuse the glyphs. Converted, the PDF says what it carries.
    The cubic-to-quadratic error bound is 1 font unit (1/1000 em): invisible at any size.
    """
    from fontTools.pens.cu2quPen import Cu2QuPen
    from fontTools.pens.ttGlyphPen import TTGlyphPen
    from fontTools.ttLib import newTable

    order = font.getGlyphOrder()
    glyph_set = font.getGlyphSet()
    glyphs = {}
    for name in order:
        pen = TTGlyphPen(glyph_set)
        # PostScript contours run anticlockwise, TrueType clockwise: reverse while converting.
        glyph_set[name].draw(Cu2QuPen(pen, max_err=1.0, reverse_direction=True))
        glyphs[name] = pen.glyph()
    glyf = newTable("glyf")
    glyf.glyphOrder = order
    glyf.glyphs = glyphs
    font["glyf"] = glyf
    font["loca"] = newTable("loca")
    for tag in ("CFF ", "VORG"):
        if tag in font:
            del font[tag]
    glyf.compile(font)
    hmtx = font["hmtx"]
    for name, g in glyphs.items():  # left side bearings follow the new outlines
        if hasattr(g, "xMin"):
            hmtx[name] = (hmtx[name][0], g.xMin)
    maxp = newTable("maxp")
    maxp.tableVersion = 0x00010000
    for field in (
        "maxZones",
        "maxTwilightPoints",
        "maxStorage",
        "maxFunctionDefs",
        "maxInstructionDefs",
        "maxStackElements",
        "maxSizeOfInstructions",
        "maxComponentElements",
    ):
        setattr(maxp, field, 1 if field == "maxZones" else 0)
    font["maxp"] = maxp
    maxp.compile(font)
    post = font["post"]
    post.formatType = 2.0
    post.extraNames = []
    post.mapping = {}
    post.glyphOrder = order
    font["head"].glyphDataFormat = 0
    font.sfntVersion = "\x00\x01\x00\x00"


_BUILD_LOCK = threading.Lock()


def brief_font_files() -> list[Path]:
    """The cached subset fonts (built on first use; one builder per process at a time, and
    the atomic rename makes concurrent processes safe)."""
    out = []
    with _BUILD_LOCK:
        for style in ("Regular", "Bold"):
            dst = _font_cache_dir() / f"NotoSansSCBrief-{style}.v{FONT_VERSION}.ttf"
            if not dst.is_file():
                build_brief_font(style, dst)
            out.append(dst)
    return out


@functools.cache
def setup_fonts() -> str:
    """Register the brief font with matplotlib once per process; returns the family name.

    Raises
    ------
    FontMissing
        Noto Sans CJK is not installed (Debian: ``fonts-noto-cjk``, in
        ``scripts/install-system-deps.sh``).
    """
    for f in brief_font_files():
        font_manager.fontManager.addfont(str(f))
    for style in ("Regular", "Bold"):
        src = _source(style)
        if src:
            font_manager.fontManager.addfont(src)
    matplotlib.rcParams.update(
        {
            "font.family": [FONT_FAMILY, FALLBACK_FAMILY],
            "pdf.fonttype": 42,  # embed the font (subset) as real text, not Type 3 outlines
            "pdf.compression": 6,
            "axes.unicode_minus": False,  # '-' reads better than U+2212 in parcel codes
            "svg.fonttype": "none",
            # Names come from files and forms: "$x$" must print as typed, never as mathtext.
            "text.parse_math": False,
        }
    )
    return FONT_FAMILY


def new_page() -> Figure:
    """An empty A4 portrait figure (not attached to pyplot)."""
    setup_fonts()
    return Figure(figsize=(PAGE_W * MM, PAGE_H * MM), dpi=72)


def fx(x_mm: float) -> float:
    return x_mm / PAGE_W


def fy(y_mm: float) -> float:
    return y_mm / PAGE_H


def em_width(s: str) -> float:
    """Width of ``s`` in ems: CJK and full-width forms are 1 em, Latin about 0.55."""
    w = 0.0
    for ch in s:
        if unicodedata.east_asian_width(ch) in ("W", "F"):
            w += 1.0
        elif ch in "il.,:;'|!·":
            w += 0.28
        elif ch.isupper() or ch in "mwMW%@":
            w += 0.68
        else:
            w += 0.53
    return w


def text_width_mm(s: str, size_pt: float) -> float:
    return em_width(s) * size_pt * 25.4 / 72


def wrap(s: str, width_mm: float, size_pt: float, max_lines: int = 3) -> list[str]:
    """Break ``s`` into lines no wider than ``width_mm``: at spaces for Latin text, anywhere
    between CJK characters (Chinese has no spaces), never inside a Latin word."""
    if text_width_mm(s, size_pt) <= width_mm:
        return [s]
    tokens: list[str] = []
    buf = ""
    for ch in s:
        if unicodedata.east_asian_width(ch) in ("W", "F"):
            if buf:
                tokens.append(buf)
                buf = ""
            tokens.append(ch)
        elif ch == " ":
            buf += ch
            tokens.append(buf)
            buf = ""
        else:
            buf += ch
    if buf:
        tokens.append(buf)
    lines: list[str] = []
    line = ""
    for t in tokens:
        if line and text_width_mm(line + t.rstrip(), size_pt) > width_mm:
            lines.append(line.rstrip())
            line = t.lstrip() if t.strip() else ""
        else:
            line += t
    if line.strip():
        lines.append(line.rstrip())
    if len(lines) > max_lines:
        lines = lines[:max_lines]
        last = lines[-1]
        while last and text_width_mm(last + "…", size_pt) > width_mm:
            last = last[:-1]
        lines[-1] = last + "…"
    return lines


class Page:
    """Text and rules placed in millimetres on a figure."""

    def __init__(self, fig: Figure) -> None:
        self.fig = fig

    def text(
        self,
        x: float,
        y: float,
        s: str,
        size: float = 7.0,
        *,
        color: str = INK,
        weight: str = "normal",
        ha: str = "left",
        va: str = "baseline",
        **kw: object,
    ) -> None:
        self.fig.text(
            fx(x), fy(y), s, fontsize=size, color=color, fontweight=weight, ha=ha, va=va, **kw
        )

    def rule(self, x0: float, x1: float, y: float, color: str = RULE, lw: float = 0.5) -> None:
        from matplotlib.lines import Line2D

        self.fig.add_artist(
            Line2D(
                [fx(x0), fx(x1)],
                [fy(y), fy(y)],
                color=color,
                linewidth=lw,
                transform=self.fig.transFigure,
            )
        )

    def rect(
        self, box: Box, fc: str, ec: str = "none", lw: float = 0.0, radius: float = 0.0
    ) -> None:
        from matplotlib.patches import FancyBboxPatch, Rectangle

        if radius:
            patch = FancyBboxPatch(
                (fx(box.x), fy(box.y)),
                fx(box.w),
                fy(box.h),
                boxstyle=f"round,pad=0,rounding_size={fx(radius)}",
                fc=fc,
                ec=ec,
                lw=lw,
                transform=self.fig.transFigure,
            )
        else:
            patch = Rectangle(
                (fx(box.x), fy(box.y)),
                fx(box.w),
                fy(box.h),
                fc=fc,
                ec=ec,
                lw=lw,
                transform=self.fig.transFigure,
            )
        self.fig.add_artist(patch)
