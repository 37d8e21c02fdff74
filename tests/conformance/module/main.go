// Command module is the Go side of the conformance test: one binary that ansible-playbook
// runs under several module names (conf_types_linux_amd64, ...); it picks the argument spec
// of tests/conformance by the name it was copied under.
package main

import (
	"fmt"
	"os"

	"github.com/business-operations/bo.microvm/internal/ansible"
	"github.com/business-operations/bo.microvm/tests/conformance"
)

func main() {
	name := conformance.NameFromArgv0(os.Args[0])
	m, ok := conformance.Lookup(name)
	if !ok {
		fmt.Printf("{\"failed\": true, \"msg\": %q}\n", "no conformance module named "+name)
		os.Exit(1)
	}
	ansible.Main(m)
}
