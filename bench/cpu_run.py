"""cpu_run.py - run a command and record the CPU it used and the CPU a server process used meanwhile.

Usage: cpu_run.py OUT PID CMD... ; writes "<command's CPU seconds> <server's CPU seconds>" to OUT.
The server's figure includes its reaped children, which for PostgreSQL are the backends of the
connections that closed during the run. Exits with the command's status.
"""
import os
import resource
import subprocess
import sys
import time


def proc_cpu(pid):
    """utime + stime + cutime + cstime of pid, in seconds."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return sum(int(x) for x in fields[11:15]) / os.sysconf("SC_CLK_TCK")


def main():
    out, pid, cmd = sys.argv[1], int(sys.argv[2]), sys.argv[3:]
    before = proc_cpu(pid)
    rc = subprocess.run(cmd).returncode
    time.sleep(0.5)  # the backends of the closed connections exit and are reaped
    used = resource.getrusage(resource.RUSAGE_CHILDREN)
    with open(out, "w") as f:
        f.write(f"{used.ru_utime + used.ru_stime:.3f} {proc_cpu(pid) - before:.3f}\n")
    sys.exit(rc)


if __name__ == "__main__":
    main()
