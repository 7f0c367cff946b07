"""benchmarks/detection_quality.py end to end with a tiny budget: trains, picks the x8 threshold on
the validation fields only, saves it in the model, and scores all three methods."""

import importlib.util
import json
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_detection_quality_picks_the_x8_threshold_on_validation_fields_and_saves_it(tmp_path, capsys):
    pytest.importorskip("keras_cv")
    pytest.importorskip("sep")
    spec = importlib.util.spec_from_file_location("detection_quality", ROOT / "benchmarks" / "detection_quality.py")
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    bench.main(["--minutes", "0.2", "--train-fields", "8", "--test-fields", "3", "--out", str(tmp_path), "--verbose", "0"])

    report = json.loads((tmp_path / "detection_quality.json").read_text())
    sweep = report["x8_threshold_on_validation_fields"]
    assert [row["threshold"] for row in sweep] == list(bench.SWEEP)

    def worst(row):
        values = (row["completeness_snr_total_gt_10"], row["purity_snr_total_gt_10"])
        return min(v if v == v else 0.0 for v in values)  # nan (no detections) counts as 0

    chosen = next(row for row in sweep if row["threshold"] == report["x8_threshold"])
    assert worst(chosen) == max(worst(row) for row in sweep)

    from zoobot_tf.detection import load_mask_rcnn

    assert load_mask_rcnn(tmp_path / "train" / "model.keras").augmented_score_threshold == report["x8_threshold"]
    methods = {res["method"]: res for res in report["results"]}
    assert set(methods) == {"Mask R-CNN", "Mask R-CNN x8", "sep"}
    assert methods["sep"]["completeness_snr_total_gt_10"] > 0.5  # sep needs no training
    out = capsys.readouterr().out
    assert out.index("validation fields") < out.index("held-out fields")  # chosen before the test fields are scored
    assert (tmp_path / "completeness_purity.png").stat().st_size > 10_000
