"""Synthetic frames in the CCPD layout, so that one ingestion path serves real and synthetic data.

`write_synthetic_ccpd(root)` writes `root/synthetic/<CCPD file name>.jpg` and
`root/splits/{train,val,test}.txt`, laid out like the real `ccpd-mini` set; the file name is the
annotation and parses with `lpsr.data.ccpd.parse_ccpd_name`.

What is simulated:

- One plate per frame. Blue plates: white text on blue with a white rim, 7 characters (province,
  letter, 5 letters or digits). About 15% green new-energy plates: black text on a light-green
  gradient, 8 characters (province, letter, D or F, 5 digits), as in CCPD2020.
- Glyphs are Noto Sans CJK SC (`lpsr.data.fonts`), squeezed into the character cells of the standard
  plate (GA 36-2018: 440x140 mm blue, 480x140 mm green, 90 mm high characters, separator dot
  after the 2nd character). The plate is drawn at 1 px per mm, then downscaled to a native width of
  140-300 px.
- Pose: the flat plate is rotated in 3D (yaw and pitch up to 15 degrees, roll up to 8) and
  projected by a pinhole camera to a random position in the frame.
- Background: a vertical gradient, a few rectangles, and a car front (body, grille, headlights,
  bumper) around the plate, in neutral or warm colours. No car is blue or green, so the plate is
  the only blue or green object in a frame.
- Capture: a global brightness gain (0.55-1.35), Gaussian blur (sigma 0.5-2) on half of the
  frames, Gaussian noise (sigma 2, or 2-8 on half of the frames), JPEG quality 95.

The file name holds what real CCPD names hold: the four vertices are where the plate's corners
land (RB, LB, LT, RT, rounded to pixels), the bounding box is theirs, the area is the bounding box
in per mille of the frame, the tilts are 90 + yaw and 90 + pitch in degrees, the brightness is
100 x gain and the blurriness 10 x blur sigma. A zero-padded frame counter is prepended to the
area field to keep names unique, as CCPD's own leading digits do.

Not simulated: dirt, wear, screws, plate holders and frames; shadows, glare, night lighting and
motion blur; lens distortion; other plate kinds (yellow, police, two-row); several plates per
frame; real cars and streets. Plate texts are uniform over provinces, unlike CCPD (mostly 皖).
"""

from __future__ import annotations

import functools
import json
import math
from pathlib import Path
from statistics import NormalDist

import cv2
import numpy as np
from PIL import Image, ImageDraw, ImageFont

from .ccpd import ALPHABETS, PROVINCES, ccpd_name, encode_plate
from .fonts import cjk_font_path

GENERATOR_VERSION = 1  # recorded in synthetic.json; bump when frames change for the same arguments
GREEN_FRACTION = 0.15
SPLITS = ("train", "val", "test")
MIN_FRAME_SIZE = (400, 300)  # width, height: room for the largest plate at any pose

_PROVINCES = [p for p in PROVINCES if p not in ("警", "学", "O")]  # civil plates only
_LETTERS = [a for a in ALPHABETS if a != "O"]  # "O" is CCPD's placeholder, not a letter
_DIGITS = list("0123456789")

# Plate layouts in mm (= px at drawing scale): size, character cell widths, gaps between cells.
_BLUE = {"size": (440, 140), "cells": [45] * 7, "gaps": [12, 34, 12, 12, 12, 12]}
_GREEN = {"size": (480, 140), "cells": [45] + [43] * 7, "gaps": [9, 49, 9, 9, 9, 9, 9]}
_CHAR_HEIGHT, _CHAR_TOP = 90, 25
_BLUE_RGB = (20, 70, 190)
_GREEN_TOP_RGB, _GREEN_BOTTOM_RGB = (195, 235, 200), (70, 190, 100)
# Noise levels: the standard normal at the centres of 256 equal-probability bins.
_STANDARD_NORMAL_QUANTILES = np.array([NormalDist().inv_cdf((k + 0.5) / 256) for k in range(256)])
# Car colours (RGB): white, silver, grey, black, red, maroon, beige, brown.
_CAR_RGB = [
    (225, 225, 220),
    (170, 172, 175),
    (110, 110, 112),
    (30, 30, 32),
    (170, 30, 30),
    (100, 25, 30),
    (200, 185, 150),
    (90, 65, 45),
]


def write_synthetic_ccpd(
    root: str | Path,
    n_frames: int = 600,
    seed: int = 0,
    split_fractions: tuple[float, float, float] = (0.76, 0.08, 0.16),
    frame_size: tuple[int, int] = (480, 640),
) -> Path:
    """Write `n_frames` synthetic CCPD frames of `frame_size` (width, height) and train/val/test
    splits (by plate text) under `root`; return `root`.

    The same arguments give byte-identical files. If `root` already holds a complete set written
    with the same arguments (recorded in `root/synthetic.json`), nothing is rewritten; otherwise
    any frames in `root/synthetic` are replaced.
    """
    _check_arguments(n_frames, split_fractions, frame_size)
    root = Path(root)
    config = {
        "generator": GENERATOR_VERSION,
        "n_frames": int(n_frames),
        "seed": int(seed),
        "split_fractions": [float(f) for f in split_fractions],
        "frame_size": [int(s) for s in frame_size],
    }
    frame_size = tuple(config["frame_size"])
    marker = root / "synthetic.json"
    if _is_complete(root, config):
        return root
    marker.unlink(missing_ok=True)
    frames_dir = root / "synthetic"
    frames_dir.mkdir(parents=True, exist_ok=True)
    for old in frames_dir.glob("*.jpg"):
        old.unlink()

    rng = np.random.default_rng(seed)
    digits = max(5, len(str(n_frames - 1)))
    seen, paths = set(), []
    for i in range(n_frames):
        text = _random_plate(rng)
        while text in seen:  # one frame per plate text, so that splitting frames splits texts
            text = _random_plate(rng)
        seen.add(text)
        frame, name = _render_frame(rng, text, frame_size, prefix=f"{i:0{digits}d}")
        Image.fromarray(frame).save(frames_dir / name, quality=95)
        paths.append(f"synthetic/{name}")

    (root / "splits").mkdir(exist_ok=True)
    bounds = np.round(np.cumsum(split_fractions) * n_frames).astype(int)
    for split, start, stop in zip(SPLITS, [0, *bounds[:2]], [*bounds[:2], n_frames]):
        (root / "splits" / f"{split}.txt").write_text("".join(p + "\n" for p in paths[start:stop]))
    marker.write_text(json.dumps(config, indent=2) + "\n")
    return root


def _check_arguments(n_frames, split_fractions, frame_size) -> None:
    if not isinstance(n_frames, (int, np.integer)) or n_frames < 10:
        raise ValueError(f"n_frames must be an integer of at least 10, got {n_frames!r}")
    fractions = list(split_fractions)
    if len(fractions) != 3 or min(fractions) < 0 or not math.isclose(sum(fractions), 1.0, abs_tol=1e-6):
        raise ValueError(
            f"split_fractions must be 3 non-negative numbers (train, val, test) summing to 1, got {split_fractions!r}"
        )
    width, height = frame_size
    if width < MIN_FRAME_SIZE[0] or height < MIN_FRAME_SIZE[1]:
        raise ValueError(f"frame_size (width, height) must be at least {MIN_FRAME_SIZE}, got {frame_size!r}")


def _is_complete(root: Path, config: dict) -> bool:
    marker = root / "synthetic.json"
    try:
        if json.loads(marker.read_text()) != config:
            return False
    except (OSError, ValueError):  # no marker, or a damaged one
        return False
    split_files = [root / "splits" / f"{split}.txt" for split in SPLITS]
    if not all(f.is_file() for f in split_files):
        return False
    paths = [line for f in split_files for line in f.read_text().splitlines()]
    return len(paths) == config["n_frames"] and all((root / p).is_file() for p in paths)


def _random_plate(rng) -> str:
    """A blue plate (province, letter, 5 letters or digits) or a green one (province, letter, D or F,
    5 digits)."""
    head = str(rng.choice(_PROVINCES)) + str(rng.choice(_LETTERS))
    if rng.random() < GREEN_FRACTION:
        return head + str(rng.choice(["D", "F"])) + "".join(rng.choice(_DIGITS, 5))
    return head + "".join(str(rng.choice(_DIGITS if rng.random() < 0.6 else _LETTERS)) for _ in range(5))


@functools.lru_cache(maxsize=None)
def _font() -> ImageFont.FreeTypeFont:
    return ImageFont.truetype(str(cjk_font_path()), 150)


@functools.lru_cache(maxsize=None)
def _glyph(char: str, cell_width: int) -> np.ndarray:
    """Coverage (0..1) of one character, `_CHAR_HEIGHT` high and at most `cell_width` wide."""
    canvas = Image.new("L", (256, 256))
    ImageDraw.Draw(canvas).text((128, 128), char, fill=255, font=_font(), anchor="mm")
    ink = canvas.crop(canvas.getbbox())
    # Chinese characters fill their cell, as on real plates; letters and digits keep their aspect.
    width = cell_width if char in PROVINCES else min(cell_width, round(_CHAR_HEIGHT * ink.width / ink.height))
    return np.asarray(ink.resize((width, _CHAR_HEIGHT), Image.LANCZOS), np.float32) / 255


def _render_plate(rng, text: str) -> np.ndarray:
    """The flat plate at 1 px per mm, uint8 RGB."""
    green = len(text) == 8
    layout = _GREEN if green else _BLUE
    width, height = layout["size"]
    tint = rng.normal(0, 8, 3)  # plates differ a little in colour
    if green:
        t = np.linspace(0, 1, height)[:, None, None]
        top, bottom = np.clip(_GREEN_TOP_RGB + tint, 0, 255), np.clip(_GREEN_BOTTOM_RGB + tint, 0, 255)
        column = (1 - t) * top + t * bottom
        plate = np.repeat(column.astype(np.float32), width, axis=1)
        ink = (20, 20, 20)
    else:
        plate = np.full((height, width, 3), np.clip(_BLUE_RGB + tint, 0, 255), np.float32)
        cv2.rectangle(plate, (4, 4), (width - 5, height - 5), (235, 235, 235), 3, cv2.LINE_AA)
        ink = (240, 240, 240)

    coverage = np.zeros((height, width), np.float32)
    x = (width - sum(layout["cells"]) - sum(layout["gaps"])) // 2
    for position, (char, cell) in enumerate(zip(text, layout["cells"])):
        glyph = _glyph(char, cell)
        left = x + (cell - glyph.shape[1]) // 2
        coverage[_CHAR_TOP : _CHAR_TOP + _CHAR_HEIGHT, left : left + glyph.shape[1]] = glyph
        x += cell
        if position < len(layout["gaps"]):
            if position == 1:  # separator dot between the issuing office and the serial
                cv2.circle(coverage, (x + layout["gaps"][1] // 2, height // 2), 5, 1.0, -1, cv2.LINE_AA)
            x += layout["gaps"][position]
    plate = cv2.blendLinear(np.full_like(plate, ink), plate, coverage, 1 - coverage)
    return cv2.convertScaleAbs(plate)


def _project(width: int, height: int, yaw: float, pitch: float, roll: float, focal: float) -> np.ndarray:
    """Plate corners RB, LB, LT, RT relative to the plate centre, rotated in 3D and projected by a
    pinhole camera."""
    a, b, c = np.radians([pitch, yaw, roll])
    rx = np.array([[1, 0, 0], [0, np.cos(a), -np.sin(a)], [0, np.sin(a), np.cos(a)]])
    ry = np.array([[np.cos(b), 0, np.sin(b)], [0, 1, 0], [-np.sin(b), 0, np.cos(b)]])
    rz = np.array([[np.cos(c), -np.sin(c), 0], [np.sin(c), np.cos(c), 0], [0, 0, 1]])
    x, y = width / 2, height / 2
    corners = np.array([[x, y, 0], [-x, y, 0], [-x, -y, 0], [x, -y, 0]])
    rotated = corners @ (rz @ ry @ rx).T
    return focal * rotated[:, :2] / (focal + rotated[:, 2:])


def _car_colour(rng) -> tuple[float, float, float]:
    base = np.array(_CAR_RGB[rng.integers(len(_CAR_RGB))], float)
    return tuple(np.clip(base * rng.uniform(0.8, 1.2) + rng.normal(0, 4, 3), 0, 255))


def _background(rng, frame_size, centre, plate_w: float, plate_h: float) -> np.ndarray:
    """Gradient, a few rectangles, and a car front around the plate at `centre`; uint8 RGB."""
    width, height = frame_size
    t = np.linspace(0, 1, height)[:, None, None]
    top, bottom = np.array(_car_colour(rng)), np.array(_car_colour(rng))
    frame = np.repeat(((1 - t) * top + t * bottom).astype(np.uint8), width, axis=1)
    for _ in range(rng.integers(2, 5)):  # other cars, walls, kerbs
        x, y = int(rng.integers(0, width)), int(rng.integers(0, height))
        size = rng.uniform(0.1, 0.6) * width, rng.uniform(0.1, 0.5) * height
        cv2.rectangle(frame, (x, y), (int(x + size[0]), int(y + size[1])), _car_colour(rng), -1)

    cx, cy = centre
    w, h = plate_w, plate_h
    body_half = rng.uniform(1.6, 2.4) * w
    body_top, body_bottom = cy - rng.uniform(3, 4.5) * h, cy + rng.uniform(1.5, 3) * h
    grille_half, grille_top = rng.uniform(0.7, 1.1) * w, cy - rng.uniform(1.8, 2.6) * h
    bumper_y = cy + rng.uniform(0.9, 1.3) * h
    shapes = [  # (x1, y1, x2, y2, colour)
        (cx - body_half, body_top, cx + body_half, body_bottom, _car_colour(rng)),
        (cx - grille_half, grille_top, cx + grille_half, cy - 0.8 * h, (40, 40, 42)),
        (cx - 1.8 * w, grille_top, cx - 1.2 * w, grille_top + 0.6 * h, (235, 235, 225)),
        (cx + 1.2 * w, grille_top, cx + 1.8 * w, grille_top + 0.6 * h, (235, 235, 225)),
        (cx - body_half, bumper_y, cx + body_half, bumper_y + 0.2 * h, (25, 25, 25)),
    ]
    for x1, y1, x2, y2, colour in shapes:
        cv2.rectangle(frame, (int(x1), int(y1)), (int(x2), int(y2)), colour, -1)
    return frame


def _render_frame(rng, text: str, frame_size, prefix: str) -> tuple[np.ndarray, str]:
    """One uint8 RGB frame holding the plate `text`, and its CCPD file name."""
    width, height = frame_size
    flat = _render_plate(rng, text)
    native_w = int(rng.integers(140, 301))
    native_h = round(native_w * flat.shape[0] / flat.shape[1])
    plate = cv2.resize(flat, (native_w, native_h), interpolation=cv2.INTER_AREA)

    yaw, pitch, roll = rng.uniform(-15, 15), rng.uniform(-15, 15), rng.uniform(-8, 8)
    corners = _project(native_w, native_h, yaw, pitch, roll, focal=1.2 * max(width, height))
    margin = 2
    low = margin - corners.min(axis=0)
    high = np.array([width, height]) - 1 - margin - corners.max(axis=0)
    centre = rng.uniform(low, high)
    vertices = corners + centre  # RB, LB, LT, RT in the frame
    span = corners.max(axis=0) - corners.min(axis=0)
    frame = _background(rng, frame_size, centre, span[0], span[1])

    # Warp the plate into the frame region around it only. Pixel centres are at integers, so the
    # plate image's outer corners are at -0.5 and size - 0.5.
    x0, y0 = np.floor(vertices.min(axis=0)).astype(int) - 1
    x1, y1 = np.ceil(vertices.max(axis=0)).astype(int) + 2
    r, b = native_w - 0.5, native_h - 0.5
    source = np.float32([[r, b], [-0.5, b], [-0.5, -0.5], [r, -0.5]])
    homography = cv2.getPerspectiveTransform(source, (vertices - (x0, y0)).astype(np.float32))
    size = (int(x1 - x0), int(y1 - y0))
    warped = cv2.warpPerspective(plate, homography, size, flags=cv2.INTER_LINEAR)
    coverage = np.ones(plate.shape[:2], np.float32)
    alpha = cv2.warpPerspective(coverage, homography, size, flags=cv2.INTER_LINEAR)
    region = frame[y0:y1, x0:x1]
    region[:] = cv2.blendLinear(warped, region, alpha, 1 - alpha)

    gain = rng.uniform(0.55, 1.35)
    frame = cv2.convertScaleAbs(frame, alpha=gain)
    blur = rng.uniform(0.5, 2.0) if rng.random() < 0.5 else 0.0
    if blur:
        frame = cv2.GaussianBlur(frame, (0, 0), blur)
    noise = rng.uniform(2, 8) if rng.random() < 0.5 else 2.0
    # Gaussian noise (cut at 2.9 sigma) by inverse CDF from random bytes: far faster than drawing
    # a normal per pixel. The noise is stored offset by 128 in uint8 and the offset taken off again.
    levels = np.clip(128 + noise * _STANDARD_NORMAL_QUANTILES, 0, 255).round().astype(np.uint8)
    uniform = np.frombuffer(rng.bytes(frame.size), np.uint8).reshape(frame.shape)
    frame = cv2.addWeighted(frame, 1.0, cv2.LUT(uniform, levels), 1.0, -128)

    points = np.round(vertices).astype(int)
    (px1, py1), (px2, py2) = points.min(axis=0), points.max(axis=0)
    name = ccpd_name(
        [tuple(p) for p in points],
        encode_plate(text),
        area=round(1000 * (px2 - px1) * (py2 - py1) / (width * height)),
        tilt=(90 + round(yaw), 90 + round(pitch)),
        brightness=round(100 * gain),
        blurriness=round(10 * blur),
        prefix=prefix,
    )
    return frame, name
