"""Pristine helpers for test cells: a guard in the student's kernel, and the grader's side of it.

Interface (what the grading engine calls)::

    from gradlab_grader import guard

    # kernels from gradlab_grader.kernel.sandbox carry the guard from their first instant (installed by
    # the kernel's start-up code, before any cell): nothing to set up.
    hook = guard.executor_hook()
    note = await hook(runner)     # runner: the nbclient NotebookClient, before each test cell
    # None: clean.  Otherwise one line for the cell's outcome and the integrity flags, e.g.
    #   "gradlab.checks.compare was replaced (restored before the test)"
    ... execute the test cell ...
    note = await hook.after(runner)   # right after it: did the test's own calls patch anything?
    # guard.untrusted(note): the guard could not run, its report was forged, or the test
    #   changed the helpers while it ran -> score that test cell 0 (it cannot be trusted)
    # runner.guard_findings: every finding of this notebook so far (a list of str)

What the guard does before each test cell (``check``):

* **restores** and reports anything the submission changed since the kernel started in the
  modules the tests rely on — every module of ``gradlab`` and ``numpy`` (``gradlab.checks``,
  ``numpy.testing``, the reference implementations...) as they were when first imported: their
  ``sys.modules`` entries, the names in their namespaces (``checks.compare = fake``, however the
  module was reached: alias, ``sys.modules``, ``importlib``), the closure cells of their
  functions and the attributes of their classes; ``builtins`` (``AssertionError``,
  ``isinstance``, ``print`` ...) and the ``__builtins__`` of the notebook; the names the
  notebook's own (non-answer) cells import (``np``, ``checks``, ``ref`` rebound to something
  else); IPython's cell pipeline (input and AST transformers, event callbacks, custom exception
  handlers, methods patched on the shell or the kernel object, a swapped ``__class__``);
  ``sys.settrace``/``sys.setprofile`` hooks, ``sys.stdout``/``stderr``/``excepthook``; and
  removes keys that are not plain ``str`` from those namespaces (a ``str`` subclass key can
  shadow a name), without hashing or comparing them: the guard never runs an object of the
  submission's (no ``__eq__``, ``__hash__`` or property of a Thread subclass);
* **blocks**, from the first instant (a ``sys.addaudithook`` hook, which cannot be removed):
  replacing the ``__code__``, ``__defaults__`` or ``__kwdefaults__`` of a protected function or
  the attributes of a protected class; trace and profile hooks set from outside ``gradlab``;
  walking the garbage collector or other threads' frames (the ways to reach the guard's own
  state); adding another audit hook;
* **reports** threads and child processes the submission left running (they could undo the
  restore while a test runs), and attempts to open, list, change or connect to the instructor's
  hidden paths (``open``, ``os.listdir``, ``sqlite3.connect`` ... audit events);
* **checks again right after the test** (``hook.after``): a student function that patches a
  helper when the test calls it fools that one test inside the kernel, so the test scores 0
  (a patch undone before the test ends is not seen); only changes count, not reports.

Why it cannot simply be switched off.  The guard is a file of the read-only grader, loaded into
a fresh module that is in no ``sys.modules`` and resolves builtins through its own private copy,
so patching modules or builtins does not reach it; its state is reachable only through the audit
hook (the garbage collector and other threads' frames are blocked).  The grader triggers it with
a message of its own on the kernel's shell channel (``gradlab_guard_request``: no cell, none of
IPython's cell pipeline), which the guard's handler answers, registered at start-up among the
kernel's message handlers (which every check restores); the answer carries an HMAC of the nonce
and the findings under a key that reached the kernel in a file deleted at start-up.  Code that
stops the guard from answering (a handler removed, the kernel's messaging patched) or sends a
fake answer cannot produce that HMAC: the test is then scored 0 and flagged.

Cost: a check is one shell request (no cell execution) and, when nothing changed, C-level
identity comparisons of every protected namespace, closure, class dict and builtin against what
the last full check left; the full walk runs only when something differs.

What it does not defend: code that writes the interpreter's memory (``ctypes``) or rewrites the
kernel's message handling can still fake what a test cell shows.  The sandbox keeps such code
from reaching anything else, and the integrity checks flag the imports that make it possible.
"""

# NB: this file is also executed *inside* the student's kernel (see _KERNEL_BOOT): no
# dataclasses, no ``from __future__ import annotations`` (the module is in no sys.modules), and
# the kernel-side part below uses only what ``install`` captured.

import ast
import hashlib
import os
import re
import secrets
import sys

TOKEN = "GRADLAB-GUARD"
REQUEST, REPLY = "gradlab_guard_request", "gradlab_guard_reply"   # shell message types
# Seconds the guard's answer may trail the kernel's idle status (both are sent by the kernel's
# forwarding threads, the answer first; ms apart, more on a saturated machine): a missing answer
# costs a tampering kernel this much per check.
ANSWER_GRACE = 3.0
UNTRUSTED = "the guard could not check the helpers before this test"
# The grader–library contract (gradlab_grader.contract): imported on the grader's side; in the
# kernel, where this file runs alone, kernel_boot puts it in the module's namespace.
if "CONTRACT" not in globals():
    from ..contract import for_kernel

    CONTRACT = for_kernel()
# Top-level packages whose modules the guard keeps pristine (each module as first imported).
PROTECT = tuple(CONTRACT["protect"])
# Modules imported when the kernel starts, so that they are pristine before any cell runs.
PRELOAD = tuple(CONTRACT["preload"])
# Builtins the kernel itself rebinds while it runs (ipykernel forwards input() per request,
# IPython's display hook sets _ __ ___): neither restored nor reported.
KERNEL_BUILTINS = frozenset({"input", "_", "__", "___", "display", "get_ipython"})


def _mac(key: bytes, message: str) -> str:
    """HMAC-SHA256 (RFC 2104), spelled out so that the kernel side needs only hashlib.sha256."""
    key = key[:64].ljust(64, b"\0")
    inner = hashlib.sha256(bytes(b ^ 0x36 for b in key) + message.encode()).digest()
    return hashlib.sha256(bytes(b ^ 0x5C for b in key) + inner).hexdigest()


# -- grader side -------------------------------------------------------------------------------

def kernel_boot(key_file: str, hidden=()) -> str:
    """The one line of start-up code (``IPKernelApp.exec_lines``) that installs the guard.

    It runs this file in a fresh namespace with a private copy of the builtins, then
    ``install(key_file, hidden)``, which reads the key and deletes the file.  No name is left in
    the notebook's namespace.  ``hidden``: the instructor's paths; an attempt to open, list,
    change or connect to anything under them is reported.
    """
    path = os.path.realpath(__file__)
    hidden = [os.path.realpath(h) for h in hidden]
    return ("(lambda g: (exec(compile(open(%r).read(), %r, 'exec'), g), g['install'](%r, %r)))"
            "({'__name__': 'gradlab_guard_kernel', '__file__': %r, 'CONTRACT': %r, "
            "'__builtins__': dict(vars(__import__('builtins')))})"
            % (path, path, key_file, hidden, path, CONTRACT))


def new_key() -> bytes:
    return secrets.token_bytes(32)


def expected_imports(nb) -> list:
    """(name, module, attribute) for each name the notebook's non-answer cells import.

    ``import numpy as np`` -> ("np", "numpy", None); ``from gradlab import checks`` ->
    ("checks", "gradlab", "checks").  Test cells rely on these names meaning what they meant.
    """
    from ..cells import is_answer  # the grader's side only (the kernel runs this file alone)
    from ..imports import STAR, notebook_imports

    return [(i.bound, i.target, i.attribute)
            for i in notebook_imports(nb, lambda cell: not is_answer(cell), top_level=True)
            if not i.level and i.attribute != STAR]


def read_report(text: str, key: bytes, nonce: str):
    """The findings (a list of str) in the guard's answer, or None if missing or forged."""
    for line in text.splitlines():
        parts = line.split(" ", 3)
        if len(parts) == 4 and parts[0] == TOKEN and parts[1] == nonce:
            mac, body = parts[2], parts[3]
            if secrets.compare_digest(mac, _mac(key, nonce + body)):
                try:
                    found = ast.literal_eval(body)
                except (ValueError, SyntaxError):
                    return None
                return [str(f) for f in found] if isinstance(found, list) else None
    return None


def untrusted(note) -> bool:
    """True when the guard could not vouch for the test cell that follows (score it 0)."""
    return bool(note) and note.startswith(UNTRUSTED)


async def _request(kc, nonce: str, expect, timeout: float) -> str:
    """Ask the guard in the kernel of client ``kc`` for its report (a shell request of its own,
    answered by the guard's handler); the report line, or "" if none came."""
    import asyncio
    import time

    from jupyter_core.utils import ensure_async

    async def wait(get, is_it, until):
        while True:
            left = until - time.monotonic()
            if left <= 0:
                return None
            try:
                msg = await asyncio.wait_for(ensure_async(get(timeout=left)), left + 1)
            except Exception:
                return None
            if msg.get("parent_header", {}).get("msg_id") == msg_id and is_it(msg):
                return msg

    msg = kc.session.msg(REQUEST, {"nonce": nonce, "expect": [list(e) for e in expect]})
    kc.shell_channel.send(msg)
    msg_id, end = msg["header"]["msg_id"], time.monotonic() + timeout
    # the kernel says idle once it has handled the request, answered or not (a handler taken
    # out): the answer, sent before that, is due at once (ANSWER_GRACE for the kernel's threads
    # that forward it)
    await wait(kc.get_iopub_msg, lambda m: m["msg_type"] == "status" and
               m["content"].get("execution_state") == "idle", end)
    reply = await wait(kc.get_shell_msg, lambda m: True, min(end, time.monotonic() + ANSWER_GRACE))
    report = (reply or {}).get("content", {}).get("report", "")
    return report if isinstance(report, str) else ""


_REPORT_ONLY = re.compile(r"blocked: |tried to reach |\d+ (thread|process)")


def changed_something(finding: str) -> bool:
    """A finding that restored or removed something, not one that only reports (a blocked
    attempt, a try at a hidden path, threads or processes still running): after a test, only
    those mean the test ran against changed helpers."""
    return not _REPORT_ONLY.match(finding)


def _sent(runner):
    """Where the runner's kernel conversation stands: (kernel's guard key, messages the client
    has sent).  Any request (a cell, an interrupt ...) raises the count, which the kernel's
    code cannot touch; None when unknown."""
    count = getattr(getattr(runner.kc, "session", None), "message_count", None)
    return None if count is None else (getattr(runner.km, "guard_key", None), count)


def executor_hook(timeout: float = 30):
    """``async hook(runner) -> str | None`` before each test cell, and ``hook.after(runner)``
    right after it (see module docstring).

    ``after`` catches what the test itself set off: a student function that patches a helper
    when the test calls it.  Anything changed during the test makes the test untrusted
    (``untrusted(note)``: score it 0).  When the previous cell was a test checked by ``after``
    and nothing ran since, the next ``hook`` needs no second check.
    """

    async def check(runner, during_test: bool):
        km, kc = runner.km, runner.kc
        key = getattr(km, "guard_key", None)
        if key is None or kc is None:
            return None  # a kernel without the guard (not from gradlab_grader.kernel.sandbox)
        expect = getattr(runner, "_guard_expect", None)
        if expect is None:
            expect = runner._guard_expect = expected_imports(runner.nb)
        nonce = secrets.token_hex(16)
        text = await _request(kc, nonce, expect, timeout)
        found = read_report(text, key, nonce)
        if found is None:
            found = [UNTRUSTED + " (its report is missing or forged: the kernel's message "
                     "handling was tampered with); the test scores 0"]
        elif during_test and any(map(changed_something, found)):
            found = [f"{UNTRUSTED}: the test itself changed them ({'; '.join(found)}); "
                     "the test scores 0"]
        runner._guard_clean = _sent(runner) if during_test else None
        findings = runner.__dict__.setdefault("guard_findings", [])
        findings.extend(f for f in found if f not in findings)
        return "; ".join(found) or None

    async def hook(runner):
        clean = getattr(runner, "_guard_clean", None)
        if clean is not None and clean == _sent(runner):
            return None  # checked right after the previous test, and nothing ran since
        return await check(runner, False)

    async def after(runner):
        return await check(runner, True)

    hook.after = after
    return hook


# -- kernel side: runs inside the student's kernel ---------------------------------------------

def install(key_file, hidden=()):
    """Install the guard in this kernel (called once by the start-up line, before any cell)."""
    import builtins
    import importlib
    import itertools
    import operator
    import threading
    import types

    with open(key_file, "rb") as f:
        key = f.read()
    os.unlink(key_file)
    for name in PRELOAD:
        importlib.import_module(name)

    # everything the guard calls later is captured now, while it is pristine: a module's
    # namespace can be patched later, these references cannot
    FunctionType, ModuleType, MethodType, type_ = (types.FunctionType, types.ModuleType,
                                                   types.MethodType, type)
    sha256, listdir, enumerate_threads = hashlib.sha256, os.listdir, threading.enumerate
    # the fast comparison: C functions only, so it never calls the submission's code (no
    # __eq__, __hash__ or descriptor of anything the submission made)
    is_, all_, map_, len_, list_ = operator.is_, all, map, len, list
    chain, repeat, dict_values = itertools.chain.from_iterable, itertools.repeat, dict.values
    cell_contents, str_ = operator.attrgetter("cell_contents"), str
    proxy_values = types.MappingProxyType.values
    unchanged_since = {}   # what the last full check left: see record() and unchanged()
    graveyard = []         # non-string keys taken out of namespaces, kept alive (their __del__
                           # must not run inside the guard)
    own_functions = {id(enumerate_threads)}

    def mac(message):
        k = key[:64].ljust(64, b"\0")
        inner = sha256(bytes(b ^ 0x36 for b in k) + message.encode()).digest()
        return sha256(bytes(b ^ 0x5C for b in k) + inner).hexdigest()

    real_sys, real_builtins = sys, builtins
    modules_dict = sys.modules
    getframe, settrace, setprofile = sys._getframe, sys.settrace, sys.setprofile
    gettrace, getprofile = sys.gettrace, sys.getprofile
    sys_saved = {k: getattr(sys, k) for k in ("stdout", "stderr", "excepthook", "displayhook")}
    builtins_saved = dict(vars(builtins))
    builtins_dict = vars(builtins)   # the same dict for good (vars() of a swapped class could lie)
    threads_at_start = set(t.ident for t in enumerate_threads())
    # C-level readers: a thread's own instance dict and a class's own __module__ and dict,
    # whatever properties a Thread subclass of the submission's defines
    thread_dict = threading.Thread.__dict__["__dict__"].__get__
    class_module, class_dict = type.__dict__["__module__"].__get__, type.__dict__["__dict__"].__get__
    kernel_packages = frozenset(["ipykernel", "IPython", "zmq", "jupyter_client", "tornado",
                                 "concurrent"])

    def foreign_thread(t):
        """A thread the submission started (or one that cannot be read safely), told without
        running any code of the submission's."""
        try:
            d, cls = thread_dict(t), type_(t)
            if not plain_keys(d) or not plain_keys(class_dict(cls)):
                return True
            ident, name, module = d.get("_ident"), d.get("_name"), class_module(cls)
        except Exception:
            return True
        if type_(ident) is not int or type_(name) is not str_ or type_(module) is not str_:
            return True
        return ident not in threads_at_start and module.split(".")[0] not in kernel_packages \
            and not name.startswith("asyncio")
    pending = []          # what the audit hook blocked since the last report
    module_class = {}     # module name -> its class (a swapped __class__ can fake attributes)
    snap = {}             # module name -> (module, dict copy, {function: closure contents},
                          #                 {class: dict copy})
    protected_globals = set()   # id() of the namespaces of protected modules
    protected_files = {__file__}   # as code objects name them (no realpath at event time)
    state = {"modules": 0, "busy": False}

    try:
        shell = get_ipython()  # noqa: F821 (IPython's builtin in a kernel)
    except NameError:
        shell = None
    kernel = getattr(shell, "kernel", None)

    def objects_state(obj):
        if obj is None:
            return None
        return (type_(obj), set(vars(obj)))

    shell_state = objects_state(shell)
    kernel_state = objects_state(kernel)
    if shell is not None:
        pipeline = {
            "input_transformers_cleanup": list(shell.input_transformers_cleanup),
            "input_transformers_post": list(shell.input_transformers_post),
            "ast_transformers": list(shell.ast_transformers),
        }
        callbacks = {k: list(v) for k, v in shell.events.callbacks.items()}
        custom_exc = (shell.custom_exceptions, shell.CustomTB)
        user_ns, compiler, events = shell.user_ns, shell.compile, shell.events
    if kernel is not None:
        send = kernel.session.send   # bound now: a later patch of Session.send does not reach it

        def request(stream, idents, msg):
            """The grader's gradlab_guard_request: check, and answer with the signed report."""
            content = msg.get("content") or {}
            send(stream, REPLY, {"report": respond(str_(content.get("nonce", "")),
                                                   content.get("expect") or [])}, msg, idents)

        kernel.shell_handlers[REQUEST] = request
        own_functions.add(id(request))
        handlers = dict(kernel.shell_handlers)

    def adopt():
        """Snapshot modules of the protected packages that finished importing."""
        if len(modules_dict) == state["modules"]:
            return
        state["modules"] = len(modules_dict)
        for name, mod in list(modules_dict.items()):
            if type_(name) is not str_ or name in snap or name.split(".")[0] not in PROTECT \
                    or type_(mod) is not ModuleType:  # (a key that is no str: never hashed)
                continue
            spec = getattr(mod, "__spec__", None)
            if spec is not None and getattr(spec, "_initializing", False):
                continue
            ns = vars(mod)
            closures, classes = {}, {}
            for value in ns.values():
                if type_(value) is FunctionType and value.__closure__:
                    closures[value] = tuple(_cell(c) for c in value.__closure__)
                elif isinstance(value, type_) and value.__module__ == name:
                    classes[value] = dict(vars(value))
                impl = getattr(value, "_implementation", None)  # numpy's dispatchers
                if type_(impl) is FunctionType and impl.__closure__:
                    closures[impl] = tuple(_cell(c) for c in impl.__closure__)
            snap[name] = (mod, dict(ns), closures, classes)
            module_class[name] = type_(mod)
            unchanged_since.clear()
            protected_globals.add(id(ns))
            f = getattr(mod, "__file__", None)
            if f:
                protected_files.add(f)

    def _cell(c):
        try:
            return c.cell_contents
        except ValueError:
            return _EMPTY

    library_dirs = tuple({os.path.join(p, "") for p in (sys.prefix, sys.base_prefix,
                                                        sys.exec_prefix, sys.base_exec_prefix)})

    def from_library(fn):
        """A plain function or method whose code is in a file of the (read-only) Python
        installation, not in a notebook cell."""
        fn = getattr(fn, "__func__", fn) if type_(fn) is MethodType else fn
        if type_(fn) is not FunctionType:
            return False
        return fn.__code__.co_filename.startswith(library_dirs)

    def caller_file(depth):
        try:
            return getframe(depth).f_code.co_filename
        except Exception:
            return ""

    def block(what):
        pending.append(f"blocked: {what}")
        raise Blocked(f"gradlab: {what} is not allowed while grading")

    blocked_events = {
        "sys.addaudithook": "adding an audit hook",
        "gc.get_objects": "walking the garbage collector (gc.get_objects)",
        "gc.get_referrers": "walking the garbage collector (gc.get_referrers)",
        "gc.get_referents": "walking the garbage collector (gc.get_referents)",
        "sys._current_frames": "reading other threads' frames (sys._current_frames)",
    }
    # file events whose first argument is a path (sqlite3.connect: the gradebook)
    path_events = frozenset(["open", "os.listdir", "os.scandir", "os.remove", "os.rename",
                             "os.rmdir", "os.mkdir", "os.chmod", "os.truncate", "os.utime",
                             "shutil.rmtree", "shutil.copyfile", "sqlite3.connect"])
    hidden_dirs = tuple(h.rstrip("/") + "/" for h in hidden)
    hidden_exact = frozenset(h.rstrip("/") for h in hidden)
    fspath, normpath, join, getcwd = os.fspath, os.path.normpath, os.path.join, os.getcwd
    watched = frozenset([*blocked_events, "sys.settrace", "sys.setprofile", "exec",
                         "object.__setattr__", "object.__delattr__",
                         *(path_events if hidden else ())])

    def audit(event, args):
        if event not in watched or state["busy"]:
            return
        try:
            watch(event, args)
        except Blocked:
            raise
        except Exception:
            # the guard's own trouble (a half-built type without __module__, say) must never
            # surface in the code that raised the event (C extensions abort on it)
            pass

    def watch(event, args):
        if event in path_events:
            if not args or type_(args[0]) is int:   # a file descriptor
                return
            path = fspath(args[0])
            path = path.decode(errors="replace") if type_(path) is bytes else path
            path = normpath(join(getcwd(), path))
            if path in hidden_exact or path.startswith(hidden_dirs):
                note = f"tried to reach {path}, an instructor file (not visible in the sandbox)"
                if note not in pending:
                    pending.append(note)
        elif event == "exec":
            adopt()
        elif event in blocked_events:
            block(blocked_events[event])
        elif event in ("sys.settrace", "sys.setprofile"):
            # gradlab.checks' tripwire uses setprofile; so may the guard
            if caller_file(3) not in protected_files:  # caller_file, watch, audit, caller
                block(f"{event} from the submission's code")
        elif event in ("object.__setattr__", "object.__delattr__"):
            obj, attr = args[0], args[1]
            if type_(obj) is FunctionType and attr in ("__code__", "__defaults__",
                                                         "__kwdefaults__"):
                # new code for any function but the notebook's own; new defaults for those of
                # the protected modules (collections.namedtuple sets defaults, legitimately)
                mine = shell is not None and obj.__globals__ is user_ns
                protected = id(obj.__globals__) in protected_globals or id(obj) in own_functions
                if (attr == "__code__" and not mine) or protected:
                    block(f"replacing {obj.__module__}.{obj.__qualname__}.{attr}")
            elif isinstance(obj, type_) and getattr(obj, "__module__", None) in snap:
                block(f"changing {obj.__module__}.{obj.__qualname__}.{attr}")

    def respond(nonce, expect):
        """Check, and the signed report line: TOKEN nonce mac [findings]."""
        state["busy"] = True
        try:
            found = pending[:] + check(expect)
            del pending[:]
        except Exception as err:  # the report must go out whatever happens
            found = [f"the guard failed: {type_(err).__name__}: {err}"]
        finally:
            state["busy"] = False
        body = repr(found)
        return f"{TOKEN} {nonce} {mac(nonce + body)} {body}"

    def plain_keys(d):
        """Every key of dict ``d`` is an exact str (then looking names up in it runs no code
        of the submission's: str hashing and comparison are C)."""
        return all_(map_(is_, map_(type_, d), repeat(str_)))

    def purge(d, label, found):
        """Take keys that are not exact str out of ``d`` without hashing or comparing them (a
        str subclass key can shadow a name; a hostile __hash__/__eq__ must not run here)."""
        if plain_keys(d):
            return
        items = list_(d.items())
        d.clear()
        for k, v in items:
            if type_(k) is str_:
                d[k] = v
        graveyard.append(items)
        found.append(f"a key that is not a plain name was put into {label} (removed)")

    def record():
        """Note what the full check left (after restoring) in the protected modules, so that
        the next check can see with C-level identity comparisons that nothing changed."""
        unchanged_since.clear()
        names = list_(snap)
        mods = [snap[n][0] for n in names]
        nss = [vars(m) for m in mods]
        cells, contents = [], []
        proxies = []
        for n in names:
            for fn, saved in snap[n][2].items():
                for c, v in zip(fn.__closure__, saved):
                    if v is not _EMPTY:
                        cells.append(c)
                        contents.append(v)
            proxies.extend(vars(cls) for cls in snap[n][3])
        unchanged_since.update(
            names=names, mods=mods, classes=[type_(m) for m in mods], nss=nss,
            lens=list_(map_(len_, nss)), keys=list_(chain(nss)),
            values=list_(chain(map_(dict_values, nss))), cells=cells, contents=contents,
            proxies=proxies, plens=list_(map_(len_, proxies)), pkeys=list_(chain(proxies)),
            pvalues=list_(chain(map_(proxy_values, proxies))),
            bkeys=builtins_keys, bvalues=[builtins_saved[k] for k in builtins_keys])

    builtins_keys = [k for k in builtins_saved if k not in KERNEL_BUILTINS]

    def unchanged():
        """True when every protected module, class, closure and builtin is exactly (by
        identity) what the last full check left; any doubt: False (the full check runs)."""
        u = unchanged_since
        if not u:
            return False
        try:
            modules, bdict = modules_dict, builtins_dict
            if real_sys.modules is not modules or not plain_keys(modules) or not plain_keys(bdict):
                return False
            nss, proxies = u["nss"], u["proxies"]
            return (all_(map_(is_, map_(modules.get, u["names"]), u["mods"]))
                    and all_(map_(is_, map_(type_, u["mods"]), u["classes"]))
                    and list_(map_(len_, nss)) == u["lens"]
                    and all_(map_(is_, chain(nss), u["keys"]))
                    and all_(map_(is_, chain(map_(dict_values, nss)), u["values"]))
                    and all_(map_(is_, map_(cell_contents, u["cells"]), u["contents"]))
                    and list_(map_(len_, proxies)) == u["plens"]
                    and all_(map_(is_, chain(proxies), u["pkeys"]))
                    and all_(map_(is_, chain(map_(proxy_values, proxies)), u["pvalues"]))
                    and all_(map_(is_, map_(bdict.get, u["bkeys"], repeat(_EMPTY)), u["bvalues"])))
        except Exception:   # an emptied closure cell, a dict changed by a thread meanwhile ...
            return False

    def restore_ns(ns, saved, label, found, report_dunders=False, skip=frozenset()):
        for k, v in saved.items():
            cur = ns.get(k, _EMPTY)
            if cur is v or k in skip:
                continue
            if report_dunders or not (k.startswith("__") and k.endswith("__")):
                found.append(f"{label}.{k} was replaced (restored before the test)")
            ns[k] = v

    def restore_object(obj, saved, label, found):
        if obj is None:
            return
        cls, keys = saved
        if type_(obj) is not cls:
            found.append(f"the {label}'s class was swapped (restored)")
            object.__setattr__(obj, "__class__", cls)
        for k in set(vars(obj)) - keys:
            if callable(getattr(cls, k, None)):
                found.append(f"{label}.{k} was patched (restored)")
                del vars(obj)[k]

    def checks_handler(shell) -> bool:
        """The handler is gradlab.checks' own (pristine, as first imported), for its own errors."""
        saved = snap.get(CONTRACT["checks"])
        if saved is None:
            return False
        show, failure = saved[1].get(CONTRACT["handler"], _EMPTY), saved[1].get(CONTRACT["failure"], _EMPTY)
        func = getattr(shell.CustomTB, "__func__", None)
        cells = [_cell(c) for c in (getattr(func, "__closure__", None) or ())]
        return any(c is show for c in cells) and \
            tuple(shell.custom_exceptions) == (failure, Exception)

    def check(expect):
        found = []
        adopt()
        if real_sys.modules is not modules_dict:
            found.append("sys.modules was replaced (restored)")
            real_sys.modules = modules_dict
        if gettrace() is not None:
            found.append("a trace hook was set (removed)")
            settrace(None)
        if getprofile() is not None:
            found.append("a profile hook was set (removed)")
            setprofile(None)
        for k, v in sys_saved.items():
            if getattr(real_sys, k) is not v:
                setattr(real_sys, k, v)
        if unchanged():
            pass  # the common case: C-level identity comparisons only
        else:
            restore_modules(found)
            record()
        check_rest(expect, found)
        return found

    def restore_modules(found):
        """The full walk: restore and report every change to builtins and the protected
        modules (their sys.modules entries, classes, namespaces, closures, class dicts)."""
        purge(modules_dict, "sys.modules", found)
        purge(builtins_dict, "builtins", found)
        restore_ns(builtins_dict, builtins_saved, "builtins", found, True, KERNEL_BUILTINS)
        for name, (mod, ns, closures, classes) in snap.items():
            if modules_dict.get(name) is not mod:
                found.append(f"sys.modules[{name!r}] was replaced (restored)")
                modules_dict[name] = mod
            if type_(mod) is not module_class[name]:
                found.append(f"the class of module {name} was swapped (restored)")
                object.__setattr__(mod, "__class__", module_class[name])
            purge(vars(mod), name, found)
            restore_ns(vars(mod), ns, name, found)
            # a new global named like a builtin shadows it for the module's own functions
            current = vars(mod)
            for k in [k for k in current if k not in ns and k in builtins_saved
                      and not (k.startswith("__") and k.endswith("__"))]:
                found.append(f"{name}.{k} was added, shadowing the builtin (removed)")
                del current[k]
            for fn, cells in closures.items():
                for c, v in zip(fn.__closure__, cells):
                    if _cell(c) is not v and v is not _EMPTY:
                        found.append(f"a closure of {name}.{fn.__qualname__} was changed (restored)")
                        c.cell_contents = v
            for cls, saved in classes.items():
                current = vars(cls)
                for k, v in saved.items():
                    if current.get(k, _EMPTY) is not v:
                        found.append(f"{name}.{cls.__qualname__}.{k} was replaced (restored)")
                        type_.__setattr__(cls, k, v)

    def check_rest(expect, found):
        """The cell pipeline, the notebook's names, threads and processes (small: always)."""
        nonlocal custom_exc
        if shell is not None:
            restore_object(shell, shell_state, "IPython shell", found)
            for attr, saved in pipeline.items():
                current = getattr(shell, attr)
                if len(current) != len(saved) or any(a is not b for a, b in zip(current, saved)):
                    found.append(f"IPython's {attr} were changed (restored)")
                    current[:] = saved
            if shell.events is not events:
                found.append("IPython's event manager was replaced (restored)")
                shell.events = events
            purge(shell.events.callbacks, "IPython's event callbacks", found)
            for ev, saved in callbacks.items():
                # callbacks a library registers (matplotlib's inline backend flushes figures
                # after each cell) stay; those defined elsewhere (a cell, a partial) go
                current = shell.events.callbacks.get(ev)
                if current is None:
                    shell.events.callbacks[ev] = list(saved)
                    continue
                kept = [cb for cb in current if any(cb is x for x in saved) or from_library(cb)]
                if len(kept) != len(current):
                    found.append(f"an IPython {ev!r} callback was registered (removed)")
                    current[:] = kept
            if shell.custom_exceptions is not custom_exc[0] or shell.CustomTB is not custom_exc[1]:
                if checks_handler(shell):  # gradlab.checks.install_handler(): the notebook's own
                    custom_exc = (shell.custom_exceptions, shell.CustomTB)
                else:
                    found.append("a custom exception handler was set (removed)")
                    shell.custom_exceptions, shell.CustomTB = custom_exc
            if shell.compile is not compiler:
                found.append("IPython's compiler was replaced (restored)")
                shell.compile = compiler
            if shell.user_ns is not user_ns:
                found.append("the notebook's namespace was replaced (restored)")
                shell.user_ns = user_ns
            ns = user_ns
            purge(ns, "the notebook's namespace", found)
            if ns.get("__builtins__") is not real_builtins:
                found.append("the notebook's __builtins__ was replaced (restored)")
                ns["__builtins__"] = real_builtins
            wants: dict = {}  # a name the notebook binds to several things (each test cell
            for name, module, attr in expect:  # its own `ref`) may mean any of them
                # only names that come from the protected packages
                if attr is None:
                    want = snap[module][0] if module in snap else _EMPTY
                elif f"{module}.{attr}" in snap:
                    want = snap[f"{module}.{attr}"][0]
                else:
                    want = snap[module][1].get(attr, _EMPTY) if module in snap else _EMPTY
                if want is _EMPTY:  # a module imported after the snapshot: the one loaded now
                    want = modules_dict.get(module if attr is None else f"{module}.{attr}", _EMPTY)
                if want is not _EMPTY:
                    wants.setdefault(name, []).append((want, module, attr))
            for name, options in wants.items():
                if name not in ns:
                    continue  # not imported yet: the cell that imports it binds it
                current = ns.get(name, _EMPTY)
                if not any(current is want for want, _, _ in options):
                    want, module, attr = options[-1]
                    found.append(f"the name {name!r} no longer meant {module}"
                                 f"{'.' + attr if attr else ''} (restored)")
                    ns[name] = want
        if kernel is not None:
            restore_object(kernel, kernel_state, "kernel", found)
            current = kernel.shell_handlers
            purge(current, "the kernel's message handlers", found)
            if len(current) != len(handlers) or \
                    any(current.get(k, _EMPTY) is not v for k, v in handlers.items()):
                found.append("the kernel's message handlers were changed (restored)")
                kernel.shell_handlers.clear()
                kernel.shell_handlers.update(handlers)
        extra = [t for t in enumerate_threads() if foreign_thread(t)]
        if extra:
            found.append(f"{len(extra)} thread(s) started by the submission still running during "
                         "the test (they could undo the restore)")
        children = _children(listdir)
        if children:
            found.append(f"{children} process(es) started by the submission still running "
                         "during the test")
        return found

    adopt()
    real_sys.addaudithook(audit)
    return True


class Blocked(RuntimeError):
    """Raised into the submission's code for what the guard does not allow."""


class _Empty:
    def __repr__(self):
        return "<missing>"


_EMPTY = _Empty()


def _children(listdir) -> int:
    n = 0
    try:
        for tid in listdir("/proc/self/task"):
            with open(f"/proc/self/task/{tid}/children") as f:
                n += len(f.read().split())
    except OSError:
        pass
    return n
