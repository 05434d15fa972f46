"""The seccomp filter every worker installs on itself before the student's module is imported.

Built with libseccomp (through ``pyseccomp``, ctypes over the system's ``libseccomp.so.2``),
once in the zygote; each forked worker loads it, so all threads it ever starts inherit it.
Everything below fails with EPERM (``clone3`` with ENOSYS, so that the C library falls back to
``clone``, whose flags the filter can see); every other call is allowed. A call made under
another architecture's calling convention (32-bit ``int 0x80`` on x86_64, x32) kills the process:
libseccomp's filter checks the architecture first.

What it stands for, in every tier (with or without namespaces):

* **no network**: sockets of any family but ``AF_UNIX``, and of ``AF_UNIX`` only stream and
  seqpacket ones (a datagram socket, even from ``socketpair()``, could ``sendmsg()`` to any
  address); no ``connect()`` and no ``sendto()`` with an address at all, so a worker cannot
  reach a host's Unix sockets (Docker, D-Bus, syslog) even where no mount namespace hides them.
  ``socketpair()`` of streams still works.
* **nothing of the grader's files**: no ``chmod``, ``chown``, times, extended attributes or
  path ``truncate`` (Landlock governs opening and creating, not these), no ``memfd_create``
  (memory outside RLIMIT_AS).
* **no kernel objects that outlive the student**: System V shared memory, semaphores, message
  queues; POSIX message queues; keyrings.
* **no reach into other processes**: ``ptrace``, ``process_vm_*``, ``pidfd_getfd``, ``kcmp``;
  ``prlimit64``, ``setpriority``, ``sched_set*``, ``ioprio_set`` on anything but itself.
* **nothing of the machine's**: reboot, kexec, modules, mounts (old and new API), swap, the
  clocks, ``bpf``, ``perf_event_open``, ``userfaultfd``, ``io_uring`` (which would bypass this
  filter), device nodes (``mknod``), new namespaces, host and domain names, the kernel log,
  terminal input injection (``TIOCSTI``).
"""

from __future__ import annotations

import ctypes.util
import errno
import os
import platform
import socket

ARCHITECTURES = ("x86_64", "aarch64")

DENIED = (
    "reboot", "kexec_load", "kexec_file_load", "init_module", "finit_module", "delete_module",
    "mount", "umount2", "pivot_root", "chroot", "open_tree", "move_mount", "fsopen", "fsconfig",
    "fsmount", "fspick", "mount_setattr", "swapon", "swapoff", "settimeofday", "clock_settime",
    "clock_adjtime", "adjtimex", "ptrace", "process_vm_readv", "process_vm_writev", "pidfd_getfd",
    "kcmp", "process_madvise", "migrate_pages", "move_pages", "bpf", "perf_event_open",
    "fanotify_init", "open_by_handle_at", "name_to_handle_at", "keyctl", "add_key", "request_key",
    "unshare", "setns", "userfaultfd", "io_uring_setup", "io_uring_enter", "io_uring_register",
    "mknod", "mknodat", "sethostname", "setdomainname", "syslog", "acct", "quotactl", "vhangup",
    "iopl", "ioperm", "shmget", "shmat", "shmdt", "shmctl", "semget", "semop", "semtimedop",
    "semctl", "msgget", "msgsnd", "msgrcv", "msgctl", "mq_open", "mq_unlink", "mq_timedsend",
    "mq_timedreceive", "mq_notify", "mq_getsetattr", "connect", "lookup_dcookie", "memfd_create",
    # The owner of a file may change its mode, owner group, times and extended attributes, and
    # Landlock does not govern these: a worker running as the grader's uid must not.
    "chmod", "fchmod", "fchmodat", "fchmodat2", "chown", "fchown", "lchown", "fchownat", "utime",
    "utimes", "futimesat", "utimensat", "setxattr", "lsetxattr", "fsetxattr", "removexattr",
    "lremovexattr", "fremovexattr", "setxattrat", "removexattrat", "truncate",
)
# Calls allowed only on the caller itself: (name, argument holding the pid, and for some an
# argument that must equal a value too).
SELF_ONLY = {"prlimit64": 0, "sched_setaffinity": 0, "sched_setscheduler": 0, "sched_setparam": 0,
             "sched_setattr": 0}
NAMESPACE_FLAGS = (0x00020000, 0x04000000, 0x08000000, 0x10000000, 0x20000000, 0x40000000,
                   0x02000000, 0x00000080)  # NEWNS UTS IPC USER PID NET CGROUP TIME
PRIO_PROCESS, IOPRIO_WHO_PROCESS = 0, 1
TIOCSTI, TIOCLINUX = 0x5412, 0x541C
SOCK_TYPE_MASK = 0xF


def _library():
    """pyseccomp, loading the libseccomp whose path the trusted side found (inside the sandbox
    ``ldconfig`` may be out of reach)."""
    path = os.environ.get("AUTOGRADER_LIBSECCOMP")
    if path:
        original = ctypes.util.find_library
        ctypes.util.find_library = lambda name: path if name == "seccomp" else original(name)
        try:
            import pyseccomp
        finally:
            ctypes.util.find_library = original
    else:
        import pyseccomp
    return pyseccomp


def build():
    """The filter, not yet loaded (loading happens in each worker)."""
    if platform.machine() not in ARCHITECTURES:
        raise OSError(f"no seccomp filter for the {platform.machine()} architecture")
    sc = _library()
    deny, Arg = sc.ERRNO(errno.EPERM), sc.Arg
    f = sc.SyscallFilter(sc.ALLOW)
    f.set_attr(sc.Attr.CTL_TSYNC, 1)
    for name in DENIED:
        _rule(sc, f, deny, name)
    _rule(sc, f, sc.ERRNO(errno.ENOSYS), "clone3")  # its flags are in memory: make libc use clone()
    for flag in NAMESPACE_FLAGS:
        _rule(sc, f, deny, "clone", Arg(0, sc.MASKED_EQ, flag, flag))
    for name, index in SELF_ONLY.items():
        _rule(sc, f, deny, name, Arg(index, sc.NE, 0))
    _rule(sc, f, deny, "setpriority", Arg(0, sc.NE, PRIO_PROCESS))
    _rule(sc, f, deny, "setpriority", Arg(1, sc.NE, 0))
    _rule(sc, f, deny, "ioprio_set", Arg(0, sc.NE, IOPRIO_WHO_PROCESS))
    _rule(sc, f, deny, "ioprio_set", Arg(1, sc.NE, 0))
    for name in ("socket", "socketpair"):
        _rule(sc, f, deny, name, Arg(0, sc.NE, socket.AF_UNIX))
        for kind in range(SOCK_TYPE_MASK + 1):
            if kind not in (socket.SOCK_STREAM, socket.SOCK_SEQPACKET):
                _rule(sc, f, deny, name, Arg(1, sc.MASKED_EQ, SOCK_TYPE_MASK, kind))
    _rule(sc, f, deny, "sendto", Arg(4, sc.NE, 0))
    for request in (TIOCSTI, TIOCLINUX):
        # (the kernel reads the request as 32 bits: higher bits must not hide it from the rule)
        _rule(sc, f, deny, "ioctl", Arg(1, sc.MASKED_EQ, 0xFFFFFFFF, request))
    return f


def _rule(sc, f, action, name: str, *args) -> None:
    # A call this architecture (or this libseccomp) does not know needs no rule; any other
    # failure to add one is a bug and ends the build (the grader then refuses to grade).
    if sc.resolve_syscall(sc.system_arch(), name) < 0:
        return
    f.add_rule(action, name, *args)


def status() -> dict:
    """Seccomp mode and filter count of this process, as the kernel reports them."""
    found = {}
    with open("/proc/self/status") as f:
        for line in f:
            key, _, value = line.partition(":")
            if key in ("Seccomp", "Seccomp_filters"):
                found[key.lower()] = int(value)
    return found
