"""Write the zoobot-checkpoint fixtures: real Lightning ``.ckpt`` files of timm encoder + zoobot-style
head, reduced to what CI needs without torch.

Needs torch + timm + lightning, so it runs once in a scratch environment, never in CI::

    /tmp/timmvenv/bin/pip install lightning
    /tmp/timmvenv/bin/python tests/data/zoobot/make_zoobot_checkpoints.py

Each case is a LightningModule laid out as zoobot's (``encoder`` = the timm model, ``head`` =
``LinearHead`` (dropout, ``linear``) or the Dirichlet head ``Sequential(Dropout, Sequential(Linear,
ScaledSigmoid))``, hyper-parameters under zoobot's names), its weights drawn by
``tests/timm_weights.py`` and saved by ``Trainer.save_checkpoint``. Committed per case: the
archive's ``data.pkl`` exactly as torch wrote it (``<case>.data.pkl``), which weight each storage
file holds and the archive's small files (``<case>.json``), and the model's outputs in eval mode
(``<case>.npz``). The storages themselves (megabytes of weights) are redrawn by the test, which
rebuilds the zip and reads it with ``zoobot_tf.models.pretrained`` (no torch).

Also ``tensors.pt``, a small ``torch.save`` file kept whole: float32 / float16 / bfloat16 /
int64 / bool tensors, a transposed (strided) view, a scalar and an unread optimizer state.
"""

from __future__ import annotations

import json
import sys
import zipfile
from collections import OrderedDict
from pathlib import Path

import lightning as L
import numpy as np
import timm
import torch

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parents[1]))  # tests/, for timm_weights
sys.path.insert(0, str(HERE.parents[2]))  # the repository, for zoobot_tf.schemas (numpy only)
from timm_weights import draw_images, draw_state_dict  # noqa: E402

from zoobot_tf.schemas import get_schema  # noqa: E402

SEED = 12
SIZE = 32


class LinearHead(torch.nn.Module):
    """zoobot's LinearHead layout: dropout then ``linear``; optional activation."""

    def __init__(self, input_dim, output_dim, dropout_prob=0.5, activation=None):
        super().__init__()
        self.dropout = torch.nn.Dropout(dropout_prob)
        self.linear = torch.nn.Linear(input_dim, output_dim)
        self.activation = activation

    def forward(self, x):
        x = self.linear(self.dropout(x))
        return x if self.activation is None else self.activation(x)


class ScaledSigmoid(torch.nn.Module):
    def forward(self, x):
        return torch.sigmoid(x) * 100.0 + 1.0


def dirichlet_head(input_dim, output_dim, dropout_rate):
    return torch.nn.Sequential(
        torch.nn.Dropout(dropout_rate),
        torch.nn.Sequential(torch.nn.Linear(input_dim, output_dim), ScaledSigmoid()),
    )


class Schema:
    """Stand-in for zoobot's Schema as FinetuneableZoobotTree pickles it in its hyper-parameters."""

    def __init__(self, question_answer_pairs, dependencies):
        self.question_answer_pairs = question_answer_pairs
        self.dependencies = dependencies
        self.label_cols = [q + a for q, answers in question_answer_pairs.items() for a in answers]


class Classifier(L.LightningModule):  # FinetuneableZoobotClassifier's names
    def __init__(self, name, num_classes, dropout_prob=0.5, learning_rate=1e-4, n_blocks=0):
        super().__init__()
        self.save_hyperparameters()
        self.encoder = timm.create_model(name.split("zoobot-encoder-")[-1], num_classes=0)
        self.head = LinearHead(self.encoder.num_features, num_classes, dropout_prob)

    def forward(self, x):
        return torch.softmax(self.head(self.encoder(x)), dim=-1)


class Regressor(L.LightningModule):  # FinetuneableZoobotRegressor's names
    def __init__(self, name, unit_interval=True, dropout_prob=0.5, loss="mse"):
        super().__init__()
        self.save_hyperparameters()
        self.encoder = timm.create_model(name.split("zoobot-encoder-")[-1], num_classes=0)
        self.head = LinearHead(self.encoder.num_features, 1, dropout_prob, torch.sigmoid if unit_interval else None)

    def forward(self, x):
        return self.head(self.encoder(x))


class FinetunedTree(L.LightningModule):  # FinetuneableZoobotTree's names (Schema pickled)
    def __init__(self, name, schema, dropout_prob=0.5):
        super().__init__()
        self.save_hyperparameters()
        self.encoder = timm.create_model(name.split("zoobot-encoder-")[-1], num_classes=0)
        self.head = dirichlet_head(self.encoder.num_features, len(schema.label_cols), dropout_prob)

    def forward(self, x):
        return self.head(self.encoder(x))


class ZoobotTree(L.LightningModule):  # ZoobotTree's names (trained from scratch, compiled encoder)
    def __init__(self, output_dim, question_answer_pairs, dependencies, architecture_name="efficientnet_b0",
                 channels=1, test_time_dropout=True, compile_encoder=True, dropout_rate=0.2):
        super().__init__()
        self.save_hyperparameters()
        self.plain_encoder = None
        encoder = timm.create_model(architecture_name, num_classes=0, in_chans=channels)
        self.encoder = torch.compile(encoder) if compile_encoder else encoder  # keys: encoder._orig_mod.*
        self.head = dirichlet_head(encoder.num_features, output_dim, dropout_rate)

    def forward(self, x):
        return self.head(self.encoder._orig_mod(x))  # the same weights, without compiling


def cases():
    decals = get_schema("decals_dr5")
    pairs, deps = decals.question_answer_pairs, decals.dependencies
    return {
        "classifier": (Classifier("hf_hub:mwalmsley/zoobot-encoder-convnext_atto", num_classes=3), 3),
        "regressor": (Regressor("hf_hub:mwalmsley/zoobot-encoder-resnet18"), 3),
        "finetuned_tree": (FinetunedTree("hf_hub:mwalmsley/zoobot-encoder-convnext_atto", Schema(pairs, deps)), 3),
        "scratch_tree": (ZoobotTree(decals.n_answers, pairs, deps), 1),
    }


def write_case(name, module, channels, workdir):
    listed = [(key, list(value.shape)) for key, value in module.state_dict().items()]
    drawn = draw_state_dict(listed, SEED)
    module.load_state_dict({key: torch.from_numpy(value) for key, value in drawn.items()}, strict=True)
    module.eval()
    trainer = L.Trainer(accelerator="cpu", logger=False, enable_checkpointing=False, enable_progress_bar=False)
    trainer.strategy.connect(module)
    path = workdir / f"{name}.ckpt"
    trainer.save_checkpoint(path)
    by_bytes = {value.tobytes(): key for key, value in drawn.items()}
    with zipfile.ZipFile(path) as archive:
        names = archive.namelist()
        pickle_name = next(n for n in names if n.endswith("/data.pkl"))
        prefix = pickle_name[: -len("data.pkl")]
        storages, small = {}, {}
        for member in names:
            data = archive.read(member)
            if member.startswith(prefix + "data/"):
                storages[member[len(prefix + "data/"):]] = by_bytes[data]  # KeyError: a storage we cannot redraw
            elif member != pickle_name:
                small[member[len(prefix):]] = data.decode("ascii")
        (HERE / f"{name}.data.pkl").write_bytes(archive.read(pickle_name))
    images = draw_images(SEED, SIZE, channels)
    with torch.no_grad():
        out = module(torch.from_numpy(np.ascontiguousarray(images.transpose(0, 3, 1, 2)))).numpy()
    meta = {"case": name, "archive": prefix.rstrip("/"), "seed": SEED, "size": SIZE, "channels": channels,
            "keys": listed, "storages": storages, "files": small, "torch": torch.__version__,
            "timm": timm.__version__, "lightning": L.__version__}
    (HERE / f"{name}.json").write_text(json.dumps(meta, separators=(",", ":")) + "\n")
    np.savez_compressed(HERE / f"{name}.npz", outputs=out.astype(np.float32))
    print(f"{name}: {len(listed)} keys, {len(storages)} storages, outputs {out.shape}, data.pkl "
          f"{(HERE / f'{name}.data.pkl').stat().st_size} bytes")


def write_tensors():
    weight = torch.from_numpy(draw_state_dict([("w", [4, 3, 2, 2])], SEED)["w"])
    state = OrderedDict(
        conv=weight,
        transposed=weight[:, :, 0, 0].t(),  # a strided view of conv's storage
        half=weight[0].to(torch.float16),
        bfloat=weight[1].to(torch.bfloat16),
        count=torch.tensor(7, dtype=torch.int64),
        mask=torch.tensor([True, False, True]),
    )
    optimizer = {"state": {0: {"exp_avg": torch.ones(1000)}}, "param_groups": [{"lr": 0.1}]}
    torch.save({"state_dict": state, "optimizer_states": [optimizer], "epoch": 3}, HERE / "tensors.pt")
    expected = {key: (value.float() if value.dtype == torch.bfloat16 else value).numpy() for key, value in state.items()}
    np.savez_compressed(HERE / "tensors.npz", **expected)
    print(f"tensors.pt: {(HERE / 'tensors.pt').stat().st_size} bytes")


def main(workdir="/tmp/zoobot_checkpoints"):
    workdir = Path(workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    for name, (module, channels) in cases().items():
        write_case(name, module, channels, workdir)
    write_tensors()


if __name__ == "__main__":
    main(*sys.argv[1:])
