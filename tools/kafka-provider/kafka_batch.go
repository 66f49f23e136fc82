package main

// The coalesced admin requests of the Topic resource: one batcher per kind
// (CreateTopics, DeleteTopics, CreatePartitions, IncrementalAlterConfigs,
// Metadata, DescribeConfigs). See batch.go.

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

type partitionsReq struct {
	Topic string
	Count int32 // the new total
}

type alterReq struct {
	Topic  string
	Alters []kadm.AlterConfig
}

// topicMeta is one topic's metadata; Found=false when Kafka does not know it.
type topicMeta struct {
	Detail kadm.TopicDetail
	Found  bool
}

// topicConfigs is one topic's described configs; Found=false when the topic
// is unknown.
type topicConfigs struct {
	Config kadm.ResourceConfig
	Found  bool
}

type topicBatchers struct {
	create     *batcher[liveTopic, struct{}]
	delete     *batcher[string, struct{}]
	partitions *batcher[partitionsReq, struct{}]
	alter      *batcher[alterReq, struct{}]
	metadata   *batcher[string, topicMeta]
	configs    *batcher[string, topicConfigs]
}

func newTopicBatchers(k *kafkaClient) *topicBatchers {
	timeout := func() time.Duration { return k.cfg.Timeout }
	return &topicBatchers{
		create: &batcher[liveTopic, struct{}]{window: batchWindow, maxItems: maxWriteBatch, timeout: timeout,
			key: func(t liveTopic) string { return t.Name }, exec: k.execCreateTopics},
		delete: &batcher[string, struct{}]{window: batchWindow, maxItems: maxWriteBatch, timeout: timeout,
			key: func(t string) string { return t }, exec: k.execDeleteTopics},
		partitions: &batcher[partitionsReq, struct{}]{window: batchWindow, maxItems: maxWriteBatch, timeout: timeout,
			key: func(r partitionsReq) string { return r.Topic }, exec: k.execCreatePartitions},
		alter: &batcher[alterReq, struct{}]{window: batchWindow, maxItems: maxWriteBatch, timeout: timeout,
			key: func(r alterReq) string { return r.Topic }, exec: k.execAlterConfigs},
		metadata: &batcher[string, topicMeta]{window: batchWindow, maxItems: maxReadBatch, timeout: timeout,
			exec: k.execMetadata},
		configs: &batcher[string, topicConfigs]{window: batchWindow, maxItems: maxReadBatch, timeout: timeout,
			exec: k.execDescribeConfigs},
	}
}

// perItem maps per-name results back onto items, as a batcher's exec returns them; a name
// without a result gets errNoBatchResult.
func perItem[I any](items []I, name func(I) string, errByName map[string]error) ([]struct{}, []error, error) {
	res := make([]struct{}, len(items))
	errs := make([]error, len(items))
	for i, it := range items {
		err, ok := errByName[name(it)]
		if !ok {
			err = errNoBatchResult
		}
		errs[i] = err
	}
	return res, errs, nil
}

// codeError is a response entry's error code with the broker's message, nil for no error.
func codeError(code int16, message *string) error {
	return withMessage(kerr.ErrorForCode(code), unptrStr(message))
}

func (k *kafkaClient) timeoutMillis() int32 {
	return int32(min(k.cfg.Timeout, time.Hour) / time.Millisecond)
}

func (k *kafkaClient) execCreateTopics(ctx context.Context, items []liveTopic) ([]struct{}, []error, error) {
	req := kmsg.NewPtrCreateTopicsRequest()
	req.TimeoutMillis = k.timeoutMillis()
	for _, t := range items {
		rt := kmsg.NewCreateTopicsRequestTopic()
		rt.Topic = t.Name
		rt.NumPartitions = int32(t.Partitions)
		rt.ReplicationFactor = int16(t.RF)
		keys := make([]string, 0, len(t.Config))
		for key := range t.Config {
			keys = append(keys, key)
		}
		sort.Strings(keys)
		for _, key := range keys {
			rc := kmsg.NewCreateTopicsRequestTopicConfig()
			rc.Name = key
			rc.Value = kmsg.StringPtr(t.Config[key])
			rt.Configs = append(rt.Configs, rc)
		}
		req.Topics = append(req.Topics, rt)
	}
	resp, err := req.RequestWith(ctx, k.kgo)
	if err != nil {
		return nil, nil, err
	}
	errs := map[string]error{}
	for _, t := range resp.Topics {
		errs[t.Topic] = codeError(t.ErrorCode, t.ErrorMessage)
	}
	return perItem(items, func(t liveTopic) string { return t.Name }, errs)
}

func (k *kafkaClient) execDeleteTopics(ctx context.Context, items []string) ([]struct{}, []error, error) {
	req := kmsg.NewPtrDeleteTopicsRequest()
	req.TimeoutMillis = k.timeoutMillis()
	req.TopicNames = items
	for _, t := range items {
		rt := kmsg.NewDeleteTopicsRequestTopic()
		rt.Topic = kmsg.StringPtr(t)
		req.Topics = append(req.Topics, rt)
	}
	resp, err := req.RequestWith(ctx, k.kgo)
	if err != nil {
		return nil, nil, err
	}
	errs := map[string]error{}
	for _, t := range resp.Topics {
		if t.Topic != nil {
			errs[*t.Topic] = codeError(t.ErrorCode, t.ErrorMessage)
		}
	}
	return perItem(items, func(t string) string { return t }, errs)
}

func (k *kafkaClient) execCreatePartitions(ctx context.Context, items []partitionsReq) ([]struct{}, []error, error) {
	req := kmsg.NewPtrCreatePartitionsRequest()
	req.TimeoutMillis = k.timeoutMillis()
	for _, r := range items {
		rt := kmsg.NewCreatePartitionsRequestTopic()
		rt.Topic = r.Topic
		rt.Count = r.Count
		req.Topics = append(req.Topics, rt)
	}
	resp, err := req.RequestWith(ctx, k.kgo)
	if err != nil {
		return nil, nil, err
	}
	errs := map[string]error{}
	for _, t := range resp.Topics {
		errs[t.Topic] = codeError(t.ErrorCode, t.ErrorMessage)
	}
	return perItem(items, func(r partitionsReq) string { return r.Topic }, errs)
}

func (k *kafkaClient) execAlterConfigs(ctx context.Context, items []alterReq) ([]struct{}, []error, error) {
	req := kmsg.NewPtrIncrementalAlterConfigsRequest()
	for _, r := range items {
		rr := kmsg.NewIncrementalAlterConfigsRequestResource()
		rr.ResourceType = kmsg.ConfigResourceTypeTopic
		rr.ResourceName = r.Topic
		for _, a := range r.Alters {
			rc := kmsg.NewIncrementalAlterConfigsRequestResourceConfig()
			rc.Name = a.Name
			rc.Value = a.Value
			rc.Op = kmsg.IncrementalAlterConfigOpSet
			if a.Op == kadm.DeleteConfig {
				rc.Op = kmsg.IncrementalAlterConfigOpDelete
			}
			rr.Configs = append(rr.Configs, rc)
		}
		req.Resources = append(req.Resources, rr)
	}
	// Topic configs may go to any broker; kgo shards the request.
	errs := map[string]error{}
	var shardErr error
	for _, shard := range k.kgo.RequestSharded(ctx, req) {
		if shard.Err != nil {
			shardErr = shard.Err
			continue
		}
		for _, r := range shard.Resp.(*kmsg.IncrementalAlterConfigsResponse).Resources {
			errs[r.ResourceName] = codeError(r.ErrorCode, r.ErrorMessage)
		}
	}
	if len(errs) == 0 && shardErr != nil {
		return nil, nil, shardErr
	}
	res, perr, _ := perItem(items, func(r alterReq) string { return r.Topic }, errs)
	for i := range perr {
		if errors.Is(perr[i], errNoBatchResult) && shardErr != nil {
			perr[i] = shardErr
		}
	}
	return res, perr, nil
}

func (k *kafkaClient) execMetadata(ctx context.Context, items []string) ([]topicMeta, []error, error) {
	m, err := k.metadata(ctx, dedupe(items)...)
	if err != nil {
		return nil, nil, err
	}
	res := make([]topicMeta, len(items))
	errs := make([]error, len(items))
	for i, t := range items {
		d, ok := m.Topics[t]
		if ok && !isUnknownTopic(d.Err) {
			res[i] = topicMeta{Detail: d, Found: true}
		}
	}
	return res, errs, nil
}

func (k *kafkaClient) execDescribeConfigs(ctx context.Context, items []string) ([]topicConfigs, []error, error) {
	rcs, err := k.adm.DescribeTopicConfigs(ctx, dedupe(items)...)
	if err != nil && len(rcs) == 0 {
		return nil, nil, err
	}
	res := make([]topicConfigs, len(items))
	errs := make([]error, len(items))
	for i, t := range items {
		rc, rerr := rcs.On(t, nil)
		if rerr == nil {
			rerr = rc.Err
		}
		switch {
		case isUnknownTopic(rerr):
		case rerr != nil:
			errs[i] = withMessage(rerr, rc.ErrMessage)
		default:
			res[i] = topicConfigs{Config: rc, Found: true}
		}
	}
	return res, errs, nil
}

func dedupe(items []string) []string {
	seen := map[string]bool{}
	out := make([]string, 0, len(items))
	for _, s := range items {
		if !seen[s] {
			seen[s] = true
			out = append(out, s)
		}
	}
	return out
}

func unptrStr(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

// batchSummary is a one-line account of what the batchers sent.
func (b *topicBatchers) summary() string {
	f := func(name string, s batchStats) string {
		return fmt.Sprintf("%s %d items in %d requests (max %d)", name, s.Items, s.Requests, s.MaxBatch)
	}
	return f("CreateTopics", b.create.Stats()) + "; " + f("DeleteTopics", b.delete.Stats()) + "; " +
		f("CreatePartitions", b.partitions.Stats()) + "; " + f("IncrementalAlterConfigs", b.alter.Stats()) + "; " +
		f("Metadata", b.metadata.Stats()) + "; " + f("DescribeConfigs", b.configs.Stats())
}
