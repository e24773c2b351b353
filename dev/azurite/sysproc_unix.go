//go:build unix && !linux

package azurite

import "syscall"

// sysProcAttr puts Azurite in its own process group, so Stop reaches its children too.
func sysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true}
}
