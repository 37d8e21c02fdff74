# -*- coding: utf-8 -*-
# Copyright: bo.microvm developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Filters the bo.microvm roles use to plan a run from the inventory.

They run on the controller only (pure functions of inventory data), so the
playbooks stay thin and the targets need no Python.
"""
from __future__ import absolute_import, division, print_function

__metaclass__ = type

import base64
import hashlib
import hmac
import re

NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
MAX_NAME = 12
MAX_TAP = 15
CONTROLLER_ROLES = ("controller", "controller+worker")


class _Once(object):
    """hostvars that computes each host's variables once: ansible-core's hostvars[host]
    computes all of a host's variables on every access (HostVars.__getitem__ calls
    VariableManager.get_vars), and the plan reads several variables of every VM."""

    def __init__(self, hostvars):
        self._hostvars = hostvars
        self._seen = {}

    def __getitem__(self, host):
        if host not in self._seen:
            self._seen[host] = self._hostvars[host]
        return self._seen[host]


def _get(hostvars, host, key, default=None):
    try:
        value = hostvars[host].get(key, default)
    except KeyError:
        return default
    return default if value is None else value


def microvm_plan(hostvars, groups, play_hosts, vm_group="microvms", hv_group="microvm_hypervisors"):
    """Returns {vms, by_host, leaders, problems} for the hosts of a play.

    vms: the selected VM names, sorted. by_host: hypervisor -> its selected VMs.
    leaders: play host -> the hypervisor whose batched task it runs (the hypervisor itself
    when it is in the play, else its first selected VM). problems: every inventory problem,
    across all VMs of the inventory, as sentences.
    """
    all_vms = sorted(groups.get(vm_group, []))
    hypervisors = set(groups.get(hv_group, []))
    play = set(play_hosts)
    hostvars = _Once(hostvars)
    problems = []
    seen = {"MAC": {}, "IP": {}, "tap id": {}}
    for vm in all_vms:
        host = _get(hostvars, vm, "microvm_host")
        if not host:
            problems.append("%s: microvm_host is not set: name the hypervisor (a host of group %s) the VM runs on" % (vm, hv_group))
        elif host not in hypervisors:
            problems.append("%s: microvm_host %s is not a host of group %s" % (vm, host, hv_group))
        if len(vm) > MAX_NAME:
            problems.append("%s: the VM name has %d characters; at most %d fit, so that its tap id vm-%s stays within Linux's %d-character interface names"
                            % (vm, len(vm), MAX_NAME, vm, MAX_TAP))
        elif not NAME_RE.match(vm):
            problems.append("%s: a VM name may only hold letters, digits, '-', '_' and '.', starting with a letter or digit" % vm)
        if vm in hypervisors:
            problems.append("%s: is both a VM and a hypervisor" % vm)
        tap = _get(hostvars, vm, "microvm_tap", "vm-" + vm)
        if len(tap) > MAX_TAP:
            problems.append("%s: tap id %s has %d characters; Linux allows %d" % (vm, tap, len(tap), MAX_TAP))
        mac = _get(hostvars, vm, "microvm_mac")
        if not mac:
            problems.append("%s: microvm_mac is not set" % vm)
        ip = _get(hostvars, vm, "ansible_host")
        if not ip:
            problems.append("%s: ansible_host (the VM's address) is not set" % vm)
        for kind, value in (("MAC", str(mac).lower() if mac else None), ("IP", ip), ("tap id", tap)):
            if value:
                seen[kind].setdefault(value, []).append(vm)
    for kind, values in seen.items():
        for value, owners in sorted(values.items()):
            if len(owners) > 1:
                problems.append("%s %s is used by more than one VM: %s" % (kind, value, ", ".join(owners)))

    selected = set()
    for vm in all_vms:
        host = _get(hostvars, vm, "microvm_host")
        if vm in play or (host and host in play):
            selected.add(vm)
    by_host = {}
    for vm in sorted(selected):
        host = _get(hostvars, vm, "microvm_host")
        if host in hypervisors:
            by_host.setdefault(host, []).append(vm)
    leaders, leader_of = {}, {}
    for host, vms in sorted(by_host.items()):
        leader = host if host in play else vms[0]
        leaders[leader] = host
        leader_of[host] = leader
    return {"vms": sorted(selected), "by_host": by_host, "leaders": leaders, "leader_of": leader_of,
            "problems": problems}


def microvm_update_plan(info, hostvars, default_strategy="restart"):
    """Splits a hypervisor's VMs (a microvm_info result) by what a deploy does to them.

    restart: running, outdated, and the strategy is restart (or switch, but the change
    needs a restart). switch: [{name, system, registration}] running, outdated, strategy
    switch and switchable (registration: the new system's closure registration, "" when the
    runner has none). keep: running, outdated, strategy none (reported only).
    """
    plan = {"restart": [], "switch": [], "keep": []}
    for vm, facts in sorted((info or {}).get("vms", {}).items()):
        if not (facts.get("running") and facts.get("outdated")):
            continue
        strategy = _get(hostvars, vm, "microvm_update_strategy", default_strategy)
        if strategy == "none":
            plan["keep"].append(vm)
        elif strategy == "switch" and facts.get("switchable"):
            plan["switch"].append({"name": vm, "system": facts.get("current_system"),
                                   "registration": facts.get("current_registration") or ""})
        else:
            plan["restart"].append(vm)
    return plan


VOLUME_KEYS = ("path", "size", "fs_type", "label", "owner", "group", "mode")


def microvm_collect(hosts, hostvars, fact, key):
    """Concatenates hostvars[host][fact][key] over hosts, skipping hosts without the fact."""
    out = []
    for host in hosts:
        value = _get(hostvars, host, fact, {}) or {}
        out.extend(value.get(key, []) if hasattr(value, "get") else [])
    return out


def microvm_volume_specs(vms, hostvars):
    """[{name, volumes}] for microvm_volume, from each VM's microvm_volumes.

    Keys that describe the guest side (e.g. mount_point) are the site configuration's
    business, not the hypervisor's: only microvm_volume's keys are passed on.
    """
    out = []
    for vm in vms:
        volumes = [dict((k, v) for k, v in vol.items() if k in VOLUME_KEYS)
                   for vol in _get(hostvars, vm, "microvm_volumes", [])]
        out.append({"name": vm, "volumes": volumes})
    return out


def microvm_addresses(vms, hostvars):
    """{vm: ansible_host} for microvm_service's wait_for."""
    return dict((vm, _get(hostvars, vm, "ansible_host", vm)) for vm in vms)


def microvm_restart_batches(plan, hostvars, worker_batch=1):
    """Rolling restart order: each k0s controller alone, then workers in batches.

    Returns a list of batches; each batch is {hypervisor: [vms]}.
    """
    worker_batch = max(1, int(worker_batch))
    controllers, workers = [], []
    for vm in plan["vms"]:
        role = _get(hostvars, vm, "k0s_role", "worker")
        (controllers if role in CONTROLLER_ROLES else workers).append(vm)
    batches = [[vm] for vm in controllers]
    batches += [workers[i:i + worker_batch] for i in range(0, len(workers), worker_batch)]
    out = []
    for batch in batches:
        by_host = {}
        for vm in batch:
            by_host.setdefault(_get(hostvars, vm, "microvm_host"), []).append(vm)
        out.append(by_host)
    return out


def microvm_k8s_nodes(vms, hostvars):
    """The Kubernetes nodes of the given VMs, as [{vm, node}], for drain-aware restarts.

    A VM is a node when its k0s_role runs a kubelet (worker, controller+worker; a controller
    alone registers no Node). Its node name is k0s_node_name, default the VM name in lower
    case: k0s names a worker by its lowercase host name (k0sproject/k0s dff90cee,
    pkg/node/nodename.go: nodeutil.GetHostname, no override on Linux), and the guest module
    sets the host name to the VM name (nixos/modules/microvm/guest.nix, networking.hostName).
    """
    out = []
    for vm in vms or []:
        if _get(hostvars, vm, "k0s_role", "") in ("worker", "controller+worker"):
            out.append({"vm": vm, "node": str(_get(hostvars, vm, "k0s_node_name", "") or vm.lower())})
    return out


def microvm_only(batches, vms):
    """Keeps only the given VMs in restart batches, and drops batches left empty."""
    keep = set(vms or [])
    out = []
    for batch in batches:
        kept = dict((host, [vm for vm in names if vm in keep]) for host, names in batch.items())
        kept = dict((host, names) for host, names in kept.items() if names)
        if kept:
            out.append(kept)
    return out


def microvm_host_problems(infos, require_kvm=True, bridge="br0"):
    """Problems of the hypervisors, from registered microvm_info results keyed by hypervisor."""
    problems = []
    for host, res in sorted(infos.items()):
        if res.get("unreachable"):
            problems.append("%s: unreachable: %s" % (host, res.get("msg", "")))
            continue
        if res.get("failed"):
            problems.append("%s: microvm_info failed: %s" % (host, res.get("msg", "")))
            continue
        facts = res.get("host", {})
        for unit in facts.get("units_missing", []):
            problems.append("%s: systemd has no %s: enable microvm.nix's host module (microvm.nixosModules.host)" % (host, unit))
        if require_kvm and not facts.get("kvm"):
            problems.append("%s: /dev/kvm is missing: enable KVM (bo.microvm's virtualization module) or set microvm_require_kvm: false" % host)
        br = facts.get("bridge", {})
        if not br.get("present") or not br.get("is_bridge"):
            problems.append("%s: bridge %s is missing: enable microvm-bridge (microvm-bridge.enable, microvm-bridge.physicalNic)" % (host, br.get("name", bridge)))
        elif not br.get("up"):
            problems.append("%s: bridge %s is down" % (host, br.get("name", bridge)))
        for vm, facts_vm in sorted(res.get("vms", {}).items()):
            if facts_vm.get("declarative"):
                problems.append("%s: is declared in %s's NixOS configuration (microvm.vms; toplevel present), so bo.microvm leaves it alone: remove it from the inventory or from the host configuration"
                                % (vm, host))
    return problems


def microvm_status_table(infos, hostvars):
    """A text table of the VMs in registered microvm_info results keyed by hypervisor."""
    rows = [("VM", "HYPERVISOR", "ADDRESS", "STATE", "RUNNER", "CONFIGURATION")]
    for host, res in sorted(infos.items()):
        if res.get("failed") or res.get("unreachable"):
            rows.append(("-", host, "-", "unreachable" if res.get("unreachable") else "failed", "-", res.get("msg", "")[:60]))
            continue
        for vm, f in sorted(res.get("vms", {}).items()):
            runner = (f.get("current") or "-").split("/")[-1]
            if not f.get("exists"):
                config = "not installed"
            elif f.get("outdated"):
                config = "outdated: switch possible" if f.get("switchable") else "outdated: restart to apply"
            elif f.get("running"):
                config = "current"
            else:
                config = "installed, not running"
            rows.append((vm, host, str(_get(hostvars, vm, "ansible_host", "-")), f.get("active_state", "-"), runner, config))
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    return ["  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip() for r in rows]


def microvm_orphans(infos, hostvars, groups, vm_group="microvms"):
    """VMs present on a hypervisor (microvm_info's host.vms_present) that no VM of the inventory
    puts there, as {hypervisor: [names]}: microvm.nix leaves a VM it no longer declares running
    (microvm-nix/microvm.nix#508), and so would an inventory that drops a VM. The whole
    inventory counts, not only the VMs of a --limit."""
    named = {}
    for vm in groups.get(vm_group, []):
        host = _get(hostvars, vm, "microvm_host")
        if host:
            named.setdefault(host, set()).add(vm)
    out = {}
    for host, res in sorted(infos.items()):
        if not isinstance(res, dict) or res.get("failed") or res.get("unreachable"):
            continue
        present = res.get("host", {}).get("vms_present", [])
        left = sorted(n for n in present if n not in named.get(host, set()))
        if left:
            out[host] = left
    return out


def _fingerprint(key):
    """SHA256 fingerprint of a known_hosts key ("ssh-ed25519 AAAA..."), as ssh-keygen -l prints it."""
    try:
        blob = base64.b64decode(key.split()[1].encode("ascii"), validate=True)
    except (IndexError, ValueError):
        return "(unreadable key)"
    return "SHA256:" + base64.b64encode(hashlib.sha256(blob).digest()).decode("ascii").rstrip("=")


def _hashed_match(pattern, name):
    """A hashed known_hosts name |1|salt|hash (ssh-keygen -H) names name (HMAC-SHA1, sshd(8))."""
    try:
        _, _, salt, digest = pattern.split("|")
        mac = hmac.new(base64.b64decode(salt), name.encode("utf-8"), hashlib.sha1).digest()
        return hmac.compare_digest(mac, base64.b64decode(digest))
    except (ValueError, TypeError):
        return False


def microvm_host_keys(installed, hostvars):
    """The VMs' SSH host keys from microvm_install results (one per hypervisor, skipped ones
    ignored): [{vm, host, names, key}] with names as ssh looks them up in known_hosts
    (ansible_host, and the inventory name when it differs; [name]:port off port 22). A VM
    whose key is still to be made (check mode) has none yet and is left out."""
    out = []
    for res in installed or []:
        if not isinstance(res, dict):
            continue
        for vm, info in sorted((res.get("vms") or {}).items()):
            key = ((info or {}).get("ssh_host_key") or {}).get("public_key") or ""
            if not key:
                continue
            out.append({"vm": vm, "host": _get(hostvars, vm, "microvm_host", ""), "names": _ssh_names(hostvars, vm),
                        "key": " ".join(key.split()[:2])})
    return out


def _ssh_names(hostvars, vm):
    """The names ssh looks a VM up by in known_hosts: its ansible_host, and its inventory name
    when it differs; [name]:port when it is not on port 22."""
    port = _get(hostvars, vm, "ansible_port", None) or _get(hostvars, vm, "ansible_ssh_port", None)
    names = []
    for n in (_get(hostvars, vm, "ansible_host", vm), vm):
        n = str(n)
        if port and int(port) != 22:
            n = "[%s]:%d" % (n, int(port))
        if n not in names:
            names.append(n)
    return names


def microvm_ssh_names(vms, hostvars):
    """The names the deploy writes to known_hosts for these VMs (see microvm_host_keys), in order."""
    out = []
    for vm in vms or []:
        for n in _ssh_names(hostvars, vm):
            if n not in out:
                out.append(n)
    return out


def microvm_known_hosts_forget(text, names):
    """Takes names off known_hosts text, as ssh-keygen -R does for one: a name, plain or hashed
    (|1|salt|hash), goes off every line that has it, and a line left with no name goes. Every
    other line and name stays byte for byte (comments, other hosts, negated and wildcard
    patterns, @cert-authority and @revoked lines). Returns {content, rewrite (content differs),
    forgotten: the names found, conflicts: []}."""
    text = text or ""
    names = [str(n) for n in names or []]
    out, forgotten = [], set()
    for line in text.splitlines(True):
        fields = line.split()
        if not fields or fields[0].startswith("#") or fields[0].startswith("@") or len(fields) < 3:
            out.append(line)
            continue
        patterns = fields[0].split(",")
        left = []
        for pat in patterns:
            hit = [n for n in names if pat == n or (pat.startswith("|1|") and _hashed_match(pat, n))]
            forgotten.update(hit)
            if not hit:
                left.append(pat)
        if len(left) == len(patterns):
            out.append(line)
        elif left:
            start = line.index(fields[0])
            out.append(line[:start] + ",".join(left) + line[start + len(fields[0]):])
    content = "".join(out)
    return {"content": content, "rewrite": content != text, "forgotten": sorted(forgotten), "conflicts": []}


def microvm_known_hosts(text, keys, replace=False):
    """Puts the VMs' host keys (microvm_host_keys) into known_hosts text.

    Every line that is not about a VM's names stays byte for byte (comments, other hosts,
    hashed names, @cert-authority and @revoked lines). A VM whose names are all on lines
    with its key is left alone; one with a name on no line gets a line "names key". A line
    that has a VM's name with another key is a conflict: reported with both fingerprints
    and kept, unless replace, which takes that name off the line (the line goes when no
    name is left) and adds the VM's line. Returns {content, rewrite (content differs), added, replaced,
    conflicts: [{vm, host, name, line, known, new}]}."""
    text = text or ""
    lines = text.splitlines(True)
    wanted = {}
    for k in keys:
        for n in k["names"]:
            wanted[n] = k
    conflicts, replaced, drop_names = [], set(), {}
    have = set()  # (vm, name) already on a line with the VM's key
    for i, line in enumerate(lines):
        fields = line.split()
        if not fields or fields[0].startswith("#") or fields[0].startswith("@") or len(fields) < 3:
            continue
        patterns = fields[0].split(",")
        key = fields[1] + " " + fields[2]
        for pat in patterns:
            for n, k in wanted.items():
                if not (pat == n or (pat.startswith("|1|") and _hashed_match(pat, n))):
                    continue
                if key == k["key"]:
                    have.add((k["vm"], n))
                    continue
                conflicts.append({"vm": k["vm"], "host": k["host"], "name": n, "line": i + 1,
                                  "known": _fingerprint(key), "new": _fingerprint(k["key"])})
                drop_names.setdefault(i, set()).add(pat)
    out, added = [], []
    for i, line in enumerate(lines):
        if replace and i in drop_names:
            fields = line.split(None, 1)
            left = [p for p in fields[0].split(",") if p not in drop_names[i]]
            for c in conflicts:
                if c["line"] == i + 1:
                    replaced.add(c["vm"])
            if not left:
                continue
            line = ",".join(left) + line[len(fields[0]):]
        out.append(line)
    if replace or not conflicts:
        if out and not out[-1].endswith("\n"):
            out[-1] += "\n"
        for k in keys:
            missing = [n for n in k["names"] if (k["vm"], n) not in have]
            if missing:
                out.append("%s %s\n" % (",".join(missing), k["key"]))
                if k["vm"] not in replaced:
                    added.append(k["vm"])
    content = "".join(out)
    return {"content": content, "rewrite": content != text, "added": sorted(set(added)),
            "replaced": sorted(replaced), "conflicts": [] if replace else conflicts}


def microvm_known_hosts_conflicts(conflicts, path):
    """One message line per changed key, naming both fingerprints."""
    return ["%s (%s) on %s: %s line %d has %s, the VM's host key on its hypervisor is %s" % (
        c["vm"], c["name"], c["host"] or "its hypervisor", path, c["line"], c["known"], c["new"]) for c in conflicts]


class FilterModule(object):
    def filters(self):
        return {
            "microvm_plan": microvm_plan,
            "microvm_restart_batches": microvm_restart_batches,
            "microvm_only": microvm_only,
            "microvm_k8s_nodes": microvm_k8s_nodes,
            "microvm_host_problems": microvm_host_problems,
            "microvm_update_plan": microvm_update_plan,
            "microvm_volume_specs": microvm_volume_specs,
            "microvm_collect": microvm_collect,
            "microvm_status_table": microvm_status_table,
            "microvm_addresses": microvm_addresses,
            "microvm_orphans": microvm_orphans,
            "microvm_host_keys": microvm_host_keys,
            "microvm_ssh_names": microvm_ssh_names,
            "microvm_known_hosts": microvm_known_hosts,
            "microvm_known_hosts_conflicts": microvm_known_hosts_conflicts,
        }
