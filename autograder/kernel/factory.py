"""Kernels forked from a pre-imported template process: the kernel factory.

A fresh ``python -m ipykernel_launcher`` spends about a CPU-second before the notebook's first
cell has imported NumPy, Matplotlib and gradlab (interpreter start, ipykernel and IPython, then
the libraries).  A worker pays that once instead: it starts one *template* process that imports
``ipykernel.kernelapp`` and a preload list of modules, then forks a kernel per request.  The
fork is the kernel: the child drops to the kernel's uid, sets its limits and runs
``IPKernelApp.launch_instance`` in-process, over the same connection file, extra arguments
(the start-up line included) and environment as a freshly launched kernel.  First of
all it joins the cgroups its request names (the kernel's own, :mod:`gradlab_grader.kernel.limits`),
so that everything it starts counts against the kernel's memory and process limits.

Interface (what :mod:`gradlab_grader.kernel.launcher` and :mod:`gradlab_grader.kernel.sandbox` use)::

    factory = Factory(python, preload=("numpy", "matplotlib.pyplot"), sandbox=[...bwrap args...])
    proc = factory.spawn(request)    # a Popen-like object: pid, poll(), wait(), send_signal(), kill()
    factory.close()                  # the template and every kernel it forked stop

    FactoryProvisioner               # jupyter_client provisioner whose ``process`` is such an object

When the template runs inside bubblewrap (a root grader, see :mod:`gradlab_grader.kernel.launcher`),
each child also makes what the per-kernel sandbox gave it: before dropping to its own uid it
unshares a mount, network and IPC namespace, mounts a private tmpfs on ``/tmp``, ``/dev/shm``
and ``$HOME`` (re-binding only its own working copy and socket directory, and the Python paths
that lie below them, read-only), and a ``/proc`` that hides other uids' processes
(``hidepid=2``).  It ends with no capabilities and ``no_new_privs``.  Processes it leaves behind
are killed when it ends (a ``kill(-1)`` made as its uid, which reaches nothing else).

The request protocol is line-delimited JSON over a socketpair: ``{"op": "spawn", ...}``
-> ``{"pid": N}``; ``{"op": "poll", "pid": N}`` -> ``{"status": None | returncode}`` (Popen's
convention: ``-N`` for a signal); ``{"op": "signal", "pid": N, "sig": S}``; ``{"op": "forget",
"pid": N}``.  End of file on the socket (the worker died or closed it) stops the template and
every kernel (each child also has ``PR_SET_PDEATHSIG``).

This file runs as a script inside the template (``python kernelfactory.py FD``): the template
side uses the standard library only and imports nothing of gradlab_grader.
"""

import ctypes
import json
import os
import signal
import socket
import sys
import threading
import time

# Linux constants (linux/sched.h, linux/mount.h, linux/prctl.h)
CLONE_NEWNS, CLONE_NEWIPC, CLONE_NEWNET = 0x00020000, 0x08000000, 0x40000000
MS_RDONLY, MS_NOSUID, MS_NODEV, MS_NOEXEC = 1, 2, 4, 8
MS_REMOUNT, MS_BIND, MS_REC, MS_PRIVATE = 32, 4096, 16384, 1 << 18
PR_SET_PDEATHSIG, PR_SET_NO_NEW_PRIVS = 1, 38

# Seconds the worker waits for the template's imports (a busy 2-core machine: a few seconds).
START_TIMEOUT = 120


# -- template side (runs in the template process and its children) -----------------------------

_libc = None


def _sys(name, *args):
    global _libc
    if _libc is None:
        _libc = ctypes.CDLL(None, use_errno=True)
    fn = getattr(_libc, name)
    if fn(*args) != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"{name}{args[:2]!r}: {os.strerror(err)}")


def _mount(source, target, fstype, flags, data=None):
    enc = (lambda s: None if s is None else s.encode())
    _sys("mount", enc(source), enc(target), enc(fstype), ctypes.c_ulong(flags), enc(data))


def _prctl(option, arg):
    _sys("prctl", option, ctypes.c_ulong(arg), ctypes.c_ulong(0), ctypes.c_ulong(0),
         ctypes.c_ulong(0))


def _drop_capabilities():
    """Clear every capability set of this process (capset(2), version 3)."""
    header = (ctypes.c_uint32 * 2)(0x20080522, 0)
    data = (ctypes.c_uint32 * 6)()
    _sys("capset", header, data)


def _private_tmpfs(spec):
    """A fresh tmpfs at spec["path"]; the paths in spec["keep"] are bound back at their place
    (read-only when asked).  Runs in the child's own mount namespace."""
    keep = []
    for path, ro in spec.get("keep", []):
        try:
            keep.append((os.open(path, os.O_PATH), path, ro))
        except OSError:
            continue
    opts = ",".join(f"{k}={v}" for k, v in spec.get("options", {}).items())
    os.makedirs(spec["path"], mode=0o755, exist_ok=True)   # a $HOME inside the new /tmp, say
    _mount("tmpfs", spec["path"], "tmpfs", MS_NOSUID | MS_NODEV, opts or None)
    for fd, path, ro in keep:
        parent = os.path.dirname(path)
        os.makedirs(parent, mode=0o755, exist_ok=True)
        if os.path.isdir(f"/proc/self/fd/{fd}"):
            os.makedirs(path, mode=0o700, exist_ok=True)
        else:
            open(path, "ab").close()
        _mount(f"/proc/self/fd/{fd}", path, None, MS_BIND | MS_REC)
        if ro:
            _mount(None, path, None, MS_BIND | MS_REMOUNT | MS_RDONLY | MS_NOSUID | MS_NODEV)
        os.close(fd)


def _isolate(req):
    """Namespaces of the child's own (see the module docstring); needs CAP_SYS_ADMIN."""
    _sys("unshare", CLONE_NEWNS | CLONE_NEWNET | CLONE_NEWIPC)
    _mount(None, "/", None, MS_REC | MS_PRIVATE)
    for spec in req.get("tmpfs", []):
        _private_tmpfs(spec)
    # a /proc of its own that lists only the processes of its uid
    _mount("proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, "hidepid=2")


def _child(req, close_fds, launcher_path):
    """The forked kernel: never returns."""
    code = 1
    try:
        signal.set_wakeup_fd(-1)
        for sig in (signal.SIGCHLD, signal.SIGTERM, signal.SIGINT, signal.SIGPIPE):
            signal.signal(sig, signal.SIG_DFL if sig != signal.SIGINT else signal.default_int_handler)
        for fd in close_fds:
            os.close(fd)
        os.setsid()
        for procs in req.get("cgroup", []):   # the kernel's own cgroup, before anything runs
            with open(procs, "w") as f:
                f.write(str(os.getpid()))
        _prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
        if os.getppid() != req["template"]:   # the template died between fork and prctl
            os._exit(1)
        null = os.open(os.devnull, os.O_RDWR)
        os.dup2(null, 0)
        if req.get("isolate"):
            _isolate(req)
        import resource

        for name, (soft, hard) in req.get("rlimits", {}).items():
            resource.setrlimit(getattr(resource, name), (soft, hard))
        uid = req.get("uid")
        if uid is not None:
            os.setgroups([])
            os.setgid(uid)
            os.setuid(uid)
            _drop_capabilities()
            # a change of uid clears the parent-death signal: set it again
            _prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
            if os.getppid() != req["template"]:
                os._exit(1)
        _prctl(PR_SET_NO_NEW_PRIVS, 1)
        log = os.open(req["log"], os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_NOFOLLOW, 0o600)
        os.dup2(log, 1)
        os.dup2(log, 2)
        os.close(log)
        os.close(null)
        os.chdir(req["cwd"])
        os.environ.clear()
        os.environ.update(req["env"])
        if "tempfile" in sys.modules:
            sys.modules["tempfile"].tempdir = None   # TMPDIR is the kernel's now
        if "numpy.random" in sys.modules:
            sys.modules["numpy.random"].seed()      # not the template's random state
        sys.argv = [launcher_path, *req["argv"]]
        from ipykernel import kernelapp

        kernelapp.launch_new_instance()
        code = 0
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    except BaseException:
        import traceback

        try:
            traceback.print_exc()
        except BaseException:
            pass
    finally:
        try:
            sys.stdout.flush()
            sys.stderr.flush()
        except BaseException:
            pass
        os._exit(code)


def _reap_uid(uid):
    """Kill every process left by a kernel's uid: kill(-1) as that uid reaches nothing else
    (and not the caller itself)."""
    if os.fork() == 0:
        try:
            os.setgroups([])
            os.setgid(uid)
            os.setuid(uid)
            for _ in range(3):        # a fork bomb may fork while the first kill runs
                try:
                    os.kill(-1, signal.SIGKILL)
                except ProcessLookupError:
                    break
        finally:
            os._exit(0)


class _Channel:
    """The template's end of the socketpair: line-delimited JSON, one request, one reply."""

    def __init__(self, fd: int):
        self.conn = socket.socket(fileno=fd)
        self.buf = b""

    def has_line(self) -> bool:
        return b"\n" in self.buf

    def read(self):
        """The next request; EOFError when the worker closed its end."""
        while b"\n" not in self.buf:
            chunk = self.conn.recv(65536)
            if not chunk:
                raise EOFError
            self.buf += chunk
        line, self.buf = self.buf.split(b"\n", 1)
        return json.loads(line)

    def send(self, msg) -> None:
        self.conn.sendall(json.dumps(msg).encode() + b"\n")


def _preload(names) -> list[str]:
    """Import ipykernel's app and ``names`` once, for every kernel to share; what failed, in words."""
    import importlib

    failed = []
    for name in ["ipykernel.kernelapp", *names]:
        try:
            importlib.import_module(name)
        except Exception as exc:
            failed.append(f"{name}: {type(exc).__name__}: {exc}")
    # the preloaded objects go to the collector's permanent generation: a kernel's collections
    # then never walk (and so never copy, page by page) the memory it shares with the template
    import gc

    gc.collect()
    gc.freeze()
    return failed


def _wake_on_child_exit() -> tuple[int, int]:
    """A pipe that becomes readable when a kernel ends (SIGCHLD through the wakeup fd)."""
    rpipe, wpipe = os.pipe()
    os.set_blocking(wpipe, False)
    signal.set_wakeup_fd(wpipe)
    signal.signal(signal.SIGCHLD, lambda *a: None)
    return rpipe, wpipe


def _reap(kernels: dict) -> None:
    """Note the exit status of every kernel that ended, and kill what it left running: as its
    uid (:func:`_reap_uid`), or its session (the child called setsid)."""
    while True:
        try:
            pid, status = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return
        k = kernels.get(pid)
        if k is None or k["status"] is not None:
            continue
        k["status"] = os.waitstatus_to_exitcode(status)
        if k["uid"] is not None:
            _reap_uid(k["uid"])
        else:
            try:
                os.killpg(pid, signal.SIGKILL)
            except OSError:
                pass


def _spawn(req, kernels: dict, close_fds, launcher_path) -> dict:
    req["template"] = os.getpid()
    sys.stdout.flush()
    sys.stderr.flush()
    pid = os.fork()
    if pid == 0:
        _child(req, close_fds, launcher_path)
    kernels[pid] = {"status": None, "uid": req.get("uid")}
    return {"pid": pid}


def _poll(req, kernels: dict) -> dict:
    k = kernels.get(req["pid"])
    return {"status": k["status"] if k else -signal.SIGKILL}


def _signal(req, kernels: dict) -> dict:
    k = kernels.get(req["pid"])
    if k is None or k["status"] is not None:
        return {"error": "ESRCH"}
    try:
        os.killpg(req["pid"], req["sig"])
    except OSError:
        os.kill(req["pid"], req["sig"])
    return {"ok": True}


def _forget(req, kernels: dict) -> dict:
    k = kernels.get(req["pid"])
    if k is not None and k["status"] is not None:
        del kernels[req["pid"]]
    return {"ok": True}


def _answer(req, kernels: dict, close_fds, launcher_path) -> dict:
    """The reply to one request (see the module docstring)."""
    op = req.get("op")
    try:
        if op == "spawn":
            return _spawn(req, kernels, close_fds, launcher_path)
        if op in _OPS:
            return _OPS[op](req, kernels)
        return {"error": f"unknown request {op!r}"}
    except OSError as exc:
        return {"error": f"{type(exc).__name__}: {exc}"}


_OPS = {"poll": _poll, "signal": _signal, "forget": _forget}


def _kill_all(kernels: dict) -> None:
    for pid, k in kernels.items():
        if k["status"] is None:
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass


def serve(fd: int) -> None:
    """The template's main loop (see the module docstring)."""
    if sys.path and os.path.realpath(sys.path[0]) == os.path.dirname(os.path.realpath(__file__)):
        sys.path.pop(0)   # this script's folder (gradlab_grader's sources) is no library path
    try:
        _prctl(PR_SET_PDEATHSIG, signal.SIGKILL)   # dies with its worker (bwrap: --die-with-parent)
    except OSError:
        pass
    import importlib.util
    import select

    channel = _Channel(fd)
    failed = _preload(channel.read().get("preload", []))
    spec = importlib.util.find_spec("ipykernel_launcher")
    assert spec is not None and spec.origin, "ipykernel is installed where the template runs"
    launcher_path = spec.origin
    threads = threading.active_count()
    sys.stdout.flush()
    sys.stderr.flush()
    rpipe, wpipe = _wake_on_child_exit()
    channel.send({"ready": True, "pid": os.getpid(), "failed": failed, "threads": threads,
                  "modules": len(sys.modules)})
    kernels: dict[int, dict] = {}   # pid -> {"status": None | returncode, "uid": uid}
    close_fds = [channel.conn.fileno(), rpipe, wpipe]   # the child keeps none of them
    try:
        while True:
            if not channel.has_line():
                ready, _, _ = select.select([channel.conn.fileno(), rpipe], [], [])
                if rpipe in ready:
                    os.read(rpipe, 4096)
                    _reap(kernels)
                if channel.conn.fileno() not in ready:
                    continue
            try:
                req = channel.read()
            except EOFError:
                break
            _reap(kernels)
            channel.send(_answer(req, kernels, close_fds, launcher_path))
    finally:
        _kill_all(kernels)
        os._exit(0)


# -- worker side --------------------------------------------------------------------------------

class FactoryDied(RuntimeError):
    """The template process is gone (its log says why)."""


class Factory:
    """One template process, started lazily on the first :meth:`spawn`; thread-safe.

    python: the kernel's interpreter.  preload: modules the template imports.  wrap: a
    function ``wrap(cmd) -> cmd`` that puts the template inside its sandbox (bubblewrap), or
    None.  env: the template's environment.  log: where its own output goes.
    """

    def __init__(self, python, preload=(), wrap=None, env=None, log=None, cwd="/"):
        self.python, self.preload, self.wrap = python, list(preload), wrap
        self.env, self.log, self.cwd = env, log, cwd
        self.proc = None
        self.conn = None
        self.ready = {}
        self._lock = threading.Lock()
        self._buf = b""

    def _start(self):
        import subprocess

        parent, child = socket.socketpair()
        cmd = [self.python, os.path.realpath(__file__), str(child.fileno())]
        if self.wrap is not None:
            cmd = self.wrap(cmd)
        out = open(self.log, "ab") if self.log else subprocess.DEVNULL
        try:
            self.proc = subprocess.Popen(cmd, pass_fds=[child.fileno()], env=self.env,
                                         cwd=self.cwd, stdin=subprocess.DEVNULL, stdout=out,
                                         stderr=out)
        finally:
            child.close()
            if out is not subprocess.DEVNULL:
                out.close()
        self.conn = parent
        self._buf = b""
        self.conn.settimeout(START_TIMEOUT)
        self._send({"preload": self.preload})
        self.ready = self._recv()
        self.conn.settimeout(30)

    def _send(self, msg):
        self.conn.sendall(json.dumps(msg).encode() + b"\n")

    def _recv(self):
        while b"\n" not in self._buf:
            try:
                chunk = self.conn.recv(65536)
            except (OSError, socket.timeout):
                chunk = b""
            if not chunk:
                self._dead()
            self._buf += chunk
        line, self._buf = self._buf.split(b"\n", 1)
        return json.loads(line)

    def _dead(self):
        conn, self.conn = self.conn, None
        if conn is not None:
            conn.close()
        proc = self.proc
        if proc is not None:
            try:
                proc.kill()
            except OSError:
                pass
            proc.wait()
        raise FactoryDied(f"the kernel template process stopped (status "
                          f"{proc.returncode if proc else None}): {self.log_tail()}")

    def log_tail(self, n=800):
        try:
            with open(self.log, "rb") as f:
                f.seek(0, os.SEEK_END)
                f.seek(max(0, f.tell() - n))
                return f.read().decode(errors="replace").strip()
        except (OSError, TypeError):
            return ""

    def request(self, msg):
        with self._lock:
            if self.conn is None:
                if msg.get("op") != "spawn":
                    # the template died and took its kernels with it
                    return {"status": -signal.SIGKILL} if msg.get("op") == "poll" else {"error": "ESRCH"}
                self._start()
            self._send(msg)
            return self._recv()

    def spawn(self, request) -> "FactoryProcess":
        for attempt in (1, 2):   # a template that died since the last kernel is started again
            try:
                reply = self.request({"op": "spawn", **request})
                break
            except FactoryDied:
                if attempt == 2:
                    raise
        if "pid" not in reply:
            raise RuntimeError(f"the kernel template could not fork a kernel: {reply.get('error')}")
        return FactoryProcess(self, reply["pid"], self.proc)

    def close(self):
        with self._lock:
            conn, self.conn = self.conn, None
            if conn is not None:
                conn.close()   # end of file: the template kills its kernels and exits
            if self.proc is not None:
                try:
                    self.proc.wait(5)
                except Exception:
                    self.proc.kill()
                    self.proc.wait()


class FactoryProcess:
    """A kernel forked by the template, with the part of ``subprocess.Popen`` that
    jupyter_client uses: ``pid`` (in the template's pid namespace), ``poll``, ``wait``,
    ``send_signal``, ``kill``, ``terminate``; ``returncode`` as Popen's (``-N``: signal N)."""

    stdin = stdout = stderr = None

    def __init__(self, factory, pid, template):
        self.factory, self.pid, self.template = factory, pid, template
        self.returncode = None

    def poll(self):
        if self.returncode is None:
            if self.factory.proc is not self.template:   # that template is gone, and its kernels
                self.returncode = -signal.SIGKILL
                return self.returncode
            try:
                status = self.factory.request({"op": "poll", "pid": self.pid}).get("status")
            except FactoryDied:
                status = -signal.SIGKILL
            if status is not None:
                self.returncode = status
                try:
                    self.factory.request({"op": "forget", "pid": self.pid})
                except FactoryDied:
                    pass
        return self.returncode

    def wait(self, timeout=None):
        import subprocess

        end = None if timeout is None else time.monotonic() + timeout
        while self.poll() is None:
            if end is not None and time.monotonic() > end:
                raise subprocess.TimeoutExpired("kernel", timeout)
            time.sleep(0.02)
        return self.returncode

    def send_signal(self, sig):
        if self.poll() is not None:
            return
        try:
            reply = self.factory.request({"op": "signal", "pid": self.pid, "sig": int(sig)})
        except FactoryDied:
            return
        if reply.get("error") == "ESRCH":
            return
        if "error" in reply:
            raise OSError(reply["error"])

    def kill(self):
        self.send_signal(signal.SIGKILL)

    def terminate(self):
        self.send_signal(signal.SIGTERM)


def provisioner_class():
    """``FactoryProvisioner``: jupyter_client's LocalProvisioner whose kernels come from the
    kernel manager's template (``km.template_request(argv, env, cwd)`` builds the request)."""
    from jupyter_client.provisioning import LocalProvisioner

    class FactoryProvisioner(LocalProvisioner):
        async def launch_kernel(self, cmd, **kwargs):
            km = self.parent
            if not km.forked:   # the kernel manager wrapped cmd in a sandbox of its own
                return await super().launch_kernel(cmd, **kwargs)
            request = km.template_request(cmd[3:], kwargs.get("env") or {}, kwargs.get("cwd"))
            self.process = km.template.spawn(request)
            self.pid, self.pgid = self.process.pid, None   # signals go through the template
            self.cwd = kwargs.get("cwd")
            return self.connection_info

    return FactoryProvisioner


if __name__ == "__main__":
    serve(int(sys.argv[1]))
