"""seccomp_exec.py PROGRAM ARGS...: exec PROGRAM with the host's statx system call answering ENOSYS.

board/build.py copies this next to the boards and every board's python wrapper starts qemu through it.
Why: qemu-user 7.2 passes a guest's statx path to the host unchanged instead of looking it up in the
sysroot (-L) first, as it does for open, fstatat and the rest. 32-bit ARM glibc >= 2.33 implements every
stat() with statx, so on the armhf board a stat of a sysroot file looked at the HOST's file of that name
("No module named '_sysconfigdata__arm-linux-gnueabihf'"). With the host's statx refused, qemu falls back
to fstatat(path(...)), which does the sysroot lookup, and hands the guest a normal statx result.

A seccomp filter (with no_new_privs, so no privilege is needed) is inherited by every child: exec'd guest
programs, which start through the wrapper again, stack one more copy of the same filter. Standard library
only; runs under the host's python3 with -I -S.
"""

import ctypes
import os
import platform
import sys

# (AUDIT_ARCH_*, __NR_statx) of the host
HOSTS = {"x86_64": (0xC000003E, 332), "aarch64": (0xC00000B7, 291)}
PR_SET_NO_NEW_PRIVS, PR_SET_SECCOMP, SECCOMP_MODE_FILTER = 38, 22, 2
SECCOMP_RET_ALLOW, SECCOMP_RET_ERRNO, ENOSYS = 0x7FFF0000, 0x00050000, 38
BPF_LD_W_ABS, BPF_JEQ_K, BPF_RET_K = 0x20, 0x15, 0x06


class SockFilter(ctypes.Structure):
    _fields_ = [("code", ctypes.c_ushort), ("jt", ctypes.c_ubyte), ("jf", ctypes.c_ubyte), ("k", ctypes.c_uint)]


class SockFprog(ctypes.Structure):
    _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.POINTER(SockFilter))]


def refuse_statx() -> None:
    machine = platform.machine()
    if machine not in HOSTS:
        raise SystemExit(f"seccomp_exec: no statx filter for a {machine} host")
    arch, nr_statx = HOSTS[machine]
    program = [
        (BPF_LD_W_ABS, 0, 0, 4),  # A = seccomp_data.arch
        (BPF_JEQ_K, 0, 3, arch),  # another ABI: allow
        (BPF_LD_W_ABS, 0, 0, 0),  # A = seccomp_data.nr
        (BPF_JEQ_K, 0, 1, nr_statx),
        (BPF_RET_K, 0, 0, SECCOMP_RET_ERRNO | ENOSYS),
        (BPF_RET_K, 0, 0, SECCOMP_RET_ALLOW),
    ]
    filters = (SockFilter * len(program))(*[SockFilter(*ins) for ins in program])
    prog = SockFprog(len(program), filters)
    libc = ctypes.CDLL(None, use_errno=True)
    for args in ((PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0),
                 (PR_SET_SECCOMP, SECCOMP_MODE_FILTER, ctypes.addressof(prog), 0, 0)):
        if libc.prctl(*[ctypes.c_ulong(a) for a in args]) != 0:
            raise SystemExit(f"seccomp_exec: prctl failed: {os.strerror(ctypes.get_errno())}")


def main() -> None:
    if len(sys.argv) < 2:
        raise SystemExit("usage: seccomp_exec.py PROGRAM ARGS...")
    refuse_statx()
    os.execv(sys.argv[1], sys.argv[1:])


if __name__ == "__main__":
    main()
