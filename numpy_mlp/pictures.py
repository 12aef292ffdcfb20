"""Pictures: reading a picture file, framing a digit the way a network reads it, and the random
distortions of training images (augmentation) and of test pictures (test-time views).

mlp.py's loop knows nothing of images: `distortion(settings, shape)` makes the batch transform
`mlp.train(..., transform=...)` applies to each batch (in [0, 1], before `standardize`), and
`ensemble_log_proba` averages several networks (an ensemble) and test-time views. Straightening (--deslant,
--width) is not here: it is stored preprocessing, which mlp.py applies when it loads weights,
so that mlp.py copied alone still uses every weights file it wrote. Its rooms, in order:
  reading pictures   one decoder (Pillow) for a data set's pictures and the ones predict reads
  framing            a drawn or photographed digit centred and scaled as MNIST's are
  augmentation       shifts, affine and elastic distortions, as a registry; the batch transform
  test-time views    mild distortions averaged over, for eval --tta and predict --tta; ensembles
"""

import math
from functools import lru_cache
from typing import NamedTuple

import numpy as np

import mlp

# ----------------------------------------------------------------------------- reading pictures
MAX_PICTURE_SIDE = 1024  # a picture to classify over 4 of these squared is reduced while decoding


MAX_PICTURE_PIXELS = 1 << 30  # Pillow's bomb check while reducing: such a picture is never decoded whole
# A picture to classify that cannot be decoded at a smaller scale (PNG, GIF, TIFF: only JPEG can)
# is decoded whole before it is reduced: refused over this many pixels (128 MB grey, 384 MB colour).
MAX_DECODED_PIXELS = 128 << 20


class PictureTooLarge(ValueError):
    """A picture to classify too large to decode (check_decoded_size)."""


def check_decoded_size(path, width, height):
    """PictureTooLarge naming the file when a picture to classify would be decoded at over
    MAX_DECODED_PIXELS (its memory), with the size that fits."""
    if width * height > MAX_DECODED_PIXELS:
        side = int(MAX_DECODED_PIXELS**0.5)
        raise PictureTooLarge(
            f"{path}: a picture of {width:,} x {height:,} pixels is more than a digit needs and would take "
            f"{width * height * 3 / 2**30:.1f} GB to decode; shrink it to at most {side:,} x {side:,} (or save it as JPEG)"
        )


def read_grey(path, reduce=False):
    """A picture file as (h, w) float32 grey levels in [0, 1], as a person sees it: turned
    upright by its EXIF orientation, transparent parts shown on white, 16-bit levels scaled
    to their own range. With `reduce` (a picture to classify: a digit needs no more), a picture
    of over 4 megapixels is reduced (a thumbnail of MAX_PICTURE_SIDE a side): a JPEG while it is
    decoded (draft mode), so that a 20000 x 20000 scan costs megabytes, not gigabytes; other forms
    are decoded whole first, so over MAX_DECODED_PIXELS they are refused. Without it (a data
    set's pictures) the stored size is kept. Needs Pillow.

    Raises ValueError naming the file when it is not a picture Pillow can read, or too large."""
    try:
        from PIL import Image, ImageOps
    except ImportError:
        raise ImportError("reading pictures needs Pillow: pip install pillow") from None
    before = Image.MAX_IMAGE_PIXELS
    try:
        if reduce:
            Image.MAX_IMAGE_PIXELS = MAX_PICTURE_PIXELS
        with Image.open(path) as im:
            if reduce:
                im.draft("L", (MAX_PICTURE_SIDE, MAX_PICTURE_SIDE))  # JPEG: decode at 1/2 .. 1/8 scale
                check_decoded_size(path, im.width, im.height)
                if im.width * im.height > 4 * MAX_PICTURE_SIDE**2:
                    im.thumbnail((MAX_PICTURE_SIDE, MAX_PICTURE_SIDE), reducing_gap=2.0)
            im = ImageOps.exif_transpose(im)
            if im.mode in ("I;16", "I;16B", "I;16L", "I", "F"):  # 16-bit or wider greyscale
                levels = np.asarray(im, np.float32)
                low, high = float(levels.min()), float(levels.max())
                return (levels - low) / (high - low) if high > low else np.zeros_like(levels)
            if im.mode in ("RGBA", "LA", "PA") or (im.mode == "P" and "transparency" in im.info):
                white = Image.new("RGBA", im.size, (255, 255, 255, 255))
                im = Image.alpha_composite(white, im.convert("RGBA"))  # ink on a transparent canvas: on white
            return np.asarray(im.convert("L"), np.float32) / 255
    except PictureTooLarge:
        raise
    except (OSError, ValueError, Image.DecompressionBombError) as e:
        raise ValueError(f"{path}: not a readable image ({e})") from None
    finally:
        Image.MAX_IMAGE_PIXELS = before


def decode_picture(path):
    """A data set's picture as (H, W) uint8 grey levels at its stored size (`read_grey`):
    load_data's decoder for folders of pictures."""
    return np.round(read_grey(path) * 255).astype(np.uint8)


# ----------------------------------------------------------------------------- augmentation
# Random distortions of training images, drawn from the loop's Generator: one registry.


class Strength(NamedTuple):
    """How strong the random distortions are (Simard et al. 2003's choices for MNIST)."""

    max_shift: float = 2  # pixels (whole pixels for "shift")
    max_degrees: float = 12  # rotation
    max_scale: float = 0.1  # scaling by 1 +- max_scale
    alpha: float = 34.0  # elastic: how far the displacement field moves pixels
    sigma: float = 4.0  # elastic: how smooth it is (std of its Gaussian blur, in pixels)


def lerp(a, b, t):
    """a + (b - a) * t, computed in b (which is overwritten): bilinear sampling's one step."""
    b -= a
    b *= t
    b += a
    return b


def _bilinear(images, rows, cols):
    """Sample (B, H, W) images at float coordinates (B, H, W); zero outside the image. rows and
    cols are the caller's scratch: they are overwritten.

    Each of the four neighbours is one np.take from the flattened, zero-bordered batch, at
    offsets 0, 1, W + 4 and W + 5 from the top-left one (slices of the same buffer, so the
    index is computed once); weights in the images' dtype. Every step after the first writes
    into an array made here: a fresh array of this size costs its page faults each time."""
    B, H, W = images.shape
    Wp = W + 4
    # Clipping the coordinates into the 2-pixel zero border: points beyond it read only zeros.
    rows, cols = np.clip(rows, -2, H, out=rows), np.clip(cols, -2, W, out=cols)
    r0, c0 = np.floor(rows), np.floor(cols)
    fr, fc = np.subtract(rows, r0, out=rows), np.subtract(cols, c0, out=cols)
    # The flat index of each top-left neighbour, exact in float32 while it is below 2**24.
    exact = rows.dtype if B * (H + 4) * Wp < 2**24 else np.float64
    start = (np.arange(B) * ((H + 4) * Wp) + 2 * Wp + 2).astype(exact)[:, None, None]
    index = r0.astype(exact, copy=False)
    index *= Wp
    index += c0
    index += start
    top_left = index.astype(np.intp)
    padded = np.pad(images, ((0, 0), (2, 2), (2, 2))).reshape(-1)
    top = lerp(np.take(padded, top_left), np.take(padded[1:], top_left), fc)
    bottom = lerp(np.take(padded[Wp:], top_left), np.take(padded[Wp + 1 :], top_left), fc)
    return lerp(top, bottom, fr)


def shift_images(images, dr, dc):
    """(B, H, W) images moved down by dr[i] and right by dc[i] whole pixels, zero filled."""
    B, H, W = images.shape
    pad = int(max(np.abs(dr).max(), np.abs(dc).max(), 0))
    padded = np.pad(images, ((0, 0), (pad, pad), (pad, pad)))
    rows = np.arange(H)[None, :, None] + pad - np.asarray(dr)[:, None, None]
    cols = np.arange(W)[None, None, :] + pad - np.asarray(dc)[:, None, None]
    return padded[np.arange(B)[:, None, None], rows, cols]


def _gaussian_matrix(n, sigma):
    """(n, n) matrix M such that M @ v smooths v with a Gaussian of std sigma (zero padded)."""
    i = np.arange(n)
    k = np.exp(-0.5 * ((i[:, None] - i[None, :]) / sigma) ** 2)
    return k / k[n // 2].sum()


@lru_cache(maxsize=16)  # the same few bases every batch; read-only, so sharing them is safe
def smooth_field_basis(n, sigma, dtype=np.float32, lost=1e-5):
    """(n, k) matrix V for drawing blurred noise cheaply: for white noise Z (k, k) of variance
    1/3, V @ Z @ V.T has the distribution of M @ U @ M.T, a uniform [-1, 1) field U (n, n)
    blurred by M = _gaussian_matrix(n, sigma), up to a `lost` share of its variance.

    Why: M = Q diag(e) Q.T (symmetric), so M U M.T = (Q e) (Q.T U Q) (Q e).T, and Q.T U Q is
    white noise of variance 1/3 again (near-Gaussian: each entry sums n * n uniform terms).
    A smooth blur has few large eigenvalues e (k = 8 of 28 for sigma 4), so drawing k * k
    values instead of n * n and two thin matrix products replace the full blur."""
    e, q = np.linalg.eigh(_gaussian_matrix(n, sigma))
    order = np.argsort(-np.abs(e))
    e, q = e[order], q[:, order]
    share = np.cumsum(e**2) / np.sum(e**2)
    k = int(np.searchsorted(share, 1 - lost)) + 1
    basis = (q[:, :k] * e[:k]).astype(dtype)
    basis.flags.writeable = False
    return basis


def _shift(images, rng, strength):
    """Whole-pixel shifts up to strength.max_shift (rounded to whole pixels)."""
    most = round(strength.max_shift)
    dr, dc = rng.integers(-most, most + 1, size=(2, len(images)))
    return shift_images(images, dr, dc)


def _affine_coordinates(images, rng, strength):
    """Where each output pixel of a random rotation, scaling and sub-pixel shift reads from in
    its input image: (rows, cols), each (B, H, W) float32."""
    B, H, W = images.shape
    # Coordinates in float32: sub-pixel positions need no more, and it halves the memory traffic.
    f32 = np.float32
    angle = np.deg2rad(rng.uniform(-strength.max_degrees, strength.max_degrees, size=(B, 1, 1))).astype(f32)
    scale = (1 + rng.uniform(-strength.max_scale, strength.max_scale, size=(B, 1, 1))).astype(f32)
    shift_r, shift_c = rng.uniform(-strength.max_shift, strength.max_shift, size=(2, B, 1, 1)).astype(f32)
    r, c = np.meshgrid(np.arange(H, dtype=f32) - (H - 1) / 2, np.arange(W, dtype=f32) - (W - 1) / 2, indexing="ij")
    # inverse map: output pixel (r, c) reads from the input at R(-angle) (r, c) / scale - shift
    cos, sin = np.cos(angle) / scale, np.sin(angle) / scale
    rows, cols = cos * r - sin * c, sin * r + cos * c
    rows += f32((H - 1) / 2) - shift_r  # in place: the (B, 1, 1) offsets first, then one pass
    cols += f32((W - 1) / 2) - shift_c
    return rows, cols


def _affine(images, rng, strength):
    """Rotation, scaling and sub-pixel shift, sampled bilinearly."""
    return _bilinear(images, *_affine_coordinates(images, rng, strength))


def _elastic(images, rng, strength):
    """The affine distortion, then Simard et al. 2003's: a uniform random displacement field
    smoothed by a Gaussian of std strength.sigma and scaled by strength.alpha (drawn directly
    in the blur's leading eigenvectors: see smooth_field_basis)."""
    rows, cols = _affine_coordinates(images, rng, strength)
    B, H, W = images.shape
    f32 = np.float32
    v_r, v_c = smooth_field_basis(H, strength.sigma), smooth_field_basis(W, strength.sigma)
    k_r, k_c = v_r.shape[1], v_c.shape[1]
    noise = rng.standard_normal((2 * B * k_r, k_c), dtype=f32) * f32(strength.alpha / math.sqrt(3))
    half = (noise @ v_c.T).reshape(2 * B, k_r, W)  # Z @ V_c.T, one matrix product
    field = np.matmul(v_r, half)  # V_r @ (Z @ V_c.T): (2B, H, W)
    rows += field[:B]
    cols += field[B:]
    return _bilinear(images, rows, cols)


class Augmentation(NamedTuple):
    distort: object  # distort(images (B, H, W) in [0, 1], rng, Strength) -> (B, H, W);
    # None: the images are used as they are
    about: str  # one line for help texts


AUGMENTATIONS = {
    "none": Augmentation(distort=None, about="no distortion"),
    "shift": Augmentation(distort=_shift, about="whole-pixel shifts up to 2"),
    "affine": Augmentation(distort=_affine, about="rotation up to 12 degrees, scaling by up to 10%, sub-pixel shift"),
    "elastic": Augmentation(distort=_elastic, about="affine plus Simard's elastic distortion (alpha 34, sigma 4)"),
}


def augment(x, shape, kind, rng, **strength):
    """Randomly distorted copies of a batch of images, for training.

    Args:
      x: (B, H * W) images in [0, 1]. shape: (H, W). rng: np.random.Generator.
      kind: a key of AUGMENTATIONS. strength: fields of `Strength` to change.
    Returns:
      (B, H * W) array of x's dtype, values still in [0, 1]; x itself for "none".
    """
    distort = mlp.lookup(AUGMENTATIONS, kind, "augmentation").distort
    if distort is None:
        return x
    chosen = Strength(**strength)
    if not (all(v >= 0 for v in chosen) and chosen.sigma > 0):  # also catches NaN
        raise ValueError(f"distortion strengths must be >= 0 and sigma > 0, not {chosen}")
    B, (H, W) = len(x), shape
    distorted = distort(x.reshape(B, H, W), rng, chosen)  # a new array: clipped in place
    return np.clip(distorted, 0, 1, out=distorted).reshape(B, H * W)


def distortion_strength(settings, epoch):
    """The `augment` strengths of 1-based `epoch`: Strength's defaults (all but the elastic
    field's smoothness) times a factor that goes in a straight line from 1 in the first epoch
    to settings.augment_end in the last; {} (the defaults themselves) when that is 1."""
    if settings.augment_end == 1:
        return {}
    factor = 1 + (settings.augment_end - 1) * (epoch - 1) / max(1, settings.epochs - 1)
    base = Strength()
    return {name: getattr(base, name) * factor for name in ("max_shift", "max_degrees", "max_scale", "alpha")}


def distortion(settings, shape):
    """The batch transform for `mlp.train(..., transform=...)` that distorts training images as
    settings.augment_kind says, weakening to settings.augment_end over the run
    (`distortion_strength`): transform(units (B, H * W) in [0, 1], rng, epoch) -> the same
    shape. None for "none". shape: (H, W) of the square images (None: a table)."""
    if mlp.lookup(AUGMENTATIONS, settings.augment_kind, "augmentation").distort is None:
        return None
    if shape is None or shape[0] != shape[1]:
        raise ValueError(f"augment_kind {settings.augment_kind!r} distorts square images, not {shape}")
    return lambda units, rng, epoch: augment(
        units, shape, settings.augment_kind, rng, **distortion_strength(settings, epoch)
    )


# ----------------------------------------------------------------------------- test-time views


TTA_STRENGTH = Strength(max_shift=1, max_degrees=6, max_scale=0.05)  # test-time views: half of training's


def test_time_view(shape):
    """distort(units, rng) -> one mild random affine distortion of each picture (TTA_STRENGTH),
    for ensembles (`view_log_proba`)."""
    return lambda units, rng: augment(units, shape, "affine", rng, **TTA_STRENGTH._asdict())


def view_log_proba(
    params, x, activation, preprocessing, views=0, seed=0, batch_size=2000, distort=None, *, temperature=1.0
):
    """(1 + views, N, C) float64 log-probabilities of x's rows as they are, then of `views`
    random distortions of each, distort(units (B, D) in [0, 1], rng) -> (B, D), by default the
    mild ones of `test_time_view` (the same ones for any network, given the seed and
    batch_size: they are drawn chunk by chunk). x: raw pictures with `preprocessing`, else
    network inputs distorted as they are. The logits are divided by `temperature` (the weights'
    meta["temperature"], as mlp.predict_proba divides them)."""
    if not (mlp._whole(batch_size) and batch_size >= 1 and mlp._whole(views) and views >= 0):
        raise ValueError(f"batch_size must be a whole number >= 1 and views >= 0, got {batch_size!r}, {views!r}")
    if views and distort is None:
        distort = test_time_view(mlp.image_shape(x.shape[1], needs="test-time augmentation"))
    rng, dtype = np.random.default_rng(seed), params["W1"].dtype
    chunks = []
    for i in range(0, len(x), batch_size):
        units = x[i : i + batch_size]
        units = units if preprocessing is None else mlp.to_unit(units, preprocessing, dtype)
        seen = [units] + [distort(units, rng) for _ in range(views)]
        inputs_of = [v if preprocessing is None else mlp.standardize(v, preprocessing) for v in seen]
        logits = [mlp.forward(params, v, activation)[0].astype(np.float64) / temperature for v in inputs_of]
        chunks.append([mlp.log_softmax(z) for z in logits])
    return np.stack([np.concatenate(view) for view in zip(*chunks)])


def uncalibrated(members):
    """`members` as they would predict without their fitted temperatures (eval's "before")."""
    return [(params, {k: v for k, v in meta.items() if k != "temperature"}) for params, meta in members]


def ensemble_log_proba(members, x, batch_size=2000, views=0, seed=0):
    """(N, C) log of the members' averaged class probabilities, log(mean_m softmax_m), with
    log-sum-exp over the members, so that tiny probabilities stay finite; averaged also over
    `views` mild random distortions of every picture (`view_log_proba`, seeded by `seed`);
    0: the rows as they are (tables too).

    members: [(params, meta)] as mlp.load returns them, networks of the same classes; each meta
    names its "activation" and "preprocessing" (None: x holds network inputs), and perhaps the
    "temperature" its logits are divided by. One member gives its own log-probabilities (float64)."""
    per_view = np.concatenate(
        [
            view_log_proba(
                p,
                x,
                m["activation"],
                m.get("preprocessing"),
                views,
                seed,
                batch_size,
                temperature=mlp.temperature_of(m),
            )
            for p, m in members
        ]
    )  # (M * (1 + views), N, C)
    top = per_view.max(axis=0)
    return top + np.log(np.exp(per_view - top).mean(axis=0))


def ensemble_report(members, x, y, n_mistakes=10, views=0):
    """mlp.classification_report of an ensemble: its members' probabilities averaged (and over
    `views` test-time distortions of each picture: `ensemble_log_proba`), the loss the mean
    cross-entropy of that average."""
    mlp.check_labels(y, mlp.sizes_of(members[0][0])[-1], len(x))
    log_p = ensemble_log_proba(members, x, views=views)
    return mlp.report_from_probabilities(np.exp(log_p), y, float(-log_p[np.arange(len(y)), y].mean()), n_mistakes)


# ----------------------------------------------------------------------------- framing
# A picture of a digit made to look like MNIST's, or resized to the shape a network takes.


def centre_in_frame(image, size=28, centre="mass"):
    """Paste a (h, w) image (h, w <= size) into a (size, size) frame so that its centre of
    mass (centre="mass", as MNIST digits are framed, LeCun et al. 1998) or the centre of its
    box (centre="box") lands on the frame's centre."""
    h, w = image.shape
    frame = np.zeros((size, size), image.dtype)
    top, left = (size - h) // 2, (size - w) // 2
    frame[top : top + h, left : left + w] = image
    rows, cols = np.indices(frame.shape)
    mass = frame.sum()
    if mass == 0 or centre == "box":
        return frame
    dr = round((size - 1) / 2 - (frame * rows).sum() / mass)
    dc = round((size - 1) / 2 - (frame * cols).sum() / mass)
    dr = int(np.clip(dr, -top, size - h - top))  # never push ink out of the frame
    dc = int(np.clip(dc, -left, size - w - left))
    return shift_images(frame[None], np.array([dr]), np.array([dc]))[0]


def _resampling_matrix(n_in, n_out):
    """(n_out, n_in) matrix M such that M @ v resamples v to n_out points with a linear
    (triangle) filter, widened by the scale factor when shrinking so that every input pixel
    contributes (antialiased, like Pillow's BILINEAR); each row sums to 1."""
    scale = n_in / n_out
    centres = (np.arange(n_out) + 0.5) * scale - 0.5  # output pixel centres, in input pixels
    weights = np.clip(1 - np.abs(np.arange(n_in)[None, :] - centres[:, None]) / max(scale, 1.0), 0, None)
    return weights / weights.sum(axis=1, keepdims=True)


def resize(image, shape):
    """An (h, w) image resampled to `shape` (rows, cols) by two small matrix products."""
    (h, w), (rows, cols) = image.shape, shape
    return _resampling_matrix(h, rows) @ image @ _resampling_matrix(w, cols).T


def ink_box(ink):
    """(top, bottom, left, right) of the pixels of an (h, w) image of ink (bright, on 0) over a
    tenth of its brightest, bottom and right included; None when it has no ink."""
    rows, cols = np.nonzero(ink > 0.1 * ink.max()) if ink.max() > 0 else ((), ())
    return None if len(rows) == 0 else (rows.min(), rows.max(), cols.min(), cols.max())


def frame_digit(grey, size=28, box=None, centre="mass"):
    """A picture of one digit framed the way a data set's digits are (MNIST's by default,
    LeCun et al. 1998; another's as `measure_framing` finds it).

    Args:
      grey: (h, w) grey levels in [0, 1], ink dark on light or light on dark (told apart by
        the border), any size. size: the side of the framed image. box: the side of the box
        the ink is fitted into (default: MNIST's 20 of 28, scaled to `size`). centre: "mass"
        or "box", what is put at the frame's centre (see `centre_in_frame`).
    Returns:
      (size * size,) float32 in [0, 1]: ink bright on black, the background level removed,
      cropped to the ink, fitted into box x box keeping its aspect ratio, and centred.
      ValueError when there is no ink.
    """
    box = round(size * 20 / 28) if box is None else box
    grey = np.asarray(grey, np.float64)
    border = np.concatenate([grey[0], grey[-1], grey[:, 0], grey[:, -1]])
    light = border.mean() > 0.5
    ink = 1 - grey if light else grey  # MNIST: light ink on a dark background
    ink = np.clip(ink - np.median(1 - border if light else border), 0, None)
    found = ink_box(ink)
    if found is None:
        raise ValueError("the image is blank; draw a digit on a plain background")
    top, bottom, left, right = found
    ink = ink[top : bottom + 1, left : right + 1]
    scale = box / max(ink.shape)
    fitted = resize(ink / ink.max(), (max(1, round(ink.shape[0] * scale)), max(1, round(ink.shape[1] * scale))))
    return np.clip(centre_in_frame(fitted, size, centre), 0, 1).astype(np.float32).reshape(size * size)


def mnist_framing(side):
    """How MNIST frames its digits, for images of side x side: the ink fitted into 20 of 28
    pixels, centred by its centre of mass (what weights without a measured framing get)."""
    return {"box": round(side * 20 / 28), "centre": "mass"}


def measure_framing(x, side, prep, n=2000, tried=200):
    """How a data set frames its pictures, measured on up to n (evenly spaced) of its raw
    training images x (N, side * side) seen as the network sees them (mlp.to_unit with the
    preprocessing `prep`: ink bright): {"box": the median side of the ink's box, the larger of
    its height and width, in pixels; "centre": "mass" or "box", whichever makes `frame_digit`
    give back `tried` of those images the more closely (MNIST's digits are centred by mass;
    scikit-learn's 8 x 8 digits, which fill their frame, are too)}."""
    picks = x[np.linspace(0, len(x) - 1, min(n, len(x))).astype(int)]
    images = [image for image in mlp.to_unit(picks, prep, np.float64).reshape(-1, side, side) if image.max() > 0]
    if not images:
        return mnist_framing(side)
    boxes = []
    for image in images:
        top, bottom, left, right = ink_box(image)
        boxes.append(max(bottom - top, right - left) + 1)
    box = int(np.median(boxes))
    sample = images[:: max(1, len(images) // tried)]
    error = lambda centre: sum(
        np.abs(frame_digit(image, side, box, centre).reshape(side, side) - image / image.max()).sum()
        for image in sample
    )
    return {"box": box, "centre": min(("mass", "box"), key=error)}  # a tie keeps MNIST's


def picture_units(grey, shape, framed=True, framing=None):
    """A picture as a network's input units, (H * W,) float32 in [0, 1]: framed the way its
    data frames its digits (`frame_digit` with `framing`, MNIST's by default; for square
    shapes) when `framed`, else resized to shape = (H, W) as it is (for networks trained on a
    folder of pictures)."""
    if framed and shape[0] == shape[1]:
        return frame_digit(grey, size=shape[0], **(framing or mnist_framing(shape[0])))
    return np.clip(resize(np.asarray(grey, np.float64), shape), 0, 1).astype(np.float32).reshape(-1)


def input_of(meta, params):
    """What a network takes: {"shape": [H, W] of its images, or None for a table of features,
    "pictures": "framed" (ink centred as its data's digits) or "resized" (a picture data set's),
    and for framed square images "framing" (`measure_framing`'s; MNIST's for weights without
    one)}, as train records it; weights saved by mlp.save alone take square images, framed."""
    side = mlp.square_side(params["W1"].shape[0])
    taken = dict(meta.get("input") or {"shape": None if side is None else [side, side], "pictures": "framed"})
    shape = taken["shape"]
    if taken["pictures"] == "framed" and shape and shape[0] == shape[1] and "framing" not in taken:
        taken["framing"] = mnist_framing(shape[0])
    return taken


def classify_picture(members, grey, views=0):
    """A picture read by a network or an ensemble: the one path from a picture to probabilities.
    It is framed or resized as the first member takes its pictures (`input_of`: the shape of
    its images, framed as its data frames them or resized; see `picture_units`).

    Args:
      members: [(params, meta)] as mlp.load returns them (see `ensemble_log_proba`).
      grey: (h, w) grey levels in [0, 1], any size. views: also average over this many mild
        distortions of the framed picture (test-time augmentation: `ensemble_log_proba`).
    Returns:
      (seen, probabilities, hidden): the image the first network reads (straightened when its
      preprocessing straightens), (H * W,) in [0, 1]; (C,)
      class probabilities (the members' averaged); the first member's first hidden layer, (n_1,).
    Raises:
      ValueError for a blank picture or a network that does not take pictures.
    """
    params, meta = members[0]
    n_in, taken = params["W1"].shape[0], input_of(meta, params)
    shape, framed, framing = taken["shape"], taken["pictures"] == "framed", taken.get("framing")
    if shape is None:
        raise ValueError(f"the network takes {n_in} features, not a picture")
    if shape[0] * shape[1] != n_in:
        raise ValueError(f"the network takes {n_in} inputs, not {shape[0]} x {shape[1]} pictures")
    seen = picture_units(grey, tuple(shape), framed, framing)[None]  # (1, H * W), in [0, 1] units
    if not (framed and shape[0] == shape[1]) and meta["preprocessing"].get("invert"):  # framed ink is bright
        seen = 1 - seen
    unit = {"low": 0.0, "high": 1.0, "invert": False}  # seen is what mlp.to_unit makes of pixels
    in_units = [(p, {**m, "preprocessing": {**m["preprocessing"], **unit}}) for p, m in members]
    probabilities = np.exp(ensemble_log_proba(in_units, seen, views=views))[0]  # each straightens its own
    seen = mlp.to_unit(seen, in_units[0][1]["preprocessing"])  # as the first reads it: straightened if it is
    x = mlp.standardize(seen.astype(params["W1"].dtype), meta["preprocessing"])
    _, cache = mlp.forward(params, x, meta["activation"])
    hidden = cache["a"][0][0] if cache["a"] else np.zeros(0, params["W1"].dtype)
    return seen[0], probabilities, hidden


def explained(members, seen, classes):
    """(len(classes), n_in) gradients of each class's logit with respect to the picture as the
    network sees it (`seen`, in [0, 1]), averaged over an ensemble's members: mlp's input
    gradient, taken back through the standardisation (d inputs / d seen = 1 / std)."""
    total = 0
    for params, meta in members:
        prep = meta["preprocessing"]
        x = mlp.standardize(np.repeat(seen[None].astype(params["W1"].dtype), len(classes), axis=0), prep)
        gradient = mlp.input_gradient(params, x, meta["activation"], np.asarray(classes))
        total = total + (gradient / prep["std"] if "std" in prep else gradient)
    return total / len(members)
