// Command buildapp assembles the Functions app the host runs (make app; the
// local run builds the same for the developer's machine):
//
//	go run ./dev/buildapp -out build/app -goos linux -goarch amd64
//
// host.json names handler.exe for Windows, handler elsewhere. A
// local.settings.json already in -out is kept.
package main

import (
	"flag"
	"fmt"
	"os"
	"runtime"

	"github.com/addinsso/addinsso/dev/funchost"
)

func main() {
	out := flag.String("out", "build/app", "the app directory (the Functions host's script root)")
	goos := flag.String("goos", runtime.GOOS, "the operating system the Function App runs on")
	goarch := flag.String("goarch", runtime.GOARCH, "its architecture")
	flag.Parse()
	root, err := funchost.ModuleRoot()
	if err == nil {
		err = funchost.BuildApp(root, *out, *goos, *goarch)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "buildapp:", err)
		os.Exit(1)
	}
	fmt.Printf("buildapp: %s holds the app for %s/%s (%s)\n", *out, *goos, *goarch, funchost.Exe(*goos))
}
