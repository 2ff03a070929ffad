"""``/v1/edit`` (iGAN) over HTTP: an edit meets its strokes, bad input is a 4xx naming the problem, a
busy editor answers 429 with Retry-After, and the page's panel drives an edit in headless Chromium."""

from __future__ import annotations

import io
import json
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

pytestmark = pytest.mark.ray


def png(size: int = 16, mode: str = "L") -> bytes:
    from PIL import Image

    picture = Image.new(mode, (size, size))
    picture.putdata([(x * 16) % 256 if mode == "L" else ((x * 16) % 256, 0, 0) for x in range(size * size)])
    buffer = io.BytesIO()
    picture.save(buffer, format="PNG")
    return buffer.getvalue()


def edit(client, strokes, steps: int = 60, content: bytes | None = None, **form) -> httpx.Response:
    files = {"file": ("digit.png", png() if content is None else content, "image/png")}
    data = {"strokes": strokes if isinstance(strokes, str) else json.dumps(strokes), "steps": str(steps), **form}
    return client.post("/v1/edit", files=files, data=data)


def test_an_edit_meets_its_strokes_and_returns_the_morph(client):
    response = edit(client, ["8,8,2,black"], steps=80, frames="6")
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["colour_error_after"] < 0.8 * body["colour_error_before"], body
    assert all(body[k].startswith("data:image/png;base64,") for k in ("original", "projection", "edit"))
    assert len(body["frames"]) == 6 and body["steps"] == 80 and body["method"] == "optimize"
    assert client.get("/v1/models").json()["editing"]["image_shape"] == [1, 16, 16]


@pytest.mark.parametrize(
    ("strokes", "form", "status", "needle"),
    [
        ("not json", {}, 422, "JSON list"),
        ([], {}, 422, "at least one stroke"),
        (["1,2"], {}, 422, "x,y,r,colour"),
        (["1,1,1,white"] * 17, {}, 413, "at most 16"),
        (["99,99,3,white"], {}, 422, "99"),  # outside the GAN's 16×16 grid: refused by the editor replica
        (["4,4,2,notacolour"], {}, 422, "colour"),
        (["8,8,3,white"], {"steps": "0"}, 422, "steps"),
        (["8,8,3,white"], {"steps": "100000"}, 422, "steps"),
    ],
)
def test_bad_edits_get_4xx_json(client, strokes, form, status, needle):
    response = edit(client, strokes, **{"steps": 60, **{k: int(v) for k, v in form.items()}})
    assert response.status_code == status and needle in response.json()["error"], response.text


def test_a_sketch_edit_raises_the_edges_on_its_lines(client):
    response = edit(client, [], steps=80, sketch=json.dumps(["8,3,8,12"]))
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["edge_error_after"] < body["edge_error_before"], body
    assert body["colour_error_before"] is None and body["colour_error_after"] is None


@pytest.mark.parametrize(
    ("strokes", "sketch", "status", "needle"),
    [
        ([], "not json", 422, "sketch must be a JSON list"),
        ([], '["1,2"]', 422, "x0,y0,x1,y1"),
        ([], '["0,0,99,3"]', 422, "outside the 16x16 image"),  # checked against the GAN's grid by the replica
        (["8,8,1,white"] * 10, json.dumps(["1,1,2,2"] * 7), 413, "at most 16"),
    ],
)
def test_bad_sketches_get_4xx_json(client, strokes, sketch, status, needle):
    response = edit(client, strokes, sketch=sketch)
    assert response.status_code == status and needle in response.json()["error"], response.text


def test_a_non_image_upload_is_refused(client):
    response = edit(client, ["8,8,3,white"], content=b"GIF89a not really")
    assert 400 <= response.status_code < 500 and response.json()["error"], response.text


def test_a_busy_editor_answers_429_with_retry_after(client, server):
    def one(_):
        with httpx.Client(base_url=server, timeout=60, trust_env=False) as http:
            return edit(http, ["8,8,3,white"], steps=300)

    with ThreadPoolExecutor(4) as pool:
        responses = list(pool.map(one, range(4)))
    statuses = sorted(r.status_code for r in responses)
    assert set(statuses) <= {200, 429} and 200 in statuses and 429 in statuses, statuses
    assert all(r.headers.get("retry-after") for r in responses if r.status_code == 429)


def open_panel(page, tmp_path) -> None:
    """The page with the editor loaded and a 16×16 digit chosen in the panel."""
    image = tmp_path / "digit.png"
    image.write_bytes(png())
    page.wait_for_function("() => document.getElementById('models').textContent.includes('editor (')")
    page.set_input_files("#edit-image", str(image))


@pytest.mark.browser
def test_the_page_panel_drives_an_edit(page, tmp_path):
    open_panel(page, tmp_path)
    page.click("#edit-canvas", position={"x": 64, "y": 64})  # pixel (8, 8) of the 16×16 GAN at 8× scale
    assert page.text_content("#edit-strokes").startswith("8,8,2,")
    page.click("#edit")
    page.wait_for_function("() => document.getElementById('edit-status').textContent.includes('→')")
    assert "error" not in page.get_attribute("#edit-status", "class")
    assert page.get_attribute("#edit-result", "src").startswith("data:image/png;base64,")
    assert page.locator("#edit-frames img").count() == 8


@pytest.mark.browser
def test_the_page_panel_draws_sketch_lines_and_edits_with_them(page, tmp_path):
    open_panel(page, tmp_path)
    page.select_option("#edit-tool", "sketch")
    box = page.locator("#edit-canvas").bounding_box()
    page.mouse.move(box["x"] + 8 * 8 + 4, box["y"] + 3 * 8 + 4)  # GAN pixel (8, 3) at 8× scale
    page.mouse.down()
    page.mouse.move(box["x"] + 8 * 8 + 4, box["y"] + 12 * 8 + 4, steps=4)
    page.mouse.up()
    assert page.text_content("#edit-strokes") == "line 8,3,8,12"  # a drag is a line, not a stroke
    page.click("#edit")
    page.wait_for_function("() => document.getElementById('edit-status').textContent.includes('edge error')")
    assert "error" not in page.get_attribute("#edit-status", "class")
    assert page.get_attribute("#edit-result", "src").startswith("data:image/png;base64,")
