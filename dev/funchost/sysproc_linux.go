package funchost

import "syscall"

// sysProcAttr puts the handler in its own process group (Stop signals the
// group) and has the kernel kill it if its parent dies, so a killed sandbox or
// test leaves no handler behind.
func sysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
}
