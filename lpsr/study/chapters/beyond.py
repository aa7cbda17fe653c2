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


# The seeds of chapter 7's question 4, by profile; at `cpu` two, for the same reason (`seeds_note`).
SEEDS = {"smoke": (0, 1), "cpu": (0, 1), "paper": (0, 1, 2)}


def seeds_note(seeds, profile: str) -> str:
    """Chapter 7's sentence on how many seeds question 4 trains, where that is fewer than the
    `paper` profile's ("" otherwise)."""
    if len(seeds) >= len(SEEDS["paper"]):
        return ""
    return (
        f"At the `{profile}` profile question 4 trains {len(seeds)} seed{'s' if len(seeds) != 1 else ''}"
        f" (the `paper` profile {len(SEEDS['paper'])}): each seed is an MSE run, a PECL run and its own"
        " pretrained encoder, and each more would lengthen the `cpu` book's build (the introduction times it),"
        f" so the spread above is that of {len(seeds)} values, a rough scale rather than an estimate."
    )


def beyond_findings(
    readings: dict[str, dict],
    per_plate: dict[str, pd.DataFrame],
    encoders: dict[str, Scored],
    by_seed: pd.DataFrame,
    real: pd.DataFrame | None = None,
    confident: float = 0.9,
    kernels: dict | None = None,
) -> dict[str, str]:
    """Chapter 7's sentences (Markdown), keyed for myst-nb's glue: (1) which reading and weighting
    has the highest test PSNR-Y and the most exact reads (ties named together), from their test
    summaries; (2) how far OCR confidence tells exact reads from wrong ones, from their per-plate
    reads; (3) each encoder's PSNR-Y or why it was not trained; (4) the spread over seeds of PSNR-Y
    and of the paired PECL - MSE difference, from the seed table, and across machines
    (`kernel_difference`; None: not measured here); (5) the exact reads of the real crops as they
    are and after each model (`read_before_and_after`; None: question 5 skipped)."""
    psnr = {name: s.get("psnr_y_median") for name, s in readings.items()}
    exact = {name: s.get("ocr_exact") for name, s in readings.items()}
    top, read = leaders(psnr), leaders(exact, ".1%")
    best_psnr = "none has a test score"
    if top:
        verb = "share" if len(top) > 1 else "has"
        best_psnr = f"{names(top)} {verb} the highest median test PSNR-Y ({number(psnr[top[0]], unit=' dB')})"
    best_exact = "none was read by OCR"
    if read and len(read) == len([v for v in exact.values() if not missing(v)]) and len(read) > 1:
        best_exact = f"all read the same share exactly ({number(exact[read[0]], '.1%')})"
    elif read:
        best_exact = (
            f"{names(read)} {'share ' if len(read) > 1 else ''}the most exact reads ({number(exact[read[0]], '.1%')})"
        )
    everything = pd.concat(per_plate.values()) if per_plate else pd.DataFrame({"ocr_conf": [], "exact": []})
    auroc = pd.Series([ocr_agreement(frame, confident)["auroc"] for frame in per_plate.values()], dtype=float).mean()
    if missing(auroc):
        auroc_text = "Whether PaddleOCR's confidence separates exact reads from wrong ones is not measured: no variant has both exact and wrong reads"
    else:
        auroc_text = f"PaddleOCR's confidence separates exact reads from wrong ones with a mean AUROC of {number(auroc)} over those variants (0.5: chance)"
    wrong = int(((everything["ocr_conf"] >= confident) & (everything["exact"] == 0)).sum())
    sure_wrong = f"{wrong:,} of {len(everything):,} reads were wrong with a confidence of {confident:g} or more"
    if wrong:
        sure_wrong += ", so a high OCRρ does not by itself mean a plate was read"
    return {
        "best_psnr": best_psnr,
        "best_exact": best_exact,
        "auroc": auroc_text,
        "sure_wrong": sure_wrong,
        "encoders": "; ".join(f"{name}: {_encoder(s)}" for name, s in encoders.items()) or "no encoder was trained",
        **_seed_findings(by_seed),
        "kernels": _kernel_findings(kernels),
        "real": _real_findings(real),
    }


def _encoder(scored: Scored) -> str:
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


def _kernel_findings(kernels: dict | None) -> str:
    """Question 4's spread across machines: the AVX2-kernel PECL run against this machine's."""
    if kernels is None and has_avx512_kernels():
        return "The spread across machines is not measured in this build: the PECL run with AVX2 kernels has no test score."
    if kernels is None:
        return (
            f"The spread across machines is not measured in this build: torch runs "
            f"{torch.backends.cpu.get_cpu_capability()} kernels on this CPU, so a run with AVX2 kernels "
            "would train as this machine does (it takes a CPU with AVX-512)."
        )
    return (
        f"Trained with AVX2 kernels, as an AVX2-only CPU trains it (in fp32, with a plates encoder "
        f"pretrained with the same kernels), PECL seed {kernels['seed']} reaches a median test PSNR-Y of "
        f"{number(kernels['avx2 PSNR-Y'], unit=' dB')} against this machine's "
        f"{number(kernels['native PSNR-Y'], unit=' dB')}, a paired difference of "
        f"{difference(kernels['diff'], kernels['diff_ci_low'], kernels['diff_ci_high'])} (best validation "
        f"PSNR-Y {number(kernels['avx2 val PSNR-Y'])} against {number(kernels['native val PSNR-Y'])} dB): "
        "the spread across machines, to read beside the spread over seeds."
    )


def _seed_findings(by_seed: pd.DataFrame) -> dict[str, str]:
    """Question 4 of chapter 7: the seeds, the spread of each loss's median PSNR-Y over them and the
    range of the paired PECL - MSE difference."""
    seeds = ", ".join(str(seed) for seed in by_seed.index)
    if len(by_seed) < 2:
        spread = "is measured at a single seed, so its spread over seeds is not measured"
    else:
        spread = (
            f"varies with a standard deviation of {number(by_seed['MSE PSNR-Y'].std(), unit=' dB')} (MSE) and "
            f"{number(by_seed['PECL PSNR-Y'].std(), unit=' dB')} (PECL)"
        )
    diffs = by_seed["diff"].dropna()
    low, high = number(diffs.min() if len(diffs) else None, "+.2f"), number(diffs.max() if len(diffs) else None, "+.2f")
    if diffs.empty:
        diff = "is not measured"
    elif low == high == "+0.00":
        diff = "is nil at every seed (below 0.01 dB)"
    elif low == high:
        diff = f"is {low} dB at every seed"
    else:
        diff = f"ranges from {low} to {high} dB"
    return {"seeds": seeds or "none", "seed_spread": spread, "seed_diffs": diff}


def _real_findings(real: pd.DataFrame | None) -> str:
    """Question 5 of chapter 7: the share of real crops read exactly as they are and after each model."""
    if real is None:
        return "**5.** Skipped: no folder of real small plates was given."
    if real.empty:
        return "**5.** No real crop could be read from the folder given."
    shares = real.groupby("method", sort=False)["exact"].mean()
    reads = ", ".join(
        f"{number(share, '.1%')} exactly {method if method == 'as is' else 'after ' + method}"
        for method, share in shares.items()
    )
    return (
        f"**5.** On {real['file'].nunique():,} real 94×24 crops PaddleOCR reads {reads}. "
        "The crops are not ×8 downscales, so they lie outside what the models learnt."
    )


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
