"""``/v1/search`` over HTTP: an indexed image finds itself at distance 0, thumbnails are the dataset's
images, bad uploads and parameters get a 4xx naming the problem, and the page's panel shows results."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

pytestmark = pytest.mark.ray


def png(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(array).save(buffer, format="PNG")
    return buffer.getvalue()


def dataset_image(checkpoints, split: str, position: int) -> np.ndarray:
    from pipeline.data.vision import load_cifar10

    images, _ = load_cifar10(split, root=str(checkpoints["search"].parent / "cifar10"))
    return np.asarray(images[position])


def search(client, content: bytes, k: int | str = 100, name: str = "q.png", kind: str = "image/png"):
    return client.post("/v1/search", files={"file": (name, content, kind)}, data={"k": str(k)})


def test_an_indexed_image_finds_itself_at_distance_zero(client, checkpoints):
    response = search(client, png(dataset_image(checkpoints, "test", 3)), k=100)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["bits"] == 32 and body["database"] == 140 and body["dataset"] == "cifar10"
    hits = body["results"]
    distances = [h["distance"] for h in hits]
    assert len(hits) == 100 and distances == sorted(distances) and distances[-1] > 0  # the zero group fits in k
    zero = {(h["split"], h["position"]) for h in hits if h["distance"] == 0}
    assert ("test", 3) in zero, zero
    [itself] = [h for h in hits if (h["split"], h["position"]) == ("test", 3)]
    assert itself["label"] == "cat"  # synthetic labels are position % 10; class 3 of CIFAR-10
    assert [h["rank"] for h in hits] == list(range(1, 101))


def test_a_thumbnail_is_the_indexed_image_enlarged(client, checkpoints):
    hit = search(client, png(dataset_image(checkpoints, "train", 7)), k=1).json()["results"][0]
    response = client.get(hit["thumbnail"])
    assert response.status_code == 200 and response.headers["content-type"] == "image/png"
    thumb = np.asarray(Image.open(io.BytesIO(response.content)))
    expected = dataset_image(checkpoints, hit["split"], hit["position"])
    assert thumb.shape == (64, 64, 3) and np.array_equal(thumb[::2, ::2], expected)


@pytest.mark.parametrize(
    ("content", "k", "kind", "status", "needle"),
    [
        (png(np.zeros((1, 1, 3), np.uint8)), 5, "image/png", 422, "at least 8x8"),
        (b"GIF89a not really", 5, "image/gif", 415, "not an image"),
        (b"plain text, no image", 5, "text/plain", 415, "not an image"),
        (b"", 5, "image/png", 422, "empty"),
        (png(np.zeros((32, 32, 3), np.uint8)), 0, "image/png", 422, "k must be between 1 and 100"),
        (png(np.zeros((32, 32, 3), np.uint8)), 101, "image/png", 422, "k must be between 1 and 100"),
        (png(np.zeros((32, 32, 3), np.uint8)), "ten", "image/png", 422, "k"),
    ],
)
def test_bad_searches_get_4xx_json(client, content, k, kind, status, needle):
    response = search(client, content, k=k, kind=kind)
    assert response.status_code == status and needle in response.text, response.text


def test_a_jpeg_cut_after_its_header_fails_in_the_model_with_422(client):
    buffer = io.BytesIO()
    noise = np.random.default_rng(0).integers(0, 256, (64, 64, 3), dtype=np.uint8)
    Image.fromarray(noise).save(buffer, format="JPEG", quality=95)
    cut = buffer.getvalue()[: len(buffer.getvalue()) // 2]  # the header is whole; the pixel data is not
    response = search(client, cut, k=5, name="cut.jpg", kind="image/jpeg")
    assert response.status_code == 422 and "cannot read the upload" in response.json()["error"], response.text


def test_bad_thumbnails_and_a_missing_file_get_4xx(client):
    assert client.get("/v1/thumbnails/valid/0.png").status_code == 404
    assert "holds no split" in client.get("/v1/thumbnails/valid/0.png").json()["error"]
    assert client.get("/v1/thumbnails/test/40.png").status_code == 404  # the test split has 40 images
    assert client.get("/v1/thumbnails/test/x.png").status_code == 422
    response = client.post("/v1/search", data={"k": "3"}, files={"other": ("a", b"b")})
    assert response.status_code == 422 and "file" in response.text
    assert client.post("/v1/search", json={"k": 3}).status_code == 415


def test_models_lists_the_index(client):
    search_info = client.get("/v1/models").json()["search"]
    assert search_info["bits"] == 32 and search_info["database"] == 140 and search_info["splits"] == ["train", "test"]


@pytest.mark.browser
def test_the_page_panel_shows_nearest_images(page, tmp_path, checkpoints):
    image = tmp_path / "query.png"
    image.write_bytes(png(dataset_image(checkpoints, "test", 5)))
    page.wait_for_function("() => document.getElementById('models').textContent.includes('image search over')")
    page.set_input_files("#search-image", str(image))
    page.fill("#search-k", "6")
    page.click("#search")
    page.wait_for_function("() => document.querySelectorAll('#search-results figure').length === 6")
    assert "error" not in page.get_attribute("#search-status", "class")
    assert page.text_content("#search-results figure").strip().endswith("d=0")  # itself, or its code twin
    page.wait_for_function(  # every thumbnail was served and decoded (64 px: 32 px enlarged twice)
        "() => [...document.querySelectorAll('#search-results img')].every((i) => i.naturalWidth === 64)"
    )
