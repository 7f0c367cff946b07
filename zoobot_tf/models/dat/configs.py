"""Published DAT configurations (Xia et al. 2022, CVPR; the reference code's ``configs/dat_*.yaml``)
and a very small one for tests.

Each entry is a set of keyword arguments of :func:`zoobot_tf.models.dat.dat_backbone`; the
registered architecture of the same name builds it, and keyword arguments given to ``get_model``
override single entries (e.g. ``get_model(..., architecture="dat_tiny", drop_path_rate=0.0)``).

Common to the published models: patch embedding 4x4 stride 4, window 7 (feature maps 56-28-14-7
at 224 px), MLP ratio 4, blocks ``LS`` in stages 1-2 and ``LD`` in stages 3-4, offset networks
with kernels 5 (stage 3) and 3 (stage 4), stride 1 and range factor 2. ``groups`` only matters
for stages with deformable blocks (the reference code has -1 for stages 1-2).
"""

from __future__ import annotations

__all__ = ["DAT_CONFIGS"]

DAT_CONFIGS = {
    "dat_tiny": dict(
        dims=(96, 192, 384, 768),
        depths=(2, 2, 6, 2),
        heads=(3, 6, 12, 24),
        groups=(1, 1, 3, 6),
        drop_path_rate=0.2,
    ),
    "dat_small": dict(
        dims=(96, 192, 384, 768),
        depths=(2, 2, 18, 2),
        heads=(3, 6, 12, 24),
        groups=(1, 1, 3, 6),
        drop_path_rate=0.3,
    ),
    "dat_base": dict(
        dims=(128, 256, 512, 1024),
        depths=(2, 2, 18, 2),
        heads=(4, 8, 16, 32),
        groups=(1, 1, 4, 8),
        drop_path_rate=0.5,
    ),
    # tiny, for tests and CPU smoke runs: every block kind, padding and shifted windows at 32-64 px,
    # in five blocks (graph tracing, not arithmetic, dominates a CPU test's run time)
    "dat_test": dict(
        dims=(16, 32, 48, 64),
        depths=(1, 1, 2, 1),
        stage_spec=("L", "S", "LD", "D"),
        heads=(1, 2, 3, 4),
        groups=(1, 1, 1, 2),
        window_size=4,
        drop_path_rate=0.0,
    ),
}
