"""Tests for zoobot_tf.images: readers, masks + inpainting, scalings, preparation."""

from __future__ import annotations

import numpy as np
import pytest
from astropy.io import fits
from PIL import Image

from zoobot_tf.images import (
    SCALINGS,
    ImageReadError,
    fill_invalid,
    invalid_pixel_mask,
    is_fits,
    load_image,
    object_mask,
    prepare_image,
    read_image,
    save_image,
    scale_image,
)

H, W = 24, 32  # non-square on purpose: catches (H, W) / (W, H) mix-ups


@pytest.fixture
def rgb():
    return np.random.default_rng(0).integers(0, 256, size=(H, W, 3), dtype=np.uint8)


def galaxy(size=48, amplitude=100.0, sigma=5.0, noise=1.0, bands=(0.5, 1.0, 2.0), seed=1, centre=None):
    """A noisy Gaussian 'galaxy' at the centre, one brightness factor per band, float32 (H, W, C)."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[:size, :size]
    cy, cx = centre if centre is not None else ((size - 1) / 2, (size - 1) / 2)
    profile = amplitude * np.exp(-((x - cx) ** 2 + (y - cy) ** 2) / (2 * sigma**2))
    return np.stack([f * profile + rng.normal(0, noise, profile.shape) for f in bands], -1).astype(np.float32)


def cube_bands(seed=2):
    return np.random.default_rng(seed).normal(10, 3, size=(3, H, W)).astype(np.float32)


# ---------------------------------------------------------------- raster readers


def test_png_rgb_round_trip(tmp_path, rgb):
    path = tmp_path / "rgb.png"
    Image.fromarray(rgb).save(path)
    out = read_image(path)
    assert out.dtype == np.uint8 and out.shape == (H, W, 3)
    np.testing.assert_array_equal(out, rgb)
    np.testing.assert_array_equal(load_image(str(path)), rgb)
    np.testing.assert_array_equal(load_image(path, size=(H, W)), rgb)  # native size: exact
    assert not is_fits(path)


def test_png_greyscale_alpha_and_palette(tmp_path, rgb):
    grey = rgb[..., 0]
    Image.fromarray(grey).save(tmp_path / "grey.png")
    np.testing.assert_array_equal(read_image(tmp_path / "grey.png"), grey[..., None])

    Image.fromarray(np.dstack([grey, 255 - grey]), mode="LA").save(tmp_path / "la.png")
    np.testing.assert_array_equal(read_image(tmp_path / "la.png"), grey[..., None])

    rgba = np.dstack([rgb, np.full((H, W), 7, np.uint8)])
    Image.fromarray(rgba).save(tmp_path / "rgba.png")
    np.testing.assert_array_equal(read_image(tmp_path / "rgba.png"), rgb)  # alpha dropped

    palette = np.array([[0, 0, 0], [255, 0, 0], [10, 200, 30], [1, 2, 3]], dtype=np.uint8)
    index = np.random.default_rng(3).integers(0, 4, size=(H, W), dtype=np.uint8)
    pimg = Image.fromarray(index, mode="P")
    pimg.putpalette(palette.ravel().tolist())
    pimg.save(tmp_path / "palette.png")
    out = read_image(tmp_path / "palette.png")
    assert out.shape == (H, W, 3)
    np.testing.assert_array_equal(out, palette[index])


def test_jpg_and_16bit_png(tmp_path):
    y, x = np.mgrid[:H, :W]
    smooth = np.dstack([x * 6, y * 8, (x + y) * 4]).astype(np.uint8)
    Image.fromarray(smooth).save(tmp_path / "smooth.jpg", quality=95)
    out = read_image(tmp_path / "smooth.jpg")
    assert out.dtype == np.uint8 and out.shape == (H, W, 3)
    assert np.abs(out.astype(int) - smooth).mean() < 4  # lossy, but close

    deep = (np.arange(H * W, dtype=np.uint16).reshape(H, W) * 50).astype(np.uint16)
    Image.fromarray(deep).save(tmp_path / "deep.png")
    out = read_image(tmp_path / "deep.png")
    assert out.dtype == np.float32 and out.shape == (H, W, 1)
    np.testing.assert_array_equal(out[..., 0], deep.astype(np.float32))  # not squashed to 8 bits


def test_load_image_matches_read_then_prepare(tmp_path, rgb):
    """load_image resizes PNG/JPG inside PIL for speed; it must give the very same pixels."""
    Image.fromarray(rgb).save(tmp_path / "a.png")
    Image.fromarray(rgb[..., 1]).save(tmp_path / "g.png")
    Image.fromarray(rgb).save(tmp_path / "a.jpg")
    for name in ("a.png", "g.png", "a.jpg"):
        for kwargs in ({"size": 10}, {"size": (7, 9), "channels": 3}, {"size": 16, "dtype": "float32"}):
            expected = prepare_image(read_image(tmp_path / name), **kwargs)
            np.testing.assert_array_equal(load_image(tmp_path / name, **kwargs), expected)


def test_bad_raster_files_name_the_path(tmp_path, rgb):
    good = tmp_path / "good.png"
    Image.fromarray(rgb).save(good)
    truncated = tmp_path / "truncated.png"
    truncated.write_bytes(good.read_bytes()[: len(good.read_bytes()) // 2])
    junk = tmp_path / "junk.jpg"
    junk.write_bytes(b"not an image at all" * 10)
    for path in (truncated, junk, tmp_path / "missing.png"):
        with pytest.raises(ImageReadError, match=path.name) as info:
            read_image(path)
        assert str(path) in str(info.value)
    (tmp_path / "table.csv").write_text("a,b\n1,2\n")
    with pytest.raises(ImageReadError, match="unsupported image extension"):
        read_image(tmp_path / "table.csv")
    with pytest.raises(ImageReadError, match="truncated.png"):
        load_image(truncated, size=8)


# ---------------------------------------------------------------- FITS readers


def test_fits_layouts_agree(tmp_path):
    bands = cube_bands()
    expected = np.moveaxis(bands, 0, -1)

    fits.PrimaryHDU(bands).writeto(tmp_path / "cube.fits")
    fits.HDUList([fits.PrimaryHDU(), fits.ImageHDU(bands, name="SCI")]).writeto(tmp_path / "ext_cube.fits")
    mef = [fits.PrimaryHDU()] + [fits.ImageHDU(b, name=n) for b, n in zip(bands, "GRZ")]
    mef.append(fits.ImageHDU(np.ones((H, W), np.float32), name="WHT"))  # ancillary: not a band
    fits.HDUList(mef).writeto(tmp_path / "mef.fits")
    per_band = []
    for b, n in zip(bands, "grz"):
        fits.PrimaryHDU(b).writeto(tmp_path / f"band_{n}.fits")
        per_band.append(tmp_path / f"band_{n}.fits")
    fits.PrimaryHDU(bands[None]).writeto(tmp_path / "radio.fits")  # (1, bands, H, W) degenerate axis
    fits.PrimaryHDU(bands.astype(">f8")).writeto(tmp_path / "bigendian.fits.gz")

    sources = [
        tmp_path / "cube.fits",
        tmp_path / "ext_cube.fits",
        tmp_path / "mef.fits",
        per_band,
        ";".join(str(p) for p in per_band),
        tmp_path / "radio.fits",
        tmp_path / "bigendian.fits.gz",
    ]
    for source in sources:
        out = read_image(source)
        assert out.dtype == np.float32 and out.shape == (H, W, 3), source
        np.testing.assert_array_equal(out, expected)
        assert is_fits(source)

    np.testing.assert_array_equal(read_image(tmp_path / "mef.fits", hdu=["Z", "G"]), expected[..., [2, 0]])
    np.testing.assert_array_equal(read_image(tmp_path / "mef.fits", hdu=2), expected[..., 1:2])
    assert (read_image(tmp_path / "mef.fits", hdu="WHT") == 1).all()
    np.testing.assert_array_equal(load_image(per_band, dtype="float32"), expected)


@pytest.mark.filterwarnings("ignore:File may have been truncated")
def test_fits_nan_kept_and_bad_fits_errors(tmp_path):
    bands = cube_bands()
    bands[1, 3, 4] = np.nan
    fits.PrimaryHDU(bands).writeto(tmp_path / "nan.fits")
    assert np.isnan(read_image(tmp_path / "nan.fits")[3, 4, 1])

    raw = (tmp_path / "nan.fits").read_bytes()
    (tmp_path / "truncated.fits").write_bytes(raw[: len(raw) - 2880])
    (tmp_path / "junk.fits").write_bytes(b"SIMPLE? no" * 400)
    fits.PrimaryHDU(np.zeros((2, 2, 4, 4), np.float32)).writeto(tmp_path / "4d.fits")
    fits.HDUList([fits.PrimaryHDU(np.zeros((4, 4))), fits.ImageHDU(np.zeros((5, 4)))]).writeto(
        tmp_path / "mixed.fits"
    )
    fits.PrimaryHDU(np.zeros((H, W + 1), np.float32)).writeto(tmp_path / "wide.fits")
    fits.PrimaryHDU(np.zeros((H, W), np.float32)).writeto(tmp_path / "ok.fits")
    cases = {
        "truncated.fits": "cannot read FITS",
        "junk.fits": "cannot read FITS",
        "4d.fits": "expected 2-D or a 3-D cube",
        "mixed.fits": "differs",
        "missing.fits": "no such file",
    }
    for name, problem in cases.items():
        with pytest.raises(ImageReadError, match=problem) as info:
            read_image(tmp_path / name)
        assert str(tmp_path / name) in str(info.value)
    with pytest.raises(ImageReadError, match="wide.fits.*differs"):
        read_image([tmp_path / "ok.fits", tmp_path / "wide.fits"])
    with pytest.raises(ImageReadError, match="no HDU 'NOPE'"):
        read_image(tmp_path / "ok.fits", hdu="NOPE")


# ---------------------------------------------------------------- masks and inpainting


def test_invalid_mask_and_fill(tmp_path):
    image = galaxy()
    broken = image.copy()
    broken[10:13, 20:22, 0] = np.nan  # small hole on the galaxy: interpolated from neighbours
    broken[0:14, 0:14, 1] = np.inf  # large hole in the sky: background level
    broken[18:30, 18:30, 2] = np.nan  # large hole over the core: filled from its rim inwards

    mask = invalid_pixel_mask(broken)
    assert mask.dtype == np.float32 and mask.shape == broken.shape
    np.testing.assert_array_equal(mask, (~np.isfinite(broken)).astype(np.float32))

    filled = fill_invalid(broken, source="x.fits")
    assert filled.dtype == np.float32 and np.isfinite(filled).all()
    valid = np.isfinite(broken)
    np.testing.assert_array_equal(filled[valid], broken[valid])  # valid pixels untouched
    assert np.abs(filled[10:13, 20:22, 0] - image[10:13, 20:22, 0]).max() < 4  # noise 1, smooth profile
    assert abs(float(filled[0:14, 0:14, 1].mean())) < 0.5  # sky is ~0
    assert np.ptp(filled[0:9, 0:9, 1]) < 1e-6  # beyond the interpolated rim: one flat sky level
    core = filled[18:30, 18:30, 2]
    assert core.min() > 20  # continues the bright galaxy, not the sky
    np.testing.assert_array_equal(fill_invalid(broken, source="x.fits"), filled)  # deterministic

    ints = np.arange(12, dtype=np.uint8).reshape(2, 2, 3)
    assert fill_invalid(ints) is ints


def test_all_nan_band_names_the_file(tmp_path):
    bands = cube_bands()
    bands[2] = np.nan
    path = tmp_path / "blank_band.fits"
    fits.PrimaryHDU(bands).writeto(path)
    with pytest.raises(ImageReadError, match="band 2 has no finite pixels") as info:
        load_image(path, dtype="float32")
    assert str(path) in str(info.value)


def test_object_mask_keeps_central_source():
    image = galaxy(size=48)
    y, x = np.mgrid[:48, :48]
    image[..., :] += (80 * np.exp(-((x - 6) ** 2 + (y - 6) ** 2) / 4.0))[..., None]  # a star in the corner
    mask = object_mask(image, dilate=2)
    assert mask.shape == (48, 48, 1) and mask.dtype == np.float32
    assert set(np.unique(mask)) == {0.0, 1.0}
    assert mask[24, 24, 0] == 1 and mask[6, 6, 0] == 0 and mask[47, 47, 0] == 0
    grown = object_mask(image, dilate=5)
    assert grown.sum() > mask.sum() and (grown >= mask).all()
    assert object_mask(np.random.default_rng(0).normal(size=(32, 32, 2))).sum() < 40  # sky only
    assert object_mask(np.zeros((16, 16, 1))).sum() == 0


# ---------------------------------------------------------------- scalings


@pytest.mark.parametrize("method", SCALINGS[1:])
def test_scalings_in_unit_range_and_monotonic(method):
    image = galaxy(size=40)
    out = scale_image(image, method)
    assert out.dtype == np.float32 and out.shape == image.shape
    if method == "sky_asinh":  # in units of the sky noise: the sky sits at 0, below it is negative
        assert abs(float(np.median(out))) < 0.05 and out.max() > 0.5
    else:
        assert out.min() >= 0.0 and out.max() <= 1.0
        assert out.max() > 0.5  # uses the range, not all black
    # monotonic: the same ramp in every band (grey, so Lupton's colour coupling is moot)
    ramp = np.linspace(-3, 300, 40 * 40, dtype=np.float32).reshape(40, 40)
    ramp = ramp + 0.5 * np.random.default_rng(0).normal(size=ramp.shape).astype(np.float32)
    for bands in (1, 2, 3):
        stacked = np.repeat(ramp[..., None], bands, axis=-1)
        scaled = scale_image(stacked, method)
        order = np.argsort(ramp, axis=None)
        for c in range(bands):
            assert np.all(np.diff(scaled[..., c].ravel()[order]) >= -1e-6), (method, bands)


def test_scaling_details():
    image = galaxy(size=40)
    np.testing.assert_array_equal(scale_image(image, "none"), image)
    mm = scale_image(image, "minmax")
    for c in range(3):
        assert mm[..., c].min() == 0 and mm[..., c].max() == 1
    assert (scale_image(np.full((8, 8, 2), 3.0), "minmax") == 0).all()  # constant band -> 0
    normal = scale_image(image, "lupton")
    grey = galaxy(size=40, bands=(1.0,))
    faint = (grey[..., 0] > 3) & (grey[..., 0] < 15)  # galaxy outskirts
    strong = scale_image(grey, "lupton_high_contrast")[..., 0]
    assert strong[faint].mean() > scale_image(grey, "lupton")[..., 0][faint].mean() + 0.1  # faint shows
    # 3-band Lupton preserves colour: band ratios equal the flux ratios (0.5 : 1 : 2) in the core
    core = normal[18:22, 18:22]
    np.testing.assert_allclose(core[..., 0] / core[..., 2], 0.25, rtol=0.1)
    with pytest.raises(ValueError, match="unknown scaling"):
        scale_image(image, "log")


# ---------------------------------------------------------------- prepare_image


def test_uint8_exact_round_trip_and_float_output(rgb):
    out = prepare_image(rgb, size=(H, W), dtype="uint8")
    assert out.dtype == np.uint8
    np.testing.assert_array_equal(out, rgb)
    as_float = prepare_image(rgb, dtype="float32")
    np.testing.assert_allclose(as_float, rgb / 255.0, atol=1e-7)
    np.testing.assert_array_equal(prepare_image(as_float, dtype="uint8"), rgb)  # float [0,1] -> uint8
    small = prepare_image(rgb, size=8)
    assert small.shape == (8, 8, 3) and small.dtype == np.uint8
    assert prepare_image(rgb, size=(12, 10)).shape == (12, 10, 3)


def test_hdr_dtypes_keep_values():
    hdr = galaxy(size=32, amplitude=5000.0)
    out32 = prepare_image(hdr, dtype="float32")
    np.testing.assert_array_equal(out32, hdr)
    out16 = prepare_image(hdr, dtype="float16")
    assert out16.dtype == np.float16
    np.testing.assert_allclose(out16.astype(np.float32), hdr, rtol=1e-3, atol=1e-2)
    assert out16.max() > 5000  # not squashed
    with pytest.raises(ImageReadError, match=r"hdr.fits.*uint8 output needs \[0, 1\]"):
        prepare_image(hdr, dtype="uint8", source="hdr.fits")
    with pytest.raises(ImageReadError, match="overflow float16"):
        prepare_image(hdr * 100, dtype="float16", source="hdr.fits")
    scaled = prepare_image(hdr, scaling="asinh", size=16, dtype="uint8")
    assert scaled.dtype == np.uint8 and scaled.shape == (16, 16, 3) and scaled.max() > 200
    resized = prepare_image(hdr, scaling="minmax", size=20, dtype="float32")
    assert resized.min() >= 0 and resized.max() <= 1  # bilinear never overshoots


def test_prepare_masks_as_channels():
    image = galaxy(size=32)
    image[0:3, 0:5, 1] = np.nan
    out = prepare_image(
        image, scaling="lupton", nan_mask=True, galaxy_mask=True, dtype="float32", source="g.fits"
    )
    assert out.shape == (32, 32, 3 + 3 + 1)
    assert np.isfinite(out).all()
    expected_nan = np.zeros((32, 32, 3), np.float32)
    expected_nan[0:3, 0:5, 1] = 1
    np.testing.assert_array_equal(out[..., 3:6], expected_nan)
    np.testing.assert_array_equal(out[..., 6:], object_mask(image))
    assert out[16, 16, 6] == 1 and out[31, 31, 6] == 0

    small = prepare_image(image, size=16, scaling="zscale", nan_mask=True, galaxy_mask=True, dtype="uint8")
    assert small.shape == (16, 16, 7) and small.dtype == np.uint8
    assert set(np.unique(small[..., 3:])) <= {0, 255}
    assert small[0, 0, 4] == 255 and small[0, 2, 4] == 255 and small[2, 0, 4] == 0 and small[0, 0, 3] == 0
    assert small[8, 8, 6] == 255 and small[15, 15, 6] == 0


def test_channel_conversion(rgb):
    grey = prepare_image(rgb, channels=1)
    assert grey.shape == (H, W, 1)
    np.testing.assert_array_equal(grey[..., 0], np.round(rgb.mean(-1, dtype=np.float32)).astype(np.uint8))
    three = prepare_image(rgb[..., :1], channels=3)
    np.testing.assert_array_equal(three, np.repeat(rgb[..., :1], 3, axis=-1))
    floats = prepare_image(galaxy(size=16), channels=1, dtype="float32")
    np.testing.assert_allclose(floats[..., 0], galaxy(size=16).mean(-1), rtol=1e-6)
    with pytest.raises(ImageReadError, match="two_band.fits.*2 band"):
        prepare_image(np.zeros((8, 8, 2), np.float32), channels=3, dtype="float32", source="two_band.fits")
    with pytest.raises(ImageReadError, match="unknown scaling"):
        prepare_image(rgb, scaling="sqrt")
    with pytest.raises(ImageReadError, match="output dtype"):
        prepare_image(rgb, dtype="float64")
    with pytest.raises(ImageReadError, match=r"\(H, W, C\)"):
        prepare_image(np.zeros((2, 2, 2, 2)), source="x")


def test_save_image(tmp_path, rgb):
    save_image(rgb, tmp_path / "out.png")
    np.testing.assert_array_equal(read_image(tmp_path / "out.png"), rgb)
    save_image(galaxy(size=8), tmp_path / "out.npy")
    np.testing.assert_array_equal(np.load(tmp_path / "out.npy"), galaxy(size=8))
    with pytest.raises(ImageReadError, match="uint8"):
        save_image(galaxy(size=8), tmp_path / "bad.png")
