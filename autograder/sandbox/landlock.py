"""Landlock (Linux ≥ 5.13): let a process restrict itself to a list of paths, irreversibly.

Used by the worker on itself before any student code runs: read-only access to the Python
installation and the worker runtime, read-write access to its own working directory, no TCP
(ABI ≥ 4) and no signals to processes outside its domain (ABI ≥ 6). Plain syscalls through
ctypes: the kernel interface is small and stable, and this file must run with nothing but
the standard library inside the sandbox.
"""

from __future__ import annotations

import ctypes
import os
import platform

_SYSCALLS = {"x86_64": (444, 445, 446), "aarch64": (444, 445, 446), "riscv64": (444, 445, 446)}
_CREATE_RULESET_VERSION = 1
_RULE_PATH_BENEATH = 1
_PR_SET_NO_NEW_PRIVS = 38

# filesystem rights (bit per right, by ABI version that introduced it)
_EXECUTE, _WRITE_FILE, _READ_FILE, _READ_DIR = 1 << 0, 1 << 1, 1 << 2, 1 << 3
_FS_ABI1 = (1 << 13) - 1
_REFER, _TRUNCATE, _IOCTL_DEV = 1 << 13, 1 << 14, 1 << 15
_NET_BIND_TCP, _NET_CONNECT_TCP = 1 << 0, 1 << 1
_SCOPE_ABSTRACT_UNIX_SOCKET, _SCOPE_SIGNAL = 1 << 0, 1 << 1

_MAKE_CHAR, _MAKE_SOCK, _MAKE_FIFO, _MAKE_BLOCK = 1 << 6, 1 << 9, 1 << 10, 1 << 11

READ = _EXECUTE | _READ_FILE | _READ_DIR
# Never granted, not even in the work folder: device nodes, named sockets and pipes, and
# ioctls on devices (where the sandbox has GPU device files, only on those).
SPECIAL = _MAKE_CHAR | _MAKE_BLOCK | _MAKE_SOCK | _MAKE_FIFO | _IOCTL_DEV
_FILE_RIGHTS = _EXECUTE | _WRITE_FILE | _READ_FILE | _TRUNCATE | _IOCTL_DEV


class _RulesetAttr(ctypes.Structure):
    _fields_ = [("handled_access_fs", ctypes.c_uint64), ("handled_access_net", ctypes.c_uint64),
                ("scoped", ctypes.c_uint64)]


class _PathBeneath(ctypes.Structure):
    _pack_ = 1
    _fields_ = [("allowed_access", ctypes.c_uint64), ("parent_fd", ctypes.c_int32)]


def _libc() -> ctypes.CDLL:
    return ctypes.CDLL(None, use_errno=True)


def abi_version() -> int:
    """The kernel's Landlock ABI version, or 0 when Landlock is unavailable."""
    numbers = _SYSCALLS.get(platform.machine())
    if numbers is None or os.uname().sysname != "Linux":
        return 0
    version = _libc().syscall(numbers[0], None, ctypes.c_size_t(0), ctypes.c_uint32(_CREATE_RULESET_VERSION))
    return max(int(version), 0)


def restrict(read_paths: list[str], write_paths: list[str], device_paths: list[str] = (),
             writable_files: list[str] = ()) -> dict:
    """Restrict this process (and its future children). Returns what is now enforced.

    `read_paths`: read and execute; `write_paths`: everything but :data:`SPECIAL`;
    `device_paths`: device files to read, write and ioctl (a GPU's); `writable_files`: existing
    files to write and truncate, nothing created or removed (the CUDA driver opens a file of its
    process's own /proc entry with O_TRUNC: found on an H200, docs/gpu.md)."""
    abi = abi_version()
    if abi < 1:
        return {"landlock": False}
    create, add_rule, restrict_self = _SYSCALLS[platform.machine()]
    libc = _libc()
    fs_all = _FS_ABI1 | (_REFER if abi >= 2 else 0) | (_TRUNCATE if abi >= 3 else 0) \
        | (_IOCTL_DEV if abi >= 5 else 0)
    attr = _RulesetAttr(fs_all, (_NET_BIND_TCP | _NET_CONNECT_TCP) if abi >= 4 else 0,
                        (_SCOPE_ABSTRACT_UNIX_SOCKET | _SCOPE_SIGNAL) if abi >= 6 else 0)
    size = ctypes.sizeof(_RulesetAttr) if abi >= 6 else (16 if abi >= 4 else 8)
    fd = libc.syscall(create, ctypes.byref(attr), ctypes.c_size_t(size), ctypes.c_uint32(0))
    if fd < 0:
        raise OSError(ctypes.get_errno(), "landlock_create_ruleset failed")
    try:
        rules = ((read_paths, READ), (write_paths, fs_all & ~SPECIAL),
                 (device_paths, _READ_FILE | _WRITE_FILE | (_IOCTL_DEV if abi >= 5 else 0)),
                 (writable_files, _WRITE_FILE | (_TRUNCATE if abi >= 3 else 0)))
        for paths, access in rules:
            for path in paths:
                try:
                    pfd = os.open(path, os.O_PATH | os.O_CLOEXEC)
                except OSError:
                    continue  # a path that does not exist needs no rule
                try:
                    allowed = access if os.path.isdir(path) else access & _FILE_RIGHTS
                    rule = _PathBeneath(allowed, pfd)
                    if libc.syscall(add_rule, fd, _RULE_PATH_BENEATH, ctypes.byref(rule), 0) != 0:
                        raise OSError(ctypes.get_errno(), f"landlock_add_rule failed for {path}")
                finally:
                    os.close(pfd)
        if libc.prctl(_PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0:
            raise OSError(ctypes.get_errno(), "prctl(PR_SET_NO_NEW_PRIVS) failed")
        if libc.syscall(restrict_self, fd, 0) != 0:
            raise OSError(ctypes.get_errno(), "landlock_restrict_self failed")
    finally:
        os.close(fd)
    return {"landlock": True, "landlock_abi": abi, "tcp_blocked": abi >= 4, "signals_scoped": abi >= 6,
            "devices_blocked": True}
