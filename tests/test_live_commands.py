"""The command parser: many phrasings, recognition errors, and the "didn't understand" path."""

import pytest

from lib.live.commands import parse_command
from lib.live.music import DryRunController


@pytest.mark.parametrize(
    ("text", "action", "query", "kind", "value"),
    [
        ("play some jazz", "play", "jazz", None, None),
        ("hey joe play some jazz", "play", "jazz", None, None),
        ("Hey Joe, play some jazz!", "play", "jazz", None, None),
        ("paly some jazz", "play", "jazz", None, None),
        ("plays the beatles", "play", "beatles", None, None),
        ("play the album abbey road", "play", "abbey road", "album", None),
        ("play album kind of blue", "play", "kind of blue", "album", None),
        ("play artist miles davis", "play", "miles davis", "artist", None),
        ("play songs by nina simone", "play", "nina simone", "track", None),
        ("play the playlist chill evening", "play", "chill evening", "playlist", None),
        ("play playlist road trip", "play", "road trip", "playlist", None),
        ("play track yesterday", "play", "yesterday", "track", None),
        ("please play some rock music", "play", "rock", None, None),
        ("at their job play some jazz", "play", "jazz", None, None),
        ("pause", "pause", None, None, None),
        ("pause the music", "pause", None, None, None),
        ("cause the music", "pause", None, None, None),
        ("stop", "pause", None, None, None),
        ("resume", "resume", None, None, None),
        ("continue the music", "resume", None, None, None),
        ("play", "resume", None, None, None),
        ("next", "next", None, None, None),
        ("next song", "next", None, None, None),
        ("skip this song", "next", None, None, None),
        ("skip", "next", None, None, None),
        ("previous", "previous", None, None, None),
        ("previous track", "previous", None, None, None),
        ("go back", "previous", None, None, None),
        ("previus song", "previous", None, None, None),
        ("volume up", "volume_up", None, None, 1),
        ("turn it up a bit", "volume_up", None, None, 1),
        ("turn the volume up", "volume_up", None, None, 1),
        ("louder", "volume_up", None, None, None),
        ("volume down", "volume_down", None, None, 1),
        ("turn it down", "volume_down", None, None, 1),
        ("quieter please", "volume_down", None, None, None),
        ("volume to 30", "volume_set", None, None, 30),
        ("volume to thirty", "volume_set", None, None, 30),
        ("set volume to fifty", "volume_set", None, None, 50),
        ("set the volume to 75", "volume_set", None, None, 75),
        ("volume twenty five", "volume_set", None, None, 25),
        ("volume to 300", "volume_set", None, None, 100),
        ("what's playing", "now_playing", None, None, None),
        ("what is playing", "now_playing", None, None, None),
        ("what song is this", "now_playing", None, None, None),
        ("wat is playin", "now_playing", None, None, None),
    ],
)
def test_commands_are_parsed(text, action, query, kind, value):
    cmd = parse_command(text)
    assert (cmd.action, cmd.query, cmd.kind, cmd.value) == (action, query, kind, value), cmd


@pytest.mark.parametrize(
    "text",
    [
        "",
        "   ",
        "hey joe",
        "what is the weather like",
        "set a timer for ten minutes",
        "the coffee is ready",
        "hey joey how are you",
        "hey john pass me the salt",
        "I think it will rain later today",
        "okay see you tomorrow then",
        "let us go for a walk",
        "turn on the lights",
        "volume",
        "play the album",
    ],
)
def test_other_speech_is_not_understood(text):
    assert parse_command(text).action == "unknown"


def test_dry_run_controller_keeps_state_and_refuses_unknown():
    c = DryRunController(volume=50, volume_step=10)
    assert c.execute(parse_command("play some jazz")).message == "would play 'jazz'"
    assert "'jazz'" in c.execute(parse_command("what's playing")).message
    assert c.execute(parse_command("volume up")).message.endswith("60%")
    assert c.execute(parse_command("volume to 5")).message.endswith("5%")
    assert c.execute(parse_command("volume down")).message.endswith("0%")
    c.execute(parse_command("pause"))
    assert c.execute(parse_command("what is playing")).message == "nothing plays"
    out = c.execute(parse_command("the coffee is ready"))
    assert not out.ok and "didn't understand" in out.message
