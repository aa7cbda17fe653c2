"""An ipywidgets explorer for JupyterLab: pick a test plate and a method, see LR, SR and HR with
their scores and what PaddleOCR reads. The HTML book shows a static table of every plate
(`explorer_table`) and the static figures beside it."""

from __future__ import annotations

import io

import matplotlib.pyplot as plt
import pandas as pd

from lpsr.evaluation.ocr import normalize_plate_text
from lpsr.inference import super_resolve
from lpsr.metrics import calculate_ssim, psnr_rgb, psnr_y
from lpsr.study.figures import plate_grid
from lpsr.study.prose import index_in_corner


def plate_view(models: dict, plates, index: int, method: str, reader=None, cache: dict | None = None) -> tuple:
    """The figure (LR, SR, HR) and the caption line for one plate through one named model."""
    cache = {} if cache is None else cache
    if (index, method) not in cache:
        cache[(index, method)] = super_resolve(models[method], [plates.lr[index]])[0]
    sr = cache[(index, method)]
    hr, text = plates.hr[index], plates.texts[index]
    line = (
        f"{method}: PSNR {psnr_rgb(sr, hr):.2f} dB, PSNR-Y {psnr_y(sr, hr):.2f} dB, SSIM {calculate_ssim(sr, hr):.3f}"
    )
    if reader is not None:
        ((read, conf),) = reader.read([sr])
        verdict = "exact" if normalize_plate_text(read) == normalize_plate_text(text) else "wrong"
        line += f"; OCR reads {read!r} ({conf:.3f}, {verdict}; the plate is {text})"
    fig = plate_grid({"LR": [plates.lr[index]], method: [sr], "HR": [hr]}, row_titles=[text], width=3.2)
    return fig, line


def _png(fig) -> bytes:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", bbox_inches="tight")
    return buffer.getvalue()


def plate_explorer(models: dict, plates, reader=None):
    """A widget: a plate dropdown and method buttons above the plate's LR / SR / HR and scores.

    The view is an `Image` widget (the figure as PNG) and an `HTML` caption whose values are set
    from the kernel. An `Output` widget would capture `display` through the front end instead, and
    headless executors (nbclient, so papermill and the book build) mimic that front end by sending
    comm messages on the shell channel while they wait on it for the cell's reply, which can lose
    the reply and stall the cell until its timeout."""
    import html

    import ipywidgets as widgets

    plate = widgets.Dropdown(options=[(f"{i}: {text}", i) for i, text in enumerate(plates.texts)], description="plate")
    method = widgets.ToggleButtons(options=list(models), description="method")
    image, caption, cache = widgets.Image(format="png"), widgets.HTML(), {}

    def show(_=None):
        fig, line = plate_view(models, plates, plate.value, method.value, reader, cache)
        image.value = _png(fig)
        caption.value = f"<pre>{html.escape(line)}</pre>"
        plt.close(fig)

    plate.observe(show, names="value")
    method.observe(show, names="value")
    show()
    return widgets.VBox([plate, method, image, caption])


def explorer_table(per_plate: dict[str, pd.DataFrame]) -> pd.DataFrame:
    """The explorer's static stand-in: one row per test plate (its text), and for each named model
    the plate's PSNR-Y and what PaddleOCR reads of its SR plate, marked ✓ when exact, "–" when it
    reads nothing (`per_plate`: each model's `per_plate.csv`, as `lpsr.evaluation.evaluate.evaluate` writes it)."""
    first = next(iter(per_plate.values()))
    table = pd.DataFrame({"plate": first["plate"].to_numpy()})
    for name, scores in per_plate.items():
        table[(name, "PSNR-Y (dB)")] = scores["psnr_y"].map("{:.2f}".format).to_numpy()
        if "ocr_text" in scores:
            reads = scores["ocr_text"].fillna("").astype(str)
            table[(name, "OCR reads")] = [
                f"{r} ✓" if e else r or "–" for r, e in zip(reads, scores["exact"].astype(bool))
            ]
    table = table.set_index("plate")
    table.columns = pd.MultiIndex.from_tuples(table.columns)
    return index_in_corner(table)
