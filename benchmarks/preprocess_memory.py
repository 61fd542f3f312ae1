"""Peak extra memory of preprocessing absurd and huge images, each in a fresh process.

    python benchmarks/preprocess_memory.py [--json] [--smoke]

For each shape a PNG (or JPEG) is written once, then a child process reads its bytes, notes
its peak resident memory (VmHWM), runs ``multimodal.catalog.images.preprocess`` and reports the growth of
the peak (``ru_maxrss``) and the outcome (28x28 result or the refusal message).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

CASES = (  # (width, height, mode, format)
    (39_000_000, 1, "L", "PNG"),
    (20_000, 2_000, "L", "PNG"),
    (12_000, 3_333, "RGB", "PNG"),
    (6_000, 6_000, "RGBA", "PNG"),
    (6_000, 6_000, "RGB", "JPEG"),
)

# VmHWM (peak resident set) starts afresh at exec; ru_maxrss would inherit the parent's peak.
CHILD = r"""
import json, sys
from multimodal.catalog.images import preprocess
from multimodal.errors import InvalidInputError

def peak_kb():
    for line in open("/proc/self/status"):
        if line.startswith("VmHWM:"):
            return int(line.split()[1])

data = open(sys.argv[1], "rb").read()
before = peak_kb()
try:
    out = preprocess(data)
    outcome = f"result {out.shape}"
except InvalidInputError as exc:
    outcome = f"refused: {exc}"
after = peak_kb()
print(json.dumps({"extra_mb": round((after - before) / 1024, 1), "outcome": outcome}))
"""


def _write(path: Path, width: int, height: int, mode: str, fmt: str) -> None:
    from PIL import Image, ImageDraw

    image = Image.new(mode, (width, height), "white")
    if min(width, height) > 10:
        ImageDraw.Draw(image).rectangle((width // 4, height // 4, width // 2, height // 2), fill="black")
    image.save(path, format=fmt)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--smoke", action="store_true", help="two small cases (a check that it runs)")
    args = parser.parse_args()
    rows = []
    cases = ((39_000_000, 1, "L", "PNG"), (1_000, 800, "RGB", "JPEG")) if args.smoke else CASES
    with tempfile.TemporaryDirectory() as tmp:
        for width, height, mode, fmt in cases:
            path = Path(tmp) / f"{width}x{height}.{fmt.lower()}"
            _write(path, width, height, mode, fmt)
            env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
            run = subprocess.run([sys.executable, "-c", CHILD, str(path)], capture_output=True, text=True, check=True, env=env)
            result = json.loads(run.stdout.strip().splitlines()[-1])
            rows.append({"size": f"{width:,} x {height:,}", "mode": mode, "format": fmt,
                         "file_kb": round(path.stat().st_size / 1024, 1), **result})
    if args.json:
        print(json.dumps(rows, indent=2))
        return
    for r in rows:
        print(f"{r['size']:>16} {r['mode']:4} {r['format']:4} {r['file_kb']:>9,.1f} KB  +{r['extra_mb']:7.1f} MB  {r['outcome'][:90]}")


if __name__ == "__main__":
    main()
