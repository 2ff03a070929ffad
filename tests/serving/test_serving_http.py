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
    response = client.post(
        "/v1/translate", json={"texts": texts, "target": "fr", "beam_size": 2, "return_attention": True}
    )
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
    replicas = settled_stats(client)["translator"]  # every replica reports, not just one
    assert len(replicas) == 2, replicas
    assert max(r["max_batch"] for r in replicas.values()) > 1
    assert all({"histogram", "queue_wait_ms", "decode_ms", "memory"} <= set(r) for r in replicas.values())


def settled_stats(client: httpx.Client, app: str = "", quiet_s: float = 1.5) -> dict:
    """``/v1/stats`` once every replica's counters have stopped moving (replicas push twice a second)."""

    def counts(stats):
        return {
            (d, r): (v["items"], v["dropped_waiting"], v["dropped_decoding"], v["queued"], v["busy"])
            for d, replicas in stats.items()
            for r, v in replicas.items()
        }

    deadline = time.monotonic() + 30
    last = client.get(f"{app}/v1/stats").json()
    while time.monotonic() < deadline:
        time.sleep(quiet_s)
        now = client.get(f"{app}/v1/stats").json()
        if counts(now) == counts(last):
            return now
        last = now
    raise AssertionError(f"stats never settled: {last}")


def items_decoded(stats: dict, deployment: str) -> int:
    return sum(r["items"] + r["dropped_waiting"] for r in stats.get(deployment, {}).values())


def test_a_bad_image_fails_alone_in_its_batch(client, server):
    data = jpeg()
    tiny = io.BytesIO()
    from PIL import Image

    Image.new("RGB", (1, 1)).save(tiny, "PNG")
    refused = upload(client, tiny.getvalue())  # 1x1: refused from its header at the ingress
    assert refused.status_code == 422 and "at least" in refused.json()["error"], refused.text
    cut = data[:700]  # a JPEG cut off just after its header: passes the ingress, fails when decoded

    async def together():
        async with httpx.AsyncClient(base_url=server, timeout=60, trust_env=False) as http:
            files = [{"file": ("x.jpg", body, "image/jpeg")} for body in [data] * 3 + [cut] + [data] * 4]
            return await asyncio.gather(*(http.post("/v1/caption", files=f) for f in files))

    responses = asyncio.run(together())
    codes = [r.status_code for r in responses]
    assert codes == [200] * 3 + [422] + [200] * 4, [r.text for r in responses]
    assert "truncated" in responses[3].json()["error"] or "damaged" in responses[3].json()["error"]
    assert {r.json()["batch_size"] for i, r in enumerate(responses) if i != 3} == {8}  # decoded together


def test_an_over_limit_source_is_refused_before_the_model(client):
    before = items_decoded(settled_stats(client), "translator")
    response = client.post("/v1/translate", json={"text": "q" * 1500})  # one token, far over 100 subwords
    assert response.status_code == 413, response.text
    assert "at most 100" in response.json()["error"] and "subwords" in response.json()["error"]
    assert items_decoded(settled_stats(client), "translator") == before  # it never reached the model


def _chunked_upload(url: str, path: str, total: int, chunk: int = 65536) -> tuple[int, int]:
    """Stream ``total`` bytes as a chunked body until the server answers; (status, bytes sent)."""
    import select
    import socket
    from urllib.parse import urlparse

    where = urlparse(url)
    sent = 0
    with socket.create_connection((where.hostname, where.port), timeout=30) as sock:
        sock.sendall(
            f"POST {path} HTTP/1.1\r\nHost: {where.hostname}\r\nContent-Type: application/json\r\n"
            "Transfer-Encoding: chunked\r\n\r\n".encode()
        )
        piece = f"{chunk:x}\r\n".encode() + b"x" * chunk + b"\r\n"
        try:
            while sent < total and not select.select([sock], [], [], 0)[0]:
                sock.sendall(piece)
                sent += chunk
        except (BrokenPipeError, ConnectionResetError):
            pass
        reply = sock.recv(4096).decode(errors="replace")
    return int(reply.split()[1]), sent


def test_a_100_mb_chunked_body_is_refused_early(server):
    status, sent = _chunked_upload(server, "/v1/translate", 100 * 2**20)
    assert status == 413
    assert sent < 20 * 2**20, f"the server read {sent} bytes before refusing"  # refused near the cap, not at 100 MB


def test_a_lone_surrogate_is_a_client_error(client):
    response = client.post(
        "/v1/translate", content=b'{"text": "A dog \\ud800 runs."}', headers={"content-type": "application/json"}
    )
    assert 400 <= response.status_code < 500 and "surrogate" in response.json()["error"], response.text


def test_a_timed_out_request_stops_its_decode(client, checkpoints):
    import numpy as np

    from pipeline.inference.translator import Translator
    from tests.serving.conftest import SLOW_TIMEOUT_S

    texts = multi30k_sentences("test_2016_flickr", "en", 6)
    translator = Translator.from_checkpoint(checkpoints["slow"], threads=1)
    src = [np.asarray(ids) for ids in translator.source.encode(texts)]
    started = time.monotonic()
    translator.translate_ids(src, beam_size=4)
    full = time.monotonic() - started  # what the replica would spend if nobody stopped it
    assert full > 3 * SLOW_TIMEOUT_S + 0.5, f"the slow model decodes too fast ({full:.1f}s) to show anything"
    before = settled_stats(client, "/slow")["translator"]
    [replica] = before.values()
    response = client.post("/slow/v1/translate", json={"texts": texts, "beam_size": 4})
    assert response.status_code == 504, response.text
    answered = time.monotonic()
    deadline = time.monotonic() + full
    while True:  # the replica becomes idle with an empty queue well before the full decode would end
        [after] = client.get("/slow/v1/stats").json()["translator"].values()
        if not after["busy"] and after["queued"] == 0 and after["dropped_decoding"] > replica["dropped_decoding"]:
            break
        assert time.monotonic() < deadline, after
        time.sleep(0.1)
    idle_after = time.monotonic() - answered
    assert idle_after < 0.5 * full, f"idle {idle_after:.1f}s after the 504; an unstopped decode takes {full:.1f}s"
    assert after["decode_ms"]["p99"] < 1000 * SLOW_TIMEOUT_S + 1000  # no batch decoded for long


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


@pytest.mark.parametrize(
    ("content", "ctype", "status"),
    [
        (b'{"text": "caf\xe9 \xff"}', "application/json", 400),  # not UTF-8
        (b'{"text": "A dog.",', "application/json", 422),  # malformed JSON
        (b"text=A dog", "text/plain", 415),
    ],
)
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

    # Serve notices the death and starts a replacement on its own (no manual action), which comes up RUNNING.
    def states() -> dict:
        found = serve.status().applications["pipeline"].deployments["translator"].replica_states.items()
        return {str(k.value if hasattr(k, "value") else k): v for k, v in found}

    deadline, seen = time.monotonic() + 120, states()
    while time.monotonic() < deadline and not set(seen) - {"RUNNING"}:  # the death is noticed
        time.sleep(0.2)
        seen = states()
    assert set(seen) - {"RUNNING"}, f"no replacement replica started: {seen}"
    while time.monotonic() < deadline and seen != {"RUNNING": 2}:  # ... and the replacement runs
        time.sleep(0.5)
        seen = states()
    assert seen == {"RUNNING": 2}, f"the replacement never became RUNNING: {seen}"
    new_pid = client.get("/v1/models").json()["translator_pid"]
    assert client.post("/v1/translate", json={"text": "A dog runs."}).status_code == 200 and new_pid


def test_no_input_made_a_500(client):
    assert client.get("/healthz").status_code == 200
    assert client.post("/v1/translate", json={"text": "Two dogs play."}).status_code == 200


def test_png_bomb_is_valid_png():
    from PIL import Image

    with Image.open(io.BytesIO(png_bomb(2000))) as image:  # a small one, to prove the bytes are a real PNG
        assert image.size == (2000, 2000)
        image.load()
