"""The web page in real headless Chromium (Debian's ``chromium``, driven by Playwright's Python API).

Browser downloads are impossible here, so Playwright launches the system browser through
``executable_path`` ($CHROMIUM, default /usr/bin/chromium). Setup: ``apt-get install -y chromium``
and ``pip install playwright`` (no ``playwright install``).
"""

from __future__ import annotations

import pytest

from tests.serving_fixtures import flickr8k_test_images, multi30k_sentences

pytestmark = [pytest.mark.ray, pytest.mark.browser]


def test_page_translates_typed_text(page):
    page.wait_for_selector("#target option[value=de]", state="attached")
    page.fill("#src", multi30k_sentences("test_2016_flickr", "en", 1)[0])
    page.click("#translate")
    page.wait_for_function(
        "() => { const t = document.getElementById('translation').textContent; return t && t !== '…'; }"
    )
    assert "error" not in page.get_attribute("#translation", "class")
    assert page.text_content("#translation").strip()


def test_page_captions_an_upload_in_three_languages(page):
    page.set_input_files("#image", str(flickr8k_test_images(1)[0]))
    page.click("#caption")
    for lang in ("en", "de", "fr"):
        page.wait_for_function(
            f"() => {{ const t = document.getElementById('caption-{lang}').textContent; return t && t !== '…'; }}"
        )
        assert page.get_attribute(f"#caption-{lang}", "class") != "error", page.text_content(f"#caption-{lang}")
        assert page.text_content(f"#caption-{lang}").strip()
    # The attention overlay: pointing at a caption word darkens the image outside where the model looked.
    page.wait_for_selector("#words span")
    page.hover("#words span >> nth=0")
    alpha = page.evaluate(
        "() => { const c = document.getElementById('overlay');"
        " const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;"
        " let s = 0; for (let i = 3; i < d.length; i += 4) s += d[i]; return s; }"
    )
    assert alpha > 0
