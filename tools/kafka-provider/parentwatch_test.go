package main

import (
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
	ppid.Store(1) // re-parented to init: the engine exited
	select {
	case p := <-done:
		if p != 4242 {
			t.Fatalf("gone got %d, want the original parent 4242", p)
		}
	case <-time.After(2 * time.Second):
		t.Fatal("gone was not called after the parent changed")
	}
}

func TestWatchParentLoopDoesNothingWithoutAnEngine(t *testing.T) {
	called := make(chan int, 1)
	finished := make(chan struct{})
	go func() {
		watchParentLoop(time.Millisecond, func() int { return 1 }, func(p int) { called <- p })
		close(finished)
	}()
	select {
	case <-finished:
	case <-time.After(time.Second):
		t.Fatal("the loop kept watching although the parent is pid 1")
	}
	if len(called) != 0 {
		t.Fatal("gone was called for a plugin started by pid 1")
	}
}
