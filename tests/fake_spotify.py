"""A fake Spotify Web API on 127.0.0.1 (ephemeral port) for the Spotify controller's tests.

Only the endpoints :mod:`lib.live.spotify` uses: ``GET /v1/search``, ``GET /v1/me/player``,
``GET /v1/me/player/devices``, ``PUT /v1/me/player`` (transfer), ``PUT /v1/me/player/play``,
``PUT /v1/me/player/pause``, ``POST /v1/me/player/next``, ``POST /v1/me/player/previous``,
``PUT /v1/me/player/volume`` and the accounts service's ``POST /api/token``.

State is a small catalogue, a few devices, the active device and what plays. Fault switches:
``active_device = None`` (404 NO_ACTIVE_DEVICE), ``devices = []``, ``premium_required``
(403 PREMIUM_REQUIRED on player commands), ``rate_limit`` (that many 429s with ``Retry-After:
retry_after``), :meth:`FakeSpotify.expire_token` (401 until refreshed at ``/api/token``),
``refresh_fails`` (400 invalid_grant), ``drop_connection`` (close without answering), ``delay``
(seconds before answering). Every request is recorded in ``requests``.

    with FakeSpotify() as fake:
        sp.prefix = fake.api_prefix
        sp.auth_manager.OAUTH_TOKEN_URL = fake.token_url
"""

from __future__ import annotations

import base64
import copy
import json
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlsplit

CLIENT_ID = "fake-client-id"
CLIENT_SECRET = "fake-client-secret-5f3a"


def _artist(aid: str, name: str) -> dict[str, Any]:
    return {"id": aid, "name": name, "type": "artist", "uri": f"spotify:artist:{aid}"}


def _album(aid: str, name: str, artist: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": aid,
        "name": name,
        "type": "album",
        "uri": f"spotify:album:{aid}",
        "artists": [artist],
    }


def _track(tid: str, name: str, album: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": tid,
        "name": name,
        "type": "track",
        "uri": f"spotify:track:{tid}",
        "artists": album["artists"],
        "album": album,
        "duration_ms": 200_000,
    }


def _catalogue() -> dict[str, list[dict[str, Any]]]:
    miles, nina, beatles = (
        _artist("ar0miles", "Miles Davis"),
        _artist("ar0nina", "Nina Simone"),
        _artist("ar0beatles", "The Beatles"),
    )
    blue = _album("al0kindofblue", "Kind of Blue", miles)
    spell = _album("al0spell", "I Put a Spell on You", nina)
    help_ = _album("al0help", "Help!", beatles)
    abbey = _album("al0abbeyroad", "Abbey Road", beatles)
    tracks = [
        _track("tr0sowhat", "So What", blue),
        _track("tr0blueingreen", "Blue in Green", blue),
        _track("tr0feelinggood", "Feeling Good", spell),
        _track("tr0yesterday", "Yesterday", help_),
        _track("tr0cometogether", "Come Together", abbey),
    ]
    playlists = [
        {
            "id": "pl0chill",
            "name": "Chill Evening",
            "type": "playlist",
            "uri": "spotify:playlist:pl0chill",
            "owner": {"display_name": "heyjoe"},
            "tracks": ["tr0blueingreen", "tr0feelinggood"],
        },
        {
            "id": "pl0roadtrip",
            "name": "Road Trip",
            "type": "playlist",
            "uri": "spotify:playlist:pl0roadtrip",
            "owner": {"display_name": "heyjoe"},
            "tracks": ["tr0cometogether", "tr0sowhat"],
        },
    ]
    return {
        "track": tracks,
        "artist": [miles, nina, beatles],
        "album": [blue, spell, help_, abbey],
        "playlist": playlists,
    }


def _devices() -> list[dict[str, Any]]:
    return [
        {
            "id": "dev0laptop",
            "is_active": False,
            "is_private_session": False,
            "is_restricted": False,
            "name": "Laptop",
            "type": "Computer",
            "volume_percent": 40,
            "supports_volume": True,
        },
        {
            "id": "dev0speaker",
            "is_active": False,
            "is_private_session": False,
            "is_restricted": False,
            "name": "Kitchen speaker",
            "type": "Speaker",
            "volume_percent": 70,
            "supports_volume": True,
        },
    ]


@dataclass
class Recorded:
    """One request as the fake saw it (``query``: last value of each parameter)."""

    method: str
    path: str
    query: dict[str, str]
    body: Any
    headers: dict[str, str]


@dataclass
class FakeSpotify:
    """The fake's state and switches; :meth:`start` / :meth:`stop` (or ``with``) run it."""

    catalogue: dict[str, list[dict[str, Any]]] = field(default_factory=_catalogue)
    devices: list[dict[str, Any]] = field(default_factory=_devices)
    active_device: str | None = "dev0laptop"
    item: dict[str, Any] | None = None
    context_uri: str | None = None
    is_playing: bool = False
    # fault switches
    premium_required: bool = False
    rate_limit: int = 0
    retry_after: int = 1
    refresh_fails: bool = False
    drop_connection: bool = False
    delay: float = 0.0
    # auth
    access_token: str = "fake-access-token-0"
    refresh_token: str = "fake-refresh-token-0"
    requests: list[Recorded] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._lock = threading.RLock()
        self._issued = 0
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # -- running ------------------------------------------------------------------------------

    def start(self) -> FakeSpotify:
        fake = self

        class Handler(_Handler):
            pass

        Handler.fake = fake
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self) -> FakeSpotify:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def port(self) -> int:
        assert self._server is not None, "start the fake first"
        return self._server.server_address[1]

    @property
    def api_prefix(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1/"

    @property
    def token_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/api/token"

    # -- helpers for tests --------------------------------------------------------------------

    def expire_token(self) -> None:
        """The current access token stops working (401) until a refresh issues a new one."""
        with self._lock:
            self._issued += 1
            self.access_token = f"fake-access-token-{self._issued}-unissued"

    def token_info(self, expires_in: int = 3600, scope: str | None = None) -> dict[str, Any]:
        """A token dict as spotipy caches it, valid for the current tokens."""
        from lib.live.spotify import SCOPE

        return {
            "access_token": self.access_token,
            "token_type": "Bearer",
            "expires_in": expires_in,
            "refresh_token": self.refresh_token,
            "scope": SCOPE if scope is None else scope,
            "expires_at": int(time.time()) + expires_in,
        }

    def calls(self, method: str | None = None, path: str | None = None) -> list[Recorded]:
        """Recorded requests, filtered by method and path (``/v1/me/player/play``)."""
        with self._lock:
            return [
                r
                for r in self.requests
                if (method is None or r.method == method) and (path is None or r.path == path)
            ]

    def device(self, device_id: str) -> dict[str, Any] | None:
        return next((d for d in self.devices if d["id"] == device_id), None)

    # -- the API ------------------------------------------------------------------------------

    def handle(self, rec: Recorded) -> tuple[int, dict[str, str], Any]:
        """(status, extra headers, JSON body or None) for one request."""
        with self._lock:
            self.requests.append(rec)
            if rec.path == "/api/token" and rec.method == "POST":
                return self._token(rec)
            if not rec.path.startswith("/v1/"):
                return _error(404, "Service not found")
            if rec.headers.get("authorization") != f"Bearer {self.access_token}":
                return _error(401, "The access token expired")
            if self.rate_limit > 0:
                self.rate_limit -= 1
                status, headers, body = _error(429, "API rate limit exceeded")
                return status, {"Retry-After": str(self.retry_after)}, body
            route = (rec.method, rec.path)
            if route == ("GET", "/v1/search"):
                return self._search(rec.query)
            if route == ("GET", "/v1/me/player"):
                return self._state()
            if route == ("GET", "/v1/me/player/devices"):
                devices = [dict(d, is_active=d["id"] == self.active_device) for d in self.devices]
                return 200, {}, {"devices": devices}
            if route == ("PUT", "/v1/me/player"):
                return self._player_command(rec, self._transfer)
            player = {
                ("PUT", "/v1/me/player/play"): self._play,
                ("PUT", "/v1/me/player/pause"): self._pause,
                ("POST", "/v1/me/player/next"): self._skip(+1),
                ("POST", "/v1/me/player/previous"): self._skip(-1),
                ("PUT", "/v1/me/player/volume"): self._volume,
            }.get(route)
            if player is None:
                return _error(404, "Service not found")
            return self._player_command(rec, player, needs_device=True)

    def _token(self, rec: Recorded) -> tuple[int, dict[str, str], Any]:
        expected = base64.b64encode(f"{CLIENT_ID}:{CLIENT_SECRET}".encode()).decode()
        if rec.headers.get("authorization") != f"Basic {expected}":
            return 400, {}, {"error": "invalid_client", "error_description": "Invalid client"}
        form = rec.body if isinstance(rec.body, dict) else {}
        grant = form.get("grant_type")
        if grant == "refresh_token":
            if self.refresh_fails or form.get("refresh_token") != self.refresh_token:
                return 400, {}, {"error": "invalid_grant", "error_description": "Revoked"}
        elif grant == "authorization_code":
            if form.get("code") != "fake-auth-code":
                return 400, {}, {"error": "invalid_grant", "error_description": "Bad code"}
        else:
            return 400, {}, {"error": "unsupported_grant_type"}
        self._issued += 1
        self.access_token = f"fake-access-token-{self._issued}"
        body = {
            "access_token": self.access_token,
            "token_type": "Bearer",
            "expires_in": 3600,
            "scope": form.get("scope") or "user-read-playback-state user-modify-playback-state",
        }
        if grant == "authorization_code":
            body["refresh_token"] = self.refresh_token
        return 200, {}, body

    def _search(self, query: dict[str, str]) -> tuple[int, dict[str, str], Any]:
        kinds = [k for k in (query.get("type") or "").split(",") if k]
        if not query.get("q") or not kinds or any(k not in self.catalogue for k in kinds):
            return _error(400, "Bad search request")
        words = query["q"].lower().split()
        limit, offset = int(query.get("limit", 10)), int(query.get("offset", 0))
        out = {}
        for kind in kinds:
            hits = [
                {k: v for k, v in item.items() if k != "tracks"}
                for item in self.catalogue[kind]
                if all(w in _searchable(item) for w in words)
            ]
            out[kind + "s"] = {
                "href": "",
                "items": copy.deepcopy(hits[offset : offset + limit]),
                "limit": limit,
                "offset": offset,
                "total": len(hits),
                "next": None,
                "previous": None,
            }
        return 200, {}, out

    def _state(self) -> tuple[int, dict[str, str], Any]:
        device = self.device(self.active_device) if self.active_device else None
        if device is None:
            return 204, {}, None
        return (
            200,
            {},
            {
                "device": dict(device, is_active=True),
                "is_playing": self.is_playing,
                "item": copy.deepcopy(self.item),
                "context": {"uri": self.context_uri} if self.context_uri else None,
                "progress_ms": 0,
                "currently_playing_type": "track" if self.item else "unknown",
                "shuffle_state": False,
                "repeat_state": "off",
            },
        )

    def _player_command(
        self, rec: Recorded, action: Any, needs_device: bool = False
    ) -> tuple[int, dict[str, str], Any]:
        if self.premium_required:
            return _error(403, "Player command failed: Premium required", "PREMIUM_REQUIRED")
        if needs_device:
            wanted = rec.query.get("device_id")
            if wanted is not None:
                if self.device(wanted) is None:
                    return _error(404, "Device not found")
                self.active_device = wanted
            if self.active_device is None or self.device(self.active_device) is None:
                return _error(
                    404, "Player command failed: No active device found", "NO_ACTIVE_DEVICE"
                )
        return action(rec)

    def _transfer(self, rec: Recorded) -> tuple[int, dict[str, str], Any]:
        ids = (rec.body or {}).get("device_ids") or []
        if len(ids) != 1 or self.device(ids[0]) is None:
            return _error(404, "Device not found")
        self.active_device = ids[0]
        if (rec.body or {}).get("play"):
            self.is_playing = self.item is not None
        return 204, {}, None

    def _play(self, rec: Recorded) -> tuple[int, dict[str, str], Any]:
        body = rec.body or {}
        if "uris" in body:
            track = self._find("track", body["uris"][0])
            if track is None:
                return _error(400, "Invalid track uri")
            self.item, self.context_uri = track, None
        elif "context_uri" in body:
            uri = body["context_uri"]
            kind = uri.split(":")[1] if uri.count(":") == 2 else ""
            found = self._find(kind, uri) if kind in ("artist", "album", "playlist") else None
            if found is None:
                return _error(400, "Invalid context uri")
            self.item, self.context_uri = self._first_track(kind, found), uri
        self.is_playing = True
        return 204, {}, None

    def _pause(self, rec: Recorded) -> tuple[int, dict[str, str], Any]:
        self.is_playing = False
        return 204, {}, None

    def _skip(self, step: int) -> Any:
        def skip(rec: Recorded) -> tuple[int, dict[str, str], Any]:
            tracks = self.catalogue["track"]
            if self.item is not None:
                i = next(i for i, t in enumerate(tracks) if t["id"] == self.item["id"])
                self.item = tracks[(i + step) % len(tracks)]
                self.is_playing = True
            return 204, {}, None

        return skip

    def _volume(self, rec: Recorded) -> tuple[int, dict[str, str], Any]:
        device = self.device(self.active_device or "")
        try:
            level = int(rec.query.get("volume_percent", ""))
        except ValueError:
            return _error(400, "Invalid volume")
        if not 0 <= level <= 100:
            return _error(400, "Invalid volume")
        if not device["supports_volume"]:
            return _error(
                403,
                "Player command failed: Cannot control device volume",
                "VOLUME_CONTROL_DISALLOW",
            )
        device["volume_percent"] = level
        return 204, {}, None

    def _find(self, kind: str, uri: str) -> dict[str, Any] | None:
        return next((x for x in self.catalogue.get(kind, []) if x["uri"] == uri), None)

    def _first_track(self, kind: str, found: dict[str, Any]) -> dict[str, Any] | None:
        tracks = self.catalogue["track"]
        if kind == "playlist":
            return next((t for t in tracks if t["id"] == found["tracks"][0]), None)
        key = "album" if kind == "album" else None
        for t in tracks:
            if key and t["album"]["uri"] == found["uri"]:
                return t
            if not key and any(a["uri"] == found["uri"] for a in t["artists"]):
                return t
        return None


def _searchable(item: dict[str, Any]) -> str:
    names = [item["name"]] + [a["name"] for a in item.get("artists", [])]
    return " ".join(names).lower()


def _error(status: int, message: str, reason: str | None = None) -> tuple[int, dict, Any]:
    error: dict[str, Any] = {"status": status, "message": message}
    if reason:
        error["reason"] = reason
    return status, {}, {"error": error}


class _Handler(BaseHTTPRequestHandler):
    fake: FakeSpotify
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:  # keep test output quiet
        pass

    def _serve(self) -> None:
        url = urlsplit(self.path)
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        body: Any = None
        if raw:
            ctype = self.headers.get("Content-Type") or ""
            if "json" in ctype:
                body = json.loads(raw)
            else:
                body = dict(parse_qsl(raw.decode()))
        rec = Recorded(
            method=self.command,
            path=url.path,
            query=dict(parse_qsl(url.query)),
            body=body,
            headers={k.lower(): v for k, v in self.headers.items()},
        )
        fake = self.fake
        if fake.drop_connection:
            with fake._lock:
                fake.requests.append(rec)
            self.close_connection = True  # no answer at all: the client sees the line drop
            return
        if fake.delay:
            time.sleep(fake.delay)
        status, headers, payload = fake.handle(rec)
        data = json.dumps(payload).encode() if payload is not None else b""
        self.send_response(status)
        for k, v in headers.items():
            self.send_header(k, v)
        if data:
            self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if data:
            self.wfile.write(data)

    do_GET = do_PUT = do_POST = _serve
