"""A local stand-in for Google Cloud Speech-to-Text v1 ``StreamingRecognize``, on loopback.

google-cloud-speech ships no server-side servicer, so the method is registered with a generic
handler under its real name (``/google.cloud.speech.v1.Speech/StreamingRecognize``), using the
proto-plus messages' ``serialize``/``deserialize``. The client under test talks to it through an
ordinary ``SpeechClient`` over ``grpc.insecure_channel``.

Behaviour, like the service's: the first request must carry ``streaming_config`` (and no audio),
later ones only audio; the config must be LINEAR16 with a sample rate and a language. It then
answers ``transcript`` as an interim result followed by a final one. (The real service sends
interim results only when asked; the fake always does, to show the client ignores them.)

Faults, switched on per test: :meth:`FakeSpeechServer.fail` (a status for the first N calls or
all, at the start or after some audio chunks), ``delay`` (seconds before answering, e.g. longer
than the client's deadline), ``empty`` (no results), ``response_error`` (an error status inside
a response). Every call is recorded in ``calls``.
"""

from __future__ import annotations

import threading
from concurrent import futures
from dataclasses import dataclass, field
from typing import Any

import grpc
from google.cloud.speech_v1 import types as speech_types

SERVICE = "google.cloud.speech.v1.Speech"
METHOD = "StreamingRecognize"

Request = speech_types.StreamingRecognizeRequest
Response = speech_types.StreamingRecognizeResponse


@dataclass
class Fault:
    code: grpc.StatusCode
    details: str = "fake fault"
    times: int | None = None  # fails the next N calls it applies to; None: every call
    after_chunks: int | None = None  # None: at the start; k: after k audio chunks


@dataclass
class FakeCall:
    """What one StreamingRecognize call sent and how it ended."""

    index: int
    metadata: dict[str, str] = field(default_factory=dict)
    time_remaining: float | None = None  # the client's deadline as the server saw it, seconds
    config: Any = None  # StreamingRecognitionConfig of the first request
    chunks: int = 0
    audio: bytearray = field(default_factory=bytearray)
    outcome: str = "open"  # "ok", "cancelled" or a status code name

    @property
    def audio_bytes(self) -> int:
        return len(self.audio)


class FakeSpeechServer:
    """Start with :meth:`start` (or ``with``); ``endpoint`` is ``"127.0.0.1:<port>"``."""

    def __init__(self, transcript: str = "play some jazz", *, finals: int = 1) -> None:
        self.transcript = transcript
        self.finals = finals  # the transcript split into this many final results
        self.delay = 0.0
        self.empty = False
        self.response_error: tuple[grpc.StatusCode, str] | None = None
        self.faults: list[Fault] = []
        self.calls: list[FakeCall] = []
        self._lock = threading.Lock()
        self._server: grpc.Server | None = None
        self.port = 0

    # -- control ------------------------------------------------------------------------------

    def fail(
        self,
        code: grpc.StatusCode,
        *,
        times: int | None = None,
        after_chunks: int | None = None,
        details: str | None = None,
    ) -> None:
        """Answer ``code`` to the next ``times`` calls (None: every call), at the start of the
        call or after ``after_chunks`` audio chunks."""
        self.faults.append(Fault(code, details or f"fake {code.name.lower()}", times, after_chunks))

    @property
    def endpoint(self) -> str:
        return f"127.0.0.1:{self.port}"

    def start(self) -> FakeSpeechServer:
        server = grpc.server(futures.ThreadPoolExecutor(max_workers=8))
        handler = grpc.method_handlers_generic_handler(
            SERVICE,
            {
                METHOD: grpc.stream_stream_rpc_method_handler(
                    self._streaming_recognize,
                    request_deserializer=Request.deserialize,
                    response_serializer=Response.serialize,
                )
            },
        )
        server.add_generic_rpc_handlers((handler,))
        self.port = server.add_insecure_port("127.0.0.1:0")
        server.start()
        self._server = server
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.stop(grace=0).wait(5)
            self._server = None

    def __enter__(self) -> FakeSpeechServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- the method ---------------------------------------------------------------------------

    def _fault(self, chunks: int | None) -> Fault | None:
        with self._lock:
            for fault in self.faults:
                if fault.after_chunks == chunks and (fault.times is None or fault.times > 0):
                    if fault.times is not None:
                        fault.times -= 1
                    return fault
        return None

    def _abort(self, call: FakeCall, context: grpc.ServicerContext, code, details: str) -> None:
        call.outcome = code.name
        context.abort(code, details)

    def _streaming_recognize(self, request_iterator, context: grpc.ServicerContext):
        ended = threading.Event()
        context.add_callback(ended.set)
        with self._lock:
            call = FakeCall(index=len(self.calls) + 1)
            self.calls.append(call)
        call.metadata = {k: str(v) for k, v in context.invocation_metadata()}
        call.time_remaining = context.time_remaining()

        fault = self._fault(None)
        if fault is not None:
            self._abort(call, context, fault.code, fault.details)

        for i, request in enumerate(request_iterator):
            if i == 0:
                if "streaming_config" not in request or request.audio_content:
                    self._abort(
                        call,
                        context,
                        grpc.StatusCode.INVALID_ARGUMENT,
                        "the first request must carry streaming_config and no audio",
                    )
                call.config = request.streaming_config
                problem = _config_problem(call.config)
                if problem:
                    self._abort(call, context, grpc.StatusCode.INVALID_ARGUMENT, problem)
                continue
            if "streaming_config" in request:
                self._abort(
                    call,
                    context,
                    grpc.StatusCode.INVALID_ARGUMENT,
                    "streaming_config is allowed in the first request only",
                )
            call.chunks += 1
            call.audio += request.audio_content
            fault = self._fault(call.chunks)
            if fault is not None:
                self._abort(call, context, fault.code, fault.details)
        if call.config is None:
            self._abort(call, context, grpc.StatusCode.INVALID_ARGUMENT, "no streaming_config")

        if self.delay > 0 and ended.wait(self.delay):
            call.outcome = "cancelled"  # the client gave up (its deadline) while we waited
            return
        if self.response_error is not None:
            code, message = self.response_error
            call.outcome = code.name
            yield Response(error={"code": code.value[0], "message": message})
            return
        if not self.empty and self.transcript:
            words = self.transcript.split()
            yield Response(
                results=[
                    {
                        "alternatives": [
                            {"transcript": " ".join(words[: max(1, len(words) // 2)])}
                        ],
                        "is_final": False,
                        "stability": 0.5,
                    }
                ]
            )
            n = max(1, min(self.finals, len(words)))
            for k in range(n):
                part = words[k * len(words) // n : (k + 1) * len(words) // n]
                yield Response(
                    results=[
                        {
                            "alternatives": [
                                {"transcript": (" " if k else "") + " ".join(part)},
                                {"transcript": "an unlikely alternative"},
                            ],
                            "is_final": True,
                        }
                    ]
                )
        call.outcome = "ok"


def _config_problem(streaming_config: Any) -> str | None:
    config = streaming_config.config
    linear16 = speech_types.RecognitionConfig.AudioEncoding.LINEAR16
    if config.encoding != linear16:
        return f"fake accepts LINEAR16 only, got {config.encoding!r}"
    if not 8000 <= config.sample_rate_hertz <= 48000:
        return f"sample_rate_hertz must be within 8000..48000, got {config.sample_rate_hertz}"
    if not config.language_code:
        return "language_code is required"
    return None
