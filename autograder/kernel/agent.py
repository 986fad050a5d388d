"""The grader's agent inside a student's kernel: answers requests with data, decides nothing.

Sent by :class:`gradlab_grader.execution.trusted.KernelLink` (this source after :mod:`.wire`'s,
run in a module of its own; stdlib and NumPy only) and never imported by the grader.  A test
cell's requests share one *session*: one silent ``execute_request`` of
``_gradlab_agent.serve("<first request>")`` (no argument when the first request is large) in
which the agent answers each request by calling ``input(ANSWER_PROMPT + "<n>:" + answer)``
(``n`` the request's number, the answer JSON text); the grader's ``input_reply`` is the next
request, until ``{"op": "end"}``.  A KeyboardInterrupt (the grader's, when a call ran out of
time) that finds the agent waiting in ``input()`` ends the session; one that hits the student's
code is that request's answer.

What is not data (see :mod:`.wire`) stays here behind a *handle* (a number in :attr:`Agent.objects`),
described by its type's name and which protocols it has; the grader forwards what it does with
the handle (call it, read an attribute, add to it …) as further requests.  A function of the
grader's passed as an argument arrives as a stub that asks the grader to call it (an
``input_request`` on the stdin channel while the request runs).  An exception raised here goes
back as data: its type's name and bases, its message, and the frames of the student's code.
"""

import builtins
import hashlib
import importlib
import inspect
import linecache
import operator
import types
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:   # in the kernel, wire's source comes first in the same module
    from .wire import decode, dumps, loads

MAX_FRAMES = 60          # innermost frames of a traceback sent back (a RecursionError has thousands)
MAX_TEXT = 20_000        # characters of a message, a repr or a cell's source
MAX_CALLBACKS = 50_000   # calls back to the grader during one request
CALLBACK_PROMPT = "\x00gradlab-callback:"  # how the grader tells a callback from a real input()
ANSWER_PROMPT = "\x00gradlab-answer:"      # an answer, and the wait for the session's next request
PRINT_OPTIONS = ("edgeitems", "threshold", "floatmode", "precision", "suppress", "linewidth", "nanstr",
                 "infstr", "sign", "legacy")   # how arrays print in messages: the notebook may set them
PROTOCOLS = ("__call__", "__len__", "__getitem__", "__setitem__", "__delitem__", "__iter__", "__contains__")
BINARY = {"add", "sub", "mul", "truediv", "floordiv", "mod", "pow", "matmul", "and_", "or_", "xor",
          "lshift", "rshift", "eq", "ne", "lt", "le", "gt", "ge", "getitem", "contains"}
UNARY = {"neg": operator.neg, "pos": operator.pos, "abs": operator.abs, "invert": operator.invert,
         "bool": bool, "float": float, "int": int, "index": operator.index, "complex": complex,
         "repr": repr, "str": str, "len": len, "iter": list}


def _cap(text: str) -> str:
    return text if len(text) <= MAX_TEXT else text[:MAX_TEXT] + "…"


class Agent:
    def __init__(self, namespace: dict, max_bytes: int):
        self.ns, self.max_bytes = namespace, max_bytes
        self.objects: dict[int, object] = {}   # handle -> object (kept alive while the grader holds it)
        self.ids: dict[int, int] = {}          # id(object) -> handle: one handle per object
        self.callbacks = 0
        self.function_keys: dict[int, tuple] = {}   # handle of a plain function -> its __dict__'s keys as sent
        self.mirrors: dict[int, object] = {}    # mirror id -> this request's copy of a grader's object
        self.mirror_ids: dict[int, int] = {}    # id(copy) -> mirror id
        self.shipped: dict[int, dict] = {}      # mirror id -> its attributes as they arrived
        self.part_tags = {"$r": self.objects.__getitem__, "$cb": self.stub, "$np": _numpy_attr,
                          "$bt": _builtin_type, "$or": self.mirror, "$fn": self.closure}

    # ------------------------------------------------------------------ the wire
    def handle(self, obj) -> dict:
        mid = self.mirror_ids.get(id(obj))
        if mid is not None and self.mirrors.get(mid) is obj:
            return {"$or": mid}
        hid = self.ids.get(id(obj))
        if hid is None or self.objects.get(hid) is not obj:
            hid = len(self.objects) + 1
            while hid in self.objects:
                hid += 1
            self.objects[hid], self.ids[id(obj)] = obj, hid
        kind = type(obj)
        desc = {"id": hid, "type": _cap(str(getattr(kind, "__name__", "object"))),
                "protocols": [p for p in PROTOCOLS if any(p in vars(k) for k in kind.__mro__)],
                "function": isinstance(obj, (types.FunctionType, types.BuiltinFunctionType, types.MethodType)),
                "isclass": isinstance(obj, type)}
        for attr in ("__name__", "__qualname__", "__module__"):
            value = _plain_attr(obj, attr)
            if value is not None:
                desc[attr.strip("_")] = value
        if desc["function"] or desc["isclass"]:
            desc["signature"] = self.signature(obj)
        if kind is types.FunctionType:   # what else it has: the grader answers any other name itself
            desc["attrs"] = self.function_attrs(hid, obj)
        return {"$h": desc}

    def function_attrs(self, hid: int, fn) -> list:
        keys = self.function_keys[hid] = tuple(fn.__dict__)
        return [k for k in keys if type(k) is str]

    def changed_functions(self) -> dict:
        """``{handle: [its __dict__'s keys]}`` of the plain functions the grader holds whose
        attributes changed since they were last sent (a request may set one)."""
        return {hid: self.function_attrs(hid, fn) for hid, keys in list(self.function_keys.items())
                if (fn := self.objects.get(hid)) is not None and tuple(fn.__dict__) != keys}

    def dumps(self, value) -> str:
        return dumps(value, self.max_bytes, self.handle)

    def loads(self, text: str):
        tags = {"$r": self.objects.__getitem__, "$cb": self.stub, "$np": _numpy_attr, "$bt": _builtin_type,
                "$mirrors": self.build_mirrors, "$or": self.mirror, "$fn": self.closure}
        return loads(text, self.max_bytes, tags)

    # ------------------------------------------------------------------ requests
    def serve(self, text: str | None = None) -> None:
        """Answer the grader's requests (the first one ``text``, or read as the next ones) until
        it ends the session or interrupts the wait for the next request."""
        answer = "0:"   # no request yet: waiting for the first one
        while True:
            if text is None:
                try:
                    text = builtins.input(ANSWER_PROMPT + answer)
                except (KeyboardInterrupt, EOFError):
                    return
            done, text = self.call(text), None
            if done is None:
                return
            answer = done

    def call(self, text: str) -> str | None:
        """Run one request; its answer as ``"<n>:<json>"`` (None for the session's end)."""
        self.callbacks, n = 0, -1
        try:
            request = self.loads(text)
            n = request.pop("n", -1) if type(request) is dict else -1
            if type(request) is dict and request.get("op") == "end":
                return None
            request.pop("mirrors", None)
            answer = {"ok": getattr(self, "op_" + request.pop("op"))(**request)}
        except BaseException as exc:  # noqa: BLE001 (everything goes back as data, even SystemExit)
            answer = {"error": self.error(exc)}
        try:
            if self.mirrors:
                answer["mirrors"] = self.changed_mirrors()
            changed = self.changed_functions()
            if changed:
                answer["functions"] = changed
            result = self.dumps(answer)
        except Exception as exc:  # noqa: BLE001 (too big, too deep)
            result = self.dumps({"error": self.error(exc)})
        finally:
            self.mirrors, self.mirror_ids, self.shipped = {}, {}, {}
        return f"{n if type(n) is int else -1}:{result}"

    def op_names(self, names):
        values, modules, missing = {}, {}, []
        for name in names:
            if name not in self.ns:
                missing.append(name)
                continue
            values[name] = value = self.ns[name]
            if isinstance(value, types.ModuleType):
                modules[name] = _plain_attr(value, "__name__") or ""
        options = {k: v for k, v in np.get_printoptions().items() if k in PRINT_OPTIONS}
        return {"values": values, "modules": modules, "missing": missing, "printoptions": options}

    def op_call(self, target, args, kwargs):
        """The call's result, and the arguments it changed as the call left them (by position
        and keyword), for the grader to write back."""
        before = [self.fingerprint(a) for a in args], {k: self.fingerprint(v) for k, v in kwargs.items()}
        result = self.objects[target](*args, **kwargs)
        changed = {i: a for i, a in enumerate(args) if self.fingerprint(a) != before[0][i]}
        kwchanged = {k: v for k, v in kwargs.items() if self.fingerprint(v) != before[1][k]}
        return {"result": result, "args": changed, "kwargs": kwchanged}

    def fingerprint(self, value):
        """What an argument holds, to tell whether a call changed it (None: cannot tell)."""
        try:
            return hashlib.blake2b(self.dumps(value).encode()).digest()
        except Exception:  # noqa: BLE001
            return None

    def op_getattr(self, target, name):
        return getattr(self.objects[target], name)

    def op_setattr(self, target, name, value):
        setattr(self.objects[target], name, value)

    def op_setitem(self, target, key, value):
        self.objects[target][key] = value

    def op_delitem(self, target, key):
        del self.objects[target][key]

    def op_binary(self, name, left, right):
        if name not in BINARY:
            raise ValueError(f"no operation {name!r}")
        return getattr(operator, name)(left, right)

    def op_unary(self, name, target):
        return UNARY[name](self.objects[target])

    def op_format(self, target, spec):
        return format(self.objects[target], spec)

    def op_isinstance(self, target, obj):
        return isinstance(obj, self.objects[target])

    def op_release(self, handles):
        for hid in handles:
            obj = self.objects.pop(hid, None)
            self.function_keys.pop(hid, None)
            if obj is not None and self.ids.get(id(obj)) == hid:
                del self.ids[id(obj)]

    # ------------------------------------------------------------------ mirrors
    def build_mirrors(self, table):
        """This request's copies of the grader's library objects (a graph of Values, say):
        ``objects`` ``[[id, class index, state], …]`` of ``classes`` ``[[module, qualname], …]``.
        Instances first, then their attributes, which refer to each other by id and to the
        library's closures by an index into ``codes``."""
        table = dict(table["$d"])
        classes = []
        for module, qualname in table["classes"]:
            cls = _library_attr(str(module), str(qualname))
            if not isinstance(cls, type):
                raise TypeError(f"{module}.{qualname} is not a class")
            classes.append(cls)
        self.codes = [self.library_code(*spec) for spec in table["codes"]]
        for mid, index, _ in table["objects"]:
            cls = classes[index]
            obj = object.__new__(cls) if cls.__new__ is object.__new__ else cls.__new__(cls)
            self.mirrors[mid], self.mirror_ids[id(obj)] = obj, mid
        for mid, _, state in table["objects"]:
            if type(state) is not dict or type(state.get("$d")) is not list:
                raise TypeError("a malformed copy")
            attrs = {str(k): self.shallow(v) for k, v in state["$d"]}
            vars(self.mirrors[mid]).update(attrs)
            self.shipped[mid] = dict(attrs)
        return len(table["objects"])

    def mirror(self, mid):
        return self.mirrors[mid]

    def decode_part(self, obj):
        return decode(obj, self.max_bytes, self.part_tags)

    def shallow(self, obj):
        """:meth:`decode_part`, quickly for the common parts of a copy (a number, a tuple of copies)."""
        kind = type(obj)
        if kind is str or kind is bool or kind is int or kind is float or obj is None:
            return obj
        if kind is dict and len(obj) == 1 and type(obj.get("$t")) is list:
            refs = obj["$t"]
            if all(type(r) is dict and len(r) == 1 and type(r.get("$or")) is int for r in refs):
                return tuple(self.mirrors[r["$or"]] for r in refs)
        return self.decode_part(obj)

    def library_code(self, module, qualname, name, line, freevars):
        """``(code, globals, qualname)`` of a function the library defines inside another (a
        Value's ``_backward``), found in the kernel's copy of the library."""
        outer, _, _ = str(qualname).partition(".<locals>.")
        code = _nested_code(_library_attr(str(module), outer).__code__, name, line)
        if code is None or list(code.co_freevars) != list(freevars):
            raise TypeError(f"no function {qualname} in {module}")
        return code, importlib.import_module(str(module)).__dict__, str(qualname)

    def closure(self, spec):
        """A closure of the library's code over this request's copies."""
        code, namespace, qualname = self.codes[spec[0]]
        cells = tuple(types.CellType(self.shallow(v)) for v in spec[1])
        fn = types.FunctionType(code, namespace, code.co_name, None, cells or None)
        fn.__qualname__ = qualname
        return fn

    def changed_mirrors(self) -> list:
        """``[[id, {attribute: value}], …]``: what the request changed in each copy."""
        out = []
        for mid, obj in self.mirrors.items():
            shipped = self.shipped.get(mid, {})
            attrs = {k: v for k, v in vars(obj).items() if not isinstance(v, types.FunctionType)
                     and (k not in shipped or shipped[k] is not v or isinstance(v, (list, dict, np.ndarray)))}
            if attrs:
                out.append([mid, attrs])
        return out

    # ------------------------------------------------------------------ helpers
    def signature(self, obj):
        """``[[name, kind, has_default, default or None], …]`` of a callable, or None."""
        try:
            sig = inspect.signature(obj)
        except (TypeError, ValueError):
            return None
        out = []
        for p in sig.parameters.values():
            default = p.default if p.default is not p.empty and _is_data(p.default, self.max_bytes) else None
            out.append([p.name, int(p.kind), p.default is not p.empty, default])
        return out

    def stub(self, spec):
        """A function standing for one of the grader's: each call asks the grader to run it."""
        agent, cid, name = self, spec["id"], str(spec.get("name") or "f")

        def callback(*args, **kwargs):
            agent.callbacks += 1
            if agent.callbacks > MAX_CALLBACKS:
                raise RuntimeError(f"more than {MAX_CALLBACKS} calls of `{name}` in one test call")
            reply = builtins.input(CALLBACK_PROMPT + agent.dumps({"id": cid, "args": list(args), "kwargs": kwargs}))
            answer = agent.loads(reply)
            if "error" in answer:
                kind = getattr(builtins, str(answer["error"][0]), None)
                if not (isinstance(kind, type) and issubclass(kind, Exception)):
                    kind = RuntimeError
                raise kind(answer["error"][1])
            return answer["ok"]
        callback.__name__ = callback.__qualname__ = name
        return callback

    def error(self, exc: BaseException) -> dict:
        kind = type(exc)
        bases = [k.__name__ for k in kind.__mro__ if getattr(builtins, k.__name__, None) is k]
        try:
            text = _cap(str(exc))
        except Exception:  # noqa: BLE001 (a __str__ that raises)
            text = ""
        args = [a for a in exc.args if _is_data(a, MAX_TEXT)]
        record = {"type": _cap(str(getattr(kind, "__name__", "Exception"))), "module": _plain_attr(kind, "__module__"),
                  "bases": bases, "str": text, "args": args if len(args) == len(exc.args) else None,
                  "name": _plain_attr(exc, "name"), "frames": self.frames(exc)}
        return record

    def frames(self, exc: BaseException) -> list:
        """The traceback's frames below the agent's, innermost last: [qualname, line counted from
        the function's first line, that line's text, notebook code?, its cell's source]."""
        out = []
        tb = exc.__traceback__
        while tb is not None:
            frame, lineno = tb.tb_frame, tb.tb_lineno
            tb = tb.tb_next
            if frame.f_globals is AGENT_GLOBALS:
                continue
            code = frame.f_code
            notebook = frame.f_globals is self.ns or frame.f_globals.get("__name__") == "__main__"
            out.append([_cap(getattr(code, "co_qualname", code.co_name)), lineno - code.co_firstlineno + 1,
                        _cap(linecache.getline(code.co_filename, lineno).strip()), notebook,
                        _cap("".join(linecache.getlines(code.co_filename))) if notebook else ""])
        return out[-MAX_FRAMES:]


AGENT_GLOBALS = globals()


def _library_attr(module: str, qualname: str):
    obj = importlib.import_module(module)
    for part in qualname.split("."):
        obj = getattr(obj, part)
    return obj


def _nested_code(code, name: str, line: int):
    """The code object ``name`` first defined on ``line`` inside ``code`` (at any depth)."""
    todo = [code]
    while todo:
        c = todo.pop()
        if c.co_name == name and c.co_firstlineno == line:
            return c
        todo.extend(k for k in c.co_consts if isinstance(k, types.CodeType))
    return None


def _plain_attr(obj, name):
    """``obj.<name>`` when it is a plain ``str`` (a name, a module), else None; never raises."""
    try:
        value = inspect.getattr_static(obj, name, None)
        if isinstance(value, (types.GetSetDescriptorType, types.MemberDescriptorType)):
            value = getattr(obj, name, None)
    except Exception:  # noqa: BLE001
        return None
    return value if type(value) is str else None


def _is_data(value, limit: int) -> bool:
    try:
        dumps(value, limit)
    except Exception:  # noqa: BLE001
        return False
    return True


def _numpy_attr(name):
    value = getattr(np, str(name))
    if not callable(value):
        raise ValueError(f"numpy.{name} is not a function")
    return value


def _builtin_type(name):
    value = getattr(builtins, str(name))
    if not isinstance(value, type):
        raise ValueError(f"{name} is not a builtin type")
    return value
