package storetest_test

import (
	"testing"

	"github.com/addinsso/addinsso/handler/tokencache"
	"github.com/addinsso/addinsso/handler/tokencache/storetest"
)

func TestMemory(t *testing.T) {
	storetest.Run(t, func(*testing.T) tokencache.Store { return &storetest.Memory{} })
}
