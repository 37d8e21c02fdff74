//go:build tools

package tools

import (
	_ "github.com/coreos/go-systemd/v22/dbus"
	_ "github.com/stretchr/testify/require"
	_ "github.com/vishvananda/netlink"
	_ "golang.org/x/sys/unix"
)
