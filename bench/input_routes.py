"""The demo's accuracy through each input route, as a user reaches it from the command line.

    python bench/input_routes.py [NET]      # default: the bundled demo CNN

From the net's embedded samples it writes the same samples four ways into a
temporary folder, then runs ``main.py sweep NET --layer -1`` on each in a
fresh process (the command a user types, with the preprocessing Strata
proposes for the file) and prints the accuracy line of each:

    embedded        the net's own samples, its stored preprocessing
    float npz       values / nominal maximum: float32 0..1
    uint8 npz       values rescaled to 0..255, rounded to uint8
    PNG folder      the uint8 values as 8-bit PNGs, one subfolder per class

Needs Pillow for the PNG route. Not a test: it prints, it does not judge.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import tempfile

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from viewer.data.proposal import measure, nominal_range  # noqa: E402
from viewer.session import BUNDLED_DEMO, open_net  # noqa: E402


def write_routes(net_path: str, folder: str) -> dict[str, str | None]:
    """The samples file of each route (None: the embedded samples)."""
    from PIL import Image

    _, own = open_net(net_path)
    raw = own.raw_batch(np.arange(len(own))).astype(np.float64)
    top = nominal_range(own, measure(own)[0]).hi
    if own.layout == "channels_first" and raw.ndim == 4:
        raw = raw.transpose(0, 2, 3, 1)  # images and the npz files channels last
    raw = raw[..., 0] if raw.ndim == 4 and raw.shape[-1] == 1 else raw
    routes = {"embedded": None}
    routes["float npz"] = os.path.join(folder, "float01.npz")
    np.savez(routes["float npz"], X=(raw / top).astype(np.float32), labels=own.labels)
    uint8 = np.round(raw * (255 / top)).astype(np.uint8)
    routes["uint8 npz"] = os.path.join(folder, "uint8.npz")
    np.savez(routes["uint8 npz"], X=uint8, labels=own.labels)
    routes["PNG folder"] = os.path.join(folder, "png")
    names = own.label_names or [str(k) for k in range(int(own.labels.max()) + 1)]
    for i, (pixels, label) in enumerate(zip(uint8, own.labels)):
        sub = os.path.join(routes["PNG folder"], f"{label:03d}_{names[label]}")
        os.makedirs(sub, exist_ok=True)
        Image.fromarray(pixels).save(os.path.join(sub, f"{i:05d}.png"))
    return routes


def main() -> int:
    net = sys.argv[1] if len(sys.argv) > 1 else BUNDLED_DEMO
    print(f"net: {net}")
    with tempfile.TemporaryDirectory() as folder:
        for route, path in write_routes(net, folder).items():
            args = [sys.executable, os.path.join(ROOT, "main.py"), "sweep", net, "--layer", "-1",
                    "-o", os.path.join(folder, "sweep")] + (["--samples", path] if path else [])
            done = subprocess.run(args, capture_output=True, text=True)
            found = re.search(r"accuracy (.*)$", done.stdout.strip())
            said = " | ".join(line.split(": ", 1)[-1] for line in done.stderr.strip().splitlines())
            print(f"{route:11s} {found.group(1) if found else 'no accuracy: ' + done.stderr.strip()}"
                  + (f"   [{said}]" if said and found else ""))
    return 0


if __name__ == "__main__":
    sys.exit(main())
