#!/usr/bin/env python3
"""One MCP tool call over stdio, as an MCP client makes it: starts the server, initializes, calls
the tool with a progress token, prints the progress it reports on stderr and the text of the
result on stdout. Standard library only; the demo uses it for the calls that take longer than the
MCP Inspector CLI waits (60 s, whatever its config says).

    examples/mcp_call.py BINARY TOOL 'ARGUMENTS AS JSON'

The server gets this process's environment. Exit code 0, or 5 when the result is an error (as
the Inspector's CLI), 1 when the call itself failed.
"""

from __future__ import annotations

import json
import subprocess
import sys


def main() -> int:
    if len(sys.argv) != 4:
        print(__doc__, file=sys.stderr)
        return 2
    binary, tool, arguments = sys.argv[1], sys.argv[2], json.loads(sys.argv[3])
    server = subprocess.Popen([binary], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
                              encoding="utf-8")

    def send(msg: dict) -> None:
        server.stdin.write(json.dumps(msg) + "\n")
        server.stdin.flush()

    def answer_to(my_id: int) -> dict:
        for line in server.stdout:
            msg = json.loads(line)
            if msg.get("method") == "notifications/progress":
                text = msg["params"].get("message") or f"{msg['params'].get('progress')}"
                print(f"\r\033[2K    {text}", end="", file=sys.stderr, flush=True)
            elif "method" in msg and "id" in msg:  # a request of the server's: none is served here
                send({"jsonrpc": "2.0", "id": msg["id"], "error": {"code": -32601, "message": "no"}})
            elif msg.get("id") == my_id:
                print("\r\033[2K", end="", file=sys.stderr, flush=True)
                if "error" in msg:
                    raise RuntimeError(msg["error"].get("message", msg["error"]))
                return msg["result"]
        raise RuntimeError(f"the server exited (code {server.wait()})")

    try:
        send({"jsonrpc": "2.0", "id": 1, "method": "initialize",
              "params": {"protocolVersion": "2025-06-18", "capabilities": {},
                         "clientInfo": {"name": "demo", "version": "1"}}})
        answer_to(1)
        send({"jsonrpc": "2.0", "method": "notifications/initialized"})
        send({"jsonrpc": "2.0", "id": 2, "method": "tools/call",
              "params": {"name": tool, "arguments": arguments, "_meta": {"progressToken": 2}}})
        result = answer_to(2)
    except (RuntimeError, json.JSONDecodeError, BrokenPipeError) as e:
        print(f"mcp_call: {e}", file=sys.stderr)
        return 1
    finally:
        server.stdin.close()
        server.wait()
    print("".join(c.get("text", "") for c in result.get("content", [])).rstrip("\n"))
    return 5 if result.get("isError") else 0


if __name__ == "__main__":
    sys.exit(main())
