"""The Spotify controller against a fake Spotify Web API on loopback: every command, every fault,
the token cache (mode 0600, atomic) and that no secret reaches the log."""

from __future__ import annotations

import base64
import json
import logging
import os
import stat
import sys
from pathlib import Path

import pytest

pytest.importorskip("spotipy")

import spotipy  # noqa: E402
from spotipy.oauth2 import SpotifyOAuth  # noqa: E402

from lib.errors import ConfigError  # noqa: E402
from lib.live import spotify as spot  # noqa: E402
from lib.live.commands import Command, parse_command  # noqa: E402
from lib.live.spotify import SpotifyController, read_token, token_cache_path, write_token  # noqa: E402
from tests.fake_spotify import CLIENT_ID, CLIENT_SECRET, FakeSpotify  # noqa: E402

REDIRECT = "http://127.0.0.1:8888/callback"


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.fixture
def fake():
    with FakeSpotify() as f:
        yield f


@pytest.fixture
def cache(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """Credentials in the environment; the token cache in a temporary folder."""
    monkeypatch.setenv("SPOTIPY_CLIENT_ID", CLIENT_ID)
    monkeypatch.setenv("SPOTIPY_CLIENT_SECRET", CLIENT_SECRET)
    monkeypatch.setenv("SPOTIPY_REDIRECT_URI", REDIRECT)
    path = tmp_path / "config" / "heyjoe" / "spotify-token.json"
    monkeypatch.setenv("HEYJOE_SPOTIFY_CACHE", str(path))
    monkeypatch.setattr("builtins.input", _no_prompt)
    return path


def _no_prompt(*args: object) -> str:
    raise AssertionError("the controller must never prompt for a login")


def make(fake: FakeSpotify, timeout: float = 2.0, **kwargs) -> SpotifyController:
    sleeps: list[float] = []
    c = SpotifyController.from_env(requests_timeout=timeout, sleep=sleeps.append, **kwargs)
    c.sp.prefix = fake.api_prefix
    c.sp.auth_manager.OAUTH_TOKEN_URL = fake.token_url
    c.sleeps = sleeps  # type: ignore[attr-defined]
    return c


@pytest.fixture
def ctl(fake: FakeSpotify, cache: Path) -> SpotifyController:
    write_token(cache, fake.token_info())
    return make(fake)


def playing(fake: FakeSpotify, track_id: str = "tr0sowhat", is_playing: bool = True) -> None:
    fake.item = next(t for t in fake.catalogue["track"] if t["id"] == track_id)
    fake.is_playing = is_playing


# ---------------------------------------------------------------------------------------------
# commands


def test_play_track_by_default(ctl, fake):
    out = ctl.execute(Command("play", query="so what"))
    assert out == spot.Outcome(True, "playing So What by Miles Davis")
    (search,) = fake.calls("GET", "/v1/search")
    assert search.query == {"q": "so what", "type": "track", "limit": "1", "offset": "0"}
    (play,) = fake.calls("PUT", "/v1/me/player/play")
    assert play.body == {"uris": ["spotify:track:tr0sowhat"]}
    assert fake.item["id"] == "tr0sowhat" and fake.is_playing


@pytest.mark.parametrize(
    ("kind", "query", "uri", "message"),
    [
        ("album", "abbey road", "spotify:album:al0abbeyroad", "playing the album Abbey Road by "
         "The Beatles"),
        ("artist", "nina simone", "spotify:artist:ar0nina", "playing music by Nina Simone"),
        ("playlist", "chill evening", "spotify:playlist:pl0chill", "playing the playlist Chill "
         "Evening"),
    ],
)  # fmt: skip
def test_play_context(ctl, fake, kind, query, uri, message):
    out = ctl.execute(Command("play", query=query, kind=kind))
    assert out == spot.Outcome(True, message)
    assert fake.calls("GET", "/v1/search")[0].query["type"] == kind
    (play,) = fake.calls("PUT", "/v1/me/player/play")
    assert play.body == {"context_uri": uri}
    assert fake.context_uri == uri and fake.is_playing


def test_parsed_speech_plays(ctl, fake):
    out = ctl.execute(parse_command("hey joe play the album kind of blue"))
    assert out.ok and out.message == "playing the album Kind of Blue by Miles Davis"


def test_play_without_query_resumes(ctl, fake):
    playing(fake, is_playing=False)
    assert ctl.execute(Command("play")) == spot.Outcome(True, "resumed the music")
    assert fake.is_playing


def test_pause_and_resume(ctl, fake):
    playing(fake)
    assert ctl.execute(Command("pause")) == spot.Outcome(True, "paused the music")
    assert not fake.is_playing
    assert ctl.execute(Command("resume")) == spot.Outcome(True, "resumed the music")
    assert fake.is_playing
    (resume,) = fake.calls("PUT", "/v1/me/player/play")
    assert resume.body is None  # resume: start_playback without arguments


def test_next_and_previous(ctl, fake):
    playing(fake, "tr0sowhat")
    assert ctl.execute(Command("next")) == spot.Outcome(True, "skipped to the next track")
    assert fake.item["id"] == "tr0blueingreen"
    assert ctl.execute(Command("previous")) == spot.Outcome(True, "back to the previous track")
    assert fake.item["id"] == "tr0sowhat"
    assert len(fake.calls("POST")) == 2


@pytest.mark.parametrize(
    ("start", "action", "value", "end"),
    [
        (40, "volume_up", None, 50),
        (40, "volume_up", 2, 60),
        (95, "volume_up", 1, 100),
        (40, "volume_down", 1, 30),
        (5, "volume_down", 1, 0),
    ],
)
def test_volume_steps(ctl, fake, start, action, value, end):
    fake.device("dev0laptop")["volume_percent"] = start
    out = ctl.execute(Command(action, value=value))
    assert out == spot.Outcome(True, f"volume set to {end}%")
    assert fake.device("dev0laptop")["volume_percent"] == end
    (put,) = fake.calls("PUT", "/v1/me/player/volume")
    assert put.query == {"volume_percent": str(end)}


@pytest.mark.parametrize(("value", "end"), [(35, 35), (0, 0), (150, 100), (None, 0)])
def test_volume_set(ctl, fake, value, end):
    assert ctl.execute(Command("volume_set", value=value)) == spot.Outcome(
        True, f"volume set to {end}%"
    )
    assert fake.device("dev0laptop")["volume_percent"] == end


def test_now_playing(ctl, fake):
    assert ctl.execute(Command("now_playing")) == spot.Outcome(True, "nothing is playing")
    playing(fake, "tr0feelinggood")
    out = ctl.execute(Command("now_playing"))
    assert out == spot.Outcome(True, "now playing: Feeling Good by Nina Simone")
    fake.is_playing = False
    out = ctl.execute(Command("now_playing"))
    assert out == spot.Outcome(True, "nothing is playing; Feeling Good by Nina Simone is paused")
    fake.active_device = None  # the API answers 204 No Content
    assert ctl.execute(Command("now_playing")) == spot.Outcome(True, "nothing is playing")


def test_unknown_command(ctl, fake):
    assert ctl.execute(Command("unknown", text="open the pod bay doors")) == spot.Outcome(
        False, "Sorry, I didn't understand that."
    )
    assert fake.requests == []
    assert ctl.name == "spotify"


# ---------------------------------------------------------------------------------------------
# faults


def test_search_finds_nothing(ctl, fake):
    out = ctl.execute(Command("play", query="zzyzx"))
    assert out == spot.Outcome(False, "I couldn't find zzyzx on Spotify.")
    out = ctl.execute(Command("play", query="zzyzx", kind="album"))
    assert out == spot.Outcome(False, "I couldn't find the album zzyzx on Spotify.")
    assert fake.calls("PUT") == []


def test_no_active_device_moves_playback_and_retries(ctl, fake):
    fake.active_device = None
    out = ctl.execute(Command("play", query="yesterday"))
    assert out == spot.Outcome(True, "playing Yesterday by The Beatles")
    route = [(r.method, r.path) for r in fake.requests]
    assert route == [
        ("GET", "/v1/search"),
        ("PUT", "/v1/me/player/play"),  # 404 NO_ACTIVE_DEVICE
        ("GET", "/v1/me/player/devices"),
        ("PUT", "/v1/me/player"),  # transfer
        ("PUT", "/v1/me/player/play"),
    ]
    assert fake.requests[3].body == {"device_ids": ["dev0laptop"], "play": False}
    assert fake.requests[4].query == {"device_id": "dev0laptop"}
    assert fake.requests[4].body == {"uris": ["spotify:track:tr0yesterday"]}
    assert fake.active_device == "dev0laptop" and fake.is_playing


@pytest.mark.parametrize("action", ["pause", "resume", "next", "previous", "volume_set"])
def test_no_active_device_for_other_commands(ctl, fake, action):
    fake.active_device = None
    playing(fake, is_playing=False)
    assert ctl.execute(Command(action, value=20)).ok
    assert len(fake.calls("PUT", "/v1/me/player")) == 1
    assert fake.active_device == "dev0laptop"


def test_volume_step_without_active_device_uses_the_device_volume(ctl, fake):
    fake.active_device = None
    fake.device("dev0laptop")["volume_percent"] = 40
    assert ctl.execute(Command("volume_up")) == spot.Outcome(True, "volume set to 50%")
    (put,) = fake.calls("PUT", "/v1/me/player/volume")
    assert put.query == {"volume_percent": "50", "device_id": "dev0laptop"}


def test_device_without_volume_control(ctl, fake):
    fake.device("dev0laptop")["supports_volume"] = False
    out = ctl.execute(Command("volume_set", value=30))
    assert out == spot.Outcome(False, spot.MSG_NO_VOLUME)
    fake.device("dev0laptop")["volume_percent"] = None
    assert ctl.execute(Command("volume_up")) == spot.Outcome(False, spot.MSG_NO_VOLUME)


@pytest.mark.parametrize("restricted", [False, True])
def test_no_devices_at_all(ctl, fake, restricted):
    fake.active_device = None
    if restricted:
        for d in fake.devices:
            d["is_restricted"] = True
    else:
        fake.devices = []
    out = ctl.execute(Command("play", query="so what"))
    assert out == spot.Outcome(False, spot.MSG_NO_DEVICE)
    assert "Spotify device" in out.message
    assert fake.calls("PUT", "/v1/me/player") == []  # nothing to transfer to
    assert ctl.execute(Command("volume_down")) == spot.Outcome(False, spot.MSG_NO_DEVICE)


def test_premium_required(ctl, fake):
    fake.premium_required = True
    out = ctl.execute(Command("play", query="so what"))
    assert out == spot.Outcome(False, "Spotify Premium is needed to control playback.")
    assert len(fake.calls("PUT", "/v1/me/player/play")) == 1  # not retried
    assert ctl.execute(Command("pause")).message == spot.MSG_PREMIUM


def test_rate_limit_short_retry_after_retries_once(ctl, fake):
    fake.rate_limit, fake.retry_after = 1, 1
    assert ctl.execute(Command("pause")) == spot.Outcome(True, "paused the music")
    assert ctl.sleeps == [1.0]
    assert len(fake.calls("PUT", "/v1/me/player/pause")) == 2


def test_rate_limit_long_retry_after_gives_up(ctl, fake):
    fake.rate_limit, fake.retry_after = 1, 30
    out = ctl.execute(Command("pause"))
    assert out == spot.Outcome(False, spot.MSG_RATE_LIMIT)
    assert "too many requests" in out.message
    assert ctl.sleeps == []
    assert len(fake.calls("PUT", "/v1/me/player/pause")) == 1


def test_rate_limit_twice_gives_up_after_one_retry(ctl, fake):
    fake.rate_limit, fake.retry_after = 5, 1
    assert ctl.execute(Command("next")) == spot.Outcome(False, spot.MSG_RATE_LIMIT)
    assert ctl.sleeps == [1.0]
    assert len(fake.calls("POST", "/v1/me/player/next")) == 2


def test_rate_limit_real_sleep(fake, cache):
    write_token(cache, fake.token_info())
    c = SpotifyController.from_env(requests_timeout=2)
    c.sp.prefix = fake.api_prefix
    fake.rate_limit, fake.retry_after = 1, 0
    assert c.execute(Command("next")).ok


def test_expired_token_on_the_server_is_refreshed(ctl, fake, cache):
    fake.expire_token()
    assert ctl.execute(Command("pause")) == spot.Outcome(True, "paused the music")
    (refresh,) = fake.calls("POST", "/api/token")
    assert refresh.body["grant_type"] == "refresh_token"
    assert [r.path for r in fake.requests].count("/v1/me/player/pause") == 2
    assert read_token(cache)["access_token"] == fake.access_token
    assert mode(cache) == 0o600


def test_token_past_its_expiry_is_refreshed_by_spotipy(fake, cache):
    write_token(cache, fake.token_info(expires_in=-10))
    ctl = make(fake)
    assert ctl.execute(Command("next")).ok
    assert len(fake.calls("POST", "/api/token")) == 1
    assert len(fake.calls("POST", "/v1/me/player/next")) == 1  # no 401 on the way
    assert read_token(cache)["access_token"] == fake.access_token


def test_refresh_fails_asks_to_log_in_again(ctl, fake):
    fake.expire_token()
    fake.refresh_fails = True
    out = ctl.execute(Command("pause"))
    assert out == spot.Outcome(False, spot.MSG_LOGIN)
    assert "log in" in out.message


def test_rejected_app_credentials(fake, cache, monkeypatch):
    write_token(cache, fake.token_info())
    monkeypatch.setenv("SPOTIPY_CLIENT_SECRET", "wrong-secret")
    ctl = make(fake)
    fake.expire_token()
    assert ctl.execute(Command("pause")) == spot.Outcome(False, spot.MSG_BAD_CLIENT)


def test_not_logged_in_never_prompts(fake, cache):
    ctl = make(fake)  # no cached token
    out = ctl.execute(Command("pause"))
    assert out == spot.Outcome(False, spot.MSG_NOT_LOGGED_IN)
    assert fake.requests == []


def test_cached_token_with_other_scopes_needs_login(fake, cache):
    write_token(cache, fake.token_info(scope="user-read-email"))
    assert make(fake).execute(Command("pause")).message == spot.MSG_NOT_LOGGED_IN


def test_static_token_client_asks_to_log_in_on_401(fake):
    import requests

    sp = spotipy.Spotify(auth="not-the-token", requests_session=requests.Session())
    sp.prefix = fake.api_prefix
    ctl = SpotifyController(sp)
    assert ctl.execute(Command("pause")) == spot.Outcome(False, spot.MSG_LOGIN)


def test_connection_drop(ctl, fake):
    fake.drop_connection = True
    out = ctl.execute(Command("play", query="so what"))
    assert out == spot.Outcome(False, "Spotify can't be reached right now. Check the internet "
                                      "connection.")  # fmt: skip
    assert len(fake.requests) == 1  # spotipy's own retries are off


def test_server_gone(ctl, fake):
    fake.stop()
    assert ctl.execute(Command("now_playing")) == spot.Outcome(False, spot.MSG_UNREACHABLE)


def test_timeout(fake, cache):
    write_token(cache, fake.token_info())
    ctl = make(fake, timeout=0.2)
    fake.delay = 0.6
    assert ctl.execute(Command("pause")) == spot.Outcome(False, spot.MSG_UNREACHABLE)


def test_token_refresh_while_offline(fake, cache):
    write_token(cache, fake.token_info(expires_in=-10))
    ctl = make(fake)
    fake.stop()
    assert ctl.execute(Command("pause")) == spot.Outcome(False, spot.MSG_UNREACHABLE)


def test_bugs_are_not_swallowed(ctl, monkeypatch):
    monkeypatch.setattr(ctl.sp, "pause_playback", lambda **kw: 1 / 0)
    with pytest.raises(ZeroDivisionError):
        ctl.execute(Command("pause"))


# ---------------------------------------------------------------------------------------------
# credentials, token cache, login


def test_missing_credentials(monkeypatch):
    for name in spot.ENV_VARS:
        monkeypatch.delenv(name, raising=False)
    with pytest.raises(ConfigError) as err:
        SpotifyController()
    for name in spot.ENV_VARS:
        assert name in str(err.value)
    monkeypatch.setenv("SPOTIPY_CLIENT_ID", "some-id")
    with pytest.raises(ConfigError, match="set SPOTIPY_CLIENT_SECRET, SPOTIPY_REDIRECT_URI"):
        SpotifyController.from_env()


def test_spotipy_missing(monkeypatch):
    monkeypatch.setitem(sys.modules, "spotipy", None)
    with pytest.raises(ConfigError, match="pip install spotipy"):
        SpotifyController()


def test_cache_location(monkeypatch, tmp_path):
    monkeypatch.delenv("HEYJOE_SPOTIFY_CACHE", raising=False)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg"))
    assert token_cache_path() == tmp_path / "xdg" / "heyjoe" / "spotify-token.json"
    monkeypatch.delenv("XDG_CONFIG_HOME")
    assert token_cache_path() == Path("~/.config/heyjoe/spotify-token.json").expanduser()
    monkeypatch.setenv("HEYJOE_SPOTIFY_CACHE", str(tmp_path / "tok.json"))
    assert token_cache_path() == tmp_path / "tok.json"


def test_token_file_is_private_even_with_a_permissive_umask(tmp_path):
    path = tmp_path / "new" / "token.json"
    old = os.umask(0)
    try:
        write_token(path, {"access_token": "a"})
    finally:
        os.umask(old)
    assert mode(path) == 0o600
    assert mode(path.parent) == 0o700
    assert json.loads(path.read_text()) == {"access_token": "a"}
    assert os.listdir(path.parent) == ["token.json"]  # no temporary files left


def test_loose_token_file_is_tightened(tmp_path):
    path = tmp_path / "token.json"
    token = {"access_token": "a", "refresh_token": "r", "expires_at": 1}
    path.write_text(json.dumps(token))
    path.chmod(0o644)
    handler = spot.token_cache_handler(path)
    assert isinstance(handler, spotipy.CacheHandler)
    assert handler.get_cached_token() == token
    assert mode(path) == 0o600
    path.chmod(0o666)
    handler.save_token_to_cache(dict(token, access_token="b"))
    assert mode(path) == 0o600
    assert read_token(path)["access_token"] == "b"


def test_incomplete_token_cache_needs_login(fake, cache):
    write_token(cache, {"access_token": fake.access_token, "expires_at": 0, "scope": spot.SCOPE})
    assert spot.token_cache_handler(cache).get_cached_token() is None
    assert make(fake).execute(Command("pause")).message == spot.MSG_NOT_LOGGED_IN


def test_token_write_is_atomic(tmp_path, monkeypatch):
    path = tmp_path / "token.json"
    write_token(path, {"access_token": "old"})

    def crash(*args):
        raise OSError("disk full")

    monkeypatch.setattr(spot.os, "replace", crash)
    with pytest.raises(OSError, match="disk full"):
        write_token(path, {"access_token": "new"})
    assert read_token(path) == {"access_token": "old"}
    assert os.listdir(tmp_path) == ["token.json"]
    spot.token_cache_handler(path).save_token_to_cache({"access_token": "new"})  # only warns
    assert read_token(path) == {"access_token": "old"}


def test_unreadable_token_cache(tmp_path):
    path = tmp_path / "token.json"
    assert read_token(path) is None
    path.write_text("{not json")
    assert read_token(path) is None


def test_login_caches_the_token(fake, cache, monkeypatch):
    monkeypatch.setattr(SpotifyOAuth, "OAUTH_TOKEN_URL", fake.token_url)
    monkeypatch.setattr("builtins.input", lambda prompt: f"{REDIRECT}?code=fake-auth-code")
    assert spot.login(open_browser=False) == cache
    token = read_token(cache)
    assert token["access_token"] == fake.access_token
    assert token["refresh_token"] == fake.refresh_token
    assert mode(cache) == 0o600
    ctl = make(fake)
    assert ctl.execute(Command("pause")).ok


# ---------------------------------------------------------------------------------------------
# no secrets in the log


def test_no_secrets_in_the_log(fake, cache, monkeypatch, caplog):
    caplog.set_level(logging.DEBUG)
    monkeypatch.setattr(SpotifyOAuth, "OAUTH_TOKEN_URL", fake.token_url)
    monkeypatch.setattr("builtins.input", lambda prompt: f"{REDIRECT}?code=fake-auth-code")
    spot.login(open_browser=False)
    tokens = {fake.access_token}
    ctl = make(fake)
    for step in range(3):
        if step == 1:
            fake.expire_token()  # a 401 and a refresh
        if step == 2:
            write_token(cache, fake.token_info(expires_in=-10))  # spotipy refreshes
        assert ctl.execute(Command("play", query="so what")).ok
        tokens.add(fake.access_token)
    fake.premium_required = True
    assert not ctl.execute(Command("pause")).ok  # an HTTP error logged by spotipy
    basic = base64.b64encode(f"{CLIENT_ID}:{CLIENT_SECRET}".encode()).decode()
    assert len(tokens) == 3
    assert len(fake.calls("POST", "/api/token")) == 3
    text = caplog.text
    assert "Bearer <redacted>" in text  # spotipy's debug lines were captured, redacted
    for secret in [CLIENT_SECRET, basic, fake.refresh_token, "fake-auth-code", *tokens]:
        assert secret not in text
