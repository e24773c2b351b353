package azurite

import (
	"os"
	"syscall"
)

// Windows has no signals to send another process: Ctrl-C reaches every
// process of the console, Azurite (node, started directly) included, and
// Stop terminates it.
func sysProcAttr() *syscall.SysProcAttr { return nil }
func interrupt(p *os.Process)           {}
func kill(p *os.Process) error          { _ = p.Kill(); return nil }
