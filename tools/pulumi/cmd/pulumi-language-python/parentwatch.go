package main

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"sync"
	"syscall"
	"time"
)

// parentPollInterval is how often the host checks that the engine still runs.
const parentPollInterval = 250 * time.Millisecond

// errEngineGone is returned for a child asked for after the engine has gone.
var errEngineGone = errors.New("the engine that started this language host is gone")

// children are the processes this host started and still waits for: the Python program
// (Run), policy packs and Python plugins (RunPlugin).
var children = &childSet{running: map[*exec.Cmd]struct{}{}}

type childSet struct {
	mu      sync.Mutex
	running map[*exec.Cmd]struct{}
	closed  bool
}

// run starts cmd, waits for it and forgets it, like cmd.Run.
func (c *childSet) run(cmd *exec.Cmd) error {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return errEngineGone
	}
	if err := cmd.Start(); err != nil {
		c.mu.Unlock()
		return err
	}
	c.running[cmd] = struct{}{}
	c.mu.Unlock()
	err := cmd.Wait()
	c.mu.Lock()
	delete(c.running, cmd)
	c.mu.Unlock()
	return err
}

// killAll kills every running child and refuses new ones.
func (c *childSet) killAll() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.closed = true
	for cmd := range c.running {
		if cmd.Process != nil {
			_ = cmd.Process.Kill()
		}
	}
	return len(c.running)
}

// watchEngine makes the host, and the Python processes it started, exit once the engine
// that started it is gone.
//
// The engine starts each plugin in a process group of its own, so a SIGKILL of the CLI's
// process group (a killed CI job, `kill -9 -- -PGID`) reaches neither this host nor the
// program it runs: both would keep running, re-parented to pid 1. The engine is this
// host's parent, and a process's parent pid changes only when the parent exits. Polling
// is used rather than PR_SET_PDEATHSIG, which fires when the engine *thread* that forked
// the host exits. A host whose parent is already pid 1 has no engine to watch.
func watchEngine() {
	go watchParentLoop(parentPollInterval, os.Getppid, func(engine int) {
		killed := children.killAll()
		fmt.Fprintf(os.Stderr, "pulumi-language-python: the engine (pid %d) is gone; stopped %d child process(es)\n",
			engine, killed)
		// As the leader of its own process group (the engine's doing), the host also takes
		// down whatever its children started in that group.
		if syscall.Getpgrp() == os.Getpid() {
			_ = syscall.Kill(-os.Getpid(), syscall.SIGKILL)
		}
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
