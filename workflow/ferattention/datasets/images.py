"""Image files -> standardised model inputs: gray float32 ``(S, S)`` in ``[0, 1]`` and the crop
geometry applied (for mapping click coordinates on the original stimulus later)."""

from __future__ import annotations

import struct
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps

from ..catalogue import schema_defaults
from .core import DatasetError

#: Default of ``dataset.crop``: the config schema (its one source).
_CROP = schema_defaults("dataset")["crop"]

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp")
CROPS = ("center", "full")


def _gray(image: Image.Image) -> Image.Image:
    """The image as one float channel (mode ``F``) on the 0-255 scale, whatever its mode.

    8-bit modes (L, P, RGB, RGBA, CMYK, 1, ...) go through PIL's gray conversion (ITU-R 601-2
    luma, alpha ignored); 16-bit gray (``I;16*``, and ``I`` as PNG decoders give it) is scaled
    from 0-65535, not clipped at 255.
    """
    if image.mode.startswith("I;16") or image.mode == "I":
        return Image.fromarray(np.asarray(image, dtype=np.float32) * np.float32(255 / 65535))
    if image.mode == "F":
        return image
    return image.convert("L").convert("F")


def standardise_image(image: Image.Image, size: int,
                      box: tuple[float, float, float, float] | None = None, crop: str = _CROP
                      ) -> tuple[np.ndarray, dict[str, float]]:
    """Convert an image to a gray float32 ``(size, size)`` array in ``[0, 1]``.

    ``box`` (left, top, right, bottom, in original pixels, continuous coordinates with the origin
    at the image's top-left corner) is the region to keep. Without a box, ``crop`` decides:
    ``"center"`` keeps the largest centred square (the aspect ratio is kept), ``"full"`` keeps the
    whole image (squeezed to a square: for images that were stretched from square ones). Parts
    of the box outside the image are padded black. The region is resized to ``size`` x
    ``size`` with PIL's bilinear filter (which averages when it shrinks). Returns the array and the
    geometry (crop box and original size) for mapping clicks later.
    """
    gray = _gray(image)
    w, h = gray.size
    if crop not in CROPS:
        raise ValueError(f"crop must be one of {CROPS}, got {crop!r}")
    if box is None and crop == "full":
        box = (0.0, 0.0, float(w), float(h))
    elif box is None:
        side = min(w, h)
        left, top = (w - side) / 2, (h - side) / 2
        box = (left, top, left + side, top + side)
    left, top, right, bottom = (float(v) for v in box)
    if not (right > left and bottom > top):
        raise DatasetError(f"crop box {box} is empty", "bad_face_box")
    pad = [int(np.ceil(max(0.0, v))) for v in (-left, -top, right - w, bottom - h)]
    if any(pad):
        padded = Image.new("F", (w + pad[0] + pad[2], h + pad[1] + pad[3]), 0.0)
        padded.paste(gray, (pad[0], pad[1]))
        gray = padded
    inner = (left + pad[0], top + pad[1], right + pad[0], bottom + pad[1])
    resized = gray.resize((size, size), Image.Resampling.BILINEAR, box=inner)
    array = np.clip(np.asarray(resized, dtype=np.float32) / 255.0, 0.0, 1.0)
    geometry = {"crop_left": left, "crop_top": top, "crop_right": right, "crop_bottom": bottom,
                "orig_width": w, "orig_height": h}
    return array, geometry


def read_image(path: Path, size: int, box: tuple[float, float, float, float] | None = None,
               crop: str = _CROP) -> tuple[np.ndarray, dict[str, float]]:
    """Read and standardise one image file.

    The EXIF orientation is applied first (as image viewers and browsers show the photo), so the
    geometry refers to the image as displayed. A corrupt, truncated, empty or unreadable file is
    a :class:`DatasetError` naming it (reasons ``empty_image`` and ``unreadable_image``).
    """
    try:
        if path.stat().st_size == 0:
            raise DatasetError(f"{path}: empty image file (0 bytes)", "empty_image")
        with Image.open(path) as im:
            im.load()
            oriented = ImageOps.exif_transpose(im)
            return standardise_image(oriented, size, box, crop)
    except DatasetError:
        raise
    except (OSError, ValueError, SyntaxError, EOFError, struct.error,
            Image.DecompressionBombError) as exc:
        raise DatasetError(f"{path}: cannot read image ({exc})", "unreadable_image") from exc
