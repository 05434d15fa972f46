"""Which of the sandbox's layers lets CUDA start, one layer added at a time (`make gpu-check`'s
step 3b, on a real GPU only).

Each row is a fresh interpreter that puts on the layers named, in the order a sandboxed worker
does (the sandbox's uid and rlimits before exec, then Landlock, torch's import, the seccomp
filter, and for the last row a fork from a process that imported torch, as the zygote forks
its workers), then allocates a CUDA tensor. When a grading on the GPU fails for every
submission, the first row that fails names the layer to look at.

The child runs from a temporary folder that the sandbox's uid can read (the checkout may lie
under /root), with only the two sandbox modules it needs beside it, as the real sandbox does.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

SANDBOX = Path(__file__).resolve().parent.parent / "autograder" / "sandbox"

# (label, layers): cumulative, as a worker puts them on.
ROWS = [
    ("root, no layer", []),
    ("the sandbox's own uid", ["uid"]),
    ("+ rlimits (no RLIMIT_AS, as for a GPU sandbox)", ["uid", "rlimits"]),
    ("+ rlimits with RLIMIT_AS (what a CPU sandbox sets)", ["uid", "rlimits", "address_space"]),
    ("+ Landlock (the zygote's rules, with the GPU's)", ["uid", "rlimits", "landlock"]),
    ("+ the seccomp filter", ["uid", "rlimits", "landlock", "seccomp"]),
    ("+ forked after torch's import, as the zygote's workers", ["uid", "rlimits", "landlock", "seccomp", "fork"]),
]
# Landlock, changed one way at a time (uid and rlimits on, no filter): where the Landlock row
# fails, the first variant that works names what CUDA needs. ("read": more folders to read,
# "write": to write, "devices": device rules, "no_ioctl": the ioctl right left unhandled,
# "no_scope": no signal or abstract-socket scope; "only": the read list replaced.)
VARIANTS = [
    ("Landlock, reading everything", {"only": ["/"]}),
    ("Landlock, reading and writing everything", {"only": ["/"], "write": ["/"]}),
    ("Landlock + read /dev", {"read": ["/dev"]}),
    ("Landlock + read /etc", {"read": ["/etc"]}),
    ("Landlock + read /sys", {"read": ["/sys"]}),
    ("Landlock + read /run and /var", {"read": ["/run", "/var"]}),
    ("Landlock + read /tmp", {"read": ["/tmp"]}),
    ("Landlock + write /dev/shm and /tmp", {"write": ["/dev/shm", "/tmp"]}),
    ("Landlock, device rules on all of /dev", {"devices": ["/dev"]}),
    ("Landlock, the ioctl right not handled", {"no_ioctl": True}),
    ("Landlock, no scopes", {"no_scope": True}),
    ("Landlock, the GPU's device files writable as files too (truncate)", {"write": ["$gpu"]}),
    ("Landlock, no /proc file writable (before the H200 run)", {"files": []}),
    ("reading everything, writing /proc", {"only": ["/"], "write": ["/proc"]}),
    ("reading everything, writing and truncating files in /proc/self", {"only": ["/"], "files": ["/proc/self"]}),
    ("reading everything, writing and truncating files in /proc", {"only": ["/"], "files": ["/proc"]}),
    ("reading everything, writing files in /proc (no other right)", {"only": ["/"], "devices": ["/proc"]}),
    ("reading everything, writing /sys", {"only": ["/"], "write": ["/sys"]}),
    ("reading everything, writing /dev", {"only": ["/"], "write": ["/dev"]}),
    ("reading everything, writing /tmp, /var and /run", {"only": ["/"], "write": ["/tmp", "/var", "/run"]}),
    ("reading everything, writing /etc", {"only": ["/"], "write": ["/etc"]}),
    ("reading everything, writing /root, /home and /opt", {"only": ["/"], "write": ["/root", "/home", "/opt"]}),
    ("reading everything, writing /usr and /lib*", {"only": ["/"], "write": ["/usr", "/lib", "/lib64", "/bin"]}),
]

CHILD = r'''
import json, os, sys, time
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))  # (-I leaves the script's folder out)
cfg = json.loads(sys.argv[1])
started = time.perf_counter()
out = {}


def cuda():
    import torch
    available = torch.cuda.is_available()  # (NVML-based, as in the sandbox)
    x = torch.ones(1024, device="cuda")
    return {"is_available": available, "value": float((x * 2).sum())}


def attempt(sc):
    try:
        if sc is not None:
            sc.load()
        return dict(ok=True, **cuda())
    except BaseException as exc:
        return {"ok": False, "error": f"{type(exc).__name__}: {exc}"[:800]}


try:
    sc = None
    if cfg["landlock"]:
        import landlock
        v = cfg.get("variant") or {}
        if v.get("no_ioctl"):
            landlock._IOCTL_DEV = 0
        if v.get("no_scope"):
            landlock._SCOPE_ABSTRACT_UNIX_SOCKET = landlock._SCOPE_SIGNAL = 0
        # (as the sandbox: the first domain, the zygote's, may write /proc files; a forked
        # worker's nested one its own only, below)
        first = "/proc" if cfg["fork"] else "/proc/self"
        out["landlock"] = landlock.restrict(v.get("only") or cfg["read"] + v.get("read", []),
                                            cfg["write"] + v.get("write", []), cfg["devices"] + v.get("devices", []),
                                            v["files"] if "files" in v else [first] if cfg["devices"] else [])
    if cfg["seccomp"]:
        import syscall_filter
        sc = syscall_filter.build()
    import torch  # noqa: F401  (before the filter and the fork, as the zygote imports it)
    if cfg["fork"]:
        r, w = os.pipe()
        pid = os.fork()
        if pid == 0:
            os.close(r)
            if cfg["landlock"]:
                landlock.restrict(cfg["read"], cfg["write"], cfg["devices"], ["/proc/self"] if cfg["devices"] else [])
            os.write(w, json.dumps(attempt(sc)).encode())
            os._exit(0)
        os.close(w)
        data = b""
        while chunk := os.read(r, 65536):
            data += chunk
        os.waitpid(pid, 0)
        out.update(json.loads(data or b'{"ok": false, "error": "the forked child wrote nothing"}'))
    else:
        out.update(attempt(sc))
except BaseException as exc:
    out.update(ok=False, error=f"{type(exc).__name__}: {exc}"[:800])
out["seconds"] = round(time.perf_counter() - started, 2)
print(json.dumps(out))
'''


LANDLOCK = ["uid", "rlimits", "landlock"]  # the Landlock row's layers, and every variant's


def expand(variant: dict, devices: list[str]) -> dict:
    """A variant with "$gpu" replaced by the GPU's device files."""
    return {k: [x for item in v for x in (devices if item == "$gpu" else [item])] if type(v) is list else v
            for k, v in variant.items()}


def probe(timeout: float = 60) -> list[dict]:
    """One result per row of ROWS: {label, layers, ok, error?, seconds, ...}."""
    sys.path.insert(0, str(SANDBOX.parent.parent))
    from autograder.sandbox import isolation
    from hwkit.grading import Limits

    limits = Limits()
    protections = isolation.detect()
    devices = sorted(str(d) for d in Path("/dev").glob("nvidia*"))
    uid = isolation.allocate_uid() if os.geteuid() == 0 else None
    unreachable = isolation.unreachable_python() if uid is not None else None
    with tempfile.TemporaryDirectory(prefix="gpu-layers-") as tmp:
        os.chmod(tmp, 0o755)
        for name in ("landlock.py", "syscall_filter.py"):
            shutil.copy(SANDBOX / name, Path(tmp) / name)
        (Path(tmp) / "child.py").write_text(CHILD, encoding="utf-8")
        home = Path(tmp) / "home"
        home.mkdir(mode=0o777)
        os.chmod(home, 0o777)
        read = isolation.python_paths() + isolation.SYSTEM_READ + isolation.DEVICES + [tmp] \
            + [p for p in isolation.GPU_READ if os.path.exists(p)]
        def run(label: str, layers: list[str], variant: dict | None = None) -> dict:
            if "uid" in layers and (uid is None or unreachable):
                return {"label": label, "layers": layers, "ok": None,
                        "error": f"another uid cannot reach Python here ({unreachable})" if unreachable
                        else "not root: no uid to switch to"}
            cfg = {"landlock": "landlock" in layers, "seccomp": "seccomp" in layers, "fork": "fork" in layers,
                   "read": read, "write": [str(home), "/dev/null"], "devices": devices, "variant": variant}

            def in_child() -> None:
                if "rlimits" in layers:
                    isolation.set_rlimits(limits, limits.processes if "uid" in layers else None,
                                          address_space="address_space" in layers)
                if "uid" in layers:
                    os.setgroups([])
                    os.setgid(uid)
                    os.setuid(uid)

            env = {"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8", "HOME": str(home), "TMPDIR": str(home),
                   "OMP_NUM_THREADS": "8", "PYTORCH_NVML_BASED_CUDA_CHECK": "1",
                   "AUTOGRADER_LIBSECCOMP": protections.seccomp_library or ""}
            started = time.perf_counter()
            try:
                proc = subprocess.run([sys.executable, "-I", str(Path(tmp) / "child.py"), json.dumps(cfg)],
                                      cwd=tmp, env=env, preexec_fn=in_child, capture_output=True, text=True,
                                      timeout=timeout)
                lines = proc.stdout.strip().splitlines()
                result = json.loads(lines[-1]) if lines else {"ok": False, "error": f"exit {proc.returncode}: "
                                                                                    + proc.stderr[-800:]}
            except (subprocess.TimeoutExpired, ValueError, OSError) as exc:
                result = {"ok": False, "error": f"{type(exc).__name__}: {exc}"[:800]}
            result.setdefault("seconds", round(time.perf_counter() - started, 2))
            return {"label": label, "layers": layers, "variant": variant, **result}

        results = [run(label, layers) for label, layers in ROWS]
        if results[[layers for _, layers in ROWS].index(LANDLOCK)]["ok"] is False:  # (the variants say why)
            results += [run(label, LANDLOCK, expand(v, devices)) for label, v in VARIANTS]
    return results


if __name__ == "__main__":
    for row in probe():
        print(json.dumps(row))
