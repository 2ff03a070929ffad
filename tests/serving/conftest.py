"""One local Ray cluster (127.0.0.1) for every serving / Ray Data test of the session, and the Serve app.

The app is ``conf/serve.yaml`` itself, deployed the way ``serve run`` deploys it, with tiny checkpoints
built from real Multi30k / Flickr8k data, a free port, and the ingress queue made small so the
overload test can fill it.
"""

from __future__ import annotations

import os
import shutil
import time
from pathlib import Path

import httpx
import pytest

from tests.serving_fixtures import (
    REPO,
    free_port,
    make_caption_checkpoint,
    make_gan_checkpoint,
    make_search_index,
    make_translation_checkpoint,
)

os.environ.setdefault("RAY_AUTH_MODE", "disabled")
LIMITS = {
    "max_chars": 2000,
    "max_texts": 8,
    "max_sentences": 16,
    "max_beam_size": 4,
    "max_upload_bytes": 1_000_000,
    "max_image_pixels": 4_000_000,
    "request_timeout_s": 20,
}
TEST_DEPLOYMENTS = {
    "ingress": {
        "max_ongoing_requests": 24,
        "max_queued_requests": 24,
        "backpressure_config": {"status_code": 429, "retry_after_s": 1},
    },
    "translator": {"user_config": {"max_batch_size": 16}},
    # A short wait lets the batch-mates test's eight concurrent uploads share one batch reliably.
    "captioner": {"user_config": {"max_batch_size": 16, "batch_wait_timeout_s": 1.0}},
}
# A second application, one translator replica, whose (untrained, long-length-limit) model decodes for
# seconds while its requests time out after SLOW_TIMEOUT_S: the abandoned-decode test.
SLOW_TIMEOUT_S = 0.5
# Hidden size 1024 and up to 10 x source + 200 steps: about 4.5 s for six sentences at beam 4 on one 2-core
# EPYC thread (hidden 512 took 1.4 s, too close to the 2 s the test needs to tell a stopped decode apart).
SLOW_MODEL = ("model.decoder.hidden_size=1024", "search.max_len_ratio=10", "search.max_len_offset=200")


NODE_CPUS = 4  # logical CPUs per node: the Serve replicas (about 2.5 CPUs with the slow app and the editor),
# a Ray Data actor and one Ray Train worker per node fit together


@pytest.fixture(scope="session")
def ray_cluster():
    """Started once: two Ray nodes on 127.0.0.1 (``ray.cluster_utils.Cluster``: a head and one more raylet,
    as a two-machine cluster looks to Serve, Data and Train), each with ``NODE_CPUS`` logical CPUs."""
    import ray
    from ray.cluster_utils import Cluster

    from serving.launch import set_proxy_environment

    set_proxy_environment({"applications": [{"args": {"limits": LIMITS}}]})  # the proxy's body cap, before Ray starts
    assert os.environ.get("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER") == "0", "set in tests/conftest.py before Ray loads"
    node = {"num_cpus": NODE_CPUS, "node_ip_address": "127.0.0.1", "object_store_memory": 300 * 1024**2}
    cluster = None
    for attempt in range(3):  # Ray waits a fixed 30 s for its raylet; a loaded 2-core box can miss that
        try:
            cluster = Cluster(initialize_head=True, head_node_args={**node, "include_dashboard": False})
            cluster.add_node(**node)
            cluster.wait_for_nodes()
            ray.init(address=cluster.address, namespace="serve", log_to_driver=False)
            break
        except Exception:  # noqa: BLE001 - "node timed out during startup": clean up and try again
            ray.shutdown()
            if cluster is not None:
                cluster.shutdown()
            if attempt == 2:
                raise
    assert len([n for n in ray.nodes() if n["Alive"]]) == 2
    yield ray
    from ray import serve

    serve.shutdown()
    ray.shutdown()
    cluster.shutdown()


@pytest.fixture(scope="session")
def checkpoints(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("checkpoints")
    return {
        "en-de": make_translation_checkpoint(root / "en_de.pt", "de"),
        "en-fr": make_translation_checkpoint(root / "en_fr.pt", "fr", seed=1),
        "slow": make_translation_checkpoint(root / "slow.pt", "de", seed=2, overrides=SLOW_MODEL),
        "captioner": make_caption_checkpoint(root / "captioner.pt"),
        "gan": make_gan_checkpoint(root / "gan.pt"),
        "search": make_search_index(root / "search"),
    }


def _slow_app(main: dict, checkpoint: Path) -> dict:
    return {
        "name": "slow",
        "route_prefix": "/slow",
        "import_path": main["import_path"],
        "args": {
            "translators": {"en-de": str(checkpoint)},
            "captioner": None,
            "limits": {**LIMITS, "request_timeout_s": SLOW_TIMEOUT_S},
        },
        "deployments": [
            {"name": "translator", "num_replicas": 1, "ray_actor_options": {"num_cpus": 0.3}},
            {"name": "ingress", "ray_actor_options": {"num_cpus": 0.05}},
        ],
    }


@pytest.fixture(scope="session")
def server(ray_cluster, checkpoints) -> str:
    from serving.launch import check_checkpoints, deploy, read_config, with_overrides

    port = free_port()
    config = with_overrides(
        read_config(REPO / "conf/serve.yaml"),
        port,
        {p: str(checkpoints[p]) for p in ("en-de", "en-fr")},
        str(checkpoints["captioner"]),
        TEST_DEPLOYMENTS,
    )
    config["applications"][0]["args"]["limits"] = LIMITS
    config["applications"][0]["args"]["editor"] = {"gan": str(checkpoints["gan"]), "encoder": None}
    config["applications"][0]["args"]["search"] = {"index": str(checkpoints["search"])}
    config["applications"].append(_slow_app(config["applications"][0], checkpoints["slow"]))
    config["http_options"]["request_timeout_s"] = 30  # the proxy answers 408 before any test client gives up
    check_checkpoints(config)
    deploy(config, timeout_s=600)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    for ready in (f"{url}/readyz", f"{url}/slow/readyz"):  # replicas up, handles answering
        while httpx.get(ready, timeout=10).status_code != 200:
            assert time.monotonic() < deadline, "the apps never became ready"
            time.sleep(1)
    return url


@pytest.fixture()
def client(server):
    with httpx.Client(base_url=server, timeout=60, trust_env=False) as http:
        yield http


CHROMIUM = os.environ.get("CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"


@pytest.fixture(scope="module")
def page(server):
    """The web page in headless Chromium (Debian's, driven by Playwright), one per test module."""
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        pytest.fail("the browser test needs Playwright: pip install playwright (the system chromium is used)")
    if not os.path.exists(CHROMIUM):
        pytest.fail(f"the browser test needs Chromium at {CHROMIUM}: apt-get install -y chromium (or set $CHROMIUM)")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"]
        )
        page = browser.new_page()
        page.set_default_timeout(90_000)
        page.goto(server + "/")
        yield page
        browser.close()
