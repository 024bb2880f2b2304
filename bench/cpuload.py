"""How much of the machine's CPU other processes used while we measured.

/proc/loadavg lags by a minute; this reads /proc/stat (all CPUs) and this process's own
CPU time at the start and end of a measurement and returns, in cores, how busy the whole
machine was, how much of that was us, and the rest ("other"). On a 2-core machine,
other_cores near 0 means a clean measurement; near 1 or more means another job was
competing for the cores. Linux only; returns None elsewhere.
"""
import os
import resource
import time

_HZ = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def _machine_busy_ticks():
    try:
        with open("/proc/stat") as f:
            vals = [int(v) for v in f.readline().split()[1:]]
    except OSError:
        return None
    # user nice system idle iowait irq softirq steal [guest guest_nice: already in user]
    idle = vals[3] + (vals[4] if len(vals) > 4 else 0)
    total = sum(vals[:8])
    return total - idle


def _self_cpu_s():
    s = resource.getrusage(resource.RUSAGE_SELF)
    c = resource.getrusage(resource.RUSAGE_CHILDREN)
    return s.ru_utime + s.ru_stime + c.ru_utime + c.ru_stime


def loadavg():
    try:
        with open("/proc/loadavg") as f:
            return f.read().split()[:3]
    except OSError:
        return None


class CpuWindow:
    """w = CpuWindow(); ...work...; w.result() -> dict (cores busy / self / other)."""

    def __init__(self):
        self.t0 = time.perf_counter()
        self.busy0 = _machine_busy_ticks()
        self.self0 = _self_cpu_s()

    def result(self):
        wall = time.perf_counter() - self.t0
        busy1 = _machine_busy_ticks()
        if self.busy0 is None or busy1 is None or wall <= 0:
            return None
        busy = (busy1 - self.busy0) / _HZ / wall
        own = (_self_cpu_s() - self.self0) / wall
        return {
            "wall_s": round(wall, 3),
            "machine_busy_cores": round(busy, 2),
            "self_cores": round(own, 2),
            "other_cores": round(max(busy - own, 0.0), 2),
        }


def wait_idle(max_busy_cores=0.15, streak_s=3.0, timeout_s=120.0, step_s=0.5):
    """Wait until the whole machine has used at most max_busy_cores for streak_s seconds
    in a row (nothing of ours is running while we wait), or timeout_s has passed.
    Returns the seconds waited."""
    t0 = time.perf_counter()
    quiet = 0.0
    prev = _machine_busy_ticks()
    if prev is None:
        return 0.0
    while quiet < streak_s and time.perf_counter() - t0 < timeout_s:
        time.sleep(step_s)
        cur = _machine_busy_ticks()
        busy = (cur - prev) / _HZ / step_s
        prev = cur
        quiet = quiet + step_s if busy <= max_busy_cores else 0.0
    return time.perf_counter() - t0
