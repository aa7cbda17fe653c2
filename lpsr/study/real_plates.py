"""Real small plates with a text label and no HR (`plates-94x24/皖A46E18.jpg`): OCR before and after SR.

There is no ground-truth image to compute PSNR against, so the question is only whether PaddleOCR
reads the plate named by the file better from the SR output than from the crop as it is. The
crops are real camera pixels, not a x8 downscale of a larger plate: they lie outside the
degradation the models were trained on (bicubic/area downscale of rectified HR plates).
"""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path

import pandas as pd
from tqdm.auto import tqdm

from lpsr.data.plates import IMAGE_SUFFIXES, default_cache_dir, hash_frames
from lpsr.evaluation.ocr import score_read
from lpsr.evaluation.upscale import InputError, read_image
from lpsr.files import write_atomic
from lpsr.inference import super_resolve
from lpsr.study.prose import index_in_corner

READ_COLUMNS = ["file", "plate", "method", "ocr_text", "ocr_conf", "exact", "char_acc"]
READS_VERSION = 1  # what a cached reads file holds; a new version reads the plates again


def labelled_plates(folder: str | Path, limit: int | None = None) -> tuple[list[Path], list[str]]:
    """The image files of `folder` (sorted) and the plate text of each file name (its stem)."""
    folder = Path(folder)
    if not folder.is_dir():
        raise FileNotFoundError(f"{folder} is not a folder of plate crops named by their text (京PL3N67.jpg)")
    files = sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)[:limit]
    if not files:
        raise FileNotFoundError(f"{folder} holds no images ({', '.join(IMAGE_SUFFIXES)})")
    return files, [p.stem.split("_")[0] for p in files]


def read_before_and_after(
    folder: str | Path,
    models: dict,
    reader,
    limit: int | None = None,
    progress: bool = True,
    runs: dict[str, Path] | None = None,
) -> pd.DataFrame:
    """One row per plate and method ("as is", then each named model's SR): what OCR reads, its
    confidence, exact match and character accuracy against the file name. Unreadable files are
    reported and skipped.

    The reads of a model whose run folder `runs` names are cached in that folder
    (`real_reads/<key>.csv`), those of the crops as they are and of models without a run under
    `$LPSR_CACHE/real_reads/`; the key covers the crops (names and sizes), the limit, the OCR model
    and the run's selected checkpoint, so an unchanged rebuild reads no plate again."""
    files, texts = labelled_plates(folder, limit)
    runs = runs or {}
    images, kept = [], []
    for file, text in zip(files, texts):
        try:
            images.append(read_image(file))
            kept.append((file.name, text))
        except InputError as error:
            print(error)
    frames = []
    for method, model in tqdm({"as is": None, **models}.items(), desc="reading plates", disable=not progress):
        cached = _reads_file(folder, files, limit, reader, method, runs.get(method))
        if cached.is_file():
            frames.append(pd.read_csv(cached, keep_default_na=False, dtype={"ocr_text": str}))
            continue
        shown = images if model is None else super_resolve(model, images)
        rows = [
            {
                "file": name,
                "plate": text,
                "method": method,
                "ocr_text": read,
                "ocr_conf": conf,
                **score_read(read, text),
            }
            for (name, text), (read, conf) in zip(kept, reader.read(shown))
        ]
        frame = pd.DataFrame(rows, columns=READ_COLUMNS)
        cached.parent.mkdir(parents=True, exist_ok=True)
        write_atomic({cached: frame.to_csv(index=False).encode("utf-8")})
        frames.append(frame)
    return pd.concat(frames, ignore_index=True)


def real_plate_table(reads: pd.DataFrame) -> pd.DataFrame:
    """`read_before_and_after`'s reads for the page, one row per method in the order read: the
    plates read, OCRρ (median confidence, as the paper's Table 1), the share read exactly and the
    mean share of characters read right."""
    grouped = reads.groupby("method", sort=False)
    return pd.DataFrame(
        {
            "plates": grouped["file"].nunique(),
            "OCRρ (median confidence)": grouped["ocr_conf"].median().round(3),
            "read exactly": grouped["exact"].mean().round(3),
            "characters right": grouped["char_acc"].mean().round(3),
        }
    ).pipe(index_in_corner)


def _reads_file(folder: str | Path, files: list[Path], limit, reader, method: str, run: Path | None) -> Path:
    """Where one method's reads of these crops are cached (see read_before_and_after)."""
    digest = hashlib.sha256(
        json.dumps(
            [READS_VERSION, str(Path(folder).resolve()), limit, getattr(reader, "model_name", type(reader).__name__)]
        ).encode()
    )
    hash_frames(digest, Path(folder), files)
    if run is not None:
        best = Path(run) / "best.pt"
        digest.update(f"{best.stat().st_size}:{best.stat().st_mtime_ns}".encode() if best.is_file() else b"-")
        return Path(run) / "real_reads" / f"{digest.hexdigest()[:16]}.csv"
    slug = re.sub(r"[^A-Za-z0-9]+", "-", method).strip("-").lower() or "method"
    return default_cache_dir() / "real_reads" / f"{slug}-{digest.hexdigest()[:16]}.csv"
