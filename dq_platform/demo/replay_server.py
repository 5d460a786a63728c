"""A loopback HTTP server that replays recorded API responses (demo and tests; no network needed).

    with ReplayServer({"/api/v3/coins/markets": pages}, script=[Reply(429, headers={"Retry-After": "1"}),
                                                               Reply(500)]) as server:
        os.environ["COINGECKO_BASE_URL"] = server.url + "/api/v3"
        ...

`routes` maps a path to its pages (a list of record lists, answered by the `page` query
parameter: page 1 is the first list, pages past the end are `[]`; wrapped as `{records_key: page}`
when given), or to one body for every request. `script` replies are served first, one per request, whatever the path: rate limits,
server errors, a slow answer, a body that is not JSON. Every request is recorded with its
arrival time (monotonic), path, query and headers, so tests can assert what the client did.

Recorded CoinGecko-style `/coins/markets` responses ship with the package (`recordings/`):
`recorded_markets()` loads them.
"""

from __future__ import annotations

import http.server
import json
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

RECORDINGS = Path(__file__).parent / "recordings"
MARKETS_PATH = "/api/v3/coins/markets"


@dataclass
class Reply:
    status: int = 200
    body: object = None  # JSON-serializable, or bytes/str sent as they are
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0  # seconds before answering (a slow API, for timeouts)


@dataclass
class Seen:
    at: float  # time.monotonic() when the request arrived
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    status: int = 0  # what was answered


class ReplayServer:
    """Serves `routes` (after the scripted replies) on 127.0.0.1 from a background thread."""

    def __init__(
        self,
        routes: dict[str, object] | None = None,
        script: list[Reply] | None = None,
        page_param: str = "page",
        records_key: str | None = None,
    ):
        self.routes = dict(routes or {})
        self.script = list(script or [])
        self.page_param = page_param
        self.records_key = records_key  # pages are served as {records_key: page} (APIs that wrap their lists)
        self.requests: list[Seen] = []
        self._lock = threading.Lock()
        server = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self):  # noqa: N802
                parts = urlsplit(self.path)
                seen = Seen(
                    at=time.monotonic(),
                    path=parts.path,
                    query={k: v[-1] for k, v in parse_qs(parts.query).items()},
                    headers=dict(self.headers),
                )
                with server._lock:
                    server.requests.append(seen)
                    reply = server.script.pop(0) if server.script else None
                if reply is None:
                    reply = server._route(seen)
                if reply.delay:
                    time.sleep(reply.delay)
                body = reply.body
                if not isinstance(body, (bytes, str)):
                    body = json.dumps(body)
                data = body.encode() if isinstance(body, str) else body
                seen.status = reply.status
                try:
                    self.send_response(reply.status)
                    headers = {"Content-Type": "application/json", **reply.headers}
                    for k, v in headers.items():
                        self.send_header(k, v)
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client gave up (timeout): nothing to answer to

            def log_message(self, *args):
                pass

        self._server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, name="replay-server", daemon=True)
        self._thread.start()

    def _route(self, seen: Seen) -> Reply:
        if seen.path not in self.routes:
            return Reply(404, {"error": f"no route {seen.path}"})
        pages = self.routes[seen.path]
        if isinstance(pages, Reply):
            return pages
        if not isinstance(pages, list) or not pages or not isinstance(pages[0], list):
            return Reply(200, pages)  # one body for every request
        page = int(seen.query.get(self.page_param, "1"))
        body = pages[page - 1] if 1 <= page <= len(pages) else []
        return Reply(200, {self.records_key: body} if self.records_key else body)

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    def __enter__(self) -> ReplayServer:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def recorded_markets(snapshot: int = 1) -> list[list[dict]]:
    """The pages of a recorded `/coins/markets?vs_currency=usd&per_page=25` snapshot (1 or 2)."""
    files = sorted(RECORDINGS.glob(f"coins_markets_s{snapshot}_p*.json"))
    if not files:
        raise FileNotFoundError(f"no recorded snapshot {snapshot} under {RECORDINGS}")
    return [json.loads(f.read_text(encoding="utf-8")) for f in files]
