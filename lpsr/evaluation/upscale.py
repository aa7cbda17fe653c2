"""`lpsr upscale`: super-resolve plate photos (or the plate of a CCPD frame) with a model.

Grey, RGBA, palette and 16-bit inputs are converted to 8-bit RGB (16-bit values scaled by the
bit depth). Every output is a PNG, written atomically. Outputs that would overwrite an input
or each other are refused before anything is written; two inputs of one name (a.jpg, a.png)
are written as a.jpg.png and a.png.png. A file that cannot be read, is empty, is too large (a
decompression bomb included), whose CCPD plate cannot be cut, or whose output cannot be
written gets a one-line error on stderr naming it, and the rest of a folder still runs.
"""

from __future__ import annotations

import io
import sys
from collections import Counter
from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

from lpsr.data.ccpd import CCPDNameError, parse_ccpd_name
from lpsr.data.plates import IMAGE_SUFFIXES, PlateError, PlateProtocol, cut_plate
from lpsr.evaluation.evaluate import load_model
from lpsr.evaluation.onnx_model import onnx_super_resolve
from lpsr.files import write_atomic
from lpsr.inference import super_resolve

MAX_INPUT_SIDE = 2048  # an LR side above this would give an SR image of over 16k px at x8
# Released models (lpsr release) ship in the repository's models/ folder, found by name.
RELEASED_MODELS = Path(__file__).resolve().parents[2] / "models"
DEFAULT_MODEL = "lpsr-x8-ccpd-mini"


class Upscaler:
    """A loaded model: `upscale(image)` takes a PIL image or an HxWx3 uint8 array (grey and RGBA
    PIL images are converted to RGB) and returns the x`scale` image as the same kind."""

    def __init__(self, name: str, scale: int, run):
        self.name, self.scale, self._run = name, scale, run

    def upscale(self, image):
        if isinstance(image, Image.Image):
            return Image.fromarray(self.upscale(np.asarray(image.convert("RGB"))))
        array = np.asarray(image)
        if array.dtype != np.uint8 or array.ndim != 3 or array.shape[2] != 3:
            raise InputError(f"an image array is HxWx3 uint8; got {array.shape} {array.dtype}")
        return self._run([array])[0]

    def __repr__(self) -> str:
        return f"Upscaler({self.name!r}, x{self.scale})"


def released_model(name: str = DEFAULT_MODEL) -> Path:
    """The folder of a released model shipped in models/, by name."""
    folder = RELEASED_MODELS / name
    if not (folder / "model.safetensors").is_file():
        raise FileNotFoundError(
            f"the released model {name} is not at {folder} (it ships in the repository's models/ folder: "
            "install from a clone, or give --model a run folder, a released model folder, a .safetensors or an .onnx file)"
        )
    return folder


def open_model(path_or_name: str | Path | None = None, scale: int = 8, device: str = "cpu") -> Upscaler:
    """An Upscaler from a released model's name (default: the one models/ ships), `bicubic`, a
    run folder, a released model folder, a checkpoint, a .safetensors or an .onnx file (run on
    onnxruntime alone). `lpsr.load_model` is this function."""
    spec = str(path_or_name) if path_or_name is not None else DEFAULT_MODEL
    if spec.endswith(".onnx"):
        return Upscaler(Path(spec).stem, scale, onnx_super_resolve(spec, scale))
    if spec == DEFAULT_MODEL or (not Path(spec).exists() and (RELEASED_MODELS / spec).is_dir()):
        spec = released_model(spec)
    model, name = load_model(spec, scale, device)
    return Upscaler(name, scale, lambda images: super_resolve(model, images, device))


class InputError(ValueError):
    """An input image that cannot be upscaled, or an output that would lose data."""


def read_image(path: Path) -> np.ndarray:
    """An image file as HxWx3 uint8 RGB (grey, RGBA, palette and 16-bit converted)."""
    try:
        with Image.open(path) as image:
            image.load()
            if image.mode.startswith("I"):  # 16-bit grey ("I" is how some readers open it): scaled by the bit depth
                array = np.clip(np.asarray(image, dtype=np.float64), 0, 65535)
                image = Image.fromarray(np.round(array / 65535 * 255).astype(np.uint8))
            rgb = np.asarray(image.convert("RGB"))
    except (UnidentifiedImageError, Image.DecompressionBombError, OSError, ValueError) as error:
        raise InputError(f"{path}: cannot read as an image ({error})") from None
    if rgb.size == 0:
        raise InputError(f"{path}: the image is empty")
    return rgb


def output_paths(input_path: Path, output: Path) -> tuple[list[Path], list[Path]]:
    """The images to upscale and the PNG each is written to: into `output` as a folder, or for
    one input, `output` itself when it is named .png. An InputError refuses a folder without
    images, an output that is an input (or the input folder), a file where a folder is needed,
    an output named as another image format, and two inputs written to one path."""
    if not input_path.exists():
        raise FileNotFoundError(f"{input_path} does not exist")
    if output.exists() and output.samefile(input_path):
        raise InputError(f"{output} is the input: its images would be overwritten; give another output")
    image_name = output.suffix.lower() in Image.registered_extensions()
    if input_path.is_dir():
        sources = sorted(p for p in input_path.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file())
        if not sources:
            raise InputError(f"{input_path} holds no images ({', '.join(IMAGE_SUFFIXES)})")
        if output.is_file() or (image_name and not output.is_dir()):
            raise InputError(f"{output}: a folder of images is written into a folder, not a file")
        stems = Counter(p.stem for p in sources)
        targets = [output / (f"{p.stem}.png" if stems[p.stem] == 1 else f"{p.name}.png") for p in sources]
    elif output.is_dir() or (not output.exists() and not image_name):
        sources, targets = [input_path], [output / f"{input_path.stem}.png"]
    elif output.suffix.lower() == ".png":
        sources, targets = [input_path], [output]
    else:
        raise InputError(f"{output}: the output is a PNG image; name it .png or give a folder")
    for source, target in zip(sources, targets):
        if target.exists() and target.samefile(source):
            raise InputError(f"{target} is an input: it would be overwritten; give another output")
    shared = [target for target, count in Counter(targets).items() if count > 1]
    if shared:
        raise InputError(f"{shared[0]}: several inputs would be written there; rename one of them")
    return sources, targets


def upscale_paths(
    input_path: str | Path,
    output: str | Path,
    model_spec: str | None = None,
    scale: int = 8,
    ccpd_frame: bool = False,
    ocr: bool = False,
) -> list[str]:
    """Upscale a file or every image in a folder; return the error lines (also printed on stderr).
    `model_spec`: what `open_model` takes (default: the released model). With `ocr`, also print
    what PaddleOCR reads on the input and on the output."""
    sources, targets = output_paths(Path(input_path), Path(output))
    model = open_model(model_spec, scale)
    reader = None
    if ocr:
        from lpsr.evaluation.ocr import PlateReader

        reader = PlateReader()
    failures = []
    for source, target in zip(sources, targets):
        try:
            image, sr = upscale_file(model, source, target, scale, ccpd_frame)
        except (InputError, CCPDNameError, PlateError) as error:
            failures.append(str(error))
            print(f"lpsr upscale: error: {error}", file=sys.stderr)
            continue
        print(f"{source} -> {target} ({image.shape[1]}x{image.shape[0]} -> {sr.shape[1]}x{sr.shape[0]})")
        if reader is not None:
            (before, conf_before), (after, conf_after) = reader.read([image, sr])
            print(f"  OCR before: {before} ({conf_before:.3f})  after: {after} ({conf_after:.3f})")
    return failures


def upscale_file(
    model: Upscaler, source: Path, target: Path, scale: int, ccpd_frame: bool
) -> tuple[np.ndarray, np.ndarray]:
    """Super-resolve one image (the plate of a CCPD frame with `ccpd_frame`) into the PNG
    `target`; return the input and the output images."""
    image = read_image(source)
    if ccpd_frame:
        image = cut_plate(image, parse_ccpd_name(source), PlateProtocol(scale=scale))
    if max(image.shape[:2]) > MAX_INPUT_SIDE:
        raise InputError(f"{source}: {image.shape[1]}x{image.shape[0]} is too large (over {MAX_INPUT_SIDE} px a side)")
    sr = model.upscale(image)
    png = io.BytesIO()
    Image.fromarray(sr).save(png, format="PNG")
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        write_atomic({target: png.getvalue()})
    except OSError as error:  # a full disk, a read-only folder
        raise InputError(f"{target}: cannot write it ({error.strerror})") from None
    return image, sr
