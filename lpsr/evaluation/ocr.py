"""Reading plates with PaddleOCR's PP-OCRv4 mobile recogniser, fully offline.

Model: ``PP-OCRv4_mobile_rec``, PaddleOCR's Chinese text-line recogniser (SVTR-LCNet with a CTC
head, 6,623 characters plus blank and space). It reads the province character of real plates,
which the later PP-OCRv5/v6 recognisers often do not (study notes, section 4).

Weights: the PyPI wheel ``rapidocr==3.8.4`` ships that model exported to ONNX as
``rapidocr/models/ch_PP-OCRv4_rec_mobile.onnx``, with its character dictionary in the ONNX
metadata (key ``character``). The wheel is installed without its dependencies (they would pull in
a second OpenCV); it only serves as a carrier for the file::

    pip install paddleocr==3.7.0 onnxruntime==1.32.0
    pip install --no-deps rapidocr==3.8.4

`ocr_model_dir` assembles, once, a folder PaddleOCR can load: ``inference.onnx`` (copied from the
installed rapidocr package, or from a ``rapidocr-*.whl`` left in ``$LPSR_CACHE/wheels/``) and the
``inference.yml`` that PaddleOCR needs (model name, pre-processing, CTC decoder with the
dictionary read from the ONNX metadata).

Inference goes through PaddleOCR's own API (``paddleocr.TextRecognition(...).predict``) on the
``onnxruntime`` engine, so PaddleOCR's own pre-processing (resize to height 48, pad the width to
320 or to the widest crop of the batch) and CTC decoding are used; paddlepaddle is not needed.
Nothing here touches the network: the model folder is always given to PaddleOCR, and
``PADDLE_PDX_DISABLE_MODEL_SOURCE_CHECK`` is set so that PaddleX skips its connectivity check to
model hosters.
"""

from __future__ import annotations

import importlib.util
import math
import os
import unicodedata
import zipfile
from pathlib import Path
from typing import Iterable, Sequence

import numpy as np

from lpsr.data.plates import default_cache_dir

MODEL_NAME = "PP-OCRv4_mobile_rec"
REC_IMAGE_SHAPE = (3, 48, 320)  # C, H, W of PaddleOCR's RecResizeImg for PP-OCRv4
RAPIDOCR_REQUIREMENT = "rapidocr==3.8.4"
RAPIDOCR_ONNX = "rapidocr/models/ch_PP-OCRv4_rec_mobile.onnx"  # path inside the wheel
PIP_INSTALL_OCR = "pip install paddleocr==3.7.0 onnxruntime==1.32.0"
PIP_INSTALL_WEIGHTS = f"pip install --no-deps {RAPIDOCR_REQUIREMENT}"


# ----------------------------------------------------------------------------------------------
# Model folder
# ----------------------------------------------------------------------------------------------


def _installed_rapidocr_onnx() -> Path | None:
    """The ONNX file inside an installed rapidocr package, found without importing rapidocr."""
    try:
        spec = importlib.util.find_spec("rapidocr")
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.submodule_search_locations:
        return None
    for location in spec.submodule_search_locations:
        path = Path(location) / "models" / Path(RAPIDOCR_ONNX).name
        if path.is_file():
            return path
    return None


def _wheel_with_onnx(cache: Path) -> Path | None:
    """A downloaded rapidocr wheel (``pip download --no-deps``) that holds the ONNX file."""
    for wheel in sorted((cache / "wheels").glob("rapidocr-*.whl"), reverse=True):
        try:
            with zipfile.ZipFile(wheel) as archive:
                if RAPIDOCR_ONNX in archive.namelist():
                    return wheel
        except zipfile.BadZipFile:
            continue
    return None


def onnx_character_dict(onnx_path: str | Path) -> list[str]:
    """The recogniser's character dictionary, stored in the ONNX metadata under ``character``."""
    import onnxruntime as ort

    session = ort.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])
    characters = session.get_modelmeta().custom_metadata_map.get("character")
    if not characters:
        raise ValueError(f"{onnx_path}: no 'character' entry in the ONNX metadata")
    characters = characters.split("\n")
    classes = session.get_outputs()[0].shape[-1]
    # CTC: blank + dictionary + space (PaddleOCR's use_space_char=True).
    if isinstance(classes, int) and classes != len(characters) + 2:
        raise ValueError(
            f"{onnx_path}: {len(characters)} characters in the metadata do not match "
            f"{classes} output classes (expected characters + blank + space)"
        )
    return characters


def inference_config(characters: Sequence[str]) -> dict:
    """The ``inference.yml`` PaddleOCR reads for PP-OCRv4_mobile_rec (as in the official export)."""
    return {
        "Global": {"model_name": MODEL_NAME},
        "PreProcess": {
            "transform_ops": [
                # BGR: numpy inputs are passed to the network unchanged, in OpenCV's order.
                {"DecodeImage": {"channel_first": False, "img_mode": "BGR"}},
                {"RecResizeImg": {"image_shape": list(REC_IMAGE_SHAPE)}},
            ]
        },
        "PostProcess": {"name": "CTCLabelDecode", "character_dict": list(characters)},
    }


def ocr_model_dir(cache_dir: str | Path | None = None) -> Path:
    """The folder PaddleOCR loads PP-OCRv4_mobile_rec from, assembled once (idempotent).

    Default: ``$LPSR_CACHE/ocr/PP-OCRv4_mobile_rec``. It receives ``inference.onnx``, copied
    from the installed rapidocr package (or from a ``rapidocr-*.whl`` in ``$LPSR_CACHE/wheels``),
    and ``inference.yml``. An ``inference.onnx`` already there is kept, so the file can also be
    put there by hand. Raises `FileNotFoundError` if no ONNX file can be found.
    """
    target = Path(cache_dir).expanduser() if cache_dir is not None else (default_cache_dir() / "ocr" / MODEL_NAME)
    onnx, yml = target / "inference.onnx", target / "inference.yml"
    if onnx.is_file() and yml.is_file():
        return target
    from lpsr.files import write_atomic  # (torch: imported only when the folder is assembled)

    if not onnx.is_file():
        source = _installed_rapidocr_onnx()
        wheel = None if source is not None else _wheel_with_onnx(default_cache_dir())
        if source is None and wheel is None:
            raise FileNotFoundError(
                f"PP-OCRv4 recognition weights not found: no {onnx} and no installed rapidocr "
                f"package. Install the wheel that ships them with `{PIP_INSTALL_WEIGHTS}`; or "
                f"download it with `pip download --no-deps {RAPIDOCR_REQUIREMENT} -d "
                f"{default_cache_dir() / 'wheels'}`; or put the wheel's file {RAPIDOCR_ONNX} "
                f"at {onnx}."
            )
        target.mkdir(parents=True, exist_ok=True)
        if source is not None:
            write_atomic({onnx: source.read_bytes()})
        else:
            with zipfile.ZipFile(wheel) as archive:
                write_atomic({onnx: archive.read(RAPIDOCR_ONNX)})

    import yaml

    text = yaml.safe_dump(inference_config(onnx_character_dict(onnx)), allow_unicode=True, sort_keys=False)
    write_atomic({yml: text.encode("utf-8")})
    return target


# ----------------------------------------------------------------------------------------------
# Reader
# ----------------------------------------------------------------------------------------------


def _model_name_of(model_dir: Path) -> str:
    """``Global.model_name`` of a PaddleOCR model folder, PP-OCRv4_mobile_rec if not stated."""
    yml = model_dir / "inference.yml"
    if yml.is_file():
        import yaml

        with open(yml, encoding="utf-8") as f:
            name = ((yaml.safe_load(f) or {}).get("Global") or {}).get("model_name")
        if name:
            return str(name)
    return MODEL_NAME


class PlateReader:
    """Reads plate crops with PaddleOCR's `TextRecognition` on the CPU, offline.

    ``model_dir=None`` uses `ocr_model_dir()` (PP-OCRv4 mobile, ONNX). Any other folder is used
    as it is: one with ``inference.onnx`` runs on onnxruntime, one without (e.g. PaddleOCR's own
    downloaded Paddle model) on PaddleOCR's default engine, which needs paddlepaddle.
    ``threads`` is the number of CPU threads of the inference engine.
    """

    def __init__(self, model_dir=None, batch_size: int = 64, threads: int = 1):
        # Read by PaddleX at import time: set it before paddleocr is imported.
        os.environ.setdefault("PADDLE_PDX_DISABLE_MODEL_SOURCE_CHECK", "True")
        try:
            from paddleocr import TextRecognition
        except ImportError as error:
            raise ImportError(
                f"PlateReader needs PaddleOCR with onnxruntime: `{PIP_INSTALL_OCR}` "
                f"and the weights: `{PIP_INSTALL_WEIGHTS}`"
            ) from error

        self.model_dir = Path(model_dir) if model_dir is not None else ocr_model_dir()
        if not self.model_dir.is_dir():
            raise FileNotFoundError(f"OCR model folder {self.model_dir} does not exist")
        self.batch_size = int(batch_size)
        self.threads = int(threads)
        self.model_name = _model_name_of(self.model_dir)
        if (self.model_dir / "inference.onnx").is_file():
            self.engine = "onnxruntime"
            engine_args = {
                "engine": "onnxruntime",
                "engine_config": {
                    "intra_op_num_threads": self.threads,
                    "inter_op_num_threads": 1,
                },
            }
        else:
            self.engine = "paddle"
            engine_args = {"cpu_threads": self.threads}
        self._recognizer = TextRecognition(
            model_name=self.model_name,
            model_dir=str(self.model_dir),
            device="cpu",
            **engine_args,
        )

    def read(self, images: Iterable[np.ndarray]) -> list[tuple[str, float]]:
        """(text, confidence) for each HxWx3 uint8 RGB plate crop, read in batches.

        The text is PaddleOCR's raw output (it may hold a '·' separator): compare it through
        `normalize_plate_text`.
        """
        bgr = []
        for index, image in enumerate(images):
            image = np.asarray(image)
            if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
                raise ValueError(
                    f"image {index}: expected an HxWx3 uint8 RGB array, got shape {image.shape} and dtype {image.dtype}"
                )
            # PaddleOCR takes numpy images in OpenCV's BGR order.
            bgr.append(np.ascontiguousarray(image[:, :, ::-1]))
        if not bgr:
            return []
        results = []
        for start in range(0, len(bgr), self.batch_size):
            batch = bgr[start : start + self.batch_size]
            for result in self._recognizer.predict(batch, batch_size=self.batch_size):
                results.append((str(result["rec_text"]), float(result["rec_score"])))
        return results

    def close(self) -> None:
        self._recognizer.close()


# ----------------------------------------------------------------------------------------------
# Scores
# ----------------------------------------------------------------------------------------------


def normalize_plate_text(text: str) -> str:
    """A plate string as compared with the ground truth.

    NFKC folds full-width forms to half-width (``Ａ１`` -> ``A1``); then every character that is
    not a letter or a digit is dropped (the ``·`` PaddleOCR reads between the region code and the
    number, spaces, ``-``, ``.``, ...); Latin letters are upper-cased. Chinese characters are
    kept as they are. Letters are not remapped (``O`` stays ``O``, ``0`` stays ``0``).
    """
    text = unicodedata.normalize("NFKC", text)
    return "".join(c.upper() if c.isascii() else c for c in text if c.isalnum())


def levenshtein(a: str, b: str) -> int:
    """Edit distance (insertions, deletions, substitutions, each costing 1)."""
    if len(a) < len(b):
        a, b = b, a
    previous = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        current = [i]
        for j, cb in enumerate(b, 1):
            current.append(min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (ca != cb)))
        previous = current
    return previous[-1]


def char_accuracy(pred: str, truth: str) -> float:
    """1 - Levenshtein(pred, truth) / len(truth), clipped at 0 (1.0 for two empty strings)."""
    if not truth:
        return 1.0 if not pred else 0.0
    return max(0.0, 1.0 - levenshtein(pred, truth) / len(truth))


def score_read(read: str, truth: str) -> dict:
    """One plate's read against its text, both through `normalize_plate_text`: ``exact`` (1 when
    read exactly, else 0), ``char_acc`` (`char_accuracy`) and ``province`` (its first character,
    the province, is right)."""
    pred, truth = normalize_plate_text(read), normalize_plate_text(truth)
    return {
        "exact": int(pred == truth),
        "char_acc": char_accuracy(pred, truth),
        "province": int(bool(pred) and bool(truth) and pred[0] == truth[0]),
    }


def ocr_scores(preds: Sequence[tuple[str, float]], truths: Sequence[str]) -> dict:
    """OCR figures of a set of plates, texts compared after `normalize_plate_text`.

    ``ocr_conf_mean``: mean recogniser confidence (the paper's OCRρ is the median, which
    `lpsr.evaluation.evaluate` adds); ``ocr_exact``: share of
    plates read exactly; ``ocr_char_acc``: mean `char_accuracy`; ``ocr_province_acc``: share
    whose first character (the province) is right; ``n``: number of plates. Means are NaN for
    no plates.
    """
    if len(preds) != len(truths):
        raise ValueError(f"{len(preds)} predictions for {len(truths)} ground truths")
    n = len(truths)
    if n == 0:
        nan = math.nan
        return {"ocr_conf_mean": nan, "ocr_exact": nan, "ocr_char_acc": nan, "ocr_province_acc": nan, "n": 0}
    conf = exact = chars = province = 0.0
    for (text, score), truth in zip(preds, truths):
        scores = score_read(text, truth)
        conf += float(score)
        exact += scores["exact"]
        chars += scores["char_acc"]
        province += scores["province"]
    return {
        "ocr_conf_mean": conf / n,
        "ocr_exact": exact / n,
        "ocr_char_acc": chars / n,
        "ocr_province_acc": province / n,
        "n": n,
    }
