package main

// Kafka I/O through franz-go's admin client (kadm). Every error names the
// topic and the bootstrap servers.

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
	"github.com/twmb/franz-go/pkg/sasl/plain"
	"github.com/twmb/franz-go/pkg/sasl/scram"
)

// Polls start short and double up to pollInterval: a local broker is usually
// ready within milliseconds, and a fixed 250 ms wait per topic was most of the
// time of creating or deleting hundreds of topics.
const (
	firstPoll    = 10 * time.Millisecond
	pollInterval = 250 * time.Millisecond
)

type kafkaClient struct {
	cfg *providerConfig
	kgo *kgo.Client
	adm *kadm.Client
	b   *topicBatchers // coalesced topic requests (kafka_batch.go)
}

func newKafkaClient(cfg *providerConfig, version string) (*kafkaClient, error) {
	opts := []kgo.Opt{
		kgo.SeedBrokers(cfg.BootstrapServers...),
		kgo.ClientID("k2infra-pulumi-kafka/" + version),
		kgo.RetryTimeout(cfg.Timeout),
		kgo.DialTimeout(min(cfg.Timeout, 30*time.Second)),
	}
	tlsCfg, err := cfg.tlsConfig()
	if err != nil {
		return nil, fmt.Errorf("kafka provider (%s): TLS settings: %w", cfg.servers(), err)
	}
	if tlsCfg != nil {
		opts = append(opts, kgo.DialTLSConfig(tlsCfg))
	}
	if cfg.SASLMechanism == "oauthbearer" {
		opts = append(opts, kgo.SASL(newOAuthTokens(cfg).mechanism()))
	} else if cfg.SASLUsername != "" {
		switch cfg.SASLMechanism {
		case "plain":
			opts = append(opts, kgo.SASL(plain.Auth{User: cfg.SASLUsername, Pass: cfg.SASLPassword}.AsMechanism()))
		case "scram-sha256":
			opts = append(opts, kgo.SASL(scram.Auth{User: cfg.SASLUsername, Pass: cfg.SASLPassword}.AsSha256Mechanism()))
		case "scram-sha512":
			opts = append(opts, kgo.SASL(scram.Auth{User: cfg.SASLUsername, Pass: cfg.SASLPassword}.AsSha512Mechanism()))
		default:
			return nil, fmt.Errorf("kafka provider (%s): saslMechanism %q is not supported", cfg.servers(), cfg.SASLMechanism)
		}
	}
	cl, err := kgo.NewClient(opts...)
	if err != nil {
		return nil, fmt.Errorf("kafka provider (%s): creating client: %w", cfg.servers(), err)
	}
	adm := kadm.NewClient(cl)
	adm.SetTimeoutMillis(int32(min(cfg.Timeout, time.Hour) / time.Millisecond))
	k := &kafkaClient{cfg: cfg, kgo: cl, adm: adm}
	k.b = newTopicBatchers(k)
	return k, nil
}

func (k *kafkaClient) Close() { k.kgo.Close() }

// errf formats "kafka topic "x" on host:port: what: err".
func (k *kafkaClient) errf(topic string, err error, format string, args ...any) error {
	what := fmt.Sprintf(format, args...)
	if msg := kerrMessage(err); msg != "" && !strings.Contains(err.Error(), msg) {
		return fmt.Errorf("kafka topic %q on %s: %s: %w (%s)", topic, k.cfg.servers(), what, err, msg)
	}
	return fmt.Errorf("kafka topic %q on %s: %s: %w", topic, k.cfg.servers(), what, err)
}

func kerrMessage(err error) string {
	var ke *kerr.Error
	if errors.As(err, &ke) {
		return ke.Description
	}
	return ""
}

// errMessage appends the broker's error message, when it sent one.
func withMessage(err error, msg string) error {
	if err != nil && msg != "" && !strings.Contains(err.Error(), msg) {
		return fmt.Errorf("%w: %s", err, msg)
	}
	return err
}

func isUnknownTopic(err error) bool {
	return errors.Is(err, kerr.UnknownTopicOrPartition) || errors.Is(err, kerr.UnknownTopicID)
}

// metadata issues an uncached metadata request (kadm.Metadata answers from
// franz-go's metadata cache, which can be up to MetadataMinAge stale: too
// stale to see a topic appear or disappear). No topics means all topics.
func (k *kafkaClient) metadata(ctx context.Context, topics ...string) (kadm.Metadata, error) {
	req := kmsg.NewPtrMetadataRequest()
	req.AllowAutoTopicCreation = false
	for _, t := range topics {
		rt := kmsg.NewMetadataRequestTopic()
		rt.Topic = kmsg.StringPtr(t)
		req.Topics = append(req.Topics, rt)
	}
	resp, err := req.RequestWith(ctx, k.kgo)
	if err != nil {
		return kadm.Metadata{}, err
	}
	m := kadm.Metadata{Controller: resp.ControllerID, Topics: kadm.TopicDetails{}}
	if resp.ClusterID != nil {
		m.Cluster = *resp.ClusterID
	}
	for _, t := range resp.Topics {
		if t.Topic == nil {
			continue
		}
		td := kadm.TopicDetail{
			Topic:      *t.Topic,
			ID:         t.TopicID,
			IsInternal: t.IsInternal,
			Partitions: kadm.PartitionDetails{},
			Err:        kerr.ErrorForCode(t.ErrorCode),
		}
		for _, p := range t.Partitions {
			td.Partitions[p.Partition] = kadm.PartitionDetail{
				Topic: *t.Topic, Partition: p.Partition, Leader: p.Leader, LeaderEpoch: p.LeaderEpoch,
				Replicas: p.Replicas, ISR: p.ISR, OfflineReplicas: p.OfflineReplicas,
				Err: kerr.ErrorForCode(p.ErrorCode),
			}
		}
		m.Topics[*t.Topic] = td
	}
	return m, nil
}

// metadataTopic returns the metadata of one topic; found=false when Kafka
// does not know it.
// Concurrent callers share one Metadata request (see batch.go).
func (k *kafkaClient) metadataTopic(ctx context.Context, topic string) (kadm.TopicDetail, bool, error) {
	m, err := k.b.metadata.do(ctx, topic)
	if err != nil {
		return kadm.TopicDetail{}, false, k.errf(topic, err, "metadata request")
	}
	return m.Detail, m.Found, nil
}

// ready: the topic is in metadata with exactly `partitions` partitions that
// all have a leader.
func ready(d kadm.TopicDetail, partitions int64) bool {
	if d.Err != nil || int64(len(d.Partitions)) != partitions {
		return false
	}
	for _, p := range d.Partitions {
		if p.Err != nil || p.Leader < 0 {
			return false
		}
	}
	return true
}

// replicationFactor is the replica count of the first partition (as upstream).
func replicationFactor(d kadm.TopicDetail) int64 {
	if ps := d.Partitions.Sorted(); len(ps) > 0 {
		return int64(len(ps[0].Replicas))
	}
	return 0
}

// dynamicConfigs keeps the configs set on the topic itself (source
// DYNAMIC_TOPIC_CONFIG), i.e. the non-default ones.
func dynamicConfigs(rc kadm.ResourceConfig) map[string]string {
	out := map[string]string{}
	for _, c := range rc.Configs {
		if c.Source == kmsg.ConfigSourceDynamicTopicConfig && c.Value != nil {
			out[c.Key] = *c.Value
		}
	}
	return out
}

// describe returns the live topic; found=false if it does not exist.
func (k *kafkaClient) describe(ctx context.Context, topic string) (liveTopic, bool, error) {
	d, found, err := k.metadataTopic(ctx, topic)
	if err != nil || !found {
		return liveTopic{}, found, err
	}
	return k.describeWith(ctx, topic, d)
}

// describeWith completes fresh metadata with the topic's configs (one
// DescribeConfigs request shared by concurrent callers).
func (k *kafkaClient) describeWith(ctx context.Context, topic string, d kadm.TopicDetail) (liveTopic, bool, error) {
	if d.Err != nil {
		return liveTopic{}, true, k.errf(topic, d.Err, "describing topic")
	}
	tc, err := k.b.configs.do(ctx, topic)
	if err != nil {
		return liveTopic{}, true, k.errf(topic, err, "describing topic configs")
	}
	if !tc.Found {
		return liveTopic{}, false, nil
	}
	rc := tc.Config
	return liveTopic{
		Name:       topic,
		Partitions: int64(len(d.Partitions)),
		RF:         replicationFactor(d),
		Config:     dynamicConfigs(rc),
	}, true, nil
}

// waitFor polls cond until it holds or ctx ends.
func waitFor(ctx context.Context, cond func() (bool, error)) error {
	for wait := firstPoll; ; wait = min(2*wait, pollInterval) {
		ok, err := cond()
		if err != nil {
			return err
		}
		if ok {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(wait):
		}
	}
}

// create makes the topic and waits until every partition has a leader and
// its configs read back; returns the live topic. created reports whether
// Kafka accepted the topic (even when the wait then failed).
func (k *kafkaClient) create(ctx context.Context, t liveTopic) (live liveTopic, created bool, err error) {
	for {
		_, err := k.b.create.do(ctx, t) // one CreateTopics request for concurrent creates
		if err == nil {
			break
		}
		if !errors.Is(err, kerr.TopicAlreadyExists) {
			return liveTopic{}, false, k.errf(t.Name, err, "creating topic (partitions=%d, replicationFactor=%d)", t.Partitions, t.RF)
		}
		// Exists: really, or still being deleted (a replacement)?
		if _, found, merr := k.metadataTopic(ctx, t.Name); merr != nil || found {
			return liveTopic{}, false, k.errf(t.Name, err,
				"creating topic: it already exists; to manage it here, import it: pulumi import %s <resource-name> %s", topicType, t.Name)
		}
		select {
		case <-ctx.Done():
			return liveTopic{}, false, k.errf(t.Name, ctx.Err(), "creating topic: a deletion of the same topic is still pending")
		case <-time.After(pollInterval):
		}
	}
	live, err = k.awaitState(ctx, t, "waiting for the new topic")
	return live, true, err
}

// awaitState waits until the topic shows the wanted partition count (all
// with leaders) and config, then returns what Kafka describes.
func (k *kafkaClient) awaitState(ctx context.Context, want liveTopic, what string) (liveTopic, error) {
	var live liveTopic
	// Configs should read back as written. Should the broker normalize a
	// value, accept the same set of keys after a grace period rather than
	// waiting for the timeout (the next diff will then show the difference).
	grace := time.Now().Add(5 * time.Second)
	err := waitFor(ctx, func() (bool, error) {
		d, found, err := k.metadataTopic(ctx, want.Name)
		if err != nil || !found || !ready(d, want.Partitions) {
			return false, err
		}
		var ok bool
		live, ok, err = k.describeWith(ctx, want.Name, d)
		if err != nil || !ok {
			return false, err
		}
		return sameConfig(live.Config, want.Config) || (time.Now().After(grace) && sameKeys(live.Config, want.Config)), nil
	})
	if err != nil {
		if ctx.Err() != nil {
			return liveTopic{}, k.errf(want.Name, err, "%s: not ready within %s (want %d partitions with leaders and config %v; last seen %d partitions, config %v)",
				what, k.cfg.Timeout, want.Partitions, want.Config, live.Partitions, live.Config)
		}
		return liveTopic{}, err
	}
	return live, nil
}

func sameKeys(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k := range a {
		if _, ok := b[k]; !ok {
			return false
		}
	}
	return true
}

func sameConfig(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if bv, ok := b[k]; !ok || bv != v {
			return false
		}
	}
	return true
}

// update brings an existing topic to `want`: more partitions and config
// changes. It refuses what Kafka cannot do in place, before changing anything.
func (k *kafkaClient) update(ctx context.Context, want liveTopic) (liveTopic, error) {
	live, found, err := k.describe(ctx, want.Name)
	if err != nil {
		return liveTopic{}, err
	}
	if !found {
		return liveTopic{}, k.errf(want.Name, kerr.UnknownTopicOrPartition,
			"updating topic: it no longer exists (run `pulumi refresh` to drop it from the state, then `pulumi up` recreates it)")
	}
	if want.RF != live.RF {
		return liveTopic{}, &rfChangeError{topic: want.Name, servers: k.cfg.servers(), live: live.RF, want: want.RF}
	}
	if want.Partitions < live.Partitions {
		return liveTopic{}, fmt.Errorf("kafka topic %q on %s: cannot lower the partition count from %d to %d in place; "+
			"Kafka only adds partitions (the diff should have planned a replacement)", want.Name, k.cfg.servers(), live.Partitions, want.Partitions)
	}
	if want.Partitions > live.Partitions {
		_, err := k.b.partitions.do(ctx, partitionsReq{Topic: want.Name, Count: int32(want.Partitions)})
		if err != nil {
			return liveTopic{}, k.errf(want.Name, err, "raising partitions from %d to %d", live.Partitions, want.Partitions)
		}
	}
	var alters []kadm.AlterConfig
	keys := make([]string, 0, len(want.Config))
	for key := range want.Config {
		keys = append(keys, key)
	}
	sort.Strings(keys)
	for _, key := range keys {
		if cur, ok := live.Config[key]; !ok || cur != want.Config[key] {
			alters = append(alters, kadm.AlterConfig{Op: kadm.SetConfig, Name: key, Value: kadm.StringPtr(want.Config[key])})
		}
	}
	keys = keys[:0]
	for key := range live.Config {
		if _, ok := want.Config[key]; !ok {
			keys = append(keys, key)
		}
	}
	sort.Strings(keys)
	for _, key := range keys {
		alters = append(alters, kadm.AlterConfig{Op: kadm.DeleteConfig, Name: key})
	}
	if len(alters) > 0 {
		_, err := k.b.alter.do(ctx, alterReq{Topic: want.Name, Alters: alters})
		if err != nil {
			return liveTopic{}, k.errf(want.Name, err, "altering configs (%s)", describeAlters(alters))
		}
	}
	return k.awaitState(ctx, want, "waiting for the topic update")
}

// rfChangeError: the replication factor differs; nothing was changed.
type rfChangeError struct {
	topic, servers, urn string
	live, want          int64
}

func (e *rfChangeError) Error() string {
	replace := "pulumi up --replace <resource URN>"
	if e.urn != "" {
		replace = fmt.Sprintf("pulumi up --replace '%s'", e.urn)
	}
	return fmt.Sprintf("kafka topic %q on %s: changing the replication factor of an existing topic is not supported; "+
		"it is %d and the program asks for %d. Nothing was changed. Either reassign the partitions' replicas with "+
		"Kafka's tools (kafka-reassign-partitions.sh) and then set replicationFactor to the new value, "+
		"or recreate the topic, losing its data (%s)", e.topic, e.servers, e.live, e.want, replace)
}

func describeAlters(alters []kadm.AlterConfig) string {
	parts := make([]string, 0, len(alters))
	for _, a := range alters {
		if a.Op == kadm.DeleteConfig {
			parts = append(parts, "delete "+a.Name)
		} else {
			parts = append(parts, fmt.Sprintf("set %s=%s", a.Name, *a.Value))
		}
	}
	return strings.Join(parts, ", ")
}

// delete removes the topic and waits until it is gone. A missing topic is fine.
func (k *kafkaClient) delete(ctx context.Context, topic string) error {
	_, err := k.b.delete.do(ctx, topic) // one DeleteTopics request for concurrent deletes
	if err != nil && !isUnknownTopic(err) {
		return k.errf(topic, err, "deleting topic")
	}
	err = waitFor(ctx, func() (bool, error) {
		_, found, err := k.metadataTopic(ctx, topic)
		return !found, err
	})
	if err != nil {
		return k.errf(topic, err, "waiting for the deleted topic to disappear (timeout %s)", k.cfg.Timeout)
	}
	return nil
}

// listAll describes every (non-internal) topic: one metadata request and one
// DescribeConfigs batch.
func (k *kafkaClient) listAll(ctx context.Context) (cluster string, topics []liveTopic, err error) {
	m, err := k.metadata(ctx)
	if err != nil {
		return "", nil, fmt.Errorf("kafka on %s: listing topics: %w", k.cfg.servers(), err)
	}
	m.Topics.FilterInternal()
	names := m.Topics.Names()
	if len(names) == 0 {
		return m.Cluster, nil, nil
	}
	rcs, err := k.adm.DescribeTopicConfigs(ctx, names...)
	if err != nil {
		return "", nil, fmt.Errorf("kafka on %s: describing the configs of %d topics: %w", k.cfg.servers(), len(names), err)
	}
	for _, name := range names {
		d := m.Topics[name]
		if d.Err != nil {
			if isUnknownTopic(d.Err) {
				continue // deleted between the two requests
			}
			return "", nil, k.errf(name, d.Err, "listing topics")
		}
		rc, rerr := rcs.On(name, nil)
		if rerr == nil {
			rerr = rc.Err
		}
		if isUnknownTopic(rerr) {
			continue
		}
		if rerr != nil {
			return "", nil, k.errf(name, withMessage(rerr, rc.ErrMessage), "describing topic configs")
		}
		topics = append(topics, liveTopic{
			Name: name, Partitions: int64(len(d.Partitions)), RF: replicationFactor(d), Config: dynamicConfigs(rc),
		})
	}
	return m.Cluster, topics, nil
}
