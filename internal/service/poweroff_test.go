package service

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/business-operations/bo.microvm/internal/statedir"
)

// running makes unit active with hypervisor pid.
func (f *fakeSystemd) running(unit string, pid uint32) {
	f.set(unit, "active")
	f.mu.Lock()
	defer f.mu.Unlock()
	st := f.units[unit]
	st.MainPID = pid
	f.units[unit] = st
}

// hypervisorExited is what systemd shows after qemu exits by itself: microvm@ waits to
// auto-restart (Restart=always), no main process.
func (f *fakeSystemd) hypervisorExited(unit string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	st := f.units[unit]
	st.ActiveState, st.SubState, st.MainPID = "activating", "auto-restart", 0
	f.units[unit] = st
}

func TestGracefulStopAndRestart(t *testing.T) {
	cases := []struct {
		name    string
		state   State
		guest   string // "obeys": the hypervisor exits after the request; "ignores"; "unreachable": the request fails
		how     string
		detail  string
		jobs    []string
		outcome string
	}{
		{"a guest that powers off is stopped cleanly", Stopped, "obeys", ShutdownClean, "clean after", []string{"stop microvm@a.service"}, "inactive"},
		{"a guest that powers off is restarted cleanly", Restarted, "obeys", ShutdownClean, "clean after", []string{"restart microvm@a.service"}, "active"},
		{"a guest that ignores the request is killed after the timeout", Stopped, "ignores", ShutdownKilled, "killed after 0 s: the guest did not power off within the timeout", []string{"stop microvm@a.service"}, "inactive"},
		{"a guest that cannot be asked is left to systemd's stop", Restarted, "unreachable", ShutdownByUnit, "cannot ask the guest to power off: QMP: no socket", []string{"restart microvm@a.service"}, "active"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t)
			install(t, e.h, "a", runnerA, runnerA)
			e.sd.running("microvm@a.service", 4242)
			var asked []uint32
			var mu sync.Mutex
			e.svc.ShutdownPoll = time.Millisecond
			e.svc.PowerOff = func(_ context.Context, vm statedir.VM, pid uint32) error {
				mu.Lock()
				asked = append(asked, pid)
				mu.Unlock()
				assert.Equal(t, "a", vm.Name)
				switch tc.guest {
				case "obeys":
					// The jobs must not have been queued yet: the guest goes down first.
					assert.Empty(t, e.sd.jobList(), "no job before the guest powered off")
					go func() {
						time.Sleep(20 * time.Millisecond)
						e.sd.hypervisorExited("microvm@a.service")
					}()
				case "unreachable":
					return errors.New("QMP: no socket")
				}
				return nil
			}
			r := req(tc.state, "a")
			r.JobTimeout = 300 * time.Millisecond
			rep, err := e.svc.Apply(context.Background(), r)
			require.NoError(t, err)
			assert.Equal(t, []uint32{4242}, asked, "the guest of the running hypervisor was asked once")
			assert.Equal(t, tc.jobs, e.sd.jobList())
			v := rep.VMs["a"]
			require.NotNil(t, v.Shutdown)
			assert.Equal(t, tc.how, v.Shutdown.How)
			assert.Contains(t, v.Shutdown.Detail, tc.detail)
			assert.Equal(t, tc.outcome, v.After)
			if tc.how == ShutdownClean {
				assert.Less(t, v.Shutdown.Seconds, 0.3)
			}
		})
	}
}

func TestNoShutdownForAStoppedVMOrInCheckMode(t *testing.T) {
	e := newEnv(t)
	install(t, e.h, "a", runnerA, "")
	install(t, e.h, "b", runnerA, runnerA)
	e.sd.set("microvm@a.service", "inactive")
	e.sd.running("microvm@b.service", 7)
	e.svc.PowerOff = func(context.Context, statedir.VM, uint32) error {
		t.Error("PowerOff called")
		return nil
	}
	r := req(Restarted, "a", "b")
	r.Check = true
	rep, err := e.svc.Apply(context.Background(), r)
	require.NoError(t, err)
	assert.Nil(t, rep.VMs["b"].Shutdown, "check mode asks no guest")
	assert.Empty(t, e.sd.jobList())

	e.svc.PowerOff = nil
	rep, err = e.svc.Apply(context.Background(), req(Restarted, "a"))
	require.NoError(t, err)
	assert.Nil(t, rep.VMs["a"].Shutdown, "a stopped VM has nothing to power off")
}

// fakeQMP is a QMP server as qemu 7.2 answers (greeting, then one reply per command, with
// an asynchronous event in between as qemu may send), recording the commands it got.
type fakeQMP struct {
	mu   sync.Mutex
	got  []map[string]any
	fail string // execute name to answer with an error
}

func (q *fakeQMP) serve(t *testing.T, sock string) {
	l, err := net.Listen("unix", sock)
	require.NoError(t, err)
	t.Cleanup(func() { l.Close() })
	go func() {
		c, err := l.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		c.Write([]byte(`{"QMP": {"version": {"qemu": {"micro": 22, "minor": 2, "major": 7}, "package": "Debian 1:7.2+dfsg-7+deb12u18+b3"}, "capabilities": ["oob"]}}` + "\r\n"))
		sc := bufio.NewScanner(c)
		for sc.Scan() {
			var m map[string]any
			if json.Unmarshal(sc.Bytes(), &m) != nil {
				return
			}
			q.mu.Lock()
			q.got = append(q.got, m)
			q.mu.Unlock()
			if m["execute"] == q.fail {
				c.Write([]byte(`{"error": {"class": "GenericError", "desc": "boom"}}` + "\r\n"))
				continue
			}
			c.Write([]byte(`{"timestamp": {"seconds": 1, "microseconds": 2}, "event": "NIC_RX_FILTER_CHANGED"}` + "\r\n" + `{"return": {}}` + "\r\n"))
		}
	}()
}

func TestQMPPowerOffPressesCtrlAltDelOnTheSocketOfTheCommandLine(t *testing.T) {
	// A short root: a socket path has at most 108 bytes.
	root, err := os.MkdirTemp("", "qmp")
	require.NoError(t, err)
	t.Cleanup(func() { os.RemoveAll(root) })
	h := statedir.Host{Root: root}
	svc := &Service{Host: h}
	install(t, h, "a", runnerA, runnerA)
	q := &fakeQMP{}
	q.serve(t, filepath.Join(h.VMDir("a"), "a.sock"))
	// The hypervisor's command line as microvm.nix's qemu runner execs it (exec -a microvm@a):
	// the socket is relative to the VM directory, microvm@'s WorkingDirectory.
	proc := h.Path("/proc/4242")
	require.NoError(t, os.MkdirAll(proc, 0o755))
	args := []string{"microvm@a", "-name", "a", "-M", "microvm,acpi=on", "-no-reboot", "-qmp", "unix:a.sock,server,nowait", "-device", "i8042"}
	require.NoError(t, os.WriteFile(filepath.Join(proc, "cmdline"), []byte(strings.Join(args, "\x00")+"\x00"), 0o644))
	vm, err := h.Read("a")
	require.NoError(t, err)

	require.NoError(t, svc.qmpPowerOff(context.Background(), vm, 4242))
	require.Eventually(t, func() bool { q.mu.Lock(); defer q.mu.Unlock(); return len(q.got) == 2 }, time.Second, time.Millisecond)
	assert.Equal(t, "qmp_capabilities", q.got[0]["execute"])
	assert.Equal(t, "input-send-event", q.got[1]["execute"])
	b, _ := json.Marshal(q.got[1]["arguments"])
	assert.JSONEq(t, `{"events":[{"type":"key","data":{"down":true,"key":{"type":"qcode","data":"ctrl"}}},{"type":"key","data":{"down":true,"key":{"type":"qcode","data":"alt"}}},{"type":"key","data":{"down":true,"key":{"type":"qcode","data":"delete"}}}]}`, string(b),
		"the key press of microvm.nix's microvm-shutdown (lib/runners/qemu.nix at 71beea00)")
}

func TestQMPPowerOffErrors(t *testing.T) {
	e := newEnv(t)
	install(t, e.h, "a", runnerA, runnerA)
	vm, err := e.h.Read("a")
	require.NoError(t, err)
	proc := e.h.Path("/proc/9")
	require.NoError(t, os.MkdirAll(proc, 0o755))

	err = e.svc.qmpPowerOff(context.Background(), vm, 8)
	require.ErrorContains(t, err, "read the hypervisor's command line")

	require.NoError(t, os.WriteFile(filepath.Join(proc, "cmdline"), []byte("microvm@a\x00-name\x00a\x00"), 0o644))
	require.ErrorContains(t, e.svc.qmpPowerOff(context.Background(), vm, 9), "started without -qmp")

	require.NoError(t, os.WriteFile(filepath.Join(proc, "cmdline"), []byte("microvm@a\x00-qmp\x00tcp:127.0.0.1:4444\x00"), 0o644))
	require.ErrorContains(t, e.svc.qmpPowerOff(context.Background(), vm, 9), "is not a unix socket")

	require.NoError(t, os.MkdirAll(e.h.Path(filepath.Join(runnerA, "share", "microvm")), 0o755))
	require.NoError(t, os.WriteFile(e.h.Path(filepath.Join(runnerA, "share", "microvm", "hypervisor")), []byte("cloud-hypervisor\n"), 0o644))
	require.ErrorContains(t, e.svc.qmpPowerOff(context.Background(), vm, 9), "the hypervisor is cloud-hypervisor")

	short, err := os.MkdirTemp("", "qmp")
	require.NoError(t, err)
	t.Cleanup(func() { os.RemoveAll(short) })
	q := &fakeQMP{fail: "input-send-event"}
	q.serve(t, filepath.Join(short, "q.sock"))
	require.ErrorContains(t, qmpCtrlAltDel(context.Background(), filepath.Join(short, "q.sock")), "input-send-event: GenericError: boom")
	require.ErrorContains(t, qmpCtrlAltDel(context.Background(), filepath.Join(short, "none.sock")), "QMP: dial unix")
}
