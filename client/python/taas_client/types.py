"""The values the client hands back: tasks, events, task types, states."""

from __future__ import annotations

import enum
import json
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from typing import Any, Dict, List, Optional



class TaskState(enum.IntEnum):
    """A task's state; the values are the protocol's TaskState numbers."""

    UNSPECIFIED = 0
    PENDING = 1
    RUNNING = 2
    SUCCEEDED = 3
    FAILED = 4
    CANCELLED = 5

    @property
    def finished(self) -> bool:
        """True for SUCCEEDED, FAILED and CANCELLED: the task will not change."""
        return self in (TaskState.SUCCEEDED, TaskState.FAILED, TaskState.CANCELLED)

    def __str__(self) -> str:
        return self.name


def _state(v: int) -> TaskState:
    try:
        return TaskState(v)
    except ValueError:  # a state a newer server knows and we do not
        return TaskState.UNSPECIFIED


def ms_to_datetime(ms: int) -> Optional[datetime]:
    """Unix epoch milliseconds -> an aware UTC datetime; 0 -> None."""
    if not ms:
        return None
    return datetime.fromtimestamp(ms / 1000.0, tz=timezone.utc)


def _json_or_none(text: str) -> Any:
    return json.loads(text) if text else None


@dataclass(frozen=True)
class Attempt:
    """One finished execution of a task's body."""

    number: int
    error: str
    finished_at: Optional[datetime]


@dataclass(frozen=True)
class Task:
    """A task as the server stores it. `inputs` and `output` are decoded
    JSON (None in list_tasks summaries and while there is no output).
    Subscripting works too: task["output"] is task.output."""

    id: str
    task_name: str
    state: TaskState
    inputs: Optional[Dict[str, Any]]
    output: Any
    error: str
    progress: float
    progress_message: str
    attempt: int
    max_attempts: int
    priority: int
    created_at: Optional[datetime]
    updated_at: Optional[datetime]
    run_after: Optional[datetime]
    started_at: Optional[datetime]
    finished_at: Optional[datetime]
    idempotency_key: str
    cancel_requested: bool
    attempts: List[Attempt] = field(default_factory=list)
    # Last, with a default, so code that builds a Task by position keeps working.
    parent_id: str = ""

    @property
    def task_id(self) -> str:
        """The same as `id` (the name submit_task's result uses)."""
        return self.id

    @property
    def finished(self) -> bool:
        return self.state.finished

    def __getitem__(self, key: str) -> Any:
        return getattr(self, key)

    def to_dict(self) -> Dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_proto(cls, t: Any) -> "Task":
        return cls(
            id=t.id, task_name=t.task_name, state=_state(t.state),
            inputs=_json_or_none(t.inputs_json), output=_json_or_none(t.output_json),
            error=t.error, progress=t.progress, progress_message=t.progress_message,
            attempt=t.attempt, max_attempts=t.max_attempts, priority=t.priority,
            created_at=ms_to_datetime(t.created_at_ms), updated_at=ms_to_datetime(t.updated_at_ms),
            run_after=ms_to_datetime(t.run_after_ms), started_at=ms_to_datetime(t.started_at_ms),
            finished_at=ms_to_datetime(t.finished_at_ms), idempotency_key=t.idempotency_key,
            cancel_requested=t.cancel_requested, parent_id=t.parent_id,
            attempts=[Attempt(a.number, a.error, ms_to_datetime(a.finished_at_ms))
                      for a in t.attempts])


@dataclass(frozen=True)
class TaskEvent:
    """One event of watch_task: state and progress; `task` is set on the
    last event (a finished state), with the output or error."""

    task_id: str
    state: TaskState
    progress: float
    progress_message: str
    seq: int
    at: Optional[datetime]
    task: Optional[Task]

    @classmethod
    def from_proto(cls, e: Any) -> "TaskEvent":
        return cls(task_id=e.task_id, state=_state(e.state), progress=e.progress,
                   progress_message=e.progress_message, seq=e.seq, at=ms_to_datetime(e.at_ms),
                   task=Task.from_proto(e.task) if e.HasField("task") else None)


@dataclass(frozen=True)
class TaskType:
    """A registered task type; the schemas are decoded JSON Schema objects."""

    name: str
    version: str
    description: str
    input_schema: Dict[str, Any]
    output_schema: Dict[str, Any]
    idempotent: bool
    retries: int
    timeout_s: int

    @classmethod
    def from_proto(cls, t: Any) -> "TaskType":
        return cls(name=t.name, version=t.version, description=t.description,
                   input_schema=_json_or_none(t.input_schema_json) or {},
                   output_schema=_json_or_none(t.output_schema_json) or {},
                   idempotent=t.idempotent, retries=t.retries, timeout_s=t.timeout_s)


