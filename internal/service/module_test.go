package service

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/business-operations/bo.microvm/internal/ansible"
)

func TestRequestFromParams(t *testing.T) {
	t.Run("wait_for.host serves a single VM", func(t *testing.T) {
		r, err := RequestFromParams(ansible.Params{"name": []any{"a"}, "state": "started", "timeout": int64(60), "enabled": true,
			"wait_for": map[string]any{"host": "198.18.0.101", "port": int64(22), "timeout": int64(120)}}, true)
		require.NoError(t, err)
		assert.Equal(t, Request{Names: []string{"a"}, State: Started, JobTimeout: time.Minute, Enabled: r.Enabled, Check: true,
			WaitFor: &WaitFor{Hosts: map[string]string{"a": "198.18.0.101"}, Port: 22, Timeout: 2 * time.Minute}}, r)
		require.NotNil(t, r.Enabled)
		assert.True(t, *r.Enabled)
	})
	t.Run("wait_for.host with several VMs asks for hosts", func(t *testing.T) {
		_, err := RequestFromParams(ansible.Params{"name": []any{"a", "b"}, "timeout": int64(60),
			"wait_for": map[string]any{"host": "x", "port": int64(22), "timeout": int64(1)}}, false)
		require.Error(t, err)
		assert.Contains(t, err.Error(), "wait_for.host: gives one address but name lists 2 VMs; use wait_for.hosts")
	})
	t.Run("wait_for.hosts must map names to strings", func(t *testing.T) {
		_, err := RequestFromParams(ansible.Params{"name": []any{"a"}, "timeout": int64(60),
			"wait_for": map[string]any{"hosts": map[string]any{"a": []any{"x"}}, "port": int64(22), "timeout": int64(1)}}, false)
		require.Error(t, err)
		assert.Contains(t, err.Error(), "wait_for.hosts.a: must be an address string")
	})
	t.Run("enabled absent leaves autostart alone", func(t *testing.T) {
		r, err := RequestFromParams(ansible.Params{"name": []any{"a"}, "state": "stopped", "timeout": int64(60)}, false)
		require.NoError(t, err)
		assert.Nil(t, r.Enabled)
		assert.Nil(t, r.WaitFor)
	})
}

func TestModuleResultCarriesVMsSummaryMsgAndDiff(t *testing.T) {
	rep := &Report{VMs: map[string]*VM{"a": {Unit: "microvm@a.service", Before: "inactive", After: "active", Action: ActionStarted}}}
	rep.summarize()
	res := ModuleResult(rep, false)
	assert.True(t, res.Changed)
	assert.Equal(t, "started a", res.Msg)
	assert.Equal(t, rep.VMs, res.Values["vms"])
	assert.Equal(t, []string{"a"}, res.Values["summary"].(Summary).Started)
	require.Len(t, res.Diff, 1)
	assert.Equal(t, "microvm@a.service: inactive\n", res.Diff[0].Before)
	assert.NotNil(t, ModuleResult(nil, false), "a refused request still gives a result")
}
