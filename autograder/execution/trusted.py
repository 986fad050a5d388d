"""Test cells decided outside the student's kernel: the grader runs them, the kernel answers.

A test cell's source runs here, in the grader's process, with :mod:`gradlab.checks` and the
reference; the names it takes from the notebook (the student's functions, classes, data) come
from the student's kernel through a :class:`KernelLink`: plain data by value (:mod:`..kernel.wire`:
JSON, numbers, NumPy arrays of numeric dtypes, lists, tuples, dicts; never pickle), everything
else as a :class:`Proxy` that forwards what the test does with it (a call, an attribute, ``+``,
``==`` …) to the kernel's agent (:mod:`..kernel.agent`).  The hidden test's source, the
reference and the expected values never enter the kernel: only the names the cell asks for and
the arguments of each call.  Whatever the kernel says is data checked here; what it prints is
passed on capped; the verdict (:class:`Verdict`) is what the test decided.

A call of a student's function sends its arguments by value and writes back what the call did to
them (arrays in place, lists and dicts updated): :func:`gradlab.checks.assert_not_mutated` sees
a mutation as in the kernel.  A function of the test's passed to the student's code (``np.sin``
travels by name, a lambda as a callback) runs here when the student's code calls it.  An error
raised in the student's code is raised here as the same type with the same message and the
student's frames (``remote_frames``), so that ``gradlab.checks`` writes the same one message.
"""

from __future__ import annotations

import ast
import builtins
import contextlib
import importlib
import inspect
import io
import itertools
import json
import linecache
import math
import sys
import threading
import time
import types
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

import numpy as np
import zmq
from jupyter_client import BlockingKernelClient

from gradlab import checks, diagnosis

from ..kernel import wire
from . import dataflow

AGENT_NAME = "_gradlab_agent"
STUDENT_OUTPUT_CAP = 20_000   # characters the student's code may print during one test cell
INTERRUPT_GRACE = 5.0         # seconds a timed-out call has to stop after the interrupt
HEARTBEAT_PATIENCE = 5.0      # seconds without a heartbeat before the kernel counts as dead
_HEAPTYPE = 1 << 9             # Py_TPFLAGS_HEAPTYPE: a class written in Python, not one of C
INLINE_REQUEST = 64 << 10     # characters of a first request sent in the session's code; more: over stdin
ANSWER_PROMPT = "\x00gradlab-answer:"           # the agent's, in agent.py
CALLBACK_PROMPT = "\x00gradlab-callback:"       # the agent's, in agent.py
END = json.dumps(wire.encode({"op": "end"}, 1 << 10), separators=(",", ":"))   # a session's last request


class KernelStopped(BaseException):
    """The kernel, not the test, ended the verdict: it died, a call timed out, or it answered
    with something unreadable.  A BaseException so that no ``except Exception`` of test code or
    of the checks' diagnosis can swallow it."""

    def __init__(self, reason: str, dead: bool = False):
        super().__init__(reason)
        self.reason, self.dead = reason, dead


def agent_source() -> str:
    """What :meth:`KernelLink.start` sends: the wire codec, then the agent (one module)."""
    here = Path(__file__).resolve().parent.parent / "kernel"
    parts = [(here / name).read_text() for name in ("wire.py", "agent.py")]
    return "\n".join(line for part in parts for line in part.splitlines()
                     if not line.startswith("from __future__"))


# ---------------------------------------------------------------------------------------------
# the link: one blocking client beside nbclient's, on the kernel's connection info
# ---------------------------------------------------------------------------------------------

class KernelLink:
    """A channel to one student kernel, opened on its connection info (a second, blocking client
    beside nbclient's; works for every launcher: fresh, sandboxed, forked from the template).

    A test cell's requests share one *session* (:meth:`cell`): the first request opens it with one
    silent ``execute_request`` of the agent's ``serve``; the agent answers each request on the
    stdin channel (an ``input_request`` whose prompt is ``ANSWER_PROMPT``, the request's number
    and the answer's JSON) and the grader's ``input_reply`` is the next request.  The cell's end
    sends ``END`` and waits for the ``execute_reply`` and idle (every print of the student's code
    has arrived).  Outside :meth:`cell`, a request is a session of its own."""

    def __init__(self, connection_info: dict, *, call_timeout: float = 30.0, max_bytes: int = 64 << 20):
        self.connection_info, self.call_timeout, self.max_bytes = dict(connection_info), call_timeout, max_bytes
        self.client: BlockingKernelClient | None = None
        self.proxies: dict[int, Proxy] = {}       # handle -> its one proxy (identity kept: `a is b`)
        self.callbacks: dict[int, Callable[..., Any]] = {}   # callback id -> the test's function
        self._ids = itertools.count(1)
        self.deadline: float | None = None        # the test cell's, when one runs
        self.printed: list[tuple[str, str]] | None = None   # (stream, text) of the running test cell
        self.student_chars = 0
        self.dead = False
        self.session: str | None = None           # msg_id of the open session's execute_request
        self.in_cell = False                      # requests share a session until the cell ends
        self._numbers = itertools.count(1)        # each request's number, echoed in its answer
        self._waiting = False                     # in a request: a callback cannot send another
        self.trusted_modules: frozenset[str] = frozenset()   # whose objects travel as copies (mirrors)
        self._library_modules: dict[str, bool] = {}
        self._mirror_kinds: dict[type, bool] = {}
        self.mirrors: dict[int, object] = {}      # this request's: mirror id -> the test's object
        self.mirror_ids: dict[int, int] = {}      # id(the test's object) -> mirror id
        self.lock = threading.RLock()

    def start(self) -> None:
        """Connect and install the in-kernel agent; a replaced kernel gets a new link."""
        client = BlockingKernelClient()
        client.load_connection_info(cast(Any, self.connection_info))
        client.start_channels()
        client.hb_channel.time_to_dead = 1.0
        self.client = client
        channels = (client.iopub_channel, client.shell_channel, client.stdin_channel)   # prints first
        self._sockets = {channel.socket: channel for channel in channels}
        self._poller = zmq.Poller()   # one per client, not one per request
        for socket in self._sockets:
            self._poller.register(socket, zmq.POLLIN)
        code = (f"def _gradlab_install(source, max_bytes):\n"
                f"    import types\n"
                f"    module = types.ModuleType({AGENT_NAME!r})\n"
                f"    exec(compile(source, '<gradlab-agent>', 'exec'), module.__dict__)\n"
                f"    return module.Agent(get_ipython().user_ns, max_bytes)\n"
                f"{AGENT_NAME} = _gradlab_install({agent_source()!r}, {self.max_bytes})\n"
                f"del _gradlab_install\n")
        # the first request also waits for the iopub subscription to carry our messages
        self.session = client.execute(code, silent=True, store_history=False, allow_stdin=False)
        _, reply = self._pump(None, time.monotonic() + max(self.call_timeout, 30.0), self.call_timeout)
        if reply is None or reply["content"].get("status") != "ok":
            content = reply["content"] if reply is not None else {}
            raise KernelStopped(f"the grader's agent could not start in the kernel "
                                f"({content.get('ename')}: {content.get('evalue')})")

    def close(self) -> None:
        if self.client is not None:
            self.client.stop_channels()
            self.client = None
        self.proxies.clear()

    @contextlib.contextmanager
    def cell(self, timeout: float):
        """One test cell's requests in one session, ended (the kernel idle again) when the cell
        ends, passed or failed; the cell's deadline bounds every call."""
        with self.lock:
            self.deadline, self.in_cell = time.monotonic() + timeout, True
            try:
                yield
            finally:
                self.in_cell = False
                try:
                    self.end_session()
                finally:
                    self.deadline = None

    # -------------------------------------------------------------- one request
    def request(self, op: str, **fields):
        """Run ``op`` in the agent; its answer decoded (handles as proxies), or the student's
        error raised here."""
        with self.lock:
            if self.dead or self.client is None:
                raise KernelStopped("the kernel died", dead=True)
            if self._waiting:
                raise KernelStopped("a function of the test, called by the student's code, uses the student's "
                                    "code in turn: the grader cannot send that")
            self.callbacks.clear()
            self.mirrors, self.mirror_ids = {}, {}
            number = next(self._numbers)
            try:
                with wire.no_collection():
                    encoded = wire.encode({"op": op, "n": number, **fields}, self.max_bytes, self._outgoing)
                    if self.mirrors:   # the copies are built before the arguments that refer to them
                        encoded["$d"].insert(0, ["mirrors", {"$mirrors": self._mirror_table()}])
                    text = json.dumps(encoded, allow_nan=False, separators=(",", ":"))
            except wire.WireError as err:   # the test's, not the student's: a human looks
                raise KernelStopped(f"the test gives the student's code what the grader cannot send: {err}") from None
            if len(text) > self.max_bytes:
                raise KernelStopped(f"the test gives the student's code more than {self.max_bytes} bytes")
            timeout = self.call_timeout
            if self.deadline is not None:
                timeout = min(timeout, self.deadline - time.monotonic())
                if timeout <= 0:
                    raise KernelStopped("the test cell ran out of time")
            try:
                answer = self._answer(self._exchange(number, text, time.monotonic() + timeout, timeout))
            finally:
                if not self.in_cell:
                    self.end_session()
            if answer is None:
                raise KernelStopped("the kernel's answer is missing or unreadable")
            self._mirrors_back(answer.get("mirrors") or ())
            self._functions_changed(answer.get("functions"))
            if "error" in answer:
                raise remote_exception(answer["error"])
            return answer["ok"]

    def _exchange(self, number: int, text: str, deadline: float, limit: float) -> str:
        """Send one request (opening the session if none is open) and return its answer's text."""
        client = cast(BlockingKernelClient, self.client)
        if self.session is None:
            # a large first request is read by the agent from the stdin channel: no 10 MB string
            # literal for IPython to parse
            inline = len(text) <= INLINE_REQUEST
            self.session = client.execute(f"{AGENT_NAME}.serve({text!r})" if inline else f"{AGENT_NAME}.serve()",
                                          silent=True, store_history=False, allow_stdin=True)
            if not inline:
                self._pump(0, deadline, limit)
                client.input(text)
        else:
            client.input(text)
        answer, _ = self._pump(number, deadline, limit)
        return cast(str, answer)

    def end_session(self) -> None:
        """End the open session and wait until the kernel is idle; it may take until the cell's
        deadline (a second at least), then the kernel is interrupted."""
        if self.session is None or self.dead or self.client is None:
            self.session = None
            return
        self.client.input(END)
        deadline = max(self.deadline or 0.0, time.monotonic() + 1.0)
        self._pump(None, deadline, deadline - time.monotonic())

    def _pump(self, want: int | None, deadline: float, limit: float):
        """Pass on what the kernel sends in the open session (prints, callbacks, the student's
        own ``input()``) until the answer numbered ``want`` arrives: ``(its text, None)``; or,
        ``want`` None or once the session cannot go on (interrupted at ``deadline``, answers out
        of order), until the session's execute_reply and idle: ``(None, the reply)``, after which
        a request still waiting raises KernelStopped."""
        client, msg_id = cast(BlockingKernelClient, self.client), self.session
        iopub, sockets, poller = client.iopub_channel, self._sockets, self._poller
        closing, trouble = want is None, None
        reply, idle, interrupted, quiet_since, hb_lost = None, False, None, time.monotonic(), None
        self._waiting = True
        try:
            while reply is None or not idle:
                now = time.monotonic()
                if interrupted is None and now > deadline:
                    self._interrupt()
                    interrupted, closing = now, True
                    trouble = trouble or f"a call of the student's code ran longer than {limit:.0f} s (interrupted)"
                if interrupted is not None and now > interrupted + INTERRUPT_GRACE:
                    self.dead = True
                    raise KernelStopped(f"a call of the student's code ran longer than {limit:.0f} s and did "
                                        "not stop when interrupted", dead=True)
                if reply is not None and now > quiet_since + 2.0:
                    break   # the reply is here; output that is this late is lost, not waited for
                events = dict(poller.poll(200))
                if not events:   # silence: a kernel busy computing still beats; a dead one does not
                    hb_lost = None if client.hb_channel.is_beating() else (hb_lost or now)
                    if hb_lost is not None and now - hb_lost > HEARTBEAT_PATIENCE:
                        self.dead = True
                        raise KernelStopped("the kernel died during a call of the student's code", dead=True)
                    continue
                quiet_since = time.monotonic()
                for socket in sockets:   # prints first: they came before the answer that follows them
                    if socket not in events:
                        continue
                    msg = sockets[socket].get_msg(timeout=0)
                    if msg.get("parent_header", {}).get("msg_id") != msg_id:
                        continue
                    kind = msg["header"]["msg_type"]
                    if kind == "execute_reply":
                        reply = msg
                    elif kind == "status" and msg["content"].get("execution_state") == "idle":
                        idle = True
                    elif kind == "stream":
                        self._stream(msg)
                    elif kind == "input_request":
                        prompt = str(msg["content"].get("prompt", ""))
                        if prompt.startswith(ANSWER_PROMPT) and not closing:
                            number, _, text = prompt[len(ANSWER_PROMPT):].partition(":")
                            if number == str(want):
                                self._drain(iopub, msg_id)
                                return text, None
                            # another answer than the one awaited: an input() of the student's code
                            # took the grader's prompt, and the requests went astray
                            closing = True
                            trouble = "the kernel's answers came out of order (does the code call input()?)"
                            client.input(END)
                        elif closing:
                            client.input(END)
                        elif prompt.startswith(CALLBACK_PROMPT):
                            client.input(self._callback(prompt))
                        else:   # the student's own input(): end of input, as without a keyboard
                            client.input("\x04")
        finally:
            self._waiting = False
            if self.dead:
                self.session = None
        self.session = None
        if want is not None:
            ename = (reply["content"] if reply is not None else {}).get("ename")
            raise KernelStopped(trouble or "the kernel ended the grader's requests" + (f" ({ename})" if ename else ""))
        if trouble is not None:
            raise KernelStopped(trouble)
        return None, reply

    def _drain(self, iopub, msg_id):
        """The prints that arrived with an answer, before the test goes on."""
        while iopub.msg_ready():
            msg = iopub.get_msg(timeout=0)
            if msg.get("parent_header", {}).get("msg_id") == msg_id and msg["header"]["msg_type"] == "stream":
                self._stream(msg)

    def _answer(self, text: str):
        """The agent's answer: JSON text through the codec (None when unreadable)."""
        try:
            answer = wire.loads(text, self.max_bytes, {"$h": self._proxy, "$or": self._mirrored})
        except (ValueError, KeyError, TypeError, MemoryError, RecursionError):
            return None
        return answer if type(answer) is dict else None

    def _functions_changed(self, changed):
        """What a request changed in the attributes of plain functions the test holds."""
        if type(changed) is not dict:
            return
        for hid, attrs in changed.items():
            proxy = self.proxies.get(hid)
            if proxy is not None and type(attrs) is list:
                object.__setattr__(proxy, "_gl_attrs", frozenset(a for a in attrs if type(a) is str))

    def _interrupt(self):
        msg = self.client.session.msg("interrupt_request", {})
        self.client.control_channel.send(msg)

    def _stream(self, msg):
        self._printed(msg["content"].get("name", "stdout"), str(msg["content"].get("text", "")))

    def _printed(self, name: str, text: str):
        if self.printed is None:
            return
        room = STUDENT_OUTPUT_CAP - self.student_chars
        if room <= 0:
            return
        if len(text) >= room:
            text = text[:room] + f"\n… (output cut: your code printed more than {STUDENT_OUTPUT_CAP} characters)\n"
        self.student_chars += len(text)
        self.printed.append((name if name in ("stdout", "stderr") else "stdout", text))

    # -------------------------------------------------------------- callbacks
    def _callback(self, prompt: str) -> str:
        """Run one of the test's functions the student's code called; the answer as JSON."""
        try:
            call = wire.loads(prompt.split(":", 1)[1], self.max_bytes, {"$h": self._proxy, "$or": self._mirrored})
            fn = self.callbacks[call["id"]]
            result = fn(*call["args"], **call["kwargs"])
            answer = {"ok": result}
            return json.dumps(wire.encode(answer, self.max_bytes, self._outgoing), allow_nan=False)
        except KernelStopped:
            raise
        except Exception as exc:  # the student's code sees the test function's error
            return json.dumps({"$d": [["error", [type(exc).__name__, str(exc)[:2000]]]]})

    # -------------------------------------------------------------- mirrors
    def trust(self, modules) -> None:
        """The modules whose objects travel as copies from now on (see :meth:`_mirrorable`)."""
        self.trusted_modules, self._library_modules, self._mirror_kinds = frozenset(modules), {}, {}

    def _library(self, module: str) -> bool:
        """A module of a trusted library (not the test's own code)."""
        if module not in self._library_modules:
            self._library_modules[module] = module != "__main__" and _trusted(module, self.trusted_modules)
        return self._library_modules[module]

    def _mirrorable(self, value) -> bool:
        """An instance of a plain Python class of a trusted library module (a graph of
        ``gradlab.autodiff.Value`` nodes the test built): it travels as a copy, built in the
        kernel from the kernel's copy of the same library, and what the call changes in it is
        written back."""
        kind = type(value)
        known = self._mirror_kinds.get(kind)
        if known is None:   # a property of the type (a heap type of the library, with a __dict__, not callable)
            known = self._mirror_kinds[kind] = bool(
                type(kind) is type and kind.__flags__ & _HEAPTYPE and "<locals>" not in kind.__qualname__
                and self._library(kind.__module__) and hasattr(value, "__dict__") and not callable(value))
        return known

    def _mirror(self, value) -> dict:
        mid = self.mirror_ids.get(id(value))
        if mid is None:
            mid = self.mirror_ids[id(value)] = len(self.mirrors) + 1
            self.mirrors[mid] = value
        return {"$or": mid}

    def _mirror_table(self) -> dict:
        """Every object the arguments reach, found one at a time (never by recursion: a chain of
        20 000 nodes is 20 000 entries): ``objects`` ``[[id, class, state], …]``, the
        ``classes`` ``[[module, qualname], …]`` and the library ``codes`` of their closures
        ``[[module, qualname, name, first line, free variables], …]`` they refer to by index."""
        classes: dict = {}
        codes: dict = {}
        objects, done = [], 0

        def library_closure(value) -> bool:   # a function the library defines inside another (a Value's _backward)
            return (isinstance(value, types.FunctionType) and "<locals>" in value.__qualname__
                    and self._library(value.__module__ or ""))

        def closure(value) -> dict:
            code = value.__code__
            key = (value.__module__, value.__qualname__, code.co_name, code.co_firstlineno, code.co_freevars)
            index = codes.setdefault(key, len(codes))
            return {"$fn": [index, [shallow(c.cell_contents) for c in value.__closure__ or ()]]}

        def shallow(value):   # the common parts of a state quickly (a float, nodes, a closure), else encode
            kind = type(value)
            if kind is str or kind is bool or value is None or (kind in (int, float) and math.isfinite(value)):
                return value
            if kind is tuple and all(self._mirrorable(v) for v in value):
                return {"$t": [self._mirror(v) for v in value]}
            if kind is types.FunctionType and library_closure(value):
                return closure(value)
            if self._mirrorable(value):
                return self._mirror(value)
            return wire.encode(value, self.max_bytes, inside)

        def inside(value):    # in a copy's state: other copies by id, the library's closures as code
            if self._mirrorable(value):
                return self._mirror(value)
            if library_closure(value):
                return closure(value)
            return self._outgoing(value)
        while done < len(self.mirrors):
            done += 1
            obj = self.mirrors[done]
            kind = type(obj)
            index = classes.setdefault((kind.__module__, kind.__qualname__), len(classes))
            state = vars(obj)
            if not all(type(k) is str for k in state):
                raise wire.WireError(f"a {kind.__name__} whose attributes are not named by strings")
            objects.append([done, index, {"$d": [[k, shallow(v)] for k, v in state.items()]}])
        return {"$d": [["classes", [list(k) for k in classes]],
                       ["codes", [[m, q, n, line, list(free)] for m, q, n, line, free in codes]],
                       ["objects", objects]]}

    def _mirrored(self, mid):
        if mid not in self.mirrors:
            raise wire.WireError("an unknown copy")
        return self.mirrors[mid]

    def _mirrors_back(self, changed):
        """Write what the request changed in the copies into the test's objects."""
        for mid, attrs in changed:
            obj = self._mirrored(mid)
            for key, value in attrs.items():
                if isinstance(key, str) and not (key.startswith("__") and key.endswith("__")):
                    vars(obj)[key] = write_back(vars(obj).get(key), value)

    def _outgoing(self, value) -> dict:
        """What is not data on its way to the kernel: a proxy goes back as its handle; NumPy's
        functions and the builtin types by name; an object of a trusted library as a copy;
        another function of the test's as a callback."""
        if isinstance(value, Proxy):
            if object.__getattribute__(value, "_gl_link") is not self:
                raise wire.WireError("a proxy of another kernel")
            return {"$r": object.__getattribute__(value, "_gl_id")}
        name = getattr(value, "__name__", None)
        if isinstance(name, str) and getattr(np, name, None) is value:
            return {"$np": name}
        if isinstance(value, type) and getattr(builtins, name or "", None) is value:
            return {"$bt": name}
        if self._mirrorable(value):
            return self._mirror(value)
        if callable(value):
            cid = next(self._ids)
            self.callbacks[cid] = value
            return {"$cb": {"id": cid, "name": name if isinstance(name, str) else "f"}}
        raise wire.WireError(f"a {type(value).__name__} cannot be passed to the student's code")

    def _proxy(self, desc) -> Proxy:
        if type(desc) is not dict or type(desc.get("id")) is not int:
            raise wire.WireError("a malformed handle")
        proxy = self.proxies.get(desc["id"])
        if proxy is None:
            proxy = self.proxies[desc["id"]] = _proxy_class(desc)(self, desc)
        else:   # a plain function's attributes as they are now
            object.__setattr__(proxy, "_gl_attrs", _function_attrs(desc))
        return proxy


# ---------------------------------------------------------------------------------------------
# an exception of the student's code, raised here
# ---------------------------------------------------------------------------------------------

def _builtin_exception(name):
    kind = getattr(builtins, str(name), None)
    return kind if isinstance(kind, type) and issubclass(kind, Exception) else None


def remote_exception(record) -> Exception:
    """The student's error as an exception of the same type name, message and builtin bases
    (so that ``isinstance(exc, ValueError)`` holds as there), its frames in ``remote_frames``.
    Only Exceptions: a SystemExit or KeyboardInterrupt of the kernel is an Exception here."""
    if type(record) is not dict:
        raise KernelStopped("the kernel sent an unreadable error")
    name, text = str(record.get("type", "Exception")), str(record.get("str", ""))
    bases = tuple(dict.fromkeys(b for b in map(_builtin_exception, record.get("bases") or ()) if b))
    kind = _builtin_exception(name) if record.get("module") == "builtins" else None
    args = record.get("args")
    exc = None
    if kind is not None and isinstance(args, list):
        try:
            exc = kind(*args)
        except Exception:
            exc = None
        if exc is not None and str(exc) != text:
            exc = None
    if exc is None:
        kind = _exception_class(name, bases or (Exception,), str(record.get("module") or ""))
        exc = kind(text)
    if isinstance(record.get("name"), str) and isinstance(exc, (NameError, AttributeError)):
        exc.name = record["name"]
    frames = []
    for f in record.get("frames") or ():
        if type(f) is list and len(f) == 5 and type(f[1]) is int:
            frames.append(diagnosis.Frame(str(f[0]), f[1], str(f[2]), f[3] is True, str(f[4])))
    exc.remote_frames = frames  # type: ignore[union-attr]
    return exc


_CLASSES: dict = {}


def _exception_class(name: str, bases: tuple, module: str):
    key = (name, bases, module)
    if key not in _CLASSES:
        namespace = {"__module__": module, "__str__": lambda self: str(self.args[0]) if self.args else ""}
        try:
            _CLASSES[key] = type(name, bases, namespace)
        except TypeError:   # bases whose layouts conflict: the first one
            _CLASSES[key] = type(name, bases[:1], namespace)
    return _CLASSES[key]


# ---------------------------------------------------------------------------------------------
# proxies: an object of the kernel's, used here
# ---------------------------------------------------------------------------------------------

_OWN = ("_gl_link", "_gl_id", "_gl_attrs", "__name__", "__qualname__", "__module__", "__signature__", "remote_function")
_FORWARDED_DUNDERS = {"__wrapped__"}


class Proxy:
    """An object that stays in the student's kernel.  Attributes, item access, calls, arithmetic,
    comparisons, ``bool``, ``repr`` and ``str`` are answered by the kernel; a result that is data
    arrives by value, anything else as another proxy.  The kernel's answers are the student's
    word: the checks decide on the data that comes back (numbers, arrays), never on a proxy."""

    def __init__(self, link: KernelLink, desc: dict):
        set_ = object.__setattr__
        set_(self, "_gl_link", link)
        set_(self, "_gl_id", desc["id"])
        for key in ("name", "qualname", "module"):
            if isinstance(desc.get(key), str):
                set_(self, f"__{key}__", desc[key])
        if desc.get("function"):
            set_(self, "remote_function", True)
        set_(self, "_gl_attrs", _function_attrs(desc))
        sig = _signature(desc.get("signature"))
        if sig is not None:
            set_(self, "__signature__", sig)

    def _gl(self, op, **fields):
        return object.__getattribute__(self, "_gl_link").request(op, target=object.__getattribute__(self, "_gl_id"),
                                                                 **fields)

    def __getattr__(self, name):
        if name.startswith("__") and name.endswith("__") and name not in _FORWARDED_DUNDERS:
            raise AttributeError(name)
        attrs = object.__getattribute__(self, "_gl_attrs")
        if attrs is not None and name not in attrs:   # a plain function has only its type's and its own
            raise AttributeError(f"'function' object has no attribute '{name}'", name=name, obj=self)
        return self._gl("getattr", name=name)

    def __setattr__(self, name, value):
        if name in _OWN:
            raise AttributeError(f"{name} of a proxy is read-only")
        self._gl("setattr", name=name, value=value)

    def __repr__(self):
        return self._gl("unary", name="repr")

    def __str__(self):
        return self._gl("unary", name="str")

    def __format__(self, spec):
        return self._gl("format", spec=spec)

    def __bool__(self):
        return self._gl("unary", name="bool")

    def __instancecheck__(self, obj):
        return self._gl("isinstance", obj=obj)

    def __copy__(self):
        return self

    def __deepcopy__(self, memo):
        return self     # the object stays in the kernel: a copy would be one there

    def __reduce_ex__(self, protocol):
        raise TypeError("an object of the student's kernel cannot be pickled")

    __hash__ = object.__hash__


def _binary(name, reflected=False):
    def method(self, other):
        left, right = (other, self) if reflected else (self, other)
        link = object.__getattribute__(self, "_gl_link")
        return link.request("binary", name=name, left=left, right=right)
    return method


for _name in ("add", "sub", "mul", "truediv", "floordiv", "mod", "pow", "matmul", "and", "or", "xor",
              "lshift", "rshift"):
    _op = _name + "_" if _name in ("and", "or") else _name
    setattr(Proxy, f"__{_name}__", _binary(_op))
    setattr(Proxy, f"__r{_name}__", _binary(_op, reflected=True))
for _name in ("eq", "ne", "lt", "le", "gt", "ge"):
    setattr(Proxy, f"__{_name}__", _binary(_name))
for _name in ("neg", "pos", "abs", "invert", "float", "int", "index", "complex"):
    setattr(Proxy, f"__{_name}__", lambda self, _n=_name: self._gl("unary", name=_n))


def _call(self, *args, **kwargs):
    """The student's function on the test's arguments (by value); what the call did to the
    arguments is written back into them."""
    answer = self._gl("call", args=list(args), kwargs=kwargs)
    if not (type(answer) is dict and type(answer.get("args")) is dict and type(answer.get("kwargs")) is dict):
        raise KernelStopped("the kernel's answer to a call is malformed")
    for i, after in answer["args"].items():
        if type(i) is int and 0 <= i < len(args):
            write_back(args[i], after)
    for key, after in answer["kwargs"].items():
        if key in kwargs:
            write_back(kwargs[key], after)
    return answer.get("result")


_PROTOCOL_METHODS = {
    "__call__": _call,
    "__len__": lambda self: self._gl("unary", name="len"),
    "__getitem__": lambda self, key: self._gl_link.request("binary", name="getitem", left=self, right=key),
    "__setitem__": lambda self, key, value: self._gl("setitem", key=key, value=value),
    "__delitem__": lambda self, key: self._gl("delitem", key=key),
    "__iter__": lambda self: iter(self._gl("unary", name="iter")),
    "__contains__": lambda self, item: self._gl_link.request("binary", name="contains",
                                                             left=self, right=item),
}
_PROXY_CLASSES: dict = {}


def _proxy_class(desc) -> type:
    """A Proxy subclass named as the kernel object's type (``type(p).__name__`` reads as there),
    with exactly the container and call protocols that type has (NumPy and ``callable`` see the
    same object as in the kernel)."""
    protocols = tuple(p for p in desc.get("protocols") or () if p in _PROTOCOL_METHODS)
    name = str(desc.get("type") or "object")
    key = (name, protocols)
    if key not in _PROXY_CLASSES:
        body: dict[str, Any] = {p: _PROTOCOL_METHODS[p] for p in protocols}
        body["__module__"] = "student kernel"
        _PROXY_CLASSES[key] = type(name if name.isidentifier() else "object", (Proxy,), body)
    return _PROXY_CLASSES[key]


def _function_attrs(desc) -> frozenset[str] | None:
    """The names in a plain function's ``__dict__`` (its only attributes beside its type's:
    ``__wrapped__`` of ``functools.wraps``, one the student set), None for any other object."""
    attrs = desc.get("attrs")
    return frozenset(a for a in attrs if type(a) is str) if type(attrs) is list else None


def _signature(params) -> inspect.Signature | None:
    if type(params) is not list:
        return None
    try:
        return inspect.Signature([
            inspect.Parameter(str(name), inspect._ParameterKind(int(kind)),
                              **({"default": default} if has_default else {}))
            for name, kind, has_default, default in params])
    except (TypeError, ValueError):
        return None


def write_back(before, after):
    """Make ``before`` (the test's argument) what the call left of it in the kernel (``after``):
    arrays in place, lists and dicts updated, entry by entry so that what they hold keeps its
    identity.  Returns the object to keep in ``before``'s place (``before`` unless it could not
    hold the new value)."""
    if isinstance(before, np.ndarray) and isinstance(after, np.ndarray):
        if before.shape == after.shape and before.dtype == after.dtype and before.flags.writeable:
            if not np.array_equal(before, after, equal_nan=True):
                before[...] = after
            return before
        return after
    if type(before) is np.random.Generator and type(after) is np.random.Generator:
        if type(before.bit_generator) is type(after.bit_generator):
            before.bit_generator.state = after.bit_generator.state   # the draws the call made
            return before
        return after
    if type(before) is list and type(after) is list:
        before[:] = [write_back(b, a) for b, a in zip(before, after)] + after[len(before):]
        return before
    if type(before) is dict and type(after) is dict:
        for key in [k for k in before if k not in after]:
            del before[key]
        for key, value in after.items():
            before[key] = write_back(before[key], value) if key in before else value
        return before
    if type(before) is tuple and type(after) is tuple and len(before) == len(after):
        kept = tuple(write_back(b, a) for b, a in zip(before, after))
        return before if all(k is b for k, b in zip(kept, before)) else after
    return after


# ---------------------------------------------------------------------------------------------
# one test cell
# ---------------------------------------------------------------------------------------------

@dataclass
class Verdict:
    passed: bool                     # decided here, never by anything the kernel printed or returned
    outputs: list = field(default_factory=list)   # nbformat output dicts (see run_test_cell)
    reason: str | None = None        # the kernel, not the test, stopped the verdict (one line)
    kernel_dead: bool = False        # the engine replaces the kernel as for a crash


_cells = itertools.count(1)


def free_names(source: str) -> list[str]:
    """Names the cell reads (in function bodies too) and binds nowhere (:mod:`.dataflow`'s
    reading), builtins left out; for a cell that reaches names by string, every name it loads."""
    found = dataflow.names(source)
    loaded: set[str] | frozenset[str] = found.reads - found.binds
    if found.everything:
        loaded = {n.id for n in ast.walk(ast.parse(source)) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Load)}
    return sorted(n for n in loaded if not hasattr(builtins, n))


def _trusted(module: str, trusted_modules) -> bool:
    return any(module == m or module.startswith(m + ".") for m in trusted_modules)


_PRINT_OPTIONS: dict[str, type | tuple[type, ...]] = {
    "edgeitems": int, "threshold": int, "floatmode": str, "precision": int, "suppress": bool, "linewidth": int,
    "nanstr": str, "infstr": str, "sign": str, "legacy": (bool, str)}


class TestNamespace(dict):
    """The globals of one notebook's test cells here: one per notebook, kept across its test cells
    (a helper an earlier test cell defined is called by a later one).

    While a cell runs (:meth:`reading`), what it reads and no test cell bound comes from the
    kernel: the names of the cell's source in one request (:meth:`take_for`), and a name read
    only later, by a helper of an earlier cell, when it is read (``__missing__``; a builtin is
    never asked for).  The names taken are kept in an attribute, never as a name test code sees,
    and are taken again for each cell: the notebook may have changed them since, and a name gone
    from the kernel is dropped.  A module of ``trusted_modules`` is imported here, not proxied."""

    __slots__ = ("_taken", "_kernel")
    __test__ = False   # a namespace, not a class of tests for pytest to collect

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.setdefault("__name__", "__main__")
        self.setdefault("__builtins__", builtins)
        self._taken: set[str] = set()
        self._kernel: tuple[KernelLink, frozenset[str]] | None = None   # the running cell's

    @contextlib.contextmanager
    def reading(self, link: KernelLink, trusted_modules: frozenset[str]):
        """Names read while the block runs (one test cell) come from ``link``'s kernel."""
        self._kernel = (link, frozenset(trusted_modules))
        try:
            yield self
        finally:
            self._kernel = None

    def take_for(self, python: str) -> dict:
        """Take the names the cell's ``python`` reads that are not bound here, and again every
        name taken before; the kernel's NumPy print options (arrays in messages print as the
        notebook set them: precision, suppress …)."""
        return self._take(sorted({n for n in free_names(python) if n not in self} | self._taken))

    def __missing__(self, name: str):
        if self._kernel is None or name.startswith("__") or hasattr(builtins, name):
            raise KeyError(name)
        self._take([name])
        if name not in self:
            raise KeyError(name)   # a NameError to test code: the kernel has none either
        return dict.get(self, name)

    def _take(self, names: list[str]) -> dict:
        """One request: bind the ``names`` the kernel has, drop those taken before that it no
        longer has; the print options it answered with."""
        if self._kernel is None:
            raise RuntimeError("a test namespace takes names only while a test cell runs (reading())")
        link, trusted_modules = self._kernel
        answer = link.request("names", names=list(names))
        for name in answer["missing"]:
            if name in self._taken:
                self._taken.discard(name)
                self.pop(name, None)   # gone from the kernel since
        for name, value in answer["values"].items():
            module = answer["modules"].get(name)
            if module is not None and _trusted(module, trusted_modules):
                value = importlib.import_module(module)
            self[name] = value
            self._taken.add(name)
        options = answer.get("printoptions")
        return {k: v for k, v in options.items() if k in _PRINT_OPTIONS and isinstance(v, _PRINT_OPTIONS[k])
                and not (v is True and k == "legacy")} if type(options) is dict else {}


class _Printed(io.TextIOBase):
    """``sys.stdout`` / ``sys.stderr`` while test cells run: what a thread running a test cell
    prints goes to that cell's outputs (in order with the student's prints), anything else to
    the stream it replaced.  Installed once; several engine threads grade at the same time."""

    sinks = threading.local()

    def __init__(self, name: str, original):
        self.name, self.original = name, original

    def writable(self):
        return True

    def write(self, text):
        sink = getattr(self.sinks, "printed", None)
        if sink is None:
            return self.original.write(text)
        sink.append((self.name, text))
        return len(text)

    def flush(self):
        if getattr(self.sinks, "printed", None) is None:
            self.original.flush()

    @classmethod
    @contextlib.contextmanager
    def into(cls, printed: list):
        with _INSTALL:
            for name in ("stdout", "stderr"):
                if not isinstance(getattr(sys, name), cls):
                    setattr(sys, name, cls(name, getattr(sys, name)))
        cls.sinks.printed = printed
        try:
            yield
        finally:
            cls.sinks.printed = None


_INSTALL = threading.Lock()


def _streams(printed) -> list[dict]:
    outputs: list[dict] = []
    for name, text in printed:
        if outputs and outputs[-1]["name"] == name:
            outputs[-1]["text"] += text
        elif text:
            outputs.append({"output_type": "stream", "name": name, "text": text})
    return outputs


def run_test_cell(link: KernelLink, source: str, namespace: TestNamespace, *, timeout: float,
                  trusted_modules: frozenset[str] = frozenset(), history: Sequence[str] = ()) -> Verdict:
    """Run one test cell's source here. Free names it does not bind itself (nor an earlier test cell
    in `namespace`, one :class:`TestNamespace` per notebook, kept across its test cells) come from
    the kernel: plain data by value, functions/classes/other objects as proxies; modules named in
    `trusted_modules` are imported here. `history`: the notebook's code cells run so far (what the
    handler reads to tell a stub from a broken definition). Synchronous: the engine calls it
    through asyncio.to_thread."""
    if not isinstance(namespace, TestNamespace):
        raise TypeError("run_test_cell needs the notebook's TestNamespace (one per notebook, kept across "
                        f"its test cells), not a {type(namespace).__name__}")
    printed: list[tuple[str, str]] = []
    cells = [*history, source]
    with link.lock:
        link.printed, link.student_chars = printed, 0
        if link.trusted_modules != trusted_modules:
            link.trust(trusted_modules)
        try:
            with link.cell(timeout), namespace.reading(link, trusted_modules):
                error = _run(source, namespace, cells, printed)
        except KernelStopped as stop:
            return Verdict(False, [*_streams(printed), {"output_type": "error", "ename": "KernelStopped",
                                                        "evalue": stop.reason, "traceback": [stop.reason]}],
                           reason=stop.reason, kernel_dead=stop.dead)
        finally:
            link.printed = None
    if error is None:
        return Verdict(True, _streams(printed))
    return Verdict(False, [*_streams(printed), error])


def _run(source: str, namespace: TestNamespace, cells, printed) -> dict | None:
    """The cell's error output, or None when it passed."""
    try:
        python = checks._transform(source)
        tree = ast.parse(python)
        options = namespace.take_for(python)
        filename = f"<test cell {next(_cells)}>"
        linecache.cache[filename] = (len(source), None, source.splitlines(True), filename)
        code = compile(tree, filename, "exec")
    except KernelStopped:
        raise
    except Exception as exc:
        return checks.error_output(exc, cells)
    with np.printoptions(**options), checks.notebook_history(cells):
        try:
            with _Printed.into(printed):
                exec(code, namespace)
        except KernelStopped:
            raise
        except Exception as exc:
            return checks.error_output(exc, cells)
    return None

