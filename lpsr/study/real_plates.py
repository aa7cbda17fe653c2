"""Real small plates with a text label and no HR (`plates-94x24/皖A46E18.jpg`): OCR before and after SR.

There is no ground-truth image to compute PSNR against, so the question is only whether PaddleOCR
reads the plate named by the file better from the SR output than from the crop as it is. The
crops are real camera pixels, not a x8 downscale of a larger plate: they lie outside the
degradation the models were trained on (bicubic/area downscale of rectified HR plates).
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
from tqdm.auto import tqdm

from lpsr.data.plates import IMAGE_SUFFIXES
from lpsr.evaluation.ocr import char_accuracy, normalize_plate_text
from lpsr.evaluation.upscale import InputError, read_image
from lpsr.inference import super_resolve


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
    folder: str | Path, models: dict, reader, limit: int | None = None, progress: bool = True
) -> pd.DataFrame:
    """One row per plate and method ("as is", then each named model's SR): what OCR reads, its
    confidence, exact match and character accuracy against the file name. Unreadable files are
    reported and skipped."""
    files, texts = labelled_plates(folder, limit)
    images, kept = [], []
    for file, text in zip(files, texts):
        try:
            images.append(read_image(file))
            kept.append((file.name, text))
        except InputError as error:
            print(error)
    rows = []
    for method, model in tqdm({"as is": None, **models}.items(), desc="reading plates", disable=not progress):
        shown = images if model is None else super_resolve(model, images)
        for (name, text), (read, conf) in zip(kept, reader.read(shown)):
            truth, got = normalize_plate_text(text), normalize_plate_text(read)
            rows.append(
                {
                    "file": name,
                    "plate": text,
                    "method": method,
                    "ocr_text": read,
                    "ocr_conf": conf,
                    "exact": int(got == truth),
                    "char_acc": char_accuracy(got, truth),
                }
            )
    return pd.DataFrame(rows)
