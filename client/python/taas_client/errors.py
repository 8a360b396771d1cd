"""Typed exceptions for the gRPC status codes a TaaS server answers with.

Every exception is a TaasError carrying the gRPC status code, the server's
message unchanged, and the method that failed. INVALID_ARGUMENT on a submit
is InvalidInputs, with every field violation the server listed in the
google.rpc.BadRequest of its `grpc-status-details-bin` trailer.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Dict, List, Optional, Tuple, Type

import grpc

from taas_client._proto import rpc_status_pb2

BAD_REQUEST_TYPE_URL = "type.googleapis.com/google.rpc.BadRequest"


@dataclass(frozen=True)
class FieldViolation:
    """One bad value: a JSON Pointer into the inputs ("" = the whole object,
    "/param2", "/items/3/name") and what is wrong with it."""

    field: str
    description: str


class TaasError(Exception):
    """A call to the server failed. `code` is the grpc.StatusCode."""

    code: Optional[grpc.StatusCode] = None

    def __init__(self, message: str, code: Optional[grpc.StatusCode] = None,
                 method: str = "") -> None:
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code
        self.method = method


class InvalidArgument(TaasError):
    """INVALID_ARGUMENT: a malformed request (e.g. a bad page token)."""

    code = grpc.StatusCode.INVALID_ARGUMENT


class InvalidInputs(InvalidArgument):
    """INVALID_ARGUMENT on a submit: the inputs are not valid JSON or break
    the task's input schema. `violations` lists every one the server found
    (it caps the list; the message names the first)."""

    def __init__(self, message: str, violations: List[FieldViolation],
                 code: Optional[grpc.StatusCode] = None, method: str = "") -> None:
        super().__init__(message, code, method)
        self.violations = violations


class NotFound(TaasError):
    """NOT_FOUND."""

    code = grpc.StatusCode.NOT_FOUND


class TaskNotFound(NotFound):
    """No task with this id (or not one the caller may see)."""


class TaskTypeNotFound(NotFound):
    """No task type of this name; the message names the closest ones."""


class AlreadyExists(TaasError):
    """ALREADY_EXISTS: an idempotency key reused with different inputs."""

    code = grpc.StatusCode.ALREADY_EXISTS


class ResourceExhausted(TaasError):
    """RESOURCE_EXHAUSTED: a message over the size cap, a rate limit, a full disk."""

    code = grpc.StatusCode.RESOURCE_EXHAUSTED


class Unavailable(TaasError):
    """UNAVAILABLE: no server, shutting down, or store unreachable (after the
    client's own retries)."""

    code = grpc.StatusCode.UNAVAILABLE


class Unauthenticated(TaasError):
    """UNAUTHENTICATED: no token, or one the server does not know."""

    code = grpc.StatusCode.UNAUTHENTICATED


class PermissionDenied(TaasError):
    """PERMISSION_DENIED: the token lacks the scope this call needs."""

    code = grpc.StatusCode.PERMISSION_DENIED


class DeadlineExceeded(TaasError, TimeoutError):
    """DEADLINE_EXCEEDED, or a wait() that ran out of time."""

    code = grpc.StatusCode.DEADLINE_EXCEEDED


class Cancelled(TaasError):
    """CANCELLED: the call was cancelled."""

    code = grpc.StatusCode.CANCELLED


class TaskFailed(TaasError):
    """A typed task method's task ended FAILED or CANCELLED; `task` is it."""

    def __init__(self, message: str, task: Any) -> None:
        super().__init__(message)
        self.task = task


_BY_CODE: Dict[grpc.StatusCode, Type[TaasError]] = {
    grpc.StatusCode.INVALID_ARGUMENT: InvalidArgument,
    grpc.StatusCode.NOT_FOUND: NotFound,
    grpc.StatusCode.ALREADY_EXISTS: AlreadyExists,
    grpc.StatusCode.RESOURCE_EXHAUSTED: ResourceExhausted,
    grpc.StatusCode.UNAVAILABLE: Unavailable,
    grpc.StatusCode.UNAUTHENTICATED: Unauthenticated,
    grpc.StatusCode.PERMISSION_DENIED: PermissionDenied,
    grpc.StatusCode.DEADLINE_EXCEEDED: DeadlineExceeded,
    grpc.StatusCode.CANCELLED: Cancelled,
}

# The message of a server that sends no details: "...: /param2: expected ..."
_POINTER_IN_MESSAGE = re.compile(r"^invalid inputs for [^:]+: (/[^:]*|): (.*)$", re.S)


def _decode_b64(value: Any) -> bytes:
    import base64
    if isinstance(value, bytes):
        return value
    s = str(value)
    return base64.b64decode(s + "=" * (-len(s) % 4))


def violations_from_trailers(trailers: Optional[Tuple[Tuple[str, Any], ...]]) -> List[FieldViolation]:
    """The BadRequest field violations in `grpc-status-details-bin`, if any.
    grpcio hands -bin values over already base64-decoded."""
    out: List[FieldViolation] = []
    for key, value in trailers or ():
        if key != "grpc-status-details-bin":
            continue
        st = rpc_status_pb2.Status.FromString(_decode_b64(value))
        for d in st.details:
            if d.type_url == BAD_REQUEST_TYPE_URL:
                br = rpc_status_pb2.BadRequest.FromString(d.value)
                out.extend(FieldViolation(v.field, v.description) for v in br.field_violations)
    return out


def from_rpc_error(e: grpc.RpcError, method: str, subject: str = "") -> TaasError:
    """Map a grpc error to the typed exception; `subject` is "task" or
    "task_type" for the NOT_FOUND of calls about one of those."""
    code = e.code() if hasattr(e, "code") else grpc.StatusCode.UNKNOWN
    message = (e.details() if hasattr(e, "details") else None) or str(code)
    if code == grpc.StatusCode.INVALID_ARGUMENT and method == "SubmitTask":
        trailers = e.trailing_metadata() if hasattr(e, "trailing_metadata") else None
        violations = violations_from_trailers(trailers)
        if not violations:
            m = _POINTER_IN_MESSAGE.match(message)
            if m:
                violations = [FieldViolation(m.group(1), m.group(2))]
        return InvalidInputs(message, violations, code, method)
    if code == grpc.StatusCode.NOT_FOUND:
        if subject == "task":
            return TaskNotFound(message, code, method)
        if subject == "task_type":
            return TaskTypeNotFound(message, code, method)
    cls = _BY_CODE.get(code, TaasError)
    return cls(message, code, method)
