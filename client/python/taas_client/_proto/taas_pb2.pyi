# Written by client/python/gen_stubs.py from proto/taas/v1/taas.proto; do not edit.
# mypy: ignore-errors
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from typing import ClassVar as _ClassVar, Iterable as _Iterable, Mapping as _Mapping, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor
TASK_STATE_CANCELLED: TaskState
TASK_STATE_FAILED: TaskState
TASK_STATE_PENDING: TaskState
TASK_STATE_RUNNING: TaskState
TASK_STATE_SUCCEEDED: TaskState
TASK_STATE_UNSPECIFIED: TaskState

class Attempt(_message.Message):
    __slots__ = ["error", "finished_at_ms", "number"]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    FINISHED_AT_MS_FIELD_NUMBER: _ClassVar[int]
    NUMBER_FIELD_NUMBER: _ClassVar[int]
    error: str
    finished_at_ms: int
    number: int
    def __init__(self, number: _Optional[int] = ..., error: _Optional[str] = ..., finished_at_ms: _Optional[int] = ...) -> None: ...

class CancelTaskRequest(_message.Message):
    __slots__ = ["task_id"]
    TASK_ID_FIELD_NUMBER: _ClassVar[int]
    task_id: str
    def __init__(self, task_id: _Optional[str] = ...) -> None: ...

class CancelTaskResponse(_message.Message):
    __slots__ = ["state"]
    STATE_FIELD_NUMBER: _ClassVar[int]
    state: TaskState
    def __init__(self, state: _Optional[_Union[TaskState, str]] = ...) -> None: ...

class GetTaskRequest(_message.Message):
    __slots__ = ["task_id"]
    TASK_ID_FIELD_NUMBER: _ClassVar[int]
    task_id: str
    def __init__(self, task_id: _Optional[str] = ...) -> None: ...

class GetTaskResponse(_message.Message):
    __slots__ = ["task"]
    TASK_FIELD_NUMBER: _ClassVar[int]
    task: Task
    def __init__(self, task: _Optional[_Union[Task, _Mapping]] = ...) -> None: ...

class GetTaskTypeRequest(_message.Message):
    __slots__ = ["name"]
    NAME_FIELD_NUMBER: _ClassVar[int]
    name: str
    def __init__(self, name: _Optional[str] = ...) -> None: ...

class GetTaskTypeResponse(_message.Message):
    __slots__ = ["task_type"]
    TASK_TYPE_FIELD_NUMBER: _ClassVar[int]
    task_type: TaskType
    def __init__(self, task_type: _Optional[_Union[TaskType, _Mapping]] = ...) -> None: ...

class ListTaskTypesRequest(_message.Message):
    __slots__ = []
    def __init__(self) -> None: ...

class ListTaskTypesResponse(_message.Message):
    __slots__ = ["task_types"]
    TASK_TYPES_FIELD_NUMBER: _ClassVar[int]
    task_types: _containers.RepeatedCompositeFieldContainer[TaskType]
    def __init__(self, task_types: _Optional[_Iterable[_Union[TaskType, _Mapping]]] = ...) -> None: ...

class ListTasksRequest(_message.Message):
    __slots__ = ["page_size", "page_token", "parent_id", "state", "task_name"]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    PARENT_ID_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    TASK_NAME_FIELD_NUMBER: _ClassVar[int]
    page_size: int
    page_token: str
    parent_id: str
    state: TaskState
    task_name: str
    def __init__(self, state: _Optional[_Union[TaskState, str]] = ..., task_name: _Optional[str] = ..., page_size: _Optional[int] = ..., page_token: _Optional[str] = ..., parent_id: _Optional[str] = ...) -> None: ...

class ListTasksResponse(_message.Message):
    __slots__ = ["next_page_token", "tasks"]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    TASKS_FIELD_NUMBER: _ClassVar[int]
    next_page_token: str
    tasks: _containers.RepeatedCompositeFieldContainer[Task]
    def __init__(self, tasks: _Optional[_Iterable[_Union[Task, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class SubmitTaskRequest(_message.Message):
    __slots__ = ["idempotency_key", "inputs_json", "priority", "run_after_ms", "task_name", "timeout_s"]
    IDEMPOTENCY_KEY_FIELD_NUMBER: _ClassVar[int]
    INPUTS_JSON_FIELD_NUMBER: _ClassVar[int]
    PRIORITY_FIELD_NUMBER: _ClassVar[int]
    RUN_AFTER_MS_FIELD_NUMBER: _ClassVar[int]
    TASK_NAME_FIELD_NUMBER: _ClassVar[int]
    TIMEOUT_S_FIELD_NUMBER: _ClassVar[int]
    idempotency_key: str
    inputs_json: str
    priority: int
    run_after_ms: int
    task_name: str
    timeout_s: int
    def __init__(self, task_name: _Optional[str] = ..., inputs_json: _Optional[str] = ..., idempotency_key: _Optional[str] = ..., priority: _Optional[int] = ..., run_after_ms: _Optional[int] = ..., timeout_s: _Optional[int] = ...) -> None: ...

class SubmitTaskResponse(_message.Message):
    __slots__ = ["duplicate", "state", "task", "task_id"]
    DUPLICATE_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    TASK_FIELD_NUMBER: _ClassVar[int]
    TASK_ID_FIELD_NUMBER: _ClassVar[int]
    duplicate: bool
    state: TaskState
    task: Task
    task_id: str
    def __init__(self, task_id: _Optional[str] = ..., duplicate: bool = ..., state: _Optional[_Union[TaskState, str]] = ..., task: _Optional[_Union[Task, _Mapping]] = ...) -> None: ...

class Task(_message.Message):
    __slots__ = ["attempt", "attempts", "cancel_requested", "created_at_ms", "error", "finished_at_ms", "id", "idempotency_key", "inputs_json", "max_attempts", "output_json", "parent_id", "priority", "progress", "progress_message", "run_after_ms", "started_at_ms", "state", "task_name", "updated_at_ms"]
    ATTEMPTS_FIELD_NUMBER: _ClassVar[int]
    ATTEMPT_FIELD_NUMBER: _ClassVar[int]
    CANCEL_REQUESTED_FIELD_NUMBER: _ClassVar[int]
    CREATED_AT_MS_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    FINISHED_AT_MS_FIELD_NUMBER: _ClassVar[int]
    IDEMPOTENCY_KEY_FIELD_NUMBER: _ClassVar[int]
    ID_FIELD_NUMBER: _ClassVar[int]
    INPUTS_JSON_FIELD_NUMBER: _ClassVar[int]
    MAX_ATTEMPTS_FIELD_NUMBER: _ClassVar[int]
    OUTPUT_JSON_FIELD_NUMBER: _ClassVar[int]
    PARENT_ID_FIELD_NUMBER: _ClassVar[int]
    PRIORITY_FIELD_NUMBER: _ClassVar[int]
    PROGRESS_FIELD_NUMBER: _ClassVar[int]
    PROGRESS_MESSAGE_FIELD_NUMBER: _ClassVar[int]
    RUN_AFTER_MS_FIELD_NUMBER: _ClassVar[int]
    STARTED_AT_MS_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    TASK_NAME_FIELD_NUMBER: _ClassVar[int]
    UPDATED_AT_MS_FIELD_NUMBER: _ClassVar[int]
    attempt: int
    attempts: _containers.RepeatedCompositeFieldContainer[Attempt]
    cancel_requested: bool
    created_at_ms: int
    error: str
    finished_at_ms: int
    id: str
    idempotency_key: str
    inputs_json: str
    max_attempts: int
    output_json: str
    parent_id: str
    priority: int
    progress: float
    progress_message: str
    run_after_ms: int
    started_at_ms: int
    state: TaskState
    task_name: str
    updated_at_ms: int
    def __init__(self, id: _Optional[str] = ..., task_name: _Optional[str] = ..., state: _Optional[_Union[TaskState, str]] = ..., inputs_json: _Optional[str] = ..., output_json: _Optional[str] = ..., error: _Optional[str] = ..., progress: _Optional[float] = ..., progress_message: _Optional[str] = ..., attempt: _Optional[int] = ..., max_attempts: _Optional[int] = ..., priority: _Optional[int] = ..., created_at_ms: _Optional[int] = ..., updated_at_ms: _Optional[int] = ..., run_after_ms: _Optional[int] = ..., started_at_ms: _Optional[int] = ..., finished_at_ms: _Optional[int] = ..., idempotency_key: _Optional[str] = ..., attempts: _Optional[_Iterable[_Union[Attempt, _Mapping]]] = ..., cancel_requested: bool = ..., parent_id: _Optional[str] = ...) -> None: ...

class TaskEvent(_message.Message):
    __slots__ = ["at_ms", "progress", "progress_message", "seq", "state", "task", "task_id"]
    AT_MS_FIELD_NUMBER: _ClassVar[int]
    PROGRESS_FIELD_NUMBER: _ClassVar[int]
    PROGRESS_MESSAGE_FIELD_NUMBER: _ClassVar[int]
    SEQ_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    TASK_FIELD_NUMBER: _ClassVar[int]
    TASK_ID_FIELD_NUMBER: _ClassVar[int]
    at_ms: int
    progress: float
    progress_message: str
    seq: int
    state: TaskState
    task: Task
    task_id: str
    def __init__(self, task_id: _Optional[str] = ..., state: _Optional[_Union[TaskState, str]] = ..., progress: _Optional[float] = ..., progress_message: _Optional[str] = ..., seq: _Optional[int] = ..., at_ms: _Optional[int] = ..., task: _Optional[_Union[Task, _Mapping]] = ...) -> None: ...

class TaskType(_message.Message):
    __slots__ = ["description", "idempotent", "input_schema_json", "name", "output_schema_json", "retries", "timeout_s", "version"]
    DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
    IDEMPOTENT_FIELD_NUMBER: _ClassVar[int]
    INPUT_SCHEMA_JSON_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    OUTPUT_SCHEMA_JSON_FIELD_NUMBER: _ClassVar[int]
    RETRIES_FIELD_NUMBER: _ClassVar[int]
    TIMEOUT_S_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    description: str
    idempotent: bool
    input_schema_json: str
    name: str
    output_schema_json: str
    retries: int
    timeout_s: int
    version: str
    def __init__(self, name: _Optional[str] = ..., version: _Optional[str] = ..., description: _Optional[str] = ..., input_schema_json: _Optional[str] = ..., output_schema_json: _Optional[str] = ..., idempotent: bool = ..., retries: _Optional[int] = ..., timeout_s: _Optional[int] = ...) -> None: ...

class WatchTaskRequest(_message.Message):
    __slots__ = ["task_id"]
    TASK_ID_FIELD_NUMBER: _ClassVar[int]
    task_id: str
    def __init__(self, task_id: _Optional[str] = ...) -> None: ...

class TaskState(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = []
