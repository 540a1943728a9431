"""The streaming detector: audio chunks of any size in, scores out, state carried between chunks.

This is the one code path for scoring files, evaluation and live listening. It runs the
trained network step by step in numpy (no Keras call per chunk):

1. **Features, incrementally.** The samples not yet framed (fewer than one window plus a
   hop) are kept; each chunk completes ``0..n`` frames, computed with the same
   :func:`lib.features.compute_features` as offline, so streaming features equal offline ones.
   The phonetic features (kinds ``logmel_phonetic``, ``phonetic``) carry their own state
   (:class:`lib.phonetic.PhoneticStream`: running mean normalisation, delta history).
2. **Causal conv.** The last ``kernel - 1`` frames are kept (zeros at the start, which is
   exactly the offline left padding); output step ``i`` is computed once frame
   ``stride * i`` has arrived.
3. **GRUs.** Each GRU's hidden state is carried over; every BatchNorm is folded into the
   weights next to it (inference statistics), dropout is the identity.

Memory is constant: a few frames, a few samples and one state vector per GRU, whatever
the length of the stream. Scores equal ``model.predict`` on the whole clip (tested to 1e-4).
"""

from __future__ import annotations

import numpy as np
import scipy.fft
from scipy.special import expit as _sigmoid  # one ufunc call, numerically stable

from lib.errors import AudioError
from lib.features import PHONETIC_KINDS, compute_features
from lib.features import _kernels as _features_kernels


class StreamWeights:
    """The network's weights as float32 numpy arrays, with every BatchNorm (inference
    statistics) folded into the weights next to it: the conv's into the conv, each GRU's
    output BatchNorm into the input weights of the layer after it. Made from a Keras model
    (:meth:`from_keras`) or from the arrays of an exported file (:meth:`from_arrays`)."""

    kernel_size: int
    conv_w: np.ndarray  # (kernel * bins, filters)
    conv_b: np.ndarray  # (filters,)
    grus: list[tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]]  # w, u, b_in, b_rec
    out_w: np.ndarray  # (units,)
    out_b: np.float32

    @classmethod
    def from_keras(cls, keras_model: object, n_gru: int) -> StreamWeights:
        def layer(name: str) -> object:
            return keras_model.get_layer(name)  # type: ignore[attr-defined]

        def bn(name: str) -> tuple[np.ndarray, np.ndarray]:
            lay = layer(name)
            gamma, beta, mean, var = (np.asarray(w, np.float64) for w in lay.get_weights())
            scale = gamma / np.sqrt(var + lay.epsilon)
            return scale, beta - mean * scale

        self = cls()
        f32 = np.float32
        kernel, bias = (np.asarray(a, np.float64) for a in layer("conv").get_weights())
        self.kernel_size, n_in, filters = kernel.shape
        scale, shift = bn("conv_bn")
        self.conv_w = np.ascontiguousarray(kernel.reshape(-1, filters) * scale, dtype=f32)
        self.conv_b = (bias * scale + shift).astype(f32)
        self.grus = []
        prev: tuple[np.ndarray, np.ndarray] | None = None  # the previous GRU's BatchNorm
        for i in range(1, n_gru + 1):
            gru = layer(f"gru{i}")
            cell = getattr(gru, "cell", gru)
            if not getattr(cell, "reset_after", True):
                raise ValueError(f"gru{i}: only reset_after=True GRUs (the Keras default) stream")
            w, u, b = (np.asarray(a, np.float64) for a in gru.get_weights())
            b = b.reshape(2, -1)
            b_in = b[0]
            if prev is not None:
                b_in = prev[1] @ w + b_in
                w = prev[0][:, None] * w
            self.grus.append((w.astype(f32), u.astype(f32), b_in.astype(f32), b[1].astype(f32)))
            prev = bn(f"gru{i}_bn")
        dense = layer("out").layer if hasattr(layer("out"), "layer") else layer("out")
        dw, db = (np.asarray(a, np.float64) for a in dense.get_weights())
        dw = dw[:, 0]
        self.out_w = (prev[0] * dw).astype(f32)
        self.out_b = f32(prev[1] @ dw + db[0])
        return self

    def arrays(self) -> dict[str, np.ndarray]:
        """The weights by name, for an exported file (:meth:`from_arrays` reads them back)."""
        out = {"conv_w": self.conv_w, "conv_b": self.conv_b, "out_w": self.out_w,
               "out_b": np.asarray(self.out_b, np.float32),
               "kernel_size": np.asarray(self.kernel_size, np.int64)}  # fmt: skip
        for i, (w, u, b_in, b_rec) in enumerate(self.grus, 1):
            out.update({f"gru{i}_w": w, f"gru{i}_u": u, f"gru{i}_b_in": b_in,
                        f"gru{i}_b_rec": b_rec})  # fmt: skip
        return out

    @classmethod
    def from_arrays(cls, arrays: dict[str, np.ndarray], n_gru: int, n_bins: int) -> StreamWeights:
        """Weights from :meth:`arrays`' names; ValueError naming what is missing or whose
        shape does not fit (``n_gru`` GRUs on ``n_bins`` features per frame)."""
        missing = [k for k in ("conv_w", "conv_b", "out_w", "out_b", "kernel_size")
                   if k not in arrays]  # fmt: skip
        parts = ("w", "u", "b_in", "b_rec")
        missing += [f"gru{i}_{p}" for i in range(1, n_gru + 1) for p in parts
                    if f"gru{i}_{p}" not in arrays]  # fmt: skip
        if missing:
            raise ValueError(f"missing weights {', '.join(missing)}")
        self = cls()
        f32 = np.float32
        self.kernel_size = int(arrays["kernel_size"])
        self.conv_w = np.ascontiguousarray(arrays["conv_w"], dtype=f32)
        self.conv_b = np.asarray(arrays["conv_b"], dtype=f32)
        if self.conv_w.ndim != 2 or self.conv_w.shape[0] != self.kernel_size * n_bins:
            raise ValueError(f"conv_w has shape {self.conv_w.shape}, not "
                             f"({self.kernel_size} x {n_bins}, filters)")  # fmt: skip
        n_in = self.conv_w.shape[1]
        self.grus = []
        for i in range(1, n_gru + 1):
            w, u, b_in, b_rec = (np.asarray(arrays[f"gru{i}_{p}"], dtype=f32)
                                 for p in ("w", "u", "b_in", "b_rec"))  # fmt: skip
            units = u.shape[0]
            if w.shape != (n_in, 3 * units) or u.shape != (units, 3 * units):
                raise ValueError(f"gru{i} weights have shapes {w.shape}, {u.shape}")
            self.grus.append((w, u, b_in, b_rec))
            n_in = units
        self.out_w = np.asarray(arrays["out_w"], dtype=f32)
        if self.out_w.shape != (n_in,):
            raise ValueError(f"out_w has shape {self.out_w.shape}, not ({n_in},)")
        self.out_b = f32(arrays["out_b"])
        return self


class StreamingDetector:
    """Scores a stream of audio chunk by chunk, carrying the network's state.

    ``process(chunk)`` takes float32 mono audio at ``sample_rate`` of any length (even one
    sample) and returns the scores of the output steps this chunk completed; score ``i``
    overall is for the audio heard up to ``offset_seconds + i * hop_seconds``.
    """

    def __init__(self, model: object) -> None:
        self.model = model
        self.feature_config = model.feature_config  # type: ignore[attr-defined]
        arch = model.arch  # type: ignore[attr-defined]
        self.sample_rate: int = int(self.feature_config.sample_rate)
        self.hop_seconds: float = float(model.hop_seconds)  # type: ignore[attr-defined]
        self.offset_seconds: float = float(model.offset_seconds)  # type: ignore[attr-defined]
        self.stride = int(arch.conv_stride)
        weights = getattr(model, "stream_weights", None)  # an exported model's
        if weights is None:
            weights = StreamWeights.from_keras(model.keras_model, len(arch.gru_units))  # type: ignore[attr-defined]
        self._w = weights
        self._win = self.feature_config.win_length
        self._hop = self.feature_config.hop_length
        self._n_bins = self.feature_config.n_bins
        self._kernels = _features_kernels(self.feature_config)
        self._no_frames = np.zeros((0, self._n_bins), dtype=np.float32)
        self._phonetic = None
        if self.feature_config.kind in PHONETIC_KINDS:
            from lib.phonetic import PhoneticStream

            self._phonetic = PhoneticStream()
        self.reset()

    def reset(self) -> None:
        """Forget the stream: the next chunk starts a new one."""
        k = self._w.kernel_size
        self._samples = np.zeros(0, dtype=np.float32)
        # Padded frame buffer: starts with the conv's kernel-1 zero frames (causal padding).
        self._frames = np.zeros((k - 1, self._n_bins), dtype=np.float32)
        self._next_step = 0  # the next output step to compute
        self._buffer_start = 0  # padded index of self._frames[0]
        self._states = [np.zeros(g[1].shape[0], dtype=np.float32) for g in self._w.grus]
        self.steps_done = 0
        self.samples_seen = 0
        if self._phonetic is not None:
            self._phonetic.reset()

    # ------------------------------------------------------------------ stages

    def _features(self, x: np.ndarray, n: int) -> np.ndarray:
        """The ``n`` frames of ``x`` (exactly what :func:`compute_features` gives)."""
        fc = self.feature_config
        if fc.kind == "spectrogram":
            return compute_features(x[: (n - 1) * self._hop + self._win], fc)
        if fc.kind == "phonetic":
            return self._phonetic.process(x, n)
        window, proj = self._kernels
        frames = np.lib.stride_tricks.as_strided(
            x, shape=(n, self._win), strides=(x.strides[0] * self._hop, x.strides[0])
        )
        spec = scipy.fft.rfft(frames * window, n=fc.n_fft, axis=-1, overwrite_x=True)
        out = (np.square(spec.real) + np.square(spec.imag)) @ proj
        out += np.float32(fc.log_floor)
        np.log(out, out=out)
        if self._phonetic is None:
            return out
        return np.concatenate([out, self._phonetic.process(x, n)], axis=1)

    def _new_frames(self, chunk: np.ndarray) -> np.ndarray:
        buf = np.concatenate([self._samples, chunk]) if len(self._samples) else chunk
        n = 0 if len(buf) < self._win else 1 + (len(buf) - self._win) // self._hop
        if n == 0:
            self._samples = buf.copy() if buf is chunk else buf
            return self._no_frames
        buf = np.ascontiguousarray(buf)
        feats = self._features(buf, n)
        self._samples = buf[n * self._hop :].copy()
        return feats

    def _conv(self, feats: np.ndarray) -> np.ndarray:
        w = self._w
        k, s = w.kernel_size, self.stride
        if len(feats):
            self._frames = np.concatenate([self._frames, feats])
        # step i needs padded frames [s*i, s*i + k); buffer holds [start, start + len)
        end = self._buffer_start + len(self._frames)
        n_steps = 0 if end < s * self._next_step + k else (end - k) // s - self._next_step + 1
        if n_steps <= 0:
            return np.zeros((0, w.conv_w.shape[1]), dtype=np.float32)
        first = s * self._next_step - self._buffer_start
        frames = self._frames
        # step j's input: k consecutive frames, flattened (rows of a C-contiguous buffer)
        x = np.stack([frames[first + s * j : first + s * j + k].reshape(-1)
                      for j in range(n_steps)])  # fmt: skip
        y = x @ w.conv_w
        y += w.conv_b
        np.maximum(y, 0.0, out=y)
        self._next_step += n_steps
        keep_from = s * self._next_step - self._buffer_start
        self._frames = self._frames[keep_from:].copy()
        self._buffer_start += keep_from
        return y.astype(np.float32, copy=False)

    def _grus(self, x: np.ndarray) -> np.ndarray:
        for j, (w, u, b_in, b_rec) in enumerate(self._w.grus):
            units = u.shape[0]
            xw = x @ w + b_in  # (n, 3u): z, r, h parts
            h = self._states[j]
            out = np.empty((len(x), units), dtype=np.float32)
            u2 = 2 * units
            for t in range(len(x)):
                hu = h @ u
                hu += b_rec
                zr = hu[:u2]
                zr += xw[t, :u2]
                _sigmoid(zr, out=zr)
                hh = hu[u2:]
                hh *= zr[units:]
                hh += xw[t, u2:]
                np.tanh(hh, out=hh)
                # h = z * h + (1 - z) * hh  ==  hh + z * (h - hh)
                h = hh + zr[:units] * (h - hh)
                out[t] = h
            self._states[j] = h
            x = out
        return x

    # ------------------------------------------------------------------ public

    def process(self, chunk: np.ndarray) -> np.ndarray:
        """Feed ``chunk`` (float mono at ``sample_rate``); returns the scores it completed."""
        x = np.asarray(chunk)
        if x.ndim != 1:
            raise AudioError(f"a chunk must be 1-D mono audio, got shape {x.shape}")
        if not np.issubdtype(x.dtype, np.floating):
            raise AudioError(f"a chunk must be float audio in [-1, 1], got {x.dtype}")
        x = x.astype(np.float32, copy=False)
        self.samples_seen += len(x)
        feats = self._new_frames(x)
        if not len(feats):
            return np.zeros(0, dtype=np.float32)
        y = self._conv(feats)
        if not len(y):
            return np.zeros(0, dtype=np.float32)
        h = self._grus(y)
        scores = _sigmoid(h @ self._w.out_w + self._w.out_b).astype(np.float32)
        self.steps_done += len(scores)
        return scores

    def times(self, first_step: int, n: int) -> np.ndarray:
        """The times (s) the scores ``first_step .. first_step + n - 1`` stand for."""
        return self.offset_seconds + (first_step + np.arange(n)) * self.hop_seconds


def score_audio(model: object, audio: np.ndarray, chunk_seconds: float = 1.0) -> np.ndarray:
    """Scores of a whole clip, fed through a fresh :class:`StreamingDetector` in chunks."""
    if chunk_seconds <= 0:
        raise ValueError(f"chunk_seconds must be positive, got {chunk_seconds}")
    det = StreamingDetector(model)
    x = np.asarray(audio)
    if x.ndim != 1:
        raise AudioError(f"audio must be 1-D mono, got shape {x.shape}")
    step = max(1, int(round(chunk_seconds * det.sample_rate)))
    parts = [det.process(x[i : i + step]) for i in range(0, len(x), step)]
    return np.concatenate(parts) if parts else np.zeros(0, dtype=np.float32)


def compute_ms_per_second(model: object, seconds: float = 20.0, chunk: int = 1280) -> float:
    """CPU milliseconds the detector spends per second of audio (noise-like input, ``chunk``
    samples per call; ``time.process_time``, so other programs on the machine do not count)."""
    import time

    rng = np.random.default_rng(0)
    det = StreamingDetector(model)
    audio = (0.1 * rng.standard_normal(int(seconds * det.sample_rate))).astype(np.float32)
    det.process(audio[: det.sample_rate])  # warm-up
    det.reset()
    try:
        from threadpoolctl import threadpool_limits

        limits = threadpool_limits(1)  # one BLAS thread, as on a small device
    except ImportError:
        limits = None
    start = time.process_time()
    for i in range(0, len(audio), chunk):
        det.process(audio[i : i + chunk])
    spent = time.process_time() - start
    if limits is not None:
        limits.restore_original_limits()
    return 1000.0 * spent / seconds
