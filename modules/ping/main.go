// Command ping is the bo.microvm.ping module: it proves that a target runs bo.microvm's Go
// modules (no Python needed) and says as whom and on which architecture.
package main

import (
	"context"
	"errors"
	"os"
	"os/user"
	"runtime"

	"github.com/business-operations/bo.microvm/internal/ansible"
)

func main() {
	ansible.Main(ansible.Module{
		Name:             "ping",
		ShortDescription: "Check that a target runs bo.microvm's Go modules",
		Description: []string{
			"Like M(ansible.builtin.ping), but a static Go binary: it needs no Python on the target, so it works on the microVM guests and on minimal hypervisors.",
			"Returns C(pong) (or I(data)), the user the module ran as and the target's architecture.",
		},
		Spec: ansible.Spec{Options: []ansible.Option{
			{Name: "data", Default: "pong", Description: []string{"Data to return in C(ping). The value C(crash) makes the module fail, to test error handling."}},
		}},
		CheckMode: ansible.Full,
		DiffMode:  ansible.None,
		Examples: `
- name: Check that the VMs answer with our Go modules
  bo.microvm.ping:

- name: Make the module fail on purpose
  bo.microvm.ping:
    data: crash
`,
		Returns: []ansible.Return{
			{Name: "ping", Type: "str", Returned: "success", Description: "The value of I(data).", Sample: "pong"},
			{Name: "user", Type: "str", Returned: "success", Description: "The user the module ran as (after become).", Sample: "root"},
			{Name: "uid", Type: "int", Returned: "success", Description: "That user's uid.", Sample: 0},
			{Name: "arch", Type: "str", Returned: "success", Description: "GOARCH of the binary that ran.", Sample: "amd64"},
		},
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
