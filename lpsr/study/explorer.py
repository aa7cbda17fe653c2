"""An ipywidgets explorer for JupyterLab: pick a test plate and a method, see LR, SR and HR with
their scores and what PaddleOCR reads. The HTML book shows the static figures beside it."""

from __future__ import annotations

import io

import matplotlib.pyplot as plt

from lpsr.evaluation.ocr import normalize_plate_text
from lpsr.inference import super_resolve
from lpsr.metrics import calculate_ssim, psnr_rgb, psnr_y
from lpsr.study.figures import plate_grid


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
