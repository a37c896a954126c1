"""What a second box buys: N delegations at once through LiteLLM's proxy (scripts/gateway.sh,
examples/litellm.yaml) with one box behind it, then with two, and the wall time of each. A
benchmark, not a test: it prints, it asserts nothing.

    LEX_VENV=.venv .venv/bin/python tests/e2e/bench_gateway.py [--calls 6] [--max-tokens 256] [--tier fast]

Each box gets one core (LEX_N_THREADS=1): on one machine, two boxes of two threads would only
share the same two cores. Needs the release binary (cargo build --release) and the venvs that
tests/e2e/run.sh sets up.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import anyio
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent))
from support import BIN, REPO, mcp_session, result_text  # noqa: E402

TASKS = [
    "Write a Python function `add(a, b)` that returns the sum of `a` and `b`.",
    "Write a Python function `is_even(n)` that returns True when `n` is even.",
    "Write a Python function `reverse(s)` that returns the string `s` reversed.",
    "Write a Python function `maximum(xs)` that returns the largest item of the list `xs`.",
    "Write a Python function `count_vowels(s)` that returns how many vowels `s` has.",
    "Write a Python function `square_all(xs)` that returns the squares of the numbers in `xs`.",
    "Write a Python function `word_count(s)` that returns the number of words in `s`.",
    "Write a Python function `clamp(x, lo, hi)` that limits `x` to the range lo..hi.",
]
POST_RE = re.compile(r'"POST /v1/chat/completions HTTP/1\.1" 200')


def start(boxes: int, state: Path) -> dict[str, str]:
    env = {**os.environ, "LEX_GATEWAY_STATE": str(state), "LEX_GATEWAY_BOXES": str(boxes), "LEX_N_THREADS": "1"}
    p = subprocess.run(["bash", str(REPO / "scripts" / "gateway.sh"), "start"], env=env, capture_output=True,
                       text=True, stdin=subprocess.DEVNULL, timeout=600)
    if p.returncode != 0:
        sys.exit(f"scripts/gateway.sh start failed:\n{p.stderr[-3000:]}")
    return dict(re.findall(r"^export ([A-Z0-9_]+)=(.*)$", p.stdout, re.M))


def stop(state: Path) -> None:
    subprocess.run(["bash", str(REPO / "scripts" / "gateway.sh"), "stop"], capture_output=True,
                   env={**os.environ, "LEX_GATEWAY_STATE": str(state)}, stdin=subprocess.DEVNULL, timeout=600)


async def burst(env: dict[str, str], calls: int, max_tokens: int, tier: str) -> tuple[float, list[str]]:
    outcomes: list[str] = []

    async def one(i: int) -> None:
        with open(os.devnull, "w") as errlog:
            async with mcp_session(BIN, env, "bench-gateway", errlog) as s:
                r = await s.call_tool("delegate_code", {"task": TASKS[i % len(TASKS)], "max_tokens": max_tokens, "tier": tier})
        text = result_text(r)
        outcomes.append(text.splitlines()[0][:60] if r.is_error else "ok")

    t0 = time.monotonic()
    async with anyio.create_task_group() as tg:
        for i in range(calls):
            tg.start_soon(one, i)
    return time.monotonic() - t0, outcomes


async def esc(env: dict[str, str], box_url: str, box_model: str) -> tuple[float, float]:
    """Cancels a 2,000-token generation at its first generated tokens, then times a 4-token
    request sent straight to the box: it is answered once the box has stopped the cancelled
    generation (the box runs one generation at a time). Returns (that time, the box's tokens per
    second on a 100-token request, to price the generation the cancel saved)."""
    import http.client
    from urllib.parse import urlsplit

    def direct(max_tokens: int) -> float:
        u = urlsplit(box_url)
        t = time.monotonic()
        c = http.client.HTTPConnection(u.hostname, u.port, timeout=600)
        c.request("POST", f"{u.path}/chat/completions", json.dumps(
            {"model": box_model, "max_tokens": max_tokens, "messages": [{"role": "user", "content": "Say hi."}]}),
            {"Content-Type": "application/json"})
        c.getresponse().read()
        return time.monotonic() - t

    rate = 100 / await anyio.to_thread.run_sync(direct, 100)
    seen: list[tuple[float, int]] = []
    with open(os.devnull, "w") as errlog:
        async with mcp_session(BIN, env, "bench-gateway", errlog) as s:
            t0 = time.monotonic()
            with anyio.CancelScope() as scope:

                async def on_progress(progress, total, message):
                    m = re.search(r"\b(\d+) tokens\b", message or "")
                    if m and int(m[1]) > 0:
                        seen.append((time.monotonic() - t0, int(m[1])))
                        scope.cancel()

                await s.call_tool("delegate_code", {"task": TASKS[0] + " Then write twenty more.", "tier": "fast",
                                                    "max_tokens": 2000}, progress_callback=on_progress)

    assert seen, "no progress with tokens"
    after = await anyio.to_thread.run_sync(direct, 4)
    return after, rate


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--calls", type=int, default=6)
    ap.add_argument("--max-tokens", type=int, default=256)
    # fast: the rambling model writes exactly max_tokens every call (it ends `truncated`), a fixed
    # amount of work per call; quality: short real functions.
    ap.add_argument("--tier", choices=("quality", "fast"), default="quality")
    args = ap.parse_args()
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        for boxes in (1, 2):
            state = Path(tmp) / f"gateway-{boxes}"
            exports = start(boxes, state)
            try:
                env = {k: exports[k] for k in ("LOCAL_LLM_BASE_URL", "LOCAL_LLM_API_KEY",
                                               "LOCAL_LLM_MODEL_QUALITY", "LOCAL_LLM_MODEL_FAST")}
                env.update(LOCAL_LLM_TEMPERATURE="0", LOCAL_EXECUTOR_HOME=str(Path(tmp) / "home"))
                logs = [Path(v) for k, v in exports.items() if re.fullmatch(r"LEX_BOX\d_LOG", k)]
                anyio.run(burst, env, 1, args.max_tokens, args.tier)  # warm-up: the first call pays for loading
                warm = [len(POST_RE.findall(p.read_text())) for p in logs]
                wall, outcomes = anyio.run(burst, env, args.calls, args.max_tokens, args.tier)
                after = [len(POST_RE.findall(p.read_text())) for p in logs]
                spread = [a - w for a, w in zip(after, warm)]
                results.append((boxes, wall, outcomes, spread))
                print(f"{boxes} box(es): {args.calls} delegations at once in {wall:.1f} s; "
                      f"requests per box {spread}; outcomes {sorted(set(outcomes))}", flush=True)
                if boxes == 1:
                    config = yaml.safe_load((state / "litellm.yaml").read_text())
                    fast = next(e["litellm_params"]["model"].removeprefix("openai/") for e in config["model_list"]
                                if e["model_name"] == env["LOCAL_LLM_MODEL_FAST"])
                    after, rate = anyio.run(esc, env, exports["LEX_BOX1_URL"], fast)
                    print(f"Esc through the gateway: the box answered a request sent straight to it {after:.1f} s "
                          f"after the cancel; the 2,000-token generation would have run ~{2000 / rate:.0f} s more "
                          f"at {rate:.0f} tokens/s", flush=True)
            finally:
                stop(state)
    (_, one, *_), (_, two, *_) = results
    print(f"\n{args.calls} delegations at once ({args.tier} tier, max_tokens {args.max_tokens}): "
          f"one box {one:.1f} s, two boxes {two:.1f} s ({one / two:.2f}x)")


if __name__ == "__main__":
    main()
