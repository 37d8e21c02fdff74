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

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
LAB = os.path.join(REPO, "tests", "lab", "lab")
CONTROLLER = os.path.join(REPO, "tests", "lab", "controller")
INVENTORY = "/run/bo-lab/inventory.yaml"
REPEAT = int(os.environ.get("BO_BENCH_REPEAT", "3"))
TASKS = 20
CONTROLLERS = os.environ.get("BO_CONTROLLERS", "2.14 2.19").split()
DEPLOY_SIZES = [int(n) for n in os.environ.get("BO_BENCH_DEPLOY", "1 4 8").split()]

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


def deploy(tmp):
    rows = {}
    per_vm = os.path.join(REPO, "tests", "bench", "deploy-per-vm.yaml")
    batched = os.path.join(REPO, "playbooks", "deploy-microvms.yaml")
    extra = {"microvm_require_kvm": False}
    ctrl = CONTROLLERS[0]
    for n in DEPLOY_SIZES:
        limit = ",".join("bench%d" % i for i in range(1, n + 1))
        playbook(ctrl, batched, extra=extra, args=["--limit", limit])  # setup: install and boot them once
        for name, path in (("batched", batched), ("per-VM loop", per_vm)):
            times = [playbook(ctrl, path, extra=extra, args=["--limit", limit])[0] for _ in range(REPEAT)]
            rows[(n, name)] = statistics.median(times)
    playbook(ctrl, os.path.join(REPO, "playbooks", "destroy-microvms.yaml"), extra=dict(extra, confirm="yes", microvm_destroy_purge_volumes=True),
             args=["--limit", ",".join("bench%d" % i for i in range(1, max(DEPLOY_SIZES) + 1))])
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
    # The lab's VMs plus bench1..8 on hv2 (small guests without data volumes beyond /var).
    with open(os.path.join(REPO, "tests", "lab", "site", "vms.json")) as f:
        vms = json.load(f)
    for i in range(1, 9):
        vms["bench%d" % i] = {"host": "hv2", "ip": "198.18.0.%d" % (110 + i), "mac": "02:00:00:00:02:%02x" % i,
                              "vcpu": 1, "mem": 128, "generation": "1",
                              "volumes": [{"path": "var.img", "size": 64, "fs_type": "ext4", "label": "var", "mount": "/var"}]}
    vms_file = os.path.join(tempfile.mkdtemp(), "vms.json")
    with open(vms_file, "w") as f:
        json.dump(vms, f, indent=2)
    run([LAB, "down"], check=False)  # the bench needs its own VM set (exits 1 when already down)
    run([LAB, "up", "--vms", vms_file])
    print("bo.microvm bench: %s; lab hypervisor hv1/hv2 (systemd-nspawn, SSH with ControlPersist)" % machine())
    print("per-task time = (20-task playbook - empty playbook) / 20, median of %d runs" % REPEAT)
    with tempfile.TemporaryDirectory() as tmp:
        rows = per_task(tmp)
    print()
    print("%-48s" % "per task (seconds)" + "".join("%14s" % ("ansible " + c) for c in CONTROLLERS))
    for name, _, _, _ in CASES:
        print("%-48s" % name + "".join("%14.3f" % rows[(c, name)] for c in CONTROLLERS))
    print()
    ref = "ansible.builtin.stat, pipelined"
    for name in ("bo.microvm.microvm_info, fast path", "bo.microvm.microvm_info, plain binary transfer"):
        print("%-48s" % ("ratio: %s / stat pipelined" % name.split(", ")[1]) + "".join("%14.2f" % (rows[(c, name)] / rows[(c, ref)]) for c in CONTROLLERS))
    print("%-48s" % "goal: fast path / stat pipelined <= 0.50" + "".join("%14s" % ("met" if rows[(c, CASES[0][0])] <= 0.5 * rows[(c, ref)] else "MISSED") for c in CONTROLLERS))
    if DEPLOY_SIZES:
        with tempfile.TemporaryDirectory() as tmp:
            d = deploy(tmp)
        print()
        print("deploy-microvms.yaml re-run (all VMs up to date), VMs on one hypervisor, ansible %s, seconds" % CONTROLLERS[0])
        print("%-10s%12s%14s%10s" % ("VMs", "batched", "per-VM loop", "ratio"))
        for n in DEPLOY_SIZES:
            b, l = d[(n, "batched")], d[(n, "per-VM loop")]
            print("%-10d%12.1f%14.1f%10.2f" % (n, b, l, b / l))
    print()
    print("%-36s%12s%12s" % ("module binary", "bytes", "gzip -6"))
    for f, raw, gz in sizes():
        print("%-36s%12d%12d" % (f, raw, gz))


if __name__ == "__main__":
    main()
