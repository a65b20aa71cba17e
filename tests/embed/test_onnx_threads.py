"""One onnxruntime thread per worker: the sessions deepface builds really get it."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from frbench.embed import executors
from frbench.embed.backend import Embedder, Pipeline
from frbench.embed.onnx_threads import onnx_threads

ort = pytest.importorskip("onnxruntime")


def _varint(n: int) -> bytes:
    out = bytearray()
    while True:
        byte, n = n & 0x7F, n >> 7
        out.append(byte | (0x80 if n else 0))
        if not n:
            return bytes(out)


def _field(number: int, value: bytes | int) -> bytes:
    """One protobuf field: varint (wire type 0) for ints, length-delimited (2) for bytes."""
    if isinstance(value, int):
        return _varint(number << 3) + _varint(value)
    return _varint(number << 3 | 2) + _varint(len(value)) + value


def identity_model() -> bytes:
    """An ONNX model y = Identity(x), x float[1, 4], encoded by hand (the onnx package is not needed).

    Field numbers from onnx.proto: ModelProto ir_version=1, graph=7, opset_import=8; GraphProto
    node=1, name=2, input=11, output=12; NodeProto input=1, output=2, op_type=4; ValueInfoProto
    name=1, type=2; TypeProto tensor_type=1; Tensor elem_type=1 (FLOAT), shape=2; dim=1, dim_value=1.
    """
    shape = _field(2, _field(1, _field(1, 1)) + _field(1, _field(1, 4)))
    tensor = _field(1, _field(1, 1) + shape)

    def value(name: bytes) -> bytes:
        return _field(1, name) + _field(2, tensor)

    node = _field(1, b"x") + _field(2, b"y") + _field(4, b"Identity")
    graph = _field(1, node) + _field(2, b"g") + _field(11, value(b"x")) + _field(12, value(b"y"))
    return _field(1, 8) + _field(7, graph) + _field(8, _field(1, b"") + _field(2, 13))


@pytest.fixture
def model_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv("DEEPFACE_HOME", str(tmp_path))
    weights = tmp_path / ".deepface" / "weights"
    weights.mkdir(parents=True)
    (weights / "identity.onnx").write_bytes(identity_model())
    return "identity.onnx"


def test_the_hand_made_model_runs(model_file: str) -> None:
    from deepface.commons.onnx_utils import build_session

    session = build_session(file_name=model_file, source_url="https://example.invalid/identity.onnx")
    x = np.arange(4, dtype=np.float32).reshape(1, 4)
    assert np.array_equal(session.run(None, {"x": x})[0], x)


def test_deepface_sessions_built_inside_get_one_thread(model_file: str) -> None:
    from deepface.commons.onnx_utils import build_session

    original = ort.SessionOptions
    with onnx_threads(1):
        limited = build_session(file_name=model_file, source_url="https://example.invalid/identity.onnx")
    default = build_session(file_name=model_file, source_url="https://example.invalid/identity.onnx")
    assert limited.get_session_options().intra_op_num_threads == 1
    assert limited.get_session_options().inter_op_num_threads == 1
    assert default.get_session_options().intra_op_num_threads == 0  # onnxruntime's default: one per core
    assert ort.SessionOptions is original


def test_none_changes_nothing_and_bad_counts_are_refused() -> None:
    original = ort.SessionOptions
    with onnx_threads(None):
        assert ort.SessionOptions is original
    for bad in (0, -1, True, 1.5):
        with pytest.raises(ValueError, match="positive integer"):
            with onnx_threads(bad):  # type: ignore[arg-type]
                pass


def test_the_class_is_restored_when_a_build_fails() -> None:
    original = ort.SessionOptions
    with pytest.raises(RuntimeError):
        with onnx_threads(1):
            raise RuntimeError("build failed")
    assert ort.SessionOptions is original


def test_worker_embedders_build_their_models_with_one_onnx_thread(monkeypatch: pytest.MonkeyPatch) -> None:
    """embed_chunk, the task of every parallel executor, builds the models under a one-thread limit."""
    seen: list[int] = []

    def build_model(task: str, model_name: str) -> None:
        seen.append(ort.SessionOptions().intra_op_num_threads)

    from deepface.modules import modeling

    monkeypatch.setattr(modeling, "build_model", build_model)
    monkeypatch.setattr(executors, "_embedders", {})
    assert executors.embed_chunk(Pipeline("SFace", "yunet", True), []) == []
    assert seen == [executors.WORKER_THREADS, executors.WORKER_THREADS] == [1, 1]
    # in the user's own process (serial executor) onnxruntime keeps its default
    seen.clear()
    Embedder(Pipeline("SFace", "yunet", True))
    assert seen == [0, 0]
