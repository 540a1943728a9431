"""GoogleRecogniser and FallbackRecogniser against a local fake of the Speech service (loopback).

No test reaches the network: the fake listens on 127.0.0.1, credentials tests stop before any
call, and Google's metadata-server probe is switched off where default credentials are searched.
"""

from __future__ import annotations

import json
import logging
import socket
import time

import grpc
import numpy as np
import pytest

from lib.errors import ConfigError
from lib.live.asr import (
    FallbackRecogniser,
    GoogleRecogniser,
    PocketSphinxRecogniser,
    RecogniserSetupError,
    RecognitionError,
    make_recogniser,
)
from tests.fake_google_speech import FakeSpeechServer

SR = 16000


def tone(seconds: float = 1.0, sr: int = SR, freq: float = 440.0) -> np.ndarray:
    t = np.arange(int(seconds * sr)) / sr
    return (0.2 * np.sin(2 * np.pi * freq * t)).astype(np.float32)


def pcm(audio: np.ndarray) -> bytes:
    return (np.clip(audio, -1, 1) * 32767).astype("<i2").tobytes()


class StubRecogniser:
    """An offline recogniser that answers a fixed text, or fails."""

    def __init__(self, text: str = "offline text", name: str = "stub", fail: bool = False):
        self.text, self.name, self.fail = text, name, fail
        self.calls = 0

    def transcribe(self, audio: np.ndarray, sample_rate: int) -> str:
        self.calls += 1
        if self.fail:
            raise RecognitionError("stub failed")
        return self.text


@pytest.fixture
def fake():
    with FakeSpeechServer("play some jazz") as server:
        yield server


@pytest.fixture
def make_google(fake):
    made: list[GoogleRecogniser] = []

    def make(**kw) -> GoogleRecogniser:
        kw.setdefault("endpoint", fake.endpoint)
        kw.setdefault("insecure", True)
        kw.setdefault("backoff", 0.01)
        kw.setdefault("timeout", 3.0)
        rec = GoogleRecogniser(**kw)
        made.append(rec)
        return rec

    yield make
    for rec in made:
        rec.close()


def dead_endpoint() -> str:
    """A loopback port with nothing listening (connection refused)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"127.0.0.1:{port}"


def assert_clean(exc: BaseException) -> None:
    """A message fit to show: no gRPC repr, no chained traceback."""
    msg = str(exc)
    assert msg.startswith("Google speech recognition")
    for raw in ("_InactiveRpcError", "Traceback", "StatusCode.", "debug_error_string"):
        assert raw not in msg
    assert exc.__cause__ is None and exc.__suppress_context__


# --- recognition -----------------------------------------------------------------------------


def test_transcript_comes_back_with_the_expected_config(fake, make_google):
    rec = make_google()
    assert rec.transcribe(tone(), SR) == "play some jazz"  # the interim result is ignored
    assert rec.last_attempts == 1 and len(fake.calls) == 1
    call = fake.calls[0]
    assert call.outcome == "ok"
    cfg = call.config.config
    assert cfg.encoding.name == "LINEAR16"
    assert cfg.sample_rate_hertz == 16000 and cfg.audio_channel_count == 1
    assert cfg.language_code == "en-US" and not cfg.speech_contexts
    assert not call.config.interim_results
    # a deadline was sent (gRPC rounds the timeout it sends up, and the clocks differ a
    # little: the server may see a few ms more than the 3 s asked for)
    assert 0 < call.time_remaining <= 3.1
    assert "authorization" not in call.metadata


def test_language_phrase_hints_and_model_are_sent(fake, make_google):
    rec = make_google(language="en-GB", phrases=["hey joe", "miles davis"], boost=10, model="x")
    rec.transcribe(tone(0.3), SR)
    cfg = fake.calls[0].config.config
    assert cfg.language_code == "en-GB" and cfg.model == "x"
    assert list(cfg.speech_contexts[0].phrases) == ["hey joe", "miles davis"]
    assert cfg.speech_contexts[0].boost == pytest.approx(10.0)


def test_audio_arrives_in_full_in_100ms_chunks(fake, make_google):
    audio = tone(1.05)
    make_google().transcribe(audio, SR)
    call = fake.calls[0]
    assert bytes(call.audio) == pcm(audio)
    assert call.audio_bytes == 2 * len(audio)
    assert call.chunks == 11  # ten of 3200 bytes, then the remaining 50 ms


def test_other_sample_rates_are_resampled_to_16k(fake, make_google):
    make_google().transcribe(tone(0.5, sr=44100), 44100)
    assert fake.calls[0].audio_bytes == 2 * 8000


def test_several_final_results_are_joined(fake, make_google):
    fake.transcript, fake.finals = "play the album kind of blue", 3
    assert make_google().transcribe(tone(), SR) == "play the album kind of blue"


def test_no_results_give_empty_text(fake, make_google):
    fake.empty = True
    assert make_google().transcribe(tone(), SR) == ""
    assert len(fake.calls) == 1


def test_empty_audio_is_not_sent(fake, make_google):
    assert make_google().transcribe(np.zeros(0, np.float32), SR) == ""
    assert fake.calls == []


def test_stereo_audio_is_refused(make_google):
    with pytest.raises(RecognitionError, match="mono"):
        make_google().transcribe(np.zeros((2, 100), np.float32), SR)


def test_prebuilt_client(fake):
    from google.cloud import speech
    from google.cloud.speech_v1.services.speech.transports import SpeechGrpcTransport

    client = speech.SpeechClient(
        transport=SpeechGrpcTransport(channel=grpc.insecure_channel(fake.endpoint))
    )
    rec = GoogleRecogniser(client=client)
    assert rec.transcribe(tone(0.3), SR) == "play some jazz"
    rec.close()


# --- retries, deadlines, status codes --------------------------------------------------------


def test_transient_unavailable_is_retried(fake, make_google):
    fake.fail(grpc.StatusCode.UNAVAILABLE, times=2)
    rec = make_google()
    assert rec.transcribe(tone(), SR) == "play some jazz"
    assert rec.last_attempts == 3
    assert [c.outcome for c in fake.calls] == ["UNAVAILABLE", "UNAVAILABLE", "ok"]
    assert fake.calls[-1].audio_bytes == 2 * SR  # the whole utterance is sent again


def test_abort_mid_stream_is_retried_with_all_the_audio(fake, make_google):
    fake.fail(grpc.StatusCode.UNAVAILABLE, times=1, after_chunks=3)
    rec = make_google()
    assert rec.transcribe(tone(), SR) == "play some jazz"
    assert [c.outcome for c in fake.calls] == ["UNAVAILABLE", "ok"]
    assert fake.calls[0].chunks == 3 and fake.calls[1].audio_bytes == 2 * SR


def test_abort_mid_stream_with_a_final_status_is_not_retried(fake, make_google):
    fake.fail(grpc.StatusCode.INTERNAL, after_chunks=2, details="backend crashed")
    with pytest.raises(RecognitionError) as err:
        make_google().transcribe(tone(), SR)
    assert str(err.value) == "Google speech recognition failed (INTERNAL): backend crashed"
    assert len(fake.calls) == 1
    assert_clean(err.value)


def test_persistent_unavailable_gives_up_after_max_attempts(fake, make_google):
    fake.fail(grpc.StatusCode.UNAVAILABLE)
    rec = make_google(max_attempts=4)
    with pytest.raises(RecognitionError) as err:
        rec.transcribe(tone(), SR)
    assert "unavailable (network)" in str(err.value) and "4 attempts" in str(err.value)
    assert len(fake.calls) == 4 and rec.last_attempts == 4
    assert_clean(err.value)


def test_unreachable_service_is_unavailable(make_google):
    rec = make_google(endpoint=dead_endpoint())
    t0 = time.monotonic()
    with pytest.raises(RecognitionError, match=r"unavailable \(network\)") as err:
        rec.transcribe(tone(), SR)
    assert time.monotonic() - t0 < 2.0
    assert_clean(err.value)


def test_timeout_returns_within_about_the_deadline(fake, make_google):
    fake.delay = 5.0
    rec = make_google(timeout=0.5)
    t0 = time.monotonic()
    with pytest.raises(RecognitionError, match="timed out") as err:
        rec.transcribe(tone(), SR)
    elapsed = time.monotonic() - t0
    assert 0.4 < elapsed < 1.2
    assert str(err.value) == "Google speech recognition timed out: no answer within 0.5 s"
    assert rec.last_attempts == 1  # the budget is spent: no retry
    assert fake.calls[0].time_remaining <= 0.6  # 0.5 s asked (see above for the margin)
    assert_clean(err.value)


def test_deadline_exceeded_from_the_service_is_retried_within_the_budget(fake, make_google):
    fake.fail(grpc.StatusCode.DEADLINE_EXCEEDED, times=1)
    rec = make_google(backoff=0.2)
    assert rec.transcribe(tone(), SR) == "play some jazz"
    assert rec.last_attempts == 2
    # the second attempt gets what is left of the budget (gRPC sends deadlines coarsely)
    assert fake.calls[1].time_remaining < fake.calls[0].time_remaining - 0.1


@pytest.mark.parametrize(
    ("code", "message"),
    [
        (grpc.StatusCode.UNAUTHENTICATED, "refused the credentials"),
        (grpc.StatusCode.PERMISSION_DENIED, "refused the credentials (permission denied)"),
        (grpc.StatusCode.INVALID_ARGUMENT, "rejected the request: fake invalid_argument"),
        (grpc.StatusCode.RESOURCE_EXHAUSTED, "over its quota or rate limit"),
    ],
)
def test_final_statuses_are_not_retried(fake, make_google, code, message):
    fake.fail(code)
    rec = make_google()
    with pytest.raises(RecognitionError) as err:
        rec.transcribe(tone(), SR)
    assert message in str(err.value)
    assert len(fake.calls) == 1 and rec.last_attempts == 1
    assert_clean(err.value)


def test_error_inside_a_response(fake, make_google):
    fake.response_error = (grpc.StatusCode.OUT_OF_RANGE, "Audio data is being streamed too fast")
    with pytest.raises(RecognitionError, match="rejected the request: Audio data is being"):
        make_google().transcribe(tone(), SR)


def test_bad_settings_are_config_errors():
    with pytest.raises(ConfigError, match="timeout"):
        GoogleRecogniser(timeout=0)
    with pytest.raises(ConfigError, match="max_attempts"):
        GoogleRecogniser(max_attempts=0)
    with pytest.raises(ConfigError, match="needs an endpoint"):
        GoogleRecogniser(insecure=True)
    with pytest.raises(ConfigError, match="either"):
        GoogleRecogniser(client=object(), endpoint="127.0.0.1:1")
    with pytest.raises(ConfigError, match="list of phrases"):
        GoogleRecogniser(phrases="hey joe")


# --- fallback --------------------------------------------------------------------------------


def test_fallback_is_used_and_reported_then_primary_again(fake, make_google):
    rec = FallbackRecogniser(make_google(), StubRecogniser())
    assert rec.name == "google" and rec.last_fallback is None
    assert rec.transcribe(tone(), SR) == "play some jazz"
    assert rec.name == "google" and rec.last_fallback is None

    fake.fail(grpc.StatusCode.UNAVAILABLE, times=3)
    assert rec.transcribe(tone(), SR) == "offline text"
    assert rec.name == "stub"
    assert rec.last_fallback.startswith("Google speech recognition is unavailable (network)")

    assert rec.transcribe(tone(), SR) == "play some jazz"  # the service is back
    assert rec.name == "google" and rec.last_fallback is None


def test_fallback_failing_too_names_both(fake, make_google):
    fake.fail(grpc.StatusCode.UNAUTHENTICATED)
    rec = FallbackRecogniser(make_google(), StubRecogniser(fail=True))
    with pytest.raises(RecognitionError) as err:
        rec.transcribe(tone(), SR)
    assert "refused the credentials" in str(err.value)
    assert "stub failed too: stub failed" in str(err.value)


def test_fallback_for_a_timeout(fake, make_google):
    fake.delay = 5.0
    rec = FallbackRecogniser(make_google(timeout=0.3), StubRecogniser())
    t0 = time.monotonic()
    assert rec.transcribe(tone(), SR) == "offline text"
    assert time.monotonic() - t0 < 1.0
    assert "timed out" in rec.last_fallback


def test_make_recogniser():
    assert isinstance(make_recogniser("pocketsphinx"), PocketSphinxRecogniser)
    rec = make_recogniser("google", endpoint="127.0.0.1:1", insecure=True, language="de-DE")
    assert isinstance(rec, FallbackRecogniser)
    assert isinstance(rec.primary, GoogleRecogniser) and rec.primary.language == "de-DE"
    assert isinstance(rec.fallback, PocketSphinxRecogniser)
    assert rec.name == "google"
    with pytest.raises(ConfigError, match="available: pocketsphinx, google"):
        make_recogniser("whisper")
    with pytest.raises(ConfigError, match=r"unknown option\(s\) \['langauge'\]"):
        make_recogniser("google", langauge="en-GB")
    with pytest.raises(ConfigError, match="no options"):
        make_recogniser("pocketsphinx", language="en-US")


def test_end_to_end_fallback_to_pocketsphinx():
    """Google unreachable → the real offline recogniser answers (whatever it hears in a tone)."""
    rec = make_recogniser("google", endpoint=dead_endpoint(), insecure=True, backoff=0.01)
    text = rec.transcribe(tone(0.5), SR)
    assert isinstance(text, str)
    assert rec.name == "pocketsphinx"
    assert "unavailable (network)" in rec.last_fallback
    rec.primary.close()


# --- credentials -----------------------------------------------------------------------------


def test_missing_credentials_file(monkeypatch, tmp_path, caplog):
    missing = tmp_path / "secret-dir" / "no-such-key.json"
    monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", str(missing))
    caplog.set_level(logging.DEBUG)
    rec = GoogleRecogniser()
    with pytest.raises(RecogniserSetupError) as err:
        rec.transcribe(tone(0.2), SR)
    assert isinstance(err.value, RecognitionError) and isinstance(err.value, ConfigError)
    assert str(err.value) == (
        "Google speech recognition has no credentials: "
        "GOOGLE_APPLICATION_CREDENTIALS names a file that does not exist"
    )
    with pytest.raises(RecogniserSetupError):  # remembered: no new search
        rec.check()

    fallback = FallbackRecogniser(rec, StubRecogniser())
    assert fallback.transcribe(tone(0.2), SR) == "offline text"
    assert "has no credentials" in fallback.last_fallback
    ours = [r.getMessage() for r in caplog.records if r.name.startswith("lib.")]
    assert ours and not any("secret-dir" in m for m in ours)  # (google-auth logs the path)


def test_no_credentials_anywhere(monkeypatch, tmp_path):
    monkeypatch.delenv("GOOGLE_APPLICATION_CREDENTIALS", raising=False)
    monkeypatch.setenv("CLOUDSDK_CONFIG", str(tmp_path))  # no gcloud login here
    monkeypatch.setenv("NO_GCE_CHECK", "True")  # don't probe the metadata server
    with pytest.raises(RecogniserSetupError, match="none found: set GOOGLE_APPLICATION_CRED"):
        GoogleRecogniser().check()


def test_credentials_are_never_logged(monkeypatch, tmp_path, caplog, fake):
    secret = "s3cr3t-REFRESH-TOKEN-value"
    key = tmp_path / "adc-key.json"
    key.write_text(
        json.dumps(
            {
                "type": "authorized_user",
                "client_id": "client-id-value.apps.googleusercontent.com",
                "client_secret": "client-SECRET-value",
                "refresh_token": secret,
            }
        )
    )
    monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", str(key))
    caplog.set_level(logging.DEBUG)
    real = GoogleRecogniser()
    real.check()  # loads the key (no network: the token is fetched only on a call)
    real.close()

    rec = GoogleRecogniser(endpoint=fake.endpoint, insecure=True, backoff=0.01)
    assert rec.transcribe(tone(0.3), SR) == "play some jazz"
    fake.fail(grpc.StatusCode.UNAUTHENTICATED, details="fake: bad token")
    with pytest.raises(RecognitionError) as err:
        rec.transcribe(tone(0.3), SR)
    rec.close()
    assert caplog.records  # something was logged
    everything = str(err.value) + "".join(str(vars(r)) for r in caplog.records)
    for value in (secret, "client-SECRET-value"):
        assert value not in everything  # in no message, argument or extra field of any logger
    ours = str(err.value) + "".join(
        str(vars(r)) for r in caplog.records if r.name.startswith("lib.")
    )
    assert "adc-key" not in ours  # nor the key file's path in ours


def test_missing_package_is_a_setup_error(monkeypatch):
    import sys

    import google.cloud

    monkeypatch.setitem(sys.modules, "google.cloud.speech", None)  # as if not installed
    monkeypatch.delattr(google.cloud, "speech", raising=False)
    rec = FallbackRecogniser(GoogleRecogniser(), StubRecogniser())
    assert rec.transcribe(tone(0.2), SR) == "offline text"
    assert "needs google-cloud-speech" in rec.last_fallback
    assert "pip install google-cloud-speech" in rec.last_fallback
