"""Speech recognisers behind one interface: ``transcribe(audio, sample_rate) -> str``.

:class:`PocketSphinxRecogniser` is the offline default: pocketsphinx 5's ``Decoder`` with the
US-English acoustic model, dictionary and language model that ship inside its wheel.

:class:`GoogleRecogniser` streams the utterance to Google Cloud Speech-to-Text (v1
``StreamingRecognize``) with a deadline and retries; :class:`FallbackRecogniser` puts an offline
recogniser behind it, and :func:`make_recogniser` builds either from its name.
"""

from __future__ import annotations

import inspect
import logging
import os
import threading
import time
from collections.abc import Iterator, Sequence
from typing import Any, Protocol

import numpy as np

from lib.errors import ConfigError, HeyJoeError

log = logging.getLogger(__name__)


class RecognitionError(HeyJoeError):
    """A recogniser failed (network, service, model); the message is fit to show."""


class RecogniserSetupError(RecognitionError, ConfigError):
    """A recogniser cannot start (package or credentials missing): a configuration problem that
    a :class:`FallbackRecogniser` still answers with its offline fallback."""


class Recogniser(Protocol):
    name: str

    def transcribe(self, audio: np.ndarray, sample_rate: int) -> str: ...


class PocketSphinxRecogniser:
    """Offline recognition; the decoder is built on first use and reused (one at a time).

    ``grammar=True`` decodes against the grammar of the commands (:mod:`lib.live.grammar`,
    with ``music_vocabulary`` as the names "play" may take) instead of PocketSphinx's general
    English language model; speech the grammar cannot match is decoded again with the
    language model, so the parser can say what it did not understand."""

    name = "pocketsphinx"

    def __init__(
        self, grammar: bool = False, music_vocabulary: Sequence[str] | None = None
    ) -> None:
        self.grammar = grammar
        self.music_vocabulary = music_vocabulary
        self.dropped: list[str] = []  # vocabulary left out of the grammar (unknown words)
        self._decoder: Any = None
        self._lm_search: str | None = None
        self._cmn = ""
        self._lock = threading.Lock()

    def _get(self) -> Any:
        if self._decoder is None:
            try:
                from pocketsphinx import Decoder
            except ImportError as exc:
                raise ConfigError(
                    f"pocketsphinx is not installed ({exc}): pip install pocketsphinx"
                ) from None
            dec = Decoder(samprate=16000, loglevel="FATAL")
            if self.grammar:
                from lib.live.grammar import DEFAULT_MUSIC, command_grammar

                self._lm_search = dec.current_search()
                music = self.music_vocabulary if self.music_vocabulary else DEFAULT_MUSIC
                text, self.dropped = command_grammar(
                    music, known=lambda w: dec.lookup_word(w) is not None
                )
                try:
                    dec.add_jsgf_string("commands", text)
                except ValueError as exc:
                    raise ConfigError(f"the command grammar does not load: {exc}") from None
                dec.activate_search("commands")
            self._cmn = dec.get_cmn()
            self._decoder = dec
        return self._decoder

    def _decode(self, dec: Any, pcm: bytes) -> str:
        # every utterance starts from the same cepstral mean, so a command is heard the same
        # whatever was recognised before it
        dec.set_cmn(self._cmn)
        dec.start_utt()
        dec.process_raw(pcm, full_utt=True)
        dec.end_utt()
        hyp = dec.hyp()
        return hyp.hypstr.strip() if hyp is not None else ""

    def transcribe(self, audio: np.ndarray, sample_rate: int) -> str:
        from lib.audio import resample

        x = np.asarray(audio, dtype=np.float32)
        if x.ndim != 1:
            raise RecognitionError(f"recognition needs mono audio, got shape {x.shape}")
        x = resample(x, int(sample_rate), 16000) if sample_rate != 16000 else x
        pcm = (np.clip(np.nan_to_num(x), -1.0, 1.0) * 32767).astype(np.int16).tobytes()
        with self._lock:
            dec = self._get()
            try:
                text = self._decode(dec, pcm)
                if not text and self._lm_search is not None:
                    # outside the grammar: the language model's best guess, then back
                    dec.activate_search(self._lm_search)
                    try:
                        text = self._decode(dec, pcm)
                    finally:
                        dec.activate_search("commands")
            except RuntimeError as exc:
                raise RecognitionError(f"pocketsphinx failed: {exc}") from None
        return text


# --- Google Cloud Speech-to-Text -------------------------------------------------------------

GOOGLE_SAMPLE_RATE = 16000
_PREFIX = "Google speech recognition"
_CREDENTIALS_ENV = "GOOGLE_APPLICATION_CREDENTIALS"


class _StatusError(Exception):
    """An error status carried inside a response (``StreamingRecognizeResponse.error``)."""

    def __init__(self, code: Any, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.details = message


def _pcm16(audio: np.ndarray, sample_rate: int, target: int) -> bytes:
    """Mono float audio at ``sample_rate`` → little-endian 16-bit PCM at ``target`` Hz."""
    from lib.audio import resample

    x = np.asarray(audio, dtype=np.float32)
    if x.ndim != 1:
        raise RecognitionError(f"recognition needs mono audio, got shape {x.shape}")
    x = resample(x, int(sample_rate), target) if int(sample_rate) != target else x
    x = np.nan_to_num(x, nan=0.0, posinf=1.0, neginf=-1.0)
    return (np.clip(x, -1.0, 1.0) * 32767).astype("<i2").tobytes()


def _status_of(exc: BaseException) -> tuple[Any, str] | None:
    """(grpc.StatusCode, details) of a gRPC / google-api-core error, else None."""
    import grpc

    if isinstance(exc, _StatusError):
        return exc.code, exc.details
    try:
        from google.api_core import exceptions as gexc
    except ImportError:  # pragma: no cover - google-api-core comes with google-cloud-speech
        gexc = None
    if gexc is not None and isinstance(exc, gexc.GoogleAPICallError):
        code = exc.grpc_status_code
        return (code if isinstance(code, grpc.StatusCode) else None), str(exc.message or "")
    if isinstance(exc, grpc.RpcError) and callable(getattr(exc, "code", None)):
        return exc.code(), str(exc.details() or "")
    return None


def _grpc_code(value: int) -> Any:
    import grpc

    for code in grpc.StatusCode:
        if code.value[0] == value:
            return code
    return grpc.StatusCode.UNKNOWN


def _short(details: str, limit: int = 200) -> str:
    text = " ".join(str(details).split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


class GoogleRecogniser:
    """Google Cloud Speech-to-Text v1, streaming: LINEAR16 mono 16 kHz in ~100 ms chunks.

    Credentials come from the standard environment (``GOOGLE_APPLICATION_CREDENTIALS`` or the
    application default credentials); they are never read or logged here. The client is built
    on first use (or by :meth:`check`); a missing package or credential raises
    :class:`RecogniserSetupError` (a :class:`RecognitionError` and a :class:`ConfigError`) and is
    remembered, so later calls fail at once instead of searching for credentials again.

    ``timeout`` bounds one transcription, retries included: each attempt's gRPC deadline is what
    is left of it. ``UNAVAILABLE`` and ``DEADLINE_EXCEEDED`` (answered by the service before our
    own deadline) are retried, up to ``max_attempts`` attempts, after ``backoff``, ``2*backoff``,
    ... seconds; every other status (credentials, quota, bad request) fails at once. Every
    failure is a :class:`RecognitionError` whose message is fit to show.

    Tests and private deployments pass ``endpoint`` (``"host:port"``) with ``insecure=True`` to
    use a plaintext channel without credentials, or a prebuilt ``client``
    (a ``google.cloud.speech.SpeechClient``).
    """

    name = "google"
    RETRYABLE = ("UNAVAILABLE", "DEADLINE_EXCEEDED")

    def __init__(
        self,
        language: str = "en-US",
        phrases: Sequence[str] = (),
        *,
        boost: float | None = None,
        model: str | None = None,
        client: Any = None,
        endpoint: str | None = None,
        insecure: bool = False,
        timeout: float = 10.0,
        max_attempts: int = 3,
        backoff: float = 0.2,
        chunk_seconds: float = 0.1,
    ) -> None:
        if not isinstance(language, str) or not language.strip():
            raise ConfigError(
                f"google: language must be a language code like 'en-US', got {language!r}"
            )
        if isinstance(phrases, str):
            raise ConfigError("google: phrases must be a list of phrases, not one string")
        phrases = [str(p).strip() for p in phrases]
        if any(not p for p in phrases):
            raise ConfigError("google: phrases must not be empty strings")
        if client is not None and endpoint is not None:
            raise ConfigError("google: give either a prebuilt client or an endpoint, not both")
        if insecure and not endpoint:
            raise ConfigError("google: insecure=True needs an endpoint ('host:port')")
        for key, value, low in (("timeout", timeout, 0.0), ("chunk_seconds", chunk_seconds, 0.0)):
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > low:
                raise ConfigError(
                    f"google: {key} must be a positive number of seconds, got {value!r}"
                )
        if isinstance(backoff, bool) or not isinstance(backoff, (int, float)) or backoff < 0:
            raise ConfigError(f"google: backoff must be >= 0 seconds, got {backoff!r}")
        if isinstance(max_attempts, bool) or not isinstance(max_attempts, int) or max_attempts < 1:
            raise ConfigError(f"google: max_attempts must be an integer >= 1, got {max_attempts!r}")
        self.language = language.strip()
        self.phrases = tuple(phrases)
        self.boost = boost
        self.model = model
        self.endpoint = endpoint
        self.insecure = bool(insecure)
        self.timeout = float(timeout)
        self.max_attempts = max_attempts
        self.backoff = float(backoff)
        self.chunk_seconds = float(chunk_seconds)
        #: attempts made by the last :meth:`transcribe` (0 before the first)
        self.last_attempts = 0
        self._client = client
        self._setup_error: RecogniserSetupError | None = None
        self._lock = threading.Lock()

    # -- client -------------------------------------------------------------------------------

    def check(self) -> None:
        """Build the client now: raises :class:`RecogniserSetupError` if it cannot be built."""
        self._get_client()

    def _get_client(self) -> Any:
        with self._lock:
            if self._client is not None:
                return self._client
            if self._setup_error is not None:
                raise self._setup_error
            try:
                self._client = self._build_client()
            except RecogniserSetupError as exc:
                self._setup_error = exc
                raise
            return self._client

    def _build_client(self) -> Any:
        try:
            from google.auth.exceptions import DefaultCredentialsError
            from google.cloud import speech
        except ImportError as exc:
            raise RecogniserSetupError(
                f"{_PREFIX} needs google-cloud-speech ({exc}): pip install google-cloud-speech"
            ) from None
        if self.insecure:
            import grpc
            from google.cloud.speech_v1.services.speech.transports import SpeechGrpcTransport

            channel = grpc.insecure_channel(self.endpoint)
            log.info("google: plaintext channel to %s (no credentials)", self.endpoint)
            return speech.SpeechClient(transport=SpeechGrpcTransport(channel=channel))
        options = {"api_endpoint": self.endpoint} if self.endpoint else None
        try:
            return speech.SpeechClient(client_options=options)
        except DefaultCredentialsError:
            raise RecogniserSetupError(_missing_credentials_message()) from None

    def close(self) -> None:
        """Close the client's channel (a prebuilt client is closed too)."""
        with self._lock:
            client, self._client = self._client, None
        transport = getattr(client, "transport", None)
        if transport is not None and hasattr(transport, "close"):
            transport.close()

    # -- recognition --------------------------------------------------------------------------

    def _streaming_config(self) -> Any:
        from google.cloud import speech

        config = speech.RecognitionConfig(
            encoding=speech.RecognitionConfig.AudioEncoding.LINEAR16,
            sample_rate_hertz=GOOGLE_SAMPLE_RATE,
            audio_channel_count=1,
            language_code=self.language,
        )
        if self.model:
            config.model = self.model
        if self.phrases:
            context = speech.SpeechContext(phrases=list(self.phrases))
            if self.boost is not None:
                context.boost = float(self.boost)
            config.speech_contexts = [context]
        return speech.StreamingRecognitionConfig(
            config=config, single_utterance=False, interim_results=False
        )

    def _audio_requests(self, pcm: bytes) -> Iterator[Any]:
        from google.cloud import speech

        step = 2 * max(1, round(GOOGLE_SAMPLE_RATE * self.chunk_seconds))
        for start in range(0, len(pcm), step):
            yield speech.StreamingRecognizeRequest(audio_content=pcm[start : start + step])

    def _attempt(self, client: Any, pcm: bytes, deadline: float) -> str:
        responses = client.streaming_recognize(
            config=self._streaming_config(),
            requests=self._audio_requests(pcm),
            retry=None,
            timeout=deadline,
        )
        finals: list[str] = []
        for response in responses:
            error = getattr(response, "error", None)
            if error is not None and getattr(error, "code", 0):
                raise _StatusError(_grpc_code(error.code), error.message)
            for result in response.results:
                if result.is_final and result.alternatives:
                    text = result.alternatives[0].transcript.strip()
                    if text:
                        finals.append(text)
        return " ".join(finals)

    def transcribe(self, audio: np.ndarray, sample_rate: int) -> str:
        pcm = _pcm16(audio, sample_rate, GOOGLE_SAMPLE_RATE)
        self.last_attempts = 0
        if not pcm:
            return ""
        client = self._get_client()
        t0 = time.monotonic()
        end = t0 + self.timeout
        attempt = 0
        while True:
            attempt += 1
            self.last_attempts = attempt
            remaining = max(end - time.monotonic(), 0.001)
            try:
                text = self._attempt(client, pcm, remaining)
            except Exception as exc:  # every failure becomes a RecognitionError
                status = _status_of(exc)
                if status is None:
                    log.warning(
                        "google: attempt %d/%d failed unexpectedly: %s",
                        attempt,
                        self.max_attempts,
                        type(exc).__name__,
                        exc_info=True,
                    )
                    raise RecognitionError(
                        f"{_PREFIX} failed unexpectedly ({type(exc).__name__})"
                    ) from None
                code, details = status
                code_name = getattr(code, "name", None) or "UNKNOWN"
                log.warning(
                    "google: attempt %d/%d failed: %s %s",
                    attempt,
                    self.max_attempts,
                    code_name,
                    _short(details),
                )
                delay = self.backoff * 2 ** (attempt - 1)
                if (
                    code_name in self.RETRYABLE
                    and attempt < self.max_attempts
                    and time.monotonic() + delay < end
                ):
                    time.sleep(delay)
                    continue
                raise RecognitionError(self._message(code_name, details, attempt)) from None
            log.debug(
                "google: %d bytes in %.2f s, %d attempt(s): %r",
                len(pcm),
                time.monotonic() - t0,
                attempt,
                text,
            )
            return text

    def _message(self, code: str, details: str, attempts: int) -> str:
        tries = f"{attempts} attempt{'s' if attempts != 1 else ''}"
        if code == "UNAVAILABLE":
            return f"{_PREFIX} is unavailable (network): no connection after {tries}"
        if code == "DEADLINE_EXCEEDED":
            return f"{_PREFIX} timed out: no answer within {self.timeout:g} s"
        if code == "UNAUTHENTICATED":
            return (
                f"{_PREFIX} refused the credentials: check that {_CREDENTIALS_ENV} names a valid "
                "service-account key"
            )
        if code == "PERMISSION_DENIED":
            return (
                f"{_PREFIX} refused the credentials (permission denied): check that the "
                "Speech-to-Text API is enabled for the project and the account may use it"
            )
        if code == "RESOURCE_EXHAUSTED":
            return f"{_PREFIX} is over its quota or rate limit; try again later"
        if code in ("INVALID_ARGUMENT", "OUT_OF_RANGE", "FAILED_PRECONDITION"):
            return f"{_PREFIX} rejected the request: {_short(details)}"
        if code == "CANCELLED":
            return f"{_PREFIX} was cancelled"
        return f"{_PREFIX} failed ({code}): {_short(details)}"


def _missing_credentials_message() -> str:
    path = os.environ.get(_CREDENTIALS_ENV)
    if path and not os.path.exists(path):
        why = f"{_CREDENTIALS_ENV} names a file that does not exist"
    elif path:
        why = f"the key file named by {_CREDENTIALS_ENV} could not be loaded"
    else:
        why = (
            f"none found: set {_CREDENTIALS_ENV} to a service-account key file or run "
            "'gcloud auth application-default login'"
        )
    return f"{_PREFIX} has no credentials: {why}"


# --- fallback ----------------------------------------------------------------------------------


class FallbackRecogniser:
    """``primary``, and ``fallback`` whenever ``primary`` raises :class:`RecognitionError`.

    After each :meth:`transcribe`, :attr:`name` is the backend that answered and
    :attr:`last_fallback` is the primary's error message (None when the primary answered), so a
    caller can report "Google was unavailable, used pocketsphinx". If the fallback fails too,
    the :class:`RecognitionError` names both failures.
    """

    def __init__(self, primary: Recogniser, fallback: Recogniser) -> None:
        self.primary = primary
        self.fallback = fallback
        self.last_fallback: str | None = None
        self._used: str = primary.name

    @property
    def name(self) -> str:
        """The backend used for the last transcription (the primary's before any)."""
        return self._used

    def transcribe(self, audio: np.ndarray, sample_rate: int) -> str:
        try:
            text = self.primary.transcribe(audio, sample_rate)
        except RecognitionError as exc:
            reason = str(exc)
            self.last_fallback = reason
            self._used = self.fallback.name
            log.warning("%s failed (%s); falling back to %s", self.primary.name, reason, self._used)
            try:
                return self.fallback.transcribe(audio, sample_rate)
            except HeyJoeError as exc2:
                raise RecognitionError(
                    f"{reason}; {self.fallback.name} failed too: {exc2}"
                ) from None
        self.last_fallback = None
        self._used = self.primary.name
        return text


# --- factory -----------------------------------------------------------------------------------

RECOGNISERS = ("pocketsphinx", "google")


def make_recogniser(name: str, offline: dict[str, Any] | None = None, **options: Any) -> Recogniser:
    """A recogniser by name: ``"pocketsphinx"`` (offline; ``offline`` holds its options:
    ``grammar``, ``music_vocabulary``) or ``"google"`` (:class:`GoogleRecogniser` with
    ``options``, falling back to pocketsphinx made with ``offline``)."""
    offline = dict(offline or {})
    bad = sorted(set(offline) - {"grammar", "music_vocabulary"})
    if bad:
        raise ConfigError(
            f"unknown option(s) {bad} for pocketsphinx; accepted: grammar, music_vocabulary"
        )
    if name == "pocketsphinx":
        if options:
            raise ConfigError(f"pocketsphinx takes no options, got {sorted(options)}")
        return PocketSphinxRecogniser(**offline)
    if name == "google":
        accepted = [p for p in inspect.signature(GoogleRecogniser).parameters if p != "self"]
        unknown = sorted(set(options) - set(accepted))
        if unknown:
            raise ConfigError(
                f"unknown option(s) {unknown} for the google recogniser; "
                f"accepted: {', '.join(accepted)}"
            )
        return FallbackRecogniser(GoogleRecogniser(**options), PocketSphinxRecogniser(**offline))
    raise ConfigError(f"unknown speech recogniser {name!r}; available: {', '.join(RECOGNISERS)}")
