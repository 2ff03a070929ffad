"""Typed application arguments: what ``conf/serve.yaml``'s ``args:`` may say, validated once at build time."""

from __future__ import annotations

import re
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

PAIR = re.compile(r"^[a-z]{2}-[a-z]{2}$")


class Limits(BaseModel):
    """Request limits; each is answered with a 4xx JSON error naming the limit."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    max_chars: int = Field(5000, gt=0)  # characters per text
    max_texts: int = Field(32, gt=0)  # texts per request
    max_sentences: int = Field(64, gt=0)  # sentences per request after spaCy splitting
    max_beam_size: int = Field(8, gt=0)  # largest beam a request may ask for
    max_upload_bytes: int = Field(5_000_000, gt=0)  # image upload size (413 above)
    max_image_pixels: int = Field(25_000_000, gt=0)  # width × height (413 above: decompression bombs)
    max_json_bytes: int = Field(1_000_000, gt=0)  # a /v1/translate body (413 above, counted as it streams in)
    multipart_overhead_bytes: int = Field(65_536, gt=0)  # /v1/caption body cap = max_upload_bytes + this
    request_timeout_s: float = Field(30.0, gt=0)  # the ingress gives up on a model call after this (504)


class AppArgs(BaseModel):
    """``serving.app:build_app`` arguments.

    ``translators`` maps a language pair ("en-de") to a translation checkpoint; the ``translator``
    deployment loads them all in each of its replicas.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    translators: dict[str, str] = Field(default_factory=dict)
    captioner: str | None = None  # captioning checkpoint (None: no /v1/caption model)
    device: str = "auto"  # auto: the GPU when the replica was given one, else CPU
    threads: int = Field(1, gt=0)  # torch intra-op threads per model replica
    quantize: Literal["none", "int8", "auto"] = "none"  # int8: dynamic int8 Linear/LSTM (CPU); auto: int8 on CPU
    limits: Limits = Limits()

    @field_validator("translators")
    @classmethod
    def _pairs(cls, value: dict[str, str]) -> dict[str, str]:
        for pair in value:
            if not PAIR.match(pair):
                raise ValueError(f"translator key {pair!r} is not a language pair like 'en-de'")
        return value
