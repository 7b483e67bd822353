"""TFLite's schema, the part Strata reads: model, subgraph, tensors, operators, options.

:func:`read_model` turns a ``.tflite`` file (a FlatBuffer with the file
identifier "TFL3") into plain objects. Field numbers are those of TFLite's
``schema.fbs``; options tables are read lazily by the op that owns them.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from viewer.convert.tflite_flatbuffer import FlatBufferError, Table, root

IDENTIFIER = b"TFL3"

# BuiltinOperator, in code order (schema.fbs); codes past the list are named by number.
OPERATOR_NAMES = tuple("""
    ADD AVERAGE_POOL_2D CONCATENATION CONV_2D DEPTHWISE_CONV_2D DEPTH_TO_SPACE DEQUANTIZE
    EMBEDDING_LOOKUP FLOOR FULLY_CONNECTED HASHTABLE_LOOKUP L2_NORMALIZATION L2_POOL_2D
    LOCAL_RESPONSE_NORMALIZATION LOGISTIC LSH_PROJECTION LSTM MAX_POOL_2D MUL RELU RELU_N1_TO_1
    RELU6 RESHAPE RESIZE_BILINEAR RNN SOFTMAX SPACE_TO_DEPTH SVDF TANH CONCAT_EMBEDDINGS
    SKIP_GRAM CALL CUSTOM EMBEDDING_LOOKUP_SPARSE PAD UNIDIRECTIONAL_SEQUENCE_RNN GATHER
    BATCH_TO_SPACE_ND SPACE_TO_BATCH_ND TRANSPOSE MEAN SUB DIV SQUEEZE
    UNIDIRECTIONAL_SEQUENCE_LSTM STRIDED_SLICE BIDIRECTIONAL_SEQUENCE_RNN EXP TOPK_V2 SPLIT
    LOG_SOFTMAX DELEGATE BIDIRECTIONAL_SEQUENCE_LSTM CAST PRELU MAXIMUM ARG_MAX MINIMUM LESS NEG
    PADV2 GREATER GREATER_EQUAL LESS_EQUAL SELECT SLICE SIN TRANSPOSE_CONV SPARSE_TO_DENSE TILE
    EXPAND_DIMS EQUAL NOT_EQUAL LOG SUM SQRT RSQRT SHAPE POW ARG_MIN FAKE_QUANT REDUCE_PROD
    REDUCE_MAX PACK LOGICAL_OR ONE_HOT LOGICAL_AND LOGICAL_NOT UNPACK REDUCE_MIN FLOOR_DIV
    REDUCE_ANY SQUARE ZEROS_LIKE FILL FLOOR_MOD RANGE RESIZE_NEAREST_NEIGHBOR LEAKY_RELU
    SQUARED_DIFFERENCE MIRROR_PAD ABS SPLIT_V UNIQUE CEIL REVERSE_V2 ADD_N GATHER_ND COS WHERE
    RANK ELU REVERSE_SEQUENCE MATRIX_DIAG QUANTIZE MATRIX_SET_DIAG ROUND HARD_SWISH IF WHILE
    NON_MAX_SUPPRESSION_V4 NON_MAX_SUPPRESSION_V5 SCATTER_ND SELECT_V2 DENSIFY SEGMENT_SUM
    BATCH_MATMUL PLACEHOLDER_FOR_GREATER_OP_CODES CUMSUM CALL_ONCE BROADCAST_TO RFFT2D CONV_3D
    IMAG REAL COMPLEX_ABS HASHTABLE HASHTABLE_FIND HASHTABLE_IMPORT HASHTABLE_SIZE REDUCE_ALL
    CONV_3D_TRANSPOSE VAR_HANDLE READ_VARIABLE ASSIGN_VARIABLE BROADCAST_ARGS
    RANDOM_STANDARD_NORMAL BUCKETIZE RANDOM_UNIFORM MULTINOMIAL GELU DYNAMIC_UPDATE_SLICE
    RELU_0_TO_1
""".split())

# TensorType -> numpy dtype (None: a type no Strata layer computes with)
TENSOR_TYPES = {0: np.float32, 1: np.float16, 2: np.int32, 3: np.uint8, 4: np.int64, 6: np.bool_,
                7: np.int16, 9: np.int8, 10: np.float64, 12: np.uint64, 15: np.uint32, 16: np.uint16}
TYPE_NAMES = {5: "string", 8: "complex64", 11: "complex128", 13: "resource", 14: "variant",
              17: "int4", 18: "bfloat16"}


@dataclass
class Quantization:
    """Affine quantisation of a tensor: ``real = scale * (q - zero_point)``.

    Attributes
    ----------
    scale : ndarray (1,) or (channels,)
    zero_point : ndarray of int, same shape
    axis : int
        The axis the values run along when per-channel.
    """

    scale: np.ndarray
    zero_point: np.ndarray
    axis: int = 0

    @property
    def per_channel(self) -> bool:
        return self.scale.size > 1


@dataclass
class Tensor:
    """One tensor of the graph, with its constant data when it has some."""

    index: int
    name: str
    dtype: type | None
    type_name: str
    shape: tuple
    signature: tuple  # shape with -1 where the size is unknown until run time
    data: memoryview | None
    quantization: Quantization | None
    is_variable: bool = False

    def array(self) -> np.ndarray:
        """The constant data as an array of the tensor's shape (a read-only view)."""
        if self.data is None or self.dtype is None:
            raise FlatBufferError(f"tensor {self.name!r} holds no data")
        dtype = np.dtype(self.dtype).newbyteorder("<")
        count = int(np.prod(self.shape, dtype=np.int64))
        if count * dtype.itemsize != len(self.data):
            raise FlatBufferError(f"tensor {self.name!r} of shape {list(self.shape)} has "
                                  f"{len(self.data)} bytes of data, not {count * dtype.itemsize}")
        return np.frombuffer(self.data, dtype, count).reshape(self.shape)


@dataclass
class Operator:
    """One operator: its name, tensor indices (-1: an omitted optional input), options."""

    index: int
    name: str
    version: int
    inputs: list
    outputs: list
    options: Table | None = field(repr=False)

    def option(self, index: int, kind: str, default: float | int | bool = 0) -> float | int | bool:
        return default if self.options is None else self.options.scalar(index, kind, default)

    def option_vector(self, index: int, kind: str) -> np.ndarray | None:
        return None if self.options is None else self.options.vector(index, kind)


@dataclass
class Model:
    """The main subgraph of a TFLite model."""

    version: int
    description: str
    tensors: list
    operators: list
    inputs: list
    outputs: list
    subgraph_count: int


def read_model(buf: bytes | memoryview) -> Model:
    """Read a TFLite FlatBuffer.

    Raises
    ------
    FlatBufferError
        Truncated, damaged or inconsistent; the message says where.
    """
    model = root(buf, "Model", IDENTIFIER)
    codes = []
    for code in model.tables(1, "OperatorCode"):
        number = max(int(code.scalar(0, "i8", 0)), int(code.scalar(3, "i32", 0)))
        name = OPERATOR_NAMES[number] if 0 <= number < len(OPERATOR_NAMES) else f"operator code {number}"
        if name == "CUSTOM":
            name = f"CUSTOM ({code.string(1, '?')})"
        codes.append((name, int(code.scalar(2, "i32", 1))))
    buffers = model.tables(4, "Buffer")
    subgraphs = model.tables(2, "SubGraph")
    if not subgraphs:
        raise FlatBufferError("the model has no subgraph")
    graph = subgraphs[0]
    tensors = [_tensor(i, t, buffers, buf) for i, t in enumerate(graph.tables(0, "Tensor"))]
    n = len(tensors)
    operators = []
    for i, op in enumerate(graph.tables(3, "Operator")):
        index = int(op.scalar(0, "u32", 0))
        if index >= len(codes):
            raise FlatBufferError(f"operator {i} names operator code {index} of {len(codes)}")
        name, version = codes[index]
        operators.append(Operator(i, name, version, _indices(op.vector(1, "i32"), n, i, optional=True),
                                  _indices(op.vector(2, "i32"), n, i), op.table(4, "options")))
    return Model(int(model.scalar(0, "u32", 0)), model.string(3), tensors, operators,
                 _indices(graph.vector(1, "i32"), n, "inputs"),
                 _indices(graph.vector(2, "i32"), n, "outputs"), len(subgraphs))


def _indices(values: np.ndarray | None, n: int, where: object, optional: bool = False) -> list:
    out = [] if values is None else [int(v) for v in values]
    low = -1 if optional else 0
    for v in out:
        if not low <= v < n:
            raise FlatBufferError(f"operator {where} refers to tensor {v} of {n}" if isinstance(where, int)
                                  else f"the graph's {where} refer to tensor {v} of {n}")
    return out


def _tensor(index: int, t: Table, buffers: list, buf: bytes | memoryview) -> Tensor:
    name = t.string(3, f"tensor_{index}")
    type_code = int(t.scalar(1, "i8", 0))
    shape = t.vector(0, "i32")
    shape = () if shape is None else tuple(int(s) for s in shape)
    signature = t.vector(7, "i32")
    signature = shape if signature is None else tuple(int(s) for s in signature)
    if any(s < 0 for s in shape) or any(s < -1 for s in signature):
        raise FlatBufferError(f"tensor {name!r} has a negative size in {list(shape)}")
    data = None
    b = int(t.scalar(2, "u32", 0))
    if b:
        if b >= len(buffers):
            raise FlatBufferError(f"tensor {name!r} refers to buffer {b} of {len(buffers)}")
        data = _buffer_data(buffers[b], buf, name)
    dtype = TENSOR_TYPES.get(type_code)
    type_name = np.dtype(dtype).name if dtype is not None else TYPE_NAMES.get(type_code, f"type {type_code}")
    return Tensor(index, name, dtype, type_name, shape, signature, data, _quantization(t.table(4, "Quantization")),
                  bool(t.scalar(5, "bool", False)))


def _buffer_data(buffer: Table, buf: bytes | memoryview, name: str) -> memoryview | None:
    data = buffer.bytes_at(0)
    if data is not None and len(data):
        return data
    offset, size = int(buffer.scalar(1, "u64", 0)), int(buffer.scalar(2, "u64", 0))
    if offset > 1:  # data stored after the FlatBuffer (models over 2 GB); 1 marks "none"
        if offset + size > len(buf):
            raise FlatBufferError(f"the data of tensor {name!r} lies outside the file "
                                  f"(offset {offset}, {size} bytes, file of {len(buf)} bytes)")
        return memoryview(buf)[offset:offset + size]
    return None


def _quantization(q: Table | None) -> Quantization | None:
    if q is None:
        return None
    scale, zero = q.vector(2, "f32"), q.vector(3, "i64")
    if scale is None or not scale.size:
        return None
    zero = np.zeros(scale.size, np.int64) if zero is None or not zero.size else zero.astype(np.int64)
    if zero.size != scale.size:
        raise FlatBufferError(f"quantisation with {scale.size} scales and {zero.size} zero points")
    return Quantization(scale.astype(np.float32), zero, int(q.scalar(6, "i32", 0)))
