"""lpsr: extreme (x8) license-plate super-resolution with the pixel and embedding consistency loss.

Where things are:
    the PECL loss      lpsr/losses/pecl.py (its Siamese ResNet-18: losses/encoder.py)
    the training loop  lpsr/training/train.py (`train`; run folders: training/runs.py)
    Table 1            lpsr/study/chapters/comparison.py (`compare`; its methods: study/experiments.py)
    the book           lpsr/study/chapters/ (one module per chapter), lpsr/study/book.py (`lpsr book`)
    released models    lpsr/evaluation/release.py (`lpsr release`; the shipped one in models/),
                       `lpsr.load_model` (evaluation/upscale.py), ONNX (evaluation/onnx_model.py)

The folders are the layers of the data flow, each importing only those before it:
data (CCPD names, plate cache, LR degradation, patches, synthetic frames) -> models (one module
per architecture) -> losses -> config -> training -> evaluation (scores, OCR, upscale) -> study
(a toolkit of shared runs, figures, text and findings; one module per chapter above it; the book)
-> cli. Beneath them all: files
(atomic writes, checkpoints, released weights), seeding, precision, metrics and inference (`super_resolve`).
"""

__version__ = "0.1.0"


def __getattr__(name: str):
    """`lpsr.load_model(path_or_name=None)`: an Upscaler (`upscale(image) -> image`, PIL or numpy)
    from the released model or any model file (lpsr.evaluation.upscale.open_model), imported
    on first use so that `import lpsr` stays light."""
    if name == "load_model":
        from lpsr.evaluation.upscale import open_model

        return open_model
    raise AttributeError(f"module 'lpsr' has no attribute {name!r}")
