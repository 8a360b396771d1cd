"""A scripted LLM server for the agent's tests: OpenAI Chat Completions,
Anthropic Messages and Ollama's /api/chat on one loopback port.

It is not a model: a test queues the replies of a conversation ("call
my_custom_task with these arguments", "answer 'Paris'", "429 with
Retry-After: 1", "a body that is not JSON", ...) and the server gives them
out in order, each rendered in the wire format of the provider the request
came to, as that provider's API reference documents it (response bodies,
tool-call shapes, stop/finish reasons, usage, error bodies, rate-limit
headers).

It also checks every request the agent sends against the same documents -
method, path, headers (Authorization / x-api-key + anthropic-version),
required fields, tool definitions, the shape and order of tool results -
and records each violation; a test ends with ``assert_clean()``.

Requests are normalised into a provider-neutral view (``View``) so that one
scripted conversation runs against all three providers and can look at what
the agent sent back (tool results, errors) to decide its next reply.
"""

import json
import re
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

OPENAI_PATH = "/v1/chat/completions"
ANTHROPIC_PATH = "/v1/messages"
OLLAMA_PATH = "/api/chat"
PROVIDER_OF_PATH = {OPENAI_PATH: "openai", ANTHROPIC_PATH: "anthropic", OLLAMA_PATH: "ollama"}
OPENAI_TOOL_NAME = re.compile(r"^[A-Za-z0-9_-]{1,64}$")


# ---------------------------------------------------------------------------
# What a test queues

class Turn:
    """A model reply: text and/or tool calls. ``calls`` holds (name, args)
    where args is a dict (sent as the provider's JSON) or a str (sent as-is
    in OpenAI's string `arguments`, which is how a model sends broken JSON).
    ``check(view)`` may assert things about the request; its failures are
    violations. ``calls`` may also be a function of the view (a chain)."""

    def __init__(self, text=None, calls=(), check=None, usage=(11, 7), stop=None):
        self.text = text
        self.calls = calls
        self.check = check
        self.usage = usage
        self.stop = stop


class Error:
    """An error response in the provider's documented error shape."""

    def __init__(self, status, kind=None, message=None, retry_after=None, retry_after_ms=None,
                 headers=None):
        self.status = status
        self.kind = kind
        self.message = message
        self.retry_after = retry_after
        self.retry_after_ms = retry_after_ms
        self.headers = headers or {}


class Raw:
    """Bytes as they are: a body that is not JSON, say."""

    def __init__(self, status, body, content_type="text/html"):
        self.status = status
        self.body = body if isinstance(body, bytes) else body.encode()
        self.content_type = content_type


class Delay:
    """Answer ``then`` only after ``seconds`` (a timeout when it is longer
    than the agent waits)."""

    def __init__(self, seconds, then):
        self.seconds = seconds
        self.then = then


# ---------------------------------------------------------------------------
# The neutral view of a request

class View:
    def __init__(self, provider, headers, body):
        self.provider = provider
        self.headers = headers
        self.body = body
        self.model = body.get("model")
        self.system = None
        self.tools = []      # (name, description, schema)
        self.messages = []   # dicts: role, text, calls [(id, name, args)], call_id, name, is_error
        self.at = time.monotonic()

    def tool_names(self):
        return [t[0] for t in self.tools]

    def last_results(self):
        """The tool results after the last assistant turn: dicts with
        call_id (None for Ollama), name (Ollama only), text, is_error
        (Anthropic only, else None)."""
        out = []
        for m in reversed(self.messages):
            if m["role"] != "tool":
                break
            out.append(m)
        return list(reversed(out))

    def last_calls(self):
        for m in reversed(self.messages):
            if m["role"] == "assistant":
                return m["calls"]
        return []


def _view_chat(v, b, ollama):
    """OpenAI's and Ollama's chat shape, which differ in three places: a tool
    call's id (Ollama sends none), its arguments (a JSON string for OpenAI,
    an object for Ollama) and what names a tool result (the call's id, or
    the tool's name)."""
    for t in b.get("tools") or []:
        f = t.get("function") or {}
        v.tools.append((f.get("name"), f.get("description"), f.get("parameters")))
    for m in b.get("messages", []):
        role = m.get("role")
        if role == "system":
            v.system = m.get("content")
        elif role == "user":
            v.messages.append({"role": "user", "text": m.get("content")})
        elif role == "assistant":
            calls = []
            for c in m.get("tool_calls") or []:
                f = c.get("function") or {}
                if ollama:
                    calls.append((None, f.get("name"), json.dumps(f.get("arguments"))))
                else:
                    calls.append((c.get("id"), f.get("name"), f.get("arguments")))
            text = m.get("content")
            v.messages.append({"role": "assistant", "text": (text or None) if ollama else text,
                               "calls": calls})
        elif role == "tool":
            v.messages.append({"role": "tool",
                               "call_id": None if ollama else m.get("tool_call_id"),
                               "name": m.get("tool_name") if ollama else None,
                               "text": m.get("content"), "is_error": None})


def _view_openai(v, b, bad):
    _view_chat(v, b, ollama=False)


def _view_anthropic(v, b, bad):
    v.system = b.get("system")
    for t in b.get("tools") or []:
        v.tools.append((t.get("name"), t.get("description"), t.get("input_schema")))
    for m in b.get("messages", []):
        content = m.get("content")
        if m.get("role") == "user":
            if isinstance(content, str):
                v.messages.append({"role": "user", "text": content})
                continue
            for blk in content or []:
                if blk.get("type") == "tool_result":
                    v.messages.append({"role": "tool", "call_id": blk.get("tool_use_id"),
                                       "name": None, "text": blk.get("content"),
                                       "is_error": blk.get("is_error", False)})
                elif blk.get("type") == "text":
                    v.messages.append({"role": "user", "text": blk.get("text")})
        else:
            blocks = content if isinstance(content, list) else [{"type": "text", "text": content}]
            text = "".join(x.get("text", "") for x in blocks if x.get("type") == "text") or None
            calls = [(x.get("id"), x.get("name"), json.dumps(x.get("input")))
                     for x in blocks if x.get("type") == "tool_use"]
            v.messages.append({"role": "assistant", "text": text, "calls": calls})


def _view_ollama(v, b, bad):
    _view_chat(v, b, ollama=True)


# ---------------------------------------------------------------------------
# Request checks: what each API reference says a request must be

def _check_openai(h, b, key, bad):
    if key is None:
        if "authorization" in h:
            bad("openai: no key is configured, yet an Authorization header was sent")
    elif h.get("authorization") != "Bearer " + key:
        bad("openai: Authorization must be 'Bearer <key>', got %r" % _mask(h.get("authorization")))
    if not isinstance(b.get("model"), str) or not b["model"]:
        bad("openai: model is required")
    msgs = b.get("messages")
    if not isinstance(msgs, list) or not msgs:
        bad("openai: messages must be a non-empty array")
        return
    if b.get("stream") not in (None, False):
        bad("openai: the agent reads whole bodies; stream must be false or absent")
    for t in b.get("tools") or []:
        f = t.get("function") or {}
        if t.get("type") != "function":
            bad("openai: tools[].type must be 'function'")
        if not OPENAI_TOOL_NAME.match(f.get("name") or ""):
            bad("openai: tool name %r breaks [A-Za-z0-9_-]{1,64}" % f.get("name"))
        if (f.get("parameters") or {}).get("type") != "object":
            bad("openai: tool %r parameters must be an object schema" % f.get("name"))
    if "tool_choice" in b and b["tool_choice"] not in ("none", "auto", "required") and \
            not isinstance(b["tool_choice"], dict):
        bad("openai: bad tool_choice %r" % b["tool_choice"])
    pending = []  # ids of the last assistant message's calls not yet answered
    for i, m in enumerate(msgs):
        role = m.get("role")
        if role not in ("system", "developer", "user", "assistant", "tool"):
            bad("openai: messages[%d].role %r" % (i, role))
        if role == "tool":
            if not pending:
                bad("openai: messages[%d] is a tool result with no tool call before it" % i)
            elif m.get("tool_call_id") != pending[0]:
                bad("openai: messages[%d].tool_call_id %r, expected %r (order of the calls)"
                    % (i, m.get("tool_call_id"), pending[0]))
            else:
                pending.pop(0)
            if not isinstance(m.get("content"), str):
                bad("openai: messages[%d].content of a tool result must be a string" % i)
            continue
        if pending:
            bad("openai: calls %r got no tool result before messages[%d]" % (pending, i))
            pending = []
        if role == "assistant":
            for c in m.get("tool_calls") or []:
                if c.get("type") != "function" or not isinstance(c.get("id"), str):
                    bad("openai: assistant tool_calls need id and type 'function'")
                if not isinstance((c.get("function") or {}).get("arguments"), str):
                    bad("openai: tool_calls[].function.arguments must be a string")
                pending.append(c.get("id"))
        elif not isinstance(m.get("content"), str):
            bad("openai: messages[%d].content must be a string" % i)
    if pending:
        bad("openai: calls %r got no tool result" % pending)


def _check_anthropic(h, b, key, bad):
    if h.get("x-api-key") != key:
        bad("anthropic: x-api-key must hold the key, got %r" % _mask(h.get("x-api-key")))
    if h.get("anthropic-version") != "2023-06-01":
        bad("anthropic: anthropic-version must be 2023-06-01, got %r" % h.get("anthropic-version"))
    if "authorization" in h:
        bad("anthropic: the key goes in x-api-key, not Authorization")
    for f in ("model", "max_tokens", "messages"):
        if f not in b:
            bad("anthropic: %s is required" % f)
    if not isinstance(b.get("max_tokens"), int) or b.get("max_tokens", 0) < 1:
        bad("anthropic: max_tokens must be a positive integer")
    if "system" in b and not isinstance(b["system"], (str, list)):
        bad("anthropic: system must be a string or text blocks")
    for t in b.get("tools") or []:
        if not t.get("name") or (t.get("input_schema") or {}).get("type") != "object":
            bad("anthropic: tools need name and an object input_schema")
    msgs = b.get("messages") or []
    prev_uses = []
    for i, m in enumerate(msgs):
        role = m.get("role")
        if role not in ("user", "assistant"):
            bad("anthropic: messages[%d].role %r (system goes in the top-level field)" % (i, role))
        if i == 0 and role != "user":
            bad("anthropic: the first message must be the user's")
        if i > 0 and role == msgs[i - 1].get("role"):
            bad("anthropic: messages[%d] has the same role as the one before" % i)
        content = m.get("content")
        if role == "assistant":
            blocks = content if isinstance(content, list) else []
            prev_uses = []
            for blk in blocks:
                if blk.get("type") == "tool_use":
                    if not isinstance(blk.get("input"), dict):
                        bad("anthropic: tool_use.input must be an object")
                    prev_uses.append(blk.get("id"))
            continue
        if isinstance(content, list):
            results = [blk for blk in content if blk.get("type") == "tool_result"]
            seen_other = False
            for blk in content:
                if blk.get("type") == "tool_result":
                    if seen_other:
                        bad("anthropic: tool_result blocks must come first in the user message")
                else:
                    seen_other = True
            ids = [r.get("tool_use_id") for r in results]
            if prev_uses and sorted(ids) != sorted(prev_uses):
                bad("anthropic: messages[%d] answers %r, the tool_use ids were %r"
                    % (i, ids, prev_uses))
            for r in results:
                if "is_error" in r and not isinstance(r["is_error"], bool):
                    bad("anthropic: tool_result.is_error must be a boolean")
        elif prev_uses:
            bad("anthropic: messages[%d] must answer tool_use %r with tool_result blocks"
                % (i, prev_uses))
        prev_uses = []


def _check_ollama(h, b, key, bad):
    if b.get("stream") is not False:
        bad("ollama: /api/chat streams NDJSON unless the body says \"stream\": false")
    if not isinstance(b.get("model"), str) or not b["model"]:
        bad("ollama: model is required")
    for t in b.get("tools") or []:
        if t.get("type") != "function" or not (t.get("function") or {}).get("name"):
            bad("ollama: tools take the OpenAI function shape")
    last_calls = []
    for i, m in enumerate(b.get("messages") or []):
        role = m.get("role")
        if role not in ("system", "user", "assistant", "tool"):
            bad("ollama: messages[%d].role %r" % (i, role))
        if role == "assistant":
            last_calls = [(c.get("function") or {}).get("name") for c in m.get("tool_calls") or []]
            for c in m.get("tool_calls") or []:
                if not isinstance((c.get("function") or {}).get("arguments"), dict):
                    bad("ollama: tool_calls[].function.arguments must be an object")
        elif role == "tool":
            if m.get("tool_name") not in last_calls:
                bad("ollama: tool result for %r, the calls were %r" % (m.get("tool_name"),
                                                                       last_calls))
            if not isinstance(m.get("content"), str):
                bad("ollama: tool content must be a string")


def _mask(s):
    return None if s is None else "<%d chars>" % len(s)


# ---------------------------------------------------------------------------
# Rendering replies

def _render_turn(provider, turn, view, ids):
    calls = turn.calls(view) if callable(turn.calls) else list(turn.calls)
    pin, pout = turn.usage
    if provider == "openai":
        tcs = []
        for name, args in calls:
            cid = "call_" + uuid.uuid4().hex[:24]
            ids.append(cid)
            tcs.append({"id": cid, "type": "function",
                        "function": {"name": name,
                                     "arguments": args if isinstance(args, str)
                                     else json.dumps(args)}})
        msg = {"role": "assistant", "content": turn.text, "refusal": None}
        if tcs:
            msg["tool_calls"] = tcs
        return {"id": "chatcmpl-" + uuid.uuid4().hex[:20], "object": "chat.completion",
                "created": int(time.time()), "model": view.model,
                "choices": [{"index": 0, "message": msg, "logprobs": None,
                             "finish_reason": turn.stop or ("tool_calls" if tcs else "stop")}],
                "usage": {"prompt_tokens": pin, "completion_tokens": pout,
                          "total_tokens": pin + pout,
                          "prompt_tokens_details": {"cached_tokens": 0},
                          "completion_tokens_details": {"reasoning_tokens": 0}},
                "system_fingerprint": "fp_scripted"}
    if provider == "anthropic":
        content = []
        if turn.text is not None:
            content.append({"type": "text", "text": turn.text})
        for name, args in calls:
            cid = "toolu_" + uuid.uuid4().hex[:24]
            ids.append(cid)
            content.append({"type": "tool_use", "id": cid, "name": name,
                            "input": args if isinstance(args, dict) else json.loads(args)})
        return {"id": "msg_" + uuid.uuid4().hex[:24], "type": "message", "role": "assistant",
                "model": view.model, "content": content,
                "stop_reason": turn.stop or ("tool_use" if calls else "end_turn"),
                "stop_sequence": None,
                "usage": {"input_tokens": pin, "output_tokens": pout,
                          "cache_creation_input_tokens": 0, "cache_read_input_tokens": 0}}
    msg = {"role": "assistant", "content": turn.text or ""}
    if calls:
        msg["tool_calls"] = [{"function": {"name": n, "arguments": a if isinstance(a, dict)
                                           else json.loads(a)}} for n, a in calls]
    return {"model": view.model, "created_at": time.strftime("%Y-%m-%dT%H:%M:%S.000000Z"),
            "message": msg, "done": True, "done_reason": turn.stop or "stop",
            "total_duration": 5191566416, "load_duration": 2154458,
            "prompt_eval_count": pin, "prompt_eval_duration": 383809000,
            "eval_count": pout, "eval_duration": 4799921000}


def _render_error(provider, e):
    headers = dict(e.headers)
    if e.retry_after is not None:
        headers["retry-after"] = str(e.retry_after)
    if e.retry_after_ms is not None:
        headers["retry-after-ms"] = str(e.retry_after_ms)
    if provider == "openai":
        kind = e.kind or {429: "rate_limit_exceeded", 500: "server_error",
                          401: "invalid_api_key"}.get(e.status, "invalid_request_error")
        msg = e.message or {429: "Rate limit reached for requests",
                            500: "The server had an error while processing your request. "
                                 "Sorry about that!"}.get(e.status, "error")
        if e.status == 429:
            headers.setdefault("x-ratelimit-limit-requests", "60")
            headers.setdefault("x-ratelimit-remaining-requests", "0")
            headers.setdefault("x-ratelimit-reset-requests", "1s")
        etype = "insufficient_quota" if kind == "insufficient_quota" else \
            ("requests" if e.status == 429 else
             "server_error" if e.status >= 500 else "invalid_request_error")
        return {"error": {"message": msg, "type": etype, "param": None, "code": kind}}, headers
    if provider == "anthropic":
        kind = e.kind or {429: "rate_limit_error", 500: "api_error", 529: "overloaded_error",
                          401: "authentication_error"}.get(e.status, "invalid_request_error")
        if e.status == 429:
            headers.setdefault("anthropic-ratelimit-requests-limit", "50")
            headers.setdefault("anthropic-ratelimit-requests-remaining", "0")
        return {"type": "error", "error": {"type": kind, "message": e.message or kind},
                "request_id": "req_" + uuid.uuid4().hex[:24]}, headers
    return {"error": e.message or "error %d" % e.status}, headers


# ---------------------------------------------------------------------------
# The server

class ScriptedLLM:
    """Start with ``ScriptedLLM(keys)``; ``keys`` maps provider -> the API
    key its requests must carry (None = no key expected)."""

    def __init__(self, keys):
        self.keys = keys
        self.lock = threading.Lock()
        self.queue = []
        self.views = []
        self.violations = []
        self.call_ids = []
        self.arrived = threading.Condition(self.lock)
        outer = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, fmt, *args):
                pass

            def do_GET(self):
                self._send(404, b'{"error":"not found"}', "application/json", {})

            def do_POST(self):
                outer._handle(self)

            def _send(self, status, body, ctype, headers):
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", ctype)
                    self.send_header("Content-Length", str(len(body)))
                    for k, v in headers.items():
                        self.send_header(k, v)
                    self.end_headers()
                    self.wfile.write(body)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the agent gave up (a timeout): nothing to answer

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.port = self.httpd.server_address[1]
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def url(self, provider):
        return "http://127.0.0.1:%d%s" % (self.port, "/v1" if provider == "openai" else "")

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()

    def script(self, *replies):
        with self.lock:
            self.queue = list(replies)
            self.views = []
            self.violations = []
            self.call_ids = []

    def remaining(self):
        with self.lock:
            return len(self.queue)

    def wait_requests(self, n, timeout):
        deadline = time.monotonic() + timeout
        with self.lock:
            while len(self.views) < n:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self.arrived.wait(left)
        return True

    def assert_clean(self, test):
        with self.lock:
            test.assertEqual(self.violations, [], "requests broke the API reference")
            test.assertEqual(len(self.queue), 0, "scripted replies left unused")

    def _handle(self, h):
        length = int(h.headers.get("Content-Length") or 0)
        raw = h.rfile.read(length)
        headers = {k.lower(): v for k, v in h.headers.items()}
        provider = PROVIDER_OF_PATH.get(h.path)
        bad_list = []
        bad = bad_list.append
        if provider is None:
            h._send(404, b'{"error":"unknown path"}', "application/json", {})
            with self.lock:
                self.violations.append("request to unknown path %s" % h.path)
            return
        if not headers.get("content-type", "").startswith("application/json"):
            bad("%s: Content-Type must be application/json" % provider)
        try:
            body = json.loads(raw)
            if not isinstance(body, dict):
                raise ValueError("not an object")
        except ValueError as e:
            bad("%s: the body is not a JSON object: %s" % (provider, e))
            body = {}
        key = self.keys.get(provider)
        {"openai": _check_openai, "anthropic": _check_anthropic,
         "ollama": _check_ollama}[provider](headers, body, key, bad)
        view = View(provider, headers, body)
        {"openai": _view_openai, "anthropic": _view_anthropic,
         "ollama": _view_ollama}[provider](view, body, bad)
        with self.lock:
            self.views.append(view)
            self.arrived.notify_all()
            reply = self.queue.pop(0) if self.queue else None
            self.violations.extend(bad_list)
        if reply is None:
            with self.lock:
                self.violations.append("%s: a request beyond the script" % provider)
            reply = Error(500, message="no scripted reply left")
        while isinstance(reply, Delay):
            time.sleep(reply.seconds)
            reply = reply.then
        if isinstance(reply, Turn) and reply.check:
            try:
                reply.check(view)
            except AssertionError as e:
                with self.lock:
                    self.violations.append("%s: check failed: %s" % (provider, e))
        if isinstance(reply, Raw):
            h._send(reply.status, reply.body, reply.content_type, {})
        elif isinstance(reply, Error):
            body, hdrs = _render_error(provider, reply)
            h._send(reply.status, json.dumps(body).encode(), "application/json", hdrs)
        else:
            ids = []
            out = _render_turn(provider, reply, view, ids)
            with self.lock:
                self.call_ids.extend(ids)
            h._send(200, json.dumps(out).encode(), "application/json", {})
