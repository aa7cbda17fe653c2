"""`lpsr upscale`: super-resolve plate photos (or the plate of a CCPD frame) with a model.

Grey, RGBA, palette and 16-bit inputs are converted to 8-bit RGB. A file that cannot be
read, is empty, or is too large to upscale gets a one-line error naming it, and the rest of
a folder still runs.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

from lpsr.ccpd import CCPDNameError, parse_ccpd_name
from lpsr.data import IMAGE_SUFFIXES, PlateProtocol, cut_plate
from lpsr.evaluate import load_model
from lpsr.inference import super_resolve

MAX_INPUT_SIDE = 2048  # an LR side above this would give an SR image of over 16k px at x8


class InputError(ValueError):
    """An input image that cannot be upscaled."""


def read_image(path: Path) -> np.ndarray:
    """An image file as HxWx3 uint8 RGB (grey, RGBA, palette and 16-bit converted)."""
    try:
        with Image.open(path) as image:
            image.load()
            if image.mode in ("I;16", "I;16B", "I;16L", "I"):
                array = np.asarray(image, dtype=np.float64)
                peak = 65535.0 if array.max() > 255 else 255.0
                image = Image.fromarray(np.round(array / peak * 255).astype(np.uint8))
            rgb = np.asarray(image.convert("RGB"))
    except (UnidentifiedImageError, OSError, ValueError) as error:
        raise InputError(f"{path}: cannot read as an image ({error})") from None
    if rgb.size == 0:
        raise InputError(f"{path}: the image is empty")
    return rgb


def upscale_paths(input_path: str | Path, output: str | Path, model_spec: str, scale: int = 8, ccpd_frame: bool = False, ocr: bool = False) -> list[str]:
    """Upscale a file or every image in a folder; return the error lines (also printed).
    With `ocr`, also print what PaddleOCR reads on the input and on the output."""
    input_path, output = Path(input_path), Path(output)
    if not input_path.exists():
        raise FileNotFoundError(f"{input_path} does not exist")
    model, _ = load_model(model_spec, scale)
    if input_path.is_dir():
        sources = sorted(p for p in input_path.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
        output.mkdir(parents=True, exist_ok=True)
        targets = [output / f"{p.stem}.png" for p in sources]
    else:
        sources = [input_path]
        targets = [output if output.suffix.lower() == ".png" else output / f"{input_path.stem}.png"]
    reader = None
    if ocr:
        from lpsr.ocr import PlateReader

        reader = PlateReader()
    failures = []
    for source, target in zip(sources, targets):
        try:
            image = read_image(source)
            if ccpd_frame:
                image = cut_plate(image, parse_ccpd_name(source), PlateProtocol(scale=scale))
            if max(image.shape[:2]) > MAX_INPUT_SIDE:
                raise InputError(f"{source}: {image.shape[1]}x{image.shape[0]} is too large (over {MAX_INPUT_SIDE} px a side)")
            (sr,) = super_resolve(model, [image])
            target.parent.mkdir(parents=True, exist_ok=True)
            Image.fromarray(sr).save(target)
            print(f"{source} -> {target} ({image.shape[1]}x{image.shape[0]} -> {sr.shape[1]}x{sr.shape[0]})")
            if reader is not None:
                (before, conf_before), (after, conf_after) = reader.read([image, sr])
                print(f"  OCR before: {before} ({conf_before:.3f})  after: {after} ({conf_after:.3f})")
        except (InputError, CCPDNameError) as error:
            failures.append(str(error))
            print(f"error: {error}")
    return failures
