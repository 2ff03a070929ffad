"""The load generator's CPU split: which process is which role, and CPU ms per request from /proc."""

import os
import sys
import time

import pytest

from serving.bench import LoadResult, cpu_markdown, cpu_per_request, cpu_seconds_by_role, process_role


def test_processes_are_named_by_their_role():
    assert process_role("ray::ServeReplica:pipeline:translator", 10, 1) == "translator"
    assert process_role("ray::ServeReplica:pipeline:translator.handle_request_with_rejection", 10, 1) == "translator"
    assert process_role("ray::ServeReplica:pipeline:ingress", 10, 1) == "ingress"
    assert process_role("ray::ProxyActor", 10, 1) == "proxy"
    assert process_role("ray::ServeController", 10, 1) == "controller"
    assert process_role("/venv/lib/ray/core/src/ray/raylet/raylet --node_id=x", 10, 1) == "ray daemons"
    assert process_role("python anything.py", 1, 1) == "load generator"
    assert process_role("bash", 10, 1) is None


def _fake_process(proc, pid: int, cmdline: str, utime: int, stime: int) -> None:
    (proc / str(pid)).mkdir()
    (proc / str(pid) / "cmdline").write_bytes(cmdline.replace(" ", "\0").encode() + b"\0")
    # comm may hold spaces and parentheses: the fields are read after the last ')'
    fields = ["S"] + ["0"] * 10 + [str(utime), str(stime)] + ["0"] * 8
    (proc / str(pid) / "stat").write_text(f"{pid} (ray::Serve (x)) " + " ".join(fields))


def test_cpu_seconds_are_summed_per_role_from_proc(tmp_path):
    tick = 1.0 / os.sysconf("SC_CLK_TCK")
    _fake_process(tmp_path, 11, "ray::ServeReplica:app:translator", 300, 100)
    _fake_process(tmp_path, 12, "ray::ServeReplica:app:translator", 50, 50)
    _fake_process(tmp_path, 13, "ray::ProxyActor", 20, 0)
    _fake_process(tmp_path, 14, "sshd", 999, 999)
    (tmp_path / "15").mkdir()  # a process that vanished between listdir and open
    (tmp_path / "self").mkdir()
    got = cpu_seconds_by_role(str(tmp_path))
    assert got == pytest.approx({"translator": 500 * tick, "proxy": 20 * tick})


def test_cpu_per_request_is_the_difference_over_answered_requests():
    per = cpu_per_request({"proxy": 1.0, "translator": 2.0}, {"proxy": 1.5, "translator": 4.0, "ingress": 0.1}, 100)
    assert per == {"translator": 20.0, "proxy": 5.0, "ingress": 1.0, "total": 26.0}
    assert cpu_per_request({}, {"proxy": 1.0}, 0) == {}
    row = LoadResult("/v1/translate", "on", 32, 100, 100, {}, 1.0, 100.0, 1, 2, 3, 1, cpu_ms_per_request=per)
    table = cpu_markdown([row])
    assert "| translator | proxy | ingress | total |" in table
    assert "| /v1/translate | 1 | on | 32 | 20.0 | 5.0 | 1.0 | 26.0 |" in table


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="/proc is Linux's")
def test_the_real_proc_sees_this_process_work():
    before = cpu_seconds_by_role()
    deadline = time.process_time() + 0.3
    while time.process_time() < deadline:
        pass
    after = cpu_seconds_by_role()
    assert after["load generator"] - before["load generator"] >= 0.25
