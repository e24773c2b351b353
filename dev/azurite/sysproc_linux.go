package azurite

import "syscall"

// sysProcAttr puts Azurite in its own process group, so Stop reaches its
// children too, and asks Linux to kill it if the test binary dies first, so a
// crashed or interrupted test never leaves Azurite running.
func sysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
}
