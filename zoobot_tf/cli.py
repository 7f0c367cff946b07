"""`zoobot-tf <verb>`: one command line over the package.

Each verb lives in the module that owns its concept and exposes ``add_arguments(parser)`` and
``run(args)``; this file only mounts them, importing a module when its verb is used so that
``zoobot-tf --help`` does not wait for TensorFlow.
"""

from __future__ import annotations

import argparse
import importlib
import sys

#: verb -> (module, one-line help)
VERBS = {
    "synthetic": ("zoobot_tf.synthetic", "render the embedded synthetic galaxies + votes (known ideal answers)"),
    "make-catalog": ("zoobot_tf.catalogs", "Galaxy Zoo vote table / label table + images -> canonical catalog CSV"),
    "make-shards": ("zoobot_tf.shards", "catalog CSV -> train/val/test TFRecord shards + manifest.json"),
    "train": ("zoobot_tf.training.command", "shards -> trained model (MirroredStrategy; resumes after a kill)"),
    "predict": ("zoobot_tf.predictions.command", "model + catalog -> HDF5 of MC-dropout Dirichlet concentrations"),
    "summarise": ("zoobot_tf.predictions.summarise_command", "HDF5 predictions -> vote fractions, intervals, P(asked)"),
    "finetune": ("zoobot_tf.training.finetune_command", "adapt a trained model to a new survey with few labels"),
    "evaluate": ("zoobot_tf.evaluation", "predictions vs volunteer / true fractions, with baseline, PNG plots"),
    "detect": ("zoobot_tf.detection.command", "FITS fields + Mask R-CNN -> source catalog (bbox, class, flux, RA/Dec)"),
    "train-classifier": ("zoobot_tf.classification.command", "class shards -> softmax classifier (DAT, Linformer, ...)"),
    "attention-maps": ("zoobot_tf.classification.command", "DAT / Linformer attention overlaid on the r band, PNG per galaxy"),
    "demo": ("zoobot_tf.demo", "run the main job end to end on the embedded synthetic data"),
}


#: verbs whose module names its functions differently from add_arguments / run
_ENTRY_POINTS = {"attention-maps": ("add_attention_arguments", "run_attention_maps")}


def build_parser(argv=None) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="zoobot-tf", description=__doc__.splitlines()[0])
    from zoobot_tf import __version__

    parser.add_argument("--version", action="version", version=f"zoobot_tf {__version__}")
    subparsers = parser.add_subparsers(dest="verb", metavar="VERB")
    subparsers.required = True
    # Only the module of the verb being run is imported (TensorFlow's import is slow).
    wanted = next((a for a in (argv or []) if a in VERBS), None)
    for verb, (module_name, help_text) in VERBS.items():
        sub = subparsers.add_parser(verb, help=help_text, description=help_text)
        if verb == wanted:
            module = importlib.import_module(module_name)
            add_arguments, run = _ENTRY_POINTS.get(verb, ("add_arguments", "run"))
            getattr(module, add_arguments)(sub)
            sub.set_defaults(_run=getattr(module, run))
    return parser


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    parser = build_parser(argv)
    args = parser.parse_args(argv)
    try:
        result = args._run(args)
    except (ValueError, FileNotFoundError, KeyError) as error:
        # Bad input (a catalog row, an image, a schema name): the message names it; no traceback.
        message = error.args[0] if isinstance(error, KeyError) and error.args else error
        print(f"zoobot-tf {args.verb}: error: {message}", file=sys.stderr)
        return 2
    return int(result or 0)


if __name__ == "__main__":
    sys.exit(main())
