"""Unit tests of plugins/filter/microvm.py (python3 -m unittest, no pytest needed)."""
import base64
import hashlib
import hmac
import importlib.util
import multiprocessing
import os
import stat
import tempfile
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
spec = importlib.util.spec_from_file_location("microvm", os.path.join(HERE, "..", "..", "plugins", "filter", "microvm.py"))
microvm = importlib.util.module_from_spec(spec)
spec.loader.exec_module(microvm)
spec = importlib.util.spec_from_file_location("known_hosts", os.path.join(HERE, "..", "..", "plugins", "plugin_utils", "known_hosts.py"))
known_hosts = importlib.util.module_from_spec(spec)
spec.loader.exec_module(known_hosts)

HOSTVARS = {
    "hv1": {}, "hv2": {},
    "cp1": {"microvm_host": "hv1", "ansible_host": "10.0.0.1", "microvm_mac": "02:00:00:00:00:01", "k0s_role": "controller+worker"},
    "cp2": {"microvm_host": "hv2", "ansible_host": "10.0.0.2", "microvm_mac": "02:00:00:00:00:02", "k0s_role": "controller"},
    "w1": {"microvm_host": "hv1", "ansible_host": "10.0.0.3", "microvm_mac": "02:00:00:00:00:03", "k0s_role": "worker",
           "microvm_volumes": [{"path": "var.img", "size": 512, "fs_type": "ext4", "label": "var", "mount_point": "/var"}]},
    "w2": {"microvm_host": "hv2", "ansible_host": "10.0.0.4", "microvm_mac": "02:00:00:00:00:04"},
}
GROUPS = {"microvms": ["cp1", "cp2", "w1", "w2"], "microvm_hypervisors": ["hv1", "hv2"]}


class PlanTest(unittest.TestCase):
    def test_a_whole_inventory_run_batches_per_hypervisor_with_the_hypervisor_as_leader(self):
        plan = microvm.microvm_plan(HOSTVARS, GROUPS, ["hv1", "hv2", "cp1", "cp2", "w1", "w2"])
        self.assertEqual(plan["by_host"], {"hv1": ["cp1", "w1"], "hv2": ["cp2", "w2"]})
        self.assertEqual(plan["leaders"], {"hv1": "hv1", "hv2": "hv2"})
        self.assertEqual(plan["problems"], [])

    def test_limit_to_a_vm_makes_it_the_leader_of_its_hypervisor(self):
        plan = microvm.microvm_plan(HOSTVARS, GROUPS, ["w1"])
        self.assertEqual(plan["vms"], ["w1"])
        self.assertEqual(plan["leaders"], {"w1": "hv1"})

    def test_limit_to_a_hypervisor_selects_all_its_vms(self):
        plan = microvm.microvm_plan(HOSTVARS, GROUPS, ["hv2"])
        self.assertEqual(plan["vms"], ["cp2", "w2"])
        self.assertEqual(plan["leader_of"], {"hv2": "hv2"})

    def test_every_inventory_problem_is_listed(self):
        hv = dict(HOSTVARS)
        hv["w2"] = dict(hv["w2"], microvm_mac="02:00:00:00:00:01", ansible_host="10.0.0.1")
        hv["orphan"] = {"ansible_host": "10.0.0.9", "microvm_mac": "02:00:00:00:00:09"}
        hv["sixteen-chars-vm"] = {"microvm_host": "hv1", "ansible_host": "10.0.0.8", "microvm_mac": "02:00:00:00:00:08"}
        groups = {"microvms": GROUPS["microvms"] + ["orphan", "sixteen-chars-vm"], "microvm_hypervisors": ["hv1", "hv2"]}
        problems = microvm.microvm_plan(hv, groups, ["hv1"])["problems"]
        text = "\n".join(problems)
        self.assertIn("orphan: microvm_host is not set", text)
        self.assertIn("sixteen-chars-vm: the VM name has 16 characters", text)
        self.assertIn("tap id vm-sixteen-chars-vm has 19 characters", text)
        self.assertIn("MAC 02:00:00:00:00:01 is used by more than one VM: cp1, w2", text)
        self.assertIn("IP 10.0.0.1 is used by more than one VM: cp1, w2", text)


class RestartTest(unittest.TestCase):
    def test_controllers_restart_alone_and_workers_in_batches(self):
        plan = microvm.microvm_plan(HOSTVARS, GROUPS, ["hv1", "hv2"])
        batches = microvm.microvm_restart_batches(plan, HOSTVARS, worker_batch=2)
        self.assertEqual(batches, [{"hv1": ["cp1"]}, {"hv2": ["cp2"]}, {"hv1": ["w1"], "hv2": ["w2"]}])

    def test_only_keeps_the_asked_vms_and_drops_empty_batches(self):
        plan = microvm.microvm_plan(HOSTVARS, GROUPS, ["hv1", "hv2"])
        batches = microvm.microvm_only(microvm.microvm_restart_batches(plan, HOSTVARS), ["w1"])
        self.assertEqual(batches, [{"hv1": ["w1"]}])

    def test_k8s_nodes_are_the_vms_that_run_a_kubelet(self):
        hostvars = {
            "cp1": {"k0s_role": "controller"},
            "cpw": {"k0s_role": "controller+worker"},
            "W1": {"k0s_role": "worker"},
            "w2": {"k0s_role": "worker", "k0s_node_name": "worker-two"},
            "plain": {},
        }
        nodes = microvm.microvm_k8s_nodes(["cp1", "cpw", "W1", "w2", "plain"], hostvars)
        self.assertEqual(nodes, [{"vm": "cpw", "node": "cpw"}, {"vm": "W1", "node": "w1"}, {"vm": "w2", "node": "worker-two"}])


class UpdatePlanTest(unittest.TestCase):
    def test_strategies(self):
        info = {"vms": {
            "cp1": {"running": True, "outdated": True, "switchable": True, "current_system": "/nix/store/s1",
                    "current_registration": "/nix/store/c1-closure-info/registration"},
            "cp2": {"running": True, "outdated": True, "switchable": False},
            "w1": {"running": True, "outdated": True, "switchable": True, "current_system": "/nix/store/s3"},
            "w2": {"running": False, "outdated": False},
        }}
        hv = dict(HOSTVARS)
        hv["cp1"] = dict(hv["cp1"], microvm_update_strategy="switch")
        hv["cp2"] = dict(hv["cp2"], microvm_update_strategy="switch")
        hv["w1"] = dict(hv["w1"], microvm_update_strategy="none")
        plan = microvm.microvm_update_plan(info, hv)
        self.assertEqual(plan["switch"], [{"name": "cp1", "system": "/nix/store/s1", "registration": "/nix/store/c1-closure-info/registration"}])
        self.assertEqual(plan["restart"], ["cp2"], "a change that needs a restart is restarted even with switch")
        self.assertEqual(plan["keep"], ["w1"])


class HostProblemsTest(unittest.TestCase):
    def test_unprepared_hosts_are_named(self):
        infos = {
            "hv1": {"host": {"units_missing": ["microvm@.service"], "kvm": False, "bridge": {"name": "br0", "present": False}}, "vms": {}},
            "hv2": {"unreachable": True, "msg": "ssh: connect refused"},
            "hv3": {"host": {"units_missing": [], "kvm": True, "bridge": {"name": "br0", "present": True, "is_bridge": True, "up": True}},
                    "vms": {"x": {"declarative": True}}},
        }
        text = "\n".join(microvm.microvm_host_problems(infos))
        self.assertIn("hv1: systemd has no microvm@.service", text)
        self.assertIn("hv1: /dev/kvm is missing", text)
        self.assertIn("hv1: bridge br0 is missing", text)
        self.assertIn("hv2: unreachable", text)
        self.assertIn("x: is declared in hv3's NixOS configuration", text)
        self.assertNotIn("kvm", "\n".join(microvm.microvm_host_problems({"hv1": infos["hv1"]}, require_kvm=False)))


class VolumeSpecsTest(unittest.TestCase):
    def test_guest_side_keys_are_left_out(self):
        self.assertEqual(microvm.microvm_volume_specs(["w1", "cp1"], HOSTVARS), [
            {"name": "w1", "volumes": [{"path": "var.img", "size": 512, "fs_type": "ext4", "label": "var"}]},
            {"name": "cp1", "volumes": []}])



KEY_A = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAILzVF8jrrHDJdJY7rm/5Eo5Q6WQIVWf06/R0C8sWHf12"
KEY_B = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIDM5mvkBW0x8w9Plnl0k9p4avEIF1+EjA41YcB0mXNbT"
INSTALLED = [{"vms": {"cp1": {"ssh_host_key": {"public_key": KEY_A + " root@cp1", "fingerprint": "x"}},
                      "w1": {"ssh_host_key": {"public_key": "", "fingerprint": ""}}}},
             {"skipped": True}]


class KnownHostsTest(unittest.TestCase):
    def keys(self, key=KEY_A):
        return [{"vm": "cp1", "host": "hv1", "names": ["10.0.0.1", "cp1"], "key": key}]

    def test_host_keys_name_the_address_and_the_inventory_name_and_skip_keys_not_made_yet(self):
        self.assertEqual(microvm.microvm_host_keys(INSTALLED, HOSTVARS),
                         [{"vm": "cp1", "host": "hv1", "names": ["10.0.0.1", "cp1"], "key": KEY_A}])

    def test_a_port_other_than_22_is_written_as_ssh_looks_it_up(self):
        hv = dict(HOSTVARS, cp1=dict(HOSTVARS["cp1"], ansible_port=2222))
        self.assertEqual(microvm.microvm_host_keys(INSTALLED, hv)[0]["names"], ["[10.0.0.1]:2222", "[cp1]:2222"])

    def test_an_empty_file_gets_one_line_per_vm(self):
        r = microvm.microvm_known_hosts("", self.keys())
        self.assertEqual(r["content"], "10.0.0.1,cp1 " + KEY_A + "\n")
        self.assertEqual((r["rewrite"], r["added"], r["conflicts"]), (True, ["cp1"], []))

    def test_other_lines_stay_byte_for_byte_and_a_known_key_changes_nothing(self):
        other = "# mine\r\nexample.org ssh-rsa AAAAB3Nza  comment\n@cert-authority *.x ssh-ed25519 AAAA\nlast-line-no-newline " + KEY_B
        r = microvm.microvm_known_hosts(other, self.keys())
        self.assertEqual(r["content"], other + "\n10.0.0.1,cp1 " + KEY_A + "\n")
        again = microvm.microvm_known_hosts(r["content"], self.keys())
        self.assertEqual((again["rewrite"], again["content"]), (False, r["content"]))

    def test_a_changed_key_is_a_conflict_naming_both_fingerprints_and_nothing_is_written(self):
        text = "10.0.0.1 " + KEY_B + "\nother " + KEY_B + "\n"
        r = microvm.microvm_known_hosts(text, self.keys())
        self.assertEqual(r["content"], text)
        self.assertFalse(r["rewrite"])
        self.assertEqual([(c["name"], c["line"], c["known"], c["new"]) for c in r["conflicts"]],
                         [("10.0.0.1", 1, microvm._fingerprint(KEY_B), microvm._fingerprint(KEY_A))])
        msg = microvm.microvm_known_hosts_conflicts(r["conflicts"], "/k")
        self.assertIn(microvm._fingerprint(KEY_B), msg[0])
        self.assertIn(microvm._fingerprint(KEY_A), msg[0])

    def test_a_hashed_name_with_another_key_is_a_conflict_too(self):
        salt = base64.b64encode(b"0123456789abcdefghij").decode()
        mac = base64.b64encode(hmac.new(b"0123456789abcdefghij", b"10.0.0.1", hashlib.sha1).digest()).decode()
        r = microvm.microvm_known_hosts("|1|%s|%s %s\n" % (salt, mac, KEY_B), self.keys())
        self.assertEqual(len(r["conflicts"]), 1)

    def test_replace_takes_only_the_vms_names_off_the_old_lines(self):
        text = "10.0.0.1,keep.me " + KEY_B + "\ncp1 " + KEY_B + "\nother " + KEY_B + "\n"
        r = microvm.microvm_known_hosts(text, self.keys(), replace=True)
        self.assertEqual(r["content"], "keep.me " + KEY_B + "\nother " + KEY_B + "\n10.0.0.1,cp1 " + KEY_A + "\n")
        self.assertEqual((r["replaced"], r["added"], r["conflicts"]), (["cp1"], [], []))

    def test_ssh_names_are_the_names_the_deploy_writes(self):
        self.assertEqual(microvm.microvm_ssh_names(["cp1", "w1"], HOSTVARS),
                         microvm.microvm_host_keys(INSTALLED, HOSTVARS)[0]["names"] + microvm._ssh_names(HOSTVARS, "w1"))

    def test_forget_takes_the_names_off_and_drops_a_line_left_without_one(self):
        salt = base64.b64encode(b"0123456789abcdefghij").decode()
        mac = base64.b64encode(hmac.new(b"0123456789abcdefghij", b"10.0.0.1", hashlib.sha1).digest()).decode()
        comment = "# cp1 10.0.0.1\n"
        marked = "@revoked cp1 " + KEY_B + "\n!cp1,*.site " + KEY_B + "\nother " + KEY_B + "\n"
        last = "last " + KEY_A  # no newline at the end
        text = (comment + "10.0.0.1,cp1 " + KEY_A + "\n" + "keep.me,cp1\t" + KEY_B + " c\n" +
                "|1|%s|%s %s\n" % (salt, mac, KEY_A) + marked + last)
        r = microvm.microvm_known_hosts_forget(text, ["10.0.0.1", "cp1"])
        self.assertEqual(r["content"], comment + "keep.me\t" + KEY_B + " c\n" + marked + last)
        self.assertEqual((r["rewrite"], r["forgotten"], r["conflicts"]), (True, ["10.0.0.1", "cp1"], []))
        again = microvm.microvm_known_hosts_forget(r["content"], ["10.0.0.1", "cp1"])
        self.assertEqual((again["rewrite"], again["content"], again["forgotten"]), (False, r["content"], []))



class OrphansTest(unittest.TestCase):
    def test_a_vm_on_a_hypervisor_that_the_inventory_does_not_name_is_an_orphan(self):
        infos = {
            "hv1": {"host": {"vms_present": ["cp1", "gone", "w1"]}},
            "hv2": {"host": {"vms_present": ["cp2"]}},
            "hv3": {"unreachable": True, "msg": "no route"},
        }
        self.assertEqual(microvm.microvm_orphans(infos, HOSTVARS, GROUPS), {"hv1": ["gone"]})

    def test_a_vm_of_the_inventory_on_another_hypervisor_is_an_orphan_where_it_is_not_declared(self):
        infos = {"hv2": {"host": {"vms_present": ["cp1", "cp2"]}}}
        self.assertEqual(microvm.microvm_orphans(infos, HOSTVARS, GROUPS), {"hv2": ["cp1"]})


def _deploy(path, n, barrier):
    """One deploy writing VM n's key (a child process of KnownHostsFileTest)."""
    keys = [{"vm": "vm%d" % n, "host": "hv1", "names": ["10.0.1.%d" % n], "key": KEY_A}]
    barrier.wait()
    known_hosts.update(path, lambda text: microvm.microvm_known_hosts(text, keys))


class KnownHostsFileTest(unittest.TestCase):
    def setUp(self):
        self.dir = tempfile.mkdtemp()
        self.path = os.path.join(self.dir, "known_hosts")

    def test_concurrent_deploys_keep_every_line(self):
        # Without the lock, most runs lose lines: each process reads the file before the
        # others have written it.
        n = 12
        with open(self.path, "w") as f:
            f.write("other " + KEY_B + "\n")
        barrier = multiprocessing.Barrier(n)
        procs = [multiprocessing.Process(target=_deploy, args=(self.path, i, barrier)) for i in range(n)]
        for p in procs:
            p.start()
        for p in procs:
            p.join(30)
            self.assertEqual(p.exitcode, 0)
        with open(self.path) as f:
            lines = f.read().splitlines()
        self.assertEqual(lines[0], "other " + KEY_B)
        self.assertEqual(sorted(lines[1:]), sorted("10.0.1.%d %s" % (i, KEY_A) for i in range(n)))
        self.assertEqual(os.listdir(self.dir), ["known_hosts"], "no temp file or lock file is left")

    def test_a_new_file_is_0644_an_existing_one_keeps_its_mode_and_check_writes_nothing(self):
        keys = [{"vm": "cp1", "host": "hv1", "names": ["10.0.0.1"], "key": KEY_A}]
        compute = lambda text: microvm.microvm_known_hosts(text, keys)  # noqa: E731
        r = known_hosts.update(self.path, compute, check=True)
        self.assertEqual((r["rewrite"], r["written"], os.path.exists(self.path)), (True, False, False))
        r = known_hosts.update(self.path, compute)
        self.assertEqual((r["written"], stat.S_IMODE(os.stat(self.path).st_mode)), (True, 0o644))
        os.chmod(self.path, 0o600)
        keys.append({"vm": "w1", "host": "hv1", "names": ["10.0.0.3"], "key": KEY_B})
        r = known_hosts.update(self.path, compute)
        self.assertEqual((r["written"], stat.S_IMODE(os.stat(self.path).st_mode)), (True, 0o600))
        r = known_hosts.update(self.path, compute)
        self.assertEqual((r["rewrite"], r["written"]), (False, False))

    def test_a_conflict_writes_nothing_and_a_symlink_is_followed(self):
        real = os.path.join(self.dir, "real")
        with open(real, "w") as f:
            f.write("10.0.0.1 " + KEY_B + "\n")
        os.symlink("real", self.path)
        keys = [{"vm": "cp1", "host": "hv1", "names": ["10.0.0.1"], "key": KEY_A}]
        r = known_hosts.update(self.path, lambda text: microvm.microvm_known_hosts(text, keys))
        self.assertEqual((len(r["conflicts"]), r["written"]), (1, False))
        r = known_hosts.update(self.path, lambda text: microvm.microvm_known_hosts(text, keys, replace=True))
        self.assertTrue(r["written"])
        self.assertTrue(os.path.islink(self.path))
        with open(real) as f:
            self.assertEqual(f.read(), "10.0.0.1 " + KEY_A + "\n")


if __name__ == "__main__":
    unittest.main()
