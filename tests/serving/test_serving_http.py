"""Real HTTP against the local Serve app: happy paths, batching, limits, overload, replica death."""

from __future__ import annotations

import asyncio
import io
import os
import signal
import struct
import time
import zlib

import httpx
import pytest

from tests.serving_fixtures import flickr8k_test_images, multi30k_sentences

pytestmark = pytest.mark.ray


def png_bomb(side: int = 20000) -> bytes:
    """A real, valid 1-bit greyscale PNG of side × side pixels: ~60 kB on disk, 400 M pixels decoded."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    row = b"\x00" + b"\x00" * (side // 8)
    packer = zlib.compressobj(9)
    body = b"".join(packer.compress(row * 500) for _ in range(side // 500)) + packer.flush()
    header = struct.pack(">IIBBBBB", side, side, 1, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", body) + chunk(b"IEND", b"")


def jpeg() -> bytes:
    return flickr8k_test_images(1)[0].read_bytes()


def upload(client: httpx.Client, data: bytes, **form) -> httpx.Response:
    return client.post("/v1/caption", files={"file": ("image.jpg", data, "image/jpeg")}, data=form)


def test_translate_splits_sentences_and_names_the_model(client):
    first, second = multi30k_sentences("test_2016_flickr", "en", 2)
    response = client.post("/v1/translate", json={"text": f"{first} {second}", "source": "en", "target": "de"})
    assert response.status_code == 200, response.text
    body = response.json()
    [item] = body["translations"]
    assert [s["source"] for s in item["sentences"]] == [first, second]  # spaCy's sentencizer split them
    assert item["text"] and body["model"].startswith("en-de:")


def test_translate_list_with_attention(client):
    texts = multi30k_sentences("test_2016_flickr", "en", 3)
    response = client.post("/v1/translate", json={"texts": texts, "target": "fr", "beam_size": 2,
                                                  "return_attention": True})
    assert response.status_code == 200, response.text
    items = response.json()["translations"]
    assert len(items) == 3
    sentence = items[0]["sentences"][0]
    # One attention row per target piece plus </s>, one column per source piece, rows sum to 1.
    assert len(sentence["attention"]) == len(sentence["tgt_pieces"]) + 1
    assert all(len(row) == len(sentence["src_pieces"]) for row in sentence["attention"])
    assert abs(sum(sentence["attention"][0]) - 1) < 1e-2


@pytest.mark.parametrize("lang", ["en", "de", "fr"])
def test_caption_in_three_languages(client, lang):
    response = upload(client, jpeg(), lang=lang, return_attention="true")
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["lang"] == lang and body["caption"] and body["english"]
    rows, cols = body["grid"]
    assert len(body["attention"]) == len(body["words"]) + 1 and len(body["attention"][0]) == rows * cols
    if lang != "en":  # composed: captioner → translator_en_<lang> inside the application
        assert f"en-{lang}:" in body["model"]


def test_models_health_docs_and_page(client, checkpoints):
    models = client.get("/v1/models").json()
    assert set(models["translation"]) == {"en-de", "en-fr"}
    assert models["translation"]["en-de"]["checkpoint"] == str(checkpoints["en-de"].resolve())
    assert models["translation"]["en-fr"]["id"] != models["translation"]["en-de"]["id"]
    assert models["captioning"]["scores"] == {"CIDEr-D": 0.0}
    for path in ("/healthz", "/readyz", "/-/healthz", "/docs", "/openapi.json"):
        assert client.get(path).status_code == 200, path
    assert "<textarea" in client.get("/").text


async def _burst(url: str, n: int, json_body: dict) -> list[httpx.Response]:
    async with httpx.AsyncClient(base_url=url, timeout=90, trust_env=False) as http:
        return await asyncio.gather(*(http.post("/v1/translate", json=json_body) for _ in range(n)))


def test_concurrent_requests_are_batched(client, server):
    sentence = multi30k_sentences("test_2016_flickr", "en", 1)[0]
    responses = asyncio.run(_burst(server, 16, {"text": sentence, "beam_size": 1}))
    assert [r.status_code for r in responses] == [200] * 16
    # Each sentence reports the size of the batch it was decoded in; 16 requests on 2 replicas
    # cannot all have been alone.
    sizes = [r.json()["translations"][0]["sentences"][0]["batch_size"] for r in responses]
    assert max(sizes) > 1, sizes
    stats = client.get("/v1/stats").json()["translator"]  # one replica's histogram
    assert stats["max_batch"] > 1 or max(sizes) > 1, stats


BAD_JSON = [
    ({"text": ""}, 422, "empty"),
    ({"text": "x" * 100_000}, 413, "characters"),
    ({"texts": "not a list"}, 422, "texts"),
    ({"text": 5}, 422, "text"),
    ({"text": "A dog.", "target": "xx"}, 400, "en-de, en-fr"),
    ({"texts": ["a dog ."] * 9}, 413, "texts"),
    ({"text": "A dog.", "beam_size": 99}, 422, "beam_size"),
    ({"text": "A dog.", "unknown": 1}, 422, "unknown"),
]


@pytest.mark.parametrize(("body", "status", "needle"), BAD_JSON)
def test_bad_translate_requests_get_4xx_json(client, body, status, needle):
    response = client.post("/v1/translate", json=body)
    assert response.status_code == status and needle in response.json()["error"], response.text


@pytest.mark.parametrize(("content", "ctype", "status"), [
    (b'{"text": "caf\xe9 \xff"}', "application/json", 400),  # not UTF-8
    (b'{"text": "A dog.",', "application/json", 422),  # malformed JSON
    (b"text=A dog", "text/plain", 415),
])
def test_undecodable_translate_bodies(client, content, ctype, status):
    response = client.post("/v1/translate", content=content, headers={"content-type": ctype})
    assert response.status_code == status and response.json()["error"], response.text


def test_bad_uploads_get_4xx_json(client):
    data = jpeg()
    cases = {
        "not an image": (upload(client, b"hello, this is text"), 415),
        "truncated": (upload(client, data[: len(data) // 2]), 422),
        "bomb": (upload(client, png_bomb()), 413),
        "oversized": (upload(client, os.urandom(1_200_000)), 413),
        "missing file": (client.post("/v1/caption", files={"other": ("a.jpg", data)}), 422),
        "not multipart": (client.post("/v1/caption", content=data, headers={"content-type": "image/jpeg"}), 415),
        "unknown lang": (upload(client, data, lang="xx"), 400),
    }
    for name, (response, status) in cases.items():
        assert response.status_code == status and response.json()["error"], (name, response.text)
    assert "file" in cases["missing file"][0].json()["error"]
    assert upload(client, data).status_code == 200  # still answering


def test_overload_is_refused_fast_not_hung(client, server):
    text = " ".join(multi30k_sentences("test_2016_flickr", "en", 2))
    started = time.monotonic()
    responses = asyncio.run(_burst(server, 100, {"text": text, "beam_size": 1}))
    codes = [r.status_code for r in responses]
    # Refused at the door (429 + Retry-After, or 503), or given up on after a timeout (proxy 408, model 504).
    assert set(codes) <= {200, 408, 429, 503, 504} and (429 in codes or 503 in codes), codes
    refused = next(r for r in responses if r.status_code in (429, 503))
    assert refused.headers.get("retry-after") or refused.status_code == 503
    assert time.monotonic() - started < 120
    assert client.post("/v1/translate", json={"text": "A dog runs."}).status_code == 200


def test_killed_replica_is_replaced(client, ray_cluster):
    from ray import serve

    pid = client.get("/v1/models").json()["translator_pid"]
    os.kill(pid, signal.SIGKILL)
    deadline, status = time.monotonic() + 30, None
    while time.monotonic() < deadline:
        status = client.post("/v1/translate", json={"text": "A dog runs.", "target": "fr"}).status_code
        if status == 200:
            break
        time.sleep(0.5)
    assert status == 200, f"no 200 within 30 s after killing a translator replica (last {status})"
    # Serve notices the death and starts a replacement on its own (no manual action).
    deadline, states = time.monotonic() + 30, {}
    while time.monotonic() < deadline:
        states = {str(k.value if hasattr(k, "value") else k): v for k, v in
                  serve.status().applications["pipeline"].deployments["translator"].replica_states.items()}
        if set(states) - {"RUNNING"}:
            break
        time.sleep(0.5)
    assert set(states) - {"RUNNING"}, f"no replacement replica started: {states}"


def test_no_input_made_a_500(client):
    assert client.get("/healthz").status_code == 200
    assert client.post("/v1/translate", json={"text": "Two dogs play."}).status_code == 200


def test_png_bomb_is_valid_png():
    from PIL import Image

    with Image.open(io.BytesIO(png_bomb(2000))) as image:  # a small one, to prove the bytes are a real PNG
        assert image.size == (2000, 2000)
        image.load()
