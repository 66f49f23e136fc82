package main

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"
	pulumirpc "github.com/pulumi/pulumi/sdk/v3/proto/go"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// countRequests counts the requests of one kind that reach the fake broker
// (the control function observes and lets kfake handle them).
func countRequests(t *testing.T, c interface {
	ControlKey(int16, func(kmsg.Request) (kmsg.Response, error, bool))
}, key kmsg.Key) *atomic.Int64 {
	var n atomic.Int64
	c.ControlKey(int16(key), func(kmsg.Request) (kmsg.Response, error, bool) {
		n.Add(1)
		return nil, nil, false
	})
	return &n
}

// widenWindows makes the collection window long enough that goroutines
// started together certainly land in it on a loaded test machine.
func widenWindows(t *testing.T, p *kafkaProvider, d time.Duration) {
	t.Helper()
	k, err := p.kafka()
	if err != nil {
		t.Fatal(err)
	}
	k.b.create.window, k.b.delete.window, k.b.partitions.window = d, d, d
	k.b.alter.window, k.b.metadata.window, k.b.configs.window = d, d, d
}

func topicInputs(name string, parts, rf float64) resource.PropertyMap {
	return pm("name", name, "partitions", parts, "replicationFactor", rf, "config", pm("retention.ms", "3600000"))
}

// createAll runs the Create RPC for every input concurrently.
func createAll(t *testing.T, p *kafkaProvider, inputs []resource.PropertyMap) []error {
	t.Helper()
	errs := make([]error, len(inputs))
	var wg sync.WaitGroup
	for i, in := range inputs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, errs[i] = p.Create(context.Background(), &pulumirpc.CreateRequest{
				Urn: urnOf(topicType, fmt.Sprint("t", i)), Properties: toPB(t, in),
			})
		}()
	}
	wg.Wait()
	return errs
}

func TestConcurrentCreatesShareOneCreateTopicsRequest(t *testing.T) {
	p, c := fakeProvider(t)
	widenWindows(t, p, 300*time.Millisecond)
	creates := countRequests(t, c, kmsg.CreateTopics)
	deletes := countRequests(t, c, kmsg.DeleteTopics)
	const n = 40
	var inputs []resource.PropertyMap
	for i := range n {
		inputs = append(inputs, topicInputs(fmt.Sprintf("batch.%02d", i), 3, 1))
	}
	for i, err := range createAll(t, p, inputs) {
		if err != nil {
			t.Fatalf("create %d: %v", i, err)
		}
	}
	if got := creates.Load(); got != 1 {
		t.Fatalf("%d concurrent creates sent %d CreateTopics requests, want 1", n, got)
	}
	k, _ := p.kafka()
	if s := k.b.create.Stats(); s.Requests != 1 || s.Items != n {
		t.Fatalf("create batcher stats %+v", s)
	}
	// Every resource got its own, complete result: all topics exist as asked.
	_, topics, err := k.listAll(context.Background())
	if err != nil || len(topics) != n {
		t.Fatalf("listAll: %v, %d topics", err, len(topics))
	}
	for _, tp := range topics {
		if tp.Partitions != 3 || tp.Config["retention.ms"] != "3600000" {
			t.Fatalf("topic %+v", tp)
		}
	}

	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			name := fmt.Sprintf("batch.%02d", i)
			if _, err := p.Delete(context.Background(), &pulumirpc.DeleteRequest{Urn: urnOf(topicType, name), Id: name}); err != nil {
				t.Errorf("delete %s: %v", name, err)
			}
		}()
	}
	wg.Wait()
	if got := deletes.Load(); got != 1 {
		t.Fatalf("%d concurrent deletes sent %d DeleteTopics requests, want 1", n, got)
	}
}

func TestOneBadTopicFailsOnlyItsResource(t *testing.T) {
	p, c := fakeProvider(t)
	widenWindows(t, p, 300*time.Millisecond)
	creates := countRequests(t, c, kmsg.CreateTopics)
	inputs := []resource.PropertyMap{
		topicInputs("good.a", 1, 1),
		topicInputs("bad.rf", 1, 3), // one broker: replication factor 3 is refused
		topicInputs("good.b", 2, 1),
	}
	errs := createAll(t, p, inputs)
	if creates.Load() != 1 {
		t.Fatalf("want one CreateTopics request, got %d", creates.Load())
	}
	if errs[0] != nil || errs[2] != nil {
		t.Fatalf("good topics failed: %v / %v", errs[0], errs[2])
	}
	if errs[1] == nil || !strings.Contains(errs[1].Error(), `"bad.rf"`) || !strings.Contains(errs[1].Error(), "REPLICATION_FACTOR") {
		t.Fatalf("bad topic: want its own replication-factor error naming it, got %v", errs[1])
	}
	if strings.Contains(errs[1].Error(), "good.") {
		t.Fatalf("the bad topic's error mentions another topic: %v", errs[1])
	}
}

func TestConcurrentUpdatesShareRequests(t *testing.T) {
	p, c := fakeProvider(t)
	const n = 20
	var inputs []resource.PropertyMap
	for i := range n {
		inputs = append(inputs, topicInputs(fmt.Sprintf("up.%02d", i), 1, 1))
	}
	for _, err := range createAll(t, p, inputs) {
		if err != nil {
			t.Fatal(err)
		}
	}
	widenWindows(t, p, 300*time.Millisecond)
	parts := countRequests(t, c, kmsg.CreatePartitions)
	alters := countRequests(t, c, kmsg.IncrementalAlterConfigs)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			name := fmt.Sprintf("up.%02d", i)
			news := pm("name", name, "partitions", 4, "replicationFactor", 1, "config", pm("retention.ms", "7200000"))
			if _, err := p.Update(context.Background(), &pulumirpc.UpdateRequest{Urn: urnOf(topicType, name), Id: name,
				Olds: toPB(t, inputs[i]), News: toPB(t, news)}); err != nil {
				t.Errorf("update %s: %v", name, err)
			}
		}()
	}
	wg.Wait()
	if parts.Load() != 1 || alters.Load() != 1 {
		t.Fatalf("%d concurrent updates sent %d CreatePartitions and %d IncrementalAlterConfigs requests, want 1 and 1",
			n, parts.Load(), alters.Load())
	}
}

// The batcher itself: split at maxItems, duplicates in separate requests,
// results to their own callers, request-level errors to all.
func TestBatcherSplitsAndRoutes(t *testing.T) {
	var mu sync.Mutex
	var sizes []int
	b := &batcher[string, string]{window: 50 * time.Millisecond, maxItems: 4, timeout: func() time.Duration { return time.Second },
		key: func(s string) string { return s },
		exec: func(_ context.Context, items []string) ([]string, []error, error) {
			mu.Lock()
			sizes = append(sizes, len(items))
			mu.Unlock()
			res := make([]string, len(items))
			errs := make([]error, len(items))
			for i, it := range items {
				if strings.HasPrefix(it, "all-fail") {
					return nil, nil, fmt.Errorf("request failed")
				}
				res[i] = "r:" + it
				if it == "bad" {
					errs[i] = fmt.Errorf("bad item")
				}
			}
			return res, errs, nil
		}}
	items := []string{"a", "b", "bad", "c", "d", "e", "a", "f", "g"} // "a" twice
	out := make([]string, len(items))
	errs := make([]error, len(items))
	var wg sync.WaitGroup
	for i, it := range items {
		wg.Add(1)
		go func() { defer wg.Done(); out[i], errs[i] = b.do(context.Background(), it) }()
	}
	wg.Wait()
	for i, it := range items {
		if it == "bad" {
			if errs[i] == nil || out[i] != "r:bad" {
				t.Fatalf("bad item: %q %v", out[i], errs[i])
			}
			continue
		}
		if errs[i] != nil || out[i] != "r:"+it {
			t.Fatalf("item %q: %q %v", it, out[i], errs[i])
		}
	}
	total := 0
	for _, s := range sizes {
		if s > 4 {
			t.Fatalf("batch of %d > maxItems 4: %v", s, sizes)
		}
		total += s
	}
	if total != len(items) || len(sizes) < 3 {
		t.Fatalf("sizes %v", sizes)
	}
	if _, err := b.do(context.Background(), "all-fail"); err == nil || err.Error() != "request failed" {
		t.Fatalf("request-level error: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := b.do(ctx, "x"); err == nil {
		t.Fatal("cancelled caller must not wait")
	}
}
