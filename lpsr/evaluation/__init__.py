"""Evaluation of a trained run on whole plates: scores (`evaluate`), PaddleOCR reads (`ocr`), super-resolving plate photos (`upscale`)."""
