package main

import (
	"os/exec"
	"sync/atomic"
	"testing"
	"time"
)

func TestWatchParentLoopCallsGoneWhenTheParentChanges(t *testing.T) {
	var ppid atomic.Int64
	ppid.Store(4242)
	done := make(chan int, 1)
	go watchParentLoop(5*time.Millisecond, func() int { return int(ppid.Load()) }, func(p int) { done <- p })
	select {
	case p := <-done:
		t.Fatalf("gone(%d) called while the parent still runs", p)
	case <-time.After(50 * time.Millisecond):
	}
	ppid.Store(1)
	select {
	case p := <-done:
		if p != 4242 {
			t.Fatalf("gone got %d, want the original parent 4242", p)
		}
	case <-time.After(2 * time.Second):
		t.Fatal("gone was not called after the parent changed")
	}
}

func TestKillAllStopsRunningChildrenAndRefusesNewOnes(t *testing.T) {
	set := &childSet{running: map[*exec.Cmd]struct{}{}}
	result := make(chan error, 1)
	go func() { result <- set.run(exec.Command("sleep", "30")) }()
	deadline := time.Now().Add(5 * time.Second)
	for {
		set.mu.Lock()
		n := len(set.running)
		set.mu.Unlock()
		if n == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the child never started")
		}
		time.Sleep(10 * time.Millisecond)
	}
	if killed := set.killAll(); killed != 1 {
		t.Fatalf("killAll reported %d children, want 1", killed)
	}
	select {
	case err := <-result:
		if err == nil {
			t.Fatal("a killed child reported success")
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the child was not killed")
	}
	if err := set.run(exec.Command("true")); err != errEngineGone {
		t.Fatalf("run after killAll: got %v, want errEngineGone", err)
	}
}
