"""ONNX: a model exported for onnxruntime, and whole-plate super-resolution on onnxruntime alone.

`export_onnx` writes the legacy TorchScript export (torch 2.14's default exporter needs
onnxscript) at opset `OPSET`, which onnxruntime 1.32 runs, with the batch and the plate size
dynamic and the scale in the model's metadata. `onnx_super_resolve` opens such a file (or any
ONNX model that maps Nx3xhxw to Nx3x(s*h)x(s*w) in [0, 1]) and needs neither torch nor lpsr's
models; a file that is not one is refused in one line that names it.
"""

from __future__ import annotations

import io
import warnings
from pathlib import Path

import numpy as np

from lpsr.files import write_atomic

OPSET = 17
INPUT, OUTPUT = "lr", "sr"


def export_onnx(model, path: str | Path, scale: int, name: str = "") -> Path:
    """Export `model` (an nn.Module taking Nx3xhxw in [0, 1]) to `path`, atomically."""
    import torch

    try:
        import onnx
    except ImportError:
        raise ImportError(
            "lpsr export --onnx needs the onnx package: pip install onnx==1.23.2 (the export extra)"
        ) from None

    example = torch.rand(1, 3, 12, 47)  # an 8 px-high plate's LR size; every size runs (dynamic axes)
    buffer = io.BytesIO()
    with warnings.catch_warnings():  # the note that a newer exporter exists (it needs onnxscript)
        warnings.simplefilter("ignore")
        torch.onnx.export(
            model.float().eval(),
            (example,),
            buffer,
            dynamo=False,
            opset_version=OPSET,
            input_names=[INPUT],
            output_names=[OUTPUT],
            dynamic_axes={
                INPUT: {0: "batch", 2: "height", 3: "width"},
                OUTPUT: {0: "batch", 2: "sr_height", 3: "sr_width"},
            },
        )
    proto = onnx.load_from_string(buffer.getvalue())
    for key, value in {"lpsr_scale": str(scale), "lpsr_model": name}.items():
        entry = proto.metadata_props.add()
        entry.key, entry.value = key, value
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    write_atomic({path: proto.SerializeToString()})
    return path


class OnnxModelError(ValueError):
    """An ONNX file that cannot be run as an x`scale` plate model."""


def onnx_super_resolve(path: str | Path, scale: int = 8, threads: int = 0):
    """A function from LR images (hxwx3 uint8) to SR images, running the ONNX model at `path`
    on `threads` threads (0: onnxruntime's default, every core)."""
    import onnxruntime as ort

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"ONNX model {path} does not exist")
    try:
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    except Exception as error:  # onnxruntime raises its own classes for a truncated or foreign file
        raise OnnxModelError(
            f"{path} is not an ONNX model onnxruntime can load ({str(error).splitlines()[0][:200]})"
        ) from None
    inputs, outputs = session.get_inputs(), session.get_outputs()
    shape = inputs[0].shape if len(inputs) == 1 else None
    if shape is None or len(shape) != 4 or shape[1] != 3 or inputs[0].type != "tensor(float)" or len(outputs) != 1:
        described = ", ".join(f"{i.name} {i.shape} {i.type}" for i in inputs)
        raise OnnxModelError(f"{path}: its input is {described}; a plate model takes one float Nx3xHxW image")
    if not all(isinstance(d, str) or d is None for d in (shape[0], shape[2], shape[3])):
        raise OnnxModelError(
            f"{path}: its input has the fixed shape {shape}; export it with dynamic batch and plate size"
        )
    stated = session.get_modelmeta().custom_metadata_map.get("lpsr_scale")
    if stated is not None and int(stated) != scale:
        raise OnnxModelError(f"{path} is a x{stated} model; x{scale} was asked for")
    name = inputs[0].name

    def run(lr_images: list[np.ndarray]) -> list[np.ndarray]:
        out = []
        for image in lr_images:  # one plate at a time: plates differ in size
            x = (image.astype(np.float32) / 255).transpose(2, 0, 1)[None]
            (y,) = session.run(None, {name: np.ascontiguousarray(x)})
            if y.shape != (1, 3, scale * image.shape[0], scale * image.shape[1]):
                raise OnnxModelError(f"{path}: a {x.shape} input gave {y.shape}, not a x{scale} image")
            out.append(np.round(np.clip(y[0], 0, 1) * 255).astype(np.uint8).transpose(1, 2, 0))
        return out

    return run
