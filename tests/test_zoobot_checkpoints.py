"""zoobot's fine-tuned Lightning checkpoints (and any torch.save file) read without torch.

The fixtures in tests/data/zoobot/ were written once by make_zoobot_checkpoints.py with torch,
timm and Lightning: per case, the archive's ``data.pkl`` as torch wrote it, which drawn weight
each storage holds, and the model's outputs. Here the zip is rebuilt from those (the weights
redrawn by tests/timm_weights.py), imported, and the Keras outputs compared with torch's.
"""

from __future__ import annotations

import json
import os
import pickle
import zipfile
from pathlib import Path

import numpy as np
import pytest
from safetensors.numpy import save_file
from timm_weights import draw_images, draw_state_dict

from zoobot_tf.cli import main as cli_main
from zoobot_tf.models import get_encoder, load_model
from zoobot_tf.models.pretrained import (
    TorchFileError,
    import_encoder,
    import_zoobot_model,
    load_torch_file,
    read_checkpoint,
)
from zoobot_tf.models.pretrained.torch_pickle import LazyTensor, Opaque
from zoobot_tf.saving import read_metadata

FIXTURES = Path(__file__).parent / "data" / "zoobot"
TOLERANCE = 1e-4

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")


def _meta(case):
    return json.loads((FIXTURES / f"{case}.json").read_text())


def _rebuild(case, folder, drop_storage=None):
    """The Lightning checkpoint of ``case``: torch's data.pkl plus the redrawn storages, zipped."""
    meta = _meta(case)
    drawn = draw_state_dict(meta["keys"], meta["seed"])
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{case}.ckpt"
    prefix = meta["archive"] + "/"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr(prefix + "data.pkl", (FIXTURES / f"{case}.data.pkl").read_bytes())
        for name, text in meta["files"].items():
            archive.writestr(prefix + name, text)
        for key, state_key in meta["storages"].items():
            if key != drop_storage:
                archive.writestr(f"{prefix}data/{key}", drawn[state_key].tobytes())
    return path


def _deterministic(model):
    """The model with its head's MC dropout switched off (zoobot's outputs were in eval mode)."""
    model.get_layer("head").get_layer("head_dropout").always_on = False
    return model


def _outputs(model, case):
    meta = _meta(case)
    images = draw_images(meta["seed"], meta["size"], meta["channels"])
    return np.asarray(_deterministic(model)(images, training=False))


@pytest.mark.parametrize(
    ("case", "kind", "architecture", "schema"),
    [
        ("classifier", "softmax", "convnext_atto", None),
        ("regressor", "regression", "resnet18", None),
        ("finetuned_tree", "dirichlet", "convnext_atto", "decals_dr5"),
        ("scratch_tree", "dirichlet", "efficientnet_b0_timm", "decals_dr5"),
    ],
)
def test_lightning_checkpoint_predicts_as_torch_did(case, kind, architecture, schema, tmp_path):
    """Architecture, head and tree all come from the checkpoint (hub name / architecture_name,
    head keys, hyper-parameters or the pickled Schema); outputs match torch's."""
    meta = _meta(case)
    path = _rebuild(case, tmp_path)
    model, head, tree = import_zoobot_model(path, image_size=meta["size"])
    assert head.kind == kind
    assert model.get_layer("encoder").count_params() > 0
    assert (tree.name if tree is not None else None) == schema
    assert tuple(model.input.shape[1:]) == (meta["size"], meta["size"], meta["channels"])
    assert read_checkpoint(path).architecture in (architecture, "efficientnet_b0")
    got = _outputs(model, case)
    want = np.load(FIXTURES / f"{case}.npz")["outputs"]
    assert got.shape == want.shape
    scale = max(1.0, float(np.abs(want).max()))
    assert np.abs(got - want).max() <= TOLERANCE * scale, np.abs(got - want).max()


def test_state_dict_as_safetensors_needs_the_architecture(tmp_path):
    meta = _meta("classifier")
    path = tmp_path / "classifier.safetensors"
    save_file(draw_state_dict(meta["keys"], meta["seed"]), str(path))
    with pytest.raises(ValueError, match="give one"):
        import_zoobot_model(path, image_size=32)
    model, head, tree = import_zoobot_model(path, architecture="convnext_atto", image_size=32)
    want = np.load(FIXTURES / "classifier.npz")["outputs"]
    assert head.kind == "softmax" and tree is None
    assert np.abs(_outputs(model, "classifier") - want).max() <= TOLERANCE


def test_cli_writes_the_whole_model_with_its_task_or_the_encoder_alone(tmp_path):
    path = _rebuild("finetuned_tree", tmp_path)
    out = tmp_path / "model.keras"
    assert cli_main(["import-encoder", "--checkpoint", str(path), "--out", str(out), "--image-size", "32"]) == 0
    task = read_metadata(out).task
    assert task["head"] == "dirichlet" and task["schema"] == "decals_dr5" and len(task["label_cols"]) == 34
    want = np.load(FIXTURES / "finetuned_tree.npz")["outputs"]
    assert np.abs(_outputs(load_model(out, compile=False), "finetuned_tree") - want).max() <= TOLERANCE * 100
    # the encoder alone, as --encoder-only and as train / finetune --encoder-weights read it
    encoder_file = tmp_path / "encoder.keras"
    assert cli_main(["import-encoder", "--checkpoint", str(path), "--out", str(encoder_file), "--image-size", "32",
                     "--encoder-only"]) == 0
    images = draw_images(12, 32, 3)
    features = np.asarray(load_model(encoder_file, compile=False)(images, training=False))
    direct = np.asarray(get_encoder(load_model(out, compile=False))(images, training=False))
    assert np.abs(features - direct).max() <= TOLERANCE
    again = np.asarray(import_encoder(path, image_size=32)(images, training=False))
    assert np.abs(again - features).max() <= TOLERANCE


def _one_line_error(func, *args, **kwargs):
    with pytest.raises(ValueError) as info:
        func(*args, **kwargs)
    assert "\n" not in str(info.value)
    return str(info.value)


def test_missing_extra_and_unknown_keys_are_named(tmp_path):
    meta = _meta("classifier")
    state = draw_state_dict(meta["keys"], meta["seed"])
    variants = {
        "extra": ({**state, "metrics.count": np.zeros(1, np.float32)}, "metrics.count"),
        "no_head_bias": ({k: v for k, v in state.items() if k != "head.linear.bias"}, "head.linear.weight"),
        "odd_head": ({**state, "head.norm.weight": np.ones(320, np.float32)}, "head.norm.weight"),
        "no_encoder_key": ({k: v for k, v in state.items() if k != "encoder.stem.1.bias"}, "stem.1.bias"),
    }
    for name, (variant, named) in variants.items():
        path = tmp_path / f"{name}.safetensors"
        save_file(variant, str(path))
        message = _one_line_error(import_zoobot_model, path, architecture="convnext_atto", image_size=32)
        assert named in message, (name, message)
    wrong_tree = _one_line_error(import_zoobot_model, _rebuild("finetuned_tree", tmp_path), image_size=32,
                                 schema="gz2")
    assert "34 outputs" in wrong_tree and "gz2" in wrong_tree
    wrong_arch = _one_line_error(import_zoobot_model, _rebuild("classifier", tmp_path), "resnet18", image_size=32)
    assert "convnext_atto" in wrong_arch or "encoder.*" in wrong_arch


def test_a_real_torch_file_reads_without_torch():
    top = load_torch_file(FIXTURES / "tensors.pt")
    want = np.load(FIXTURES / "tensors.npz")
    state = top["state_dict"]
    assert sorted(state) == sorted(want.files)
    for key in want.files:
        assert state[key].dtype == want[key].dtype, key
        np.testing.assert_array_equal(state[key], want[key])
    assert top["epoch"] == 3
    exp_avg = top["optimizer_states"][0]["state"][0]["exp_avg"]
    assert isinstance(exp_avg, LazyTensor) and exp_avg.shape == (1000,)  # not read: costs no memory


def test_a_pickle_that_would_run_code_is_read_as_inert_records(tmp_path):
    marker = tmp_path / "ran"

    class Exploit:
        def __reduce__(self):
            return (os.system, (f"touch {marker}",))

    path = tmp_path / "evil.pt"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("evil/data.pkl", pickle.dumps({"state_dict": {}, "payload": Exploit()}, protocol=2))
    top = load_torch_file(path)
    assert isinstance(top["payload"], Opaque) and "system" in top["payload"].qualname
    assert not marker.exists()


def test_unreadable_torch_files_fail_in_one_line(tmp_path):
    legacy = tmp_path / "old.bin"
    legacy.write_bytes(pickle.dumps({"weight": [1, 2, 3]}))
    assert "not a torch.save zip archive" in _one_line_error(load_torch_file, legacy)
    truncated = _rebuild("classifier", tmp_path, drop_storage="3")
    message = _one_line_error(read_checkpoint, truncated)
    assert "data/3" in message and "missing" in message
    with pytest.raises(TorchFileError):
        load_torch_file(truncated)
