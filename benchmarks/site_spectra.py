"""How two sites' images differ in frequency: the share of each image's spectral power (mean removed) in
rings of cycles per image, averaged over each data set's cached images (the standard profile, z-scored).

    python benchmarks/site_spectra.py /work/data/busi /work/data/stu -o benchmarks/results/site_spectra

Writes OUT/site_spectra.json and OUT/site_spectra.md with the command, the machine and the wall time.
It is why AIDE's `fda_band` swaps the low band only (docs/methods.md).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import shlex
import sys
import time
from pathlib import Path

import numpy as np

from aidemed.data.cache import load_arrays
from aidemed.data.manifest import atomic_write_text, load_dataset
from aidemed.engine.run import environment

RINGS = ((0.5, 2), (2, 5), (5, 10), (10, 20), (20, 40), (40, math.inf))  # cycles per image


def ring_power_shares(images: np.ndarray) -> np.ndarray:
    """(n_images, n_rings): each image's power per ring over its power without the mean (DC)."""
    height, width = images.shape[-2:]
    power = np.abs(np.fft.fft2(images.astype(np.float64))) ** 2
    fy, fx = np.fft.fftfreq(height) * height, np.fft.fftfreq(width) * width
    radius = np.sqrt(fy[:, None] ** 2 + fx[None, :] ** 2)
    total = power[:, radius > 0].sum(1)
    return np.stack([power[:, (radius >= lo) & (radius < hi)].sum(1) / total for lo, hi in RINGS], 1)


def ring_label(low: float, high: float) -> str:
    return f"{low} and above" if math.isinf(high) else f"{low}-{high}"


def site_images(root: Path) -> np.ndarray:
    images = np.asarray(load_arrays(load_dataset(root)).images)
    return images.reshape(-1, *images.shape[-2:])  # channels of a case counted as images


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("datasets", nargs="+", type=Path, help="prepared data sets (aidemed data import)")
    parser.add_argument("-o", "--out", type=Path, required=True)
    args = parser.parse_args(argv)
    start = time.perf_counter()
    sites = {}
    for root in args.datasets:
        shares = ring_power_shares(site_images(root))
        sites[root.name] = {"images": len(shares), "mean_share": shares.mean(0).round(4).tolist(),
                            "sd_share": shares.std(0).round(4).tolist()}
    wall = time.perf_counter() - start
    command = "python benchmarks/site_spectra.py " + shlex.join(sys.argv[1:] if argv is None else argv)
    result = {"command": command, "machine": f"{environment()['processor']}, {os.cpu_count()} cores", "wall_s": round(wall, 1),
              "rings_cycles_per_image": [[lo, None if math.isinf(hi) else hi] for lo, hi in RINGS], "sites": sites}
    args.out.mkdir(parents=True, exist_ok=True)
    atomic_write_text(args.out / "site_spectra.json", json.dumps(result, indent=2) + "\n")
    header = "| cycles per image | " + " | ".join(f"{name} ({s['images']} images)" for name, s in sites.items()) + " |"
    rows = [f"| {ring_label(lo, hi)} | " + " | ".join(f"{s['mean_share'][i]:.3f} ± {s['sd_share'][i]:.3f}" for s in sites.values()) + " |"
            for i, (lo, hi) in enumerate(RINGS)]
    text = ["# Share of spectral power per ring of frequencies (mean ± sd over images, DC left out)", "",
            f"Command: `{command}`", "", f"Machine: {result['machine']}; wall time {wall:.1f} s.", "",
            header, "|" + "---|" * (len(sites) + 1), *rows, ""]
    atomic_write_text(args.out / "site_spectra.md", "\n".join(text))
    print("\n".join(text))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
