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
    max_edit_steps: int = Field(300, gt=0)  # /v1/edit: optimisation steps of one edit, at most (422 above)
    max_edit_seconds: float = Field(10.0, gt=0)  # /v1/edit: wall time of one projection and of one edit, at most
    max_edit_strokes: int = Field(16, gt=0)  # /v1/edit: colour strokes per request (413 above)
    max_search_k: int = Field(100, gt=0)  # /v1/search: results per query, at most (422 above)


class EditorArgs(BaseModel):
    """The iGAN editor behind ``/v1/edit``: a DCGAN checkpoint and, optionally, the encoder trained against it."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    gan: str  # a ``gan`` checkpoint with a DCGAN
    encoder: str | None = None  # an ``igan_encoder`` checkpoint (hybrid projection); None: optimisation alone


class SearchArgs(BaseModel):
    """Image search behind ``/v1/search``: an index written by ``pipeline build-index``. It is answered inside
    the ingress replica (a query is about 5 ms of work; a separate deployment would add a Serve hop, about
    20 ms on a 2-core VM); more ingress replicas scale it."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    index: str  # build-index's .npz (binary codes of a dataset)
    checkpoint: str | None = None  # the code autoencoder; None: the one the index names


class AppArgs(BaseModel):
    """``serving.app:build_app`` arguments.

    ``translators`` maps a language pair ("en-de") to a translation checkpoint; the ``translator``
    deployment loads them all in each of its replicas.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    translators: dict[str, str] = Field(default_factory=dict)
    captioner: str | None = None  # captioning checkpoint (None: no /v1/caption model)
    editor: EditorArgs | None = None  # iGAN editing (None: no /v1/edit model)
    search: SearchArgs | None = None  # image search over binary codes (None: no /v1/search)
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
