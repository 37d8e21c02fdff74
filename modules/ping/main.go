// Package ping is the bo.microvm.ping module: it proves that a target runs bo.microvm's Go
// modules (no Python needed) and says as whom and on which architecture.
package ping

import (
	"context"
	_ "embed"
	"errors"
	"os"
	"os/user"
	"runtime"

	"github.com/business-operations/bo.microvm/internal/ansible"
	"github.com/business-operations/bo.microvm/internal/multicall"
)

//go:embed doc.yml
var doc []byte

func init() {
	multicall.Register(doc, ansible.Module{
		Name: "ping",
		Spec: ansible.Spec{Options: []ansible.Option{
			{Name: "data", Default: "pong"},
		}},
		CheckMode: ansible.Full,
		DiffMode:  ansible.None,
		Run: func(ctx context.Context, inv *ansible.Invocation) (*ansible.Result, error) {
			data := inv.Params.Str("data")
			if data == "crash" {
				return nil, errors.New("boom: ping was asked to crash (data=crash)")
			}
			name := ""
			if u, err := user.Current(); err == nil {
				name = u.Username
			}
			return (&ansible.Result{}).Set("ping", data).Set("user", name).Set("uid", os.Getuid()).Set("arch", runtime.GOARCH), nil
		},
	})
}
