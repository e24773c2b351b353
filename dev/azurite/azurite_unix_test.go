//go:build unix

package azurite

import (
	"errors"
	"net"
	"strconv"
	"syscall"
	"testing"
	"time"
)

func TestStopKillsAndIsIdempotent(t *testing.T) {
	t.Parallel()
	s := ForTest(t)
	pid := s.cmd.Process.Pid
	for range 2 {
		if err := s.Stop(); err != nil {
			t.Fatalf("Stop: %v", err)
		}
	}
	if err := syscall.Kill(-pid, 0); !errors.Is(err, syscall.ESRCH) {
		t.Fatalf("process group %d still exists after Stop (kill: %v)", pid, err)
	}
	if c, err := net.DialTimeout("tcp", "127.0.0.1:"+strconv.Itoa(s.Port()), time.Second); err == nil {
		c.Close()
		t.Fatalf("port %d still accepts after Stop", s.Port())
	}
}
