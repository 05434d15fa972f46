"""The sandboxed side: a zygote that forks one worker per homework module.

Started by ``autograder.sandbox.client`` as ``python -I worker.py CONFIG_JSON`` inside the
sandbox, from a private runtime folder holding copies of this file, ``wire.py``,
``landlock.py`` and the shared kit's ``probes``/``simcuda``. The zygote locks itself in
(Landlock), imports torch once, says hello on its control socket, and then forks a fresh
:class:`Worker` whenever the grader sends ``spawn`` with two pipe ends attached. A worker
imports one student module and runs the calls that arrive on its request pipe. The
student's prints go to stdout/stderr, which the grader reads, caps, and never interprets.
Nothing said here is trusted: the grader validates every reply and decides every verdict.
"""

from __future__ import annotations

import builtins
import importlib.util
import json
import os
import signal
import socket
import struct
import sys
import threading
import time
import traceback

def main() -> None:
    config = json.loads(sys.argv[1])
    sys.path[:0] = [config["runtime"]]
    # PID 1 of its namespace in some tiers: no handler may let a signal from inside end it.
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    _prctl(_PR_SET_DUMPABLE, 0)  # no /proc/<zygote>/mem or ptrace for a same-uid worker, even without Landlock
    _prctl(_PR_SET_CHILD_SUBREAPER, 1)  # orphans of a worker stay below the zygote, where stop() finds them
    protections = {}
    lock_in = None
    if config.get("landlock"):
        import landlock

        def lock_in(process: str) -> dict:
            # With the GPU, CUDA writes a file of its own process's /proc entry: the zygote's
            # domain allows /proc, each worker's nested one only /proc/<its pid> ("/proc/self"
            # resolved when it locks itself in), so a worker reaches no other process's entry.
            own = (["/proc"] if process == "zygote" else ["/proc/self"]) if config.get("device_paths") else []
            return landlock.restrict(config["read_paths"], config["write_paths"], config.get("device_paths", []), own)

        protections = lock_in("zygote")
    os.chdir(config["workdir"])
    os.makedirs("tmp", exist_ok=True)

    syscalls = None
    try:
        import syscall_filter

        # The filters this process already has (e.g. a container's): a worker must show more.
        protections = dict(protections, seccomp_filters_before=syscall_filter.status().get("seccomp_filters", 0))
        syscalls = syscall_filter.build()
    except Exception as exc:  # noqa: BLE001 - reported; the grader refuses unless weak is allowed
        protections = dict(protections, seccomp_error=f"{type(exc).__name__}: {exc}"[:300])

    import torch  # noqa: F401  (imported once, before any student code runs)

    for name in config.get("preload", []):  # (the grader's list, e.g. a batch slot's: zygote.BATCH_PRELOAD)
        importlib.import_module(name)
    import wire
    from hwkit import probes, simcuda

    device_tensors: tuple = ()
    if config.get("simulated_gpu"):
        # The grader chose `grade --gpu simulate` (its own configuration, never the submission's):
        # every worker forked from here sees the simulated GPU before it imports a student module.
        from hwkit import simgpu

        simgpu.install()
        device_tensors = (simgpu.SimulatedTensor,)

    def confine() -> None:
        """In each new worker, before anything else: its own Landlock domain, then the filter."""
        if lock_in:
            # A Landlock domain nested in the zygote's: the worker (and all it starts) can
            # neither trace nor signal the zygote, which outlives the student.
            lock_in("worker")
        if syscalls is not None:
            syscalls.load()

    Zygote(config, lambda fds: Worker(dict(config, request_fd=fds[0], reply_fd=fds[1]),
                                      wire, probes, simcuda, protections, device_tensors),
           protections, confine).serve()


def measure(workdir: str) -> dict:
    """The worker's own view of its confinement, read from the kernel: credentials,
    capabilities, seccomp, namespaces, the work folder's file system, visible processes."""
    status = {}
    with open("/proc/self/status") as f:
        for line in f:
            key, _, value = line.partition(":")
            if key in ("Uid", "Gid", "Groups", "CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb",
                       "NoNewPrivs", "Seccomp", "Seccomp_filters"):
                status[key] = value.split()
    # (Its uid outside is read by the grader from the host: inside nested user namespaces, as
    # bubblewrap's --disable-userns makes, uid_map says nothing about it.)
    namespaces = {}
    for name in ("user", "pid", "net", "ipc", "uts", "mnt"):
        try:
            namespaces[name] = os.readlink(f"/proc/self/ns/{name}")
        except OSError:
            namespaces[name] = None
    fs_type = None
    with open("/proc/self/mountinfo") as f:
        for line in f:
            fields = line.split()
            if fields[4] == workdir:
                fs_type = fields[fields.index("-") + 1]
    st = os.statvfs(workdir)
    return {
        "uid": int(status["Uid"][0]), "gid": int(status["Gid"][0]),
        "groups": [int(g) for g in status.get("Groups", [])],
        "capabilities": {k[3:].lower(): int(status[k][0], 16) for k in ("CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb")},
        "no_new_privs": int(status["NoNewPrivs"][0]),
        "seccomp": int(status["Seccomp"][0]), "seccomp_filters": int(status.get("Seccomp_filters", ["0"])[0]),
        "namespaces": namespaces, "hostname": os.uname().nodename,
        "work_fs": fs_type, "work_bytes": st.f_blocks * st.f_frsize,
        "processes_visible": sum(1 for p in os.listdir("/proc") if p.isdigit()),
    }


_PR_SET_DUMPABLE, _PR_SET_CHILD_SUBREAPER = 4, 36


def _prctl(option: int, value: int) -> None:
    import ctypes

    ctypes.CDLL(None).prctl(option, value, 0, 0, 0)


def _die_with_parent() -> None:
    """SIGKILL this worker if the zygote dies (matters where no PID namespace does it)."""
    try:
        import ctypes

        ctypes.CDLL(None).prctl(1, signal.SIGKILL, 0, 0, 0)
    except (OSError, AttributeError):
        pass


class Zygote:
    """Forks workers on request; kills them (and what they started) when told; on ``reset``
    removes everything a student left (processes, System V IPC) so that the next student can
    be graded here. It never runs student code itself."""

    def __init__(self, config, make_worker, protections, confine) -> None:
        self.config, self.make_worker, self.confine = config, make_worker, confine
        self.control = socket.socket(fileno=config["control_fd"])
        self.children: set[int] = set()
        self.exits: dict[int, int] = {}
        self.send({"info": {"uid": os.getuid(), "pid": os.getpid(), "protections": protections}})

    def send(self, message: dict) -> None:
        self.control.send(json.dumps(message).encode())

    def serve(self) -> None:
        while True:
            try:
                data, fds, _, _ = socket.recv_fds(self.control, 1 << 16, 4)
            except OSError:
                os._exit(0)
            if not data:
                os._exit(0)  # the grader has gone
            self.reap()
            try:
                command = json.loads(data)
                if command.get("op") == "spawn" and len(fds) == 2:
                    self.send({"pid": self.spawn(fds)})
                elif command.get("op") == "probe" and len(fds) == 1:
                    self.send({"pid": self.probe(fds[0])})
                elif command.get("op") == "use":
                    self.send({"copied": self.use(str(command["inbox"]))})
                elif command.get("op") == "kill":
                    self.send({"exit": self.kill(int(command["pid"]))})
                elif command.get("op") == "reset" and self.config.get("pid_namespace"):
                    self.send(self.reset())
                else:
                    self.send({"error": "unknown command"})
            except Exception as exc:  # noqa: BLE001 - e.g. fork refused: say so, keep serving
                self.send({"error": f"{type(exc).__name__}: {exc}"})
            finally:
                for fd in fds:
                    try:
                        os.close(fd)
                    except OSError:
                        pass

    def spawn(self, fds: list[int]) -> int:
        pid = os.fork()
        if pid == 0:
            try:
                self._become_worker()
                self.make_worker(fds).serve()
            finally:
                os._exit(0)
        self.children.add(pid)
        self.exits.pop(pid, None)  # a reused pid must not report an earlier process's exit
        return pid

    def _become_worker(self) -> None:
        self.control.close()
        os.setsid()  # its own process group, so it can be killed with all it starts
        _die_with_parent()
        _prctl(_PR_SET_DUMPABLE, 1)  # (its own /proc/self/fd readable again; ptrace stays denied)
        self.confine()

    def probe(self, fd: int) -> int:
        """A worker confined exactly like a student's, which reports :func:`measure` on `fd`
        and exits: what the results say about the sandbox is measured, not assumed."""
        pid = os.fork()
        if pid == 0:
            try:
                self._become_worker()
                with os.fdopen(fd, "w") as out:
                    out.write(json.dumps(measure(self.config["workdir"])))
            finally:
                os._exit(0)
        self.children.add(pid)
        return pid

    def use(self, inbox: str) -> int:
        """Copy the next student's modules from the read-only inbox into the work folder."""
        source = os.path.join(self.config["inbox"], inbox)
        if os.path.dirname(os.path.normpath(source)) != os.path.normpath(self.config["inbox"]):
            raise ValueError("inbox outside the sandbox's inbox folder")
        copied = 0
        for name in sorted(os.listdir(source)):
            # O_EXCL | O_NOFOLLOW: a folder reset just before holds nothing to write through.
            fd = os.open(name, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o644)
            src = os.open(os.path.join(source, name), os.O_RDONLY | os.O_NOFOLLOW)
            try:
                # Copied by the kernel: no byte of a submission (or of the reference graded to
                # warm up) ever sits in the zygote's memory, which every later worker inherits.
                size = os.fstat(src).st_size
                while size > 0:
                    size -= os.sendfile(fd, src, None, size) or size
            finally:
                os.close(src)
                os.close(fd)
            copied += 1
        return copied

    def kill(self, pid: int) -> int | None:
        if pid in self.children:
            # Repeat until the group is empty: a fork bomb keeps adding members while it dies.
            for _ in range(200):
                try:
                    os.killpg(pid, signal.SIGKILL)
                except OSError:
                    break
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass
            try:
                _, status = os.waitpid(pid, 0)
                self.exits[pid] = os.waitstatus_to_exitcode(status)
            except ChildProcessError:
                pass
            self.children.discard(pid)
        if self.config.get("pid_namespace"):
            # Until the strays are gone, not only signalled: a killed process counts against the
            # sandbox uid's RLIMIT_NPROC until it is reaped, and the next worker (whose OpenMP
            # threads need that room) starts right after this answer.
            deadline = time.monotonic() + 2
            while self.sweep() and time.monotonic() < deadline:
                time.sleep(0.01)
        return self.exits.pop(pid, None)

    def reset(self) -> dict:
        """Kill every process but this one, remove System V IPC objects, and say what is left."""
        for pid in list(self.children):
            self.kill(pid)
        self.children.clear()
        own = {1, os.getpid(), os.getppid()}
        for _ in range(250):  # killed processes linger until the namespace's init has reaped them
            self.sweep()
            left = [p for p in os.listdir("/proc") if p.isdigit() and int(p) not in own]
            if not left:
                break
            time.sleep(0.02)
        self.exits.clear()
        removed = _remove_sysv_ipc()
        files_left = _empty_folder(self.config["workdir"])
        os.chmod(self.config["workdir"], 0o700)
        os.makedirs("tmp", exist_ok=True)
        times = os.times()
        return {"left": len(left), "ipc_removed": removed, "ipc_left": len(_sysv_ipc_ids()),
                "files_left": files_left, "cpu_s": times.user + times.system}

    def reap(self) -> None:
        while True:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                return
            if pid == 0:
                return
            self.exits[pid] = os.waitstatus_to_exitcode(status)
            self.children.discard(pid)

    def sweep(self) -> int:
        """Inside the PID namespace: kill every process that no live worker's group owns
        (daemons a killed worker left behind); how many are still there (dying, or not yet
        reaped). Never used without a PID namespace."""
        keep = {1, os.getpid(), os.getppid()} | self.children
        # A worker just forked may not have called setsid() yet: it is still in our group.
        groups = set(self.children) | {os.getpgid(0)}
        strays: list[int] = []
        for _ in range(50):  # until a pass finds nothing left to kill
            strays = []
            for entry in os.listdir("/proc"):
                if not entry.isdigit() or int(entry) in keep:
                    continue
                try:
                    if os.getpgid(int(entry)) in groups:
                        continue
                    os.kill(int(entry), signal.SIGKILL)
                    strays.append(int(entry))
                except OSError:
                    pass
            self.reap()
            if not strays:
                return 0
        return len(strays)


_IPC_RMID = 0


def _empty_folder(path: str) -> int:
    """Remove everything in `path` (never following links); how many entries are left."""
    import shutil

    for entry in list(os.scandir(path)):
        try:
            if entry.is_dir(follow_symlinks=False):
                shutil.rmtree(entry.path)
            else:
                os.unlink(entry.path)
        except OSError:
            pass
    return len(os.listdir(path))


def _sysv_ipc_ids() -> list[tuple[str, int]]:
    """(kind, id) of every System V shared memory segment, semaphore set and message queue."""
    found = []
    for kind in ("shm", "sem", "msg"):
        try:
            with open(f"/proc/sysvipc/{kind}") as table:
                rows = table.read().splitlines()[1:]
        except OSError:
            continue
        found += [(kind, int(row.split()[1])) for row in rows if row.split()]
    return found


def _remove_sysv_ipc() -> int:
    """IPC objects live in the sandbox's IPC namespace, not in a process: a student's would
    outlive them (and keep their memory charged) unless removed here."""
    import ctypes

    libc = ctypes.CDLL(None, use_errno=True)
    removed = 0
    for kind, ident in _sysv_ipc_ids():
        if kind == "shm":
            ok = libc.shmctl(ident, _IPC_RMID, None) == 0
        elif kind == "sem":
            ok = libc.semctl(ident, 0, _IPC_RMID) == 0
        else:
            ok = libc.msgctl(ident, _IPC_RMID, None) == 0
        removed += ok
    return removed


class Worker:
    def __init__(self, config, wire, probes, simcuda, protections, device_tensors: tuple = ()) -> None:
        """`device_tensors`: the simulated GPU's tensor class, if the grader installed it (sent as
        tensors on their device, like CUDA tensors)."""
        self.config, self.wire, self.probes, self.simcuda = config, wire, probes, simcuda
        self.protections, self.device_tensors = protections, device_tensors
        self.request_fd, self.reply_fd = config["request_fd"], config["reply_fd"]
        self.modules: dict = {}
        self.handles: dict[int, object] = {}
        self.pid = os.getpid()
        self.current = None  # the id of the request being served (probes work only during it)
        self._link = threading.Lock()
        # A process the student's code forks must not answer the grader's requests as well.
        os.register_at_fork(after_in_child=self._forked)

    def _forked(self) -> None:
        for fd in (self.request_fd, self.reply_fd):
            try:
                os.close(fd)
            except OSError:
                pass

    def serve(self) -> None:
        wire = self.wire
        while True:
            try:
                (length,) = struct.unpack("<Q", wire.read_exact(self.request_fd, 8))
                header, blobs = wire.unpack(wire.read_exact(self.request_fd, length))
            except EOFError:
                return
            self.current = header.get("id")
            try:
                reply, reply_blobs = self.handle(header, blobs)
            except BaseException as exc:  # noqa: BLE001 - report everything, keep serving
                reply, reply_blobs = {"error": self.describe(exc)}, []
            finally:
                self.current = None
            if os.getpid() != self.pid:
                os._exit(0)  # a fork of the worker came back here: it is not the worker
            reply["id"] = header.get("id")
            try:
                frame = wire.pack(reply, reply_blobs)
            except BaseException as exc:  # noqa: BLE001
                frame = wire.pack({"error": self.describe(exc), "id": header.get("id")}, [])
            wire.write_frame(self.reply_fd, frame)

    # -- requests ---------------------------------------------------------------------------
    def handle(self, header: dict, blobs: list) -> tuple[dict, list]:
        op = header.get("op")
        if op == "hello":
            import torch

            return {"info": {"torch": torch.__version__, "cuda": torch.cuda.is_available(),
                             "simulated_gpu": bool(self.device_tensors), "uid": os.getuid(),
                             "protections": self.protections, "pid": os.getpid()}}, []
        if op == "import":
            self.module(header["module"])
            return self.reply({"value": True}, {}, {})
        if op == "global_random":
            import torch

            return self.reply({"value": torch.rand(4)}, {}, {})
        request = header.get("id")
        decoder = self.wire.Decoder(header.get("storages", []), blobs, handle=self._no_handle,
                                    probes=self.probes.REGISTRY, torch_functions=self.probes.TORCH_FUNCTIONS,
                                    make_probe=lambda cls, number, fields: self._probe(request, cls, number, fields),
                                    ref=self.handles.__getitem__)
        known = {s.data_ptr(): i for i, s in enumerate(decoder.storages)}
        args = decoder.decode(header.get("args", {"$list": []}))
        kwargs = decoder.decode(header.get("kwargs", {"$dict": []}))
        digests = self.wire.storage_digests(decoder.storages)
        target = self.resolve(header["target"])
        if op == "getattr":
            return self.reply({"value": target}, known, digests)
        if op == "call":
            if header.get("simcuda"):
                with self.simcuda.install(GraderDevice(self, request)):
                    result = target(*args, **kwargs)
            else:
                result = target(*args, **kwargs)
            return self.reply({"value": result, "args": args, "kwargs": kwargs}, known, digests)
        if op == "vjp":
            import torch

            with torch.enable_grad():
                inputs = [a.detach().requires_grad_(True) for a in args]
                output = target(*inputs)
                if type(output) is not torch.Tensor:
                    raise TypeError(f"forward returned {type(output).__name__}, not a torch.Tensor")
                grads = torch.autograd.grad(output, inputs, kwargs["grad_output"], allow_unused=True)
            return self.reply({"value": [g for g in grads]}, known, digests)
        raise ValueError(f"unknown op {op!r}")

    def reply(self, values: dict, known: dict, digests: dict) -> tuple[dict, list]:
        # (no probe registry: a probe object in a reply, whatever made it, is only a handle)
        encoder = self.wire.Encoder(self._make_handle, {}, self.probes.TORCH_FUNCTIONS,
                                    known_storages=known, known_digests=digests,
                                    device_tensors=self.device_tensors)
        encoded = {k: encoder.encode(v) for k, v in values.items()}
        return {"ok": encoded, "storages": encoder.storages}, encoder.blobs

    # -- the way back to the grader, during a call --------------------------------------------
    def _probe(self, request, cls, number: int, fields: dict | None):
        if cls.RUNS_IN == "grader":
            return GraderProbe(self, request, number, cls.__name__)
        return CountedProbe(self, request, number, cls(**fields))

    def ask_grader(self, request, message: dict, args: tuple = (), kwargs: dict | None = None):
        """Have the grader run a probe or answer for its simulated GPU; its answer, or its error
        raised here (a RuntimeError from CUDA stays a RuntimeError in the student's code)."""
        if os.getpid() != self.pid or request is None or request != self.current:
            raise RuntimeError("a test's function can only be called during the call it was passed to, "
                               "by the process it was passed to")
        wire = self.wire
        encoder = wire.Encoder(self._make_handle, {}, self.probes.TORCH_FUNCTIONS, device_tensors=self.device_tensors)
        body = dict(message, args=encoder.encode(list(args)), kwargs=encoder.encode(dict(kwargs or {})))
        with self._link:
            wire.write_frame(self.reply_fd, wire.pack({"callback": body, "storages": encoder.storages,
                                                        "id": request}, encoder.blobs))
            (length,) = struct.unpack("<Q", wire.read_exact(self.request_fd, 8))
            answer, blobs = wire.unpack(wire.read_exact(self.request_fd, length))
        if answer.get("id") != request:
            raise RuntimeError("the grader answered a different call")
        if "error" in answer:
            error = answer["error"] if type(answer["error"]) is dict else {}
            cls = getattr(builtins, str(error.get("type")), RuntimeError)
            if not (isinstance(cls, type) and issubclass(cls, Exception)):
                cls = RuntimeError
            raise cls(str(error.get("message", "")))
        decoder = wire.Decoder(answer.get("storages", []), blobs, handle=self._no_handle, probes={},
                               torch_functions=self.probes.TORCH_FUNCTIONS)
        return decoder.decode(answer.get("value"))

    # -- helpers ----------------------------------------------------------------------------
    def module(self, key: str):
        if key not in self.modules:
            name = self.config["modules"][key]
            path = os.path.join(self.config["workdir"], name + ".py")
            if not os.path.exists(path):
                raise ModuleNotFoundError(f"{name}.py was not found in the submission")
            if self.config["workdir"] not in sys.path:
                sys.path.append(self.config["workdir"])
            spec = importlib.util.spec_from_file_location(name, path)
            mod = importlib.util.module_from_spec(spec)
            sys.modules[name] = mod
            try:
                spec.loader.exec_module(mod)
            except BaseException:
                sys.modules.pop(name, None)
                raise
            self.modules[key] = mod
        return self.modules[key]

    def resolve(self, target: dict):
        obj = self.module(target["module"]) if "module" in target else self.handles[target["handle"]]
        for name in target.get("path", []):
            obj = getattr(obj, name)
        return obj

    def _make_handle(self, obj) -> dict:
        hid = len(self.handles) + 1
        self.handles[hid] = obj
        try:
            text = repr(obj)[:200]
        except BaseException:  # noqa: BLE001
            text = "<unprintable>"
        kind = type(obj)
        return {"$handle": hid, "type": f"{kind.__module__}.{kind.__qualname__}",
                "callable": callable(obj), "repr": text}

    @staticmethod
    def _no_handle(tag):
        raise ValueError("the grader never sends handles, only refs")

    @staticmethod
    def describe(exc: BaseException) -> dict:
        tb = traceback.format_exception(type(exc), exc, exc.__traceback__)
        # Keep the student's frames, drop this file's own.
        tb = [line for line in tb if os.path.basename(__file__) not in line]
        try:
            message = str(exc)
        except BaseException:  # noqa: BLE001
            message = "<exception message could not be printed>"
        return {"type": type(exc).__name__, "mro": [c.__name__ for c in type(exc).__mro__],
                "message": message[:4000], "traceback": "".join(tb)[-6000:]}


class GraderProbe:
    """A test's function that runs in the grader: each call is sent there and waits for it."""

    __slots__ = ("_worker", "_request", "_number", "_name")

    def __init__(self, worker: Worker, request, number: int, name: str) -> None:
        self._worker, self._request, self._number, self._name = worker, request, number, name

    def __call__(self, *args, **kwargs):
        return self._worker.ask_grader(self._request, {"probe": self._number}, args, kwargs)

    def __repr__(self) -> str:
        return f"<the test's function {self._name}>"


class CountedProbe:
    """A test's function that runs here (math to differentiate, a GPU kernel); the grader
    counts each call before it runs."""

    __slots__ = ("_worker", "_request", "_number", "_function")

    def __init__(self, worker: Worker, request, number: int, function) -> None:
        self._worker, self._request, self._number, self._function = worker, request, number, function

    def __call__(self, *args, **kwargs):
        self._worker.ask_grader(self._request, {"probe": self._number, "count": True})
        return self._function(*args, **kwargs)

    def __repr__(self) -> str:
        return f"<the test's function {type(self._function).__name__}>"


class GraderDevice:
    """The simulated GPU as this process sees it: every question goes to the grader's device,
    which alone holds the time stamps."""

    def __init__(self, worker: Worker, request) -> None:
        self._worker, self._request = worker, request

    def __getattr__(self, name: str):
        if name not in self._worker.simcuda.CALLS:
            raise AttributeError(name)
        return lambda *args: self._worker.ask_grader(self._request, {"sim": name}, args)


if __name__ == "__main__":
    main()
