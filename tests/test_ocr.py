"""OCR: text normalisation, scores, and PaddleOCR's PP-OCRv4 reader on real plates, offline."""

from __future__ import annotations

import importlib.util
import json
import math
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from lpsr.evaluation import ocr
from lpsr.evaluation.ocr import char_accuracy, levenshtein, normalize_plate_text, ocr_scores

REPO = Path(__file__).resolve().parents[1]
PLATES_94 = Path(os.environ.get("LPSR_DATA") or "/nonexistent") / "plates-94x24"

needs_paddleocr = pytest.mark.skipif(
    importlib.util.find_spec("paddleocr") is None,
    reason="paddleocr is not installed (pip install paddleocr==3.7.0 onnxruntime==1.32.0; "
    "pip install --no-deps rapidocr==3.8.4)",
)
needs_94 = pytest.mark.skipif(not PLATES_94.is_dir(), reason="LPSR_DATA holds no plates-94x24/")


# ---------------------------------------------------------------------------------------------
# Text and scores (no model)
# ---------------------------------------------------------------------------------------------


def test_normalize_plate_text():
    assert normalize_plate_text("皖A·12345") == "皖A12345"
    assert normalize_plate_text(" 沪 b-8g.k_31 ") == "沪B8GK31"
    assert normalize_plate_text("京Ｐ・Ｌ３Ｎ６７") == "京PL3N67"  # full-width forms and separator
    assert normalize_plate_text("粤b•d12345") == "粤BD12345"  # green plate, 8 characters
    assert normalize_plate_text("O0") == "O0"  # no letter/digit remapping
    assert normalize_plate_text("") == ""


def test_levenshtein_and_char_accuracy():
    assert levenshtein("", "") == 0
    assert levenshtein("abc", "") == 3
    assert levenshtein("kitten", "sitting") == 3
    assert levenshtein("皖A12345", "皖A12345") == 0
    assert levenshtein("皖A12345", "皖A1234") == 1  # deletion
    assert levenshtein("皖A12345", "沪A12346") == 2  # two substitutions
    assert char_accuracy("皖A12345", "皖A12345") == 1.0
    assert char_accuracy("皖A1234", "皖A12345") == pytest.approx(6 / 7)
    assert char_accuracy("", "皖A12345") == 0.0
    assert char_accuracy("皖A12345XXXXXXXXX", "皖A12345") == 0.0  # clipped at 0
    assert char_accuracy("", "") == 1.0


def test_ocr_scores():
    preds = [("皖A·12345", 0.9), ("沪B12345", 0.5), ("", 0.1), ("皖a1234", 0.7)]
    truths = ["皖A12345", "皖B12345", "京C12345", "皖A12345"]
    s = ocr_scores(preds, truths)
    assert s["n"] == 4
    assert s["ocr_conf_mean"] == pytest.approx((0.9 + 0.5 + 0.1 + 0.7) / 4)
    assert s["ocr_exact"] == pytest.approx(1 / 4)
    assert s["ocr_char_acc"] == pytest.approx((1 + 6 / 7 + 0 + 6 / 7) / 4)
    assert s["ocr_province_acc"] == pytest.approx(2 / 4)
    empty = ocr_scores([], [])
    assert empty["n"] == 0 and math.isnan(empty["ocr_exact"])
    with pytest.raises(ValueError):
        ocr_scores(preds, truths[:2])


def test_model_dir_missing_weights(tmp_path, monkeypatch):
    monkeypatch.setenv("LPSR_CACHE", str(tmp_path / "cache"))
    monkeypatch.setattr(ocr, "_installed_rapidocr_onnx", lambda: None)
    with pytest.raises(FileNotFoundError) as error:
        ocr.ocr_model_dir(tmp_path / "model")
    message = str(error.value)
    assert "pip install --no-deps rapidocr==3.8.4" in message
    assert str(tmp_path / "model" / "inference.onnx") in message


@pytest.mark.skipif(
    importlib.util.find_spec("rapidocr") is None or importlib.util.find_spec("onnxruntime") is None,
    reason="rapidocr (weights) or onnxruntime is not installed",
)
def test_model_dir_assembled_once(tmp_path):
    import yaml

    folder = ocr.ocr_model_dir(tmp_path / "m")
    onnx, yml = folder / "inference.onnx", folder / "inference.yml"
    stamps = (onnx.stat().st_mtime_ns, yml.stat().st_mtime_ns)
    assert ocr.ocr_model_dir(tmp_path / "m") == folder
    assert (onnx.stat().st_mtime_ns, yml.stat().st_mtime_ns) == stamps  # idempotent
    cfg = yaml.safe_load(yml.read_text(encoding="utf-8"))
    assert cfg["Global"]["model_name"] == "PP-OCRv4_mobile_rec"
    assert cfg["PostProcess"]["name"] == "CTCLabelDecode"
    characters = cfg["PostProcess"]["character_dict"]
    assert len(characters) == 6623 and "皖" in characters and "A" in characters
    assert {"RecResizeImg": {"image_shape": [3, 48, 320]}} in cfg["PreProcess"]["transform_ops"]


# ---------------------------------------------------------------------------------------------
# The reader on real plates
# ---------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def hr_plates(ccpd_mini):
    """The test split's HR plates, through the package's own pipeline."""
    from lpsr.data.plates import PlateProtocol, load_plates

    return load_plates(ccpd_mini, "test", PlateProtocol(), progress=False)


@pytest.fixture(scope="module")
def reader():
    return ocr.PlateReader(batch_size=64, threads=2)


@needs_paddleocr
def test_reader_reads_hr_plates(reader, hr_plates):
    plates, truths = hr_plates.hr[::4][:20], hr_plates.texts[::4][:20]
    preds = reader.read(list(plates))
    assert len(preds) == len(plates)
    assert all(isinstance(t, str) and 0.0 <= c <= 1.0 for t, c in preds)
    scores = ocr_scores(preds, truths)
    print(f"\nHR plates (ccpd-mini test split): {scores}")
    assert scores["ocr_exact"] >= 0.9, list(zip(preds, truths))
    assert scores["ocr_province_acc"] >= 0.9
    assert scores["ocr_conf_mean"] >= 0.9


@needs_paddleocr
def test_reader_color_order_and_batching(reader, hr_plates):
    """RGB in, BGR to PaddleOCR; the batch size does not change the answer."""
    plate, truth = np.ascontiguousarray(hr_plates.hr[0]), hr_plates.texts[0]
    ((text, conf),) = reader.read([plate])
    assert normalize_plate_text(text) == truth
    # PaddleOCR itself, given the BGR array, says the same; given RGB, it sees another image.
    direct = reader._recognizer.predict([np.ascontiguousarray(plate[:, :, ::-1])])[0]
    assert direct["rec_text"] == text and float(direct["rec_score"]) == pytest.approx(conf, abs=1e-6)
    swapped = reader._recognizer.predict([plate])[0]
    assert float(swapped["rec_score"]) != pytest.approx(conf, abs=1e-6)
    small = ocr.PlateReader(reader.model_dir, batch_size=1, threads=1)
    for t, c in small.read([plate, plate]):
        assert t == text and c == pytest.approx(conf, abs=1e-4)
    assert reader.read([]) == []
    with pytest.raises(ValueError):
        reader.read([plate[:, :, 0]])


@needs_paddleocr
@needs_94
def test_reader_reads_94x24_plates(reader):
    from PIL import Image

    files = sorted(PLATES_94.glob("*.jpg"))[::25][:20]
    images = [np.asarray(Image.open(f).convert("RGB")) for f in files]
    preds = reader.read(images)
    scores = ocr_scores(preds, [f.stem for f in files])
    print(f"\n94x24 plates: {scores}")
    assert scores["n"] == len(files)
    # Real low-resolution crops: measured 1.00 on these 20, 0.986 on all 500.
    assert scores["ocr_exact"] >= 0.8


def _unshare_prefix() -> list[str] | None:
    exe = shutil.which("unshare")
    if exe is None:
        return None
    for flags in (["-rn"], ["-n"]):
        try:
            done = subprocess.run([exe, *flags, "true"], capture_output=True, timeout=20)
        except (OSError, subprocess.TimeoutExpired):
            continue
        if done.returncode == 0:
            return [exe, *flags]
    return None


OFFLINE_CHILD = r"""
import json, socket, sys
from pathlib import Path
import numpy as np
from PIL import Image
interfaces = sorted(name for _, name in socket.if_nameindex())
from lpsr.evaluation.ocr import PlateReader, ocr_model_dir
path = Path(sys.argv[1])
reader = PlateReader(threads=1)
(text, conf), = reader.read([np.asarray(Image.open(path).convert("RGB"))])
print(json.dumps({"interfaces": interfaces, "text": text, "conf": conf,
                  "model_dir": str(reader.model_dir)}))
"""


@needs_paddleocr
@needs_94
def test_reader_offline(tmp_path):
    """Builds the model folder and reads a plate in a network namespace with no network."""
    prefix = _unshare_prefix()
    if prefix is None:
        pytest.skip("unshare -rn / -n is not available here: cannot cut the network")
    plate = sorted(PLATES_94.glob("*.jpg"))[0]
    env = {**os.environ, "LPSR_CACHE": str(tmp_path / "cache"), "PYTHONPATH": str(REPO)}
    done = subprocess.run(
        [*prefix, sys.executable, "-c", OFFLINE_CHILD, str(plate)],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["interfaces"] == ["lo"]  # nothing but loopback: no network
    assert result["model_dir"].startswith(str(tmp_path / "cache"))  # assembled offline
    assert normalize_plate_text(result["text"]) == plate.stem


@needs_paddleocr
def test_evaluation_with_ocr_writes_reading_columns(reader, hr_plates, tmp_path):
    from dataclasses import replace

    from lpsr.evaluation.evaluate import evaluate, load_model

    six = replace(
        hr_plates, hr=hr_plates.hr[:6], lr=hr_plates.lr[:6], files=hr_plates.files[:6], texts=hr_plates.texts[:6]
    )
    summary = evaluate(load_model("bicubic")[0], six, tmp_path, method="bicubic", reader=reader)
    assert 0 <= summary["ocr_exact"] <= 1 and 0 < summary["ocr_conf_mean"] <= 1 and summary["n"] == 6
    header = (tmp_path / "per_plate.csv").read_text(encoding="utf-8").splitlines()[0]
    assert header.endswith("psnr,psnr_y,ssim,ocr_text,ocr_conf,exact,char_acc")
    reference = evaluate(load_model("hr")[0], six, method="HR", reader=reader)
    assert reference["ocr_exact"] == 1.0 and "psnr_median" not in reference
