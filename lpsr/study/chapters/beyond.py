"""Chapter 7, beyond the paper: readings and weightings with OCR, whether OCR confidence tracks
exact reads, the encoder's initialisation, seed-to-seed and machine-to-machine spread, and real
small plates read before and after super-resolution.

The real plates carry a text label and no HR (`plates-94x24/皖A46E18.jpg`), so there is no
ground-truth image to compute PSNR against: the question is only whether PaddleOCR reads the plate
named by the file better from the SR output than from the crop as it is. The crops are real camera
pixels, not a x8 downscale of a larger plate: they lie outside the degradation the models were
trained on.
"""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path

import pandas as pd
import torch
from tqdm.auto import tqdm

from lpsr.data.plates import IMAGE_SUFFIXES, default_cache_dir, hash_frames
from lpsr.evaluation.ocr import score_read
from lpsr.evaluation.upscale import InputError, read_image
from lpsr.files import write_atomic
from lpsr.inference import super_resolve
from lpsr.metrics import paired_difference
from lpsr.precision import has_avx512_kernels
from lpsr.study.experiments import Scored, read_per_plate
from lpsr.study.text import difference, index_in_corner, interval, leaders, missing, names, number
from lpsr.training.runs import run_summary

READ_COLUMNS = ["file", "plate", "method", "ocr_text", "ocr_conf", "exact", "char_acc"]


READS_VERSION = 1  # what a cached reads file holds; a new version reads the plates again


def labelled_plates(folder: str | Path, limit: int | None = None) -> tuple[list[Path], list[str]]:
    """The image files of `folder` (sorted) and the plate text of each file name (its stem)."""
    folder = Path(folder)
    if not folder.is_dir():
        raise FileNotFoundError(f"{folder} is not a folder of plate crops named by their text (京PL3N67.jpg)")
    files = sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)[:limit]
    if not files:
        raise FileNotFoundError(f"{folder} holds no images ({', '.join(IMAGE_SUFFIXES)})")
    return files, [p.stem.split("_")[0] for p in files]


def read_before_and_after(
    folder: str | Path,
    models: dict,
    reader,
    limit: int | None = None,
    progress: bool = True,
    runs: dict[str, Path] | None = None,
) -> pd.DataFrame:
    """One row per plate and method ("as is", then each named model's SR): what OCR reads, its
    confidence, exact match and character accuracy against the file name. Unreadable files are
    reported and skipped.

    The reads of a model whose run folder `runs` names are cached in that folder
    (`real_reads/<key>.csv`), those of the crops as they are and of models without a run under
    `$LPSR_CACHE/real_reads/`; the key covers the crops (names and sizes), the limit, the OCR model
    and the run's selected checkpoint, so an unchanged rebuild reads no plate again."""
    files, texts = labelled_plates(folder, limit)
    runs = runs or {}
    images, kept = [], []
    for file, text in zip(files, texts):
        try:
            images.append(read_image(file))
            kept.append((file.name, text))
        except InputError as error:
            print(error)
    frames = []
    for method, model in tqdm({"as is": None, **models}.items(), desc="reading plates", disable=not progress):
        cached = _reads_file(folder, files, limit, reader, method, runs.get(method))
        if cached.is_file():
            frames.append(pd.read_csv(cached, keep_default_na=False, dtype={"ocr_text": str}))
            continue
        shown = images if model is None else super_resolve(model, images)
        rows = [
            {
                "file": name,
                "plate": text,
                "method": method,
                "ocr_text": read,
                "ocr_conf": conf,
                **score_read(read, text),
            }
            for (name, text), (read, conf) in zip(kept, reader.read(shown))
        ]
        frame = pd.DataFrame(rows, columns=READ_COLUMNS)
        cached.parent.mkdir(parents=True, exist_ok=True)
        write_atomic({cached: frame.to_csv(index=False).encode("utf-8")})
        frames.append(frame)
    return pd.concat(frames, ignore_index=True)


def real_plate_table(reads: pd.DataFrame) -> pd.DataFrame:
    """`read_before_and_after`'s reads for the page, one row per method in the order read: the
    plates read, OCRρ (median confidence, as the paper's Table 1), the share read exactly and the
    mean share of characters read right."""
    grouped = reads.groupby("method", sort=False)
    return pd.DataFrame(
        {
            "plates": grouped["file"].nunique(),
            "OCRρ (median confidence)": grouped["ocr_conf"].median().round(3),
            "read exactly": grouped["exact"].mean().round(3),
            "characters right": grouped["char_acc"].mean().round(3),
        }
    ).pipe(index_in_corner)


def _reads_file(folder: str | Path, files: list[Path], limit, reader, method: str, run: Path | None) -> Path:
    """Where one method's reads of these crops are cached (see read_before_and_after)."""
    digest = hashlib.sha256(
        json.dumps(
            [READS_VERSION, str(Path(folder).resolve()), limit, getattr(reader, "model_name", type(reader).__name__)]
        ).encode()
    )
    hash_frames(digest, Path(folder), files)
    if run is not None:
        best = Path(run) / "best.pt"
        digest.update(f"{best.stat().st_size}:{best.stat().st_mtime_ns}".encode() if best.is_file() else b"-")
        return Path(run) / "real_reads" / f"{digest.hexdigest()[:16]}.csv"
    slug = re.sub(r"[^A-Za-z0-9]+", "-", method).strip("-").lower() or "method"
    return default_cache_dir() / "real_reads" / f"{slug}-{digest.hexdigest()[:16]}.csv"


# The seeds of chapter 7's question 4, by profile; at `cpu` two, to keep the book within its build
# time (the chapter says so, with `seed_counts`).
SEEDS = {"smoke": (0, 1), "cpu": (0, 1), "paper": (0, 1, 2)}


def seed_counts(seeds) -> dict[str, str]:
    """How many seeds chapter 7's question 4 trains (`seed_count`, and as the values its spread is
    that of, `seed_values`) and how many the `paper` profile trains (`paper_seeds`)."""
    plural = "s" if len(seeds) != 1 else ""
    return {
        "seed_count": f"{len(seeds)} seed{plural}",
        "seed_values": f"{len(seeds)} value{plural}",
        "paper_seeds": f"{len(SEEDS['paper'])}",
    }


def beyond_numbers(
    readings: dict[str, dict],
    per_plate: dict[str, pd.DataFrame],
    encoders: dict[str, Scored],
    by_seed: pd.DataFrame,
    real: pd.DataFrame | None = None,
    confident: float = 0.9,
    kernels: dict | None = None,
) -> dict[str, str]:
    """What chapter 7's closing paragraph glues, question by question: (1) the highest test PSNR-Y
    and share read exactly among the readings and weightings, with who reaches them
    (`_reading_leaders`); (2) how far OCR confidence tells exact reads from wrong ones
    (`_confidence_numbers`); (3) each encoder's PSNR-Y or why it has none (`encoders`); (4) the
    spread over seeds (`_seed_numbers`) and across machines (`_kernel_numbers`, from
    `kernel_difference`; None: not measured); (5) the exact reads of the real crops
    (`_real_numbers`, from `read_before_and_after`; None: question 5 skipped)."""
    return {
        **_reading_leaders(readings),
        **_confidence_numbers(per_plate, confident),
        "encoders": "; ".join(f"{name}: {_encoder(s)}" for name, s in encoders.items()) or "none trained",
        **_seed_numbers(by_seed),
        **_kernel_numbers(kernels),
        **_real_numbers(real),
    }


def _reading_leaders(readings: dict[str, dict]) -> dict[str, str]:
    """The highest median test PSNR-Y of the readings and weightings (`best_psnr`) and the highest
    share read exactly (`best_exact`), each with the variants that reach it, ties named together
    (`best_psnr_by`, `best_exact_by`: "every variant alike" where all share it)."""
    psnr = {name: s.get("psnr_y_median") for name, s in readings.items()}
    exact = {name: s.get("ocr_exact") for name, s in readings.items()}
    top, read = leaders(psnr), leaders(exact, ".1%")
    all_alike = len(read) > 1 and len(read) == len([v for v in exact.values() if not missing(v)])
    return {
        "best_psnr": number(psnr[top[0]] if top else None, unit=" dB"),
        "best_psnr_by": names(top) if top else "no variant scored",
        "best_exact": number(exact[read[0]] if read else None, ".1%"),
        "best_exact_by": "every variant alike" if all_alike else names(read) if read else "no variant read by OCR",
    }


def _confidence_numbers(per_plate: dict[str, pd.DataFrame], confident: float) -> dict[str, str]:
    """The mean AUROC of OCR confidence for an exact read over the variants that have both exact
    and wrong reads (`auroc`), and how many of all the reads (`reads`) were wrong with a confidence
    of `confident` (`confident`) or more (`sure_wrong`)."""
    everything = pd.concat(per_plate.values()) if per_plate else pd.DataFrame({"ocr_conf": [], "exact": []})
    auroc = pd.Series([ocr_agreement(frame, confident)["auroc"] for frame in per_plate.values()], dtype=float).mean()
    wrong = int(((everything["ocr_conf"] >= confident) & (everything["exact"] == 0)).sum())
    return {
        "auroc": number(auroc),
        "sure_wrong": f"{wrong:,}",
        "reads": f"{len(everything):,}",
        "confident": f"{confident:g}",
    }


def _encoder(scored: Scored) -> str:
    """An encoder's median test PSNR-Y, or why it has none."""
    if scored.summary:
        return number(scored.summary.get("psnr_y_median"), unit=" dB")
    if scored.error and "diverged" in scored.error:
        return "diverged (not scored)"
    return "not trained (its weights file is missing)"


def seed_scores(scored: dict, out: str | Path, seeds) -> pd.DataFrame:
    """One row per seed from `train_and_score`'s "MSE seed N" and "PECL seed N" (scored into
    `out`): each loss's median test PSNR-Y, and their paired difference with its 95% interval
    (`diff`, `diff_ci_low`, `diff_ci_high`)."""
    rows = []
    for seed in seeds:
        mse, pecl = f"MSE seed {seed}", f"PECL seed {seed}"
        if scored[mse].summary is None or scored[pecl].summary is None:
            continue
        scores = read_per_plate(out, (pecl, mse))
        diff = paired_difference(scores[pecl]["psnr_y"].to_numpy(), scores[mse]["psnr_y"].to_numpy())
        rows.append(
            {
                "seed": seed,
                "MSE PSNR-Y": scored[mse].summary["psnr_y_median"],
                "PECL PSNR-Y": scored[pecl].summary["psnr_y_median"],
                "diff": diff["median_diff"],
                "diff_ci_low": diff["ci_low"],
                "diff_ci_high": diff["ci_high"],
            }
        )
    return pd.DataFrame(
        rows, columns=["seed", "MSE PSNR-Y", "PECL PSNR-Y", "diff", "diff_ci_low", "diff_ci_high"]
    ).set_index("seed")


def seed_table(seeds: pd.DataFrame) -> pd.DataFrame:
    """`seed_scores` for the page: medians in dB, the paired difference with its interval."""
    table = pd.DataFrame(index=seeds.index)
    table["MSE, test PSNR-Y (dB)"] = seeds["MSE PSNR-Y"].map("{:.2f}".format)
    table["PECL, test PSNR-Y (dB)"] = seeds["PECL PSNR-Y"].map("{:.2f}".format)
    table["PECL − MSE, paired (dB) [95% CI]"] = [
        interval(*v, sign="+") for v in zip(seeds["diff"], seeds["diff_ci_low"], seeds["diff_ci_high"])
    ]
    return index_in_corner(table)


def avx2_variant(seed: int) -> dict:
    """Chapter 7's variant across machines: the PECL headline at `seed` trained with AVX2 kernels,
    as an AVX2-only CPU trains it (`train.cpu_kernels=avx2`: fp32 where `train.bf16` is auto, and a
    plates encoder pretrained with those kernels); empty where torch runs no AVX-512 kernels, since
    it would then train as this machine does."""
    if not has_avx512_kernels():
        return {}
    return {avx2_name(seed): ("ours-pecl", [f"train.seed={seed}", "train.cpu_kernels=avx2"])}


def avx2_name(seed: int) -> str:
    return f"PECL seed {seed}, AVX2 kernels"


def kernel_difference(scored: dict, out: str | Path, seed: int) -> dict | None:
    """The `avx2_variant` against this machine's PECL run at `seed` (both from `train_and_score`,
    scored into `out`): each one's median test PSNR-Y and best validation PSNR-Y, and the paired
    AVX2 - native difference with its 95% interval; None where the variant was not scored."""
    avx2, native = avx2_name(seed), f"PECL seed {seed}"
    if avx2 not in scored or scored[avx2].summary is None or scored[native].summary is None:
        return None
    scores = read_per_plate(out, (avx2, native))
    diff = paired_difference(scores[avx2]["psnr_y"].to_numpy(), scores[native]["psnr_y"].to_numpy())
    both = {"avx2": scored[avx2], "native": scored[native]}
    return {
        "seed": seed,
        **{f"{k} PSNR-Y": s.summary["psnr_y_median"] for k, s in both.items()},
        **{f"{k} val PSNR-Y": run_summary(s.run)["best"]["val_psnr_y"] for k, s in both.items()},
        "diff": diff["median_diff"],
        "diff_ci_low": diff["ci_low"],
        "diff_ci_high": diff["ci_high"],
    }


def _kernel_numbers(kernels: dict | None) -> dict[str, str]:
    """Question 4's spread across machines (`kernel_difference`): the median test and best
    validation PSNR-Y of the PECL run with AVX2 kernels and of this machine's (`avx2_psnr`,
    `native_psnr`, `avx2_val`, `native_val`), their paired difference (`kernel_diff`) and what
    became of the AVX2 run (`avx2_run`)."""
    found = kernels or {}
    return {
        "avx2_psnr": number(found.get("avx2 PSNR-Y"), unit=" dB"),
        "native_psnr": number(found.get("native PSNR-Y"), unit=" dB"),
        "kernel_diff": difference(found.get("diff"), found.get("diff_ci_low"), found.get("diff_ci_high")),
        "avx2_val": number(found.get("avx2 val PSNR-Y")),
        "native_val": number(found.get("native val PSNR-Y"), unit=" dB"),
        "avx2_run": _avx2_run(kernels),
    }


def _avx2_run(kernels: dict | None) -> str:
    """Whether the PECL run with AVX2 kernels was scored, has no score, or is not trained on this CPU."""
    if kernels is not None:
        return "was trained and scored in this build"
    if has_avx512_kernels():
        return "has no test score in this build"
    capability = torch.backends.cpu.get_cpu_capability()
    return (
        f"is not trained in this build: torch runs {capability} kernels on this CPU, so it would train as the others do"
    )


def _seed_numbers(by_seed: pd.DataFrame) -> dict[str, str]:
    """Question 4 of chapter 7: the seeds (`seeds`), the standard deviation of each loss's median
    PSNR-Y over them (`seed_sd_mse`, `seed_sd_pecl`) and the range of the paired PECL - MSE
    difference (`seed_diffs`: the same at every seed, "nil" where it rounds to zero there)."""
    diffs = by_seed["diff"].dropna()
    low, high = number(diffs.min(), "+.2f"), number(diffs.max(), "+.2f")
    if low == high == "+0.00":
        spread = "nil (below 0.01 dB)"
    elif low == high:
        spread = number(diffs.min(), "+.2f", " dB")
    else:
        spread = f"between {low} and {high} dB"
    return {
        "seeds": ", ".join(str(seed) for seed in by_seed.index) or "none",
        "seed_sd_mse": number(by_seed["MSE PSNR-Y"].std(), unit=" dB"),
        "seed_sd_pecl": number(by_seed["PECL PSNR-Y"].std(), unit=" dB"),
        "seed_diffs": spread,
    }


def _real_numbers(real: pd.DataFrame | None) -> dict[str, str]:
    """Question 5 of chapter 7: how many real crops were read (`real_crops`, or why none) and the
    share read exactly as they are and after each model (`real_reads`)."""
    if real is None or real.empty:
        crops = "skipped: no folder of them was given" if real is None else "none could be read from the folder given"
        return {"real_crops": crops, "real_reads": "not measured"}
    shares = real.groupby("method", sort=False)["exact"].mean()
    reads = [
        f"{number(share, '.1%')} {method if method == 'as is' else 'after ' + method}"
        for method, share in shares.items()
    ]
    return {"real_crops": f"{real['file'].nunique():,} of them", "real_reads": names(reads, style="")}


def ocr_agreement(per_plate: pd.DataFrame, confident: float = 0.9) -> dict:
    """How far PaddleOCR's confidence tells an exact read from a wrong one, over per-plate rows
    (`ocr_conf`, `exact`): the shares of confident-but-wrong and unsure-but-right reads, and the
    AUROC of the confidence as a predictor of an exact read (0.5: no better than chance)."""
    conf, exact = per_plate["ocr_conf"].to_numpy(float), per_plate["exact"].to_numpy(bool)
    right, wrong = conf[exact], conf[~exact]
    auroc = (
        float(((right[:, None] > wrong[None]) + 0.5 * (right[:, None] == wrong[None])).mean())
        if len(right) and len(wrong)
        else float("nan")
    )
    return {
        "plates": len(conf),
        "exact": float(exact.mean()),
        "mean_conf": float(conf.mean()),
        f"conf>={confident}_but_wrong": float(((conf >= confident) & ~exact).mean()),
        f"conf<{confident}_but_exact": float(((conf < confident) & exact).mean()),
        "auroc": auroc,
    }


def ocr_agreement_table(per_plate: dict[str, pd.DataFrame], confident: float = 0.9) -> pd.DataFrame:
    """`ocr_agreement` of each named per-plate table, for the page: readable headers, the median
    confidence (OCRρ, as Table 1), shares to three decimals."""
    rows = {}
    for name, frame in per_plate.items():
        found = ocr_agreement(frame, confident)
        rows[name] = {
            "plates": f"{found['plates']:,}",
            "read exactly": f"{found['exact']:.3f}",
            "OCRρ (median confidence)": f"{frame['ocr_conf'].median():.3f}",
            f"confidence ≥ {confident} but wrong": f"{found[f'conf>={confident}_but_wrong']:.3f}",
            f"confidence < {confident} but exact": f"{found[f'conf<{confident}_but_exact']:.3f}",
            "AUROC (confidence → exact)": number(found["auroc"], ".3f", absent="– (no wrong or no exact read)"),
        }
    return index_in_corner(pd.DataFrame.from_dict(rows, orient="index").rename_axis("variant"))


def confident_misreads(per_plate: dict[str, pd.DataFrame], confident: float = 0.9, n: int = 8):
    """The `n` most confident misreads among the named per-plate tables (a pandas Styler): the
    variant, the plate's text, what PaddleOCR read, its confidence (at least `confident`), the
    share of characters read right."""
    wrong = [
        frame[(frame["ocr_conf"] >= confident) & (frame["exact"] == 0)].assign(variant=name)
        for name, frame in per_plate.items()
    ]
    rows = pd.concat(wrong) if wrong else pd.DataFrame(columns=["variant", "plate", "ocr_text", "ocr_conf", "char_acc"])
    rows = rows.sort_values("ocr_conf", ascending=False, kind="stable").head(n)
    table = pd.DataFrame(
        {
            "variant": rows["variant"],
            "plate": rows["plate"],
            "read": rows["ocr_text"],
            "confidence": rows["ocr_conf"].map("{:.3f}".format),
            "characters right": rows["char_acc"].map("{:.0%}".format),
        }
    )
    return table.style.hide(axis="index")
