"""The `lpsr` command line: data, train, compare, encoder, eval, upscale, release, export, book.

Each command imports the layers it needs when it runs, so the OCR engine, papermill and the book's
tooling load only for the commands that use them."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from lpsr.data.ccpd import CCPDNameError
from lpsr.study.experiments import METHODS, TABLE1, method_config


def _data_root(args) -> Path:
    from lpsr.data.plates import data_root

    return data_root(args.data, args.synthetic_frames, args.synthetic_seed)


def _add_data_args(parser) -> None:
    parser.add_argument(
        "--data", help="CCPD root (CCPD2019 layout, or any folder of CCPD-named frames); default: synthetic frames"
    )
    parser.add_argument("--synthetic-frames", type=int, default=600, help="frames to generate when --data is not given")
    parser.add_argument("--synthetic-seed", type=int, default=0)
    parser.add_argument("--scale", type=int, default=8, choices=(2, 4, 8))
    parser.add_argument("--crop", default="rectified", choices=("rectified", "bbox"))
    parser.add_argument("--kernel", default="bicubic", choices=("bicubic", "area"), help="LR downscale kernel")


def _output_folder(path: str, option: str) -> Path:
    """A folder a command writes into, refused at once when a file is in the way."""
    folder = Path(path)
    if folder.exists() and not folder.is_dir():
        raise ValueError(f"{option} {folder} is a file, not a folder")
    return folder


def _protocol(args):
    from lpsr.data.plates import PlateProtocol

    return PlateProtocol(scale=args.scale, crop=args.crop, kernel=args.kernel)


def cmd_data(args) -> None:
    from lpsr.data.plates import load_plates

    root = _data_root(args)
    for split in args.splits:
        plates = load_plates(root, split, _protocol(args))
        sizes = plates.sizes()
        print(
            f"{split}: {len(plates)} plates from {plates.summary['frames']} frames; "
            f"median HR {int(sorted(sizes[:, 0])[len(sizes) // 2])}x{int(sorted(sizes[:, 1])[len(sizes) // 2])}"
        )


def cmd_train(args) -> None:
    from lpsr.training.runs import diverged_at
    from lpsr.training.train import TrainingError, train

    overrides = list(args.set)
    if args.data:
        overrides.append(f"data.root={json.dumps(args.data)}")  # quoted: a folder named 2024 or yes stays a string
    if args.iterations:
        overrides.append(f"train.iterations={args.iterations}")
    config = method_config(args.method, args.profile, args.config, overrides)
    run_dir = train(config, _output_folder(args.runs, "--runs"), progress=not args.quiet, retrain=args.retrain)
    done = run_dir / "done.json"
    print(run_dir)
    if done.is_file():
        print(done.read_text(encoding="utf-8"))
        if diverged_at(run_dir):
            raise TrainingError(f"the run diverged; {run_dir} keeps its log and the best checkpoint from before")


def cmd_compare(args) -> None:
    from lpsr.study.chapters.comparison import compare

    table = compare(
        args.methods,
        args.profile,
        args.data,
        _output_folder(args.runs, "--runs"),
        _output_folder(args.out, "--out"),
        args.set,
        ocr=not args.no_ocr,
        progress=not args.quiet,
    )
    print(table.drop(columns=["run"]).to_markdown())
    print(f"wrote {Path(args.out) / 'table1.csv'} and table1.md")


def cmd_encoder_pretrain(args) -> None:
    from lpsr.training.encoder_pretraining import plate_encoder_path, pretrain_plate_encoder

    root = _data_root(args)
    settings = {"iterations": args.iterations, "batch_size": args.batch_size, "seed": args.seed}
    out = Path(args.out) if args.out else plate_encoder_path(root, **settings)
    path = pretrain_plate_encoder(root, out, **settings)
    meta = json.loads((path.parent / "done.json").read_text(encoding="utf-8"))
    print(path)
    print(json.dumps(meta, indent=2, ensure_ascii=False))


def cmd_eval(args) -> None:
    from lpsr.data.plates import has_split, load_plates
    from lpsr.evaluation.evaluate import evaluate, load_model
    from lpsr.precision import as_device

    out = _output_folder(args.out, "--out")
    root = _data_root(args)
    split = args.split
    if split != "all" and not has_split(root, split):
        print(f"{root} has no '{split}' split (splits/{split}.txt or {split}/): every frame is used")
        split = "all"
    plates = load_plates(root, split, _protocol(args))
    device = as_device(args.device)
    model, name = load_model(args.model, args.scale, device)
    reader = None
    if args.ocr:
        from lpsr.evaluation.ocr import PlateReader

        reader = PlateReader(args.ocr_model)
    summary = evaluate(model, plates, out, method=name, device=device, crop_border=args.crop_border, reader=reader)
    keys = ["method", "n", "psnr_median", "psnr_std", "psnr_y_median", "psnr_y_std", "ssim_median", "plates_per_s"]
    keys += ["ocr_conf_median", "ocr_conf_mean", "ocr_exact", "ocr_char_acc", "ocr_province_acc"]
    print(json.dumps({k: summary[k] for k in keys if k in summary}, indent=2, ensure_ascii=False))
    print(f"wrote {out / 'per_plate.csv'} and summary.json")


def cmd_upscale(args) -> None:
    from lpsr.evaluation.upscale import upscale_paths

    failures = upscale_paths(args.input, args.output, args.model, ccpd_frame=args.ccpd_frame, ocr=args.ocr)
    if failures:
        sys.exit(1)


def cmd_release(args) -> None:
    from lpsr.evaluation.release import release

    reader = None
    if not args.no_ocr:
        from lpsr.evaluation.ocr import PlateReader

        reader = PlateReader()
    out = _output_folder(args.out, "--out")
    card = release(args.runs, out, args.data, dtype=args.dtype, reader=reader)
    gain = card["test"]["psnr_y_gain"]
    print(
        f"wrote {out} from {card['training']['run_id']} (best on validation of {len(card['candidates'])}): test PSNR-Y {card['test']['model']['psnr_y']['median']:.2f} dB, "
        f"{gain['median_diff']:+.2f} dB [{gain['ci_low']:+.2f}, {gain['ci_high']:+.2f}] over bicubic"
    )


def cmd_export(args) -> None:
    from lpsr.evaluation.evaluate import load_model
    from lpsr.evaluation.onnx_model import export_onnx

    model, name = load_model(args.model, args.scale)
    if model is None or name == "bicubic":
        raise ValueError(f"{args.model} is not a trained model: give a run folder, a released model or a weights file")
    print(f"wrote {export_onnx(model, args.onnx, args.scale, name)}")


def cmd_book(args) -> None:
    from lpsr.study.book import BookError, build_book

    try:
        html = build_book(
            profile=args.profile,
            data=args.data,
            runs_dir=args.runs,
            out=args.out,
            only=args.chapters,
            small_plates=args.small_plates,
            cell_timeout=args.cell_timeout,
            rerun=args.rerun,
        )
    except BookError as error:
        print(f"lpsr book: error: {error}", file=sys.stderr)
        sys.exit(2)
    print(f"book: {html / 'index.html'}")


def _add_run_args(parser, runs_help: str = "folder that holds the run folders") -> None:
    """--profile, --data and --runs: what a command that trains needs."""
    parser.add_argument("--profile", default="cpu", choices=("smoke", "cpu", "paper"))
    parser.add_argument("--data", help="CCPD root; default: synthetic frames")
    parser.add_argument("--runs", default="runs", help=runs_help)


def _add_overrides(parser, help_text: str) -> None:
    parser.add_argument("--set", action="append", default=[], metavar="SECTION.FIELD=VALUE", help=help_text)


def _data_command(sub) -> None:
    p = sub.add_parser("data", help="prepare (and cache) the plates of a CCPD root and print counts")
    _add_data_args(p)
    p.add_argument("--splits", nargs="+", default=["train", "val", "test"])
    p.set_defaults(func=cmd_data)


def _train_command(sub) -> None:
    p = sub.add_parser("train", help="train a model (resumes an interrupted run; returns a finished one)")
    _add_run_args(p)
    p.add_argument(
        "--method",
        help=f"a method of Table 1 ({', '.join(METHODS)}) or any registered architecture; default: the config's model",
    )
    p.add_argument("--config", help="a YAML file with data/model/train sections")
    p.add_argument("--iterations", type=int)
    _add_overrides(p, "override a setting, e.g. train.lr=2e-4")
    p.add_argument("--retrain", action="store_true", help="train again even if the run exists")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=cmd_train)


def _compare_command(sub) -> None:
    p = sub.add_parser("compare", help="train and evaluate several methods under one protocol: the paper's Table 1")
    p.add_argument("--methods", nargs="+", default=list(TABLE1), help=f"default: {' '.join(TABLE1)}")
    _add_run_args(p)
    _add_overrides(p, "override a setting for every method")
    p.add_argument("--out", default="table1", help="folder for table1.csv, table1.md and each method's evaluation")
    p.add_argument("--no-ocr", action="store_true", help="skip PaddleOCR")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    p.set_defaults(func=cmd_compare)


def _encoder_command(sub) -> None:
    p = sub.add_parser("encoder", help="the Siamese encoder of PECL")
    encoder_sub = p.add_subparsers(dest="encoder_command", required=True)
    p = encoder_sub.add_parser(
        "pretrain", help="pretrain the ResNet-18 trunk to read HR train plates (the `plates` init)"
    )
    _add_data_args(p)
    p.add_argument("--iterations", type=int, default=600)
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", help="output folder; default: the cache folder training looks in")
    p.set_defaults(func=cmd_encoder_pretrain)


def _eval_command(sub) -> None:
    p = sub.add_parser("eval", help="score a model on whole plates of a split")
    _add_data_args(p)
    p.add_argument("--split", default="test", choices=("train", "val", "test", "all"))
    p.add_argument(
        "--model",
        required=True,
        help="'bicubic', 'hr' (the HR plates: OCR reference), a run folder, a released model folder, a checkpoint or a .safetensors file",
    )
    p.add_argument("--crop-border", type=int, default=0, help="pixels cropped from each side before scoring")
    p.add_argument(
        "--device",
        default="auto",
        help="auto (CUDA when present, else CPU), cpu, cuda or cuda:N; in the precision train.bf16=auto gives there",
    )
    p.add_argument("--ocr", action="store_true", help="also read every SR plate with PaddleOCR (PP-OCRv4, offline)")
    p.add_argument("--ocr-model", help="a PaddleOCR model folder (default: PP-OCRv4 mobile from the rapidocr wheel)")
    p.add_argument("--out", required=True, help="folder for per_plate.csv and summary.json")
    p.set_defaults(func=cmd_eval)


def _upscale_command(sub) -> None:
    p = sub.add_parser("upscale", help="super-resolve a plate image, a folder of them, or a CCPD frame")
    p.add_argument("input")
    p.add_argument("output")
    p.add_argument(
        "--model",
        help="a released model's name, 'bicubic', a run folder, a released model folder, a checkpoint, "
        "a .safetensors or an .onnx file (default: the released model in models/)",
    )
    p.add_argument("--ccpd-frame", action="store_true", help="the input is a CCPD frame: cut its plate first")
    p.add_argument("--ocr", action="store_true", help="print what PaddleOCR reads before and after")
    p.set_defaults(func=cmd_upscale)


def _release_command(sub) -> None:
    p = sub.add_parser(
        "release", help="the best of finished runs on validation as a released model: weights, config, model card"
    )
    p.add_argument("runs", nargs="+", help="the candidate run folders: the best on validation PSNR-Y is released")
    p.add_argument("--out", required=True, help="the released model folder (for example models/NAME)")
    p.add_argument("--data", required=True, help="the CCPD root whose test split the card scores (the run's data)")
    p.add_argument("--dtype", default="float16", choices=("float16", "float32"), help="how the weights are stored")
    p.add_argument("--no-ocr", action="store_true", help="leave the OCR rows out of the card")
    p.set_defaults(func=cmd_release)


def _export_command(sub) -> None:
    p = sub.add_parser("export", help="export a model to ONNX (onnxruntime 1.32; dynamic batch and plate size)")
    p.add_argument("model", help="a run folder, a released model folder, a checkpoint or a .safetensors file")
    p.add_argument("--onnx", required=True, help="the .onnx file to write")
    p.add_argument("--scale", type=int, default=8, choices=(2, 4, 8))
    p.set_defaults(func=cmd_export)


def _book_command(sub) -> None:
    p = sub.add_parser("book", help="run every chapter with papermill and build the HTML book")
    _add_run_args(p, "folder that holds the run folders (the run cache chapters share)")
    p.add_argument("--out", default="_build", help="build folder (HTML lands in OUT/html)")
    p.add_argument("--chapters", nargs="+", help="build only these chapters, e.g. notebooks/01_pipeline")
    p.add_argument(
        "--small-plates",
        help="a folder of real plate crops named by their text (plates-94x24), read before and after SR",
    )
    p.add_argument(
        "--cell-timeout",
        type=int,
        default=-1,
        help="stop a chapter whose cell runs longer than this many seconds, as stalled (0: no limit; default: 20 min at smoke, 3 h at cpu, none at paper)",
    )
    p.add_argument(
        "--rerun",
        action="store_true",
        help="execute every chapter, even those whose notebook, parameters, code, versions and data are unchanged since they ran",
    )
    p.set_defaults(func=cmd_book)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="lpsr", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    for command in (
        _data_command,
        _train_command,
        _compare_command,
        _encoder_command,
        _eval_command,
        _upscale_command,
        _release_command,
        _export_command,
        _book_command,
    ):
        command(sub)
    return parser


def _one_line(error: Exception) -> str:
    """What went wrong and where, on one line."""
    if isinstance(error, OSError) and error.filename:
        return f"{error.filename}: {error.strerror}"
    text = str(error.args[0]) if isinstance(error, KeyError) and error.args else str(error)
    return " ".join(text.split())


def main(argv: list[str] | None = None) -> None:
    """Run a command. A problem ends it with one line `lpsr <command>: error: ...` on stderr and
    exit status 2 (1: `upscale` could not do some of its files); a signal that stops training
    exits 128 + its number (130 for Ctrl-C, 143 for SIGTERM) once the checkpoint is written."""
    from lpsr.data.plates import DataError
    from lpsr.files import CheckpointError
    from lpsr.training.sharing import RunLockedError
    from lpsr.training.train import TrainingError

    args = build_parser().parse_args(argv)
    try:
        args.func(args)
    except (
        DataError,
        TrainingError,
        RunLockedError,
        CheckpointError,
        CCPDNameError,
        OSError,
        ValueError,
        KeyError,
        ImportError,  # an optional dependency not installed: its message says which
    ) as error:
        print(f"lpsr {args.command}: error: {_one_line(error)}", file=sys.stderr)
        sys.exit(2)
    except KeyboardInterrupt as error:
        print(f"lpsr {args.command}: {_one_line(error) or 'stopped'}", file=sys.stderr)
        sys.exit(getattr(error, "exit_code", 130))


if __name__ == "__main__":
    main()
