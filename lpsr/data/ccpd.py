"""CCPD file names: the annotation is the name.

A CCPD2019 / CCPD2020 (green plates) frame is named

    025-95_113-154&383_386&473-386&473_177&454_154&383_363&402-0_0_22_27_27_33_16-37-15.jpg
    area-tiltH_tiltV-bboxLT_bboxRB-4 vertices (RB, LB, LT, RT)-plate indices-brightness-blurriness

The plate indices decode with CCPD's tables: the first is the province, the second an
alphabet letter, the rest letters-and-digits. Blue plates have 7 characters, green
new-energy plates (CCPD2020) 8.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

PROVINCES = list("皖沪津渝冀晋蒙辽吉黑苏浙京闽赣鲁豫鄂湘粤桂琼川贵云藏陕甘青宁新警学") + ["O"]
ALPHABETS = list("ABCDEFGHJKLMNPQRSTUVWXYZ") + ["O"]
ADS = list("ABCDEFGHJKLMNPQRSTUVWXYZ0123456789") + ["O"]


class CCPDNameError(ValueError):
    """A file name that is not a CCPD annotation."""


@dataclass(frozen=True)
class CCPDAnnotation:
    """What a CCPD file name says about its frame."""

    name: str
    area: int
    tilt: tuple[int, int]
    bbox: tuple[int, int, int, int]  # x1, y1, x2, y2
    vertices: tuple[tuple[int, int], ...]  # RB, LB, LT, RT as in the file name
    indices: tuple[int, ...]
    brightness: int
    blurriness: int

    @property
    def text(self) -> str:
        return decode_plate(self.indices)

    @property
    def green(self) -> bool:
        """Green new-energy plates (CCPD2020) have 8 characters."""
        return len(self.indices) == 8


def decode_plate(indices) -> str:
    """Plate text from CCPD's character indices (7 or 8 of them)."""
    indices = list(indices)
    if len(indices) not in (7, 8):
        raise CCPDNameError(f"a plate has 7 or 8 characters, got {len(indices)} indices")
    tables = [PROVINCES, ALPHABETS] + [ADS] * (len(indices) - 2)
    chars = []
    for position, (index, table) in enumerate(zip(indices, tables)):
        if not 0 <= index < len(table):
            raise CCPDNameError(f"character {position}: index {index} is outside 0..{len(table) - 1}")
        chars.append(table[index])
    return "".join(chars)


def encode_plate(text: str) -> tuple[int, ...]:
    """CCPD's indices for a plate text; the inverse of `decode_plate`."""
    if len(text) not in (7, 8):
        raise CCPDNameError(f"a plate has 7 or 8 characters, got {text!r}")
    tables = [PROVINCES, ALPHABETS] + [ADS] * (len(text) - 2)
    try:
        return tuple(table.index(char) for char, table in zip(text, tables))
    except ValueError as error:
        raise CCPDNameError(f"{text!r} holds a character CCPD cannot encode") from error


def _point(field: str) -> tuple[int, int]:
    x, y = field.split("&")
    return int(x), int(y)


def parse_ccpd_name(name: str | Path) -> CCPDAnnotation:
    """Parse a CCPD file name (a path or a bare name); raise `CCPDNameError` if it is not one."""
    stem = Path(name).stem
    fields = stem.split("-")
    if len(fields) != 7:
        raise CCPDNameError(f"{Path(name).name}: expected 7 '-'-separated fields, got {len(fields)}")
    try:
        area = int(fields[0])
        tilt = tuple(int(v) for v in fields[1].split("_"))
        bbox = tuple(_point(p) for p in fields[2].split("_"))
        vertices = tuple(_point(p) for p in fields[3].split("_"))
        indices = tuple(int(v) for v in fields[4].split("_"))
        brightness, blurriness = int(fields[5]), int(fields[6])
    except ValueError as error:
        raise CCPDNameError(f"{Path(name).name}: a field is not a number ({error})") from None
    if len(tilt) != 2 or len(bbox) != 2 or len(vertices) != 4:
        raise CCPDNameError(f"{Path(name).name}: needs 2 tilts, 2 bbox corners and 4 vertices")
    (x1, y1), (x2, y2) = bbox
    if x2 <= x1 or y2 <= y1:
        raise CCPDNameError(f"{Path(name).name}: empty bounding box {bbox}")
    try:
        decode_plate(indices)
    except CCPDNameError as error:
        raise CCPDNameError(f"{Path(name).name}: {error}") from None
    return CCPDAnnotation(
        name=Path(name).name,
        area=area,
        tilt=tilt,
        bbox=(x1, y1, x2, y2),
        vertices=vertices,
        indices=indices,
        brightness=brightness,
        blurriness=blurriness,
    )


def ccpd_name(
    vertices,
    indices,
    *,
    area: int = 0,
    tilt: tuple[int, int] = (90, 90),
    brightness: int = 100,
    blurriness: int = 0,
    prefix: str = "",
) -> str:
    """A CCPD file name for a frame (used by the synthetic generator); the inverse of `parse_ccpd_name`.

    `vertices` are (RB, LB, LT, RT); the bounding box is theirs. `prefix` is prepended to
    the area field so that names stay unique (CCPD does the same with its leading digits).
    """
    xs = [int(round(x)) for x, _ in vertices]
    ys = [int(round(y)) for _, y in vertices]
    points = "_".join(f"{int(round(x))}&{int(round(y))}" for x, y in vertices)
    bbox = f"{min(xs)}&{min(ys)}_{max(xs)}&{max(ys)}"
    plate = "_".join(str(i) for i in indices)
    return f"{prefix}{area:03d}-{tilt[0]}_{tilt[1]}-{bbox}-{points}-{plate}-{brightness}-{blurriness}.jpg"
