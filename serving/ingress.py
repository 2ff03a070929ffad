"""HTTP ingress: validate, split, fan out to the model deployments, compose, answer JSON.

Lifecycle of a request (LitServe's order): decode + validate here → one handle call per sentence or
image (the model replica batches them) → gather → encode the response. A caption in German or French
is the captioner's English caption sent on to the ``en-de`` / ``en-fr`` translator deployment through
its ``DeploymentHandle``, inside the same Serve application. Image search is the exception: a query is
a few milliseconds of work, less than a Serve hop costs, so the ingress answers it itself.
"""

# No ``from __future__ import annotations`` here: under ``serve.ingress`` FastAPI must see the endpoint
# annotations as real objects (as strings the request body was read as a query parameter → 422).
import asyncio
import logging
from pathlib import Path
from typing import Annotated

from fastapi import FastAPI, File, Form, Request, UploadFile
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, JSONResponse, Response
from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictInt, StrictStr
from ray import serve
from ray.serve.exceptions import BackPressureError
from starlette.exceptions import HTTPException as StarletteHTTPException

from pipeline.inference.source import SourceEncoder, warm_up_text
from serving.body_limit import BodyLimit
from serving.models import EditJob, ImageJob, ImageSearcher, SearchJob, SentenceJob
from serving.settings import Limits
from serving.validation import ApiError, check_beam, check_image, check_texts, parse_strokes, split_sentences

STATIC = Path(__file__).parent / "static"
RETRY_AFTER_S = "2"
ROUTE_CAPS: dict[str, int] = {}  # path → body cap in bytes, set by the ingress from its limits
log = logging.getLogger("ray.serve")

app = FastAPI(
    title="pipeline serving",
    version="1",
    description="Translation (Multi30k seq2seq with attention) and captioning (Show, Attend and Tell) "
    "served by Ray Serve with dynamic batching.",
)


class TranslateRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    text: StrictStr | None = Field(None, description="one text; longer input is split into sentences")
    texts: list[StrictStr] | None = Field(None, description="several texts, translated as one batch")
    source: StrictStr = "en"
    target: StrictStr = "de"
    beam_size: StrictInt | None = Field(None, description="1 = greedy; default: the checkpoint's search.beam_size")
    return_attention: StrictBool = False


def _error(status: int, message: str, headers: dict | None = None, detail=None) -> JSONResponse:
    body = {"error": message, "status": status}
    if detail is not None:
        body["detail"] = detail
    return JSONResponse(body, status_code=status, headers=headers)


MEDIA_TYPES = {
    "/v1/translate": "application/json",
    "/v1/caption": "multipart/form-data",
    "/v1/search": "multipart/form-data",
}


def _item_result(result):
    """A model's answer for one item, or its own failure (e.g. a damaged image) as that item's 4xx.

    Defined above the deployment: Serve pickles the ingress class with the globals it sees when decorated.
    """
    if isinstance(result, dict) and "error" in result:
        raise ApiError(result["status"], result["error"])
    return result


@app.middleware("http")
async def _media_type(request: Request, call_next):
    """415 before any body parsing when a POST carries the wrong Content-Type."""
    expected = MEDIA_TYPES.get(request.url.path)
    got = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if request.method == "POST" and expected and got != expected:
        return _error(415, f"Content-Type {got or '(none)'} is not accepted here; send {expected}")
    return await call_next(request)


app.add_middleware(BodyLimit, limit_for=ROUTE_CAPS.get)  # outermost: counts bytes before anything parses


@app.exception_handler(ApiError)
async def _api_error(_: Request, err: ApiError) -> JSONResponse:
    return _error(err.status, err.message, err.headers)


@app.exception_handler(RequestValidationError)
async def _validation_error(_: Request, err: RequestValidationError) -> JSONResponse:
    fields = [".".join(str(p) for p in e.get("loc", ()) if p != "body") or "body" for e in err.errors()]
    first = err.errors()[0] if err.errors() else {}
    message = f"invalid request: {fields[0] if fields else 'body'}: {first.get('msg', 'invalid')}"
    detail = [
        {"field": f, "message": e.get("msg"), "type": e.get("type")} for f, e in zip(fields, err.errors(), strict=True)
    ]
    return _error(422, message, detail=detail)


@app.exception_handler(StarletteHTTPException)
async def _http_error(_: Request, err: StarletteHTTPException) -> JSONResponse:
    # FastAPI's own 4xx (unparsable body, unknown route, wrong method) in the same JSON shape.
    return _error(err.status_code, str(err.detail), getattr(err, "headers", None))


@app.exception_handler(Exception)
async def _unexpected(request: Request, err: Exception) -> JSONResponse:
    # Last resort: a real fault (a bug, a dead replica) still answers JSON; 503 says "retry", not "your fault".
    log.error("unexpected error on %s %s", request.method, request.url.path, exc_info=err)
    return _error(
        503,
        f"the server could not answer this request ({type(err).__name__}); retry later",
        {"Retry-After": RETRY_AFTER_S},
    )


@serve.deployment(
    name="ingress", max_ongoing_requests=256, max_queued_requests=512, ray_actor_options={"num_cpus": 0.1}
)
@serve.ingress(app)
class Ingress:
    def __init__(
        self,
        translator=None,
        pairs: list[str] | None = None,
        captioner=None,
        limits: dict | None = None,
        stats=None,
        editor=None,
        search=None,
    ):
        self.translator, self.pairs, self.captioner, self.stats_board = translator, list(pairs or []), captioner, stats
        self.editor = editor
        self.searcher = ImageSearcher(**search) if search else None  # answered here: no Serve hop
        self.search_info: dict | None = None
        self.limits = Limits.model_validate(limits or {})
        ROUTE_CAPS.update(
            {
                "/v1/translate": self.limits.max_json_bytes,
                "/v1/caption": self.limits.max_upload_bytes + self.limits.multipart_overhead_bytes,
                "/v1/edit": self.limits.max_upload_bytes + self.limits.multipart_overhead_bytes,
                "/v1/search": self.limits.max_upload_bytes + self.limits.multipart_overhead_bytes,
            }
        )
        self.model_ids: dict[str, str] = {}
        self.encoders: dict[str, SourceEncoder] = {}
        self.caption_min_side: int | None = None
        for lang in {pair.split("-")[0] for pair in self.pairs}:  # load spaCy and Moses now, not on a request
            warm_up_text(lang)
            split_sentences("A dog. A cat.", lang)

    async def _call(self, method, *args):
        """One model call; a timeout cancels it on the replica too (its rows leave the running search)."""
        response = method.remote(*args)
        try:
            result = await asyncio.wait_for(response, self.limits.request_timeout_s)
        except BackPressureError:
            raise ApiError(429, "the model queue is full; retry later", {"Retry-After": RETRY_AFTER_S}) from None
        except TimeoutError:
            response.cancel()
            raise ApiError(504, f"the model did not answer within {self.limits.request_timeout_s}s") from None
        except asyncio.CancelledError:  # the client went away: stop the model's work for it
            response.cancel()
            raise
        return _item_result(result)

    def _pair(self, source: str, target: str) -> str:
        pair = f"{source}-{target}"
        if pair not in self.pairs:
            raise ApiError(400, f"no model for {pair}; loaded pairs: {', '.join(self.pairs) or 'none'}")
        return pair

    async def _encoder(self, pair: str) -> SourceEncoder:
        if pair not in self.encoders:
            found = await self._call(self.translator.source_encoders)
            self.encoders.update({p: SourceEncoder.from_dict(d) for p, d in found.items()})
        return self.encoders[pair]

    async def _encode(self, pair: str, sentences: list[str]) -> list[tuple[int, ...]]:
        """Subword ids per sentence; a sentence over the model's source limit is refused here (413)."""
        encoder = await self._encoder(pair)
        ids = encoder.encode(sentences)
        for sentence, seq in zip(sentences, ids, strict=True):
            if len(seq) > encoder.max_len:
                shown = sentence if len(sentence) <= 40 else sentence[:37] + "..."
                raise ApiError(
                    413,
                    f"a sentence is {len(seq)} subwords long ({shown!r}); the {pair} model "
                    f"accepts at most {encoder.max_len} (its training limit)",
                )
        return [tuple(seq) for seq in ids]

    async def translate_sentences(
        self, texts: list[str], source: str, target: str, beam_size: int | None, return_attention: bool
    ) -> list[dict]:
        pair = self._pair(source, target)
        sentences = [split_sentences(text, source) for text in texts]
        total = sum(len(s) for s in sentences)
        if total > self.limits.max_sentences:
            raise ApiError(413, f"{total} sentences in one request; at most {self.limits.max_sentences}")
        flat = [s for group in sentences for s in group]
        ids = await self._encode(pair, flat)
        timeout = self.limits.request_timeout_s
        results = await asyncio.gather(
            *(
                self._call(self.translator.translate, SentenceJob(pair, seq, beam_size, return_attention, timeout))
                for seq in ids
            )
        )
        out, k = [], 0
        for group in sentences:
            parts = results[k : k + len(group)]
            k += len(group)
            out.append(
                {
                    "text": " ".join(p["text"] for p in parts),
                    "sentences": [{"source": s, **p} for s, p in zip(group, parts, strict=True)],
                }
            )
        return out

    @app.post("/v1/translate", summary="Translate one text or a list of texts")
    async def translate(self, body: TranslateRequest) -> dict:
        texts = [body.text] if body.text is not None else body.texts
        if body.text is not None and body.texts is not None:
            raise ApiError(422, "send either 'text' or 'texts', not both")
        check_texts(texts or [], self.limits)
        check_beam(body.beam_size, self.limits)
        pair = self._pair(body.source, body.target)
        out = await self.translate_sentences(texts, body.source, body.target, body.beam_size, body.return_attention)
        if not body.return_attention:
            keep = ("source", "text", "batch_size")
            for item in out:
                item["sentences"] = [{k: s[k] for k in keep} for s in item["sentences"]]
        return {"model": await self._model_id(pair), "translations": out}

    async def _model_id(self, name: str) -> str:
        """``en-de:<checkpoint id>`` or ``captioner:<checkpoint id>``; asked once per ingress replica."""
        if name not in self.model_ids:
            if name == "captioner":
                info = await self._call(self.captioner.info)
            else:
                info = (await self._call(self.translator.info))["pairs"][name]
            self.model_ids[name] = f"{name}:{info['id']}"
        return self.model_ids[name]

    async def _min_side(self) -> int:
        if self.caption_min_side is None:
            self.caption_min_side = int((await self._call(self.captioner.info))["min_side"])
        return self.caption_min_side

    @app.post("/v1/caption", summary="Caption an uploaded image (optionally in German or French)")
    async def caption(
        self,
        file: Annotated[UploadFile, File(description="the image")],
        lang: Annotated[str, Form()] = "en",
        beam_size: Annotated[int | None, Form()] = None,
        return_attention: Annotated[bool, Form()] = False,
    ) -> dict:
        if self.captioner is None:
            raise ApiError(400, "this server has no captioning model (its checkpoint did not exist when it started)")
        data = await file.read(self.limits.max_upload_bytes + 1)  # the body cap already held the whole request
        check_image(data, self.limits, await self._min_side())  # header only: cheap; decoding is per item
        check_beam(beam_size, self.limits)
        if lang != "en":
            self._pair("en", lang)  # unknown language: 400 before any model work
        job = ImageJob(data, beam_size, return_attention, self.limits.request_timeout_s)
        result = await self._call(self.captioner.caption, job)
        model = await self._model_id("captioner")
        response = {
            "lang": lang,
            "caption": result["text"],
            "english": result["text"],
            "model": model,
            "batch_size": result["batch_size"],
        }
        if lang != "en" and result["text"]:
            [translated] = await self.translate_sentences([result["text"]], "en", lang, None, False)
            pair_id = await self._model_id(f"en-{lang}")
            response["caption"], response["model"] = translated["text"], f"{model} + {pair_id}"
        if return_attention:
            response.update(words=result["words"], attention=result["attention"], grid=result["grid"])
        return response

    @app.post("/v1/edit", summary="iGAN: project an upload onto the GAN; edit it with colour strokes and sketch lines")
    async def edit(
        self,
        file: Annotated[UploadFile, File(description="the image (resized to the GAN's resolution)")],
        strokes: Annotated[str, Form(description='JSON list of "x,y,r,colour" in the GAN\'s pixel grid')] = "[]",
        sketch: Annotated[str, Form(description='JSON list of lines "x0,y0,x1,y1" in the GAN\'s pixel grid')] = "[]",
        steps: Annotated[int, Form()] = 150,
        frames: Annotated[int, Form()] = 8,
    ) -> dict:
        if self.editor is None:
            raise ApiError(400, "this server has no editing model (its GAN checkpoint did not exist when it started)")
        specs, lines = parse_strokes(strokes, self.limits, sketch)
        if not 1 <= steps <= self.limits.max_edit_steps:
            raise ApiError(422, f"steps must be between 1 and {self.limits.max_edit_steps}, got {steps}")
        if not 2 <= frames <= 16:
            raise ApiError(422, f"frames must be between 2 and 16, got {frames}")
        data = await file.read(self.limits.max_upload_bytes + 1)
        check_image(data, self.limits)  # header only, as for /v1/caption
        job = EditJob(data, specs, steps, self.limits.max_edit_seconds, frames, lines)
        return await self._call(self.editor.edit, job)

    async def _search(self) -> dict:
        """The searcher's info (index, bits, database size, minimum side), asked once."""
        if self.searcher is None:
            raise ApiError(400, "this server has no image search index (its file did not exist when it started)")
        if self.search_info is None:
            self.search_info = await self._search_call("info")
        return self.search_info

    async def _search_call(self, method: str, *args):
        """A call to the searcher, in a worker thread of this process (torch and numpy release the GIL)."""
        return _item_result(await asyncio.to_thread(getattr(self.searcher, method), *args))

    @app.post("/v1/search", summary="Image search: the k nearest indexed images by Hamming distance of binary codes")
    async def search(
        self,
        file: Annotated[UploadFile, File(description="the query image (any size; resized to the model's)")],
        k: Annotated[int, Form(description="how many results")] = 10,
    ) -> dict:
        info = await self._search()
        if not 1 <= k <= self.limits.max_search_k:
            raise ApiError(422, f"k must be between 1 and {self.limits.max_search_k}, got {k}")
        data = await file.read(self.limits.max_upload_bytes + 1)
        check_image(data, self.limits, info["min_side"], "image search")  # header only, as for /v1/caption
        result = await self._search_call("search", SearchJob(data, k))
        for hit in result["results"]:
            hit["thumbnail"] = f"/v1/thumbnails/{hit['split']}/{hit['position']}.png"
        return {
            "model": f"search:{info['id']}",
            "dataset": info["dataset"],
            "bits": info["bits"],
            "database": info["database"],
            "results": result["results"],
            "seconds": result["seconds"],
        }

    @app.get("/v1/thumbnails/{split}/{position}.png", summary="An indexed image (PNG, enlarged 2×)")
    async def thumbnail(self, split: str, position: int) -> Response:
        await self._search()
        png = await self._search_call("thumbnail", split, position)
        return Response(png, media_type="image/png", headers={"Cache-Control": "public, max-age=86400"})

    @app.get("/v1/models", summary="Loaded models: language pairs, checkpoint ids, training scores")
    async def models(self) -> dict:
        translation = await self._call(self.translator.info) if self.translator else {"pairs": {}}
        captioner = await self._call(self.captioner.info) if self.captioner else None
        editor = await self._call(self.editor.info) if self.editor else None
        search = await self._search_call("info") if self.searcher else None
        return {
            "translation": translation["pairs"],
            "translator_pid": translation.get("pid"),
            "captioning": captioner,
            "editing": editor,
            "search": search,
        }

    @app.get("/v1/stats", summary="Per model replica: batch-size histogram, queue wait, decode time, memory")
    async def stats(self) -> dict:
        if self.stats_board is None:
            raise ApiError(404, "no stats deployment in this application")
        return await self._call(self.stats_board.read)

    @app.get("/healthz", summary="Liveness of the ingress")
    async def healthz(self) -> dict:
        return {"status": "ok"}

    @app.get("/readyz", summary="Every model deployment answers")
    async def readyz(self) -> JSONResponse:
        try:
            await self.models()
        except ApiError as err:
            return _error(503, f"not ready: {err.message}", {"Retry-After": RETRY_AFTER_S})
        return JSONResponse({"status": "ready"})

    @app.get("/", include_in_schema=False)
    async def page(self) -> FileResponse:
        return FileResponse(STATIC / "index.html", media_type="text/html")
