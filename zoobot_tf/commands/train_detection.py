"""``zoobot-tf train-detection``: Mask R-CNN that detects, deblends and classifies galaxies and stars.

The two-phase schedule of the HSC study: the heads (FPN, RPN, box/class and mask heads) with the
ResNet backbone frozen, then the whole network at a tenth of the learning rate. Writes
``model.keras`` (use it with ``zoobot-tf detect``), ``history.csv``/``.json``, ``loss.png`` and
``config.json`` to ``--out``. Data: synthetic blended g, r, i fields (exact labels; the default),
or a COCO JSON of your labelled cut-outs (categories 'galaxy' and 'star', e.g. ``sep`` labels
exported with ``zoobot_tf.detection.coco``) and the FITS files it names. ``--preset hsc_resnet50``
has the study's full-size settings. Use the same ``--scaling`` at inference (the model records it,
and ``detect`` defaults to it).
"""

from __future__ import annotations

import argparse
import os

__all__ = ["add_arguments", "run"]


def _range(text):
    """'5,30' -> (5, 30); '10' -> 10."""
    parts = [int(p) for p in str(text).split(",")]
    if len(parts) == 1:
        return parts[0]
    if len(parts) != 2 or parts[0] > parts[1]:
        raise argparse.ArgumentTypeError(f"expected N or LOW,HIGH, got {text!r}")
    return tuple(parts)


def _floats(text):
    try:
        return tuple(float(p) for p in text.split(","))
    except ValueError as err:
        raise argparse.ArgumentTypeError(f"expected comma-separated numbers, got {text!r}") from err


def add_arguments(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """Options of ``zoobot-tf train-detection`` (see :func:`zoobot_tf.detection.train_detection`)."""
    from zoobot_tf.detection.model.config import BACKBONES
    from zoobot_tf.detection.scalings import DEFAULT_SCALING
    from zoobot_tf.images.scalings import SCALINGS

    parser.add_argument("--out", required=True, help="run directory (model.keras, history, loss.png, config.json)")
    data = parser.add_argument_group("labelled images (default: synthetic fields)")
    data.add_argument("--coco", help="COCO JSON of the training images")
    data.add_argument("--images-dir", help="folder the COCO file_names are relative to")
    data.add_argument("--val-coco", help="COCO JSON of validation images (same --images-dir)")
    data.add_argument("--hdu", default=None, help="FITS HDU of the images (index or name; default auto)")
    data.add_argument("--box-masks", action="store_true", help="use boxes as masks where a segmentation is missing")
    synth = parser.add_argument_group("synthetic fields (zoobot_tf.detection.scenes)")
    synth.add_argument("--n-train", type=int, default=2000, help="training fields (default 2000)")
    synth.add_argument("--n-val", type=int, default=200, help="validation fields (default 200)")
    synth.add_argument("--size", type=int, default=256, help="field side in pixels (default 256)")
    synth.add_argument("--n-galaxies", type=_range, default=(5, 30), help="galaxies per field, N or LOW,HIGH")
    synth.add_argument("--n-stars", type=_range, default=(2, 15), help="stars per field, N or LOW,HIGH")
    synth.add_argument("--crowding", type=float, default=0.3, help="blend probability, 0-1 (default 0.3)")
    synth.add_argument("--bands", default="g,r,i", help="bands (default g,r,i as HSC)")
    model = parser.add_argument_group("model and schedule")
    model.add_argument("--backbone", default="resnet50", choices=sorted(BACKBONES), help="default resnet50")
    model.add_argument("--backbone-weights", help="a .weights.h5 of the same backbone to start from")
    model.add_argument("--scaling", default=DEFAULT_SCALING, choices=SCALINGS,
                       help=f"default {DEFAULT_SCALING}")
    model.add_argument("--anchor-sizes", type=_floats, default=(8.0, 16.0, 32.0, 64.0, 128.0),
                       help="anchor side in pixels on P2..P6 (default 8,16,32,64,128)")
    model.add_argument("--epochs-heads", type=int, default=10, help="phase 1 epochs, backbone frozen (default 10)")
    model.add_argument("--epochs-all", type=int, default=30, help="phase 2 epochs, all layers (default 30)")
    model.add_argument("--batch-size", type=int, default=4)
    model.add_argument("--learning-rate", type=float, default=1e-3, help="phase 1 (default 1e-3)")
    model.add_argument("--learning-rate-all", type=float, default=None, help="phase 2 (default a tenth of phase 1)")
    model.add_argument("--optimizer", default="adam", choices=("adam", "sgd"))
    model.add_argument("--schedule", default="constant", choices=("constant", "cosine"),
                       help="learning rate within each phase: constant, or cosine decay to 1%% (default constant)")
    model.add_argument("--no-augment", action="store_true",
                       help="train on the fields as they are (default: each in a random flip / 90-degree rotation)")
    model.add_argument("--max-objects", type=int, default=None, help="padded objects per field (default: most seen)")
    model.add_argument("--steps-per-epoch", type=int, default=None, help="default: one pass over the fields")
    model.add_argument("--seed", type=int, default=0)
    parser.add_argument("--no-progress", action="store_true", help="hide the progress bars")
    return parser


def load_data(args):
    """(train scenes, validation scenes or None) from COCO files or freshly drawn synthetic fields."""
    from zoobot_tf.detection.train import scenes_from_coco

    if args.coco:
        if not args.images_dir:
            raise ValueError("--coco needs --images-dir")
        hdu = int(args.hdu) if args.hdu is not None and args.hdu.lstrip("-").isdigit() else args.hdu
        train = scenes_from_coco(args.coco, args.images_dir, hdu=hdu, box_masks=args.box_masks)
        val = (scenes_from_coco(args.val_coco, args.images_dir, hdu=hdu, box_masks=args.box_masks)
               if args.val_coco else None)
        return train, val
    from zoobot_tf.detection.scenes import make_scenes

    kwargs = dict(n_galaxies=args.n_galaxies, n_stars=args.n_stars, crowding=args.crowding,
                  bands=tuple(b.strip() for b in args.bands.split(",")))
    progress = not args.no_progress
    train = make_scenes(args.n_train, args.size, seed=args.seed, progress=progress, **kwargs)
    val = make_scenes(args.n_val, args.size, seed=args.seed + 1, progress=progress, **kwargs) if args.n_val else None
    return train, val


def run(args: argparse.Namespace) -> int:
    """Train as described by parsed ``args``; print where the model is; return 0."""
    from zoobot_tf.detection.train import train_detection

    train, val = load_data(args)
    model, history = train_detection(
        train, args.out, args.epochs_heads, args.epochs_all, val_scenes=val, backbone=args.backbone,
        backbone_weights=args.backbone_weights, scaling=args.scaling, batch_size=args.batch_size,
        learning_rate=args.learning_rate, learning_rate_all=args.learning_rate_all, optimizer=args.optimizer,
        schedule=args.schedule, augment=not args.no_augment, max_objects=args.max_objects,
        steps_per_epoch=args.steps_per_epoch, seed=args.seed, progress=not args.no_progress,
        model_kwargs={"anchor_sizes": args.anchor_sizes},
    )
    last = history[-1]
    summary = f"loss {last['loss']:.3f}" + (f", val_loss {last['val_loss']:.3f}" if "val_loss" in last else "")
    print(f"trained {model.backbone_config} Mask R-CNN for {len(history)} epochs ({summary}); "
          f"saved {os.path.join(args.out, 'model.keras')}")
    return 0
