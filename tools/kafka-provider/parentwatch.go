package main

import (
	"fmt"
	"os"
	"time"
)

// parentPollInterval is how often the plugin checks that the engine still runs.
const parentPollInterval = 250 * time.Millisecond

// watchParent makes the plugin exit once the engine that started it is gone.
//
// The engine starts every plugin in a process group of its own, so a SIGKILL of the
// CLI's process group (a killed CI job, `kill -9 -- -PGID`) does not reach the plugin:
// it would keep running, re-parented to pid 1 (or a subreaper), holding its port and
// its Kafka connections, with nobody left to serve. The engine is the plugin's parent,
// and a process's parent pid changes only when the parent exits, so a changed parent
// pid means the engine is gone. Polling works whatever the engine's thread layout,
// unlike PR_SET_PDEATHSIG, which fires when the *thread* that forked the plugin exits.
// A plugin whose parent is already pid 1 has no engine to watch.
func watchParent() {
	go watchParentLoop(parentPollInterval, os.Getppid, func(engine int) {
		fmt.Fprintf(os.Stderr, "pulumi-resource-kafka: the engine (pid %d) is gone; exiting\n", engine)
		os.Exit(1)
	})
}

// watchParentLoop calls gone(original parent pid) once getppid() no longer returns it.
func watchParentLoop(interval time.Duration, getppid func() int, gone func(int)) {
	parent := getppid()
	if parent <= 1 {
		return
	}
	ticker := time.NewTicker(interval)
	defer ticker.Stop()
	for range ticker.C {
		if getppid() != parent {
			gone(parent)
			return
		}
	}
}
