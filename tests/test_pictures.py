"""Tests of mlp_pictures: the distortions of augmentation and of test-time views, the batch
transform mlp.train takes from it, and that the loop with it trains as the distortions ask."""

import math

import numpy as np
import pytest

import mlp
from conftest import assert_same_arrays
from numpy_mlp import guard as mlp_guard
from numpy_mlp import pictures as mlp_pictures

# ----------------------------------------------------------------------------- augmentation


@pytest.mark.filterwarnings("ignore::mlp.NotLearningWarning")  # toy data, a few steps
def test_a_new_augmentation_is_one_registry_entry(monkeypatch):
    mirror = mlp_pictures.Augmentation(
        distort=lambda images, rng, strength: images[:, :, ::-1], about="left and right swapped"
    )
    monkeypatch.setitem(mlp_pictures.AUGMENTATIONS, "mirror", mirror)
    x = np.arange(8, dtype=np.float32).reshape(2, 4) / 8
    assert (
        mlp_pictures.augment(x, (2, 2), "mirror", np.random.default_rng(0)).tolist()
        == (x.reshape(2, 2, 2)[:, :, ::-1].reshape(2, 4)).tolist()
    )
    rng = np.random.default_rng(0)
    _, history = mlp.train(
        mlp.init([4, 3, 2], "relu"),
        rng.random((8, 4), dtype=np.float32),
        rng.integers(0, 2, 8),
        mlp.Settings(activation="relu", epochs=1, batch_size=4, augment_kind="mirror"),
        transform=mlp_pictures.distortion(mlp.Settings(activation="relu", augment_kind="mirror"), (2, 2)),
    )
    assert len(history) == 1


@pytest.mark.parametrize("kind", mlp_pictures.AUGMENTATIONS)
def test_augmentation_keeps_shape_dtype_and_range(kind, mnist):
    x = mnist[0][:32]
    out = mlp_pictures.augment(x, (28, 28), kind, np.random.default_rng(0))
    assert out.shape == x.shape and out.dtype == x.dtype
    assert out.min() >= 0 and out.max() <= 1
    if kind != "none":
        assert not np.array_equal(out, x)
        assert np.array_equal(out, mlp_pictures.augment(x, (28, 28), kind, np.random.default_rng(0)))


@pytest.mark.parametrize("kind", ["affine", "elastic"])
def test_zero_distortion_is_the_identity(kind, mnist):
    x = mnist[0][:8]
    out = mlp_pictures.augment(
        x, (28, 28), kind, np.random.default_rng(0), max_shift=0, max_degrees=0, max_scale=0, alpha=0.0
    )
    assert np.allclose(out, x, atol=1e-6)


def test_bilinear_sampling_matches_the_formula_inside_and_reads_zeros_outside():
    rng = np.random.default_rng(0)
    images = rng.random((3, 5, 6), dtype=np.float32)
    rows = rng.uniform(-3, 8, (3, 5, 6)).astype(np.float32)  # many points off the image
    cols = rng.uniform(-3, 9, (3, 5, 6)).astype(np.float32)

    def pixel(b, r, c):
        return images[b, r, c] if 0 <= r < 5 and 0 <= c < 6 else 0.0

    expected = np.zeros_like(images)
    for b, i, j in np.ndindex(images.shape):
        r, c = float(rows[b, i, j]), float(cols[b, i, j])
        r0, c0 = math.floor(r), math.floor(c)
        fr, fc = r - r0, c - c0
        expected[b, i, j] = (1 - fr) * ((1 - fc) * pixel(b, r0, c0) + fc * pixel(b, r0, c0 + 1)) + fr * (
            (1 - fc) * pixel(b, r0 + 1, c0) + fc * pixel(b, r0 + 1, c0 + 1)
        )
    assert np.allclose(mlp_pictures._bilinear(images, rows, cols), expected, atol=1e-6)


def test_elastic_fields_drawn_in_the_blur_basis_match_blurred_uniform_noise():
    # The cheap draw (k x k Gaussian noise in the blur's leading eigenvectors) must give the
    # displacement fields of Simard's recipe: uniform noise blurred by the Gaussian matrix.
    rng = np.random.default_rng(0)
    n, sigma, draws = 28, 4.0, 4000
    blur = mlp_pictures._gaussian_matrix(n, sigma)
    basis = mlp_pictures.smooth_field_basis(n, sigma, dtype=np.float64)
    assert basis.shape[1] < n // 2  # the point: far fewer values to draw
    full = blur @ (rng.random((draws, n, n)) * 2 - 1) @ blur.T
    cheap = basis @ (rng.standard_normal((draws, basis.shape[1], basis.shape[1])) / np.sqrt(3)) @ basis.T
    assert np.allclose(cheap.std(axis=0), full.std(axis=0), rtol=0.08)  # per pixel, 4,000 draws
    for dr, dc in [(0, 1), (0, 4), (3, 3), (0, 10)]:  # how smooth: correlation with a neighbour
        a = np.corrcoef(full[:, 8, 8], full[:, 8 + dr, 8 + dc])[0, 1]
        b = np.corrcoef(cheap[:, 8, 8], cheap[:, 8 + dr, 8 + dc])[0, 1]
        assert abs(a - b) < 0.05, (dr, dc, a, b)


@pytest.mark.parametrize("strength", [{"sigma": 0.0}, {"alpha": -1.0}, {"max_degrees": float("nan")}])
def test_augment_refuses_impossible_strengths(strength, mnist):
    with pytest.raises(ValueError, match="distortion strengths must be >= 0 and sigma > 0"):
        mlp_pictures.augment(mnist[0][:2], (28, 28), "elastic", np.random.default_rng(0), **strength)


def test_distortions_weaken_over_the_run_to_augment_end(mnist):
    settings = mlp.Settings(activation="relu", epochs=5, augment_kind="elastic", augment_end=0.0, batch_size=50)
    assert mlp_pictures.distortion_strength(settings._replace(augment_end=1.0), 3) == {}  # the defaults, bit for bit
    assert mlp_pictures.distortion_strength(settings, 1) == {
        "max_shift": 2,
        "max_degrees": 12,
        "max_scale": 0.1,
        "alpha": 34,
    }
    assert mlp_pictures.distortion_strength(settings._replace(augment_end=0.5), 3) == pytest.approx(
        {"max_shift": 1.5, "max_degrees": 9, "max_scale": 0.075, "alpha": 25.5}
    )
    assert set(mlp_pictures.distortion_strength(settings, 5).values()) == {0}
    # strength 0 in the last epoch: the pictures as they are, so that epoch trains as without distortions
    x, y = mnist[0][:200], mnist[1][:200]
    params = mlp.init([784, 16, 10], "relu", seed=2)
    last = mlp.fresh_checkpoint(params, 0)._replace(epoch=4)
    for kind in ("elastic", "affine", "shift"):
        distorting = settings._replace(augment_kind=kind)
        transform = mlp_pictures.distortion(distorting, (28, 28))
        weakened = mlp.train_epoch(last, x, y, 0.1, distorting, None, transform=transform)[0].params
        plain = mlp.train_epoch(last, x, y, 0.1, settings._replace(augment_kind="none"), None)[0].params
        assert_same_arrays(weakened, plain)
    with pytest.raises(ValueError, match="augment_end must be 0 or more"):
        mlp.check_settings(settings._replace(augment_end=-0.5))


def test_shift_moves_the_centre_of_mass_by_the_shift(mnist):
    images = mnist[0][:6].reshape(6, 28, 28)
    dr, dc = np.array([2, -2, 1, 0, -1, 2]), np.array([-1, 2, 0, 2, -2, 1])
    moved = mlp_pictures.shift_images(images, dr, dc)
    rows, cols = np.mgrid[:28, :28]

    def centre(im):
        return np.array([(im * rows).sum(), (im * cols).sum()]) / im.sum()

    for i in range(6):  # MNIST digits sit inside a 4-pixel border, so nothing falls off
        assert centre(moved[i]) - centre(images[i]) == pytest.approx([dr[i], dc[i]], abs=1e-4)


def test_test_time_augmentation_averages_the_picture_and_seeded_distortions_of_it(mnist_raw):
    x = mnist_raw["test_images"][:50].reshape(50, 784)
    prep = mlp.fit_preprocessing(x)
    one = (mlp.init([784, 16, 10], "relu", seed=0), {"activation": "relu", "preprocessing": prep})
    two = (mlp.init([784, 16, 10], "tanh", seed=1), {"activation": "tanh", "preprocessing": prep})
    distort = mlp_pictures.test_time_view((28, 28))
    views = mlp_pictures.view_log_proba(
        one[0], x, "relu", prep, views=2, seed=4, batch_size=20, distort=distort
    )  # 3 chunks
    assert views.shape == (3, 50, 10) and views.dtype == np.float64
    rng, units = np.random.default_rng(4), mlp.to_unit(x, prep)
    strength = mlp_pictures.TTA_STRENGTH._asdict()
    for i in range(0, 50, 20):  # the distortions are drawn chunk by chunk, view by view
        for view in (1, 2):
            seen = mlp_pictures.augment(units[i : i + 20], (28, 28), "affine", rng, **strength)
            expected = mlp.log_softmax(mlp.forward(one[0], seen, "relu")[0].astype(np.float64))
            np.testing.assert_allclose(views[view, i : i + 20], expected, rtol=1e-6, atol=1e-9)
    plain = mlp_pictures.ensemble_log_proba([one], x, batch_size=20)  # the same chunks: the same BLAS kernels
    np.testing.assert_allclose(views[0], plain, rtol=1e-12)  # the picture itself
    assert not np.allclose(views[1], views[0])
    both = mlp_pictures.ensemble_log_proba([one, two], x, batch_size=20, views=2, seed=4)  # 2 networks x 3 views
    all_six = np.concatenate([views, mlp_pictures.view_log_proba(two[0], x, "tanh", prep, 2, 4, 20, distort)])
    np.testing.assert_allclose(np.exp(both), np.exp(all_six).mean(axis=0), rtol=1e-9)
    np.testing.assert_allclose(np.exp(both).sum(axis=1), 1, rtol=1e-9)


def test_ensemble_log_probabilities_stay_finite_where_a_member_is_certain():
    params = mlp.init([2, 2], "relu", dtype=np.float64)
    sure = {"W1": np.array([[800.0, -800.0], [0.0, 0.0]]), "b1": np.zeros(2)}
    as_loaded = {"activation": "relu", "preprocessing": None}  # x holds network inputs
    log_p = mlp_pictures.ensemble_log_proba([(sure, as_loaded), (params, as_loaded)], np.array([[1.0, 0.0]]))
    assert np.isfinite(log_p).all() and np.exp(log_p).sum() == pytest.approx(1.0)
    assert log_p[0, 1] > np.log(0.5) - 10  # the other member's share survives: no log(0)


@pytest.mark.filterwarnings("ignore::mlp.NotLearningWarning")  # 100 digits, two steps
def test_the_transform_distorts_square_pictures_only_and_train_needs_it_to_augment(mnist):
    settings = mlp.Settings(activation="relu", epochs=1, batch_size=50, augment_kind="shift")
    assert mlp_pictures.distortion(settings._replace(augment_kind="none"), (28, 28)) is None
    with pytest.raises(ValueError, match="distorts square images"):
        mlp_pictures.distortion(settings, None)
    with pytest.raises(ValueError, match="unknown augmentation 'twirl'"):
        mlp_pictures.distortion(settings._replace(augment_kind="twirl"), (28, 28))
    x, y, params = mnist[0][:100], mnist[1][:100], mlp.init([784, 8, 10], "relu")
    with pytest.raises(ValueError, match="augment_kind 'shift' needs transform=numpy_mlp.pictures.distortion"):
        mlp.train(params, x, y, settings)
    transform = mlp_pictures.distortion(settings, (28, 28))
    shifted, _ = mlp.train(params, x, y, settings, transform=transform)
    plain, _ = mlp.train(params, x, y, settings._replace(augment_kind="none"))
    assert not np.array_equal(shifted["W1"], plain["W1"])
    rng = np.random.default_rng(5)  # the transform is augment with the loop's Generator
    expected = mlp_pictures.augment(x[:4], (28, 28), "shift", np.random.default_rng(5))
    assert transform(x[:4], rng, 1).tobytes() == expected.tobytes()


def test_a_distorted_run_stopped_part_way_through_an_epoch_resumes_bit_identically(tmp_path, mnist):
    x, y = mnist[0][:600], mnist[1][:600]
    settings = mlp.Settings(activation="relu", epochs=2, batch_size=64, seed=3, augment_kind="elastic", augment_end=0.5)
    params, transform = mlp.init([784, 16, 10], "relu", seed=3), mlp_pictures.distortion(settings, (28, 28))
    full, _ = mlp.train(params, x, y, settings, transform=transform)

    def stop_in_epoch_2(checkpoint):  # after batch 3 of epoch 2: saved, then a crash
        if checkpoint.epoch == 1 and checkpoint.step == 3:
            mlp_guard.save_checkpoint(tmp_path / "c.npz", checkpoint, {"activation": "relu"})
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        mlp.train(params, x, y, settings, transform=transform, callbacks=mlp.Callbacks(on_step=stop_in_epoch_2))
    checkpoint, _ = mlp_guard.load_checkpoint(tmp_path / "c.npz")
    resumed, _ = mlp.train(params, x, y, settings, resume=checkpoint, transform=transform)
    assert_same_arrays(resumed, full)
