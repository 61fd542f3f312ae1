"""How long the load-time checksum of a large artifact takes, against reading it.

    python benchmarks/checksum_speed.py [--items 1000000] [--dim 64] [--smoke]

Writes ``items x dim`` float32 vectors as .npy to a temporary folder, then times (best of 3,
file in the page cache) sha256 as ``multimodal.io.file_sha256`` computes it, blake2b, and
``np.load`` of the same file.
"""

from __future__ import annotations

import argparse
import hashlib
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from multimodal.io import file_sha256  # noqa: E402


def _best(fn, repeats: int = 3) -> float:
    fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=1_000_000)
    parser.add_argument("--dim", type=int, default=64)
    parser.add_argument("--smoke", action="store_true", help="10,000 vectors (a check that it runs)")
    args = parser.parse_args()
    if args.smoke:
        args.items = 10_000
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "vectors.npy"
        np.save(path, np.random.default_rng(0).standard_normal((args.items, args.dim)).astype(np.float32))
        size = path.stat().st_size

        def blake2b() -> str:
            digest = hashlib.blake2b()
            with open(path, "rb") as handle:
                while block := handle.read(1 << 20):
                    digest.update(block)
            return digest.hexdigest()

        for name, fn in (("sha256 (file_sha256)", lambda: file_sha256(path)), ("blake2b", blake2b),
                         ("np.load", lambda: np.load(path))):
            seconds = _best(fn)
            print(f"{name:22} {seconds:6.3f} s  {size / seconds / 1e9:5.2f} GB/s  ({size / 1e6:,.0f} MB)")


if __name__ == "__main__":
    main()
