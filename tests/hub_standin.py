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

Dataset repos (``Hub.datasets``, filled with ``add_dataset``) answer what
``datasets.load_dataset`` 5.x and its HfFileSystem ask for (their requests
are listed in tests/test_hub_datasets.py):

- ``GET /api/datasets/{repo}[/revision/{rev}]``: ``sha``, ``siblings`` (sizes)
- ``GET /api/datasets/{repo}/tree/{rev}[/{folder}][?recursive=True]``: files and folders
- ``POST /api/datasets/{repo}/paths-info/{rev}``: the entries for ``paths``
- ``GET /api/datasets?search=``: ids containing the text, most downloaded first
- ``HEAD|GET /datasets/{repo}/resolve/{rev}/{file}``: as for models (a file in a
  folder keeps its path); a file the repo lacks is 404 ``EntryNotFound``

Failure knobs: unknown repos answer 404 (RepoNotFound); ``private`` repos 401
without the good token (404 with another account's); ``gated`` repos 401
(GatedRepo) without a token and 403 with one that was not granted
(``OTHER_TOKEN``); ``drop_once`` cuts the first GET of a file halfway;
``delay`` slows every 64 KiB chunk of the big file (to watch progress/cancel);
``hold`` sends the first half of a file, then waits until the test sets the
event (``holding`` is set meanwhile), so a cancel mid-file needs no timing.
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
OTHER_TOKEN = "hf_standin_other_token"  # a valid login that was not granted gated repos
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
    datasets: dict[str, Repo] = field(default_factory=dict)
    hold: dict[str, threading.Event] = field(default_factory=dict)  # file name: released when set
    holding: threading.Event = field(default_factory=threading.Event)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add_dataset(self, repo_id: str, files: dict[str, bytes | str], **kw) -> Repo:
        """A dataset repo: ``files`` maps paths in the repo (``data/train.jsonl``) to contents."""
        data = {name: body.encode() if isinstance(body, str) else body for name, body in files.items()}
        repo = Repo(files=data, config={}, **kw)
        self.datasets[repo_id] = repo
        return repo

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

        def _repo(self, repo_id: str, kind: str = "model") -> Repo | None:
            repo = (hub.datasets if kind == "dataset" else hub.repos).get(repo_id)
            if repo is None:
                self._error(404, "RepoNotFound", "Repository not found")
                return None
            auth = self.headers.get("Authorization")
            other = auth == f"Bearer {OTHER_TOKEN}"
            if auth and not other and not self._authorized():
                self._error(401, None, "Invalid credentials in Authorization header")
                return None
            if repo.gated and not self._authorized():
                if other:  # logged in, but access was not granted
                    self._error(
                        403,
                        "GatedRepo",
                        f"Access to {kind} {repo_id} is restricted and you are not in the authorized list",
                    )
                else:
                    self._error(401, "GatedRepo", f"Access to this {kind} is restricted")
                return None
            if repo.private and not self._authorized():
                self._error(404 if other else 401, "RepoNotFound", "Repository not found")
                return None
            return repo

        def do_POST(self):
            url = urlsplit(self.path)
            path = unquote(url.path)
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length).decode() if length else ""
            with hub.lock:
                hub.requests.append((self.command, path, dict(self.headers)))
            m = re.fullmatch(r"/api/datasets/(.+)/paths-info/([^/]+)", path)
            if not m:
                return self._error(404, None, "no such endpoint")
            repo = self._repo(m.group(1), "dataset")
            if repo is None:
                return
            form = parse_qs(body)
            wanted = form.get("paths", [])
            if not wanted and body.startswith("{"):
                wanted = json.loads(body).get("paths", [])
            entries = _entries(repo)
            self._json([entries[p.strip("/")] for p in wanted if p.strip("/") in entries])

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
                found = [self._summary(rid, r) for rid, r in hub.repos.items() if text in rid.lower() and not r.private]
                return self._json(found)
            m = re.fullmatch(r"/api/models/(.+)/revision/([^/]+)", path) or (
                None if "/tree/" in path else re.fullmatch(r"/api/models/([^/]+/[^/]+)", path)
            )
            if m:
                repo = self._repo(m.group(1))
                if repo:
                    info = self._summary(m.group(1), repo)
                    info["siblings"] = [
                        {"rfilename": n, "size": hub.claimed_sizes.get(n, len(b))} for n, b in repo.files.items()
                    ]
                    info["config"] = repo.config
                    self._json(info)
                return
            m = re.fullmatch(r"/api/models/(.+)/tree/([^/]+)", path)
            if m:
                repo = self._repo(m.group(1))
                if repo:
                    self._json(
                        [
                            {"type": "file", "path": n, "size": len(b), "oid": hashlib.sha1(b).hexdigest()}
                            for n, b in repo.files.items()
                        ]
                    )
                return
            if path == "/api/datasets":
                text = query.get("search", [""])[0].lower()
                found = sorted(
                    ((rid, r) for rid, r in hub.datasets.items() if text in rid.lower() and not r.private),
                    key=lambda item: -item[1].downloads,
                )
                return self._json(
                    [
                        {"id": rid, "downloads": r.downloads, "private": False, "gated": "manual" if r.gated else False}
                        for rid, r in found
                    ]
                )
            if path.startswith("/api/datasets/"):
                return self._dataset_api(path[len("/api/datasets/") :], query)
            m = re.fullmatch(r"/datasets/([^/]+/[^/]+)/resolve/([^/]+)/(.+)", path)
            if m:
                return self._file(m.group(1), m.group(3), "dataset")
            m = re.fullmatch(r"/(.+)/resolve/([^/]+)/(.+)", path)
            if m:
                return self._file(m.group(1), m.group(3))
            self._error(404, None, "no such endpoint")

        def _dataset_api(self, rest: str, query: dict):
            m = re.fullmatch(r"([^/]+/[^/]+)(?:/revision/([^/]+))?", rest)
            if m:
                repo = self._repo(m.group(1), "dataset")
                if repo:
                    self._json(
                        {
                            "id": m.group(1),
                            "sha": repo.sha,
                            "private": repo.private,
                            "gated": "manual" if repo.gated else False,
                            "downloads": repo.downloads,
                            "tags": [],
                            "cardData": {},
                            "siblings": [
                                {"rfilename": n, "size": hub.claimed_sizes.get(n, len(b))}
                                for n, b in repo.files.items()
                            ],
                        }
                    )
                return
            m = re.fullmatch(r"([^/]+/[^/]+)/tree/([^/]+)(?:/(.*))?", rest)
            if m:
                repo = self._repo(m.group(1), "dataset")
                if repo is None:
                    return
                folder = (m.group(3) or "").strip("/")
                recursive = query.get("recursive", ["false"])[0].lower() == "true"
                entries = _entries(repo)
                if folder and (folder not in entries or entries[folder]["type"] != "directory"):
                    return self._error(404, "EntryNotFound", f"{folder} does not exist")
                prefix = folder + "/" if folder else ""
                found = [
                    e for p, e in entries.items() if p.startswith(prefix) and (recursive or "/" not in p[len(prefix) :])
                ]
                return self._json(found)
            self._error(404, None, "no such endpoint")

        def _summary(self, repo_id: str, repo: Repo) -> dict:
            return {
                "id": repo_id,
                "modelId": repo_id,
                "sha": repo.sha,
                "downloads": repo.downloads,
                "private": repo.private,
                "gated": "manual" if repo.gated else False,
                "pipeline_tag": "text-generation",
                "tags": ["safetensors"],
                "config": {
                    k: repo.config[k] for k in ("model_type", "architectures", "quantization") if k in repo.config
                },
                "safetensors": {"parameters": {"F32": repo.parameters}, "total": repo.parameters},
            }

        def _file(self, repo_id: str, name: str, kind: str = "model"):
            try:
                self._send_file(repo_id, name, kind)
            except (BrokenPipeError, ConnectionResetError):
                pass  # the client went away (a cancelled download): nothing to report

        def _send_file(self, repo_id: str, name: str, kind: str):
            repo = self._repo(repo_id, kind)
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
            release = hub.hold.get(name)
            if release is not None and not release.is_set():
                half = len(body) // 2  # half now, the rest once the test releases it
                self.wfile.write(body[:half])
                self.wfile.flush()
                hub.holding.set()
                release.wait(30)
                body = body[half:]
            slow = hub.delay if name in hub.slow_files else 0
            for i in range(0, len(body), CHUNK):
                self.wfile.write(body[i : i + CHUNK])
                self.wfile.flush()
                if slow:
                    time.sleep(slow)

    return Handler


def _entries(repo: Repo) -> dict[str, dict]:
    """Every file and folder of a repo, as the hub's tree API lists them."""
    entries: dict[str, dict] = {}
    for name, data in repo.files.items():
        parts = name.split("/")
        for i in range(1, len(parts)):
            folder = "/".join(parts[:i])
            entries.setdefault(
                folder, {"type": "directory", "path": folder, "oid": hashlib.sha1(folder.encode()).hexdigest()}
            )
        entries[name] = {"type": "file", "path": name, "size": len(data), "oid": hashlib.sha1(data).hexdigest()}
    return entries


class StandInHub:
    """``with StandInHub() as hub:`` serves ``hub.state`` at ``hub.url``."""

    def __init__(self) -> None:
        self.state = Hub()
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self.state))
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)

    def __enter__(self) -> StandInHub:
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


# -- dataset repos -------------------------------------------------------------------

SQL_DATASET = "b-mc2/sql-create-context"  # the recipe's dataset, in its real repo layout
SQL_FILE = "sql_create_context_v4.json"  # one JSON list of {question, context, answer}
SQL_ROWS = 1500  # ~220 kB: several 64 KiB chunks, so progress and a mid-file resume are observable
SQL_CARD = (
    "---\nlicense: cc-by-4.0\ntask_categories:\n- text-generation\n- question-answering\n---\n# sql-create-context\n"
)


def sql_rows(n: int) -> list[dict]:
    return [
        {
            "question": f"How many heads of the departments are older than {i}?",
            "context": f"CREATE TABLE head (age INTEGER, dept_{i} VARCHAR)",
            "answer": f"SELECT COUNT(*) FROM head WHERE age > {i}",
        }
        for i in range(n)
    ]


@pytest.fixture
def dataset_hub(monkeypatch, tmp_path):
    """The stand-in hub serving ``SQL_DATASET`` (``SQL_ROWS`` rows), with every Hugging
    Face cache and token location in tmp_path, for the real ``datasets`` code."""
    import datasets.config as dconfig
    import huggingface_hub.constants as constants

    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.delenv("HF_TOKEN", raising=False)
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
    monkeypatch.setattr(dconfig, "HF_HUB_OFFLINE", False)
    monkeypatch.setattr(constants, "DOWNLOAD_CHUNK_SIZE", CHUNK)  # the file arrives in steps
    monkeypatch.setattr(constants, "HF_TOKEN_PATH", str(tmp_path / "hf-home" / "token"))  # no stored login
    monkeypatch.setattr(constants, "HF_STORED_TOKENS_PATH", str(tmp_path / "hf-home" / "stored_tokens"))
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf-home"))
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hf-cache"))
    monkeypatch.setenv("HF_DATASETS_CACHE", str(tmp_path / "hf-datasets"))
    with StandInHub() as server:
        # What TuneDeck points the libraries at for each load (core.data.hub_datasets), restored
        # afterwards; huggingface_hub's own default endpoint is the stand-in too, so
        # nothing (its agent registry included) can reach the real hub.
        for module, name, value in [
            (constants, "ENDPOINT", server.url),
            (constants, "HUGGINGFACE_CO_URL_TEMPLATE", server.url + "/{repo_id}/resolve/{revision}/{filename}"),
            (constants, "HF_HUB_CACHE", str(tmp_path / "hf-cache")),
            (dconfig, "HF_ENDPOINT", server.url),
            (dconfig, "HUB_DATASETS_URL", server.url + "/datasets/{repo_id}/resolve/{revision}/{path}"),
        ]:
            monkeypatch.setattr(module, name, value)
        server.state.add_dataset(SQL_DATASET, {"README.md": SQL_CARD, SQL_FILE: json.dumps(sql_rows(SQL_ROWS))})
        server.state.slow_files = (SQL_FILE,)
        yield server
        for release in server.state.hold.values():  # never leave a handler thread waiting
            release.set()
