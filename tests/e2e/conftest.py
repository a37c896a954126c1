"""Fixtures of the end-to-end suite: the release binary, the real backend that tests/e2e/run.sh
started, and a ledger of the tool calls the tests made, which the last test checks against
usage.jsonl. Run the suite with `tests/e2e/run.sh`."""

from __future__ import annotations

import json
import os
import urllib.request
from pathlib import Path

import pytest

from support import BIN, HANG_BOUND, Backend, Ledger


def _need(name: str) -> str:
    value = os.environ.get(name)
    if not value:
        pytest.exit(f"{name} is not set: run the suite with tests/e2e/run.sh", returncode=4)
    return value


@pytest.fixture(scope="session")
def backend() -> Backend:
    b = Backend(
        base_url=_need("LOCAL_LLM_BASE_URL").rstrip("/"),
        quality=_need("LOCAL_LLM_MODEL_QUALITY"),
        fast=_need("LOCAL_LLM_MODEL_FAST"),
        log=Path(_need("LEX_BACKEND_LOG")),
    )
    with urllib.request.urlopen(f"{b.base_url}/models", timeout=HANG_BOUND) as r:
        ids = [m["id"] for m in json.load(r)["data"]]
    assert {b.quality, b.fast} <= set(ids), f"the backend serves {ids}"
    return b


@pytest.fixture(scope="session")
def binary() -> Path:
    if not os.access(BIN, os.X_OK):
        pytest.exit(f"{BIN} is missing: tests/e2e/run.sh builds it (cargo build --release)", returncode=4)
    return BIN


@pytest.fixture(scope="session")
def lex_home(tmp_path_factory) -> Path:
    """LOCAL_EXECUTOR_HOME of every call in the session, so one usage.jsonl sees them all."""
    return tmp_path_factory.mktemp("lex-home")


@pytest.fixture(scope="session")
def usage_file(lex_home: Path) -> Path:
    return lex_home / "usage.jsonl"


@pytest.fixture(scope="session")
def ledger() -> Ledger:
    return Ledger()


@pytest.fixture(scope="session")
def server_env(backend: Backend, lex_home: Path, tmp_path_factory) -> dict[str, str]:
    """The settings of the README's `claude mcp add` line, pointed at the test backend."""
    return {
        "LOCAL_LLM_BASE_URL": backend.base_url,
        "LOCAL_LLM_MODEL_QUALITY": backend.quality,
        "LOCAL_LLM_MODEL_FAST": backend.fast,
        "LOCAL_EXECUTOR_HOME": str(lex_home),
        "LOCAL_EXECUTOR_WORKSPACE": str(tmp_path_factory.mktemp("workspace")),
        "LOCAL_EXECUTOR_ALLOW_WRITE": "1",
    }
