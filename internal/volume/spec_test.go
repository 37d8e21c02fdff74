package volume

import (
	"os"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/business-operations/bo.microvm/internal/ansible"
)

func TestParseSize(t *testing.T) {
	cases := []struct {
		in   any
		want int64
		err  string
	}{
		{int64(512), 512, ""},
		{512, 512, ""},
		{float64(1024), 1024, ""},
		{"512", 512, ""},
		{"512M", 512, ""},
		{"512MiB", 512, ""},
		{"20G", 20480, ""},
		{"20g", 20480, ""},
		{"1.5G", 1536, ""},
		{"1T", 1048576, ""},
		{"0", 0, "must be positive"},
		{int64(-1), 0, "must be positive"},
		{"20K", 0, `unknown unit "K"`},
		{"1.3M", 0, "not a whole number of MiB"},
		{float64(1.5), 0, "not a whole number of MiB"},
		{"lots", 0, "is not a size"},
		{true, 0, "must be a number of MiB"},
	}
	for _, tc := range cases {
		t.Run(ansible.String(tc.in), func(t *testing.T) {
			got, err := ParseSize(tc.in)
			if tc.err != "" {
				require.Error(t, err)
				assert.Contains(t, err.Error(), tc.err)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tc.want, got)
		})
	}
}

func TestParseModeReadsOctalStringsAndYAMLIntegers(t *testing.T) {
	cases := []struct {
		in   any
		want os.FileMode
		err  string
	}{
		{"0660", 0o660, ""},
		{"640", 0o640, ""},
		{int64(432), 0o660, ""},
		{nil, DefaultMode, ""},
		{"rw-rw----", 0, "not an octal mode"},
		{"04755", 0, "bits beyond 0777"},
	}
	for _, tc := range cases {
		t.Run(ansible.String(tc.in), func(t *testing.T) {
			got, err := ParseMode(tc.in)
			if tc.err != "" {
				require.Error(t, err)
				assert.Contains(t, err.Error(), tc.err)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tc.want, got)
		})
	}
}

func TestValidateNamesTheOptionAndTheRule(t *testing.T) {
	one := func(v Volume) Request { return Request{FromName: true, VMs: []VM{{Name: "a", Volumes: []Volume{v}}}} }
	cases := []struct {
		name string
		r    Request
		want string
	}{
		{"no VM", Request{}, "name: give a VM"},
		{"a bad VM name", Request{FromName: true, VMs: []VM{{Name: "a/b"}}}, `name: VM name "a/b" must not contain '/'`},
		{"a bad VM name in a list", Request{FromName: true, VMs: []VM{{Name: "a"}, {Name: "a/b"}}}, `name[1]: VM name "a/b"`},
		{"a bad VM name in vms", Request{VMs: []VM{{Name: "a"}, {Name: "a/b"}}}, `vms[1].name: VM name "a/b"`},
		{"a VM twice", Request{VMs: []VM{{Name: "a"}, {Name: "a"}}}, "vms[1].name: VM a is listed twice"},
		{"a volume of the second VM in vms", Request{VMs: []VM{{Name: "a"}, {Name: "b", Volumes: []Volume{{Path: "v.img", FSType: Ext4}}}}}, "vms[1].volumes[0].size: is required"},
		{"no path", one(Volume{SizeMiB: 1, FSType: Ext4}), "volumes[0].path: is required"},
		{"a path that leaves the VM directory", one(Volume{Path: "../b/var.img", SizeMiB: 1, FSType: Ext4}), "volumes[0].path: \"../b/var.img\" leaves the VM directory"},
		{"no size", one(Volume{Path: "v.img", FSType: Ext4}), "volumes[0].size: is required with state=present"},
		{"an unknown fs_type", one(Volume{Path: "v.img", SizeMiB: 1, FSType: "ntfs"}), "volumes[0].fs_type: must be one of"},
		{"an xfs label too long", one(Volume{Path: "v.img", SizeMiB: 300, FSType: XFS, Label: "thirteenchars"}), "volumes[0].label: \"thirteenchars\" is 13 characters; xfs labels hold at most 12"},
		{"a label on a raw image", one(Volume{Path: "v.img", SizeMiB: 1, FSType: None, Label: "x"}), "volumes[0].label: a raw image"},
		{"a path twice", Request{FromName: true, VMs: []VM{{Name: "a", Volumes: []Volume{{Path: "v.img", SizeMiB: 1, FSType: Ext4}, {Path: "./v.img", SizeMiB: 1, FSType: Ext4}}}}}, "volumes[1].path: ./v.img is listed twice"},
		{"absent needs no size", Request{Absent: true, VMs: []VM{{Name: "a", Volumes: []Volume{{Path: "v.img"}}}}}, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			err := Validate(tc.r)
			if tc.want == "" {
				assert.NoError(t, err)
				return
			}
			require.Error(t, err)
			assert.Contains(t, err.Error(), tc.want)
		})
	}
}

func TestRequestFromParams(t *testing.T) {
	t.Run("name and volumes make one VM", func(t *testing.T) {
		r, err := RequestFromParams(ansible.Params{"name": []any{"a"}, "state": "present", "volumes": []any{
			map[string]any{"path": "var.img", "size": "1G", "fs_type": "ext4", "label": "var", "owner": "microvm", "group": "kvm", "mode": "0660"},
		}}, true)
		require.NoError(t, err)
		assert.True(t, r.Check)
		assert.Equal(t, []VM{{Name: "a", Volumes: []Volume{{Path: "var.img", SizeMiB: 1024, FSType: "ext4", Label: "var", Owner: "microvm", Group: "kvm", Mode: 0o660}}}}, r.VMs)
	})
	t.Run("a list of names gives each VM the same volumes", func(t *testing.T) {
		r, err := RequestFromParams(ansible.Params{"name": []any{"a", "b"}, "volumes": []any{
			map[string]any{"path": "var.img", "size": int64(512), "fs_type": "ext4", "owner": "microvm", "group": "kvm", "mode": "0660"},
		}}, false)
		require.NoError(t, err)
		require.Len(t, r.VMs, 2)
		assert.Equal(t, "b", r.VMs[1].Name)
		assert.Equal(t, r.VMs[0].Volumes, r.VMs[1].Volumes)
	})
	t.Run("vms make several", func(t *testing.T) {
		r, err := RequestFromParams(ansible.Params{"state": "absent", "purge": true, "vms": []any{
			map[string]any{"name": "a", "volumes": []any{map[string]any{"path": "var.img"}}},
			map[string]any{"name": "b", "volumes": []any{map[string]any{"path": "ceph.img"}}},
		}}, false)
		require.NoError(t, err)
		assert.True(t, r.Absent)
		assert.True(t, r.Purge)
		require.Len(t, r.VMs, 2)
		assert.Equal(t, "ceph.img", r.VMs[1].Volumes[0].Path)
	})
	t.Run("a bad size names its place", func(t *testing.T) {
		_, err := RequestFromParams(ansible.Params{"vms": []any{
			map[string]any{"name": "a", "volumes": []any{map[string]any{"path": "var.img", "size": "big"}}},
		}}, false)
		require.Error(t, err)
		assert.Contains(t, err.Error(), "vms[0].volumes[0].size:")
	})
}
