package funchost

import (
	"os"
	"syscall"
)

// Windows has no signals to send another process: Ctrl-C reaches every
// process of the console, the handler included, and Stop terminates it.
func sysProcAttr() *syscall.SysProcAttr { return nil }
func terminate(p *os.Process)           { _ = p.Kill() }
func kill(p *os.Process)                { _ = p.Kill() }
