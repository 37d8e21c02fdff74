package service

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/business-operations/bo.microvm/internal/statedir"
	"github.com/business-operations/bo.microvm/internal/systemd"
)

// Graceful stop. On microvm.nix main at 71beea00 qemu's booted/bin/microvm-shutdown (the
// ExecStop of microvm@, lib/runners/qemu.nix shutdownCommand) sends Ctrl-Alt-Del over QMP
// and then waits with a bare `cat`; systemd runs ExecStop with stdin on /dev/null, so it
// returns about a second later and systemd SIGTERMs qemu (KillMode=control-group): every
// `systemctl stop` is a hard kill of the guest. PR #578 (commit c140208) waits until qemu has
// gone; hosts pinned before it do not. So this module does not leave the power-off to
// ExecStop: for a running VM it sends the same Ctrl-Alt-Del itself (a guest with systemd
// starts ctrl-alt-del.target, i.e. reboot.target, and shuts down cleanly; qemu runs with
// -no-reboot, so the reboot ends it), waits up to the module's timeout until the hypervisor
// process has exited, and only then lets systemd finish the stop (or restart) job: its
// unit is then waiting to auto-restart (Restart=always, RestartSec=5s), which the job
// cancels, and ExecStop finds no socket and returns at once. A guest that does not power
// off in time is stopped by the job as before (a kill on hosts before PR #578), and the
// result says so.
//
// Ctrl-Alt-Del rather than QMP system_powerdown (the ACPI power button): it is what
// microvm.nix's own shutdown sends, so every guest that stops cleanly under a PR #578 host
// stops cleanly here, and it needs no ACPI handling in the guest (a busybox init handles
// Ctrl-Alt-Del but no power button without acpid).

// How a VM went down, reported per VM as shutdown.how.
const (
	ShutdownClean  = "clean"  // the guest powered off by itself after the request
	ShutdownKilled = "killed" // it did not within the timeout; systemd's stop job ended it
	ShutdownByUnit = "systemd"
)

// Shutdown is the report of how one running VM was stopped (for state=stopped and
// state=restarted, and restarts of outdated VMs).
type Shutdown struct {
	How     string  `json:"how"`     // clean | killed | systemd
	Seconds float64 `json:"seconds"` // from the request to the hypervisor's exit (or to giving up)
	Detail  string  `json:"detail"`  // e.g. "clean after 3.1 s", "killed after 300 s: ..."
}

// PowerOffFunc asks the guest of a running VM to shut down; pid is the unit's MainPID (the
// hypervisor). It returns once the request is delivered, not when the guest is down.
type PowerOffFunc func(ctx context.Context, vm statedir.VM, pid uint32) error

// shutdownPoll is the pause between two reads of the unit while waiting for the
// hypervisor to exit: well under microvm@'s RestartSec=5s, so the job that follows
// cancels the automatic restart.
const shutdownPoll = 250 * time.Millisecond

// shutdownGuest runs before a stop or restart job of a VM that was active: it asks the
// guest to power off and waits until the hypervisor process is gone or r.JobTimeout
// passes. It never fails: what happened is in the returned report, and the job follows.
func (s *Service) shutdownGuest(ctx context.Context, name string, r Request) *Shutdown {
	unit := systemd.MicroVMUnit(name)
	st, err := s.Systemd.Status(ctx, unit)
	if err != nil || st.ActiveState != "active" || st.MainPID == 0 {
		return nil // not running: nothing to power off
	}
	vm, err := s.Host.Read(name)
	if err != nil {
		return &Shutdown{How: ShutdownByUnit, Detail: "by systemd's stop job: " + err.Error()}
	}
	off := s.PowerOff
	if off == nil {
		off = s.qmpPowerOff
	}
	pid := st.MainPID
	if err := off(ctx, vm, pid); err != nil {
		return &Shutdown{How: ShutdownByUnit, Detail: "by systemd's stop job (booted/bin/microvm-shutdown, which on hosts before microvm.nix PR #578 kills the guest): cannot ask the guest to power off: " + err.Error()}
	}
	start := time.Now()
	poll := s.ShutdownPoll
	if poll <= 0 {
		poll = shutdownPoll
	}
	wctx, cancel := context.WithTimeout(ctx, r.JobTimeout)
	defer cancel()
	for {
		st, err := s.Systemd.Status(wctx, unit)
		secs := time.Since(start).Round(100 * time.Millisecond).Seconds()
		if err == nil && st.MainPID != pid {
			d := &Shutdown{How: ShutdownClean, Seconds: secs, Detail: fmt.Sprintf("clean after %.1f s: the guest powered off when asked", secs)}
			if st.MainPID != 0 {
				d.Detail += fmt.Sprintf("; systemd had already restarted its hypervisor (pid %d), which the job stops again", st.MainPID)
			}
			return d
		}
		select {
		case <-wctx.Done():
			return &Shutdown{How: ShutdownKilled, Seconds: secs, Detail: fmt.Sprintf("killed after %.0f s: the guest did not power off within the timeout, so systemd's stop job ended it", secs)}
		case <-time.After(poll):
		}
	}
}

// qmpPowerOff presses Ctrl-Alt-Del on a qemu VM over its QMP socket, found on the
// hypervisor's command line (microvm.nix's qemu runner passes -qmp unix:<socket>,server,
// nowait, <socket> being <hostName>.sock relative to the VM directory).
func (s *Service) qmpPowerOff(ctx context.Context, vm statedir.VM, pid uint32) error {
	if hv := s.hypervisor(vm); hv != "" && hv != "qemu" {
		return fmt.Errorf("the hypervisor is %s; this module powers off only qemu guests itself", hv)
	}
	sock, err := s.qmpSocket(vm, pid)
	if err != nil {
		return err
	}
	return qmpCtrlAltDel(ctx, sock)
}

// hypervisor reads booted/share/microvm/hypervisor (current/ when there is no booted).
func (s *Service) hypervisor(vm statedir.VM) string {
	for _, runner := range []string{vm.Booted, vm.Current} {
		if runner == "" {
			continue
		}
		p := filepath.Join(runner, "share", "microvm", "hypervisor")
		if filepath.IsAbs(p) {
			p = s.Host.Path(p)
		} else {
			p = filepath.Join(s.Host.VMDir(vm.Name), p)
		}
		if b, err := os.ReadFile(p); err == nil {
			return strings.TrimSpace(string(b))
		}
	}
	return ""
}

// qmpSocket finds the QMP socket of the hypervisor process pid in its command line.
func (s *Service) qmpSocket(vm statedir.VM, pid uint32) (string, error) {
	b, err := os.ReadFile(s.Host.Path("/proc/" + strconv.FormatUint(uint64(pid), 10) + "/cmdline"))
	if err != nil {
		return "", fmt.Errorf("read the hypervisor's command line: %w", err)
	}
	args := strings.Split(strings.TrimRight(string(b), "\x00"), "\x00")
	for i, a := range args {
		if a != "-qmp" || i+1 >= len(args) {
			continue
		}
		spec, ok := strings.CutPrefix(args[i+1], "unix:")
		if !ok {
			return "", fmt.Errorf("its QMP endpoint %q is not a unix socket", args[i+1])
		}
		p, _, _ := strings.Cut(spec, ",")
		if filepath.IsAbs(p) {
			p = s.Host.Path(p)
		} else {
			p = filepath.Join(s.Host.VMDir(vm.Name), p) // microvm@'s WorkingDirectory
		}
		return p, nil
	}
	return "", errors.New("the hypervisor was started without -qmp (no microvm.socket)")
}

// qmpCtrlAltDel speaks QMP on sock: capabilities negotiation, then the key press microvm.nix's
// microvm-shutdown sends (input-send-event ctrl, alt, delete, key down).
func qmpCtrlAltDel(ctx context.Context, sock string) error {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	var d net.Dialer
	c, err := d.DialContext(ctx, "unix", sock)
	if err != nil {
		return fmt.Errorf("QMP: %w", err)
	}
	defer c.Close()
	if dl, ok := ctx.Deadline(); ok {
		_ = c.SetDeadline(dl)
	}
	rd := bufio.NewReader(c)
	greeting, err := rd.ReadBytes('\n')
	if err != nil {
		return fmt.Errorf("QMP %s: no greeting: %w", sock, err)
	}
	if !bytes.Contains(greeting, []byte(`"QMP"`)) {
		return fmt.Errorf("QMP %s: unexpected greeting %s", sock, bytes.TrimSpace(greeting))
	}
	key := func(k string) map[string]any {
		return map[string]any{"type": "key", "data": map[string]any{"down": true, "key": map[string]any{"type": "qcode", "data": k}}}
	}
	for _, cmd := range []map[string]any{
		{"execute": "qmp_capabilities"},
		{"execute": "input-send-event", "arguments": map[string]any{"events": []any{key("ctrl"), key("alt"), key("delete")}}},
	} {
		b, _ := json.Marshal(cmd)
		if _, err := c.Write(append(b, '\n')); err != nil {
			return fmt.Errorf("QMP %s: %w", sock, err)
		}
		if err := qmpReply(rd); err != nil {
			return fmt.Errorf("QMP %s: %s: %w", sock, cmd["execute"], err)
		}
	}
	return nil
}

// qmpReply reads until the reply to the last command, skipping asynchronous events.
func qmpReply(rd *bufio.Reader) error {
	for {
		line, err := rd.ReadBytes('\n')
		if err != nil {
			return err
		}
		var m struct {
			Return json.RawMessage `json:"return"`
			Error  *struct {
				Class string `json:"class"`
				Desc  string `json:"desc"`
			} `json:"error"`
		}
		if err := json.Unmarshal(line, &m); err != nil {
			return fmt.Errorf("bad reply %q: %w", bytes.TrimSpace(line), err)
		}
		switch {
		case m.Error != nil:
			return fmt.Errorf("%s: %s", m.Error.Class, m.Error.Desc)
		case m.Return != nil:
			return nil
		}
	}
}
