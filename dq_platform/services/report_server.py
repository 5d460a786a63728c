"""A small static HTTP server for the run reports, beside the Dagster webserver (`dq-platform ui`).

A browser cannot open a local path from the UI's metadata, so `dq-platform ui` serves the local
warehouse's `reports/` folder (HTML/JSON/markdown reports only: quarantine extracts live in another
folder and are never served) and tells the code it starts where (DQ_REPORTS_URL), so each run's
`html` metadata is a `MetadataValue.url` that opens in one click. S3 warehouses need no server:
their links are pre-signed URLs (reports/run_report.py).
"""

from __future__ import annotations

import functools
import http.server
import threading
from pathlib import Path


class _Handler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):  # request lines would flood the UI's console
        pass

    def list_directory(self, path):  # report names are not an index for anyone on the network
        self.send_error(404, "no listing")
        return None


class ReportServer:
    """Serves `folder` read-only on host:port (port 0: a free one) from a daemon thread."""

    def __init__(self, folder: Path, host: str = "127.0.0.1", port: int = 0):
        folder.mkdir(parents=True, exist_ok=True)
        handler = functools.partial(_Handler, directory=str(folder))
        self.httpd = http.server.ThreadingHTTPServer((host, port), handler)
        self.httpd.daemon_threads = True
        self.host, self.port = host, self.httpd.server_address[1]
        self._thread = threading.Thread(target=self.httpd.serve_forever, name="dq-report-server", daemon=True)

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def __enter__(self) -> ReportServer:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
