"""`zoobot-tf <verb>`: one command line over the package.

Each verb lives in a module that exposes ``add_arguments(parser)`` and ``run(args)``; this file
only mounts them, importing a module when its verb is used so that ``zoobot-tf --help`` does not
wait for TensorFlow. It also owns what every verb shares: logging (``-v`` / ``-q``), hiding
TensorFlow's native log lines unless ``-v`` asks for them, and the exit codes.

Exit codes: 0 success; 2 a command-line usage error (argparse); 65 bad input data (a catalog
row, an image, a schema name, a run directory that does not match: a ``ValueError`` / ``KeyError``
the package raises on purpose, i.e. from a ``raise`` statement of its own); 66 an input file or
directory that does not exist; 1 anything else, which is a bug (its one-line summary says so, and
``-v`` prints the traceback of every error).
"""

from __future__ import annotations

import argparse
import importlib
import linecache
import logging
import sys
import traceback
from pathlib import Path

#: verb -> (module with add_arguments / run, one-line help)
VERBS = {
    "synthetic": ("zoobot_tf.commands.synthetic", "render the embedded synthetic galaxies + votes (known ideal answers)"),
    "make-catalog": ("zoobot_tf.commands.make_catalog", "Galaxy Zoo vote table / label table + images -> canonical catalog CSV"),
    "make-shards": ("zoobot_tf.commands.make_shards", "catalog CSV -> train/val/test TFRecord shards + manifest.json"),
    "train": ("zoobot_tf.commands.train", "shards -> trained model (MirroredStrategy; resumes after a kill)"),
    "predict": ("zoobot_tf.commands.predict", "model + catalog -> HDF5 of MC-dropout Dirichlet concentrations"),
    "embed": ("zoobot_tf.commands.embed", "model + catalog -> HDF5 of encoder features (+ --pca K parquet)"),
    "merge-predictions": ("zoobot_tf.commands.merge_predictions",
                          "complete worker HDF5 files -> one HDF5 (checks every worker is there)"),
    "summarise": ("zoobot_tf.commands.summarise", "HDF5 predictions -> vote fractions, intervals, P(asked)"),
    "import-encoder": ("zoobot_tf.commands.import_encoder",
                       "timm / zoobot checkpoint (model.safetensors) -> Keras encoder (.keras)"),
    "finetune": ("zoobot_tf.commands.finetune", "adapt a trained model to a new survey with few labels"),
    "evaluate": ("zoobot_tf.commands.evaluate", "predictions vs volunteer / true fractions, with baseline, PNG plots"),
    "similar": ("zoobot_tf.commands.similar", "the k galaxies nearest an id or a new image (cosine, faiss) + gallery"),
    "anomalies": ("zoobot_tf.commands.anomalies", "anomaly score per galaxy (k-NN distance) + gallery of the top N"),
    "acquire": ("zoobot_tf.commands.acquire", "galaxies to label next by BALD mutual information -> Zooniverse CSV"),
    "train-detection": ("zoobot_tf.commands.train_detection",
                        "synthetic or COCO-labelled fields -> Mask R-CNN (detect, deblend, star/galaxy)"),
    "detect": ("zoobot_tf.commands.detect", "FITS fields + Mask R-CNN -> source catalog (bbox, class, flux, RA/Dec)"),
    "train-classifier": ("zoobot_tf.commands.train_classifier", "class shards -> softmax classifier (DAT, Linformer, ...)"),
    "attention-maps": ("zoobot_tf.commands.attention_maps",
                       "DAT / Linformer attention overlaid on the r band, PNG per galaxy"),
    "train-kaggle": ("zoobot_tf.commands.train_kaggle",
                     "the Galaxy Zoo Kaggle 37-output model (table, shards or synthetic) + RMSE vs the baseline"),
    "merger-fraction": ("zoobot_tf.commands.merger_fraction",
                        "predictions -> fraction of the catalog merging, with a bootstrap interval"),
    "demo": ("zoobot_tf.commands.demo", "run the main job end to end on the embedded synthetic data"),
}

#: verbs whose steps allocate and free large tensors: the command line (which owns its process)
#: keeps freed memory in the heap for them (:mod:`zoobot_tf.allocator`) and turns on TensorFlow's
#: oneDNN kernels (:mod:`zoobot_tf.onednn`); library calls never change the process, a notebook
#: opts in by calling ``keep_freed_memory()`` / ``enable_onednn()`` itself
HEAVY_VERBS = frozenset({"train", "finetune", "train-classifier", "train-detection", "train-kaggle", "predict", "embed",
                         "detect", "demo"})

#: exit status of a run stopped by bad input data (sysexits.h EX_DATAERR)
EXIT_DATA_ERROR = 65
#: exit status of a run whose input file or directory does not exist (sysexits.h EX_NOINPUT)
EXIT_NO_INPUT = 66
#: exit status of an internal error (a bug, not the user's data)
EXIT_INTERNAL = 1
_PACKAGE = Path(__file__).resolve().parent


def build_parser(argv=None) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="zoobot-tf", description=__doc__.splitlines()[0])
    from zoobot_tf import __version__

    parser.add_argument("--version", action="version", version=f"zoobot_tf {__version__}")
    parser.add_argument("-v", "--verbose", action="count", default=0,
                        help="more log output: -v debug messages and TensorFlow's native log lines, "
                             "-vv other libraries' debug messages too")
    parser.add_argument("-q", "--quiet", action="count", default=0,
                        help="less log output: -q warnings and errors only, -qq errors only")
    subparsers = parser.add_subparsers(dest="verb", metavar="VERB")
    subparsers.required = True
    # Only the module of the verb being run is imported (TensorFlow's import is slow).
    wanted = next((a for a in (argv or []) if a in VERBS), None)
    for verb, (module_name, help_text) in VERBS.items():
        sub = subparsers.add_parser(verb, help=help_text, description=help_text)
        if verb == wanted:
            module = importlib.import_module(module_name)
            module.add_arguments(sub)
            _add_presets(sub, verb, argv)
            sub.set_defaults(_run=module.run)
    return parser


def _add_presets(sub: argparse.ArgumentParser, verb: str, argv) -> None:
    """``--preset NAME`` on verbs that have presets: the preset's values become the defaults, so
    options given on the command line still win (:mod:`zoobot_tf.presets`)."""
    from zoobot_tf.presets import presets_for

    presets = presets_for(verb)
    if not presets:
        return
    listed = "; ".join(f"{name}: {preset.description}" for name, preset in presets.items())
    sub.add_argument("--preset", choices=sorted(presets), default=None, help=f"named settings ({listed})")
    argv = list(argv or [])
    for i, arg in enumerate(argv):
        name = arg.split("=", 1)[1] if arg.startswith("--preset=") else (argv[i + 1] if arg == "--preset" and
                                                                           i + 1 < len(argv) else None)
        if name in presets:
            unknown = sorted(set(presets[name].options) - {action.dest for action in sub._actions})
            if unknown:  # a preset that no longer matches its verb is a bug, not the user's input
                raise RuntimeError(f"preset {name!r} sets {unknown}, which {verb} does not have")
            sub.set_defaults(**presets[name].options)


class _CurrentStderr(logging.StreamHandler):
    """A handler writing to whatever ``sys.stderr`` is when a message comes, not the stream that
    was current when logging was configured (a notebook, pytest or a wrapper may swap it and
    close the old one: then every later message would fail with "I/O operation on closed file")."""

    def __init__(self):
        super().__init__(sys.stderr)

    @property
    def stream(self):
        return sys.stderr

    @stream.setter
    def stream(self, value):  # StreamHandler.__init__ and setStream assign it; the property wins
        pass


def configure_logging(verbose: int = 0, quiet: int = 0) -> int:
    """The package's log level from ``-v`` / ``-q`` (INFO by default, so "resuming from epoch 3"
    is seen); other libraries log warnings only, unless ``-vv`` asks for all their messages."""
    level = logging.INFO - 10 * verbose + 10 * quiet
    level = min(max(level, logging.DEBUG), logging.CRITICAL)
    others = logging.DEBUG if verbose >= 2 else max(level, logging.WARNING)
    logging.basicConfig(level=others, format="%(levelname)s %(name)s: %(message)s", force=True,
                        handlers=[_CurrentStderr()])
    logging.getLogger("zoobot_tf").setLevel(level)
    return level


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    parser = build_parser(argv)
    args = parser.parse_args(argv)
    configure_logging(args.verbose, args.quiet)
    from zoobot_tf import native_logs

    if args.verb in HEAVY_VERBS:
        from zoobot_tf.allocator import keep_freed_memory
        from zoobot_tf.onednn import enable_onednn

        keep_freed_memory()  # see zoobot_tf.allocator
        enable_onednn()  # before TensorFlow is imported: see zoobot_tf.onednn

    with native_logs.hidden(enabled=not args.verbose):
        try:
            result = args._run(args)
        except Exception as error:  # noqa: BLE001 - every error becomes one line and an exit status
            return _report(args, error)
    return int(result or 0)


def raised_on_purpose(error: BaseException) -> bool:
    """True when the innermost frame of ``error`` is a ``raise`` statement in this package: an error
    the package raises about its input on purpose, not one from a library or a bug."""
    tb = error.__traceback__
    while tb is not None and tb.tb_next is not None:
        tb = tb.tb_next
    if tb is None:
        return False
    filename = Path(tb.tb_frame.f_code.co_filename).resolve()
    if _PACKAGE not in filename.parents:
        return False
    return linecache.getline(str(filename), tb.tb_lineno).strip().startswith("raise")


def _report(args, error: Exception) -> int:
    if args.verbose:
        traceback.print_exception(error, file=sys.stderr)
    if isinstance(error, FileNotFoundError):
        status, kind = EXIT_NO_INPUT, "error"
    elif isinstance(error, (ValueError, KeyError)) and raised_on_purpose(error):
        status, kind = EXIT_DATA_ERROR, "error"  # bad input: the message names the file or row
    else:
        status, kind = EXIT_INTERNAL, "internal error"
    message = error.args[0] if isinstance(error, KeyError) and error.args else error
    if status == EXIT_INTERNAL:
        message = f"{type(error).__name__}: {message}" + ("" if args.verbose else " (rerun with -v for the traceback)")
    print(f"zoobot-tf {args.verb}: {kind}: {message}", file=sys.stderr)
    return status


if __name__ == "__main__":
    sys.exit(main())
