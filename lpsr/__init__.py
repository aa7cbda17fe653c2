"""lpsr: extreme (x8) license-plate super-resolution with the pixel and embedding consistency loss.

Where things are:
    the PECL loss      lpsr/losses/pecl.py (its Siamese ResNet-18: losses/encoder.py)
    the training loop  lpsr/training/train.py (`train`; run folders: training/runs.py)
    Table 1            lpsr/study/compare.py (`compare`; its methods: study/methods.py)

The folders are the layers of the data flow, each importing only those before it:
data (CCPD names, plate cache, LR degradation, patches, synthetic frames) -> models (one module
per architecture) -> losses -> config -> training -> evaluation (scores, OCR, upscale) -> study
(the comparison, ablation, budget sweep, figures, explorer, book) -> cli. Beneath them all: files
(atomic writes, checkpoints), seeding, precision, metrics and inference (`super_resolve`).
"""

__version__ = "0.1.0"
