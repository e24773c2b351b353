//go:build unix

package azurite

import (
	"errors"
	"fmt"
	"os"
	"syscall"
)

// interrupt asks Azurite to shut down gracefully: it handles SIGINT, not SIGTERM.
func interrupt(p *os.Process) { _ = syscall.Kill(-p.Pid, syscall.SIGINT) }

// kill ends Azurite's process group, children that outlived it too.
func kill(p *os.Process) error {
	if err := syscall.Kill(-p.Pid, syscall.SIGKILL); err != nil && !errors.Is(err, syscall.ESRCH) {
		return fmt.Errorf("azurite: killing process group %d: %w", p.Pid, err)
	}
	return nil
}
