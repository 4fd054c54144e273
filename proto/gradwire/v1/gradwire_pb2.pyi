from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class DType(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    DTYPE_UNSPECIFIED: _ClassVar[DType]
    FLOAT32: _ClassVar[DType]
    FLOAT64: _ClassVar[DType]
    INT32: _ClassVar[DType]
    INT64: _ClassVar[DType]
    BOOL: _ClassVar[DType]
    UINT8: _ClassVar[DType]
    INT8: _ClassVar[DType]
    INT16: _ClassVar[DType]
    FLOAT16: _ClassVar[DType]

class JacobianMode(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    JACOBIAN_MODE_UNSPECIFIED: _ClassVar[JacobianMode]
    JACOBIAN_MODE_REVERSE: _ClassVar[JacobianMode]
    JACOBIAN_MODE_FORWARD: _ClassVar[JacobianMode]
    JACOBIAN_MODE_AUTO: _ClassVar[JacobianMode]
DTYPE_UNSPECIFIED: DType
FLOAT32: DType
FLOAT64: DType
INT32: DType
INT64: DType
BOOL: DType
UINT8: DType
INT8: DType
INT16: DType
FLOAT16: DType
JACOBIAN_MODE_UNSPECIFIED: JacobianMode
JACOBIAN_MODE_REVERSE: JacobianMode
JACOBIAN_MODE_FORWARD: JacobianMode
JACOBIAN_MODE_AUTO: JacobianMode

class Tensor(_message.Message):
    __slots__ = ("dtype", "shape", "data", "handle", "shm")
    DTYPE_FIELD_NUMBER: _ClassVar[int]
    SHAPE_FIELD_NUMBER: _ClassVar[int]
    DATA_FIELD_NUMBER: _ClassVar[int]
    HANDLE_FIELD_NUMBER: _ClassVar[int]
    SHM_FIELD_NUMBER: _ClassVar[int]
    dtype: DType
    shape: _containers.RepeatedScalarFieldContainer[int]
    data: bytes
    handle: str
    shm: SharedRegion
    def __init__(self, dtype: _Optional[_Union[DType, str]] = ..., shape: _Optional[_Iterable[int]] = ..., data: _Optional[bytes] = ..., handle: _Optional[str] = ..., shm: _Optional[_Union[SharedRegion, _Mapping]] = ...) -> None: ...

class SharedRegion(_message.Message):
    __slots__ = ("name", "nbytes", "keep")
    NAME_FIELD_NUMBER: _ClassVar[int]
    NBYTES_FIELD_NUMBER: _ClassVar[int]
    KEEP_FIELD_NUMBER: _ClassVar[int]
    name: str
    nbytes: int
    keep: bool
    def __init__(self, name: _Optional[str] = ..., nbytes: _Optional[int] = ..., keep: _Optional[bool] = ...) -> None: ...

class IntList(_message.Message):
    __slots__ = ("values",)
    VALUES_FIELD_NUMBER: _ClassVar[int]
    values: _containers.RepeatedScalarFieldContainer[int]
    def __init__(self, values: _Optional[_Iterable[int]] = ...) -> None: ...

class FloatList(_message.Message):
    __slots__ = ("values",)
    VALUES_FIELD_NUMBER: _ClassVar[int]
    values: _containers.RepeatedScalarFieldContainer[float]
    def __init__(self, values: _Optional[_Iterable[float]] = ...) -> None: ...

class AttrValue(_message.Message):
    __slots__ = ("i", "f", "b", "s", "ints", "floats", "tensor", "none")
    I_FIELD_NUMBER: _ClassVar[int]
    F_FIELD_NUMBER: _ClassVar[int]
    B_FIELD_NUMBER: _ClassVar[int]
    S_FIELD_NUMBER: _ClassVar[int]
    INTS_FIELD_NUMBER: _ClassVar[int]
    FLOATS_FIELD_NUMBER: _ClassVar[int]
    TENSOR_FIELD_NUMBER: _ClassVar[int]
    NONE_FIELD_NUMBER: _ClassVar[int]
    i: int
    f: float
    b: bool
    s: str
    ints: IntList
    floats: FloatList
    tensor: Tensor
    none: bool
    def __init__(self, i: _Optional[int] = ..., f: _Optional[float] = ..., b: _Optional[bool] = ..., s: _Optional[str] = ..., ints: _Optional[_Union[IntList, _Mapping]] = ..., floats: _Optional[_Union[FloatList, _Mapping]] = ..., tensor: _Optional[_Union[Tensor, _Mapping]] = ..., none: _Optional[bool] = ...) -> None: ...

class Node(_message.Message):
    __slots__ = ("op", "inputs", "attrs")
    class AttrsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: AttrValue
        def __init__(self, key: _Optional[str] = ..., value: _Optional[_Union[AttrValue, _Mapping]] = ...) -> None: ...
    OP_FIELD_NUMBER: _ClassVar[int]
    INPUTS_FIELD_NUMBER: _ClassVar[int]
    ATTRS_FIELD_NUMBER: _ClassVar[int]
    op: str
    inputs: _containers.RepeatedScalarFieldContainer[int]
    attrs: _containers.MessageMap[str, AttrValue]
    def __init__(self, op: _Optional[str] = ..., inputs: _Optional[_Iterable[int]] = ..., attrs: _Optional[_Mapping[str, AttrValue]] = ...) -> None: ...

class Graph(_message.Message):
    __slots__ = ("nodes",)
    NODES_FIELD_NUMBER: _ClassVar[int]
    nodes: _containers.RepeatedCompositeFieldContainer[Node]
    def __init__(self, nodes: _Optional[_Iterable[_Union[Node, _Mapping]]] = ...) -> None: ...

class GraphPart(_message.Message):
    __slots__ = ("graph", "hash")
    GRAPH_FIELD_NUMBER: _ClassVar[int]
    HASH_FIELD_NUMBER: _ClassVar[int]
    graph: Graph
    hash: str
    def __init__(self, graph: _Optional[_Union[Graph, _Mapping]] = ..., hash: _Optional[str] = ...) -> None: ...

class GraphRef(_message.Message):
    __slots__ = ("parts",)
    PARTS_FIELD_NUMBER: _ClassVar[int]
    parts: _containers.RepeatedCompositeFieldContainer[GraphPart]
    def __init__(self, parts: _Optional[_Iterable[_Union[GraphPart, _Mapping]]] = ...) -> None: ...

class KnownValue(_message.Message):
    __slots__ = ("node", "value")
    NODE_FIELD_NUMBER: _ClassVar[int]
    VALUE_FIELD_NUMBER: _ClassVar[int]
    node: int
    value: Tensor
    def __init__(self, node: _Optional[int] = ..., value: _Optional[_Union[Tensor, _Mapping]] = ...) -> None: ...

class Options(_message.Message):
    __slots__ = ("detect_anomaly", "resident", "fetch", "fetch_gradients", "shm_session", "out_regions", "release")
    DETECT_ANOMALY_FIELD_NUMBER: _ClassVar[int]
    RESIDENT_FIELD_NUMBER: _ClassVar[int]
    FETCH_FIELD_NUMBER: _ClassVar[int]
    FETCH_GRADIENTS_FIELD_NUMBER: _ClassVar[int]
    SHM_SESSION_FIELD_NUMBER: _ClassVar[int]
    OUT_REGIONS_FIELD_NUMBER: _ClassVar[int]
    RELEASE_FIELD_NUMBER: _ClassVar[int]
    detect_anomaly: bool
    resident: bool
    fetch: _containers.RepeatedScalarFieldContainer[int]
    fetch_gradients: bool
    shm_session: str
    out_regions: _containers.RepeatedCompositeFieldContainer[SharedRegion]
    release: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, detect_anomaly: _Optional[bool] = ..., resident: _Optional[bool] = ..., fetch: _Optional[_Iterable[int]] = ..., fetch_gradients: _Optional[bool] = ..., shm_session: _Optional[str] = ..., out_regions: _Optional[_Iterable[_Union[SharedRegion, _Mapping]]] = ..., release: _Optional[_Iterable[str]] = ...) -> None: ...

class GraphInfo(_message.Message):
    __slots__ = ("part_hashes", "plan_cache_hit")
    PART_HASHES_FIELD_NUMBER: _ClassVar[int]
    PLAN_CACHE_HIT_FIELD_NUMBER: _ClassVar[int]
    part_hashes: _containers.RepeatedScalarFieldContainer[str]
    plan_cache_hit: bool
    def __init__(self, part_hashes: _Optional[_Iterable[str]] = ..., plan_cache_hit: _Optional[bool] = ...) -> None: ...

class Anomaly(_message.Message):
    __slots__ = ("node", "op", "phase", "message")
    NODE_FIELD_NUMBER: _ClassVar[int]
    OP_FIELD_NUMBER: _ClassVar[int]
    PHASE_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    node: int
    op: str
    phase: str
    message: str
    def __init__(self, node: _Optional[int] = ..., op: _Optional[str] = ..., phase: _Optional[str] = ..., message: _Optional[str] = ...) -> None: ...

class EvaluateRequest(_message.Message):
    __slots__ = ("graph", "inputs", "known", "outputs", "options")
    class InputsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: Tensor
        def __init__(self, key: _Optional[str] = ..., value: _Optional[_Union[Tensor, _Mapping]] = ...) -> None: ...
    GRAPH_FIELD_NUMBER: _ClassVar[int]
    INPUTS_FIELD_NUMBER: _ClassVar[int]
    KNOWN_FIELD_NUMBER: _ClassVar[int]
    OUTPUTS_FIELD_NUMBER: _ClassVar[int]
    OPTIONS_FIELD_NUMBER: _ClassVar[int]
    graph: GraphRef
    inputs: _containers.MessageMap[str, Tensor]
    known: _containers.RepeatedCompositeFieldContainer[KnownValue]
    outputs: _containers.RepeatedScalarFieldContainer[int]
    options: Options
    def __init__(self, graph: _Optional[_Union[GraphRef, _Mapping]] = ..., inputs: _Optional[_Mapping[str, Tensor]] = ..., known: _Optional[_Iterable[_Union[KnownValue, _Mapping]]] = ..., outputs: _Optional[_Iterable[int]] = ..., options: _Optional[_Union[Options, _Mapping]] = ...) -> None: ...

class EvaluateResponse(_message.Message):
    __slots__ = ("outputs", "info", "anomaly")
    OUTPUTS_FIELD_NUMBER: _ClassVar[int]
    INFO_FIELD_NUMBER: _ClassVar[int]
    ANOMALY_FIELD_NUMBER: _ClassVar[int]
    outputs: _containers.RepeatedCompositeFieldContainer[Tensor]
    info: GraphInfo
    anomaly: Anomaly
    def __init__(self, outputs: _Optional[_Iterable[_Union[Tensor, _Mapping]]] = ..., info: _Optional[_Union[GraphInfo, _Mapping]] = ..., anomaly: _Optional[_Union[Anomaly, _Mapping]] = ...) -> None: ...

class GradientRequest(_message.Message):
    __slots__ = ("graph", "inputs", "known", "outputs", "seeds", "wrt", "create_graph", "extra", "options")
    class InputsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: Tensor
        def __init__(self, key: _Optional[str] = ..., value: _Optional[_Union[Tensor, _Mapping]] = ...) -> None: ...
    GRAPH_FIELD_NUMBER: _ClassVar[int]
    INPUTS_FIELD_NUMBER: _ClassVar[int]
    KNOWN_FIELD_NUMBER: _ClassVar[int]
    OUTPUTS_FIELD_NUMBER: _ClassVar[int]
    SEEDS_FIELD_NUMBER: _ClassVar[int]
    WRT_FIELD_NUMBER: _ClassVar[int]
    CREATE_GRAPH_FIELD_NUMBER: _ClassVar[int]
    EXTRA_FIELD_NUMBER: _ClassVar[int]
    OPTIONS_FIELD_NUMBER: _ClassVar[int]
    graph: GraphRef
    inputs: _containers.MessageMap[str, Tensor]
    known: _containers.RepeatedCompositeFieldContainer[KnownValue]
    outputs: _containers.RepeatedScalarFieldContainer[int]
    seeds: _containers.RepeatedScalarFieldContainer[int]
    wrt: _containers.RepeatedScalarFieldContainer[int]
    create_graph: bool
    extra: _containers.RepeatedScalarFieldContainer[int]
    options: Options
    def __init__(self, graph: _Optional[_Union[GraphRef, _Mapping]] = ..., inputs: _Optional[_Mapping[str, Tensor]] = ..., known: _Optional[_Iterable[_Union[KnownValue, _Mapping]]] = ..., outputs: _Optional[_Iterable[int]] = ..., seeds: _Optional[_Iterable[int]] = ..., wrt: _Optional[_Iterable[int]] = ..., create_graph: _Optional[bool] = ..., extra: _Optional[_Iterable[int]] = ..., options: _Optional[_Union[Options, _Mapping]] = ...) -> None: ...

class GradientResponse(_message.Message):
    __slots__ = ("values", "gradients", "unused", "extra", "grad_graph", "gradient_nodes", "info", "anomaly")
    VALUES_FIELD_NUMBER: _ClassVar[int]
    GRADIENTS_FIELD_NUMBER: _ClassVar[int]
    UNUSED_FIELD_NUMBER: _ClassVar[int]
    EXTRA_FIELD_NUMBER: _ClassVar[int]
    GRAD_GRAPH_FIELD_NUMBER: _ClassVar[int]
    GRADIENT_NODES_FIELD_NUMBER: _ClassVar[int]
    INFO_FIELD_NUMBER: _ClassVar[int]
    ANOMALY_FIELD_NUMBER: _ClassVar[int]
    values: _containers.RepeatedCompositeFieldContainer[Tensor]
    gradients: _containers.RepeatedCompositeFieldContainer[Tensor]
    unused: _containers.RepeatedScalarFieldContainer[bool]
    extra: _containers.RepeatedCompositeFieldContainer[Tensor]
    grad_graph: Graph
    gradient_nodes: _containers.RepeatedScalarFieldContainer[int]
    info: GraphInfo
    anomaly: Anomaly
    def __init__(self, values: _Optional[_Iterable[_Union[Tensor, _Mapping]]] = ..., gradients: _Optional[_Iterable[_Union[Tensor, _Mapping]]] = ..., unused: _Optional[_Iterable[bool]] = ..., extra: _Optional[_Iterable[_Union[Tensor, _Mapping]]] = ..., grad_graph: _Optional[_Union[Graph, _Mapping]] = ..., gradient_nodes: _Optional[_Iterable[int]] = ..., info: _Optional[_Union[GraphInfo, _Mapping]] = ..., anomaly: _Optional[_Union[Anomaly, _Mapping]] = ...) -> None: ...

class JvpRequest(_message.Message):
    __slots__ = ("graph", "inputs", "known", "outputs", "primals", "tangents", "options")
    class InputsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: Tensor
        def __init__(self, key: _Optional[str] = ..., value: _Optional[_Union[Tensor, _Mapping]] = ...) -> None: ...
    GRAPH_FIELD_NUMBER: _ClassVar[int]
    INPUTS_FIELD_NUMBER: _ClassVar[int]
    KNOWN_FIELD_NUMBER: _ClassVar[int]
    OUTPUTS_FIELD_NUMBER: _ClassVar[int]
    PRIMALS_FIELD_NUMBER: _ClassVar[int]
    TANGENTS_FIELD_NUMBER: _ClassVar[int]
    OPTIONS_FIELD_NUMBER: _ClassVar[int]
    graph: GraphRef
    inputs: _containers.MessageMap[str, Tensor]
    known: _containers.RepeatedCompositeFieldContainer[KnownValue]
    outputs: _containers.RepeatedScalarFieldContainer[int]
    primals: _containers.RepeatedScalarFieldContainer[int]
    tangents: _containers.RepeatedCompositeFieldContainer[Tensor]
    options: Options
    def __init__(self, graph: _Optional[_Union[GraphRef, _Mapping]] = ..., inputs: _Optional[_Mapping[str, Tensor]] = ..., known: _Optional[_Iterable[_Union[KnownValue, _Mapping]]] = ..., outputs: _Optional[_Iterable[int]] = ..., primals: _Optional[_Iterable[int]] = ..., tangents: _Optional[_Iterable[_Union[Tensor, _Mapping]]] = ..., options: _Optional[_Union[Options, _Mapping]] = ...) -> None: ...

class JvpResponse(_message.Message):
    __slots__ = ("values", "tangents", "info", "anomaly")
    VALUES_FIELD_NUMBER: _ClassVar[int]
    TANGENTS_FIELD_NUMBER: _ClassVar[int]
    INFO_FIELD_NUMBER: _ClassVar[int]
    ANOMALY_FIELD_NUMBER: _ClassVar[int]
    values: _containers.RepeatedCompositeFieldContainer[Tensor]
    tangents: _containers.RepeatedCompositeFieldContainer[Tensor]
    info: GraphInfo
    anomaly: Anomaly
    def __init__(self, values: _Optional[_Iterable[_Union[Tensor, _Mapping]]] = ..., tangents: _Optional[_Iterable[_Union[Tensor, _Mapping]]] = ..., info: _Optional[_Union[GraphInfo, _Mapping]] = ..., anomaly: _Optional[_Union[Anomaly, _Mapping]] = ...) -> None: ...

class JacobianRequest(_message.Message):
    __slots__ = ("graph", "inputs", "known", "output", "wrt", "mode", "options")
    class InputsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: Tensor
        def __init__(self, key: _Optional[str] = ..., value: _Optional[_Union[Tensor, _Mapping]] = ...) -> None: ...
    GRAPH_FIELD_NUMBER: _ClassVar[int]
    INPUTS_FIELD_NUMBER: _ClassVar[int]
    KNOWN_FIELD_NUMBER: _ClassVar[int]
    OUTPUT_FIELD_NUMBER: _ClassVar[int]
    WRT_FIELD_NUMBER: _ClassVar[int]
    MODE_FIELD_NUMBER: _ClassVar[int]
    OPTIONS_FIELD_NUMBER: _ClassVar[int]
    graph: GraphRef
    inputs: _containers.MessageMap[str, Tensor]
    known: _containers.RepeatedCompositeFieldContainer[KnownValue]
    output: int
    wrt: _containers.RepeatedScalarFieldContainer[int]
    mode: JacobianMode
    options: Options
    def __init__(self, graph: _Optional[_Union[GraphRef, _Mapping]] = ..., inputs: _Optional[_Mapping[str, Tensor]] = ..., known: _Optional[_Iterable[_Union[KnownValue, _Mapping]]] = ..., output: _Optional[int] = ..., wrt: _Optional[_Iterable[int]] = ..., mode: _Optional[_Union[JacobianMode, str]] = ..., options: _Optional[_Union[Options, _Mapping]] = ...) -> None: ...

class JacobianResponse(_message.Message):
    __slots__ = ("value", "jacobians", "info")
    VALUE_FIELD_NUMBER: _ClassVar[int]
    JACOBIANS_FIELD_NUMBER: _ClassVar[int]
    INFO_FIELD_NUMBER: _ClassVar[int]
    value: Tensor
    jacobians: _containers.RepeatedCompositeFieldContainer[Tensor]
    info: GraphInfo
    def __init__(self, value: _Optional[_Union[Tensor, _Mapping]] = ..., jacobians: _Optional[_Iterable[_Union[Tensor, _Mapping]]] = ..., info: _Optional[_Union[GraphInfo, _Mapping]] = ...) -> None: ...

class HessianRequest(_message.Message):
    __slots__ = ("graph", "inputs", "known", "output", "wrt", "options")
    class InputsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: Tensor
        def __init__(self, key: _Optional[str] = ..., value: _Optional[_Union[Tensor, _Mapping]] = ...) -> None: ...
    GRAPH_FIELD_NUMBER: _ClassVar[int]
    INPUTS_FIELD_NUMBER: _ClassVar[int]
    KNOWN_FIELD_NUMBER: _ClassVar[int]
    OUTPUT_FIELD_NUMBER: _ClassVar[int]
    WRT_FIELD_NUMBER: _ClassVar[int]
    OPTIONS_FIELD_NUMBER: _ClassVar[int]
    graph: GraphRef
    inputs: _containers.MessageMap[str, Tensor]
    known: _containers.RepeatedCompositeFieldContainer[KnownValue]
    output: int
    wrt: _containers.RepeatedScalarFieldContainer[int]
    options: Options
    def __init__(self, graph: _Optional[_Union[GraphRef, _Mapping]] = ..., inputs: _Optional[_Mapping[str, Tensor]] = ..., known: _Optional[_Iterable[_Union[KnownValue, _Mapping]]] = ..., output: _Optional[int] = ..., wrt: _Optional[_Iterable[int]] = ..., options: _Optional[_Union[Options, _Mapping]] = ...) -> None: ...

class HessianResponse(_message.Message):
    __slots__ = ("value", "blocks", "info")
    VALUE_FIELD_NUMBER: _ClassVar[int]
    BLOCKS_FIELD_NUMBER: _ClassVar[int]
    INFO_FIELD_NUMBER: _ClassVar[int]
    value: Tensor
    blocks: _containers.RepeatedCompositeFieldContainer[Tensor]
    info: GraphInfo
    def __init__(self, value: _Optional[_Union[Tensor, _Mapping]] = ..., blocks: _Optional[_Iterable[_Union[Tensor, _Mapping]]] = ..., info: _Optional[_Union[GraphInfo, _Mapping]] = ...) -> None: ...

class GradCheckRequest(_message.Message):
    __slots__ = ("graph", "inputs", "output", "wrt", "eps", "atol", "rtol")
    class InputsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: Tensor
        def __init__(self, key: _Optional[str] = ..., value: _Optional[_Union[Tensor, _Mapping]] = ...) -> None: ...
    GRAPH_FIELD_NUMBER: _ClassVar[int]
    INPUTS_FIELD_NUMBER: _ClassVar[int]
    OUTPUT_FIELD_NUMBER: _ClassVar[int]
    WRT_FIELD_NUMBER: _ClassVar[int]
    EPS_FIELD_NUMBER: _ClassVar[int]
    ATOL_FIELD_NUMBER: _ClassVar[int]
    RTOL_FIELD_NUMBER: _ClassVar[int]
    graph: GraphRef
    inputs: _containers.MessageMap[str, Tensor]
    output: int
    wrt: _containers.RepeatedScalarFieldContainer[int]
    eps: float
    atol: float
    rtol: float
    def __init__(self, graph: _Optional[_Union[GraphRef, _Mapping]] = ..., inputs: _Optional[_Mapping[str, Tensor]] = ..., output: _Optional[int] = ..., wrt: _Optional[_Iterable[int]] = ..., eps: _Optional[float] = ..., atol: _Optional[float] = ..., rtol: _Optional[float] = ...) -> None: ...

class GradCheckResult(_message.Message):
    __slots__ = ("node", "max_abs_error", "max_rel_error", "ok", "analytic", "numeric")
    NODE_FIELD_NUMBER: _ClassVar[int]
    MAX_ABS_ERROR_FIELD_NUMBER: _ClassVar[int]
    MAX_REL_ERROR_FIELD_NUMBER: _ClassVar[int]
    OK_FIELD_NUMBER: _ClassVar[int]
    ANALYTIC_FIELD_NUMBER: _ClassVar[int]
    NUMERIC_FIELD_NUMBER: _ClassVar[int]
    node: int
    max_abs_error: float
    max_rel_error: float
    ok: bool
    analytic: Tensor
    numeric: Tensor
    def __init__(self, node: _Optional[int] = ..., max_abs_error: _Optional[float] = ..., max_rel_error: _Optional[float] = ..., ok: _Optional[bool] = ..., analytic: _Optional[_Union[Tensor, _Mapping]] = ..., numeric: _Optional[_Union[Tensor, _Mapping]] = ...) -> None: ...

class GradCheckResponse(_message.Message):
    __slots__ = ("ok", "results")
    OK_FIELD_NUMBER: _ClassVar[int]
    RESULTS_FIELD_NUMBER: _ClassVar[int]
    ok: bool
    results: _containers.RepeatedCompositeFieldContainer[GradCheckResult]
    def __init__(self, ok: _Optional[bool] = ..., results: _Optional[_Iterable[_Union[GradCheckResult, _Mapping]]] = ...) -> None: ...

class AttrInfo(_message.Message):
    __slots__ = ("name", "kind", "required", "doc")
    NAME_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    REQUIRED_FIELD_NUMBER: _ClassVar[int]
    DOC_FIELD_NUMBER: _ClassVar[int]
    name: str
    kind: str
    required: bool
    doc: str
    def __init__(self, name: _Optional[str] = ..., kind: _Optional[str] = ..., required: _Optional[bool] = ..., doc: _Optional[str] = ...) -> None: ...

class OpInfo(_message.Message):
    __slots__ = ("name", "min_inputs", "max_inputs", "attrs", "dtypes", "differentiable", "composite", "doc")
    NAME_FIELD_NUMBER: _ClassVar[int]
    MIN_INPUTS_FIELD_NUMBER: _ClassVar[int]
    MAX_INPUTS_FIELD_NUMBER: _ClassVar[int]
    ATTRS_FIELD_NUMBER: _ClassVar[int]
    DTYPES_FIELD_NUMBER: _ClassVar[int]
    DIFFERENTIABLE_FIELD_NUMBER: _ClassVar[int]
    COMPOSITE_FIELD_NUMBER: _ClassVar[int]
    DOC_FIELD_NUMBER: _ClassVar[int]
    name: str
    min_inputs: int
    max_inputs: int
    attrs: _containers.RepeatedCompositeFieldContainer[AttrInfo]
    dtypes: _containers.RepeatedScalarFieldContainer[DType]
    differentiable: bool
    composite: bool
    doc: str
    def __init__(self, name: _Optional[str] = ..., min_inputs: _Optional[int] = ..., max_inputs: _Optional[int] = ..., attrs: _Optional[_Iterable[_Union[AttrInfo, _Mapping]]] = ..., dtypes: _Optional[_Iterable[_Union[DType, str]]] = ..., differentiable: _Optional[bool] = ..., composite: _Optional[bool] = ..., doc: _Optional[str] = ...) -> None: ...

class ListOpsRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class ListOpsResponse(_message.Message):
    __slots__ = ("ops",)
    OPS_FIELD_NUMBER: _ClassVar[int]
    ops: _containers.RepeatedCompositeFieldContainer[OpInfo]
    def __init__(self, ops: _Optional[_Iterable[_Union[OpInfo, _Mapping]]] = ...) -> None: ...

class Limits(_message.Message):
    __slots__ = ("max_message_bytes", "max_nodes", "max_tensor_elements", "max_request_bytes", "max_concurrent_requests", "jacobian_memory_bytes", "max_queued_requests", "processes")
    MAX_MESSAGE_BYTES_FIELD_NUMBER: _ClassVar[int]
    MAX_NODES_FIELD_NUMBER: _ClassVar[int]
    MAX_TENSOR_ELEMENTS_FIELD_NUMBER: _ClassVar[int]
    MAX_REQUEST_BYTES_FIELD_NUMBER: _ClassVar[int]
    MAX_CONCURRENT_REQUESTS_FIELD_NUMBER: _ClassVar[int]
    JACOBIAN_MEMORY_BYTES_FIELD_NUMBER: _ClassVar[int]
    MAX_QUEUED_REQUESTS_FIELD_NUMBER: _ClassVar[int]
    PROCESSES_FIELD_NUMBER: _ClassVar[int]
    max_message_bytes: int
    max_nodes: int
    max_tensor_elements: int
    max_request_bytes: int
    max_concurrent_requests: int
    jacobian_memory_bytes: int
    max_queued_requests: int
    processes: int
    def __init__(self, max_message_bytes: _Optional[int] = ..., max_nodes: _Optional[int] = ..., max_tensor_elements: _Optional[int] = ..., max_request_bytes: _Optional[int] = ..., max_concurrent_requests: _Optional[int] = ..., jacobian_memory_bytes: _Optional[int] = ..., max_queued_requests: _Optional[int] = ..., processes: _Optional[int] = ...) -> None: ...

class PlanStats(_message.Message):
    __slots__ = ("graph_hash", "hits", "compiles", "compile_seconds", "last_used_unix_seconds")
    GRAPH_HASH_FIELD_NUMBER: _ClassVar[int]
    HITS_FIELD_NUMBER: _ClassVar[int]
    COMPILES_FIELD_NUMBER: _ClassVar[int]
    COMPILE_SECONDS_FIELD_NUMBER: _ClassVar[int]
    LAST_USED_UNIX_SECONDS_FIELD_NUMBER: _ClassVar[int]
    graph_hash: str
    hits: int
    compiles: int
    compile_seconds: float
    last_used_unix_seconds: float
    def __init__(self, graph_hash: _Optional[str] = ..., hits: _Optional[int] = ..., compiles: _Optional[int] = ..., compile_seconds: _Optional[float] = ..., last_used_unix_seconds: _Optional[float] = ...) -> None: ...

class ServerInfoRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class ServerInfoResponse(_message.Message):
    __slots__ = ("version", "ops", "dtypes", "limits", "engine", "plans", "pid")
    VERSION_FIELD_NUMBER: _ClassVar[int]
    OPS_FIELD_NUMBER: _ClassVar[int]
    DTYPES_FIELD_NUMBER: _ClassVar[int]
    LIMITS_FIELD_NUMBER: _ClassVar[int]
    ENGINE_FIELD_NUMBER: _ClassVar[int]
    PLANS_FIELD_NUMBER: _ClassVar[int]
    PID_FIELD_NUMBER: _ClassVar[int]
    version: str
    ops: _containers.RepeatedCompositeFieldContainer[OpInfo]
    dtypes: _containers.RepeatedScalarFieldContainer[DType]
    limits: Limits
    engine: str
    plans: _containers.RepeatedCompositeFieldContainer[PlanStats]
    pid: int
    def __init__(self, version: _Optional[str] = ..., ops: _Optional[_Iterable[_Union[OpInfo, _Mapping]]] = ..., dtypes: _Optional[_Iterable[_Union[DType, str]]] = ..., limits: _Optional[_Union[Limits, _Mapping]] = ..., engine: _Optional[str] = ..., plans: _Optional[_Iterable[_Union[PlanStats, _Mapping]]] = ..., pid: _Optional[int] = ...) -> None: ...

class ValueChunk(_message.Message):
    __slots__ = ("dtype", "shape", "data", "handle")
    DTYPE_FIELD_NUMBER: _ClassVar[int]
    SHAPE_FIELD_NUMBER: _ClassVar[int]
    DATA_FIELD_NUMBER: _ClassVar[int]
    HANDLE_FIELD_NUMBER: _ClassVar[int]
    dtype: DType
    shape: _containers.RepeatedScalarFieldContainer[int]
    data: bytes
    handle: str
    def __init__(self, dtype: _Optional[_Union[DType, str]] = ..., shape: _Optional[_Iterable[int]] = ..., data: _Optional[bytes] = ..., handle: _Optional[str] = ...) -> None: ...

class PutValueResponse(_message.Message):
    __slots__ = ("handle", "nbytes")
    HANDLE_FIELD_NUMBER: _ClassVar[int]
    NBYTES_FIELD_NUMBER: _ClassVar[int]
    handle: str
    nbytes: int
    def __init__(self, handle: _Optional[str] = ..., nbytes: _Optional[int] = ...) -> None: ...

class GetValueRequest(_message.Message):
    __slots__ = ("handle",)
    HANDLE_FIELD_NUMBER: _ClassVar[int]
    handle: str
    def __init__(self, handle: _Optional[str] = ...) -> None: ...

class SharedMemoryRequest(_message.Message):
    __slots__ = ("region", "client_pid")
    REGION_FIELD_NUMBER: _ClassVar[int]
    CLIENT_PID_FIELD_NUMBER: _ClassVar[int]
    region: str
    client_pid: int
    def __init__(self, region: _Optional[str] = ..., client_pid: _Optional[int] = ...) -> None: ...

class SharedMemoryResponse(_message.Message):
    __slots__ = ("nonce", "session", "server_pid", "min_bytes")
    NONCE_FIELD_NUMBER: _ClassVar[int]
    SESSION_FIELD_NUMBER: _ClassVar[int]
    SERVER_PID_FIELD_NUMBER: _ClassVar[int]
    MIN_BYTES_FIELD_NUMBER: _ClassVar[int]
    nonce: bytes
    session: str
    server_pid: int
    min_bytes: int
    def __init__(self, nonce: _Optional[bytes] = ..., session: _Optional[str] = ..., server_pid: _Optional[int] = ..., min_bytes: _Optional[int] = ...) -> None: ...
