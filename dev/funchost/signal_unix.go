//go:build unix

package funchost

import (
	"os"
	"syscall"
)

// terminate asks the process group to stop, as the host does; kill ends it.
func terminate(p *os.Process) { _ = syscall.Kill(-p.Pid, syscall.SIGTERM) }
func kill(p *os.Process)      { _ = syscall.Kill(-p.Pid, syscall.SIGKILL) }
