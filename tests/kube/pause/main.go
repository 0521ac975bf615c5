// Command pause is the test cluster's sandbox ("pause") container: it holds the pod's
// namespaces and waits until it is told to stop, as registry.k8s.io/pause does. The cluster
// tier builds it here because no image can be pulled from outside the test bed.
package main

import (
	"os"
	"os/signal"
	"syscall"
)

func main() {
	stop := make(chan os.Signal, 1)
	signal.Notify(stop, syscall.SIGINT, syscall.SIGTERM)
	// Reap orphans: as PID 1 of the pod's PID namespace (when shared), the sandbox inherits
	// them.
	signal.Ignore(syscall.SIGCHLD)
	<-stop
}
