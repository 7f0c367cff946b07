"""Max abs difference between our timm-layout encoders and timm itself, per channel count and size.

Uses the fixtures of ``tests/data/timm`` (timm's features for seeded weights, written once with
torch + timm by ``tests/data/timm/make_timm_fixtures.py``): the same weights are drawn in numpy,
imported through ``zoobot_tf.models.pretrained`` and the Keras features compared. No torch here::

    python benchmarks/timm_equality.py --out benchmarks/results/timm_equality [ARCH ...]

Writes ``equality.json`` and prints the table (``tests/test_pretrained_encoders.py`` asserts
<= 1e-4 for the same figures).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
TESTS = Path(__file__).resolve().parents[1] / "tests"
sys.path.insert(0, str(TESTS))


def equality(architecture):
    """{(channels, size): max abs diff} for ``architecture``'s fixture."""
    import numpy as np
    from safetensors.numpy import save_file
    from timm_weights import draw_images, draw_state_dict

    from zoobot_tf.models.pretrained import import_encoder

    meta = json.loads((TESTS / "data" / "timm" / f"{architecture}.json").read_text())
    with np.load(TESTS / "data" / "timm" / f"{architecture}.npz") as expected:
        expected = dict(expected)
    diffs = {}
    with tempfile.TemporaryDirectory() as folder:
        for channels in meta["channels"]:
            path = Path(folder) / f"c{channels}.safetensors"
            save_file(draw_state_dict(meta["keys"][str(channels)], meta["seed"]), str(path))
            for size in meta["sizes"]:
                encoder = import_encoder(path, architecture=architecture, image_size=size)
                got = np.asarray(encoder(draw_images(meta["seed"], size, channels), training=False))
                want = expected[f"c{channels}_s{size}"]
                diffs[(channels, size)] = (float(np.abs(got - want).max()), float(np.abs(want).max()))
    return meta, diffs


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("architectures", nargs="*", help="default: every fixture")
    parser.add_argument("--out", default=None, help="folder for equality.json")
    args = parser.parse_args(argv)
    names = args.architectures or sorted(p.stem for p in (TESTS / "data" / "timm").glob("*.json"))
    rows = []
    print(f"{'architecture':26s} {'timm model':26s} channels  size  max|diff|   max|feature|")
    for name in names:
        meta, diffs = equality(name)
        for (channels, size), (diff, scale) in diffs.items():
            rows.append({"architecture": name, "timm_model": meta.get("timm_model", name), "channels": channels,
                         "size": size, "max_abs_diff": diff, "max_abs_feature": scale,
                         "timm": meta["timm"], "torch": meta["torch"]})
            print(f"{name:26s} {meta.get('timm_model', name):26s} {channels:8d} {size:5d}  {diff:.2e}   {scale:.3g}",
                  flush=True)
    if args.out:
        Path(args.out).mkdir(parents=True, exist_ok=True)
        (Path(args.out) / "equality.json").write_text(json.dumps(rows, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
