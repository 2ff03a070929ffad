"""Request checks: every bad input becomes an ``ApiError`` (status + one clear message), never a 500."""

from __future__ import annotations

import functools
import io
import json
import re

from serving.settings import Limits

ACCEPTED_IMAGES = "JPEG, PNG, WebP, GIF, BMP or TIFF"


class ApiError(Exception):
    """A client error: the ingress answers ``{"error": message, "status": status}`` with this status."""

    def __init__(self, status: int, message: str, headers: dict[str, str] | None = None):
        super().__init__(message)
        self.status, self.message, self.headers = status, message, headers or {}


@functools.lru_cache(maxsize=8)
def _sentencizer(lang: str):
    import spacy

    nlp = spacy.blank(lang)
    nlp.add_pipe("sentencizer")
    return nlp


def split_sentences(text: str, lang: str) -> list[str]:
    """spaCy's rule-based sentencizer; whitespace-only pieces dropped."""
    return [s.text.strip() for s in _sentencizer(lang)(text).sents if s.text.strip()]


def check_texts(texts: list[str], limits: Limits) -> None:
    if not texts:
        raise ApiError(422, "no text given: send 'text' (a string) or 'texts' (a list of strings)")
    if len(texts) > limits.max_texts:
        raise ApiError(413, f"{len(texts)} texts in one request; at most {limits.max_texts} are accepted")
    for i, text in enumerate(texts):
        if not text.strip():
            raise ApiError(422, f"texts[{i}] is empty; send at least one non-space character")
        if len(text) > limits.max_chars:
            raise ApiError(413, f"texts[{i}] has {len(text)} characters; at most {limits.max_chars} are accepted")
        try:
            text.encode("utf-8")
        except UnicodeEncodeError as err:  # JSON allows "\ud800" escapes that are no character at all
            raise ApiError(
                422,
                f"texts[{i}] is not valid Unicode: {text[err.start : err.end]!a} at position "
                f"{err.start} is an unpaired surrogate; send real characters",
            ) from None


def check_beam(beam_size: int | None, limits: Limits) -> None:
    if beam_size is not None and not 1 <= beam_size <= limits.max_beam_size:
        raise ApiError(422, f"beam_size must be between 1 and {limits.max_beam_size}, got {beam_size}")


def check_image(data: bytes, limits: Limits, min_side: int = 1, purpose: str = "captioning") -> tuple[int, int]:
    """Refuse oversized, non-image, bomb and tiny uploads from the header alone; returns (width, height).

    Only the header is read: the pixel count is checked *before* decoding, so a 20000×20000 PNG of a
    few kB is refused without allocating its 1.2 GB of pixels, and the ingress never spends CPU on
    decoding. Decoding happens in the captioner replica, per image, so a file whose data is damaged
    (e.g. a JPEG cut off after its header) fails there alone, not its batch-mates.
    """
    from PIL import Image, UnidentifiedImageError

    if len(data) > limits.max_upload_bytes:
        raise ApiError(413, f"upload is {len(data)} bytes; at most {limits.max_upload_bytes} are accepted")
    if not data:
        raise ApiError(422, "the uploaded file is empty")
    try:
        with Image.open(io.BytesIO(data)) as image:
            width, height = image.size
    except UnidentifiedImageError:
        raise ApiError(415, f"the upload is not an image; accepted: {ACCEPTED_IMAGES}") from None
    except Image.DecompressionBombError:
        raise ApiError(413, f"image is too large to decode safely; at most {limits.max_image_pixels} pixels") from None
    except (OSError, SyntaxError, ValueError) as err:
        raise ApiError(422, f"damaged or truncated image header ({err})") from None
    if width * height > limits.max_image_pixels:
        raise ApiError(413, f"image is {width}x{height} pixels; at most {limits.max_image_pixels} pixels are accepted")
    if min(width, height) < min_side:
        raise ApiError(422, f"image is {width}x{height} pixels; {purpose} needs at least {min_side}x{min_side}")
    return width, height


STROKE = re.compile(r"^\s*\d+(\.\d+)?\s*,\s*\d+(\.\d+)?\s*,\s*\d+(\.\d+)?\s*,\s*[#\w.]+\s*$")


LINE = re.compile(r"^\s*\d+(\.\d+)?\s*(,\s*\d+(\.\d+)?\s*){3}$")


def _json_strings(text: str, field: str, shape: str) -> list[str]:
    try:
        items = json.loads(text)
    except ValueError:
        items = None
    if not isinstance(items, list) or not all(isinstance(s, str) for s in items):
        raise ApiError(422, f'{field} must be a JSON list of "{shape}" strings')
    return items


def parse_strokes(text: str, limits: Limits, sketch: str = "[]") -> tuple[tuple[str, ...], tuple[str, ...]]:
    """``/v1/edit``'s strokes and sketch fields: JSON lists of "x,y,r,colour" and "x0,y0,x1,y1" strings (their
    ranges are checked against the GAN's resolution in the editor replica) → (strokes, sketch lines)."""
    strokes = _json_strings(text, "strokes", "x,y,r,colour")
    lines = _json_strings(sketch, "sketch", "x0,y0,x1,y1")
    if not strokes and not lines:
        raise ApiError(422, "an edit needs at least one stroke or sketch line")
    if len(strokes) + len(lines) > limits.max_edit_strokes:
        raise ApiError(
            413, f"{len(strokes) + len(lines)} strokes and sketch lines; at most {limits.max_edit_strokes} are accepted"
        )
    bad = [s for s in strokes if not STROKE.match(s)]
    if bad:
        raise ApiError(422, f'stroke {bad[0][:40]!r} is not "x,y,r,colour" (e.g. "8,8,3,white" or "4,10,2,#ff0000")')
    bad = [s for s in lines if not LINE.match(s)]
    if bad:
        raise ApiError(422, f'sketch line {bad[0][:40]!r} is not "x0,y0,x1,y1" (e.g. "3,8,12,8")')
    return tuple(strokes), tuple(lines)
