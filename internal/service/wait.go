package service

import (
	"context"
	"fmt"
	"net"
	"strconv"
	"time"

	"github.com/business-operations/bo.microvm/internal/systemd"
)

func waitAddr(w *WaitFor, name string) string {
	return net.JoinHostPort(w.Hosts[name], strconv.Itoa(w.Port))
}

func tcpConnect(ctx context.Context, addr string) error {
	d := net.Dialer{Timeout: 3 * time.Second}
	c, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return err
	}
	return c.Close()
}

// wait polls the guest's address until it accepts a TCP connection or w.Timeout passes. It
// also watches the unit: a VM whose hypervisor exits while we wait (microvm@ then
// auto-restarts it) fails at once with the unit's state instead of waiting out the timeout.
func (s *Service) wait(ctx context.Context, name string, v *VM, w *WaitFor) error {
	addr := waitAddr(w, name)
	dial := s.Dial
	if dial == nil {
		dial = tcpConnect
	}
	interval := s.PollInterval
	if interval <= 0 {
		interval = time.Second
	}
	start := time.Now()
	wctx, cancel := context.WithTimeout(ctx, w.Timeout)
	defer cancel()
	unit := systemd.MicroVMUnit(name)
	var lastErr error
	for {
		if lastErr = dial(wctx, addr); lastErr == nil {
			v.Wait = &Waited{Address: addr, Seconds: time.Since(start).Round(100 * time.Millisecond).Seconds()}
			return nil
		}
		st, err := s.Systemd.Status(wctx, unit)
		if err == nil && st.ActiveState != "active" {
			v.After = st.ActiveState
			return fmt.Errorf("%s: the unit left the active state while waiting for %s: it is %s", name, addr, describe(st, nil))
		}
		select {
		case <-wctx.Done():
			v.Wait = &Waited{Address: addr, Seconds: time.Since(start).Round(100 * time.Millisecond).Seconds()}
			return fmt.Errorf("%s: the unit is active but the guest did not answer on %s within %s (last attempt: %v): check the guest's network and that it listens on port %d", name, addr, w.Timeout, lastErr, w.Port)
		case <-time.After(interval):
		}
	}
}
