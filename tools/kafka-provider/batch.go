package main

// Request coalescing. The engine calls Create/Update/Delete/Read for many
// topics at once (`pulumi up --parallel N`); without coalescing each of them
// is its own CreateTopics / DeleteTopics / CreatePartitions /
// IncrementalAlterConfigs request, plus its own Metadata and DescribeConfigs
// polls while it waits. A batcher collects the calls of one kind that arrive
// within a short window, and all that arrive while a request of that kind is
// in flight, and sends them as one request (split at maxItems). Each caller
// still gets its own result and its own error: a bad topic in a batch fails
// only its own resource.

import (
	"context"
	"errors"
	"sync"
	"time"
)

var errNoBatchResult = errors.New("the broker's response had no result for this item")

const (
	batchWindow = 5 * time.Millisecond
	// CreateTopics batches of more than ~1000 topics are refused by Kafka
	// (POLICY_VIOLATION); stay well below for every write kind.
	maxWriteBatch = 500
	maxReadBatch  = 1000
)

type batchCall[I, R any] struct {
	item I
	res  R
	err  error
	done chan struct{}
}

type batcher[I, R any] struct {
	window   time.Duration
	maxItems int
	// key, when set, names an item that may appear at most once per request
	// (Kafka refuses a request that names the same topic twice); a
	// duplicate waits for the next request.
	key func(I) string
	// exec sends one request for items and returns a result and an error
	// per item (aligned with items), or a request-level error for all.
	exec func(ctx context.Context, items []I) ([]R, []error, error)
	// timeout bounds one request (callers may have gone away meanwhile).
	timeout func() time.Duration

	mu      sync.Mutex
	pending []*batchCall[I, R]
	running bool
	stats   batchStats
}

// batchStats count what was sent (for tests and the debug log).
type batchStats struct {
	Requests int // requests sent
	Items    int // items carried
	MaxBatch int // largest batch
}

func (b *batcher[I, R]) Stats() batchStats {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.stats
}

// do submits one item and waits for its result (or ctx).
func (b *batcher[I, R]) do(ctx context.Context, item I) (R, error) {
	c := &batchCall[I, R]{item: item, done: make(chan struct{})}
	b.mu.Lock()
	b.pending = append(b.pending, c)
	if !b.running {
		b.running = true
		go b.run()
	}
	b.mu.Unlock()
	select {
	case <-c.done:
		return c.res, c.err
	case <-ctx.Done():
		var zero R
		return zero, ctx.Err()
	}
}

// run sends batches until nothing is pending: the first after the window,
// the next ones as soon as the previous request returned.
func (b *batcher[I, R]) run() {
	time.Sleep(b.window)
	for {
		b.mu.Lock()
		batch := b.take()
		if len(batch) == 0 {
			b.running = false
			b.mu.Unlock()
			return
		}
		b.stats.Requests++
		b.stats.Items += len(batch)
		b.stats.MaxBatch = max(b.stats.MaxBatch, len(batch))
		b.mu.Unlock()
		b.send(batch)
	}
}

// take removes up to maxItems pending calls, skipping duplicate keys (they
// stay pending, in order). Called with mu held.
func (b *batcher[I, R]) take() []*batchCall[I, R] {
	var batch, rest []*batchCall[I, R]
	seen := map[string]bool{}
	for _, c := range b.pending {
		if len(batch) >= b.maxItems {
			rest = append(rest, c)
			continue
		}
		if b.key != nil {
			k := b.key(c.item)
			if seen[k] {
				rest = append(rest, c)
				continue
			}
			seen[k] = true
		}
		batch = append(batch, c)
	}
	b.pending = rest
	return batch
}

func (b *batcher[I, R]) send(batch []*batchCall[I, R]) {
	items := make([]I, len(batch))
	for i, c := range batch {
		items[i] = c.item
	}
	ctx, cancel := context.WithTimeout(context.Background(), b.timeout())
	defer cancel()
	res, errs, err := b.exec(ctx, items)
	for i, c := range batch {
		switch {
		case err != nil:
			c.err = err
		case i < len(res) && i < len(errs):
			c.res, c.err = res[i], errs[i]
		default:
			c.err = errNoBatchResult
		}
		close(c.done)
	}
}
