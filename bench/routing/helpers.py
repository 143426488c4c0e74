"""Pieces shared by the routing benchmarks (bench/routing/run.py and one module per
benchmark): constants, formatting, a streamed chat request read event by event."""
import http.client
import json
import os
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))

TARGET_BATCH_RATIO = 3.0
TARGET_ADDED_P99_MS = 1.0


# ---- small helpers ----------------------------------------------------------

def delta_stats(after, before, key="requests"):
    return after.get(key, 0) - before.get(key, 0)


def fmt(x, spec=".1f", none="-"):
    return none if x is None else format(x, spec)


def to_ms(seconds):
    return None if seconds is None else seconds * 1000


def ratio(a, b):
    if a is None or b is None or b == 0:
        return None
    return a / b


def stream_chat(port, body, timeout=120, headers=None, keep_raw=False):
    """POSTs a streaming /v1/chat/completions; returns status, headers, time to the first
    content delta and to the end (s, from just before the request was sent), the
    concatenated content, whether [DONE] arrived, and optionally the raw body."""
    out = {"status": None, "headers": {}, "ttft_s": None, "total_s": None, "content": "", "done": False,
           "error": None}
    raw = bytearray()
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    t0 = time.perf_counter()
    try:
        h = {"Content-Type": "application/json"}
        h.update(headers or {})
        c.request("POST", "/v1/chat/completions", body=json.dumps(body).encode(), headers=h)
        r = c.getresponse()
        out["status"] = r.status
        out["headers"] = {k.lower(): v for k, v in r.getheaders()}
        buf = b""
        parts = []
        while True:
            chunk = r.read1(65536)
            if not chunk:
                break
            raw += chunk
            buf += chunk
            while b"\n\n" in buf:
                event, buf = buf.split(b"\n\n", 1)
                for line in event.split(b"\n"):
                    if not line.startswith(b"data:"):
                        continue
                    data = line[5:].strip()
                    if data == b"[DONE]":
                        out["done"] = True
                        continue
                    try:
                        j = json.loads(data)
                    except ValueError:
                        continue
                    if "error" in j:
                        out["error"] = j["error"]
                    for ch in j.get("choices") or []:
                        piece = (ch.get("delta") or {}).get("content")
                        if piece:
                            if out["ttft_s"] is None:
                                out["ttft_s"] = time.perf_counter() - t0
                            parts.append(piece)
        out["content"] = "".join(parts)
    except (OSError, http.client.HTTPException) as e:
        out["error"] = f"{type(e).__name__}: {e}"
    finally:
        out["total_s"] = time.perf_counter() - t0
        c.close()
    if keep_raw:
        out["raw"] = bytes(raw)
    return out
