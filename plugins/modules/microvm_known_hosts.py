# -*- coding: utf-8 -*-
# Copyright: bo.microvm developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# Documentation only: bo.microvm.microvm_known_hosts is an action that runs on the controller
# (plugins/action/microvm_known_hosts.py), like ansible.builtin.debug, whose documentation is a
# module file of the same name (ansible/ansible lib/ansible/modules/debug.py). It lets
# ansible-doc, ansible-doc -l and ansible-lint find the action.
from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: microvm_known_hosts
short_description: Put the microVMs' SSH host keys into a known_hosts file on the controller
description:
  - Writes the SSH host keys that M(bo.microvm.microvm_install) made on the hypervisors (its C(ssh_host_key)
    result per VM) into a known_hosts file on the controller, so that playbooks against the guests can
    run with C(StrictHostKeyChecking=yes) from the first connection on. The role C(bo.microvm.microvm_deploy)
    runs it once per play, after every install and before the VMs start.
  - Every line that is not about a VM's names stays byte for byte (comments, other hosts, hashed names,
    C(@cert-authority) and C(@revoked) lines).
  - A VM whose known key differs from its new one fails the task, naming both fingerprints, and leaves
    the file as it was, unless I(replace) is true.
  - The read, the change and the write happen under an exclusive lock on the file's directory, so two
    runs writing the same file at once both keep their lines. A missing file is created with mode 0644;
    an existing one keeps its mode. A symlink is followed.
  - With I(forget), takes names off the file first, as C(ssh-keygen -R) does for one name. Each name goes off
    every line that has it, plain or hashed, and a line left with no name goes. The role C(bo.microvm.microvm_destroy)
    does this for the VMs it destroys with C(microvm_destroy_purge_volumes), whose host keys the purge deleted,
    so that a VM deployed again under the same name gets its new key written instead of a conflict.
  - Runs on the controller only; it never connects to the target.
version_added: "0.1.0"
author:
  - bo.microvm developers
options:
  path:
    description:
      - The known_hosts file on the controller. C(~) is expanded.
    type: path
    required: true
  keys:
    description:
      - The VMs' keys, as the filter C(bo.microvm.microvm_host_keys) makes them from the
        M(bo.microvm.microvm_install) results; a list of dicts with C(vm), C(host) (its hypervisor),
        C(names) (the names ssh looks the VM up by) and C(key) (C(type base64)).
    type: list
    elements: dict
    default: []
  replace:
    description:
      - Take a VM's names off lines that carry another key and write the new one, instead of failing.
      - For a VM that was given a new key on purpose (destroyed with purge and deployed again).
    type: bool
    default: false
  forget:
    description:
      - Names (as ssh looks hosts up in known_hosts) to take off every line before I(keys) are written, as
        the filter C(bo.microvm.microvm_ssh_names) makes them from VM names. Comments, other names, negated
        and wildcard patterns, C(@cert-authority) and C(@revoked) lines stay.
    type: list
    elements: str
    default: []
attributes:
  check_mode:
    support: full
    description: Reports what it would add or replace and writes nothing.
  diff_mode:
    support: full
    description: Shows the file before and after.
  platform:
    support: full
    platforms: posix
    description: Runs on the controller.
notes:
  - The role C(bo.microvm.microvm_deploy) passes its variables C(microvm_known_hosts) (default
    C(known_hosts) beside the inventory; empty to skip the task) and C(microvm_known_hosts_replace).
"""

EXAMPLES = r"""
- name: Write the VMs' host keys to the controller's known_hosts
  bo.microvm.microvm_known_hosts:
    path: "{{ inventory_dir }}/known_hosts"
    keys: "{{ installed | bo.microvm.microvm_host_keys(hostvars) }}"
  vars:
    installed: "{{ ansible_play_hosts_all | map('extract', hostvars, 'bo_microvm_installed') | list }}"
  run_once: true

- name: Forget two destroyed VMs' host keys
  bo.microvm.microvm_known_hosts:
    path: "{{ inventory_dir }}/known_hosts"
    forget: "{{ ['k0s-w1', 'k0s-w2'] | bo.microvm.microvm_ssh_names(hostvars) }}"
  run_once: true
"""

RETURN = r"""
path:
  description: The file written (symlinks resolved).
  returned: always
  type: str
added:
  description: The VMs whose key was added.
  returned: always
  type: list
  elements: str
replaced:
  description: The VMs whose old key was replaced (only with I(replace)).
  returned: always
  type: list
  elements: str
conflicts:
  description: The VMs whose known key differs from the new one (vm, host, name, line of the known key in the file, known and new key); the task failed.
  returned: always
  type: list
  elements: dict
forgotten:
  description: The names of I(forget) that were in the file and were taken off.
  returned: always
  type: list
  elements: str
"""
