// The benchmark's driver of Jikkou's engine (its library from Maven Central, see
// tools/bench/install-peers.sh, which compiles this file into $K2_TOOLS_DIR; nothing built is kept
// in the repository). It does what `jikkou apply` / `jikkou diff` do for KafkaTopic resources:
// one JikkouContext (extension providers found through the ServiceLoader, as the CLI does), one
// API, and one reconcile of every topic: Jikkou's topic controller sends all creates in one
// CreateTopics request, all deletes in one DeleteTopics request ("one batch").
//
//   java -cp CLASSPATH JikkouBench BOOTSTRAP TOPICS_JSON MODE
//
// TOPICS_JSON: [{"name", "partitions", "replication_factor", "config": {..}}, ...] (bench writes it
// from the plan); MODE: apply (reconcile FULL), diff (the plan only, no change made) or delete
// (every topic annotated jikkou.io/delete, reconcile DELETE). Prints one JSON line: the counts of
// changes by operation and of failed results, with the first errors. Exit 0 only without failures.
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.streamthoughts.jikkou.core.JikkouApi;
import io.streamthoughts.jikkou.core.ReconciliationContext;
import io.streamthoughts.jikkou.core.ReconciliationMode;
import io.streamthoughts.jikkou.core.config.Configuration;
import io.streamthoughts.jikkou.core.extension.ClassExtensionAliasesGenerator;
import io.streamthoughts.jikkou.core.extension.DefaultExtensionDescriptorFactory;
import io.streamthoughts.jikkou.core.extension.DefaultExtensionFactory;
import io.streamthoughts.jikkou.core.extension.DefaultExtensionRegistry;
import io.streamthoughts.jikkou.core.models.ApiChangeResultList;
import io.streamthoughts.jikkou.core.models.Configs;
import io.streamthoughts.jikkou.core.models.CoreAnnotations;
import io.streamthoughts.jikkou.core.models.DefaultResourceListObject;
import io.streamthoughts.jikkou.core.models.ObjectMeta;
import io.streamthoughts.jikkou.core.models.change.ResourceChange;
import io.streamthoughts.jikkou.core.reconciler.ChangeResult;
import io.streamthoughts.jikkou.core.reconciler.ResourceChangeFilter;
import io.streamthoughts.jikkou.core.resource.DefaultResourceRegistry;
import io.streamthoughts.jikkou.kafka.models.V1KafkaTopic;
import io.streamthoughts.jikkou.kafka.models.V1KafkaTopicSpec;
import io.streamthoughts.jikkou.runtime.JikkouContext;
import ch.qos.logback.classic.Level;
import java.io.File;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import org.slf4j.LoggerFactory;

public final class JikkouBench {

    public static void main(String[] args) throws Exception {
        if (args.length != 3) {
            System.err.println("usage: JikkouBench BOOTSTRAP TOPICS_JSON apply|diff|delete");
            System.exit(64);
        }
        // Jikkou's CLI logs at INFO and above; without a logback.xml logback would log every DEBUG
        // line of the Kafka client to the console, which the CLI does not pay for.
        ((ch.qos.logback.classic.Logger) LoggerFactory.getLogger(org.slf4j.Logger.ROOT_LOGGER_NAME))
            .setLevel(Level.WARN);
        String bootstrap = args[0];
        String mode = args[2];
        boolean delete = mode.equals("delete");

        List<V1KafkaTopic> topics = new ArrayList<>();
        for (JsonNode node : new ObjectMapper().readTree(new File(args[1]))) {
            Map<String, Object> configs = new LinkedHashMap<>();
            node.path("config").fields().forEachRemaining(e -> configs.put(e.getKey(), e.getValue().asText()));
            ObjectMeta.ObjectMetaBuilder meta = ObjectMeta.builder().withName(node.get("name").asText());
            if (delete) {
                meta = meta.withAnnotation(CoreAnnotations.JIKKOU_IO_DELETE, true);
            }
            topics.add(V1KafkaTopic.builder()
                .withMetadata(meta.build())
                .withSpec(V1KafkaTopicSpec.builder()
                    .withPartitions(node.get("partitions").asInt())
                    .withReplicas((short) node.get("replication_factor").asInt())
                    .withConfigs(Configs.of(configs))
                    .build())
                .build());
        }

        Map<String, Object> client = new LinkedHashMap<>();
        client.put("bootstrap.servers", bootstrap);
        client.put("client.id", "k2infra-bench-jikkou");
        Map<String, Object> settings = new LinkedHashMap<>();
        settings.put("kafka", Map.of("client", client, "brokers", Map.of("waitForEnabled", false)));
        Configuration configuration = Configuration.from(settings);

        DefaultExtensionRegistry registry = new DefaultExtensionRegistry(
            new DefaultExtensionDescriptorFactory(), new ClassExtensionAliasesGenerator());
        JikkouContext context = new JikkouContext(
            configuration, new DefaultExtensionFactory(registry, configuration), new DefaultResourceRegistry());
        JikkouApi api = context.createApi();

        ReconciliationContext reconciliation = ReconciliationContext.builder()
            .dryRun(mode.equals("diff"))
            .configuration(Configuration.empty())
            .build();
        DefaultResourceListObject<V1KafkaTopic> resources = new DefaultResourceListObject<>(topics);

        Map<String, Integer> operations = new TreeMap<>();
        List<String> errors = new ArrayList<>();
        int failed = 0;
        if (mode.equals("diff")) {
            List<ResourceChange> changes = api.getDiff(resources, new ResourceChangeFilter.Noop(), reconciliation).getItems();
            for (ResourceChange change : changes) {
                operations.merge(change.getSpec().getOp().name(), 1, Integer::sum);
            }
        } else {
            ReconciliationMode reconciliationMode = delete ? ReconciliationMode.DELETE : ReconciliationMode.FULL;
            ApiChangeResultList results = api.reconcile(resources, reconciliationMode, reconciliation);
            for (ChangeResult result : results.results()) {
                operations.merge(result.change().getSpec().getOp().name(), 1, Integer::sum);
                if (result.isFailed()) {
                    failed++;
                    if (errors.size() < 3 && result.errors() != null) {
                        result.errors().forEach(e -> errors.add(e.message()));
                    }
                }
            }
        }
        Map<String, Object> out = new LinkedHashMap<>();
        out.put("mode", mode);
        out.put("topics", topics.size());
        out.put("operations", operations);
        out.put("failed", failed);
        out.put("errors", errors);
        System.out.println(new ObjectMapper().writeValueAsString(out));
        api.close();
        System.exit(failed == 0 ? 0 : 1);
    }
}
