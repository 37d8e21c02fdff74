#!/usr/bin/env python3
"""make bench: per-task cost of bo.microvm's modules against ansible.builtin ones and raw (one
SSH exec, the floor for any module), the first task on a host with an empty module cache, the
module's peak RSS on the target, the tarball size, and deploy cost batched against a per-VM
loop, on the lab, with each controller. Prints one report with ratios.

Per-task time = (wall time of a playbook of N identical tasks - wall time of the same play
with no task, run just before it) / N (N = 20, 60 for the fast path and raw), median of REPEAT
repetitions. A task on a host with an empty module cache = (a playbook of 20 times [raw rm -rf
the cache; the module] - a playbook of the 20 raw tasks alone) / 20: measured as the per-task
rows are, so it is the row the goal compares with stat pipelined. First task of a playbook =
(wall time of a one-task playbook run right after the hypervisor's module cache was removed -
the empty play run just before it), with the controller's compressed copy of the build kept
and without it; a one-task stat playbook measured the same way is its like-for-like comparison.
Each repetition measures every row once (per_task), and a ratio is the median of the
repetitions' own ratios, so both sides of it are measured within minutes of each other.
Everything runs in one session, on the same hypervisor (hv1) over SSH with ControlPersist, so
the numbers are side by side. The lab is the one the BO_LAB_* variables name (a private lab:
tests/lab/README.md).
"""
import atexit
import base64
import gzip
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import deploy  # noqa: E402  (tests/bench/deploy.py)

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
LAB = os.path.join(REPO, "tests", "lab", "lab")
CONTROLLER = os.path.join(REPO, "tests", "lab", "controller")
INVENTORY = os.path.join(os.environ.get("BO_LAB_RUN", "/run/bo-lab"), "inventory.yaml")  # a private lab too
# Per-task rows: five repetitions, not three: the median of five per-repetition ratios moves
# less than that of three. The deploy part keeps three (a fresh deploy of 8 VMs is 20 s).
REPEAT = int(os.environ.get("BO_BENCH_REPEAT", "5"))
DEPLOY_REPEAT = int(os.environ.get("BO_BENCH_DEPLOY_REPEAT", os.environ.get("BO_BENCH_REPEAT", "3")))
CONTROLLERS = os.environ.get("BO_CONTROLLERS", "2.14 2.19").split()
DEPLOY = os.environ.get("BO_BENCH_DEPLOY", "1") != "0"
PER_TASK = os.environ.get("BO_BENCH_PER_TASK", "1") != "0"

FAST = "bo.microvm.microvm_info, fast path"
PLAIN = "bo.microvm.microvm_info, plain binary transfer"
STAT = "ansible.builtin.stat, pipelined"
RAW = "ansible.builtin.raw (one SSH exec)"
CASES = [
    # name, task yaml, extra env, extra vars
    (FAST, "bo.microvm.microvm_info:", {}, {}),
    (PLAIN, "bo.microvm.microvm_info:", {}, {"bo_microvm_fast_path": False}),
    ("ansible.builtin.stat, pipelined", "ansible.builtin.stat: {path: /var/lib/microvms}", {"ANSIBLE_PIPELINING": "True"}, {}),
    ("ansible.builtin.stat, not pipelined", "ansible.builtin.stat: {path: /var/lib/microvms}", {"ANSIBLE_PIPELINING": "False"}, {}),
    ("ansible.builtin.command, pipelined", "ansible.builtin.command: cat /etc/hostname\n      changed_when: false", {"ANSIBLE_PIPELINING": "True"}, {}),
    ("ansible.builtin.command, not pipelined", "ansible.builtin.command: cat /etc/hostname\n      changed_when: false", {"ANSIBLE_PIPELINING": "False"}, {}),
    (RAW, "ansible.builtin.raw: cat /etc/hostname\n      changed_when: false", {}, {}),
]
# Tasks per playbook: 20, and 60 for the two cheapest rows (the fast path and raw, 30-50 ms a
# task), whose ratio is a goal: a playbook's wall time varies by tens of ms from run to run
# (ansible-playbook's own start), which 20 tasks of 30 ms do not average out (2026-12-07: the
# per-repetition fast/raw ratios spread from 1.04 to 1.85 with 20).
TASKS = {FAST: 60, RAW: 60}
EMPTY_CACHE_TASKS = 20
CACHE = "/root/.cache/bo-microvm"  # the module cache of root on hv1 (the bench connects as root)
# Where every playbook's ssh keeps its ControlPersist masters (ANSIBLE_SSH_CONTROL_PATH_DIR), so
# that, as on any controller, a run within 60 s of the last one reuses the connection. The
# default, ~/.ansible/cp, does that for 2.14 (the host's /root) but not for 2.19, whose root's
# /root is a new tmpfs per run (tests/lab/controller): every 2.19 playbook paid a new SSH
# handshake in its first task, which the steady-state rows it is compared with did not. /tmp is
# the same directory in both controllers.
CONTROL_DIR = tempfile.mkdtemp(prefix="bo-bench-cp-", dir="/tmp")
atexit.register(shutil.rmtree, CONTROL_DIR, True)  # the masters exit 60 s after their last use


def run(cmd, env=None, check=True):
    e = dict(os.environ)
    e.update(env or {})
    t0 = time.monotonic()
    p = subprocess.run(cmd, env=e, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    dt = time.monotonic() - t0
    if check and p.returncode != 0:
        sys.exit("bench: %s failed (rc %d):\n%s" % (" ".join(cmd), p.returncode, p.stdout[-3000:]))
    return dt, p.stdout


def playbook(ctrl, path, env=None, extra=None, args=()):
    env = dict(env or {})
    env.setdefault("ANSIBLE_SSH_CONTROL_PATH_DIR", CONTROL_DIR)
    env.update({"ANSIBLE_COLLECTIONS_PATH": os.path.join(REPO, "build", "collections"), "ANSIBLE_HOST_KEY_CHECKING": "False",
                "ANSIBLE_NOCOLOR": "1",
                # The lab hypervisors, like NixOS hosts, have no python3 on PATH; the builtin
                # modules get the interpreter the lab diverted out of the way.
                "ANSIBLE_PYTHON_INTERPRETER": "/usr/bin/python3.11.no-python-on-nixos"})
    cmd = [CONTROLLER, ctrl, "ansible-playbook", "-i", INVENTORY, path]
    if extra:
        cmd += ["-e", json.dumps(extra)]
    return run(cmd + list(args), env)


def write_play(tmp, name, task, n):
    path = os.path.join(tmp, name + ".yml")
    with open(path, "w") as f:
        f.write("- hosts: hv1\n  gather_facts: false\n  tasks:\n")
        for i in range(n):
            f.write("    - name: task %d\n      %s\n" % (i, task))
        if n == 0:
            f.write("    []\n")
    return path


def per_task(tmp):
    """{(controller, row): [seconds per repetition]}.

    Every repetition measures every row once, in an order rotated by one each repetition, and
    each playbook right after the empty play it is paired with: a row and the row a goal
    divides it by are measured minutes apart at most, never in blocks of their own. A ratio
    is then taken per repetition (ratios()), so a load that drifts during the bench moves
    both sides of it. (Until 2026-12-07 each row ran its repetitions in one block, the rows
    one after the other: fast path first, raw last, minutes apart; the goals flipped between
    met and missed from one run to the next by more than the rows differ.)"""
    samples = {}
    for ctrl in CONTROLLERS:
        empty = write_play(tmp, "empty", "", 0)
        plays = []
        for name, task, env, extra in CASES:
            n = TASKS.get(name, 20)
            path = write_play(tmp, "case-%d" % len(plays), task, n)
            playbook(ctrl, path, env, extra)  # warm-up: caches, ssh master, interpreter discovery
            plays.append((name, path, n, env, extra))
        # The first task on a host whose module cache is empty: the try (a miss), then one
        # command that installs the collection's binary from its zstd stream (hv1 has zstd, as
        # NixOS does) and runs the module. The controller keeps that stream per build in
        # $ANSIBLE_HOME/bo.microvm/: first with it there (any host after the controller's
        # first), then with a fresh ANSIBLE_HOME each run (a controller's first host, e.g. an
        # AWX job's new container). The ssh control sockets stay where they are for every row.
        one = write_play(tmp, "first", "bo.microvm.microvm_info:", 1)
        stat1 = write_play(tmp, "stat1", "ansible.builtin.stat: {path: /var/lib/microvms}", 1)
        pipelined = {"ANSIBLE_PIPELINING": "True"}
        keep = {"ANSIBLE_HOME": tempfile.mkdtemp(dir=tmp)}
        playbook(ctrl, one, keep)  # the controller's compressed copy of the build
        playbook(ctrl, stat1, pipelined)

        # A task on a host whose module cache is empty, as the steady-state rows measure a task:
        # in a playbook, 20 times [raw rm -rf the cache; the module] against 20 times [raw rm
        # -rf the cache], so neither ansible-playbook's start nor the first task's loading of
        # plugins and connection is in it (the one-task playbooks below have them).
        rm = "ansible.builtin.raw: rm -rf %s\n      changed_when: false" % CACHE
        fresh20 = write_play(tmp, "fresh20", rm + "\n    - bo.microvm.microvm_info:", EMPTY_CACHE_TASKS)
        rm20 = write_play(tmp, "rm20", rm, EMPTY_CACHE_TASKS)
        playbook(ctrl, fresh20, keep)

        def first_rows():
            t_rm = playbook(ctrl, rm20, keep)[0]
            out = {"empty cache": (playbook(ctrl, fresh20, keep)[0] - t_rm) / EMPTY_CACHE_TASKS}
            empty_t = playbook(ctrl, empty)[0]
            hv("rm -rf " + CACHE)
            out["first"] = playbook(ctrl, one, keep)[0] - empty_t
            hv("rm -rf " + CACHE)
            cold = dict(keep, ANSIBLE_HOME=tempfile.mkdtemp(dir=tmp))
            out["first, cold controller"] = playbook(ctrl, one, cold)[0] - empty_t
            # Like for like: a pipelined stat alone in a playbook pays what any first task of
            # a run pays (loading plugins and the connection; for 2.19 here a new SSH master).
            out["stat alone"] = playbook(ctrl, stat1, pipelined)[0] - empty_t
            return out

        for r in range(REPEAT):
            k = r % (len(plays) + 1)
            steps = plays[k:] + [None] + plays[:k]  # None: the first-task rows
            for step in steps:
                if step is None:
                    for row, t in first_rows().items():
                        samples.setdefault((ctrl, row), []).append(t)
                    continue
                name, path, n, env, extra = step
                t0 = playbook(ctrl, empty)[0]
                samples.setdefault((ctrl, name), []).append((playbook(ctrl, path, env, extra)[0] - t0) / n)
    return samples


def ratios(samples, ctrl, num, den):
    """num / den of each repetition (both measured in it), sorted."""
    return sorted(a / b for a, b in zip(samples[(ctrl, num)], samples[(ctrl, den)]))


def hv(cmd):
    return run([LAB, "hv", "hv1", cmd])[1]


def peak_rss():
    """Peak RSS (KiB) of the cached binary running microvm_info and ping on hv1, measured on the
    target by the interpreter the lab keeps out of Ansible's way (getrusage of the child)."""
    out = {}
    for module in ("microvm_info", "ping"):
        args = {"_ansible_module_name": "bo.microvm." + module, "_ansible_version": "2.14.18"}
        script = ("import glob,json,resource,subprocess,tempfile;"
                  "b=[p for p in glob.glob('%s/bo_microvm-*') if not p.endswith('.seal')][0];"
                  "f=tempfile.NamedTemporaryFile('w',suffix='.json',delete=False);f.write(%r);f.close();"
                  "subprocess.run([b,f.name],stdout=subprocess.DEVNULL);"
                  "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)") % (CACHE, json.dumps(args))
        b64 = base64.b64encode(script.encode()).decode()
        res = hv("echo %s | base64 -d | /usr/bin/python3.11.no-python-on-nixos" % b64)
        out[module] = int(res.strip().splitlines()[-1])
    return out


def tarball():
    d = os.path.join(REPO, "build")
    for f in sorted(os.listdir(d)) if os.path.isdir(d) else []:
        if f.startswith("bo-microvm-") and f.endswith(".tar.gz"):
            return f, os.path.getsize(os.path.join(d, f))
    return None, 0


def sizes():
    out = []
    d = os.path.join(REPO, "plugins", "modules", ".bin")
    for f in sorted(os.listdir(d)):
        if "_linux_" in f and not f.endswith(".sha256"):
            path = os.path.join(d, f)
            data = open(path, "rb").read()
            # What a first task sends: zstd -6 (gomodule.py ZSTD_LEVEL), gzip -1 without zstd.
            zst = subprocess.run(["zstd", "-6", "-q", "-c", path], stdout=subprocess.PIPE, check=True).stdout
            out.append((f, len(data), len(zst), len(gzip.compress(data, 1))))
    return out


def machine():
    cpu = run(["sh", "-c", "grep -m1 'model name' /proc/cpuinfo | cut -d: -f2"], check=False)[1].strip()
    return "%s, %d cores, %s" % (cpu, os.cpu_count(), run(["sh", "-c", "free -g | awk '/Mem:/{print $2\" GiB\"}'"], check=False)[1].strip())


def main():
    # The lab's VMs plus the deploy bench's (tests/bench/deploy.py: bench1..8 on hv1, two on each other hypervisor).
    with open(os.path.join(REPO, "tests", "lab", "site", "vms.json")) as f:
        vms = deploy.vms(json.load(f))
    vms_file = os.path.join(tempfile.mkdtemp(), "vms.json")
    with open(vms_file, "w") as f:
        json.dump(vms, f, indent=2)
    run([LAB, "down"], check=False)  # the bench needs its own VM set (exits 1 when already down)
    run([LAB, "up", "--vms", vms_file, "--hypervisors", str(deploy.HYPERVISORS), "--eval-cost", "realistic"])
    print("bo.microvm bench: %s; lab hypervisors hv1..hv%d (systemd-nspawn, SSH with ControlPersist), inventory %s" % (machine(), deploy.HYPERVISORS, INVENTORY))
    print("per-task time = (N-task playbook - empty playbook run just before it) / N (N = 20; 60 for the fast path"
          " and raw), median of %d repetitions; each repetition measures every row once" % REPEAT)
    if PER_TASK:
        with tempfile.TemporaryDirectory() as tmp:
            samples = per_task(tmp)
        report_per_task(samples, peak_rss())
    if DEPLOY:
        with tempfile.TemporaryDirectory() as tmp:
            lines = deploy.run(playbook, lambda hv, script: run([LAB, "hv", hv, script])[1],
                               lambda hv, vm, kv: run([LAB, "set-vm", hv, vm, kv]), CONTROLLERS[0], DEPLOY_REPEAT, tmp)
        print()
        print("\n".join(lines))
    print()
    print("%-36s%12s%12s%12s" % ("module binary", "bytes", "zstd -6", "gzip -1"))
    for f, raw, zst, gz in sizes():
        print("%-36s%12d%12d%12d" % (f, raw, zst, gz))
    name, size = tarball()
    print("collection tarball: %s %d bytes (%.1f MB)" % (name, size, size / 1e6) if name else "collection tarball: not built (make collection)")


def report_per_task(samples, rss):
    def row(label, key):
        print("%-52s" % label + "".join("%20.3f" % statistics.median(samples[(c, key)]) for c in CONTROLLERS))

    print()
    print("%-52s" % "per task (seconds), median" + "".join("%20s" % ("ansible " + c) for c in CONTROLLERS))
    for name, _, _, _ in CASES:
        row(name, name)
    row("a task on a host with an empty module cache", "empty cache")
    row("first task of a playbook, host with an empty cache", "first")
    row("  the same, the controller's first host of the build", "first, cold controller")
    row("ansible.builtin.stat pipelined, alone in a playbook", "stat alone")
    print()
    print("ratios: the median of the %d repetitions' own ratios (both rows measured in the same" % REPEAT)
    print("repetition), the lowest and the highest in brackets")

    def ratio(label, num, den, goal):
        per = [ratios(samples, c, num, den) for c in CONTROLLERS]
        meds = [statistics.median(v) for v in per]
        print("%-52s" % label + "".join("%20s" % ("%.2f [%.2f-%.2f]" % (m, v[0], v[-1])) for m, v in zip(meds, per)) +
              ("   goal <= %.2f: %s" % (goal, "met" if all(m <= goal for m in meds) else "MISSED") if goal else ""))
    ratio("ratio: fast path / stat pipelined", FAST, STAT, 0.35)
    ratio("ratio: fast path / raw", FAST, RAW, 1.3)
    ratio("ratio: a task on an empty cache / stat pipelined", "empty cache", STAT, 1.0)
    ratio("ratio: first task / stat, each alone in a playbook", "first", "stat alone", None)
    ratio("ratio: first task, cold controller / stat alone", "first, cold controller", "stat alone", None)
    ratio("ratio: plain binary transfer / stat pipelined", PLAIN, STAT, None)
    print()
    print("module peak RSS on hv1 (KiB): " + ", ".join("%s %d" % kv for kv in sorted(rss.items())))


if __name__ == "__main__":
    main()
