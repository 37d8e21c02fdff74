package install

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/business-operations/bo.microvm/internal/ansible"
)

func TestRequestFromReadsRunnerAsAPathOrADict(t *testing.T) {
	for _, tc := range []struct {
		name    string
		params  ansible.Params
		want    map[string]string
		wantErr string
	}{
		{"one VM with a store path", ansible.Params{"name": []any{"a"}, "state": "present", "runner": "/nix/store/x-microvm-qemu-a", "parallel": 4},
			map[string]string{"a": "/nix/store/x-microvm-qemu-a"}, ""},
		{"a list of VMs with a dict", ansible.Params{"name": []any{"a", "b"}, "state": "present", "runner": map[string]any{"a": "/nix/store/x", "b": "/nix/store/y"}, "parallel": 4},
			map[string]string{"a": "/nix/store/x", "b": "/nix/store/y"}, ""},
		{"a list of VMs with one path", ansible.Params{"name": []any{"a", "b"}, "state": "present", "runner": "/nix/store/x", "parallel": 4},
			nil, "runner: a single store path fits one VM; for 2 VMs give a dict"},
		{"a dict with a non-string path", ansible.Params{"name": []any{"a"}, "state": "present", "runner": map[string]any{"a": 3}, "parallel": 4},
			nil, "runner: the runner of a must be a store path string"},
		{"a list as runner", ansible.Params{"name": []any{"a"}, "state": "present", "runner": []any{"/nix/store/x"}, "parallel": 4},
			nil, "runner: must be a store path or a dict"},
		{"parallel zero", ansible.Params{"name": []any{"a"}, "state": "present", "flake": "path:/s", "parallel": 0},
			nil, "parallel: must be at least 1"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req, err := RequestFrom(tc.params, false)
			if tc.wantErr != "" {
				assert.ErrorContains(t, err, tc.wantErr)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tc.want, req.Runners)
		})
	}
}

func TestResultCarriesEveryVMAndTheSummary(t *testing.T) {
	rep := &Report{
		VMs: map[string]*VM{
			"a": {Name: "a", Changed: true, RestartRequired: true, Changes: []string{"current: x -> y"}},
			"b": {Name: "b", Failed: true, Msg: "boom", Changes: []string{}},
		},
		Changed: true, ChangedVMs: []string{"a"}, RestartRequired: []string{"a"}, FailedVMs: []string{"b"},
		NixVersion: "2.8.0",
		Diffs:      []Diff{{Header: "/var/lib/microvms/a", Before: "current -> x\n", After: "current -> y\n"}},
	}
	res := rep.Result()
	assert.True(t, res.Changed)
	assert.Equal(t, []string{"a"}, res.Values["changed_vms"])
	assert.Equal(t, []string{"a"}, res.Values["restart_required"])
	assert.Equal(t, []string{"b"}, res.Values["failed_vms"])
	assert.Equal(t, "2.8.0", res.Values["nix_version"])
	assert.Equal(t, "changed: a; restart required (booted differs from current): a; failed: b", res.Msg)
	require.Len(t, res.Diff, 1)
	assert.Equal(t, "current -> y\n", res.Diff[0].After)
	assert.ErrorContains(t, rep.Err(), "1 of 2 VMs failed (the others are reported under vms): b: boom")

	empty := (&Report{VMs: map[string]*VM{"b": {Name: "b"}, "a": {Name: "a"}}}).Result()
	assert.Equal(t, []string{}, empty.Values["changed_vms"], "lists are empty, never null")
	assert.Equal(t, "unchanged: a, b", empty.Msg)
}
