"""Spotify music controller: :class:`SpotifyController` plays, pauses, skips and sets the volume
through the Spotify Web API (via spotipy, imported only when a controller is built).

Credentials come from the standard spotipy environment variables ``SPOTIPY_CLIENT_ID``,
``SPOTIPY_CLIENT_SECRET`` and ``SPOTIPY_REDIRECT_URI``. The OAuth token is cached in
:func:`token_cache_path` (``$HEYJOE_SPOTIFY_CACHE``, else
``$XDG_CONFIG_HOME/heyjoe/spotify-token.json``, else ``~/.config/heyjoe/spotify-token.json``),
written atomically with mode 0600. :func:`login` runs the one-time browser login; the controller
itself never prompts — without a usable token it answers "please log in".

Every fault (nothing found, no device, Premium needed, rate limit, expired login, network loss)
becomes ``Outcome(False, message)`` with a message fit to be spoken; :meth:`execute` never
raises for them. Token and secret values are never logged: a filter on spotipy's loggers redacts
the ``Authorization`` headers and token fields its debug messages would otherwise contain.
"""

from __future__ import annotations

import contextlib
import functools
import json
import logging
import os
import re
import secrets
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from lib.errors import ConfigError, HeyJoeError
from lib.live.commands import Command
from lib.live.music import Outcome

if TYPE_CHECKING:
    import spotipy
    from spotipy.cache_handler import CacheHandler

log = logging.getLogger(__name__)

ENV_VARS = ("SPOTIPY_CLIENT_ID", "SPOTIPY_CLIENT_SECRET", "SPOTIPY_REDIRECT_URI")
CACHE_ENV = "HEYJOE_SPOTIFY_CACHE"
SCOPE = "user-read-playback-state user-modify-playback-state"
KINDS = ("track", "artist", "album", "playlist")

MSG_NOT_FOUND = "I couldn't find {what} on Spotify."
MSG_NO_DEVICE = (
    "I can't find a Spotify device to play on. Open Spotify on a phone, computer or speaker "
    "and try again."
)
MSG_PREMIUM = "Spotify Premium is needed to control playback."
MSG_RATE_LIMIT = "Spotify is getting too many requests right now. Try again in a little while."
MSG_LOGIN = "My Spotify login has expired. Please log in to Spotify again."
MSG_NOT_LOGGED_IN = "I'm not logged in to Spotify yet. Please log in to Spotify first."
MSG_BAD_CLIENT = (
    "Spotify rejected this app's credentials. Check SPOTIPY_CLIENT_ID and SPOTIPY_CLIENT_SECRET."
)
MSG_UNREACHABLE = "Spotify can't be reached right now. Check the internet connection."
MSG_NO_VOLUME = "This Spotify device doesn't let me change the volume."
MSG_REFUSED = "Spotify refused that request."
MSG_ERROR = "Spotify ran into a problem. Try again in a moment."
MSG_UNKNOWN = "Sorry, I didn't understand that."


class SpotifyLoginRequired(HeyJoeError):
    """No usable Spotify token: the user has to run the browser login (:func:`login`)."""


class _NoDevice(Exception):
    """No Spotify Connect device is available to play on."""


# ---------------------------------------------------------------------------------------------
# token cache


def token_cache_path() -> Path:
    """Where the OAuth token lives: ``$HEYJOE_SPOTIFY_CACHE``, else the user's config folder."""
    value = os.environ.get(CACHE_ENV)
    if value:
        return Path(value).expanduser()
    base = os.environ.get("XDG_CONFIG_HOME") or "~/.config"
    return Path(base).expanduser() / "heyjoe" / "spotify-token.json"


def read_token(path: str | os.PathLike) -> dict[str, Any] | None:
    """The cached token dict, or None when missing or unreadable. A cache file readable by
    others is first tightened to mode 0600."""
    path = Path(path)
    try:
        mode = path.stat().st_mode
    except FileNotFoundError:
        log.debug("no Spotify token cache at %s", path)
        return None
    if mode & 0o077:
        os.chmod(path, 0o600)
        log.warning("Spotify token cache %s was readable by others; set its mode to 0600", path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        log.warning("can't read the Spotify token cache %s; log in again", path)
        return None
    return data if isinstance(data, dict) else None


def write_token(path: str | os.PathLike, token_info: dict[str, Any]) -> Path:
    """Write the token dict atomically (temporary file beside it, then rename) with mode 0600;
    the file is never readable by others, not even for a moment."""
    path = Path(path)
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        if hasattr(os, "fchmod"):
            os.fchmod(fd, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            json.dump(token_info, fh)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    return path


_TOKEN_KEYS = ("access_token", "refresh_token", "expires_at")


@functools.cache
def _cache_handler_class() -> type:
    from spotipy.cache_handler import CacheHandler

    class PrivateFileCache(CacheHandler):
        """spotipy cache handler: :func:`read_token` / :func:`write_token` (mode 0600, atomic)."""

        def __init__(self, path: str | os.PathLike) -> None:
            self.path = Path(path)

        def get_cached_token(self) -> dict[str, Any] | None:
            token = read_token(self.path)
            if token is not None and not all(k in token for k in _TOKEN_KEYS):
                log.warning("the Spotify token cache %s is incomplete; log in again", self.path)
                return None
            return token

        def save_token_to_cache(self, token_info: dict[str, Any]) -> None:
            try:
                write_token(self.path, token_info)
            except OSError as exc:
                log.warning("couldn't write the Spotify token cache %s: %s", self.path, exc)

    return PrivateFileCache


def token_cache_handler(path: str | os.PathLike | None = None) -> CacheHandler:
    """A spotipy ``CacheHandler`` keeping the token in ``path`` (default
    :func:`token_cache_path`) with mode 0600, written atomically."""
    return _cache_handler_class()(path if path is not None else token_cache_path())


# ---------------------------------------------------------------------------------------------
# never log secrets

_SECRET_KEYS = "access_token|refresh_token|client_secret|code"
_REDACTIONS = (
    (re.compile(r"\b(Bearer|Basic)\s+[^\s'\",}]+"), r"\1 <redacted>"),
    (  # dict / JSON fields: 'refresh_token': '...'
        re.compile(rf"""(['"])({_SECRET_KEYS})\1\s*:\s*(['"])[^'"]*\3"""),
        r"\1\2\1: \3<redacted>\3",
    ),
    (re.compile(rf"(?<![\w])({_SECRET_KEYS})=[^&\s'\"]+"), r"\1=<redacted>"),  # query strings
)


class _RedactSecrets(logging.Filter):
    """Strip tokens and client credentials from spotipy's (debug) log messages."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            text = record.getMessage()
        except Exception:  # a malformed record: leave it to logging's own error handling
            return True
        clean = text
        for pattern, repl in _REDACTIONS:
            clean = pattern.sub(repl, clean)
        if clean != text:
            record.msg, record.args = clean, ()
        return True


def _install_redaction() -> None:
    for name in ("spotipy", "spotipy.client", "spotipy.oauth2", "spotipy.util"):
        logger = logging.getLogger(name)
        if not any(isinstance(f, _RedactSecrets) for f in logger.filters):
            logger.addFilter(_RedactSecrets())


# ---------------------------------------------------------------------------------------------
# building a client


@functools.cache
def _oauth_class() -> type:
    from spotipy.oauth2 import SpotifyOAuth

    class HeyJoeOAuth(SpotifyOAuth):
        """SpotifyOAuth that never prompts unless ``interactive``: a missing or unusable token
        raises :class:`SpotifyLoginRequired` instead of waiting for a browser."""

        interactive = False

        def get_auth_response(self, open_browser: bool | None = None) -> str:
            if not self.interactive:
                raise SpotifyLoginRequired(MSG_NOT_LOGGED_IN)
            return super().get_auth_response(open_browser)

    return HeyJoeOAuth


def _credentials() -> tuple[str, str, str]:
    missing = [name for name in ENV_VARS if not os.environ.get(name)]
    if missing:
        raise ConfigError(
            "Spotify credentials missing: set "
            + ", ".join(missing)
            + " (all of SPOTIPY_CLIENT_ID, SPOTIPY_CLIENT_SECRET and SPOTIPY_REDIRECT_URI are "
            "needed; create an app at https://developer.spotify.com/dashboard)"
        )
    cid, secret, redirect = (os.environ[name] for name in ENV_VARS)
    return cid, secret, redirect


def build_client(
    *,
    cache_path: str | os.PathLike | None = None,
    interactive: bool = False,
    requests_timeout: float = 5.0,
) -> spotipy.Spotify:
    """A ``spotipy.Spotify`` client authorised from the environment (see module docstring).

    spotipy's own urllib3 retries are off (a plain ``requests.Session``): with them on, a 429
    is retried blindly and, once exhausted, surfaces without its ``Retry-After`` header. The
    controller decides about retries itself. Raises :class:`ConfigError` when the credentials
    are missing.
    """
    try:
        import requests
        import spotipy
    except ImportError as exc:
        raise ConfigError(
            f"the Spotify controller needs spotipy ({exc.name} is missing): pip install spotipy"
        ) from exc

    cid, secret, redirect = _credentials()
    _install_redaction()
    auth = _oauth_class()(
        client_id=cid,
        client_secret=secret,
        redirect_uri=redirect,
        scope=SCOPE,
        cache_handler=token_cache_handler(cache_path),
        requests_session=requests.Session(),
        requests_timeout=requests_timeout,
        open_browser=interactive,
    )
    auth.interactive = interactive
    return spotipy.Spotify(
        auth_manager=auth,
        requests_session=requests.Session(),
        requests_timeout=requests_timeout,
        retries=0,
        status_retries=0,
    )


def login(*, cache_path: str | os.PathLike | None = None, open_browser: bool = True) -> Path:
    """The one-time interactive login (browser, then paste the redirect URL if needed); caches
    the token and returns the cache path. Nothing happens when a usable token is cached."""
    sp = build_client(cache_path=cache_path, interactive=True)
    sp.auth_manager.open_browser = open_browser
    sp.auth_manager.get_access_token(as_dict=False)
    path = Path(cache_path) if cache_path is not None else token_cache_path()
    log.info("logged in to Spotify; token cached in %s", path)
    return path


# ---------------------------------------------------------------------------------------------
# the controller


def _retry_after(headers: Any) -> float | None:
    try:
        value = (headers or {}).get("Retry-After")
        return float(value) if value is not None else None
    except (TypeError, ValueError):
        return None


def _artists(item: dict[str, Any]) -> str:
    names = [a.get("name") for a in item.get("artists") or [] if a and a.get("name")]
    if not names and item.get("show"):
        names = [item["show"].get("name") or ""]
    if len(names) > 1:
        return ", ".join(names[:-1]) + " and " + names[-1]
    return names[0] if names else ""


def _describe(item: dict[str, Any]) -> str:
    name = item.get("name") or "something"
    by = _artists(item)
    return f"{name} by {by}" if by else name


class SpotifyController:
    """Controls the user's Spotify playback; ``execute(command) -> Outcome``.

    ``client``: a prebuilt ``spotipy.Spotify`` (tests point its ``prefix`` at a fake server);
    without one, :func:`build_client` makes one from the environment (:class:`ConfigError` when
    credentials are missing). ``max_retry_after``: a rate-limited request is retried once when
    Spotify's ``Retry-After`` is at most this many seconds. ``sleep`` is injectable for tests.
    """

    name = "spotify"

    def __init__(
        self,
        client: spotipy.Spotify | None = None,
        *,
        volume_step: int = 10,
        max_retry_after: float = 2.0,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        _install_redaction()
        self.sp = client if client is not None else build_client()
        self.volume_step = volume_step
        self.max_retry_after = max_retry_after
        self.sleep = sleep

    @classmethod
    def from_env(
        cls,
        *,
        cache_path: str | os.PathLike | None = None,
        requests_timeout: float = 5.0,
        **kwargs: Any,
    ) -> SpotifyController:
        """A controller with a client from :func:`build_client` (never prompts for login)."""
        client = build_client(cache_path=cache_path, requests_timeout=requests_timeout)
        return cls(client, **kwargs)

    # -- the commands ------------------------------------------------------------------------

    def execute(self, cmd: Command) -> Outcome:
        handler = getattr(self, f"_do_{cmd.action}", None)
        if cmd.action == "unknown" or handler is None:
            return Outcome(False, MSG_UNKNOWN)
        try:
            out = handler(cmd)
        except Exception as exc:  # every fault becomes a spoken message
            message = self._fault_message(exc)
            if message is None:
                raise
            log.warning("spotify %s failed: %s", cmd.action, message)
            return Outcome(False, message)
        log.info("spotify: %s", out.message)
        return out

    def _do_play(self, cmd: Command) -> Outcome:
        if not cmd.query:
            return self._do_resume(cmd)
        kind = cmd.kind if cmd.kind in KINDS else "track"
        found = self._call(self.sp.search, q=cmd.query, type=kind, limit=1)
        items = [i for i in ((found or {}).get(kind + "s") or {}).get("items") or [] if i]
        if not items:
            what = f"the {kind} {cmd.query}" if cmd.kind else cmd.query
            return Outcome(False, MSG_NOT_FOUND.format(what=what))
        item = items[0]
        if kind == "track":
            self._call(self.sp.start_playback, uris=[item["uri"]], player=True)
            return Outcome(True, f"playing {_describe(item)}")
        self._call(self.sp.start_playback, context_uri=item["uri"], player=True)
        if kind == "artist":
            return Outcome(True, f"playing music by {item.get('name')}")
        return Outcome(True, f"playing the {kind} {_describe(item)}")

    def _do_pause(self, cmd: Command) -> Outcome:
        self._call(self.sp.pause_playback, player=True)
        return Outcome(True, "paused the music")

    def _do_resume(self, cmd: Command) -> Outcome:
        self._call(self.sp.start_playback, player=True)
        return Outcome(True, "resumed the music")

    def _do_next(self, cmd: Command) -> Outcome:
        self._call(self.sp.next_track, player=True)
        return Outcome(True, "skipped to the next track")

    def _do_previous(self, cmd: Command) -> Outcome:
        self._call(self.sp.previous_track, player=True)
        return Outcome(True, "back to the previous track")

    def _do_volume_up(self, cmd: Command) -> Outcome:
        return self._step_volume(cmd, +1)

    def _do_volume_down(self, cmd: Command) -> Outcome:
        return self._step_volume(cmd, -1)

    def _step_volume(self, cmd: Command, sign: int) -> Outcome:
        state = self._call(self.sp.current_playback)
        device = (state or {}).get("device")
        device_id = None
        if not device:  # nothing active: wake a device and start from its volume
            device = self._activate_device()
            device_id = device["id"]
        current = device.get("volume_percent")
        if current is None:
            return Outcome(False, MSG_NO_VOLUME)
        level = max(0, min(100, int(current) + sign * self.volume_step * (cmd.value or 1)))
        return self._set_volume(level, device_id)

    def _do_volume_set(self, cmd: Command) -> Outcome:
        return self._set_volume(max(0, min(100, int(cmd.value or 0))), None)

    def _set_volume(self, level: int, device_id: str | None) -> Outcome:
        self._call(self.sp.volume, level, device_id=device_id, player=True)
        return Outcome(True, f"volume set to {level}%")

    def _do_now_playing(self, cmd: Command) -> Outcome:
        state = self._call(self.sp.current_playback)
        item = (state or {}).get("item")
        if not item:
            return Outcome(True, "nothing is playing")
        if not state.get("is_playing"):
            return Outcome(True, f"nothing is playing; {_describe(item)} is paused")
        return Outcome(True, f"now playing: {_describe(item)}")

    # -- calls, retries and faults -----------------------------------------------------------

    def _call(self, fn: Callable[..., Any], *args: Any, player: bool = False, **kw: Any) -> Any:
        """``fn(*args, **kw)``, retried once each after refreshing an expired token, after a
        short ``Retry-After``, and (``player`` commands) after moving playback to a device."""
        from spotipy.exceptions import SpotifyException

        refreshed = waited = moved = False
        while True:
            try:
                return fn(*args, **kw)
            except SpotifyException as exc:
                status = exc.http_status
                if status == 401 and not refreshed:
                    log.info("spotify: access token rejected; refreshing it")
                    self._refresh_token()
                    refreshed = True
                    continue
                if status == 429 and not waited:
                    wait = _retry_after(exc.headers)
                    if wait is not None and 0 <= wait <= self.max_retry_after:
                        log.info("spotify: rate limited; retrying in %.1f s", wait)
                        self.sleep(wait)
                        waited = True
                        continue
                if player and not moved and _no_active_device(exc):
                    kw["device_id"] = self._activate_device()["id"]
                    moved = True
                    continue
                raise

    def _activate_device(self) -> dict[str, Any]:
        """Move playback (paused) to the active or else first usable device; return it."""
        devices = (self._call(self.sp.devices) or {}).get("devices") or []
        usable = [d for d in devices if d and d.get("id") and not d.get("is_restricted")]
        if not usable:
            raise _NoDevice
        device = next((d for d in usable if d.get("is_active")), usable[0])
        self._call(self.sp.transfer_playback, device["id"], force_play=False)
        log.info("spotify: playback moved to device %r", device.get("name"))
        return device

    def _refresh_token(self) -> None:
        auth = getattr(self.sp, "auth_manager", None)
        cache = getattr(auth, "cache_handler", None)
        if auth is None or cache is None or not hasattr(auth, "refresh_access_token"):
            raise SpotifyLoginRequired(MSG_LOGIN)
        token = cache.get_cached_token() or {}
        if not token.get("refresh_token"):
            raise SpotifyLoginRequired(MSG_NOT_LOGGED_IN)
        auth.refresh_access_token(token["refresh_token"])

    @staticmethod
    def _fault_message(exc: Exception) -> str | None:
        """The spoken message for a fault, or None for a bug (which should propagate)."""
        import requests
        from spotipy.exceptions import SpotifyException, SpotifyOauthError

        if isinstance(exc, _NoDevice):
            return MSG_NO_DEVICE
        if isinstance(exc, SpotifyLoginRequired):
            return str(exc) or MSG_LOGIN
        if isinstance(exc, SpotifyOauthError):
            if getattr(exc, "error", None) == "invalid_client":
                return MSG_BAD_CLIENT
            return MSG_LOGIN
        if isinstance(exc, requests.exceptions.RequestException):
            return MSG_UNREACHABLE
        if isinstance(exc, SpotifyException):
            status, reason = exc.http_status, exc.reason or ""
            text = str(exc.msg or "").lower()
            if reason == "PREMIUM_REQUIRED" or (status == 403 and "premium" in text):
                return MSG_PREMIUM
            if reason == "VOLUME_CONTROL_DISALLOW":
                return MSG_NO_VOLUME
            if _no_active_device(exc):
                return MSG_NO_DEVICE
            if status == 429:
                return MSG_RATE_LIMIT
            if status == 401:
                return MSG_LOGIN
            if status == 403:
                return MSG_REFUSED
            if status in (502, 503, 504):
                return MSG_UNREACHABLE
            return MSG_ERROR
        return None


def _no_active_device(exc: Any) -> bool:
    return exc.reason == "NO_ACTIVE_DEVICE" or (
        exc.http_status == 404 and "no active device" in str(exc.msg or "").lower()
    )
