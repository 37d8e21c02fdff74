package kubetest

import (
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// The ports FindFreePorts gives are below the kernel's ephemeral range and free, all n of them.
func TestFindFreePortsBelowTheEphemeralRange(t *testing.T) {
	b, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range")
	require.NoError(t, err)
	low, err := strconv.Atoi(strings.Fields(string(b))[0])
	require.NoError(t, err)
	for range 20 {
		p, err := FindFreePorts(3)
		require.NoError(t, err)
		require.GreaterOrEqual(t, p, 20000)
		require.Less(t, p+2, low, "port %d..%d reaches the ephemeral range (from %d)", p, p+2, low)
		for q := p; q < p+3; q++ {
			l, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", q))
			require.NoError(t, err, "port %d", q)
			l.Close()
		}
	}
}

// A taken port is never given: in four ports of which the second is held, the one run of two
// free ports is the third and fourth; with the third held too there is none.
func TestFreePortsSkipsATakenPort(t *testing.T) {
	base, err := FindFreePorts(4)
	require.NoError(t, err)
	hold := func(p int) net.Listener {
		l, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", p))
		require.NoError(t, err)
		t.Cleanup(func() { l.Close() })
		return l
	}
	hold(base + 1)
	for range 20 {
		p, err := freePortsIn(base, base+4, 2)
		require.NoError(t, err)
		require.Equal(t, base+2, p)
	}
	hold(base + 2)
	_, err = freePortsIn(base, base+4, 2)
	require.ErrorContains(t, err, "no 2 free ports in a row")
	_, err = freePortsIn(base, base+1, 2)
	require.ErrorContains(t, err, "no room for 2 ports")
}
