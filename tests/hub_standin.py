"""A small stand-in for the Hugging Face hub, served on 127.0.0.1 for tests.

It implements what huggingface_hub 2.x's ``snapshot_download``, ``model_info``,
``list_models`` and ``whoami`` actually request (see file_download.py,
_snapshot_download.py and hf_api.py):

- ``GET /api/models/{repo}[/revision/{rev}]``: model info with ``sha`` and ``siblings``
- ``GET /api/models/{repo}/tree/{rev}``: the file list (one page, no Link header)
- ``HEAD|GET /{repo}/resolve/{rev}/{file}``: ``ETag``, ``X-Repo-Commit``,
  ``Content-Length``; ``Range: bytes=N-`` answers 206 (how a dropped
  download resumes). No xet headers, so plain HTTP is used.
- ``GET /api/models?search=``: search results with config and safetensors sizes
- ``GET /api/whoami-v2``: the account behind ``Authorization: Bearer <token>``

Failure knobs: unknown repos answer 404 (RepoNotFound); ``private`` repos 401
without the good token; ``drop_once`` cuts the first GET of a file halfway;
``delay`` slows every 64 KiB chunk of the big file (to watch progress/cancel).
"""

from __future__ import annotations

import hashlib
import json
import re
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, unquote, urlsplit

import pytest

GOOD_TOKEN = "hf_standin_good_token"
REPO = "tunedeck/demo-remote"  # what the ``hub`` fixture serves: the demo model's files
WEIGHTS = "model.safetensors"
USER = "standin-user"
CHUNK = 64 * 1024


@dataclass
class Repo:
    files: dict[str, bytes]
    config: dict
    sha: str = "0123456789abcdef0123456789abcdef01234567"
    private: bool = False
    gated: bool = False
    downloads: int = 0
    parameters: int = 0


@dataclass
class Hub:
    repos: dict[str, Repo] = field(default_factory=dict)
    requests: list[tuple[str, str, dict]] = field(default_factory=list)
    drop_once: set[str] = field(default_factory=set)
    delay: float = 0.0
    slow_files: tuple[str, ...] = ("model.safetensors",)
    claimed_sizes: dict[str, int] = field(default_factory=dict)  # sizes the model info claims
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add_folder(self, repo_id: str, folder: str | Path, **kw) -> Repo:
        folder = Path(folder)
        files = {p.name: p.read_bytes() for p in sorted(folder.iterdir()) if p.is_file()}
        config = json.loads(files["config.json"])
        repo = Repo(files=files, config=config, **kw)
        self.repos[repo_id] = repo
        return repo

    def gets(self, suffix: str) -> list[dict]:
        """Headers of each GET of a resolve URL ending with ``suffix``."""
        return [h for m, p, h in self.requests if m == "GET" and "/resolve/" in p and p.endswith(suffix)]


def _handler(hub: Hub):
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args):  # keep test output quiet
            pass

        def _json(self, data, status=200, headers=None):
            body = json.dumps(data).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            for k, v in (headers or {}).items():
                self.send_header(k, v)
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(body)

        def _error(self, status, code=None, message=None):
            headers = {}
            if code:
                headers["X-Error-Code"] = code
            if message:
                headers["X-Error-Message"] = message
            self._json({"error": message or code or "error"}, status, headers)

        def _authorized(self) -> bool:
            return self.headers.get("Authorization") == f"Bearer {GOOD_TOKEN}"

        def _repo(self, repo_id: str) -> Repo | None:
            repo = hub.repos.get(repo_id)
            if repo is None:
                self._error(404, "RepoNotFound", "Repository not found")
                return None
            auth = self.headers.get("Authorization")
            if auth and not self._authorized():
                self._error(401, None, "Invalid credentials in Authorization header")
                return None
            if repo.gated and not self._authorized():
                self._error(401, "GatedRepo", "Access to this model is restricted")
                return None
            if repo.private and not self._authorized():
                self._error(401, "RepoNotFound", "Repository not found")
                return None
            return repo

        def do_HEAD(self):
            self.do_GET()

        def do_GET(self):
            url = urlsplit(self.path)
            path = unquote(url.path)
            with hub.lock:
                hub.requests.append((self.command, path, dict(self.headers)))
            query = parse_qs(url.query)
            if path == "/api/whoami-v2":
                if self._authorized():
                    return self._json({"type": "user", "name": USER})
                return self._error(401, None, "Invalid credentials in Authorization header")
            if path == "/api/models":
                text = query.get("search", [""])[0].lower()
                found = [self._summary(rid, r) for rid, r in hub.repos.items()
                         if text in rid.lower() and not r.private]
                return self._json(found)
            m = (re.fullmatch(r"/api/models/(.+)/revision/([^/]+)", path)
                 or (None if "/tree/" in path else re.fullmatch(r"/api/models/([^/]+/[^/]+)", path)))
            if m:
                repo = self._repo(m.group(1))
                if repo:
                    info = self._summary(m.group(1), repo)
                    info["siblings"] = [{"rfilename": n, "size": hub.claimed_sizes.get(n, len(b))}
                                        for n, b in repo.files.items()]
                    info["config"] = repo.config
                    self._json(info)
                return
            m = re.fullmatch(r"/api/models/(.+)/tree/([^/]+)", path)
            if m:
                repo = self._repo(m.group(1))
                if repo:
                    self._json([{"type": "file", "path": n, "size": len(b),
                                 "oid": hashlib.sha1(b).hexdigest()} for n, b in repo.files.items()])
                return
            m = re.fullmatch(r"/(.+)/resolve/([^/]+)/(.+)", path)
            if m:
                return self._file(m.group(1), m.group(3))
            self._error(404, None, "no such endpoint")

        def _summary(self, repo_id: str, repo: Repo) -> dict:
            return {"id": repo_id, "modelId": repo_id, "sha": repo.sha, "downloads": repo.downloads,
                    "private": repo.private, "gated": "manual" if repo.gated else False,
                    "pipeline_tag": "text-generation", "tags": ["safetensors"],
                    "config": {k: repo.config[k] for k in ("model_type", "architectures", "quantization")
                               if k in repo.config},
                    "safetensors": {"parameters": {"F32": repo.parameters}, "total": repo.parameters}}

        def _file(self, repo_id: str, name: str):
            repo = self._repo(repo_id)
            if repo is None:
                return
            if name not in repo.files:
                return self._error(404, "EntryNotFound", "Entry not found")
            data = repo.files[name]
            start = 0
            rng = self.headers.get("Range")
            if rng and self.command == "GET":
                start = int(re.match(r"bytes=(\d+)-", rng).group(1))
            self.send_response(206 if start else 200)
            self.send_header("ETag", f'"{hashlib.sha256(data).hexdigest()}"')
            self.send_header("X-Repo-Commit", repo.sha)
            self.send_header("Accept-Ranges", "bytes")
            self.send_header("Content-Length", str(len(data) - start))
            if start:
                self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
            self.end_headers()
            if self.command == "HEAD":
                return
            body = data[start:]
            with hub.lock:
                drop = name in hub.drop_once
                hub.drop_once.discard(name)
            if drop:  # send half, then hang up: the client must resume with Range
                self.wfile.write(body[: len(body) // 2])
                self.wfile.flush()
                self.close_connection = True
                return
            slow = hub.delay if name in hub.slow_files else 0
            for i in range(0, len(body), CHUNK):
                self.wfile.write(body[i:i + CHUNK])
                self.wfile.flush()
                if slow:
                    time.sleep(slow)

    return Handler


class StandInHub:
    """``with StandInHub() as hub:`` serves ``hub.state`` at ``hub.url``."""

    def __init__(self) -> None:
        self.state = Hub()
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self.state))
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05},
                                       daemon=True)

    def __enter__(self) -> "StandInHub":
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def hub(demo_model, monkeypatch, tmp_path):
    import huggingface_hub.constants as constants

    # conftest turns the hub off for every test; tests using this fixture talk to 127.0.0.1 only.
    # huggingface_hub read HF_HUB_OFFLINE into a constant at import, hence both.
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
    # 64 KiB chunks (not 10 MB): the 0.7 MB demo weights then arrive in steps,
    # so progress and a mid-file resume are observable.
    monkeypatch.setattr(constants, "DOWNLOAD_CHUNK_SIZE", 64 * 1024)
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hf-cache"))
    monkeypatch.delenv("HF_TOKEN", raising=False)
    with StandInHub() as server:
        server.state.add_folder(REPO, demo_model, parameters=164_416, downloads=42)
        yield server


