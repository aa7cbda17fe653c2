"""lpsr: extreme (x8) license-plate super-resolution with the pixel and embedding consistency loss."""

__version__ = "0.1.0"
