"""One onnxruntime thread per worker process.

onnxruntime does not read OMP_NUM_THREADS: its CPU provider sizes its own intra-op pool to the
machine's cores for every session it builds. Worker processes already split the cores among
themselves, so each session must use one thread; deepface (``deepface.commons.onnx_utils.
build_session``) and retina-face build their sessions from a fresh ``onnxruntime.SessionOptions()``
that frbench cannot pass in, so the class is replaced, while models are built, by a subclass whose
instances start with one intra-op and one inter-op thread. Measured on SFace's forward pass with two
shared cores under load (bench/models_throughput.py): the default pool made it slower, not faster.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager

_lock = threading.Lock()


@contextmanager
def onnx_threads(n: int | None) -> Iterator[None]:
    """While active, every ``onnxruntime.SessionOptions()`` has ``n`` intra-op and inter-op threads.

    ``n=None`` changes nothing (onnxruntime's default pool). Sessions built inside keep their
    setting after the block ends; the original class is restored on exit.
    """
    if n is None:
        yield
        return
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise ValueError(f"onnx threads must be a positive integer or None, got {n!r}")
    try:
        import onnxruntime as ort
    except ImportError:
        yield
        return
    with _lock:
        original = ort.SessionOptions

        class LimitedSessionOptions(original):  # type: ignore[misc, valid-type]
            def __init__(self) -> None:
                super().__init__()
                self.intra_op_num_threads = n
                self.inter_op_num_threads = n

        ort.SessionOptions = LimitedSessionOptions
        try:
            yield
        finally:
            ort.SessionOptions = original
