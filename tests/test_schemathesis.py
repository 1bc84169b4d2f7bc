"""Schemathesis against a live lab: the server answers what ``/api/openapi.yaml`` says.

Part of ``pytest -m fuzz``. Schemathesis reads the document the server serves,
generates requests that follow it and that break it, and runs all of its checks
(no 5xx, documented statuses, content types, headers and response schemas,
invalid input refused, valid input accepted, the bearer scheme enforced). The
operations that do not answer a request with one response are left to the
Hypothesis fuzz tests: the two streams and the WebSocket upgrade never end, and
a long poll may hold for minutes by design.

The chat operations run only against a server whose chat has identities (its
join answers a ``token``); against one without, that test is skipped and says so.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import SERVING
from tests.fuzzing import examples_run
from tests.liveserver import LiveLab

pytestmark = [pytest.mark.fuzz, pytest.mark.timeout(1800)]

EXAMPLES = int(os.environ.get("LAB_SCHEMATHESIS_EXAMPLES", "100"))
"""Test cases per operation (and phase) schemathesis generates."""

NOT_ONE_RESPONSE = ("/ws", "/api/stream", "/api/events", "/api/longpoll")
CHAT = ("/api/chat", "/api/chat/join", "/api/chat/leave")


@pytest.fixture(scope="module", params=SERVING)
def lab(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory,
        ) -> Iterator[LiveLab]:
    """A lab process, plain or fast."""
    live = LiveLab(request.param, Path(tmp_path_factory.mktemp("st")) / "server.log")
    try:
        yield live
    finally:
        live.stop()


def schemathesis(lab: LiveLab, workdir: Path, name: str, include: tuple[str, ...] = (),
                 exclude: tuple[str, ...] = ()) -> subprocess.CompletedProcess[str]:
    """Run the schemathesis CLI against ``lab`` with every check; its output and status (the
    test cases it generated are counted under ``name``)."""
    executable = shutil.which("schemathesis") or shutil.which("st")
    if executable is None:
        pytest.skip("the schemathesis command is not installed (pip install -e '.[test]')")
    command = [executable, "run", f"{lab.base}/api/openapi.yaml", "--url", lab.base,
               "--checks", "all", "--max-examples", str(EXAMPLES), "--workers", "1",
               "--request-timeout", "30", "--seed", "1", "--no-color"]
    command += [arg for path in include for arg in ("--include-path", path)]
    command += [arg for path in exclude for arg in ("--exclude-path", path)]
    run = subprocess.run(command, check=False, cwd=workdir, capture_output=True, text=True,
                         timeout=1500)
    generated = re.search(r"(\d+) generated", run.stdout)
    if generated:
        examples_run[name] = int(generated[1])
    return run


def test_the_api_answers_as_documented(lab: LiveLab, tmp_path: Path,
                                       request: pytest.FixtureRequest) -> None:
    """Every single-response operation but chat passes all of schemathesis' checks."""
    run = schemathesis(lab, tmp_path, request.node.name, exclude=NOT_ONE_RESPONSE + CHAT)
    assert run.returncode == 0, run.stdout[-6000:] + run.stderr[-2000:]
    assert not lab.new_faults()


def test_the_chat_answers_as_documented(lab: LiveLab, tmp_path: Path,
                                        request: pytest.FixtureRequest) -> None:
    """The chat operations (identities, bearer tokens, limits) pass all of schemathesis'
    checks."""
    status, body = lab.post("/api/chat/join", b'{"user": "schema-probe"}')
    if status != 201 or "token" not in json.loads(body):
        pytest.skip("this server's chat has no identities yet: its join answers no token, "
                    "as docs/openapi.yaml says it must")
    run = schemathesis(lab, tmp_path, request.node.name, include=CHAT)
    assert run.returncode == 0, run.stdout[-6000:] + run.stderr[-2000:]
    assert not lab.new_faults()
