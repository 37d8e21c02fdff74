package service

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func enabledReq(on bool, names ...string) Request {
	r := req(Unset, names...)
	r.Enabled = &on
	return r
}

func TestEnabledTrueWritesAPersistentWantLinkAndReloadsOnce(t *testing.T) {
	e := newEnv(t)
	install(t, e.h, "a", runnerA, "")
	install(t, e.h, "b", runnerA, "")

	r := enabledReq(true, "a", "b")
	r.Check = true
	rep, err := e.svc.Apply(context.Background(), r)
	require.NoError(t, err)
	assert.True(t, rep.Changed)
	assert.Equal(t, []string{"a", "b"}, rep.Summary.Enabled)
	assert.NoDirExists(t, e.h.Path(PersistentWantsDir), "check mode writes nothing")
	assert.Zero(t, e.sd.reloads)

	r.Check = false
	rep, err = e.svc.Apply(context.Background(), r)
	require.NoError(t, err)
	assert.True(t, rep.Changed)
	link := e.h.Path(filepath.Join(PersistentWantsDir, "microvm@a.service"))
	target, err := os.Readlink(link)
	require.NoError(t, err)
	assert.Equal(t, "/etc/systemd/system/microvm@.service", target, "the link points at the template's fragment, as systemctl add-wants makes it")
	assert.Equal(t, 1, e.sd.reloads, "one daemon-reload for both VMs")
	assert.ElementsMatch(t, []string{"microvm@a.service", "microvm@b.service"}, e.sd.wants)
	assert.Equal(t, &Autostart{Before: false, After: true, Changed: true, Via: "/etc/systemd/system.control/microvms.target.wants/microvm@a.service"}, rep.VMs["a"].Enabled)
	assert.Empty(t, e.sd.jobList(), "enabled alone starts nothing")

	rep, err = e.svc.Apply(context.Background(), r)
	require.NoError(t, err)
	assert.False(t, rep.Changed, "the second run changes nothing")
	assert.Equal(t, 1, e.sd.reloads)
}

func TestEnabledTrueOverARuntimeOnlyWantMakesItPersistent(t *testing.T) {
	e := newEnv(t)
	install(t, e.h, "a", runnerA, "")
	rt := e.h.Path("/run/systemd/system/microvms.target.wants/microvm@a.service")
	require.NoError(t, os.MkdirAll(filepath.Dir(rt), 0o755))
	require.NoError(t, os.Symlink("/etc/systemd/system/microvm@.service", rt))
	require.NoError(t, e.sd.Reload(context.Background()))

	rep, err := e.svc.Apply(context.Background(), enabledReq(true, "a"))
	require.NoError(t, err)
	assert.True(t, rep.Changed)
	assert.False(t, rep.VMs["a"].Enabled.Before, "a runtime want does not survive a reboot")
	assert.FileExists(t, e.h.Path(filepath.Join(PersistentWantsDir, "microvm@a.service")))
}

func TestEnabledTrueForAVMTheHostConfigAutostartsChangesNothing(t *testing.T) {
	e := newEnv(t)
	install(t, e.h, "a", runnerA, "")
	e.sd.declared = []string{"microvm@a.service"}
	e.sd.wants = e.sd.declared
	rep, err := e.svc.Apply(context.Background(), enabledReq(true, "a"))
	require.NoError(t, err)
	assert.False(t, rep.Changed)
	assert.Equal(t, "host configuration (microvm.autostart)", rep.VMs["a"].Enabled.Via)
	assert.NoDirExists(t, e.h.Path(PersistentWantsDir))
}

func TestEnabledFalseRemovesEveryImperativeWant(t *testing.T) {
	e := newEnv(t)
	install(t, e.h, "a", runnerA, "")
	for _, d := range []string{PersistentWantsDir, "/run/systemd/system/microvms.target.wants"} {
		require.NoError(t, os.MkdirAll(e.h.Path(d), 0o755))
		require.NoError(t, os.Symlink("/etc/systemd/system/microvm@.service", e.h.Path(filepath.Join(d, "microvm@a.service"))))
	}
	require.NoError(t, e.sd.Reload(context.Background()))

	r := enabledReq(false, "a")
	r.Check = true
	rep, err := e.svc.Apply(context.Background(), r)
	require.NoError(t, err)
	assert.True(t, rep.Changed)
	assert.FileExists(t, e.h.Path(filepath.Join(PersistentWantsDir, "microvm@a.service")))

	r.Check = false
	rep, err = e.svc.Apply(context.Background(), r)
	require.NoError(t, err)
	assert.True(t, rep.Changed)
	assert.Equal(t, []string{"a"}, rep.Summary.Disabled)
	assert.NoFileExists(t, e.h.Path(filepath.Join(PersistentWantsDir, "microvm@a.service")))
	assert.NoFileExists(t, e.h.Path("/run/systemd/system/microvms.target.wants/microvm@a.service"))
	assert.Empty(t, e.sd.wants)

	rep, err = e.svc.Apply(context.Background(), r)
	require.NoError(t, err)
	assert.False(t, rep.Changed)
}

func TestEnabledFalseForAVMTheHostConfigAutostartsIsRefused(t *testing.T) {
	e := newEnv(t)
	install(t, e.h, "a", runnerA, "")
	e.sd.declared = []string{"microvm@a.service"}
	e.sd.wants = e.sd.declared
	_, err := e.svc.Apply(context.Background(), enabledReq(false, "a"))
	require.Error(t, err)
	assert.Contains(t, err.Error(), "its autostart comes from the host's NixOS configuration (microvm.autostart or microvm.vms.a.autostart)")
	assert.Zero(t, e.sd.reloads)
}

func TestEnabledNeedsMicrovmsTarget(t *testing.T) {
	e := newEnv(t)
	install(t, e.h, "a", runnerA, "")
	e.sd.noTarget = true
	_, err := e.svc.Apply(context.Background(), enabledReq(true, "a"))
	require.Error(t, err)
	assert.Contains(t, err.Error(), "enabled: microvms.target is not-found on this host")
}

func TestEnabledAndStartedTogether(t *testing.T) {
	e := newEnv(t)
	install(t, e.h, "a", runnerA, "")
	e.sd.set("microvm@a.service", "inactive")
	r := req(Started, "a")
	on := true
	r.Enabled = &on
	rep, err := e.svc.Apply(context.Background(), r)
	require.NoError(t, err)
	assert.Equal(t, "started a; enabled autostart of a", rep.Msg(false))
	d := rep.Diff()
	assert.Contains(t, d.Before, "microvm@a.service autostart: disabled")
	assert.Contains(t, d.After, "microvm@a.service autostart: enabled")
}

func TestEnabledFalseWithALinkAndAHostConfigWantRemovesTheLinkAndFails(t *testing.T) {
	e := newEnv(t)
	install(t, e.h, "a", runnerA, "")
	e.sd.declared = []string{"microvm@a.service"}
	l := e.h.Path(filepath.Join(PersistentWantsDir, "microvm@a.service"))
	require.NoError(t, os.MkdirAll(filepath.Dir(l), 0o755))
	require.NoError(t, os.Symlink("/etc/systemd/system/microvm@.service", l))
	require.NoError(t, e.sd.Reload(context.Background()))

	rep, err := e.svc.Apply(context.Background(), enabledReq(false, "a"))
	require.Error(t, err)
	assert.Contains(t, err.Error(), "still wants microvm@a.service: its autostart comes from the host's NixOS configuration")
	assert.NoFileExists(t, l)
	assert.True(t, rep.VMs["a"].Enabled.After, "it still starts at boot")
}
