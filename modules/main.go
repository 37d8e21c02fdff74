// Command bo_microvm is every bo.microvm module in one binary per architecture
// (plugins/modules/.bin/bo_microvm_linux_<goarch>): the module that runs is the one ansible-core
// names in _ansible_module_name (see internal/multicall). To add a module, add its package
// under modules/ (a main.go that registers its spec, a doc.yml with its prose) and one import
// line here.
package main

import (
	"github.com/business-operations/bo.microvm/internal/multicall"

	_ "github.com/business-operations/bo.microvm/modules/flux_kickoff"
	_ "github.com/business-operations/bo.microvm/modules/k0s_bootstrap"
	_ "github.com/business-operations/bo.microvm/modules/k8s_node"
	_ "github.com/business-operations/bo.microvm/modules/microvm_info"
	_ "github.com/business-operations/bo.microvm/modules/microvm_install"
	_ "github.com/business-operations/bo.microvm/modules/microvm_service"
	_ "github.com/business-operations/bo.microvm/modules/microvm_volume"
	_ "github.com/business-operations/bo.microvm/modules/ping"
)

func main() { multicall.Main() }
