//go:build unix && !linux

package funchost

import "syscall"

// sysProcAttr puts the handler in its own process group (Stop signals the group).
func sysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true}
}
