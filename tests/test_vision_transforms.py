"""convolve.transforms against torchvision's definitions, computed here with torch and NumPy
(torchvision itself is not installed): ToTensor, Normalize, Pad, crops, flips, Resize; random
transforms give only valid outputs, cover them all, honour p within computed bounds, and
follow convolve.manual_seed."""

import itertools

import numpy as np
import pytest

import convolve as cv
import convolve.transforms as T
from convolve.transforms import functional as TF

RTOL, ATOL = 1e-9, 1e-12


def _image(rng, h=7, w=9, c=3, dtype=np.uint8):
    return rng.integers(0, 256, (h, w, c)).astype(dtype)


# ---------------------------------------------------------------- ToTensor
def test_to_tensor_uint8_array_scales_like_torchvision(torch, rng):
    img = _image(rng)
    out = T.ToTensor()(img)
    expected = torch.from_numpy(img.transpose(2, 0, 1)).contiguous().to(torch.float32).div(255)
    assert isinstance(out, cv.Tensor) and out.dtype == np.float32 and out.shape == (3, 7, 9)
    np.testing.assert_array_equal(out.data, expected.numpy())
    gray = T.ToTensor()(img[:, :, 0])
    np.testing.assert_array_equal(gray.data, expected.numpy()[:1])


@pytest.mark.parametrize("dtype", [np.float64, np.float32, np.int32, np.int16])
def test_to_tensor_other_dtypes_keep_values_and_dtype(rng, dtype):
    img = rng.integers(-300, 300, (4, 5, 2)).astype(dtype)
    if img.dtype.kind == "f":
        img /= 7  # not in [0, 1] and not integral: no rescaling, as in torchvision
    out = TF.to_tensor(img)
    assert out.dtype == dtype
    np.testing.assert_array_equal(out.data, img.transpose(2, 0, 1))


@pytest.mark.parametrize("mode", ["L", "RGB", "RGBA", "1", "I", "F"])
def test_to_tensor_pil_modes(rng, mode):
    from PIL import Image

    base = _image(rng, c=3)
    pic = Image.fromarray(base).convert(mode)
    out = TF.to_tensor(pic)
    arr = np.array(pic)
    arr = arr.reshape(arr.shape[0], arr.shape[1], -1).transpose(2, 0, 1)
    if mode in ("L", "RGB", "RGBA"):
        expected, dtype = arr.astype(np.float32) / np.float32(255), np.float32
    elif mode == "1":
        expected, dtype = arr.astype(np.float32), np.float32  # 255 * bit / 255
    else:
        expected, dtype = arr, {"I": np.int32, "F": np.float32}[mode]
    assert out.dtype == dtype and out.shape == (len(pic.getbands()), 7, 9)
    np.testing.assert_array_equal(out.data, expected)


# ---------------------------------------------------------------- Normalize
@pytest.mark.parametrize("shape", [(3, 5, 6), (2, 3, 4, 4), (1, 3, 3)])
def test_normalize_matches_torch_math(torch, rng, shape):
    x = rng.standard_normal(shape)
    c = shape[-3]
    mean, std = tuple(rng.uniform(-1, 1, c)), tuple(rng.uniform(0.2, 2, c))
    expected = (torch.from_numpy(x) - torch.tensor(mean).view(-1, 1, 1)) / \
        torch.tensor(std).view(-1, 1, 1)
    t = cv.tensor(x, requires_grad=True)
    out = T.Normalize(mean, std)(t)
    np.testing.assert_allclose(out.data, expected.numpy(), rtol=RTOL, atol=ATOL)
    np.testing.assert_array_equal(t.data, x)  # not in place
    out.sum().backward()
    np.testing.assert_allclose(t.grad, np.broadcast_to(1 / np.array(std).reshape(-1, 1, 1),
                                                       shape), rtol=1e-12)
    t2 = cv.tensor(x.copy())
    assert T.Normalize(mean, std, inplace=True)(t2) is t2
    np.testing.assert_allclose(t2.data, expected.numpy(), rtol=RTOL, atol=ATOL)


def test_normalize_float32_and_errors(rng):
    x = cv.tensor(rng.standard_normal((3, 2, 2)).astype(np.float32))
    out = TF.normalize(x, 0.5, 0.25)
    assert out.dtype == np.float32
    np.testing.assert_array_equal(out.data, (x.data - np.float32(0.5)) / np.float32(0.25))
    with pytest.raises(ValueError, match="std evaluated to zero"):
        TF.normalize(x, (0, 0, 0), (1, 0, 1))
    with pytest.raises(ValueError, match="mean must have 1 or 3 entries"):
        TF.normalize(x, (0, 0), (1, 1, 1))
    with pytest.raises(TypeError, match="float tensor"):
        TF.normalize(cv.tensor(np.zeros((3, 2, 2), np.uint8), dtype=np.uint8), 0, 1)
    with pytest.raises(ValueError, match=r"\(\.\.\., C, H, W\)"):
        TF.normalize(cv.tensor(np.zeros((2, 2))), 0, 1)


# ---------------------------------------------------------------- Pad
def _torch_symmetric(torch, x, left, top, right, bottom):
    """torchvision's symmetric padding (edge repeated), for paddings below the image size."""
    x = torch.cat([x[..., :, :left].flip(-1), x, x[..., :, x.shape[-1] - right:].flip(-1)], -1)
    return torch.cat([x[..., :top, :].flip(-2), x, x[..., x.shape[-2] - bottom:, :].flip(-2)],
                     -2)


@pytest.mark.parametrize("padding", [2, (1, 3), (0, 1, 2, 3), [3]])
@pytest.mark.parametrize("mode", ["constant", "edge", "reflect", "symmetric"])
def test_pad_matches_torch(torch, rng, padding, mode):
    x = rng.standard_normal((3, 5, 6))
    p = [padding] * 4 if isinstance(padding, int) else list(padding)
    left, top, right, bottom = p * 4 if len(p) == 1 else (p * 2 if len(p) == 2 else p)
    tx = torch.from_numpy(x)
    if mode == "symmetric":
        expected = _torch_symmetric(torch, tx, left, top, right, bottom)
    else:
        tmode = {"constant": "constant", "edge": "replicate", "reflect": "reflect"}[mode]
        kwargs = {"value": 1.5} if mode == "constant" else {}
        expected = torch.nn.functional.pad(tx[None], (left, right, top, bottom), mode=tmode,
                                           **kwargs)[0]
    out = T.Pad(padding, fill=1.5, padding_mode=mode)(cv.tensor(x))
    np.testing.assert_array_equal(out.data, expected.numpy())
    hwc = TF.pad(np.ascontiguousarray(x.transpose(1, 2, 0)), padding, 1.5, mode)
    np.testing.assert_array_equal(hwc.transpose(2, 0, 1), expected.numpy())


# ---------------------------------------------------------------- crops and flips
def test_crop_center_crop_and_flips_match_torch(torch, rng):
    x = rng.standard_normal((2, 3, 7, 8))
    tx, t = torch.from_numpy(x), cv.tensor(x)
    np.testing.assert_array_equal(TF.crop(t, 2, 1, 4, 5).data, tx[..., 2:6, 1:6].numpy())
    np.testing.assert_array_equal(TF.hflip(t).data, tx.flip(-1).numpy())
    np.testing.assert_array_equal(TF.vflip(t).data, tx.flip(-2).numpy())
    for ch, cw in [(3, 4), (4, 5), (7, 8), (2, 3), (6, 1)]:
        top, left = round((7 - ch) / 2.0), round((8 - cw) / 2.0)  # Python rounds half to even
        np.testing.assert_array_equal(T.CenterCrop((ch, cw))(t).data,
                                      tx[..., top:top + ch, left:left + cw].numpy())
    np.testing.assert_array_equal(T.CenterCrop(5)(t).data, tx[..., 1:6, 2:7].numpy())


def test_center_crop_larger_than_image_pads_with_zeros(rng):
    x = rng.standard_normal((1, 3, 4))
    out = T.CenterCrop((6, 7))(cv.tensor(x)).data
    expected = np.zeros((1, 6, 7))
    expected[:, 1:4, 1:5] = x  # torchvision pads (7-4)//2 = 1 left, (6-3)//2 = 1 top
    np.testing.assert_array_equal(out, expected)
    window = TF.crop(cv.tensor(x), -1, 2, 3, 4).data  # partly outside: zeros there
    np.testing.assert_array_equal(window[:, 1:, :2], x[:, :2, 2:])
    assert not window[:, 0].any() and not window[:, :, 2:].any()


# ---------------------------------------------------------------- Resize
RESIZE_CASES = [((7, 9), (4, 5)), ((7, 9), (14, 18)), ((12, 10), (5, 13)), ((5, 6), (5, 6)),
                ((16, 16), (3, 3)), ((6, 4), (9, 2))]


@pytest.mark.parametrize(("mode", "antialias"), [("nearest", True), ("nearest-exact", True),
                                                  ("bilinear", False), ("bilinear", True)])
@pytest.mark.parametrize(("shape", "size"), RESIZE_CASES)
def test_resize_matches_torch_interpolate(torch, rng, shape, size, mode, antialias):
    x = rng.standard_normal((3, *shape))
    out = T.Resize(size, T.InterpolationMode(mode), antialias=antialias)(cv.tensor(x))
    kwargs = {"align_corners": False, "antialias": antialias} if mode == "bilinear" else {}
    expected = torch.nn.functional.interpolate(torch.from_numpy(x)[None], size=size,
                                               mode=mode, **kwargs)[0]
    np.testing.assert_allclose(out.data, expected.numpy(), rtol=RTOL, atol=ATOL)
    hwc = TF.resize(np.ascontiguousarray(x.transpose(1, 2, 0)), size, mode, None, antialias)
    np.testing.assert_allclose(hwc.transpose(2, 0, 1), expected.numpy(), rtol=RTOL, atol=ATOL)


def test_resize_shorter_edge_rule_max_size_and_uint8(torch, rng):
    x = rng.uniform(0, 255, (3, 20, 30))
    for size, max_size in [(10, None), ([8], None), (15, 20), (40, None)]:
        s = size if isinstance(size, int) else size[0]
        long = int(s * 30 / 20)
        h, w = (s, long) if max_size is None or long <= max_size else \
            (int(max_size * s / long), max_size)
        assert TF.resize(cv.tensor(x), size, max_size=max_size).shape == (3, h, w)
    assert TF.resize(cv.tensor(x.transpose(0, 2, 1)), 10).shape == (3, 15, 10)
    u8 = x.astype(np.uint8)
    out = TF.resize(cv.tensor(u8, dtype=np.uint8), (9, 11))
    expected = torch.nn.functional.interpolate(
        torch.from_numpy(u8).float()[None], size=(9, 11), mode="bilinear", antialias=True)[0]
    assert out.dtype == np.uint8
    assert np.abs(out.data.astype(int) - torch.round(expected).numpy().astype(int)).max() <= 1
    from PIL import Image

    pic = Image.fromarray(u8.transpose(1, 2, 0))
    assert T.Resize(10)(pic).size == (15, 10)  # PIL sizes are (w, h)
    smooth = T.Resize((6, 8), T.InterpolationMode.LANCZOS)(pic)  # PIL's own filters
    np.testing.assert_array_equal(np.asarray(smooth), np.asarray(
        pic.resize((8, 6), Image.Resampling.LANCZOS)))


# ---------------------------------------------------------------- random transforms
def _windows(padded, th, tw):
    h, w = padded.shape[-2:]
    return {(i, j): padded[..., i:i + th, j:j + tw]
            for i, j in itertools.product(range(h - th + 1), range(w - tw + 1))}


def _which(out, windows):
    hits = [k for k, v in windows.items() if np.array_equal(v, out)]
    assert len(hits) == 1, "output is not exactly one valid crop"
    return hits[0]


def test_random_crop_outputs_are_valid_and_uniform():
    x = np.arange(1, 1 + 2 * 4 * 5, dtype=np.float64).reshape(2, 4, 5)  # distinct values
    padded = np.pad(x, ((0, 0), (2, 2), (2, 2)))  # zeros, as torchvision's fill=0
    windows = _windows(padded, 4, 5)  # 5 x 5 = 25 positions
    crop = T.RandomCrop((4, 5), padding=2)
    cv.manual_seed(0)
    n = 2500
    counts = dict.fromkeys(windows, 0)
    for _ in range(n):
        counts[_which(crop(cv.tensor(x)).data, windows)] += 1
    p = 1 / len(windows)
    bound = 6 * np.sqrt(n * p * (1 - p))  # every count is Binomial(n, 1/25)
    assert all(abs(c - n * p) < bound for c in counts.values()), counts


def test_random_crop_pad_if_needed_modes_and_pil():
    from PIL import Image

    x = np.arange(3 * 4 * 3, dtype=np.uint8).reshape(3, 4, 3) + 1  # H x W x C image
    crop = T.RandomCrop((5, 6), pad_if_needed=True, padding_mode="edge")
    padded = np.pad(x, ((2, 2), (2, 2), (0, 0)), mode="edge")  # [tw - w, 0] pads both sides
    windows = {k: v for k, v in _windows(padded.transpose(2, 0, 1), 5, 6).items()}
    cv.manual_seed(1)
    seen = {_which(crop(x).transpose(2, 0, 1), windows) for _ in range(200)}
    assert seen == set(windows)
    pil_crop = T.RandomCrop(4, padding=1)(Image.fromarray(x))
    assert isinstance(pil_crop, Image.Image) and pil_crop.size == (4, 4)
    pil_windows = _windows(np.pad(x, ((1, 1), (1, 1), (0, 0))).transpose(2, 0, 1), 4, 4)
    _which(np.asarray(pil_crop).transpose(2, 0, 1), pil_windows)
    with pytest.raises(ValueError, match=r"crop size \(5, 5\) is larger.*\(3, 4\)"):
        T.RandomCrop(5)(x)


@pytest.mark.parametrize("p", [0.0, 0.3, 0.5, 1.0])
@pytest.mark.parametrize("cls,flip", [(T.RandomHorizontalFlip, TF.hflip),
                                      (T.RandomVerticalFlip, TF.vflip)])
def test_random_flips_honour_p(cls, flip, p):
    x = cv.tensor(np.arange(12.0).reshape(1, 3, 4))
    flipped = flip(x).data
    t = cls(p)
    cv.manual_seed(2)
    n = 3000
    hits = 0
    for _ in range(n):
        out = t(x).data
        is_flipped = np.array_equal(out, flipped)
        assert is_flipped or np.array_equal(out, x.data)
        hits += is_flipped
    assert abs(hits / n - p) <= 5 * np.sqrt(p * (1 - p) / n)


def test_seeded_pipelines_are_reproducible():
    img = _image(np.random.default_rng(0), 32, 32)
    tf = T.Compose([T.RandomCrop(32, padding=4), T.RandomHorizontalFlip(), T.ToTensor(),
                    T.Normalize((0.5, 0.5, 0.5), (0.25, 0.25, 0.25))])
    cv.manual_seed(5)
    a = [tf(img).data for _ in range(5)]
    cv.manual_seed(5)
    b = [tf(img).data for _ in range(5)]
    assert all(np.array_equal(u, v) for u, v in zip(a, b))
    assert not all(np.array_equal(a[0], v) for v in a[1:])
    assert a[0].shape == (3, 32, 32) and a[0].dtype == np.float32


# ---------------------------------------------------------------- Compose, Lambda, reprs, errors
def test_compose_lambda_and_reprs():
    tf = T.Compose([T.Lambda(lambda x: x * 2), T.CenterCrop(2)])
    out = tf(cv.tensor(np.ones((1, 4, 4))))
    np.testing.assert_array_equal(out.data, np.full((1, 2, 2), 2.0))
    assert repr(tf) == "Compose(\n    Lambda()\n    CenterCrop(size=(2, 2))\n)"
    assert repr(T.RandomCrop(32, padding=4)) == "RandomCrop(size=(32, 32), padding=4)"
    assert repr(T.Resize(8)) == "Resize(size=8, interpolation=bilinear, max_size=None, " \
                                "antialias=True)"
    assert repr(T.Normalize((0.1,), (0.3,))) == "Normalize(mean=(0.1,), std=(0.3,))"


@pytest.mark.parametrize(("build", "exc", "words"), [
    (lambda: T.Compose([1]), TypeError, r"transforms\[0\]"),
    (lambda: T.Lambda(3), TypeError, "lambd should be callable"),
    (lambda: T.RandomCrop(0), ValueError, "size=0"),
    (lambda: T.RandomCrop(4, padding=(1, 2, 3)), ValueError, r"padding=\(1, 2, 3\)"),
    (lambda: T.RandomCrop(4, padding_mode="wrap"), ValueError, "padding_mode='wrap'"),
    (lambda: T.RandomHorizontalFlip(1.5), ValueError, "p=1.5"),
    (lambda: T.Resize(8, "cubic"), ValueError, "interpolation='cubic'"),
    (lambda: T.Resize(8, T.InterpolationMode.BICUBIC)(np.zeros((4, 6))), ValueError,
     "for PIL images only; use InterpolationMode.BILINEAR"),
    (lambda: T.Resize(8, max_size=8)(np.zeros((4, 6))), ValueError, "max_size=8"),
    (lambda: T.ToTensor()([1, 2]), TypeError, "PIL Image or an ndarray"),
    (lambda: T.ToTensor()(np.zeros(3)), ValueError, "2 or 3 dimensional"),
    (lambda: T.Pad(1, fill=(1, 2))(np.zeros((2, 2))), TypeError, "fill"),
    (lambda: TF.hflip("image"), TypeError, "PIL Image"),
    (lambda: T.RandomResizedCrop(8, scale=(0.5, 0.1)), ValueError, r"scale=\(0.5, 0.1\)"),
    (lambda: T.RandomResizedCrop(8, ratio=(0, 1)), ValueError, r"ratio=\(0, 1\)"),
])
def test_bad_input_names_the_argument(build, exc, words):
    with pytest.raises(exc, match=words):
        build()


def test_to_pil_image_round_trips_and_truncates_like_torchvision(torch, rng):
    img = _image(rng)
    for arr in (img, img[:, :, :1], np.dstack([img, img[:, :, :1]]), img[:, :, :2]):
        pic = T.ToPILImage()(T.ToTensor()(arr))
        np.testing.assert_array_equal(np.asarray(pic).reshape(arr.shape), arr)
    x = rng.uniform(0, 1, (3, 4, 5)).astype(np.float32)
    expected = torch.from_numpy(x).mul(255).byte().numpy().transpose(1, 2, 0)
    np.testing.assert_array_equal(np.asarray(TF.to_pil_image(cv.tensor(x))), expected)
    f = TF.to_pil_image(cv.tensor(x[:1]), mode="F")
    assert f.mode == "F"
    np.testing.assert_array_equal(np.asarray(f), x[0])
    assert TF.to_pil_image(img[:, :, 0]).mode == "L"
    with pytest.raises(ValueError, match="cannot make a mode 'RGB'"):
        TF.to_pil_image(img[:, :, :1], mode="RGB")
    with pytest.raises(TypeError, match="Tensor or an ndarray"):
        TF.to_pil_image([1])


def test_random_resized_crop_windows_follow_scale_and_ratio():
    x = cv.tensor(np.random.default_rng(0).standard_normal((3, 40, 50)))
    t = T.RandomResizedCrop(16, scale=(0.2, 0.6), ratio=(0.5, 2.0))
    cv.manual_seed(4)
    areas, ratios = [], []
    for _ in range(400):
        top, left, h, w = t.get_params(x, t.scale, t.ratio)
        assert 0 <= top <= 40 - h and 0 <= left <= 50 - w
        areas.append(h * w / 2000)
        ratios.append(w / h)
    # rounding h and w moves area and ratio a little past the drawn values
    assert 0.2 * 0.85 < min(areas) and max(areas) < 0.6 * 1.15
    assert 0.5 * 0.8 < min(ratios) and max(ratios) < 2.0 * 1.25
    assert np.std(areas) > 0.05 and np.mean(np.log(ratios)) == pytest.approx(0, abs=0.15)
    cv.manual_seed(4)
    top, left, h, w = t.get_params(x, t.scale, t.ratio)
    cv.manual_seed(4)
    out = t(x)
    expected = TF.resize(TF.crop(x, top, left, h, w), (16, 16))
    np.testing.assert_array_equal(out.data, expected.data)
    # no window of ratio >= 10 fits: the central fallback crop, as torchvision
    h = round(50 / 10.0)  # full width, height from the smallest allowed ratio
    assert T.RandomResizedCrop.get_params(x, (0.9, 1.0), (10.0, 20.0)) == ((40 - h) // 2, 0,
                                                                            h, 50)
    w = round(40 * 0.02)  # full height, width from the largest allowed ratio
    assert T.RandomResizedCrop.get_params(x, (0.9, 1.0), (0.01, 0.02)) == (0, (50 - w) // 2,
                                                                            40, w)
