#!/usr/bin/env python3
"""make bench: per-task cost of bo.microvm's modules against ansible.builtin ones, and deploy
cost batched against a per-VM loop, on the lab, with each controller. Prints one report.

Per-task time = (wall time of a playbook of 20 identical tasks - wall time of the same play
with no task) / 20, median of REPEAT runs. Everything runs in one session, on the same
hypervisor (hv1) over SSH with ControlPersist, so the numbers are side by side.
"""
import gzip
import json
import os
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
REPEAT = int(os.environ.get("BO_BENCH_REPEAT", "3"))
TASKS = 20
CONTROLLERS = os.environ.get("BO_CONTROLLERS", "2.14 2.19").split()
DEPLOY = os.environ.get("BO_BENCH_DEPLOY", "1") != "0"
PER_TASK = os.environ.get("BO_BENCH_PER_TASK", "1") != "0"

CASES = [
    # name, task yaml, extra env, extra vars
    ("bo.microvm.microvm_info, fast path", "bo.microvm.microvm_info:", {}, {}),
    ("bo.microvm.microvm_info, plain binary transfer", "bo.microvm.microvm_info:", {}, {"bo_microvm_fast_path": False}),
    ("ansible.builtin.stat, pipelined", "ansible.builtin.stat: {path: /var/lib/microvms}", {"ANSIBLE_PIPELINING": "True"}, {}),
    ("ansible.builtin.stat, not pipelined", "ansible.builtin.stat: {path: /var/lib/microvms}", {"ANSIBLE_PIPELINING": "False"}, {}),
    ("ansible.builtin.command, pipelined", "ansible.builtin.command: cat /etc/hostname\n      changed_when: false", {"ANSIBLE_PIPELINING": "True"}, {}),
    ("ansible.builtin.command, not pipelined", "ansible.builtin.command: cat /etc/hostname\n      changed_when: false", {"ANSIBLE_PIPELINING": "False"}, {}),
]


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


def median_time(ctrl, path, env, extra):
    return statistics.median(playbook(ctrl, path, env, extra)[0] for _ in range(REPEAT))


def per_task(tmp):
    rows = {}
    for ctrl in CONTROLLERS:
        empty = write_play(tmp, "empty", "", 0)
        base = median_time(ctrl, empty, {}, {})
        for name, task, env, extra in CASES:
            path = write_play(tmp, "case", task, TASKS)
            playbook(ctrl, path, env, extra)  # warm-up: caches, ssh master, interpreter discovery
            t = median_time(ctrl, path, env, extra)
            rows[(ctrl, name)] = (t - base) / TASKS
    return rows


def sizes():
    out = []
    d = os.path.join(REPO, "plugins", "modules")
    for f in sorted(os.listdir(d)):
        if "_linux_" in f:
            data = open(os.path.join(d, f), "rb").read()
            out.append((f, len(data), len(gzip.compress(data, 6))))
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
    print("bo.microvm bench: %s; lab hypervisors hv1..hv%d (systemd-nspawn, SSH with ControlPersist)" % (machine(), deploy.HYPERVISORS))
    print("per-task time = (20-task playbook - empty playbook) / 20, median of %d runs" % REPEAT)
    if PER_TASK:
        with tempfile.TemporaryDirectory() as tmp:
            rows = per_task(tmp)
        report_per_task(rows)
    if DEPLOY:
        with tempfile.TemporaryDirectory() as tmp:
            lines = deploy.run(playbook, lambda hv, script: run([LAB, "hv", hv, script])[1],
                               lambda hv, vm, kv: run([LAB, "set-vm", hv, vm, kv]), CONTROLLERS[0], REPEAT, tmp)
        print()
        print("\n".join(lines))
    print()
    print("%-36s%12s%12s" % ("module binary", "bytes", "gzip -6"))
    for f, raw, gz in sizes():
        print("%-36s%12d%12d" % (f, raw, gz))


def report_per_task(rows):
    print()
    print("%-48s" % "per task (seconds)" + "".join("%14s" % ("ansible " + c) for c in CONTROLLERS))
    for name, _, _, _ in CASES:
        print("%-48s" % name + "".join("%14.3f" % rows[(c, name)] for c in CONTROLLERS))
    print()
    ref = "ansible.builtin.stat, pipelined"
    for name in ("bo.microvm.microvm_info, fast path", "bo.microvm.microvm_info, plain binary transfer"):
        print("%-48s" % ("ratio: %s / stat pipelined" % name.split(", ")[1]) + "".join("%14.2f" % (rows[(c, name)] / rows[(c, ref)]) for c in CONTROLLERS))
    print("%-48s" % "goal: fast path / stat pipelined <= 0.50" + "".join("%14s" % ("met" if rows[(c, CASES[0][0])] <= 0.5 * rows[(c, ref)] else "MISSED") for c in CONTROLLERS))


if __name__ == "__main__":
    main()
