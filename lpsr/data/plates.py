"""From CCPD frames to HR/LR plate pairs, cached on disk.

`load_plates(root, split, protocol)` lists a split's frames, parses every file name, cuts
the plate (rectified from its four vertices by a perspective warp at native size, or the
bounding box), crops it to a multiple of the scale (top-left kept), makes its LR
counterpart with `lpsr.data.degradation.downscale`, and caches both as one flat memory-mapped array
each, keyed by the frames and the protocol, so that a second run decodes nothing.

Frames whose names do not parse, whose images do not decode, whose plate corners lie outside
the frame, or whose plate is smaller than two LR pixels a side are skipped and counted; zero
usable plates is an error.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import cv2
import numpy as np
from tqdm.auto import tqdm

from lpsr.config import CROPS, KERNELS, SCALES  # the accepted values, declared with the settings
from lpsr.data.ccpd import CCPDNameError, parse_ccpd_name
from lpsr.data.degradation import downscale

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png")
SPLITS = ("train", "val", "test")
CACHE_VERSION = 2  # 2: frames whose plate corners lie outside the frame are skipped


class DataError(RuntimeError):
    """The data cannot be used as asked (missing root, no usable frames, ...)."""


class PlateError(ValueError):
    """A frame whose annotated plate cannot be cut from it; `reason` is "outside" (a corner lies
    outside the frame) or "too_small" (under two LR pixels a side)."""

    def __init__(self, reason: str, message: str):
        super().__init__(message)
        self.reason = reason


@dataclass(frozen=True)
class PlateProtocol:
    """How HR and LR plates are made from a frame (recorded with every result)."""

    scale: int = 8
    crop: str = "rectified"  # "rectified": perspective warp of the 4 vertices; "bbox": bounding box
    kernel: str = "bicubic"  # LR downscale kernel, see lpsr.data.degradation
    hr_size: str = "native"  # HR = the plate at its native size, cropped to a multiple of scale

    def __post_init__(self):
        if self.scale not in SCALES:
            raise ValueError(f"unsupported scale {self.scale}: the study supports {SCALES}")
        if self.crop not in CROPS:
            raise ValueError(f"unknown crop {self.crop!r}: choose one of {CROPS}")
        if self.kernel not in KERNELS:
            raise ValueError(f"unknown kernel {self.kernel!r}: choose one of {KERNELS}")


@dataclass
class PlateSet:
    """HR and LR plates of one split, with their source files and texts."""

    hr: list[np.ndarray]
    lr: list[np.ndarray]
    files: list[str]
    texts: list[str]
    protocol: PlateProtocol
    summary: dict = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.hr)

    def sizes(self) -> np.ndarray:
        """(n, 2) array of HR (width, height)."""
        return np.array([(p.shape[1], p.shape[0]) for p in self.hr], dtype=np.int64).reshape(-1, 2)


def plate_subset(plates: PlateSet, indices) -> PlateSet:
    """The plates at `indices` (in that order), with their files and texts."""
    indices = list(indices)
    return replace(
        plates,
        hr=[plates.hr[i] for i in indices],
        lr=[plates.lr[i] for i in indices],
        files=[plates.files[i] for i in indices],
        texts=[plates.texts[i] for i in indices],
    )


def nested_subset(plates: PlateSet, n: int, seed: int = 0) -> PlateSet:
    """`n` of `plates`, kept in their order: those that rank first when each plate is ranked by a
    hash of `seed` and its file name. For one seed the subset of a smaller `n` lies inside that of
    a larger one, and a plate's rank does not depend on the others, so adding frames to a split
    moves no plate in or out but by its own rank. `n` 0 (or at least the split's size): all."""
    if n <= 0 or n >= len(plates):
        return plates
    rank = sorted(range(len(plates)), key=lambda i: hashlib.sha256(f"{seed}:{plates.files[i]}".encode()).hexdigest())
    subset = plate_subset(plates, sorted(rank[:n]))
    subset.summary = plates.summary | {"subset": {"plates": n, "of": len(plates), "seed": seed}}
    return subset


def default_cache_dir() -> Path:
    return Path(os.environ.get("LPSR_CACHE") or Path.home() / ".cache" / "lpsr").expanduser()


def list_frames(root: str | Path, split: str | None) -> list[Path]:
    """Frames of a split: `splits/<split>.txt` if present, else a `<split>/` folder (CCPD2020),
    else every image under root. `split=None` (or "all") takes every image under root."""
    root = Path(root)
    if not root.is_dir():
        raise DataError(f"CCPD root {root} does not exist or is not a folder")
    if split not in (None, "all"):
        if split not in SPLITS:
            raise DataError(f"unknown split {split!r}: choose one of {SPLITS} or 'all'")
        listing = root / "splits" / f"{split}.txt"
        if listing.is_file():
            lines = [line.strip() for line in listing.read_text(encoding="utf-8").splitlines()]
            return [root / line for line in lines if line]
        if (root / split).is_dir():
            root = root / split
    return sorted(p for p in root.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file())


def has_split(root: str | Path, split: str) -> bool:
    root = Path(root)
    return (root / "splits" / f"{split}.txt").is_file() or (root / split).is_dir()


def rectify(image: np.ndarray, vertices) -> np.ndarray:
    """Warp the quadrilateral (RB, LB, LT, RT) to an axis-aligned plate at native size."""
    rb, lb, lt, rt = (np.asarray(v, dtype=np.float32) for v in vertices)
    width = max(np.linalg.norm(rt - lt), np.linalg.norm(rb - lb))
    height = max(np.linalg.norm(lb - lt), np.linalg.norm(rb - rt))
    w, h = max(int(round(width)), 1), max(int(round(height)), 1)
    src = np.stack([lt, rt, rb, lb])
    dst = np.array([[0, 0], [w - 1, 0], [w - 1, h - 1], [0, h - 1]], dtype=np.float32)
    matrix = cv2.getPerspectiveTransform(src, dst)
    return cv2.warpPerspective(image, matrix, (w, h), flags=cv2.INTER_CUBIC, borderMode=cv2.BORDER_REPLICATE)


def bbox_crop(image: np.ndarray, bbox) -> np.ndarray:
    x1, y1, x2, y2 = bbox
    h, w = image.shape[:2]
    return image[max(y1, 0) : min(y2, h), max(x1, 0) : min(x2, w)]


def crop_to_multiple(image: np.ndarray, scale: int) -> np.ndarray:
    h, w = image.shape[:2]
    return image[: h - h % scale, : w - w % scale]


def read_rgb(path: str | Path) -> np.ndarray | None:
    """An image as HxWx3 uint8 RGB, or None if it does not decode (OpenCV refuses images of
    over 2^30 pixels)."""
    data = np.fromfile(str(path), dtype=np.uint8)
    try:
        image = cv2.imdecode(data, cv2.IMREAD_COLOR) if data.size else None
    except cv2.error:
        return None
    return None if image is None else cv2.cvtColor(image, cv2.COLOR_BGR2RGB)


def cut_plate(image: np.ndarray, annotation, protocol: PlateProtocol) -> np.ndarray:
    """The HR plate of a frame under a protocol (cropped to a multiple of the scale). A
    `PlateError` when a corner of the plate lies outside the frame (the warp would invent the
    plate from replicated border pixels, or ask for an image as large as the corners are far)
    or when the plate is under two LR pixels a side."""
    h, w = image.shape[:2]
    (x1, y1, x2, y2) = annotation.bbox
    corners = annotation.vertices if protocol.crop == "rectified" else ((x1, y1), (x2, y2))
    outside = [corner for corner in corners if not (0 <= corner[0] <= w and 0 <= corner[1] <= h)]
    if outside:
        raise PlateError(
            "outside",
            f"{annotation.name}: plate corners {', '.join(f'({x}, {y})' for x, y in outside)} lie outside the {w}x{h} frame",
        )
    plate = rectify(image, annotation.vertices) if protocol.crop == "rectified" else bbox_crop(image, annotation.bbox)
    plate = crop_to_multiple(plate, protocol.scale)
    if min(plate.shape[:2]) < 2 * protocol.scale:
        raise PlateError(
            "too_small",
            f"{annotation.name}: plate {plate.shape[1]}x{plate.shape[0]} is under {2 * protocol.scale} px a side",
        )
    return np.ascontiguousarray(plate)


def _prepare_one(args):
    path, protocol = args
    try:
        annotation = parse_ccpd_name(path)
    except CCPDNameError as error:
        return "bad_name", str(error)
    image = read_rgb(path)
    if image is None:
        return "bad_image", f"{Path(path).name}: does not decode as an image"
    try:
        hr = cut_plate(image, annotation, protocol)
    except PlateError as error:
        return error.reason, str(error)
    return "ok", (hr, downscale(hr, protocol.scale, protocol.kernel), annotation.text)


def _cache_key(root: Path, frames: list[Path], protocol: PlateProtocol) -> str:
    digest = hashlib.sha256()
    digest.update(json.dumps([CACHE_VERSION, str(root.resolve()), asdict(protocol)]).encode())
    hash_frames(digest, root, frames)
    return digest.hexdigest()[:16]


def hash_frames(digest, root: Path, frames: list[Path], prefix: str = "") -> None:
    """Feed a hashlib digest one line per frame, `prefix`, its path under `root` and its size:
    what keys a cache to a frame list (a changed, added or removed frame changes the key)."""
    for path in frames:
        size = path.stat().st_size if path.exists() else -1
        digest.update(f"{prefix}{path.relative_to(root) if path.is_relative_to(root) else path}:{size}\n".encode())


def _ragged_save(folder: Path, name: str, arrays: list[np.ndarray]) -> list[list[int]]:
    """Store arrays as one flat uint8 file; return [offset, h, w] per array."""
    index, offset = [], 0
    flat = np.lib.format.open_memmap(
        folder / f"{name}.npy", mode="w+", dtype=np.uint8, shape=(sum(a.size for a in arrays),)
    )
    for array in arrays:
        flat[offset : offset + array.size] = array.ravel()
        index.append([offset, array.shape[0], array.shape[1]])
        offset += array.size
    flat.flush()
    return index


def _ragged_load(folder: Path, name: str, index) -> list[np.ndarray]:
    flat = np.load(folder / f"{name}.npy", mmap_mode="r")
    return [flat[o : o + h * w * 3].reshape(h, w, 3) for o, h, w in index]


def load_plates(
    root: str | Path,
    split: str | None = "test",
    protocol: PlateProtocol = PlateProtocol(),
    cache_dir: str | Path | None = None,
    workers: int = 2,
    progress: bool = True,
) -> PlateSet:
    """HR/LR plates of a split of a CCPD root, from the cache when it holds them."""
    root = Path(root)
    frames = list_frames(root, split)
    if not frames:
        raise DataError(f"no image files found for split {split!r} under {root}")
    key = _cache_key(root, frames, protocol)
    folder = Path(cache_dir or default_cache_dir()) / "plates" / f"{split or 'all'}-{key}"
    if not (folder / "index.json").is_file():
        _build_cache(root, frames, protocol, folder, workers, progress, split)
    meta = json.loads((folder / "index.json").read_text(encoding="utf-8"))
    plates = PlateSet(
        hr=_ragged_load(folder, "hr", meta["hr"]),
        lr=_ragged_load(folder, "lr", meta["lr"]),
        files=meta["files"],
        texts=meta["texts"],
        protocol=protocol,
        summary=meta["summary"],
    )
    return plates


def _build_cache(root, frames, protocol, folder, workers, progress, split):
    hrs, lrs, files, texts = [], [], [], []
    skipped = {"bad_name": [], "bad_image": [], "outside": [], "too_small": []}
    missing = [p for p in frames if not p.is_file()]
    jobs = [(str(p), protocol) for p in frames if p.is_file()]
    chunk = max(1, len(jobs) // (workers * 16))
    bar = dict(total=len(jobs), desc=f"plates {split or 'all'}", disable=not progress, unit="frame")
    if workers > 1 and len(jobs) > 64:
        with ProcessPoolExecutor(workers) as pool:
            results = list(tqdm(pool.map(_prepare_one, jobs, chunksize=chunk), **bar))
    else:
        results = [_prepare_one(job) for job in tqdm(jobs, **bar)]
    for (path, _), (status, value) in zip(jobs, results):
        if status == "ok":
            hr, lr, text = value
            hrs.append(hr)
            lrs.append(lr)
            texts.append(text)
            files.append(str(Path(path).relative_to(root)) if Path(path).is_relative_to(root) else path)
        else:
            skipped[status].append(value)
    summary = {
        "root": str(root.resolve()),
        "split": split or "all",
        "frames": len(frames),
        "plates": len(hrs),
        "missing": len(missing),
        **{f"skipped_{k}": len(v) for k, v in skipped.items()},
        "examples": [m for v in skipped.values() for m in v[:3]] + [f"{p}: listed but missing" for p in missing[:3]],
        "protocol": asdict(protocol),
    }
    n_skipped = len(frames) - len(hrs)
    if n_skipped:
        print(
            f"{split or 'all'}: skipped {n_skipped} of {len(frames)} frames "
            f"({len(missing)} missing, {len(skipped['bad_name'])} unparsable names, "
            f"{len(skipped['bad_image'])} undecodable images, {len(skipped['outside'])} plates outside the frame, "
            f"{len(skipped['too_small'])} plates too small); "
            f"e.g. {'; '.join(summary['examples'][:3])}"
        )
    if not hrs:
        raise DataError(f"no usable frames under {root} for split {split!r}: {summary}")
    folder.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(dir=folder.parent, prefix=".staging-"))
    try:
        meta = {
            "hr": _ragged_save(staging, "hr", hrs),
            "lr": _ragged_save(staging, "lr", lrs),
            "files": files,
            "texts": texts,
            "summary": summary,
        }
        (staging / "index.json").write_text(json.dumps(meta, ensure_ascii=False), encoding="utf-8")
        if folder.exists():
            shutil.rmtree(folder)
        os.replace(staging, folder)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def data_root(
    root: str | Path | None, synthetic_frames: int = 600, seed: int = 0, cache_dir: str | Path | None = None
) -> Path:
    """The CCPD root to read: `root` itself, or (None) synthetic CCPD-format frames, generated
    once into the cache."""
    if root is not None:
        root = Path(root).expanduser()
        if not root.is_dir():
            raise DataError(f"CCPD root {root} does not exist; give the folder that holds the frames (and splits/)")
        return root
    from lpsr.data.synthetic import write_synthetic_ccpd

    folder = Path(cache_dir or default_cache_dir()) / f"synthetic-{synthetic_frames}-seed{seed}"
    return write_synthetic_ccpd(folder, n_frames=synthetic_frames, seed=seed)


def plate_source(config) -> tuple[Path, PlateProtocol]:
    """Where a configuration's plates come from and how they are cut: its data root (synthetic
    CCPD-format frames, written on first use, when data.root is None) and its plate protocol.
    `config`: a lpsr.config.RunConfig (which sits above the data, so it is not imported here)."""
    root = data_root(config.data.root, config.data.synthetic_frames, config.data.synthetic_seed)
    return root, PlateProtocol(scale=config.model.scale, crop=config.data.crop, kernel=config.data.kernel)


def split_plates(config, split: str, progress: bool = True) -> PlateSet:
    """The whole plates (HR and LR) of one split of a configuration's data."""
    root, protocol = plate_source(config)
    return load_plates(root, split, protocol, progress=progress)
