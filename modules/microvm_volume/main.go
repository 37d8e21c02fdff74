// Command microvm_volume is the bo.microvm.microvm_volume module: create and grow a
// microVM's disk images on its hypervisor; never shrink or reformat them.
package main

import (
	"github.com/business-operations/bo.microvm/internal/ansible"
	"github.com/business-operations/bo.microvm/internal/statedir"
	"github.com/business-operations/bo.microvm/internal/volume"
)

func main() {
	ansible.Main(ansible.Module{
		Name:             "microvm_volume",
		ShortDescription: "Create and grow microVM disk images on a microvm.nix hypervisor",
		Description: []string{
			"Creates each volume of a VM as a sparse image file with a filesystem (C(ext4), C(xfs), C(btrfs)) or raw (C(none), e.g. a Rook-Ceph OSD disk), as microvm.nix's C(autoCreate) would, but before the VM starts and with the owner and mode you give.",
			"A new image is made beside its path (sparse file, mkfs with the label, owner, mode, fsync) and renamed into place without replacing anything: an interrupted run leaves no half-made image, and the next run removes its leftovers.",
			"Grows an image when C(size) grows. An ext4 filesystem of a stopped VM is grown offline (C(e2fsck -fy), C(resize2fs)); xfs and btrfs cannot grow offline, and a running VM's filesystem must not be touched from the host: the result then says what to run in the guest (C(guest_action)).",
			"Never shrinks an image and never reformats one: a smaller C(size), a different C(fs_type) than the image holds, or data without a filesystem signature (non-zero bytes, e.g. a raw Ceph disk) is an error that names the volume, whatever the other arguments. An existing image that is provably empty (no signature, only zero bytes) is given its filesystem.",
			"A running VM's volumes can grow, be created and get their owner and mode fixed (the guest does not notice); formatting or deleting them is refused. Whether a VM runs is read from systemd.",
			"With C(state=absent), deletes images only with C(purge=true); without it the module fails and says so.",
			"Holds the per-VM lock (C(/run/lock/bo-microvm/NAME.lock)) shared with the other lifecycle modules.",
		},
		Notes: []string{
			"Runs as root on the hypervisor: delegate the task to the VM's C(microvm_host). Needs C(blkid), C(mkfs.ext4)/C(e2fsck)/C(resize2fs)/C(dumpe2fs) (e2fsprogs), and C(mkfs.xfs) or C(mkfs.btrfs) for those types.",
			"Check mode reads the images (stat, C(blkid -p), C(dumpe2fs -h)) and the unit states and predicts exactly; it changes nothing.",
			"Give either C(name) with C(volumes) (one VM), or C(vms) (several VMs of this hypervisor in one task).",
		},
		Spec: ansible.Spec{Options: []ansible.Option{
			{Name: "name", Type: ansible.List, Elements: ansible.Str, Description: []string{"The VM (its state directory name), or a list of VMs that all get the same C(volumes)."}},
			{Name: "volumes", Type: ansible.List, Elements: ansible.Dict, Options: volume.VolumeOptions(), Description: []string{"The VM's volumes (the inventory's C(microvm_volumes))."}},
			{Name: "vms", Type: ansible.List, Elements: ansible.Dict, Description: []string{"Several VMs, each with its volumes, handled in one invocation."}, Options: []ansible.Option{
				{Name: "name", Required: true, Description: []string{"The VM."}},
				{Name: "volumes", Type: ansible.List, Elements: ansible.Dict, Required: true, Options: volume.VolumeOptions(), Description: []string{"Its volumes, as in C(volumes)."}},
			}},
			{Name: "state", Default: "present", Choices: []any{"present", "absent"}, Description: []string{"C(present) creates and grows; C(absent) deletes (with C(purge) only)."}},
			{Name: "purge", Type: ansible.Bool, Default: false, Description: []string{"With C(state=absent): really delete the images and their data."}},
			{Name: "state_dir", Type: ansible.Path, Default: statedir.DefaultStateDir, Description: []string{"microvm.nix's C(microvm.stateDir) on the hypervisor."}},
		}, Rules: ansible.Rules{
			MutuallyExclusive: [][]string{{"name", "vms"}, {"volumes", "vms"}},
			RequiredOneOf:     [][]string{{"name", "vms"}},
			RequiredTogether:  [][]string{{"name", "volumes"}},
		}},
		CheckMode: ansible.Full,
		DiffMode:  ansible.Full,
		Examples: `
- name: Create the VM's /var image and its raw Ceph disk
  bo.microvm.microvm_volume:
    name: k0s-cp1
    volumes:
      - {path: var.img, size: 512, fs_type: ext4, label: var}
      - {path: ceph.img, size: 20G, fs_type: none}

- name: Create the volumes of two VMs in one task
  bo.microvm.microvm_volume:
    vms:
      - name: k0s-cp1
        volumes: "{{ hostvars['k0s-cp1'].microvm_volumes }}"
      - name: k0s-w1
        volumes:
          - {path: var.img, size: 1G, label: var}

- name: Grow a volume (ext4 offline when the VM is stopped; otherwise the result says what the guest must do)
  bo.microvm.microvm_volume:
    name: k0s-cp1
    volumes:
      - {path: var.img, size: 2G, fs_type: ext4, label: var}

- name: Delete a VM's images and their data
  bo.microvm.microvm_volume:
    name: k0s-w9
    volumes:
      - {path: var.img}
      - {path: ceph.img}
    state: absent
    purge: true
`,
		Returns: []ansible.Return{
			{Name: "vms", Type: "dict", Returned: "always, unless the arguments were refused", Description: "Per VM: C(running) (bool), C(volumes) (list, below), C(error) (when refused or failed).", Contains: []ansible.Return{
				{Name: "running", Type: "bool", Returned: "always", Description: "The VM's unit was up (anything but inactive or failed)."},
				{Name: "volumes", Type: "list", Elements: "dict", Returned: "always", Description: "One entry per volume.", Contains: []ansible.Return{
					{Name: "path", Type: "str", Returned: "always", Description: "The path as given."},
					{Name: "image", Type: "str", Returned: "always", Description: "The image file on the hypervisor.", Sample: "/var/lib/microvms/k0s-cp1/var.img"},
					{Name: "action", Type: "str", Returned: "always", Description: "C(created), C(grown), C(formatted), C(resized) (finished an interrupted ext4 grow), C(attributes) (owner or mode), C(deleted) or C(none)."},
					{Name: "changes", Type: "list", Elements: "str", Returned: "always", Description: "Each change made (predicted in check mode), in words."},
					{Name: "exists", Type: "bool", Returned: "always", Description: "The image exists after the run."},
					{Name: "size_mib_before", Type: "int", Returned: "always", Description: "Size before the run, 0 when absent."},
					{Name: "size_mib", Type: "int", Returned: "always", Description: "Size after the run."},
					{Name: "fs_type", Type: "str", Returned: "always", Description: "The filesystem the image holds (blkid's TYPE), empty for a raw image."},
					{Name: "label", Type: "str", Returned: "when it has one", Description: "Its filesystem label."},
					{Name: "filesystem_resize", Type: "str", Returned: "when the image grew", Description: "C(offline) (grown here) or C(guest) (the guest must grow it)."},
					{Name: "guest_action", Type: "str", Returned: "when the guest has something to do", Description: "What to run in the guest, e.g. C(xfs_growfs) after the next start."},
					{Name: "owner", Type: "str", Returned: "when the image exists", Description: "Owner after the run."},
					{Name: "group", Type: "str", Returned: "when the image exists", Description: "Group after the run."},
					{Name: "mode", Type: "str", Returned: "when the image exists", Description: "Mode after the run.", Sample: "0660"},
				}},
			}},
		},
		Run: volume.Run,
	})
}
