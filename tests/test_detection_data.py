"""Detection data: synthetic scenes, sep labels, COCO I/O, scalings, tiled inference, catalogs, CLI."""

import argparse
import json

import numpy as np
import pandas as pd
import pytest
from scipy import ndimage

# detection needs the [detection] extra (installed by `make test`); skip cleanly without it
for _extra in ("keras_cv", "pycocotools", "sep"):
    pytest.importorskip(_extra)

from zoobot_tf.detection.catalog import detect_field, read_field
from zoobot_tf.detection.coco import (
    coco_api,
    coco_results_to_detections,
    coco_to_labels,
    detections_to_coco,
    load_coco,
    save_coco,
    scenes_to_coco,
)
from zoobot_tf.commands.detect import add_arguments, run
from zoobot_tf.detection.instances import Labels, boxes_from_masks, magnitude_to_flux
from zoobot_tf.detection.labels_sep import labels_from_sep
from zoobot_tf.detection.metrics import box_iou
from zoobot_tf.detection.scalings import apply_scaling
from zoobot_tf.images.scalings import SCALINGS
from zoobot_tf.detection.scenes import (
    make_scene,
    make_scenes,
    scene_wcs,
    scenes_to_batches,
    write_scene_fits,
)
from zoobot_tf.detection.tiling import predict_tiled, tile_grid, tile_origins
from zoobot_tf.synthetic.render import BAND_NOISE, galaxy_stamp


@pytest.fixture(scope="module")
def scene():
    return make_scene(96, n_galaxies=6, n_stars=4, rng=7, crowding=0.3)


class ThresholdDetector:
    """A stand-in for MaskRCNN.predict_scene: connected components above a flux threshold.

    Galaxies are components wider than ``star_width`` pixels, the rest stars; score = 0.9.
    """

    def __init__(self, threshold=0.5, star_width=7):
        self.threshold, self.star_width, self.calls = threshold, star_width, 0
        self.num_bands = None

    def predict_scene(self, image, score_threshold=0.5, max_detections=200, augment=False):
        self.calls += 1
        self.augmented = augment
        components, n = ndimage.label(image.mean(axis=-1) > self.threshold)
        masks = np.stack([components == k for k in range(1, n + 1)]) if n else np.zeros((0,) + image.shape[:2], bool)
        boxes = boxes_from_masks(masks)
        widths = boxes[:, 2] - boxes[:, 0]
        return {"boxes": boxes, "classes": np.where(widths > self.star_width, 1, 2),
                "scores": np.full(n, 0.9, np.float32), "masks": masks}


def disc_field(size, discs, bands=3):
    """A noiseless image of uniform discs (x, y, radius, flux per pixel) and their true masks."""
    yy, xx = np.mgrid[0:size, 0:size]
    image = np.zeros((size, size, bands), np.float32)
    masks = []
    for x, y, r, level in discs:
        mask = (xx - x) ** 2 + (yy - y) ** 2 <= r**2
        image[mask] += np.linspace(1.0, 2.0, bands, dtype=np.float32) * level
        masks.append(mask)
    return image, np.stack(masks)


# --- synthetic scenes ----------------------------------------------------------------------------


def test_scene_labels_are_exact(scene):
    n = len(scene)
    assert scene.image.shape == (96, 96, 3) and scene.image.dtype == np.float32
    assert scene.boxes.shape == (n, 4) and scene.masks.shape == (n, 96, 96)
    assert set(scene.classes.tolist()) <= {1, 2}
    assert len(scene.truth) == 10 and scene.truth["labelled"].sum() == n
    assert (scene.truth["class_name"] == "galaxy").sum() == 6
    np.testing.assert_array_equal(scene.boxes, boxes_from_masks(scene.masks))
    assert (scene.mask_areas >= 5).all()
    # each box holds its mask's extreme pixels (x1, y1 exclusive)
    k = int(np.argmax(scene.mask_areas))
    rows, cols = np.nonzero(scene.masks[k])
    assert scene.boxes[k].tolist() == [cols.min(), rows.min(), cols.max() + 1, rows.max() + 1]
    # labelled truth rows point at their labels, with the same magnitudes
    labelled = scene.truth[scene.truth["labelled"]]
    np.testing.assert_allclose(labelled[["mag_g", "mag_r", "mag_i"]].to_numpy(), scene.magnitudes, rtol=1e-6)
    assert labelled["label_index"].tolist() == list(range(n))
    # brighter objects in r have smaller magnitudes: flux and magnitude agree with the zeropoint
    np.testing.assert_allclose(scene.fluxes, magnitude_to_flux(scene.magnitudes), rtol=1e-4)


def test_galaxy_stamp_carries_exact_flux_and_colour():
    params = dict(x=40.3, y=40.7, r_disk=4.0, r_bulge=1.5, q_disk=0.5, q_bulge=0.8, angle=30.0,
                  bulge_fraction=0.4, bulge_colour=np.array([0.7, 1.0, 1.3]),
                  disk_colour=np.array([0.9, 1.0, 1.1]), fluxes=np.array([50.0, 80.0, 120.0]))
    stamp, x0, y0 = galaxy_stamp(params, ("g", "r", "i"), np.array([3.0, 3.0, 3.0]))
    np.testing.assert_allclose(stamp.sum(axis=(0, 1)), [50.0, 80.0, 120.0], rtol=1e-5)
    # light is centred on (x, y) (0-based pixel centres)
    yy, xx = np.mgrid[0 : stamp.shape[0], 0 : stamp.shape[1]]
    r = stamp[..., 1]
    assert abs((xx * r).sum() / r.sum() + x0 - 40.3) < 0.05 and abs((yy * r).sum() / r.sum() + y0 - 40.7) < 0.05


def test_scenes_are_deterministic_and_crowding_blends():
    a, b = make_scenes(2, 48, seed=3, n_galaxies=(2, 4), n_stars=1), make_scenes(2, 48, seed=3, n_galaxies=(2, 4), n_stars=1)
    np.testing.assert_array_equal(a[1].image, b[1].image)
    assert not np.array_equal(a[0].image, a[1].image)
    assert all(3 <= len(s.truth) <= 5 for s in a)
    crowded = make_scene(64, 6, 2, rng=0, crowding=1.0)
    sparse = make_scene(64, 6, 2, rng=0, crowding=0.0)
    assert (crowded.truth["blend_with"].iloc[1:] >= 0).all()
    assert (sparse.truth["blend_with"] == -1).all()


def test_snr_total_counts_the_photon_noise_of_neighbours():
    """Without photon noise (infinite gain) the all-noise S/N is the sky-limited one. With it, a
    star alone follows the CCD equation, and on a bright galaxy it keeps a small fraction of that."""
    kwargs = dict(n_galaxies=1, n_stars=1, crowding=1.0, galaxy_mag_range=(17.5, 17.5), star_mag_range=(22.5, 22.5))
    no_photons = make_scene(64, rng=1, gain=1e12, **kwargs).truth
    np.testing.assert_allclose(no_photons["snr_total"], no_photons["snr"], rtol=1e-6)
    on_galaxy = make_scene(64, rng=1, **kwargs).truth.set_index("class_name").loc["star"]
    alone = make_scene(64, n_galaxies=0, n_stars=1, rng=4, star_mag_range=(22.5, 22.5)).truth.iloc[0]
    assert on_galaxy["snr"] > 0.7 * alone["snr"] and on_galaxy["snr_total"] < 0.25 * alone["snr_total"]
    # alone, the footprint's noise is the sky's plus the star's own photons: the CCD equation
    sky_variance = sum((0.1 * BAND_NOISE[b]) ** 2 for b in "gri")
    signal = alone["snr"] * np.sqrt(alone["mask_area"] * sky_variance)
    expected = signal / np.sqrt(alone["mask_area"] * sky_variance + signal / 10.0)
    np.testing.assert_allclose(alone["snr_total"], expected, rtol=1e-4)


def test_too_faint_objects_stay_in_truth_unlabelled():
    faint = make_scene(48, 3, 2, rng=1, galaxy_mag_range=(31, 32), star_mag_range=(31, 32))
    assert len(faint) == 0 and faint.boxes.shape == (0, 4) and faint.masks.shape == (0, 48, 48)
    assert len(faint.truth) == 5 and not faint.truth["labelled"].any()
    assert (faint.truth["label_index"] == -1).all()


def test_bad_scene_arguments_raise():
    with pytest.raises(ValueError, match="band"):
        make_scene(32, bands=("g", "q"))
    with pytest.raises(ValueError, match="crowding"):
        make_scene(32, crowding=1.5)
    empty = make_scene(32, 0, 0, rng=0)
    assert len(empty) == 0 and len(empty.truth) == 0 and empty.image.shape == (32, 32, 3)
    with pytest.raises(ValueError, match="masks have shape"):
        Labels(boxes=np.zeros((1, 4)), classes=[1], masks=np.zeros((1, 8, 8)), image_shape=(8, 9))


def test_scenes_to_batches_pads_and_scales():
    scenes = make_scenes(3, 48, seed=0, n_galaxies=(1, 4), n_stars=(0, 2))
    most = max(len(s) for s in scenes)
    batch = scenes_to_batches(scenes, max_objects=most + 2)
    assert batch["images"].shape == (3, 48, 48, 3) and batch["images"].dtype == np.float32
    assert batch["boxes"].shape == (3, most + 2, 4) and batch["classes"].dtype == np.int32
    assert batch["masks"].shape == (3, most + 2, 48, 48) and batch["masks"].dtype == np.uint8
    n0 = len(scenes[0])
    np.testing.assert_array_equal(batch["boxes"][0, :n0], scenes[0].boxes)
    assert (batch["boxes"][0, n0:] == -1).all() and (batch["classes"][0, n0:] == -1).all()
    assert batch["masks"][0, n0:].sum() == 0 and batch["masks"][0, :n0].sum() == scenes[0].masks.sum()
    scaled = scenes_to_batches(scenes, scaling="zscale")
    np.testing.assert_array_equal(scaled["images"][1], apply_scaling(scenes[1].image, "zscale"))
    with pytest.raises(ValueError, match="max_objects"):
        scenes_to_batches(scenes, max_objects=0)
    with pytest.raises(ValueError, match="scene 1"):
        scenes_to_batches([scenes[0], make_scene(32, 1, 1, rng=0)])


def test_scene_fits_round_trip(tmp_path, scene):
    path = write_scene_fits(scene, tmp_path / "field.fits")
    image, wcs, bands, zeropoint = read_field(path)
    np.testing.assert_array_equal(image, scene.image)
    assert bands == ("g", "r", "i") and zeropoint == 27.0
    assert wcs is not None and wcs.has_celestial
    centre = wcs.pixel_to_world(47.5, 47.5)  # image centre (0-based pixel centres)
    assert abs(centre.ra.deg - 150.0) < 1e-6 and abs(centre.dec.deg - 2.0) < 1e-6
    from astropy.table import Table

    truth = Table.read(path, hdu="TRUTH").to_pandas()
    assert len(truth) == len(scene.truth)


# --- scalings ------------------------------------------------------------------------------------


def test_scalings_by_name(scene):
    image = scene.image.copy()
    image[3, 4, 1] = np.nan
    for name in SCALINGS:
        out = apply_scaling(image, name)
        assert out.shape == image.shape and out.dtype == np.float32 and np.isfinite(out).all()
        if name not in ("none", "sky_asinh"):  # sky_asinh is in units of the noise, unclipped
            assert out.min() >= 0.0 and out.max() <= 1.0 and out.max() > 0.5
    np.testing.assert_array_equal(apply_scaling(scene.image, "none"), scene.image)
    np.testing.assert_array_equal(apply_scaling(scene.image, "raw"), scene.image)  # old detectors' name
    assert apply_scaling(image, "raw")[3, 4, 1] == 0.0
    # high-contrast Lupton shows faint pixels brighter than Lupton
    faint = np.abs(scene.image[..., 1]) < 0.3
    assert apply_scaling(scene.image, "lupton_high_contrast")[faint].mean() > apply_scaling(scene.image, "lupton")[faint].mean()
    with pytest.raises(ValueError, match="unknown scaling"):
        apply_scaling(image, "asinh_magic")


# --- sep labels ----------------------------------------------------------------------------------


def test_sep_labels_on_hand_made_field():
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[0:80, 0:80]
    star = np.exp(-0.5 * ((xx - 20) ** 2 + (yy - 25) ** 2) / 1.3**2)
    galaxy = np.exp(-np.hypot((xx - 55) / 1.0, (yy - 50) / 0.6) / 4.0)
    image = (500 * star / star.sum() + 900 * galaxy / galaxy.sum())[..., None] * np.ones(3)
    image = image + 5.0 + rng.normal(0, 0.1, image.shape)  # a sky level, subtracted by sep.Background
    labels = labels_from_sep(image, bands=("g", "r", "i"), psf_fwhm=3.06, thresh=3.0)
    assert len(labels) == 2
    order = np.argsort(labels.centres[:, 0])
    np.testing.assert_allclose(labels.centres[order], [[20, 25], [55, 50]], atol=0.3)
    assert labels.classes[order].tolist() == [2, 1]  # the compact one is the star
    assert (labels.masks.sum(axis=0) <= 1).all()  # sep segments do not overlap
    np.testing.assert_array_equal(labels.boxes, boxes_from_masks(labels.masks))
    # fluxes: background-subtracted sums in the segments, close to the injected ones
    assert abs(labels.fluxes[order][0, 1] / 500 - 1) < 0.05
    assert 0.85 < labels.fluxes[order][1, 1] / 900 < 1.02
    assert labels.sky_sigma[0] == pytest.approx(0.1, rel=0.2)


def test_sep_labels_recover_synthetic_truth():
    field = make_scene(128, n_galaxies=10, n_stars=6, rng=11, crowding=0.0,
                       galaxy_mag_range=(19, 22), star_mag_range=(18, 22))
    labels = labels_from_sep(field.image, bands=field.bands)
    iou = box_iou(field.boxes, labels.boxes)
    matched = iou.max(axis=1) > 0.3
    assert matched.mean() >= 0.75
    right = labels.classes[iou.argmax(axis=1)][matched] == field.classes[matched]
    assert right.mean() >= 0.7
    assert labels.truth.attrs["r50_psf"] == pytest.approx(1.7, abs=0.4)  # stellar locus of a 3 px PSF


def test_sep_rejects_bad_input():
    with pytest.raises(ValueError, match="band names"):
        labels_from_sep(np.zeros((16, 16, 2)), bands=("g",))
    with pytest.raises(ValueError, match="no valid"):
        labels_from_sep(np.full((16, 16), np.nan))


# --- COCO ----------------------------------------------------------------------------------------


def test_coco_labels_round_trip(tmp_path, scene):
    other = make_scene(64, 2, 1, rng=2)
    path = save_coco(scenes_to_coco([scene, other], file_names=["a.fits", "b.fits"]), tmp_path / "labels.json")
    coco = load_coco(path)
    assert [c["name"] for c in coco["categories"]] == ["galaxy", "star"]
    assert len(coco["annotations"]) == len(scene) + len(other)
    back = coco_to_labels(path, 1)
    np.testing.assert_array_equal(back.masks, scene.masks)
    np.testing.assert_array_equal(back.boxes, scene.boxes)
    np.testing.assert_array_equal(back.classes, scene.classes)
    np.testing.assert_allclose(back.magnitudes, scene.magnitudes, rtol=1e-6)
    assert back.bands == ("g", "r", "i") and coco_to_labels(coco, 2).image_shape == (64, 64)
    # pycocotools reads the file and our areas / boxes agree with its own RLE measures
    from pycocotools import mask as mask_utils

    api = coco_api(coco)
    ann = api.loadAnns(api.getAnnIds(imgIds=[1]))[0]
    assert ann["area"] == mask_utils.area(api.annToRLE(ann))
    np.testing.assert_allclose(ann["bbox"], mask_utils.toBbox(api.annToRLE(ann)))


def test_predictions_round_trip_through_coco_json(tmp_path, scene):
    rng = np.random.default_rng(0)
    prediction = {"boxes": scene.boxes + 0.25, "classes": scene.classes[::-1].copy(),
                  "scores": rng.uniform(0.5, 1.0, len(scene)).astype(np.float32), "masks": scene.masks[::-1].copy()}
    results = detections_to_coco([prediction], [7])
    path = save_coco(results, tmp_path / "results.json")
    back = coco_results_to_detections(str(path), 7, scene.image_shape)
    np.testing.assert_allclose(back["boxes"], prediction["boxes"], atol=1e-5)
    np.testing.assert_array_equal(back["classes"], prediction["classes"])
    np.testing.assert_allclose(back["scores"], prediction["scores"], rtol=1e-6)
    np.testing.assert_array_equal(back["masks"], prediction["masks"])
    # the file is valid input to pycocotools' loadRes against the ground truth
    gt = coco_api(scenes_to_coco([scene], image_ids=[7]))
    assert len(gt.loadRes(json.loads(path.read_text())).getAnnIds()) == len(scene)


def test_users_coco_files_polygons_and_category_names():
    coco = {
        "images": [{"id": 3, "file_name": "x.fits", "height": 20, "width": 30}],
        "categories": [{"id": 7, "name": "Star"}, {"id": 9, "name": "galaxy"}],
        "annotations": [
            {"id": 1, "image_id": 3, "category_id": 7, "bbox": [2, 3, 4, 5],
             "segmentation": [[2, 3, 6, 3, 6, 8, 2, 8]]},
            {"id": 2, "image_id": 3, "category_id": 9, "bbox": [10, 10, 5, 5]},
        ],
    }
    with pytest.raises(ValueError, match="annotation 2: no segmentation"):
        coco_to_labels(coco, 3)
    labels = coco_to_labels(coco, 3, box_masks=True)
    assert labels.classes.tolist() == [2, 1]
    assert labels.masks[1].sum() == 25 and labels.masks[1][10:15, 10:15].all()
    assert 16 <= labels.masks[0].sum() <= 30 and labels.masks[0][5, 4]
    np.testing.assert_array_equal(labels.boxes[0], [2, 3, 6, 8])
    coco["annotations"][0]["category_id"] = 5
    with pytest.raises(ValueError, match="annotation 1: category_id 5"):
        coco_to_labels(coco, 3, box_masks=True)
    with pytest.raises(ValueError, match="no image with id 4"):
        coco_to_labels(coco, 4)


# --- tiling and catalogs -------------------------------------------------------------------------

# (x, y, radius, level): A on the middle line of the x overlap, B across tile 0's right edge,
# C on the corner of tile 3's left/top edges, D larger than the overlap (cut by tile edges in
# both tiles that own a piece of it), E alone
DISCS = [(100, 30, 5, 1.0), (128, 60, 5, 1.0), (72, 72, 5, 1.0), (100, 150, 30, 1.0), (30, 180, 4, 1.0)]


def test_tile_grid_covers_image_with_partitioning_cores():
    assert tile_origins(200, 128, 32) == [0, 72]
    assert tile_origins(100, 128, 32) == [0]
    assert tile_origins(500, 128, 32) == [0, 96, 192, 288, 372]
    tiles = tile_grid((200, 500), 128, 32)
    assert len(tiles) == 2 * 5
    covered = np.zeros((200, 500), int)
    core = np.zeros((200, 500), int)
    yy, xx = np.mgrid[0:200, 0:500] + 0.5
    for t in tiles:
        covered[t.y0 : t.y1, t.x0 : t.x1] += 1
        core += (xx >= t.cx0) & (xx < t.cx1) & (yy >= t.cy0) & (yy < t.cy1)
        assert t.x1 - t.x0 == 128 and t.y1 - t.y0 == 128
    assert covered.min() >= 1 and (core == 1).all()
    with pytest.raises(ValueError, match="overlap"):
        tile_origins(100, 64, 64)


def test_tiling_finds_each_border_source_exactly_once():
    image, masks = disc_field(200, DISCS)
    detector = ThresholdDetector()
    tiled = predict_tiled(image, detector, tile_size=128, overlap=32)
    assert detector.calls == 4
    whole = ThresholdDetector().predict_scene(image)
    assert len(whole["boxes"]) == len(DISCS)
    assert len(tiled) == len(DISCS)
    centres = np.array([((d.box[0] + d.box[2]) / 2, (d.box[1] + d.box[3]) / 2) for d in tiled])
    for x, y, r, _ in DISCS:
        distance = np.hypot(centres[:, 0] - (x + 0.5), centres[:, 1] - (y + 0.5))
        assert (distance < max(r, 1)).sum() == 1, (x, y)
    # the small sources come out whole, identical to detecting on the full image
    for det in tiled:
        if det.mask.sum() < 200:
            full = np.zeros((200, 200), bool)
            full[det.oy : det.oy + det.mask.shape[0], det.ox : det.ox + det.mask.shape[1]] = det.mask
            assert any(np.array_equal(full, m) for m in masks)
            assert not det.truncated


def test_tiling_pads_small_images():
    image, _ = disc_field(60, [(30, 30, 5, 1.0)])
    seen = []

    class Recorder(ThresholdDetector):
        def predict_scene(self, tile, **kwargs):
            seen.append(tile.shape)
            return super().predict_scene(tile, **kwargs)

    out = predict_tiled(image, Recorder(), tile_size=128, overlap=16)
    assert seen == [(128, 128, 3)] and len(out) == 1 and out[0].box.tolist() == [25, 25, 36, 36]


def test_detect_field_catalog_with_wcs(tmp_path):
    image, masks = disc_field(200, DISCS)
    field = Labels(boxes=boxes_from_masks(masks), classes=np.ones(len(DISCS)), masks=masks, image_shape=(200, 200))
    from zoobot_tf.detection.instances import Scene

    scene = Scene(image=image, boxes=field.boxes, classes=field.classes, masks=masks, image_shape=(200, 200),
                  bands=("g", "r", "i"))
    path = write_scene_fits(scene, tmp_path / "discs.fits", ra=30.0, dec=-5.0)
    out = tmp_path / "catalog.parquet"
    catalog = detect_field([path], ThresholdDetector(), scaling="raw", tile_size=128, overlap=32, out=out,
                           progress=False)
    assert len(catalog) == len(DISCS)
    expected = {"file", "source_id", "x0", "y0", "x1", "y1", "class_id", "class_name", "score", "mask_area",
                "x", "y", "flux_g", "flux_r", "flux_i", "mag_r", "ra", "dec"}
    assert expected <= set(catalog.columns)
    pd.testing.assert_frame_equal(pd.read_parquet(out), catalog)
    wcs = scene_wcs((200, 200), ra=30.0, dec=-5.0)
    for x, y, r, level in DISCS:
        row = catalog.iloc[int(np.argmin(np.hypot(catalog["x"] - x, catalog["y"] - y)))]
        if r < 16:  # whole sources: exact centroid, area and flux per band
            assert row["x"] == pytest.approx(x, abs=1e-6) and row["y"] == pytest.approx(y, abs=1e-6)
            area = int(((np.mgrid[0:200, 0:200][1] - x) ** 2 + (np.mgrid[0:200, 0:200][0] - y) ** 2 <= r * r).sum())
            assert row["mask_area"] == area
            assert row["flux_g"] == pytest.approx(area * 1.0) and row["flux_i"] == pytest.approx(area * 2.0)
            sky = wcs.pixel_to_world(x, y)
            assert row["ra"] == pytest.approx(sky.ra.deg, abs=1e-9) and row["dec"] == pytest.approx(sky.dec.deg, abs=1e-9)
    assert catalog["source_id"].is_unique


def test_detect_field_rejects_bad_input(tmp_path, scene):
    path = write_scene_fits(scene, tmp_path / "s.fits")
    detector = ThresholdDetector()
    detector.num_bands = 5
    with pytest.raises(ValueError, match="3 bands but the model takes 5"):
        detect_field(path, detector, progress=False)
    with pytest.raises(ValueError, match="unknown scaling"):
        detect_field(path, ThresholdDetector(), scaling="sqrt", progress=False)
    with pytest.raises(FileNotFoundError, match="no such model"):
        detect_field(path, tmp_path / "missing.keras", progress=False)
    with pytest.raises(ValueError, match=r"nothing\.fits"):
        detect_field(tmp_path / "nothing.fits", ThresholdDetector(), progress=False)


def test_detect_command(tmp_path, monkeypatch, capsys):
    image, masks = disc_field(96, [(30, 30, 5, 1.0), (60, 70, 3, 1.0)])
    from zoobot_tf.detection import catalog as catalog_module
    from zoobot_tf.detection.instances import Scene

    scene = Scene(image=image, boxes=boxes_from_masks(masks), classes=[1, 2], masks=masks, image_shape=(96, 96),
                  bands=("g", "r", "i"))
    path = write_scene_fits(scene, tmp_path / "f.fits")
    detector = ThresholdDetector()
    monkeypatch.setattr(catalog_module, "_load_detector", lambda model: detector)
    parser = add_arguments(argparse.ArgumentParser())
    out = tmp_path / "cat.csv"
    options = [str(path), "--model", "m.keras", "--out", str(out), "--scaling", "none", "--tile-size", "64",
               "--overlap", "16", "--no-progress"]
    assert run(parser.parse_args(options)) == 0
    assert len(pd.read_csv(out)) == 2 and detector.augmented is False
    assert "2 sources (1 galaxy, 1 star)" in capsys.readouterr().out
    assert run(parser.parse_args(options + ["--augment"])) == 0 and detector.augmented is True
    with pytest.raises(SystemExit):
        parser.parse_args([str(path), "--model", "m", "--out", "o.parquet", "--scaling", "log"])


def test_one_file_per_band_without_wcs(tmp_path):
    from astropy.io import fits

    image, _ = disc_field(64, [(20, 20, 4, 1.0), (45, 40, 6, 1.0)])
    paths = []
    for c, band in enumerate("gri"):
        hdu = fits.PrimaryHDU(image[..., c])
        hdu.header["FILTER"] = band
        paths.append(tmp_path / f"{band}.fits")
        hdu.writeto(paths[-1])
    field = ";".join(str(p) for p in paths)
    image_back, wcs, bands, zeropoint = read_field(field)
    np.testing.assert_array_equal(image_back, image)
    assert wcs is None and bands == ("g", "r", "i") and zeropoint is None
    catalog = detect_field(field, ThresholdDetector(), scaling="raw", tile_size=64, progress=False)
    assert len(catalog) == 2 and catalog["ra"].isna().all() and not any(c.startswith("mag_") for c in catalog)
    assert sorted(catalog["flux_r"].round(3)) == [1.5 * 49, 1.5 * 113]


def test_plots_write_pngs(tmp_path, scene):
    from zoobot_tf.detection.metrics import completeness_purity
    from zoobot_tf.detection.plots import plot_completeness_purity, plot_scene

    prediction = {"boxes": scene.boxes[:2], "classes": scene.classes[:2]}
    path = plot_scene(scene.image, scene, tmp_path / "scene.png", predictions=prediction)
    table = completeness_purity([20.5, 21.5], [True, False], [20.4], [True], bins=[20, 21, 22])
    curve = plot_completeness_purity(table, tmp_path / "cp.png", label="sep")
    for p in (path, curve):
        assert p.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and p.stat().st_size > 2000
