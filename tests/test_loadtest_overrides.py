"""``pipeline loadtest --set``: benchmark variants of conf/serve.yaml without editing the file."""

import pytest

from pipeline.commands.loadtest import apply_sets
from pipeline.errors import PipelineError
from serving.launch import read_config


def test_set_edits_deployments_and_args_without_touching_the_original():
    base = read_config("conf/serve.yaml")
    edited = apply_sets(
        base, ["translator.num_replicas=1", "translator.user_config.batch_wait_timeout_s=0.1", "args.threads=2"]
    )
    app = edited["applications"][0]
    translator = next(d for d in app["deployments"] if d["name"] == "translator")
    assert translator["num_replicas"] == 1
    assert translator["user_config"] == {"max_batch_size": 32, "max_batch_cost": 1200, "batch_wait_timeout_s": 0.1}
    assert app["args"]["threads"] == 2
    original = next(d for d in base["applications"][0]["deployments"] if d["name"] == "translator")
    assert original["num_replicas"] == 2 and base["applications"][0]["args"]["threads"] == 1


@pytest.mark.parametrize("item", ["translator", "translator.num_replicas", "nosuch.num_replicas=1"])
def test_bad_set_is_one_clear_error(item):
    with pytest.raises(PipelineError, match="--set"):
        apply_sets(read_config("conf/serve.yaml"), [item])
