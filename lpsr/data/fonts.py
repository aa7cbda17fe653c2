"""The CJK font used for plate glyphs and figure labels.

Plate text such as 皖A12345 needs a font with Chinese glyphs. The project takes Noto Sans CJK SC
from the PyPI package `mplfonts` (a declared dependency), so that rendering does not depend on
the fonts installed on the machine.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

FONT_FILE = "NotoSansCJKsc-Regular.otf"
_INSTALL_HINT = "pip install mplfonts==0.0.11"


def cjk_font_path() -> Path:
    """Path of Noto Sans CJK SC as shipped by `mplfonts`; `FileNotFoundError` if it is not installed."""
    spec = importlib.util.find_spec("mplfonts")
    if spec is None or spec.origin is None:
        raise FileNotFoundError(f"the package mplfonts is not installed ({_INSTALL_HINT})")
    path = Path(spec.origin).parent / "fonts" / FONT_FILE
    if not path.is_file():
        raise FileNotFoundError(f"{path} is missing; reinstall the font package ({_INSTALL_HINT})")
    return path


def use_cjk_font() -> str:
    """Make matplotlib draw Chinese text with Noto Sans CJK SC; return the font's family name.

    Registers the font, puts it first in `font.sans-serif` (DejaVu Sans right after it as a
    fallback), selects the sans-serif family and draws minus signs as ASCII hyphen-minus, the
    usual setting with CJK fonts. Calling it again changes nothing.
    """
    from matplotlib import font_manager, rcParams

    path = str(cjk_font_path())
    if not any(entry.fname == path for entry in font_manager.fontManager.ttflist):
        font_manager.fontManager.addfont(path)
    name = font_manager.FontProperties(fname=path).get_name()
    others = [family for family in rcParams["font.sans-serif"] if family not in (name, "DejaVu Sans")]
    rcParams["font.sans-serif"] = [name, "DejaVu Sans", *others]
    rcParams["font.family"] = ["sans-serif"]
    rcParams["axes.unicode_minus"] = False
    return name
