// Package multicall is the one binary that holds every bo.microvm module (one per
// architecture, plugins/modules/.bin/bo_microvm_linux_<goarch>). Each module package registers
// itself with Register from an init function; modules/main.go imports every module package,
// one line each, and calls Main.
//
// Which module runs is the name ansible-core passes in the arguments: _ansible_module_name,
// which ActionBase._update_module_args sets to the module_name given to _execute_module
// (ansible/ansible c9ac477e, lib/ansible/plugins/action/__init__.py, "module_args
// ['_ansible_module_name'] = module_name"). A binary module gets those arguments as a JSON
// file named by its one command-line argument (lib/ansible/executor/module_common.py:
// _is_binary, module_style 'binary': no wrapper, the file transferred as is). The fast path
// passes "bo.microvm.NAME"; the plain path runs the per-module link
// plugins/modules/NAME_linux_GOARCH -> .bin/bo_microvm_linux_GOARCH and so passes
// "bo.microvm.NAME_linux_GOARCH". The arch suffix is ignored.
package multicall

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"syscall"

	"github.com/business-operations/bo.microvm/internal/ansible"
)

type entry struct {
	m   ansible.Module
	doc []byte
}

var registry = map[string]entry{}

// Register adds m and its embedded doc file (see prose.go) to the binary. It panics on a
// module registered twice. The prose is merged only when documentation is asked for
// (Documented): a task never pays for parsing it; the unit tests render every module, so a doc
// file that does not match its spec fails them.
func Register(doc []byte, m ansible.Module) {
	if _, dup := registry[m.Name]; dup {
		panic("multicall: module " + m.Name + " registered twice")
	}
	registry[m.Name] = entry{m: m, doc: doc}
}

// Documented returns module name with the prose of its doc file, or an error naming what in
// the doc file does not match the spec.
func Documented(name string) (ansible.Module, error) {
	e, ok := registry[name]
	if !ok {
		return ansible.Module{}, fmt.Errorf("no module %q in this binary (it holds %s)", name, strings.Join(Names(), ", "))
	}
	m := e.m
	m.Spec.Options = copyOptions(m.Spec.Options)
	if err := applyProse(&m, e.doc); err != nil {
		return ansible.Module{}, fmt.Errorf("module %s: doc file: %v", name, err)
	}
	return m, nil
}

// copyOptions copies the option tree, so that merging descriptions leaves the registered spec as it is.
func copyOptions(opts []ansible.Option) []ansible.Option {
	if opts == nil {
		return nil
	}
	out := make([]ansible.Option, len(opts))
	copy(out, opts)
	for i := range out {
		out[i].Options = copyOptions(out[i].Options)
	}
	return out
}

// Modules lists the registered modules by name, documented; it panics on a doc file that
// does not match its spec (a programming error the unit tests find).
func Modules() []ansible.Module {
	out := make([]ansible.Module, 0, len(registry))
	for _, n := range Names() {
		m, err := Documented(n)
		if err != nil {
			panic(err)
		}
		out = append(out, m)
	}
	return out
}

// Names lists the registered module names, sorted.
func Names() []string {
	out := make([]string, 0, len(registry))
	for n := range registry {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

// Lookup returns the module a name ansible-core passes stands for: "bo.microvm.ping",
// "bo.microvm.ping_linux_amd64", "ping", or a path ending in one of those.
// The module is returned without its prose (see Documented).
func Lookup(name string) (ansible.Module, bool) {
	n := filepath.Base(name)
	n = strings.TrimPrefix(n, "bo.microvm.")
	n = strings.TrimPrefix(n, "AnsiballZ_")
	n = archSuffix.ReplaceAllString(n, "")
	e, ok := registry[n]
	return e.m, ok
}

var archSuffix = regexp.MustCompile(`_linux_[a-z0-9]+$`)

// Main runs the binary:
//
//	bo_microvm ARGS_FILE              run the module ARGS_FILE's _ansible_module_name names
//	bo_microvm --ansible-doc NAME     print NAME's sidecar documentation (plugins/modules/NAME.yml)
//	bo_microvm --list                 print the module names, one a line
//
// Without _ansible_module_name (a run by hand) the name the binary was started as is used,
// e.g. the link ping_linux_amd64.
func Main() {
	closeExecFd()
	args := os.Args[1:]
	switch {
	case len(args) == 1 && args[0] == "--list":
		fmt.Println(strings.Join(Names(), "\n"))
		return
	case len(args) == 2 && args[0] == "--ansible-doc":
		m, err := Documented(args[1])
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(2)
		}
		if err := ansible.WriteDoc(os.Stdout, m); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		return
	}
	var argsFile string
	if len(args) > 0 {
		argsFile = args[0]
	}
	data, err := ansible.ReadArgs(argsFile)
	name := ansible.ArgsModuleName(data)
	if name == "" {
		name = os.Args[0]
	}
	m, ok := Lookup(name)
	if !ok {
		out, _ := failure(fmt.Sprintf("bo.microvm has no module %q (this binary holds %s)", name, strings.Join(Names(), ", ")))
		os.Stdout.Write(append(out, '\n'))
		os.Exit(1)
	}
	out, failed := ansible.ExecuteArgs(context.Background(), m, argsFile, data, err)
	os.Stdout.Write(append(out, '\n'))
	if failed {
		os.Exit(1)
	}
}

// closeExecFd marks close-on-exec the descriptor the fast path executed this binary through
// (/proc/self/fd/N, opened by its shell without O_CLOEXEC), so the commands a module runs do
// not inherit it.
func closeExecFd() {
	if n, ok := strings.CutPrefix(os.Args[0], "/proc/self/fd/"); ok {
		if fd, err := strconv.Atoi(n); err == nil && fd > 2 {
			syscall.CloseOnExec(fd)
		}
	}
}

func failure(msg string) ([]byte, error) {
	var b strings.Builder
	err := ansible.WriteJSON(&b, map[string]any{"failed": true, "changed": false, "msg": msg})
	return []byte(strings.TrimSuffix(b.String(), "\n")), err
}
